"""``tf.compat.v1.train.Optimizer``: compute gradients of a loss, create slot variables, and build
the update ops — with TensorFlow's graph layout, so checkpoints and meta graphs interoperate.

Slots are variables named ``<var>/<OptimizerName>`` (then ``_1``, ``_2`` … for further slots of the
same variable), colocated with their variable and created by ``get_variable`` inside
``variable_scope(None, default_name=...)`` exactly as TF's ``slot_creator`` does; non-slot state
(Adam's ``beta1_power``) is a plain variable colocated with the alphabetically first variable.
``apply_gradients`` builds ``<Name>/update_<var>/<ApplyOp>`` for each variable, a ``<Name>/update``
group when a ``global_step`` is incremented (``<Name>`` is then the AssignAdd), and adds the
returned op to the ``train_op`` collection like TensorFlow does.

Example:
    >>> opt = tf.train.GradientDescentOptimizer(0.1)
    >>> train_op = opt.minimize(loss, global_step=tf.train.get_or_create_global_step())
"""

from gpugraph.framework import dtypes, ops
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.ops import core_ops, gradients_impl, grad_util, init_ops, state_ops
from gpugraph.ops import variable_scope as vs
from gpugraph.ops import variables


def _is_resource_variable(v):
    return isinstance(getattr(v, "handle", None), ops.Tensor) and \
        v.handle.dtype == dtypes.resource and not isinstance(v, ops.Tensor)


def _var_key(var):
    """Slots are keyed by (graph, op name), so a variable object re-created from a proto finds them."""
    return (var.op.graph, var.op.name)


class _RefVariableProcessor:
    def __init__(self, v):
        self._v = v

    def target(self):
        return self._v._ref()

    def update_op(self, optimizer, g):
        update = optimizer._apply_dense(g, self._v)
        if self._v.constraint is not None:
            with ops.control_dependencies([update]):
                return state_ops.assign(self._v, self._v.constraint(self._v))
        return update


class _ResourceVariableProcessor:
    def __init__(self, v):
        self._v = v

    def target(self):
        return self._v

    def update_op(self, optimizer, g):
        update = optimizer._resource_apply_dense(g, self._v)
        if self._v.constraint is not None:
            with ops.control_dependencies([update]):
                return self._v.assign(self._v.constraint(self._v))
        return update


def _get_processor(v):
    if _is_resource_variable(v):
        return _ResourceVariableProcessor(v)
    if isinstance(v, variables.Variable):
        return _RefVariableProcessor(v)
    raise NotImplementedError(f"Trying to optimize unsupported type {v!r} (optimizers update Variables)")


# -- slot creation (TF's slot_creator) -------------------------------------------------------------------
def _create_slot_var(primary, initializer, shape, dtype):
    use_resource = True if _is_resource_variable(primary) else False
    scope = vs.get_variable_scope()
    partitioner = scope.partitioner
    scope.set_partitioner(None)
    try:
        slot = vs.get_variable("", shape=shape if callable(initializer) else None, dtype=dtype,
                               initializer=initializer, trainable=False, use_resource=use_resource,
                               validate_shape=shape is not None and shape.is_fully_defined())
    finally:
        scope.set_partitioner(partitioner)
    return slot


def create_slot_with_initializer(primary, initializer, shape, dtype, name, colocate_with_primary=True):
    """A slot variable ``<primary>/<name>`` initialized by ``initializer`` (TF's slot_creator)."""
    prefix = primary._shared_name if isinstance(primary, variables.Variable) else primary.op.name
    with vs.variable_scope(None, prefix + "/" + name):
        if colocate_with_primary:
            with ops.colocate_with(primary.op):
                return _create_slot_var(primary, initializer, shape, dtype)
        return _create_slot_var(primary, initializer, shape, dtype)


def create_zeros_slot(primary, name, dtype=None, colocate_with_primary=True):
    """A zeros-initialized slot shaped like ``primary``."""
    dtype = dtypes.as_dtype(dtype or primary.dtype.base_dtype).base_dtype
    shape = primary.get_shape()
    if shape.is_fully_defined():
        return create_slot_with_initializer(primary, init_ops.zeros_initializer(), shape, dtype, name,
                                            colocate_with_primary)
    value = apply_op("ZerosLike", x=primary.initial_value)
    prefix = primary._shared_name
    with vs.variable_scope(None, prefix + "/" + name), ops.colocate_with(primary.op):
        return _create_slot_var(primary, value, None, dtype)


class Optimizer:
    """Base class of the ``tf.compat.v1.train`` optimizers.

    Subclasses implement ``_create_slots``, ``_prepare``, ``_apply_dense`` (ref variables),
    ``_resource_apply_dense`` (resource variables) and optionally ``_finish``.

    Example:
        >>> opt = tf.train.AdamOptimizer(1e-3)
        >>> grads_and_vars = opt.compute_gradients(loss)
        >>> train_op = opt.apply_gradients(grads_and_vars)
    """

    GATE_NONE = 0
    GATE_OP = 1
    GATE_GRAPH = 2

    def __init__(self, use_locking, name):
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        self._slots = {}
        self._non_slot_dict = {}

    def get_name(self):
        return self._name

    # -- gradients ------------------------------------------------------------------------------
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None, grad_loss=None):
        """``compute_gradients`` then ``apply_gradients``: the training op.

        Example:
            >>> train_op = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
        """
        grads_and_vars = self.compute_gradients(
            loss, var_list=var_list, gate_gradients=gate_gradients, aggregation_method=aggregation_method,
            colocate_gradients_with_ops=colocate_gradients_with_ops, grad_loss=grad_loss)
        vars_with_grad = [v for g, v in grads_and_vars if g is not None]
        if not vars_with_grad:
            raise ValueError(f"No gradients provided for any variable, check your graph for ops that do "
                             f"not support gradients, between variables {[str(v) for _, v in grads_and_vars]} "
                             f"and loss {loss}.")
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None):
        """A list of (gradient, variable) pairs; the gradient is None for variables the loss does not
        depend on. ``var_list`` defaults to the TRAINABLE_VARIABLES collection."""
        if callable(loss):
            raise TypeError("compute_gradients takes a loss Tensor in graph mode, not a callable")
        if gate_gradients not in (Optimizer.GATE_NONE, Optimizer.GATE_OP, Optimizer.GATE_GRAPH):
            raise ValueError(f"gate_gradients must be one of: Optimizer.GATE_NONE, Optimizer.GATE_OP, "
                             f"Optimizer.GATE_GRAPH.  Not {gate_gradients}")
        self._assert_valid_dtypes([loss])
        if grad_loss is not None:
            self._assert_valid_dtypes([grad_loss])
        if var_list is None:
            var_list = (variables.trainable_variables()
                        + ops.get_collection(ops.GraphKeys.TRAINABLE_RESOURCE_VARIABLES))
        else:
            var_list = list(_flatten(var_list))
        if not var_list:
            raise ValueError("No variables to optimize.")
        processors = [_get_processor(v) for v in var_list]
        var_refs = [p.target() for p in processors]
        grads = gradients_impl.gradients(
            loss, var_refs, grad_ys=grad_loss, gate_gradients=(gate_gradients == Optimizer.GATE_OP),
            aggregation_method=aggregation_method, colocate_gradients_with_ops=colocate_gradients_with_ops)
        if gate_gradients == Optimizer.GATE_GRAPH:
            grads = core_ops.tuple_(grads)
        grads_and_vars = list(zip(grads, var_list))
        self._assert_valid_dtypes([v for g, v in grads_and_vars
                                   if g is not None and v.dtype != dtypes.resource])
        return grads_and_vars

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """Applies the gradients; with ``global_step``, increments it after all updates ran.

        Returns the training Operation (also added to the ``train_op`` collection, as TF does).
        """
        grads_and_vars = tuple(grads_and_vars)
        if not grads_and_vars:
            raise ValueError("No variables provided.")
        converted = []
        for g, v in grads_and_vars:
            if g is not None:
                try:
                    g = convert_to_tensor(g)
                except (TypeError, ValueError):
                    raise TypeError(f"Gradient must be convertible to a Tensor or None: {g}") from None
            converted.append((g, v, _get_processor(v)))
        var_list = [v for g, v, _ in converted if g is not None]
        if not var_list:
            raise ValueError(f"No gradients provided for any variable: {[str(v) for _, v, _ in converted]}.")
        g_ = ops.get_default_graph()
        with g_.control_dependencies(None):  # TF's init_scope: slots ignore outer control deps
            self._create_slots(var_list)
        update_ops = []
        with ops.name_scope(name, self._name) as name:
            self._prepare()
            for grad, var, processor in converted:
                if grad is None:
                    continue
                with ops.name_scope("update_" + var.op.name), ops.colocate_with(var.op):
                    update_ops.append(processor.update_op(self, grad))
            if global_step is None:
                apply_updates = self._finish(update_ops, name)
            else:
                with ops.control_dependencies([self._finish(update_ops, "update")]):
                    with ops.colocate_with(global_step.op):
                        if _is_resource_variable(global_step):
                            one = convert_to_tensor(1, dtype=global_step.dtype.base_dtype)
                            apply_updates = apply_op("AssignAddVariableOp", resource=global_step.handle,
                                                     value=one, name=name)
                        else:
                            apply_updates = state_ops.assign_add(global_step, 1, name=name)
            if isinstance(apply_updates, ops.Tensor):
                apply_updates = apply_updates.op
            train_op = ops.get_collection_ref(ops.GraphKeys.TRAIN_OP)
            if apply_updates not in train_op:
                train_op.append(apply_updates)
            return apply_updates

    # -- slots ------------------------------------------------------------------------------------
    def get_slot(self, var, name):
        """The slot variable ``name`` created for ``var`` (None if there is none)."""
        named_slots = self._slots.get(name)
        if not named_slots:
            return None
        return named_slots.get(_var_key(var))

    def get_slot_names(self):
        """The sorted names of the slots this optimizer creates (e.g. ``['m', 'v']`` for Adam)."""
        return sorted(self._slots)

    def variables(self):
        """Slot and non-slot variables of this optimizer in the default graph, sorted by name."""
        graph = ops.get_default_graph()
        result = [v for (_, g), v in self._non_slot_dict.items() if g is graph]
        for slots in self._slots.values():
            result.extend(v for v in slots.values() if v.op.graph is graph)
        return sorted(result, key=lambda v: v.name)

    def _slot_dict(self, slot_name):
        return self._slots.setdefault(slot_name, {})

    def _zeros_slot(self, var, slot_name, op_name):
        named_slots = self._slot_dict(slot_name)
        if _var_key(var) not in named_slots:
            named_slots[_var_key(var)] = create_zeros_slot(var, op_name)
        return named_slots[_var_key(var)]

    def _get_or_make_slot_with_initializer(self, var, initializer, shape, dtype, slot_name, op_name):
        named_slots = self._slot_dict(slot_name)
        if _var_key(var) not in named_slots:
            named_slots[_var_key(var)] = create_slot_with_initializer(var, initializer, shape, dtype, op_name)
        return named_slots[_var_key(var)]

    def _create_non_slot_variable(self, initial_value, name, colocate_with):
        graph = colocate_with.op.graph
        key = (name, graph)
        v = self._non_slot_dict.get(key)
        if v is None:
            with ops.colocate_with(colocate_with.op):
                v = variables.Variable(initial_value, name=name, trainable=False,
                                       use_resource=_is_resource_variable(colocate_with))
            self._non_slot_dict[key] = v
        return v

    def _get_non_slot_variable(self, name, graph=None):
        return self._non_slot_dict.get((name, graph or ops.get_default_graph()))

    # -- hooks for subclasses ---------------------------------------------------------------------------
    def _create_slots(self, var_list):
        pass

    def _prepare(self):
        pass

    def _apply_dense(self, grad, var):
        raise NotImplementedError(f"{type(self).__name__} does not update ref variables")

    def _resource_apply_dense(self, grad, handle):
        raise NotImplementedError(f"{type(self).__name__} does not update resource variables")

    def _finish(self, update_ops, name_scope):
        return core_ops.group(*update_ops, name=name_scope)

    def _valid_dtypes(self):
        return {dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64}

    def _assert_valid_dtypes(self, tensors):
        valid = self._valid_dtypes()
        for t in tensors:
            dtype = t.dtype.base_dtype
            if dtype not in valid:
                raise ValueError(f"Invalid type {dtype.name} for {t.name}, expected: "
                                 f"{sorted(v.name for v in valid)}.")

    @staticmethod
    def _call_if_callable(param):
        return param() if callable(param) else param

    @staticmethod
    def _cast(value, dtype):
        return grad_util.cast(convert_to_tensor(value), dtype)


def _flatten(items):
    for x in items:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x
