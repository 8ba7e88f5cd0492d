"""``tf.compat.v1.Variable``: ref variables (TF1's ``RefVariable``, the default) and resource
variables (``use_resource=True``), plus the collection helpers and initializer ops.

A ref variable ``tf.Variable(init, name="w")`` builds the same nodes as TensorFlow 1:
``w`` (VariableV2), ``w/initial_value`` (Const), ``w/Assign`` and ``w/read`` (the snapshot every
consumer reads). A resource variable builds ``w`` (VarHandleOp), ``w/Initializer/initial_value``,
``w/IsInitialized/VarIsInitializedOp``, ``w/Assign`` (AssignVariableOp) and
``w/Read/ReadVariableOp``.

Example:
    >>> w = tf.Variable([[1.0], [2.0]], name="w")
    >>> w.name, [op.name for op in tf.get_default_graph().get_operations()]
    ('w:0', ['w/initial_value', 'w', 'w/Assign', 'w/read'])
    >>> with tf.Session() as sess:
    ...     sess.run(tf.global_variables_initializer())
    ...     sess.run(w.assign_add([[1.0], [1.0]])).tolist()
    [[2.0], [3.0]]
"""

import contextlib
import enum
import inspect
import re

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor, register_tensor_conversion_function
from gpugraph.ops import state_ops
from gpugraph.protos import attr_value_pb2, variable_pb2

GraphKeys = ops.GraphKeys


class VariableSynchronization(enum.Enum):
    """When a distributed variable is synchronised (kept for API and VariableDef compatibility)."""
    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


class VariableAggregation(enum.Enum):
    """How a distributed variable's updates are aggregated (kept for API compatibility)."""
    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3
    ONLY_FIRST_TOWER = 3


def _validate_sync_agg_trainable(synchronization, aggregation, trainable, name):
    if aggregation is None:
        aggregation = VariableAggregation.NONE
    elif not isinstance(aggregation, VariableAggregation):
        try:
            aggregation = VariableAggregation(aggregation)
        except ValueError:
            raise ValueError(f"Invalid variable aggregation mode: {aggregation} for variable: {name}") from None
    if synchronization is None:
        synchronization = VariableSynchronization.AUTO
    else:
        try:
            synchronization = VariableSynchronization(synchronization)
        except ValueError:
            raise ValueError(f"Invalid variable synchronization mode: {synchronization} for variable: "
                             f"{name}") from None
    if trainable is None:
        trainable = synchronization != VariableSynchronization.ON_READ
    return synchronization, aggregation, trainable


# -- name-scope helpers (TF's ops.strip_name_scope / prepend_name_scope) -------------------------
def strip_name_scope(name, export_scope):
    """Removes ``export_scope/`` from the front of ``name`` (also after ``^`` or ``loc:@``)."""
    if not export_scope:
        return name
    export_scope = export_scope[:-1] if export_scope.endswith("/") else export_scope
    return re.sub(r"([\^]|loc:@|^)" + re.escape(export_scope) + r"[\/]+(.*)", r"\1\2", name, count=1)


def prepend_name_scope(name, import_scope):
    """Puts ``import_scope/`` in front of ``name`` (also after ``^`` or ``loc:@``)."""
    if not import_scope:
        return name
    import_scope = import_scope[:-1] if import_scope.endswith("/") else import_scope
    return re.sub(r"([\^]|loc:@|^)(.*)", lambda m: m.group(1) + import_scope + "/" + m.group(2), name,
                  count=1)


def _name_from_scope_name(name):
    return name[:-1] if name and name[-1] == "/" else name


@contextlib.contextmanager
def _colocation_attr_scope(graph, true_name):
    """Ops made inside get ``_class = ["loc:@<true_name>"]`` — TF's ``Graph._attr_scope`` used
    while building a variable's initializer, so it is placed with the variable."""
    start = len(graph._ops)
    yield
    attr = attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(
        s=[f"loc:@{true_name}".encode()]))
    for op in graph._ops[start:]:
        if "_class" not in op._attrs:  # an explicit colocation wins, as in TF
            op._set_attr("_class", attr)


_OVERLOADED_OPERATORS = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__div__", "__rdiv__",
    "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
    "__lt__", "__le__", "__gt__", "__ge__", "__and__", "__rand__", "__or__", "__ror__", "__xor__",
    "__rxor__", "__getitem__", "__pow__", "__rpow__", "__invert__", "__neg__", "__abs__",
    "__matmul__", "__rmatmul__")


_UNARY_OPERATORS = frozenset({"__invert__", "__neg__", "__abs__", "__getitem__"})


def _forward_operator(name):
    # Looked up at call time: the math/array families install Tensor's operators after this module.
    def method(self, *args, **kwargs):
        fn = ops.Tensor.__dict__.get(name)
        if fn is None:
            if name in _UNARY_OPERATORS:
                raise TypeError(f"operator {name} is not supported for gpugraph Variables")
            return NotImplemented
        return fn(self.value(), *args, **kwargs)
    method.__name__ = name
    return method


def _v1_signature(initial_value=None, trainable=None, collections=None, validate_shape=True,
                  caching_device=None, name=None, variable_def=None, dtype=None, expected_shape=None,
                  import_scope=None, constraint=None, use_resource=None,
                  synchronization=VariableSynchronization.AUTO,
                  aggregation=VariableAggregation.NONE, shape=None):
    """The argument list of ``tf.compat.v1.Variable`` (used to bind calls)."""


_V1_SIGNATURE = inspect.signature(_v1_signature)
_DEFAULT_USE_RESOURCE = False


def enable_resource_variables():
    """Makes ``Variable``/``get_variable`` create resource variables unless told otherwise."""
    global _DEFAULT_USE_RESOURCE
    _DEFAULT_USE_RESOURCE = True


def disable_resource_variables():
    """Makes ``Variable``/``get_variable`` create ref variables (the default) unless told otherwise."""
    global _DEFAULT_USE_RESOURCE
    _DEFAULT_USE_RESOURCE = False


def resource_variables_enabled():
    return _DEFAULT_USE_RESOURCE


class _VariableMeta(type):
    """``Variable(...)`` builds a RefVariable, or a ResourceVariable when ``use_resource`` (or the
    variable scope, or ``enable_resource_variables``) asks for one — TF's default creator."""

    def __call__(cls, *args, **kwargs):
        if cls is not Variable:
            return super().__call__(*args, **kwargs)
        bound = _V1_SIGNATURE.bind(*args, **kwargs)
        bound.apply_defaults()
        kw = dict(bound.arguments)
        use_resource = kw.pop("use_resource")
        variable_def = kw["variable_def"]
        if variable_def is not None:
            use_resource = variable_def.is_resource
        if use_resource is None:
            from gpugraph.ops import variable_scope
            use_resource = variable_scope.get_variable_scope().use_resource
        if use_resource is None:
            use_resource = _DEFAULT_USE_RESOURCE
        if use_resource:
            from gpugraph.ops.resource_variable_ops import ResourceVariable
            kw.pop("expected_shape")
            return ResourceVariable(**kw)
        return RefVariable(**kw)


class Variable(metaclass=_VariableMeta):
    """``tf.compat.v1.Variable(initial_value=None, trainable=None, collections=None,
    validate_shape=True, caching_device=None, name=None, variable_def=None, dtype=None,
    expected_shape=None, import_scope=None, constraint=None, use_resource=None,
    synchronization=AUTO, aggregation=NONE, shape=None)``.

    Returns a :class:`RefVariable` (TF1 semantics) or, with ``use_resource=True``, a
    :class:`ResourceVariable`; both are instances of ``Variable``. Usable wherever a Tensor is: it
    converts to its current value, and the arithmetic operators work on that value.

    Example:
        >>> v = tf.Variable(tf.zeros([2, 3]), name="v")
        >>> (v * 2.0).shape.as_list(), v.dtype
        ([2, 3], gpugraph.float32_ref)
    """

    SaveSliceInfo = None  # set below
    __array_priority__ = 100
    _save_slice_info = None

    # -- shared API -----------------------------------------------------------------------------
    name = property(lambda self: self._name, doc="The variable's name, e.g. ``'dense/kernel:0'``.")
    initializer = property(lambda self: self._initializer_op, doc="The op that initializes it.")
    initial_value = property(lambda self: self._initial_value)
    trainable = property(lambda self: self._trainable)
    synchronization = property(lambda self: self._synchronization)
    aggregation = property(lambda self: self._aggregation)
    constraint = property(lambda self: self._constraint)

    @property
    def _shared_name(self):
        return self.name[:self.name.index(":")]

    def get_shape(self):
        return self.shape

    def _as_graph_element_for_control(self):
        return self.op

    def _set_save_slice_info(self, save_slice_info):
        self._save_slice_info = save_slice_info

    def _get_save_slice_info(self):
        return self._save_slice_info

    def load(self, value, session=None):
        """Loads ``value`` into the variable by running its initializer with the value fed.

        Example:
            >>> v.load([1.0, 2.0], sess)                                  # doctest: +SKIP
        """
        from gpugraph.runtime import session as session_lib
        session = session or session_lib.get_default_session()
        if session is None:
            raise ValueError("Either session argument should be provided or default session should "
                             "be established")
        session.run(self.initializer, {self.initializer.inputs[1]: value})

    @staticmethod
    def from_proto(variable_def, import_scope=None):
        """Rebuilds a Variable object for nodes already in the default graph from a VariableDef."""
        if variable_def.is_resource:
            from gpugraph.ops.resource_variable_ops import ResourceVariable
            return ResourceVariable(variable_def=variable_def, import_scope=import_scope)
        return RefVariable(variable_def=variable_def, import_scope=import_scope)

    def _common_proto(self, variable_name, snapshot_name, export_scope):
        var_def = variable_pb2.VariableDef()
        var_def.variable_name = strip_name_scope(variable_name, export_scope)
        if self._initial_value is not None:
            var_def.initial_value_name = strip_name_scope(self._initial_value.name, export_scope)
        var_def.initializer_name = strip_name_scope(self.initializer.name, export_scope)
        var_def.snapshot_name = strip_name_scope(snapshot_name, export_scope)
        var_def.trainable = self.trainable
        var_def.synchronization = self.synchronization.value
        var_def.aggregation = self.aggregation.value
        if self._save_slice_info:
            var_def.save_slice_info_def.MergeFrom(self._save_slice_info.to_proto(export_scope))
        return var_def

    def _check_init_args(self, initial_value, collections, constraint, synchronization, aggregation,
                         trainable, name, dtype, missing_value_message, bad_constraint_message):
        """The argument checks every variable class makes (each with TensorFlow's messages for it);
        sets synchronization, aggregation and trainable. Returns ``(collections, dtype)``, with
        trainable_variables added to the collections of a trainable variable."""
        if initial_value is None:
            raise ValueError(missing_value_message)
        collections = _check_collections(collections)
        if constraint is not None and not callable(constraint):
            raise ValueError(bad_constraint_message)
        self._synchronization, self._aggregation, self._trainable = _validate_sync_agg_trainable(
            synchronization, aggregation, trainable, name)
        if self._trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections = list(collections) + [GraphKeys.TRAINABLE_VARIABLES]
        return collections, (dtypes.as_dtype(dtype) if dtype is not None else None)

    def _common_from_proto(self, variable_def, import_scope):
        g = ops.get_default_graph()
        self._initializer_op = g.as_graph_element(
            prepend_name_scope(variable_def.initializer_name, import_scope))
        self._initial_value = g.as_graph_element(
            prepend_name_scope(variable_def.initial_value_name, import_scope)) \
            if variable_def.initial_value_name else None
        self._synchronization, self._aggregation, self._trainable = _validate_sync_agg_trainable(
            variable_def.synchronization, variable_def.aggregation, variable_def.trainable,
            variable_def.variable_name)
        if variable_def.HasField("save_slice_info_def"):
            self._save_slice_info = SaveSliceInfo(save_slice_info_def=variable_def.save_slice_info_def,
                                                  import_scope=import_scope)
        else:
            self._save_slice_info = None
        self._caching_device = None
        self._constraint = None
        return g

    def __iter__(self):
        return iter(self.value())

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __repr__(self):
        shape = tuple(self.shape.as_list()) if self.shape.ndims is not None else "<unknown>"
        return f"<gpugraph.Variable '{self.name}' shape={shape} dtype={self.dtype.name}>"


for _op_name in _OVERLOADED_OPERATORS:
    setattr(Variable, _op_name, _forward_operator(_op_name))


def _convert_variable(value, dtype=None, name=None, as_ref=False):
    return value._dense_var_to_tensor(dtype=dtype, name=name, as_ref=as_ref)


register_tensor_conversion_function(Variable, _convert_variable)


class RefVariable(Variable):
    """TF1's reference variable: a ``VariableV2`` node whose ref output ops read and update in place.
    Build through ``tf.Variable`` or ``tf.get_variable``."""

    def __init__(self, initial_value=None, trainable=None, collections=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None, expected_shape=None,
                 import_scope=None, constraint=None, synchronization=None, aggregation=None, shape=None):
        if variable_def is not None:
            if initial_value is not None:
                raise ValueError("variable_def and initial_value are mutually exclusive.")
            self._init_from_proto(variable_def, import_scope)
        else:
            self._init_from_args(initial_value, trainable, collections, validate_shape, caching_device,
                                 name, dtype, constraint, synchronization, aggregation, shape)

    def _init_from_args(self, initial_value, trainable, collections, validate_shape, caching_device,
                        name, dtype, constraint, synchronization, aggregation, shape):
        collections, dtype = self._check_init_args(
            initial_value, collections, constraint, synchronization, aggregation, trainable, name, dtype,
            "initial_value must be specified.", "The `constraint` argument must be a callable.")
        init_from_fn = callable(initial_value)
        g = ops.get_default_graph()
        # TF builds variables in an init_scope: outer control dependencies do not apply.
        with g.control_dependencies(None), \
                ops.name_scope(name, "Variable", [] if init_from_fn else [initial_value]) as name:
            if init_from_fn:
                true_name = _name_from_scope_name(name)
                with _colocation_attr_scope(g, true_name):
                    with g.name_scope("Initializer"), g.device(None):
                        self._initial_value = convert_to_tensor(initial_value(), name="initial_value",
                                                                dtype=dtype)
                    shape = self._variable_shape(shape, validate_shape)
                    self._variable = state_ops.variable_op_v2(
                        shape, self._initial_value.dtype.base_dtype, name=name)
            else:
                self._initial_value = convert_to_tensor(initial_value, name="initial_value", dtype=dtype)
                shape = self._variable_shape(shape, validate_shape)
                self._variable = state_ops.variable_op_v2(shape, self._initial_value.dtype.base_dtype,
                                                          name=name)
            self._name = self._variable.name
            if validate_shape and not self._initial_value.shape.is_fully_defined():
                raise ValueError(f"initial_value must have a shape specified: {self._initial_value}")
            self._initializer_op = state_ops.assign(self._variable, self._initial_value,
                                                    validate_shape=validate_shape).op
            if caching_device is not None:
                with g.device(caching_device):
                    self._snapshot = apply_op("Identity", input=self._variable, name="read")
            else:
                with g.colocate_with(self._variable.op):
                    self._snapshot = apply_op("Identity", input=self._variable, name="read")
        ops.add_to_collections(collections, self)
        self._caching_device = caching_device
        self._save_slice_info = None
        self._constraint = constraint

    def _variable_shape(self, shape, validate_shape):
        if shape is not None:
            return tensor_shape.as_shape(shape)
        return self._initial_value.shape if validate_shape else tensor_shape.TensorShape(None)

    def _init_from_proto(self, variable_def, import_scope=None):
        g = self._common_from_proto(variable_def, import_scope)
        self._variable = g.as_graph_element(prepend_name_scope(variable_def.variable_name, import_scope))
        self._name = self._variable.name
        self._snapshot = g.as_graph_element(prepend_name_scope(variable_def.snapshot_name, import_scope))

    # -- reading --------------------------------------------------------------------------------
    def _as_graph_element(self):
        return self._variable

    def _ref(self):
        """The ref tensor (``w:0``) that assign ops take."""
        return self._variable

    def value(self):
        """The snapshot ``w/read``: the variable's value when the reading op runs."""
        return self._snapshot

    def read_value(self):
        """A new ``Identity`` read of the variable (useful under control dependencies)."""
        return apply_op("Identity", input=self._variable, name="read")

    def _dense_var_to_tensor(self, dtype=None, name=None, as_ref=False):
        if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(self.dtype):
            raise ValueError(f"Incompatible type conversion requested to type '{dtypes.as_dtype(dtype).name}' "
                             f"for variable of type '{self.dtype.name}'")
        return self._variable if as_ref else self._snapshot

    def eval(self, session=None):
        """The variable's current value in ``session`` (default: the default session)."""
        return self._variable.eval(session=session)

    def set_shape(self, shape):
        self._variable.set_shape(shape)
        self._snapshot.set_shape(shape)

    device = property(lambda self: self._variable.device)
    dtype = property(lambda self: self._variable.dtype, doc="The ref dtype, e.g. ``float32_ref``.")
    op = property(lambda self: self._variable.op)
    graph = property(lambda self: self._variable.graph)
    shape = property(lambda self: self._variable.shape)

    # -- writing --------------------------------------------------------------------------------
    def assign(self, value, use_locking=False, name=None, read_value=True):
        """``Assign`` op: the returned ref holds the new value once it has run.

        Example:
            >>> update = v.assign([1.0, 2.0])                           # doctest: +SKIP
        """
        assign = state_ops.assign(self._variable, value, use_locking=use_locking, name=name)
        return assign if read_value else assign.op

    def assign_add(self, delta, use_locking=False, name=None, read_value=True):
        """``AssignAdd`` op: ``v += delta``."""
        assign = state_ops.assign_add(self._variable, delta, use_locking=use_locking, name=name)
        return assign if read_value else assign.op

    def assign_sub(self, delta, use_locking=False, name=None, read_value=True):
        """``AssignSub`` op: ``v -= delta``."""
        assign = state_ops.assign_sub(self._variable, delta, use_locking=use_locking, name=name)
        return assign if read_value else assign.op

    def to_proto(self, export_scope=None):
        """A ``VariableDef`` naming this variable's nodes (None if outside ``export_scope``)."""
        if export_scope is None or self._variable.name.startswith(export_scope):
            return self._common_proto(self._variable.name, self._snapshot.name, export_scope)
        return None

    # In-place operators build new tensors, as TF1 does (with a deprecation warning there).
    def __iadd__(self, other):
        return self + other

    def __isub__(self, other):
        return self - other

    def __imul__(self, other):
        return self * other

    def __itruediv__(self, other):
        return self / other

    def __ipow__(self, other):
        return self ** other


def _check_collections(collections):
    if collections is None:
        return [GraphKeys.GLOBAL_VARIABLES]
    if not isinstance(collections, (list, tuple, set)):
        raise ValueError(f"collections argument to Variable constructor must be a list, tuple, or set. "
                         f"Got {collections} of type {type(collections)}")
    return collections


class SaveSliceInfo:
    """Where a partition of a partitioned variable sits in the full variable (for Saver)."""

    def __init__(self, full_name=None, full_shape=None, var_offset=None, var_shape=None,
                 save_slice_info_def=None, import_scope=None):
        if save_slice_info_def:
            self.full_name = prepend_name_scope(save_slice_info_def.full_name, import_scope)
            self.full_shape = list(save_slice_info_def.full_shape)
            self.var_offset = list(save_slice_info_def.var_offset)
            self.var_shape = list(save_slice_info_def.var_shape)
        else:
            self.full_name = full_name
            self.full_shape = full_shape
            self.var_offset = var_offset
            self.var_shape = var_shape

    @property
    def spec(self):
        """The slice spec a checkpoint stores: ``"10 4 0,5:0,4"``."""
        full = " ".join(str(d) for d in self.full_shape) + " "
        return full + ":".join(f"{o},{s}" for o, s in zip(self.var_offset, self.var_shape))

    def to_proto(self, export_scope=None):
        if export_scope is None or self.full_name.startswith(export_scope):
            return variable_pb2.SaveSliceInfoDef(
                full_name=strip_name_scope(self.full_name, export_scope), full_shape=self.full_shape,
                var_offset=self.var_offset, var_shape=self.var_shape)
        return None


Variable.SaveSliceInfo = SaveSliceInfo


# -- collections and initializers ---------------------------------------------------------------
def global_variables(scope=None):
    """The ``GLOBAL_VARIABLES`` collection (optionally those whose name matches ``scope``)."""
    return ops.get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def all_variables():
    """Deprecated alias of :func:`global_variables`."""
    return global_variables()


def local_variables(scope=None):
    return ops.get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope=None):
    return ops.get_collection(GraphKeys.MODEL_VARIABLES, scope)


def trainable_variables(scope=None):
    """The ``TRAINABLE_VARIABLES`` collection: what optimizers update by default."""
    return ops.get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def moving_average_variables(scope=None):
    return ops.get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    """A NoOp that runs the initializers of ``var_list``.

    Example:
        >>> init = tf.variables_initializer([w, b])                   # doctest: +SKIP
    """
    from gpugraph.ops import core_ops
    if var_list:
        return core_ops.group(*[v.initializer for v in var_list], name=name)
    return core_ops.no_op(name=name)


def initialize_variables(var_list, name="init"):
    """Deprecated alias of :func:`variables_initializer`."""
    return variables_initializer(var_list, name=name)


def global_variables_initializer():
    """``tf.global_variables_initializer()``: initializes every global variable (op ``init``).

    Example:
        >>> sess.run(tf.global_variables_initializer())               # doctest: +SKIP
    """
    return variables_initializer(global_variables())


def initialize_all_variables():
    """Deprecated alias of :func:`global_variables_initializer`."""
    return global_variables_initializer()


def local_variables_initializer():
    """Initializes every local variable (an op named ``init``, uniquified)."""
    return variables_initializer(local_variables())


def initialize_local_variables():
    return local_variables_initializer()


def is_variable_initialized(variable):
    """A bool scalar tensor: is ``variable`` initialized in the running Session?"""
    return state_ops.is_variable_initialized(variable)


def _default_var_list():
    var_list = global_variables() + local_variables()
    if not var_list:
        var_list = [op.outputs[0] for op in ops.get_default_graph().get_operations()
                    if op.type in ("Variable", "VariableV2", "AutoReloadVariable")]
    return var_list


def assert_variables_initialized(var_list=None):
    """An op that fails (FailedPreconditionError) when run while any variable is uninitialized:
    the ``Rank`` of each variable, stacked. None if there are no variables."""
    var_list = _default_var_list() if var_list is None else var_list
    if not var_list:
        return None
    ranks = []
    for var in var_list:
        with ops.colocate_with(var.op):
            ranks.append(apply_op("Rank", input=var))
    if len(ranks) == 1:
        return ranks[0]
    return apply_op("Pack", values=ranks, axis=0, name="stack")


def report_uninitialized_variables(var_list=None, name="report_uninitialized_variables"):
    """A 1-D string tensor with the names of the variables not yet initialized.

    Example:
        >>> sess.run(tf.report_uninitialized_variables())             # doctest: +SKIP
        array([b'w'], dtype=object)
    """
    import gpugraph
    from gpugraph.framework.op_builder import constant
    var_list = _default_var_list() if var_list is None else var_list
    with ops.name_scope(name):
        init_vars = [state_ops.is_variable_initialized(v) for v in var_list]
        with ops.device("/cpu:0"):
            if not var_list:
                return constant([], dtype=dtypes.string)
            mask = gpugraph.logical_not(apply_op("Pack", values=init_vars, axis=0, name="stack"))
            names = constant([v.op.name.encode() for v in var_list])
            return gpugraph.boolean_mask(names, mask)


EXPORTS = {
    "": ["Variable", "VariableSynchronization", "VariableAggregation", "global_variables",
         "all_variables", "local_variables", "model_variables", "trainable_variables",
         "moving_average_variables", "variables_initializer", "initialize_variables",
         "global_variables_initializer", "initialize_all_variables", "local_variables_initializer",
         "initialize_local_variables", "is_variable_initialized", "assert_variables_initialized",
         "report_uninitialized_variables", "enable_resource_variables", "disable_resource_variables",
         "resource_variables_enabled"],
    "initializers": ["global_variables=global_variables_initializer",
                     "local_variables=local_variables_initializer", "variables=variables_initializer"],
}
