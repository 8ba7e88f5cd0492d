"""Symbolic differentiation: ``tf.compat.v1.gradients`` building the backward graph in TF1's layout.

The algorithm is TensorFlow's ``_GradientsHelper``: mark the ops reachable forward from ``xs``
through differentiable (floating, complex, resource) tensors, keep those that also reach ``ys``,
count for each op how many of its consumers still have to send a gradient, then walk backwards
from ``ys`` calling each op's registered gradient function once all its output gradients are in.
Several gradients arriving at one tensor are summed with AddN; an op's unused float outputs get
``zeros_like``; ``xs`` not connected to ``ys`` get None. Node names follow TensorFlow:
``gradients/<op name>_grad/...``, ``gradients/AddN``, ``gradients/grad_ys_0``; with
``gate_gradients`` each op's input gradients pass through ``<op>_grad/tuple/control_dependency``.

Gradient functions are registered per op type with :class:`RegisterGradient`
(``grad(op, *output_grads) -> one gradient per input, None where there is none``);
:func:`NotDifferentiable` declares an op that has no gradient. ``Graph.gradient_override_map``
maps op types to other gradient names through the ``_gradient_op_type`` attr, as in TensorFlow.

Example:
    >>> x = tf.placeholder(tf.float32, [3])
    >>> y = tf.reduce_sum(x * 2.0)
    >>> (dx,) = tf.gradients(y, [x])
    >>> dx.op.name
    'gradients/mul_grad/Mul'
"""

import collections
import enum

from gpugraph.framework import dtypes, ops, registry
from gpugraph.framework.op_builder import constant, convert_to_tensor
from gpugraph.ops import control_flow_context, control_flow_state, grad_util

# op type (or override name) -> gradient function; None marks a non-differentiable op.
_GRADIENTS = {}

_TRAINABLE = frozenset([dtypes.float16, dtypes.float32, dtypes.float64, dtypes.bfloat16,
                        dtypes.complex64, dtypes.complex128, dtypes.resource, dtypes.variant])


class RegisterGradient:
    """Decorator registering a gradient function for an op type (or an override name).

    Example:
        >>> @tf.RegisterGradient("MySquare")
        ... def _my_square_grad(op, grad):
        ...     return grad * 2.0 * op.inputs[0]
    """

    def __init__(self, op_type):
        if not isinstance(op_type, str):
            raise TypeError(f"op_type must be a string, got {op_type!r}")
        self._op_type = op_type

    def __call__(self, fn):
        register_gradient_function(self._op_type, fn)
        return fn


def register_gradient_function(op_type, fn):
    """Registers ``fn`` as the gradient of ``op_type``; KeyError when one is registered already."""
    if op_type in _GRADIENTS:
        raise KeyError(f"Registering two gradient with name '{op_type}'!")
    _GRADIENTS[op_type] = fn
    spec = registry.lookup(op_type)
    if spec is not None and fn is not None:
        spec.grad = fn


def NotDifferentiable(op_type):  # noqa: N802 - TensorFlow's name
    """Declares that ops of type ``op_type`` have no gradient (backprop stops there, silently).

    Example:
        >>> tf.NotDifferentiable("MyLookup")
    """
    if not isinstance(op_type, str):
        raise TypeError(f"op_type must be a string, got {op_type!r}")
    register_gradient_function(op_type, None)


no_gradient = NotDifferentiable


def not_differentiable(*op_types):
    """NotDifferentiable for each of ``op_types`` not registered yet (the gradient modules list TF's
    non-differentiable ops; some may not be implemented here, which is harmless)."""
    for t in op_types:
        if t not in _GRADIENTS:
            NotDifferentiable(t)


def get_gradient_function(op):
    """The gradient function of ``op`` (None for no-input or non-differentiable ops).

    Raises LookupError when the op type has no gradient registered, like TensorFlow.
    """
    if not op.inputs:
        return None
    try:
        op_type = op.get_attr("_gradient_op_type")
        op_type = op_type.decode() if isinstance(op_type, bytes) else op_type
    except ValueError:
        op_type = op.type
    if op_type in _GRADIENTS:
        return _GRADIENTS[op_type]
    spec = registry.lookup(op_type)
    if spec is not None and spec.grad is not None:
        return spec.grad
    raise LookupError(
        f"No gradient defined for operation '{op.name}' (op type: {op_type}). In general every "
        "operation must have an associated gradient for correct autodiff; if you want to treat this "
        "operation as a constant, wrap its output in tf.stop_gradient.")


class AggregationMethod:
    """How gradients arriving at one tensor are summed (``tf.AggregationMethod``)."""
    ADD_N = 0
    DEFAULT = ADD_N
    EXPERIMENTAL_TREE = 1
    EXPERIMENTAL_ACCUMULATE_N = 2


class UnconnectedGradients(enum.Enum):
    """What ``gradients`` returns for an ``x`` that ``ys`` do not depend on."""
    NONE = "none"
    ZERO = "zero"


def _is_trainable(t):
    return t.dtype.base_dtype in _TRAINABLE


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_resource_variable(x):
    handle = getattr(x, "handle", None)
    return isinstance(handle, ops.Tensor) and handle.dtype == dtypes.resource and not isinstance(x, ops.Tensor)


def _maybe_colocate_with(op, colocate):
    if colocate:
        return op.graph.colocate_with(op)
    return _NullContext()


class _NullContext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# -- graph analysis ---------------------------------------------------------------------------------
def _pending_count(to_ops, from_ops, colocate_gradients_with_ops=False):
    """(to_ops reachable from from_ops, per-op count of backprop inputs, the loop state: a
    ControlFlowState when the ops in between cross while-loop exits, else None)."""
    reached = set()
    queue = collections.deque(from_ops)
    while queue:
        op = queue.popleft()
        if op not in reached:
            reached.add(op)
            for t in op.outputs:
                if _is_trainable(t):
                    queue.extend(t.consumers())
    reachable_to_ops = {op for op in to_ops if op in reached}
    between, between_list = set(), []
    queue = collections.deque(to_ops)
    while queue:
        op = queue.popleft()
        if op in reached:
            between.add(op)
            between_list.append(op)
            reached.remove(op)
            queue.extend(t.op for t in op.inputs)
    # v1 while loops: a gradient loop state per loop, and all of a loop's exits count as between.
    loop_state = control_flow_state.maybe_create_control_flow_state(between_list, between,
                                                                    colocate_gradients_with_ops)
    pending = collections.defaultdict(int)
    for op in between_list:
        for t in op.inputs:
            if t.op in between:
                pending[t.op] += 1
    return reachable_to_ops, pending, loop_state


def _stop_ops(from_ops, stop_gradient_ops, pending):
    stop = {op for op in from_ops if all(pending[t.op] <= 0 for t in op.inputs)}
    stop.update(stop_gradient_ops)
    return stop


# -- default and given grad_ys ------------------------------------------------------------------
def _default_grad_ys(grad_ys, ys, colocate):
    if len(grad_ys) != len(ys):
        raise ValueError(f"Length mismatch. Passed {len(grad_ys)} grad_ys for {len(ys)} ys")
    result = []
    for i, (y, grad_y) in enumerate(zip(ys, grad_ys)):
        with _maybe_colocate_with(y.op, colocate):
            if grad_y is None:
                if y.dtype.is_complex:
                    raise TypeError(f"Gradients of complex tensors ({y}) must set grad_ys "
                                    f"(y.dtype = {y.dtype.name})")
                shape = grad_util.shape(y)
                with ops.name_scope(f"grad_ys_{i}") as scope:
                    one = constant(1, dtype=y.dtype.base_dtype, name="Const")
                    result.append(grad_util.op("Fill", dims=shape, value=one, name=scope))
                continue
            grad_y = convert_to_tensor(grad_y, name=f"grad_y_{i}")
            yd, gd = y.dtype.base_dtype, grad_y.dtype.base_dtype
            if yd.is_floating or yd.is_integer:
                if not (gd.is_floating or gd.is_integer):
                    raise TypeError(f"Gradient type {gd.name} generated for real or integer-valued "
                                    f"tensor {y} with type {yd.name} must be real or integer")
            elif yd.is_complex:
                if not gd.is_complex:
                    raise TypeError(f"Gradient type {gd.name} generated for complex-valued tensor "
                                    f"{y} with type {yd.name} must be complex")
            elif yd == dtypes.resource:
                if gd == dtypes.resource:
                    raise TypeError(f"Input gradient {grad_y} for resource tensor {y} should not be a resource")
            else:
                raise TypeError(f"Tensor {y} with type {yd.name} must be numeric to obtain a default gradient")
            result.append(grad_util.op("Identity", input=grad_y, name=f"grad_ys_{i}"))
    return result


# -- gradient bookkeeping -----------------------------------------------------------------------------
def _set_grad(grads, t, grad):
    op_grads = grads.get(t.op)
    if op_grads is None:
        op_grads = [[] for _ in t.op.outputs]
        grads[t.op] = op_grads
    t_grads = op_grads[t.value_index]
    if isinstance(t_grads, list):
        t_grads.append(grad)
    else:  # a loop Switch visited a second time: its aggregated gradient is replaced
        op_grads[t.value_index] = grad


def _get_grads(grads, op):
    return grads.get(op) or [[] for _ in op.outputs]


def _multi_device_add_n(tensors):
    """TF's _MultiDeviceAddN: sum per device (colocated with the first summand), then overall."""
    by_device = collections.defaultdict(list)
    for t in tensors:
        by_device[t.device].append(t)
    summands = []
    g = tensors[0].graph
    for dev in sorted(by_device):
        group = by_device[dev]
        with g.colocate_with(group[0].op, ignore_existing=True):
            summands.append(_add_n(group))
    return _add_n(summands)


def _add_n(tensors, name="AddN"):
    if len(tensors) == 1:
        return tensors[0]
    return grad_util.op("AddN", inputs=list(tensors), name=name)


def _aggregated_grads(grads, op, aggregation_method):
    """Sums the gradients each output of ``op`` received; stores and returns one per output
    (None where none arrived). Runs once per op, when the op is taken from the queue."""
    if aggregation_method is None:
        aggregation_method = AggregationMethod.DEFAULT
    valid = (AggregationMethod.ADD_N, AggregationMethod.EXPERIMENTAL_TREE,
             AggregationMethod.EXPERIMENTAL_ACCUMULATE_N)
    if aggregation_method not in valid:
        raise ValueError(f"Invalid `aggregation_method` specified {aggregation_method}. Accepted "
                         f"values are {list(valid)}.")
    out_grads = _get_grads(grads, op)
    for i, out_grad in enumerate(out_grads):
        if not isinstance(out_grad, list):
            continue  # already aggregated
        out_grad = [g for g in out_grad if g is not None]
        if not out_grad:
            out_grads[i] = None
        elif len(out_grad) == 1:
            out_grads[i] = out_grad[0]
        elif aggregation_method == AggregationMethod.ADD_N:
            out_grads[i] = _multi_device_add_n(out_grad)
        else:
            with ops.name_scope(op.name + "_gradient_sum"):
                running = out_grad[0]
                for g in out_grad[1:]:
                    running = _add_n([running, g])
            out_grads[i] = running
    if op in grads:
        grads[op] = out_grads
    return list(out_grads)


def _zeros_for_output(op, i, loop_state=None):
    """TF's control_flow_state.ZerosLike for an output nobody backpropagated into (inside a loop
    being differentiated: the loop state's zeros; for a cond's Switch: zeros on its other branch)."""
    t = op.outputs[i]
    if t.dtype.base_dtype == dtypes.resource:
        return None
    if loop_state is not None:
        return loop_state.ZerosLikeV1WhileLoop(op, i)
    if op.type in ("Switch", "RefSwitch"):
        from gpugraph.ops import control_flow_grad
        return control_flow_grad.zeros_like_outside_loop(op, i)
    return grad_util.op("ZerosLike", x=t, name="zeros_like")


def _has_any_not_none_grads(grads, op):
    for out_grad in _get_grads(grads, op):
        if isinstance(out_grad, ops.Tensor):
            return True
        if isinstance(out_grad, list) and any(g is not None for g in out_grad):
            return True
    return False


def _update_pending_and_enqueue_ready(grads, op, queue, pending, loop_state):
    """TF's _UpdatePendingAndEnqueueReady: an input op is ready when all its consumers sent their
    gradients; a loop Switch is ready at each visit; a loop's exits wait for each other."""
    for t in op.inputs:
        x_op = t.op
        pending[x_op] -= 1
        ready = pending[x_op] == 0
        if loop_state is not None and not ready:
            ready = pending[x_op] > 0 and control_flow_context.IsLoopSwitch(x_op)
        if not ready:
            continue
        if loop_state is None or not control_flow_context.IsLoopExit(x_op):
            queue.append(x_op)
            continue
        grad_state = loop_state.GetGradState(x_op, before=False)
        grad_state.deferred_exits.append(t)
        grad_state.pending_exits_count -= 1
        if grad_state.pending_exits_count == 0:
            has_not_none_grad = False
            for y in grad_state.deferred_exits:
                if _has_any_not_none_grads(grads, y.op):
                    has_not_none_grad = True
                    queue.append(y.op)
                else:
                    grad_state.unused_exits.append(y)
            for y in grad_state.unused_exits:
                if has_not_none_grad and _is_trainable(y):
                    _set_grad(grads, y, loop_state.ZerosLikeForExit(y))
                queue.append(y.op)


def _tuple(tensors):
    """``control_flow_ops.tuple``: every tensor available only once all of them are computed."""
    g = ops.get_default_graph()
    with ops.name_scope("tuple"):
        gating = sorted({t.op for t in tensors if t is not None}, key=lambda o: o._id)
        with g.control_dependencies(gating):
            gate = grad_util.op("NoOp", name="group_deps")
        out = []
        for t in tensors:
            if t is None:
                out.append(None)
                continue
            with ops.name_scope("control_dependency") as scope:
                with g.colocate_with(t.op), g.control_dependencies([gate]):
                    out.append(grad_util.op("Identity", input=t, name=scope))
        return out


def _verify_generated_gradients(in_grads, op):
    if len(in_grads) != len(op.inputs):
        raise ValueError(f"Num gradients {len(in_grads)} generated for op {op.name} ({op.type}) do not "
                         f"match num inputs {len(op.inputs)}")


def _zeros_like_x(t):
    if t.dtype.base_dtype == dtypes.resource:
        producer = t.op
        if producer.type == "VarHandleOp" and producer.get_attr("shape").is_fully_defined():
            dtype = producer.get_attr("dtype")
            return grad_util.op("Fill", dims=producer.get_attr("shape").as_list(),
                                value=constant(0, dtype=dtype), name="zeros")
        raise ValueError(f"cannot make a zero gradient for the resource {t.name} of unknown shape")
    return grad_util.zeros_like(t)


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None,
              unconnected_gradients=UnconnectedGradients.NONE):
    """``tf.compat.v1.gradients``: symbolic partial derivatives of ``sum(ys)`` w.r.t. each of ``xs``.

    ``grad_ys`` (one per y) weights the ys (default all ones); ``stop_gradients`` are tensors held
    constant; integer tensors and ``xs`` that ``ys`` do not depend on get None (or zeros with
    ``unconnected_gradients='zero'``). Variables are differentiated through their ref tensor (ref
    variables) or handle (resource variables), as TensorFlow does.

    Example:
        >>> w = tf.Variable([[1.0], [2.0]])
        >>> loss = tf.reduce_sum(tf.matmul(x, w))
        >>> (dw,) = tf.gradients(loss, [w])
        >>> dw.op.name
        'gradients/MatMul_grad/MatMul_1'
    """
    ys = _as_list(ys)
    xs = [x.handle if _is_resource_variable(x) else x for x in _as_list(xs)]
    stop_gradients = [] if stop_gradients is None else _as_list(stop_gradients)
    grad_ys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    try:
        unconnected_gradients = UnconnectedGradients(unconnected_gradients)
    except ValueError:
        raise ValueError(f"Unknown value for unconnected_gradients: '{unconnected_gradients}'") from None
    values = [v for v in ys + xs + stop_gradients + grad_ys if isinstance(v, ops.Tensor)]
    with ops.name_scope(name, "gradients", values):
        g = ops.get_default_graph()
        g.unique_name("uid")  # TF reserves a uid name per call (used to cluster XLA gradients)
        ys = [convert_to_tensor(y, name="y") for y in ys]
        xs = [convert_to_tensor(x, name="x", as_ref=True) for x in xs]
        stop_gradients = [convert_to_tensor(t) for t in stop_gradients]
        grad_ys = _default_grad_ys(grad_ys, ys, colocate_gradients_with_ops)

        to_ops = [t.op for t in ys]
        from_ops = [t.op for t in xs]
        reachable_to_ops, pending, loop_state = _pending_count(to_ops, from_ops, colocate_gradients_with_ops)

        grads = {}
        for y, grad_y in zip(ys, grad_ys):
            _set_grad(grads, y, grad_y)
        queue = collections.deque()
        queued = set()
        for op in to_ops:
            if pending[op] == 0 and op not in queued and op in reachable_to_ops:
                queued.add(op)
                queue.append(op)
        if loop_state is not None:
            for y in loop_state.ProcessUnusedLoopExits(pending, queued):
                if _is_trainable(y):
                    _set_grad(grads, y, loop_state.ZerosLikeForExit(y))
                    queue.append(y.op)
        stop_ops = _stop_ops(from_ops, [t.op for t in stop_gradients], pending)

        while queue:
            op = queue.popleft()
            with _maybe_colocate_with(op, colocate_gradients_with_ops):
                if loop_state is not None:
                    loop_state.EnterGradWhileContext(op, before=True)
                out_grads = _aggregated_grads(grads, op, aggregation_method)
                if loop_state is not None:
                    loop_state.ExitGradWhileContext(op, before=True)
                grad_fn = None
                has_out_grads = any(gr is not None for gr in out_grads)
                if has_out_grads and op not in stop_ops:
                    grad_fn = get_gradient_function(op)
                if loop_state is not None:
                    loop_state.EnterGradWhileContext(op, before=False)
                if grad_fn is not None and has_out_grads:
                    for i, out_grad in enumerate(out_grads):
                        if out_grad is None and _is_trainable(op.outputs[i]):
                            out_grads[i] = _zeros_for_output(op, i, loop_state)
                    with ops.name_scope(op.name + "_grad"):
                        in_grads = grad_fn(op, *out_grads)
                        in_grads = list(in_grads) if isinstance(in_grads, (list, tuple)) else [in_grads]
                        _verify_generated_gradients(in_grads, op)
                        if gate_gradients and sum(x is not None for x in in_grads) > 1:
                            with g.device(None), g.colocate_with(None):
                                in_grads = _tuple(in_grads)
                else:
                    in_grads = [None] * len(op.inputs)
                for i, (t_in, in_grad) in enumerate(zip(op.inputs, in_grads)):
                    if in_grad is None:
                        continue
                    if not isinstance(in_grad, ops.Tensor):
                        in_grad = convert_to_tensor(in_grad)
                    if t_in.dtype.base_dtype != dtypes.resource:
                        try:
                            in_grad.set_shape(t_in.shape)
                        except ValueError:
                            raise ValueError(
                                f"Incompatible shapes between op input and calculated input gradient. "
                                f"Forward operation: {op.name}. Input index: {i}. Original input shape: "
                                f"{t_in.shape}. Calculated input gradient shape: {in_grad.shape}") from None
                    _set_grad(grads, t_in, in_grad)
                if loop_state is not None:
                    loop_state.ExitGradWhileContext(op, before=False)
            _update_pending_and_enqueue_ready(grads, op, queue, pending, loop_state)
        if loop_state is not None:
            loop_state.PostProcessing()

        results = []
        for x in xs:
            grad = None
            if x.op in grads:
                grad = _aggregated_grads(grads, x.op, aggregation_method)[x.value_index]
            if grad is None and unconnected_gradients == UnconnectedGradients.ZERO:
                grad = _zeros_like_x(x)
            results.append(grad)
        return results


EXPORTS = {
    "": ["gradients", "RegisterGradient", "NotDifferentiable", "no_gradient", "AggregationMethod",
         "UnconnectedGradients"],
}
