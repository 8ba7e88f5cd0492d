"""``tf.compat.v1.variable_scope`` and ``get_variable``: named, shareable variables.

The variable store (name → Variable) lives on the Graph (``graph._variable_store``); the current
:class:`VariableScope` (name prefix, reuse flag, default initializer/regularizer/dtype…) is
per graph and per thread. ``get_variable("kernel", shape)`` inside ``variable_scope("dense")``
creates ``dense/kernel`` with the scope's (or the default glorot-uniform) initializer, or returns
the existing one when the scope reuses — with TensorFlow's rules and error messages.

Example:
    >>> def dense(x, units):
    ...     with tf.variable_scope("dense", reuse=tf.AUTO_REUSE):
    ...         w = tf.get_variable("kernel", [x.shape[-1], units])
    ...         return tf.matmul(x, w)
    >>> x = tf.placeholder(tf.float32, [None, 3])
    >>> y1, y2 = dense(x, 4), dense(x, 4)          # the second call shares dense/kernel
    >>> [v.name for v in tf.global_variables()]
    ['dense/kernel:0']
"""

import copy
import enum
import functools
import inspect
import threading

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import convert_to_tensor
from gpugraph.ops import init_ops, partitioned_variables, variables
from gpugraph.ops.partitioned_variables import fixed_size_partitioner  # noqa: F401  (exported)
from gpugraph.ops.variables import VariableAggregation, VariableSynchronization

GraphKeys = ops.GraphKeys


class _ReuseMode(enum.Enum):
    AUTO_REUSE = 1


AUTO_REUSE = _ReuseMode.AUTO_REUSE
"""``reuse=tf.AUTO_REUSE``: get_variable creates a variable if it does not exist, else returns it."""


def _accepts_partition_info(fn):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "partition_info" in params


def _needs_no_arguments(fn):
    """True for a callable whose every parameter has a default (e.g. ``lambda: tf.zeros([2])``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def _accepts_kwarg(fn, name):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind == p.VAR_KEYWORD for p in params)


class _VariableStore:
    """Name → Variable for one graph; implements get_variable's create-or-reuse rules."""

    def __init__(self):
        self._vars = {}
        self._partitioned_vars = {}

    def get_variable(self, name, shape=None, dtype=dtypes.float32, initializer=None, regularizer=None,
                     reuse=None, trainable=None, collections=None, caching_device=None,
                     partitioner=None, validate_shape=True, use_resource=None, custom_getter=None,
                     constraint=None, synchronization=VariableSynchronization.AUTO,
                     aggregation=VariableAggregation.NONE):
        if custom_getter is not None and not callable(custom_getter):
            raise ValueError(f"Passed a custom_getter which is not callable: {custom_getter}")
        dtype = getattr(dtype, "base_dtype", dtype)

        def _true_getter(name, shape=None, dtype=dtypes.float32, initializer=None, regularizer=None,
                         reuse=None, trainable=None, collections=None, caching_device=None,
                         partitioner=None, validate_shape=True, use_resource=None, constraint=None,
                         synchronization=VariableSynchronization.AUTO,
                         aggregation=VariableAggregation.NONE):
            is_scalar = shape is not None and isinstance(shape, (list, tuple)) and not shape
            if partitioner is not None and not is_scalar:
                if not callable(partitioner):
                    raise ValueError(f"Partitioner must be callable, but received: {partitioner}")
                with ops.name_scope(None):
                    return partitioned_variables.get_partitioned_variable(
                        self, name=name, shape=shape, dtype=dtype, initializer=initializer,
                        regularizer=regularizer, reuse=reuse, trainable=trainable,
                        collections=collections, caching_device=caching_device,
                        partitioner=partitioner, validate_shape=validate_shape,
                        use_resource=use_resource, constraint=constraint,
                        synchronization=synchronization, aggregation=aggregation)
            if reuse is True and partitioner is None and name in self._partitioned_vars:
                return partitioned_variables.get_partitioned_variable(
                    self, name=name, shape=shape, dtype=dtype, initializer=initializer,
                    regularizer=regularizer, reuse=reuse, trainable=trainable, collections=collections,
                    caching_device=caching_device, partitioner=None, validate_shape=validate_shape,
                    use_resource=use_resource, constraint=constraint, synchronization=synchronization,
                    aggregation=aggregation)
            if f"{name}/part_0" in self._vars:
                raise ValueError(f"No partitioner was provided, but a partitioned version of the variable "
                                 f"was found: {name}/part_0. Perhaps a variable of the same name was "
                                 f"already created with partitioning?")
            return self._get_single_variable(
                name=name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                reuse=reuse, trainable=trainable, collections=collections,
                caching_device=caching_device, validate_shape=validate_shape,
                use_resource=use_resource, constraint=constraint, synchronization=synchronization,
                aggregation=aggregation)

        synchronization, aggregation, trainable = variables._validate_sync_agg_trainable(
            synchronization, aggregation, trainable, name)
        kwargs = dict(name=name, shape=shape, dtype=dtype, initializer=initializer,
                      regularizer=regularizer, reuse=reuse, trainable=trainable,
                      collections=collections, caching_device=caching_device, partitioner=partitioner,
                      validate_shape=validate_shape, use_resource=use_resource,
                      synchronization=synchronization, aggregation=aggregation)
        if custom_getter is not None:
            if _accepts_kwarg(custom_getter, "constraint"):
                kwargs["constraint"] = constraint
            return custom_getter(getter=_true_getter, **kwargs)
        return _true_getter(constraint=constraint, **kwargs)

    def _get_single_variable(self, name, shape=None, dtype=dtypes.float32, initializer=None,
                             regularizer=None, partition_info=None, reuse=None, trainable=None,
                             collections=None, caching_device=None, validate_shape=True,
                             use_resource=None, constraint=None,
                             synchronization=VariableSynchronization.AUTO,
                             aggregation=VariableAggregation.NONE):
        initializing_from_value = initializer is not None and not callable(initializer)
        if shape is not None and initializing_from_value:
            raise ValueError("If initializer is a constant, do not specify shape.")
        dtype = dtypes.as_dtype(dtype)
        if shape is not None:
            shape = tensor_shape.as_shape(shape)

        if name in self._vars:
            if reuse is False:
                raise ValueError(f"Variable {name} already exists, disallowed. Did you mean to set "
                                 f"reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
            found_var = self._vars[name]
            if shape is not None and not shape.is_compatible_with(found_var.get_shape()):
                raise ValueError(f"Trying to share variable {name}, but specified shape {shape} and "
                                 f"found shape {found_var.get_shape()}.")
            if not dtype.is_compatible_with(found_var.dtype):
                raise ValueError(f"Trying to share variable {name}, but specified dtype {dtype.name} "
                                 f"and found dtype {found_var.dtype.name}.")
            return found_var

        if reuse is True:
            raise ValueError(f"Variable {name} does not exist, or was not created with "
                             f"tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?")

        if initializer is None:
            if shape is None:
                raise ValueError(f"Variable {name} did not get an initializer, so its `shape` argument "
                                 f"must be specified.")
            initializer, initializing_from_value = self._get_default_initializer(name, shape, dtype)
        if initializing_from_value:
            init_val, variable_dtype = initializer, None
        else:
            if inspect.isclass(initializer):
                initializer = initializer()
            if shape is not None and shape.is_fully_defined():
                extra = {"partition_info": partition_info} if _accepts_partition_info(initializer) else {}
                init_val = functools.partial(initializer, shape.as_list(), dtype=dtype, **extra)
                variable_dtype = dtype.base_dtype
            elif _needs_no_arguments(initializer):
                init_val, variable_dtype = initializer, None
            else:
                raise ValueError("The initializer passed is not valid. It should be a callable with no "
                                 "arguments and the shape should not be provided or an instance of "
                                 "`tf.keras.initializers.*' and `shape` should be fully defined.")
        if use_resource is None:
            use_resource = variables.resource_variables_enabled()
        v = variables.Variable(initial_value=init_val, name=name, trainable=trainable,
                               collections=collections, caching_device=caching_device,
                               dtype=variable_dtype, validate_shape=validate_shape,
                               constraint=constraint, use_resource=use_resource,
                               synchronization=synchronization, aggregation=aggregation, shape=shape)
        self._vars[name] = v
        # TF 2.x calls the regularizer once in the current scope just to see whether it returns a
        # loss (leaving those ops unused in the graph), then builds the collected loss under
        # "<name>/Regularizer/". Both are kept so graphs match TensorFlow's node for node.
        if regularizer and regularizer(v) is not None:
            with ops.get_default_graph().colocate_with(v.op), ops.name_scope(name + "/Regularizer/"):
                loss = regularizer(v)
            ops.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
        return v

    @staticmethod
    def _get_default_initializer(name, shape=None, dtype=dtypes.float32):
        """glorot_uniform for floats; zeros for integers, bools and strings (as TF)."""
        if dtype.is_floating:
            return init_ops.glorot_uniform_initializer(), False
        if dtype.is_integer or dtype.is_unsigned or dtype.is_bool or dtype == dtypes.string:
            return init_ops.zeros_initializer(), False
        raise ValueError(f"An initializer for variable {name} of {dtype.base_dtype} is required")


def no_regularizer(_):
    """Use as ``regularizer=tf.no_regularizer`` to switch off a scope's default regularizer."""
    return None


class VariableScope:
    """The state of one ``variable_scope``: name, reuse and defaults for ``get_variable``.

    Example:
        >>> with tf.variable_scope("layer") as scope:
        ...     scope.name, scope.reuse
        ('layer', False)
    """

    def __init__(self, reuse, name="", initializer=None, regularizer=None, caching_device=None,
                 partitioner=None, custom_getter=None, name_scope="", dtype=dtypes.float32,
                 use_resource=None, constraint=None):
        self._name = name
        self._initializer = initializer
        self._regularizer = regularizer
        self._reuse = reuse
        self._caching_device = caching_device
        self._partitioner = partitioner
        self._custom_getter = custom_getter
        self._name_scope = name_scope
        self._dtype = dtype
        self._use_resource = use_resource
        self._constraint = constraint

    name = property(lambda self: self._name)
    original_name_scope = property(lambda self: self._name_scope,
                                   doc='The name scope opened with this scope, e.g. "layer/".')
    reuse = property(lambda self: self._reuse)
    initializer = property(lambda self: self._initializer)
    dtype = property(lambda self: self._dtype)
    use_resource = property(lambda self: self._use_resource)
    regularizer = property(lambda self: self._regularizer)
    caching_device = property(lambda self: self._caching_device)
    partitioner = property(lambda self: self._partitioner)
    custom_getter = property(lambda self: self._custom_getter)
    constraint = property(lambda self: self._constraint)

    def reuse_variables(self):
        """From now on, get_variable in this scope returns existing variables."""
        self._reuse = True

    def set_initializer(self, initializer):
        self._initializer = initializer

    def set_dtype(self, dtype):
        self._dtype = dtype

    def set_use_resource(self, use_resource):
        self._use_resource = use_resource

    def set_regularizer(self, regularizer):
        self._regularizer = regularizer

    def set_caching_device(self, caching_device):
        self._caching_device = caching_device

    def set_partitioner(self, partitioner):
        self._partitioner = partitioner

    def set_custom_getter(self, custom_getter):
        self._custom_getter = custom_getter

    def get_collection(self, name):
        return ops.get_collection(name, self._name + "/" if self._name else "")

    def trainable_variables(self):
        return self.get_collection(GraphKeys.TRAINABLE_VARIABLES)

    def global_variables(self):
        return self.get_collection(GraphKeys.GLOBAL_VARIABLES)

    def local_variables(self):
        return self.get_collection(GraphKeys.LOCAL_VARIABLES)

    def get_variable(self, var_store, name, shape=None, dtype=None, initializer=None, regularizer=None,
                     reuse=None, trainable=None, collections=None, caching_device=None,
                     partitioner=None, validate_shape=True, use_resource=None, custom_getter=None,
                     constraint=None, synchronization=VariableSynchronization.AUTO,
                     aggregation=VariableAggregation.NONE):
        """Gets or creates ``<scope name>/name`` in ``var_store`` with this scope's defaults."""
        regularizer = self._regularizer if regularizer is None else regularizer
        caching_device = self._caching_device if caching_device is None else caching_device
        partitioner = self._partitioner if partitioner is None else partitioner
        custom_getter = self._custom_getter if custom_getter is None else custom_getter
        reuse = self._reuse if reuse is None else reuse
        use_resource = self._use_resource if use_resource is None else use_resource
        full_name = self.name + "/" + name if self.name else name
        # Variables are named from the root, whatever name scope is open.
        with ops.name_scope(None):
            if dtype is not None and initializer is not None and not callable(initializer):
                init_dtype = convert_to_tensor(initializer).dtype.base_dtype
                if init_dtype != dtypes.as_dtype(dtype):
                    raise ValueError(f"Initializer type '{init_dtype}' and explicit dtype "
                                     f"'{dtypes.as_dtype(dtype)}' don't match.")
            initializer = self._initializer if initializer is None else initializer
            constraint = self._constraint if constraint is None else constraint
            dtype = self._dtype if dtype is None else dtype
            return var_store.get_variable(
                full_name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                reuse=reuse, trainable=trainable, collections=collections,
                caching_device=caching_device, partitioner=partitioner, validate_shape=validate_shape,
                use_resource=use_resource, custom_getter=custom_getter, constraint=constraint,
                synchronization=synchronization, aggregation=aggregation)


class _VariableScopeStore(threading.local):
    """Per graph and thread: the current VariableScope and how often each scope name was opened."""

    def __init__(self):
        super().__init__()
        self.current_scope = VariableScope(False)
        self.variable_scopes_count = {}

    def open_variable_scope(self, scope_name):
        self.variable_scopes_count[scope_name] = self.variable_scopes_count.get(scope_name, 0) + 1

    def close_variable_subscopes(self, scope_name):
        prefix = scope_name + "/"
        for k in self.variable_scopes_count:
            if scope_name is None or k.startswith(prefix):
                self.variable_scopes_count[k] = 0

    def variable_scope_count(self, scope_name):
        return self.variable_scopes_count.get(scope_name, 0)


def get_variable_scope_store():
    g = ops.get_default_graph()
    store = getattr(g, "_variable_scope_store", None)
    if store is None:
        store = g._variable_scope_store = _VariableScopeStore()
    return store


def get_variable_scope():
    """The current :class:`VariableScope` (the unnamed root scope outside any ``variable_scope``)."""
    return get_variable_scope_store().current_scope


def _get_default_variable_store():
    g = ops.get_default_graph()
    if g._variable_store is None:
        g._variable_store = _VariableStore()
    return g._variable_store


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None,
                 collections=None, caching_device=None, partitioner=None, validate_shape=True,
                 use_resource=None, custom_getter=None, constraint=None,
                 synchronization=VariableSynchronization.AUTO, aggregation=VariableAggregation.NONE):
    """``tf.compat.v1.get_variable``: gets the variable ``<scope>/name`` or creates it.

    The initializer defaults to the scope's, else ``glorot_uniform_initializer`` for floats and
    zeros for integers; it may also be a Tensor or value (then ``shape`` must be omitted).

    Example:
        >>> with tf.variable_scope("dense"):
        ...     w = tf.get_variable("kernel", [3, 4])
        ...     b = tf.get_variable("bias", [4], initializer=tf.zeros_initializer())
        >>> w.name, b.op.name
        ('dense/kernel:0', 'dense/bias')
    """
    return get_variable_scope().get_variable(
        _get_default_variable_store(), name, shape=shape, dtype=dtype, initializer=initializer,
        regularizer=regularizer, trainable=trainable, collections=collections,
        caching_device=caching_device, partitioner=partitioner, validate_shape=validate_shape,
        use_resource=use_resource, custom_getter=custom_getter, constraint=constraint,
        synchronization=synchronization, aggregation=aggregation)


def get_local_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=False,
                       collections=None, caching_device=None, partitioner=None, validate_shape=True,
                       use_resource=None, custom_getter=None, constraint=None,
                       synchronization=VariableSynchronization.AUTO,
                       aggregation=VariableAggregation.NONE):
    """Like :func:`get_variable`, but in ``LOCAL_VARIABLES`` and not trainable."""
    collections = list(collections or []) + [GraphKeys.LOCAL_VARIABLES]
    return get_variable(name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                        trainable=False, collections=collections, caching_device=caching_device,
                        partitioner=partitioner, validate_shape=validate_shape,
                        use_resource=use_resource, synchronization=synchronization,
                        aggregation=aggregation, custom_getter=custom_getter, constraint=constraint)


def _maybe_wrap_custom_getter(custom_getter, old_getter):
    if old_getter is None:
        return custom_getter

    def wrapped_custom_getter(getter, *args, **kwargs):
        return custom_getter(functools.partial(old_getter, getter), *args, **kwargs)
    return wrapped_custom_getter


class _pure_variable_scope:  # noqa: N801 - TF's name
    """Enters a VariableScope without touching name scopes (variable_scope handles those)."""

    def __init__(self, name_or_scope, reuse=None, initializer=None, regularizer=None,
                 caching_device=None, partitioner=None, custom_getter=None, old_name_scope=None,
                 dtype=dtypes.float32, use_resource=None, constraint=None):
        self._name_or_scope = name_or_scope
        self._reuse = reuse
        self._overrides = dict(initializer=initializer, regularizer=regularizer,
                               caching_device=caching_device, partitioner=partitioner, dtype=dtype,
                               use_resource=use_resource)
        self._custom_getter = custom_getter
        self._old_name_scope = old_name_scope
        self._constraint = constraint
        self._var_scope_store = get_variable_scope_store()
        self._last_variable_scope_object = None

    def _apply_overrides(self, scope, old_getter):
        setters = {"initializer": scope.set_initializer, "regularizer": scope.set_regularizer,
                   "caching_device": scope.set_caching_device, "partitioner": scope.set_partitioner,
                   "dtype": scope.set_dtype, "use_resource": scope.set_use_resource}
        for key, value in self._overrides.items():
            if value is not None:
                setters[key](value)
        if self._custom_getter is not None:
            scope.set_custom_getter(_maybe_wrap_custom_getter(self._custom_getter, old_getter))

    def __enter__(self):
        store = self._var_scope_store
        self._old = store.current_scope
        if isinstance(self._name_or_scope, VariableScope):
            src = self._name_or_scope
            self._new_name = src.name
            store.open_variable_scope(self._new_name)
            self._old_subscopes = copy.copy(store.variable_scopes_count)
            scope = VariableScope(src.reuse if not self._reuse else self._reuse, name=self._new_name,
                                  initializer=src.initializer, regularizer=src.regularizer,
                                  caching_device=src.caching_device, partitioner=src.partitioner,
                                  dtype=src.dtype, custom_getter=src.custom_getter,
                                  name_scope=src.original_name_scope, use_resource=src.use_resource,
                                  constraint=self._constraint)
            self._apply_overrides(scope, src.custom_getter)
        else:
            old = self._old
            self._new_name = old.name + "/" + self._name_or_scope if old.name else self._name_or_scope
            self._reuse = self._reuse or old.reuse
            name_scope = self._name_or_scope if self._old_name_scope is None else self._old_name_scope
            scope = VariableScope(self._reuse, name=self._new_name, initializer=old.initializer,
                                  regularizer=old.regularizer, caching_device=old.caching_device,
                                  partitioner=old.partitioner, dtype=old.dtype,
                                  use_resource=old.use_resource, custom_getter=old.custom_getter,
                                  name_scope=name_scope, constraint=self._constraint)
            self._apply_overrides(scope, old.custom_getter)
            store.open_variable_scope(self._new_name)
        store.current_scope = scope
        self._last_variable_scope_object = scope
        return scope

    def __exit__(self, *exc):
        store = self._var_scope_store
        if store.current_scope is not self._last_variable_scope_object:
            raise RuntimeError("Improper nesting of variable_scope.")
        if isinstance(self._name_or_scope, VariableScope):
            store.variable_scopes_count = self._old_subscopes
        else:
            store.close_variable_subscopes(self._new_name)
        store.current_scope = self._old


def _get_unique_variable_scope(prefix):
    store = get_variable_scope_store()
    current = get_variable_scope()
    name = current.name + "/" + prefix if current.name else prefix
    if store.variable_scope_count(name) == 0:
        return prefix
    idx = 1
    while store.variable_scope_count(f"{name}_{idx}") > 0:
        idx += 1
    return f"{prefix}_{idx}"


class variable_scope:  # noqa: N801 - TF's name
    """``tf.compat.v1.variable_scope``: a name prefix and defaults for get_variable, plus a name
    scope for ops (unless ``auxiliary_name_scope=False``).

    ``reuse``: None/False inherit the outer scope's, True reuses existing variables (error if
    missing), ``tf.AUTO_REUSE`` creates or reuses. Re-entering a ``VariableScope`` object reuses its
    variable names (ops get a fresh name scope such as ``layer_1/``).

    Example:
        >>> with tf.variable_scope("rnn", initializer=tf.ones_initializer()):
        ...     v = tf.get_variable("v", [2])
        >>> with tf.variable_scope("rnn", reuse=True):
        ...     v2 = tf.get_variable("v")
        >>> v is v2
        True
    """

    def __init__(self, name_or_scope, default_name=None, values=None, initializer=None,
                 regularizer=None, caching_device=None, partitioner=None, custom_getter=None,
                 reuse=None, dtype=None, use_resource=None, constraint=None, auxiliary_name_scope=True):
        self._name_or_scope = name_or_scope
        self._default_name = default_name
        self._values = values or []
        self._kwargs = dict(initializer=initializer, regularizer=regularizer,
                            caching_device=caching_device, partitioner=partitioner,
                            custom_getter=custom_getter, dtype=dtype, use_resource=use_resource,
                            constraint=constraint)
        self._reuse = reuse
        if self._default_name is None and self._name_or_scope is None:
            raise TypeError("If default_name is None then name_or_scope is required")
        if self._reuse is False:
            self._reuse = None  # False means "inherit": a scope cannot switch reuse back off
        if not (self._reuse is True or self._reuse is None or self._reuse is AUTO_REUSE):
            raise ValueError("The reuse parameter must be True or False or None.")
        if not isinstance(auxiliary_name_scope, bool):
            raise TypeError(f"The auxiliary_name_scope must be `True` or `False`, while get "
                            f"{auxiliary_name_scope}")
        self._auxiliary_name_scope = auxiliary_name_scope
        self._graph = ops._graph_of(self._values) or ops.get_default_graph()
        self._pure_variable_scope = None
        self._current_name_scope = None

    def __enter__(self):
        self._graph_context_manager = self._graph.as_default()
        self._graph_context_manager.__enter__()
        try:
            return self._enter_scope_uncached()
        except BaseException:
            self._graph_context_manager.__exit__(None, None, None)
            raise

    def _enter_name_scope(self, name_scope_cm):
        try:
            name = name_scope_cm.__enter__()
        except BaseException:
            name_scope_cm.__exit__(None, None, None)
            raise
        self._current_name_scope = name_scope_cm
        return name

    def _enter_pure(self, name_or_scope, **kwargs):
        pure = _pure_variable_scope(name_or_scope, **self._kwargs, **kwargs)
        try:
            entered = pure.__enter__()
        except BaseException:
            pure.__exit__(None, None, None)
            raise
        self._pure_variable_scope = pure
        return entered

    def _enter_scope_uncached(self):
        self._current_name_scope = None
        current_name_scope = None
        if not self._auxiliary_name_scope:
            # Re-enter the current name scope instead of opening a new one.
            current = ops.get_name_scope()
            current_name_scope = ops.name_scope(current + "/" if current else "")
        if self._name_or_scope is not None:
            if not isinstance(self._name_or_scope, (VariableScope, str)):
                raise TypeError("VariableScope: name_or_scope must be a string or VariableScope.")
            if isinstance(self._name_or_scope, str):
                name_scope = self._name_or_scope
            else:
                name_scope = self._name_or_scope.name.split("/")[-1]
            if name_scope or current_name_scope:
                cm = current_name_scope or ops.name_scope(name_scope)
                scope_name = self._enter_name_scope(cm)
                if isinstance(self._name_or_scope, str):
                    old_name_scope = scope_name
                else:
                    old_name_scope = self._name_or_scope.original_name_scope
                return self._enter_pure(self._name_or_scope, reuse=self._reuse,
                                        old_name_scope=old_name_scope)
            self._current_name_scope = None
            return self._enter_pure(self._name_or_scope, reuse=self._reuse)
        if self._reuse:
            raise ValueError("reuse=True cannot be used without a name_or_scope")
        cm = current_name_scope or ops.name_scope(self._default_name)
        scope_name = self._enter_name_scope(cm)
        unique_default_name = _get_unique_variable_scope(self._default_name)
        return self._enter_pure(unique_default_name, old_name_scope=scope_name)

    def __exit__(self, type_arg, value_arg, traceback_arg):
        try:
            self._pure_variable_scope.__exit__(type_arg, value_arg, traceback_arg)
        finally:
            try:
                if self._current_name_scope:
                    self._current_name_scope.__exit__(type_arg, value_arg, traceback_arg)
            finally:
                self._graph_context_manager.__exit__(type_arg, value_arg, traceback_arg)


def variable_op_scope(values, name_or_scope, default_name=None, initializer=None, regularizer=None,
                      caching_device=None, partitioner=None, custom_getter=None, reuse=None,
                      dtype=None, use_resource=None, constraint=None):
    """Deprecated: ``variable_scope(name_or_scope, default_name, values, ...)``."""
    return variable_scope(name_or_scope, default_name=default_name, values=values,
                          initializer=initializer, regularizer=regularizer,
                          caching_device=caching_device, partitioner=partitioner,
                          custom_getter=custom_getter, reuse=reuse, dtype=dtype,
                          use_resource=use_resource, constraint=constraint)


EXPORTS = {
    "": ["get_variable", "get_local_variable", "variable_scope", "variable_op_scope",
         "get_variable_scope", "VariableScope", "AUTO_REUSE", "no_regularizer",
         "fixed_size_partitioner"],
}
