"""Gradients of the v1 control-flow ops (TensorFlow's control_flow_grad.py) and of the TensorArray ops
(tensor_array_grad.py).

A ``cond`` differentiates without extra machinery: the gradient of a Merge is a Switch of the
incoming gradient on the cond's predicate, the gradient of a Switch is a Merge of the gradients of
its two outputs — the executor's dead-tensor rules then run only the taken branch backwards, as
in TensorFlow. TensorArrays differentiate through gradient TensorArrays (``TensorArrayGradV3``)
keyed by the ``gradients`` scope.

A ``while_loop`` differentiates into a backward while loop: the gradient loop state
(:mod:`gpugraph.ops.control_flow_state`) counts the forward iterations, the Exit gradient enters the
backward loop, Switch and Merge gradients swap roles (the backward Merge of a loop switch gets its
NextIteration back edge on the Switch's second visit), a loop invariant's gradient is summed over the
iterations (``b_acc``), and forward values the backward loop needs come from stacks. ``gradients()``
must create that state for the loop exits it crosses; without it an Exit's gradient raises a clear
error.

Example:
    >>> y = tf.cond(p, lambda: x * 3.0, lambda: x * x)
    >>> (dx,) = tf.gradients(y, [x])          # runs only the taken branch's gradient
"""

from gpugraph.framework import dtypes
from gpugraph.ops import control_flow_context as cfc
from gpugraph.ops import control_flow_ops as cfo
from gpugraph.ops.gradients_impl import RegisterGradient, not_differentiable
from gpugraph.ops.while_context import WhileContext, add_next_and_back_edge


def _grad_context():
    from gpugraph.framework import ops
    return cfc.get_control_flow_context(ops.get_default_graph())


def _no_loop_state(op):
    return LookupError(
        f"Gradients through the v1 while loop of '{op.name}' ({op.type}) need the gradient loop state "
        f"(gpugraph.ops.control_flow_state), which this gradients() call did not set up: gradients() must "
        f"create it for the loop exits between ys and xs (see control_flow_state.maybe_create_control_flow_state)")


def _switch_grad(op, *grad):
    op_ctxt = cfc.op_context(op)
    grad_ctxt = _grad_context()
    if isinstance(op_ctxt, WhileContext):
        grad_state = grad_ctxt.grad_state if grad_ctxt is not None else None
        if grad_state is None:
            raise _no_loop_state(op)
        # A loop switch is visited twice: the first visit (from the Exit) makes the backward Merge,
        # the second (from the NextIteration) adds its back edge.
        merge_grad = grad_state.switch_map.get(op)
        if merge_grad is not None:
            if grad[1] is not None:
                add_next_and_back_edge(merge_grad, grad[1], enforce_shape_invariant=False)
            return None, None
        if grad[0] is not None:
            merge_grad = cfo.merge([grad[0], grad[0]], name="b_switch")[0]
            grad_state.switch_map[op] = merge_grad
            return merge_grad, None
        return None, None
    if isinstance(op_ctxt, cfc.CondContext):
        zero_grad = grad[1 - op_ctxt.branch]
        if zero_grad is None:
            # Only the branch's own output got a gradient (e.g. a resource handle).
            if op.inputs[0].dtype.base_dtype == dtypes.resource:
                return cfo.merge([grad[op_ctxt.branch]] * 2, name="cond_resource_grad")[0], None
            return None, None
        return cfo.merge(list(grad), name="cond_grad")[0], None
    # A Switch without a context (e.g. from an imported GraphDef).
    false_grad = cfo.switch(grad[0], op.inputs[1])[0]
    true_grad = cfo.switch(grad[1], op.inputs[1])[1]
    return cfo.merge([false_grad, true_grad])[0], None


def _merge_grad(op, grad, _):
    op_ctxt = cfc.GetOutputContext(op.inputs[0].op)
    grad_ctxt = _grad_context()
    if isinstance(op_ctxt, WhileContext):
        if grad_ctxt is None or grad_ctxt.grad_state is None:
            raise _no_loop_state(op)
        return cfo.switch_ref_or_tensor(grad, grad_ctxt.pivot)
    if isinstance(op_ctxt, cfc.CondContext):
        pred = op_ctxt.pred
        if grad_ctxt is not None and grad_ctxt.grad_state is not None:
            # A cond inside a loop: the backward switch needs the predicate of each iteration.
            grad_state = grad_ctxt.grad_state
            real_pred = grad_state.history_map.get(pred.name)
            if real_pred is None:
                grad_ctxt = grad_state.grad_context
                grad_ctxt.Exit()
                history_pred = grad_state.AddForwardAccumulator(pred)
                grad_ctxt.Enter()
                real_pred = grad_state.AddBackpropAccumulatedValue(history_pred, pred)
                grad_state.history_map[pred.name] = real_pred
            pred = real_pred
        elif op_ctxt.GetWhileContext() is not None:
            raise _no_loop_state(op)
        return cfo.switch_ref_or_tensor(grad, pred, name="cond_grad")
    from gpugraph.ops.math_ops import equal
    num_inputs = len(op.inputs)
    cond = [equal(op.outputs[1], i) for i in range(num_inputs)]
    return [cfo.switch_ref_or_tensor(grad, cond[i])[1] for i in range(num_inputs)]


def _exit_grad(op, grad):
    grad_ctxt = _grad_context()
    if grad_ctxt is None or grad_ctxt.grad_state is None:
        raise _no_loop_state(op)
    if not grad_ctxt.back_prop:
        return None  # a loop built with back_prop=False stops backprop
    op_ctxt = cfc.op_context(op)
    if op_ctxt is not None and op_ctxt.grad_state is not None:
        raise TypeError("Second-order gradient for while loops not supported.")
    grad_ctxt.AddName(grad.name)
    grad_ctxt.Enter()
    try:
        result = cfo.enter(grad, grad_ctxt.name, is_constant=False,
                           parallel_iterations=grad_ctxt.parallel_iterations, name="b_exit")
    finally:
        grad_ctxt.Exit()
    grad_ctxt.loop_enters.append(result)
    return result


def _next_iteration_grad(_, grad):
    return grad  # the backward NextIteration is added by the Switch gradient


def _enter_grad(op, grad):
    grad_ctxt = _grad_context()
    if grad_ctxt is None or not grad_ctxt.back_prop or grad_ctxt.grad_state is None:
        return grad  # not in a gradient loop: pass the gradient through
    if op.get_attr("is_constant"):
        return grad_ctxt.AddBackpropAccumulator(op, grad)  # a loop invariant: sum over iterations
    result = cfo.exit(grad)
    grad_ctxt.loop_exits.append(result)
    grad_ctxt.ExitResult([result])
    return result


for _t in ("Switch", "RefSwitch"):
    RegisterGradient(_t)(_switch_grad)
for _t in ("Merge", "RefMerge"):
    RegisterGradient(_t)(_merge_grad)
for _t in ("Exit", "RefExit"):
    RegisterGradient(_t)(_exit_grad)
for _t in ("NextIteration", "RefNextIteration"):
    RegisterGradient(_t)(_next_iteration_grad)
for _t in ("Enter", "RefEnter"):
    RegisterGradient(_t)(_enter_grad)
RegisterGradient("LoopCond")(lambda op, grad: None)  # the predicate stops backprop
not_differentiable("ControlTrigger", "Assert")


# -- TensorArrays ----------------------------------------------------------------------------------------
not_differentiable("TensorArrayV3", "TensorArrayGradV3", "TensorArraySizeV3", "TensorArrayCloseV3")


def _grad_source(op_or_tensor):
    """The ``gradients`` scope a gradient tensor was made in: gradient arrays are keyed by it."""
    tokens = op_or_tensor.name.split("/")
    positions = [i for i, x in enumerate(tokens) if x.startswith("gradients")]
    if not positions:
        raise ValueError(f"Expected op/tensor name to start with gradients (excluding scope), got: "
                         f"{op_or_tensor.name}. This means that a tf.gradients op with this op in its dependency "
                         f"path has a custom name that does not start with 'gradients'. Please make sure all "
                         f"calls to tf.gradients that have non-empty `name` arguments use names that start "
                         f"with 'gradients'.")
    return "/".join(tokens[:positions[-1] + 1])


def _grad_array(op, dtype, handle, flow, source):
    from gpugraph.ops.tensor_array_ops import TensorArray
    return TensorArray(dtype=dtype, handle=handle, flow=flow, colocate_with_first_write_call=False) \
        .grad(source=source, flow=flow)


def _write_barrier(op, flow):
    from gpugraph.framework import ops
    from gpugraph.framework.op_builder import apply_op
    flow_out = apply_op("Identity", input=op.outputs[0], name="flow_out")
    with ops.control_dependencies([flow_out]):
        return apply_op("Identity", input=flow, name="write_barrier")


@RegisterGradient("TensorArrayReadV3")
def _tensor_array_read_grad(op, grad):
    handle, index, flow = op.inputs
    g = _grad_array(op, op.get_attr("dtype"), handle, flow, _grad_source(grad))
    return [None, None, g.write(index, grad).flow]


@RegisterGradient("TensorArrayWriteV3")
def _tensor_array_write_grad(op, flow):
    handle, index = op.inputs[0], op.inputs[1]
    source = _grad_source(flow)
    flow = _write_barrier(op, flow)
    g = _grad_array(op, op.get_attr("T"), handle, flow, source)
    return [None, None, g.read(index), flow]


@RegisterGradient("TensorArrayGatherV3")
def _tensor_array_gather_grad(op, grad):
    handle, indices, flow = op.inputs
    g = _grad_array(op, op.get_attr("dtype"), handle, flow, _grad_source(grad))
    return [None, None, g.scatter(indices, grad).flow]


@RegisterGradient("TensorArrayScatterV3")
def _tensor_array_scatter_grad(op, flow):
    handle, indices = op.inputs[0], op.inputs[1]
    source = _grad_source(flow)
    flow = _write_barrier(op, flow)
    g = _grad_array(op, op.get_attr("T"), handle, flow, source)
    return [None, None, g.gather(indices), flow]


@RegisterGradient("TensorArrayConcatV3")
def _tensor_array_concat_grad(op, grad, unused_lengths_grad):
    handle, flow = op.inputs
    g = _grad_array(op, op.get_attr("dtype"), handle, flow, _grad_source(grad))
    return [None, g.split(grad, lengths=op.outputs[1]).flow]


@RegisterGradient("TensorArraySplitV3")
def _tensor_array_split_grad(op, flow):
    handle = op.inputs[0]
    source = _grad_source(flow)
    flow = _write_barrier(op, flow)
    g = _grad_array(op, op.get_attr("T"), handle, flow, source)
    return [None, g.concat(), None, flow]


def zeros_like_outside_loop(op, index):
    """TensorFlow's ZerosLikeOutsideLoop: zeros for output ``index`` of ``op`` that nobody
    backpropagated into. For a cond's Switch the zeros are built on the other branch (a Switch of
    the input on the predicate, an Identity pivot, Shape and zeros) so they exist only when that
    branch runs; for anything else, ``ZerosLike``."""
    from gpugraph.framework import ops
    from gpugraph.framework.op_builder import apply_op, constant
    val = op.outputs[index]
    op_ctxt = cfc.op_context(op)
    if not cfc.IsSwitch(op) or not isinstance(op_ctxt, cfc.CondContext):
        return apply_op("ZerosLike", x=val, name="zeros_like")
    switch_val = cfo.switch(op.inputs[0], op_ctxt.pred)[1 - op_ctxt.branch]
    pivot = apply_op("Identity", input=switch_val)
    zeros_shape = apply_op("Shape", input=switch_val, out_type=dtypes.int32)
    with ops.control_dependencies([pivot]):
        with ops.name_scope("zeros") as scope:
            zero = constant(0, dtype=val.dtype.base_dtype, name="Const")
            return apply_op("Fill", dims=zeros_shape, value=zero, name=scope)
