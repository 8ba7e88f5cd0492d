"""``ResourceVariable``: a variable held by handle (``VarHandleOp``), read with ``ReadVariableOp``
and updated with ``AssignVariableOp``/``AssignAddVariableOp``/``AssignSubVariableOp``.

Built by ``tf.Variable(..., use_resource=True)`` or ``get_variable(..., use_resource=True)`` (or in
a ``variable_scope(use_resource=True)``). The nodes match TensorFlow's: ``w`` (VarHandleOp),
``w/Initializer/initial_value``, ``w/IsInitialized/VarIsInitializedOp``, ``w/Assign``,
``w/Read/ReadVariableOp``.

Example:
    >>> v = tf.Variable([1.0, 2.0], name="v", use_resource=True)
    >>> inc = v.assign_add([1.0, 1.0])
    >>> with tf.Session() as sess:
    ...     sess.run(v.initializer)
    ...     sess.run(inc).tolist()
    [2.0, 3.0]
"""

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.ops.variables import (
    Variable, _colocation_attr_scope, _name_from_scope_name, prepend_name_scope)


class ResourceVariable(Variable):
    """A variable held by handle (``VarHandleOp``); reads are ``ReadVariableOp`` nodes ordered by
    control dependencies. Build with ``tf.Variable(..., use_resource=True)`` or
    ``tf.get_variable(..., use_resource=True)``."""

    def __init__(self, initial_value=None, trainable=None, collections=None, validate_shape=True,
                 caching_device=None, name=None, dtype=None, variable_def=None, import_scope=None,
                 constraint=None, distribute_strategy=None, synchronization=None, aggregation=None,
                 shape=None):
        if variable_def is not None:
            if initial_value is not None:
                raise ValueError("The variable_def and initial_value args to `tf.Variable` are "
                                 "mutually exclusive, but both were passed.")
            self._init_from_proto(variable_def, import_scope)
        else:
            self._init_from_args(initial_value, trainable, collections, validate_shape, caching_device,
                                 name, dtype, constraint, synchronization, aggregation, shape)

    def _init_from_args(self, initial_value, trainable, collections, validate_shape, caching_device,
                        name, dtype, constraint, synchronization, aggregation, shape):
        collections, dtype = self._check_init_args(
            initial_value, collections, constraint, synchronization, aggregation, trainable, name, dtype,
            "The `initial_value` arg to `tf.Variable` must be specified except when you are not "
            "providing a `variable_def`. You provided neither.",
            f"Argument `constraint` must be None or a callable. Got a {type(constraint)}")
        init_from_fn = callable(initial_value)
        g = ops.get_default_graph()
        # TF builds variables in an init_scope: outer control dependencies do not apply.
        with g.control_dependencies(None), \
                ops.name_scope(name, "Variable", [] if init_from_fn else [initial_value]) as name:
            handle_name = _name_from_scope_name(name)
            with _colocation_attr_scope(g, handle_name):
                with g.name_scope("Initializer"), g.device(None):
                    if init_from_fn:
                        initial_value = initial_value()
                    initial_value = convert_to_tensor(initial_value, name="initial_value", dtype=dtype)
                if shape is not None:
                    shape = tensor_shape.as_shape(shape)
                    if not initial_value.shape.is_compatible_with(shape):
                        raise ValueError(f"In this `tf.Variable` creation, the initial value's shape "
                                         f"({initial_value.shape}) is not compatible with the explicitly "
                                         f"supplied `shape` argument ({shape}).")
                else:
                    shape = initial_value.shape
                self._handle = apply_op("VarHandleOp", shape=shape, dtype=initial_value.dtype.base_dtype,
                                        shared_name=handle_name, debug_name=name, name=name)
            self._dtype = initial_value.dtype.base_dtype
            with g.name_scope("IsInitialized"):
                self._is_initialized_op = apply_op("VarIsInitializedOp", resource=self._handle)
            with g.name_scope("Assign") as n, g.colocate_with(None, ignore_existing=True), \
                    g.device(self._handle.device):
                self._initializer_op = apply_op("AssignVariableOp", resource=self._handle,
                                                value=initial_value, name=n)
            with g.name_scope("Read"):
                with g.device(self._handle.device):
                    self._graph_element = apply_op("ReadVariableOp", resource=self._handle,
                                                   dtype=self._dtype)
                self._cached_value = None
                if caching_device is not None:
                    with g.colocate_with(None, ignore_existing=True), g.device(caching_device):
                        self._cached_value = apply_op("Identity", input=self._graph_element)
        ops.add_to_collections(collections, self)
        self._initial_value = initial_value
        self._shape = shape
        self._validate_shape = validate_shape
        self._caching_device = caching_device
        self._constraint = constraint
        self._name = self._handle.name
        self._save_slice_info = None

    def _init_from_proto(self, variable_def, import_scope=None):
        if not variable_def.is_resource:
            raise ValueError("Trying to restore a TF 1.x Reference Variable as a ResourceVariable.")
        g = self._common_from_proto(variable_def, import_scope)
        self._handle = g.as_graph_element(prepend_name_scope(variable_def.variable_name, import_scope))
        self._name = self._handle.name
        self._shape = tensor_shape.TensorShape(self._handle.op.get_attr("shape"))
        self._dtype = self._handle.op.get_attr("dtype")
        self._validate_shape = True
        snapshot = g.as_graph_element(prepend_name_scope(variable_def.snapshot_name, import_scope))
        if snapshot.op.type != "ReadVariableOp":
            self._cached_value = snapshot
            while snapshot.op.type != "ReadVariableOp":
                snapshot = snapshot.op.inputs[0]
        else:
            self._cached_value = None
        self._graph_element = snapshot
        handle_name = variable_def.variable_name.split(":")[0]
        is_init_name = prepend_name_scope(handle_name + "/IsInitialized/VarIsInitializedOp", import_scope)
        try:
            self._is_initialized_op = g.as_graph_element(is_init_name + ":0")
        except KeyError:
            self._is_initialized_op = None

    handle = property(lambda self: self._handle, doc="The ``resource`` tensor of the VarHandleOp.")
    device = property(lambda self: self._handle.device)
    dtype = property(lambda self: self._dtype)
    op = property(lambda self: self._handle.op)
    graph = property(lambda self: self._handle.graph)
    shape = property(lambda self: self._shape)
    create = property(lambda self: self._initializer_op)

    def _as_graph_element(self):
        return self._graph_element

    def _read_variable_op(self):
        g = ops.get_default_graph()
        if self._caching_device is not None:
            with g.colocate_with(None, ignore_existing=True), g.device(self._caching_device):
                return apply_op("ReadVariableOp", resource=self._handle, dtype=self._dtype)
        return apply_op("ReadVariableOp", resource=self._handle, dtype=self._dtype)

    def value(self):
        """A new ``ReadVariableOp`` (or the cached read when a caching device was given)."""
        if self._cached_value is not None:
            return self._cached_value
        with ops.get_default_graph().colocate_with(None, ignore_existing=True):
            return self._read_variable_op()

    def read_value(self):
        """``Read/ReadVariableOp`` followed by an ``Identity``."""
        with ops.get_default_graph().name_scope("Read"):
            value = self._read_variable_op()
        return apply_op("Identity", input=value)

    def _dense_var_to_tensor(self, dtype=None, name=None, as_ref=False):
        if dtype is not None and not dtypes.as_dtype(dtype).is_compatible_with(self.dtype):
            raise ValueError(f"Incompatible type conversion requested to type {dtypes.as_dtype(dtype).name} "
                             f"for `tf.Variable of type {self.dtype.name}. (Variable: {self})")
        return self._handle if as_ref else self.value()

    def eval(self, session=None):
        return self._graph_element.eval(session=session)

    def is_initialized(self, name=None):
        """A bool scalar: does the variable hold a value in this Session?"""
        return apply_op("VarIsInitializedOp", resource=self._handle, name=name)

    def set_shape(self, shape):
        self._shape = self._shape.merge_with(shape)

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """``AssignVariableOp``; returns the new value (a read ordered after it) or the op."""
        value_tensor = convert_to_tensor(value, dtype=self.dtype)
        if not self._shape.is_compatible_with(value_tensor.shape):
            raise ValueError(f"Cannot assign value to variable ' {self.name}': Shape mismatch.The variable "
                             f"shape {self._shape}, and the assigned value shape {value_tensor.shape} "
                             f"are incompatible.")
        op = apply_op("AssignVariableOp", resource=self._handle, value=value_tensor,
                      validate_shape=bool(self._validate_shape and self._shape.is_fully_defined()),
                      name=name)
        return self._lazy_read(op) if read_value else op

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """``AssignAddVariableOp``: ``v += delta``."""
        op = apply_op("AssignAddVariableOp", resource=self._handle,
                      value=convert_to_tensor(delta, dtype=self.dtype), name=name)
        return self._lazy_read(op) if read_value else op

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """``AssignSubVariableOp``: ``v -= delta``."""
        op = apply_op("AssignSubVariableOp", resource=self._handle,
                      value=convert_to_tensor(delta, dtype=self.dtype), name=name)
        return self._lazy_read(op) if read_value else op

    def _lazy_read(self, op):
        return _UnreadVariable(self._handle, self._dtype, self._shape, op, self)

    def to_proto(self, export_scope=None):
        if export_scope is None or self._handle.name.startswith(export_scope):
            snapshot = self._cached_value if self._cached_value is not None else self._graph_element
            var_def = self._common_proto(self._handle.name, snapshot.name, export_scope)
            var_def.is_resource = True
            return var_def
        return None

    def __iadd__(self, other):
        raise RuntimeError("`variable += value` with resource variables is not supported. Use "
                           "`variable.assign_add(value)` to modify the variable, or `out = variable + "
                           "value` if you need to get a new output Tensor.")

    def __isub__(self, other):
        raise RuntimeError("`variable -= value` with resource variables is not supported. Use "
                           "`variable.assign_sub(value)`, or `out = variable - value`.")


class _UnreadVariable(ResourceVariable):
    """What ``assign*`` returns on a resource variable: reads the new value, ordered after the
    update (its graph element is a ``ReadVariableOp`` with a control input on the update)."""

    def __init__(self, handle, dtype, shape, parent_op, parent):  # noqa: D107 - no super().__init__
        self._handle = handle
        self._dtype = dtype
        self._shape = shape
        self._parent_op = parent_op
        self._parent = parent
        self._cached_value = None
        self._caching_device = None
        self._validate_shape = parent._validate_shape
        self._initial_value = None
        self._initializer_op = None
        self._trainable = parent._trainable
        self._synchronization = parent._synchronization
        self._aggregation = parent._aggregation
        self._constraint = None
        with ops.control_dependencies([parent_op]):
            self._graph_element = apply_op("ReadVariableOp", resource=handle, dtype=dtype)

    @property
    def name(self):
        return self._parent_op.name

    def value(self):
        return self._read_variable_op()

    def read_value(self):
        return self._read_variable_op()

    def _read_variable_op(self):
        with ops.control_dependencies([self._parent_op]):
            return apply_op("ReadVariableOp", resource=self._handle, dtype=self._dtype)

    def assign(self, value, use_locking=None, name=None, read_value=True):
        with ops.control_dependencies([self._parent_op]):
            return super().assign(value, use_locking, name, read_value)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        with ops.control_dependencies([self._parent_op]):
            return super().assign_add(delta, use_locking, name, read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        with ops.control_dependencies([self._parent_op]):
            return super().assign_sub(delta, use_locking, name, read_value)

    @property
    def op(self):
        return self._parent_op

    def _as_graph_element_for_control(self):
        return self._parent_op
