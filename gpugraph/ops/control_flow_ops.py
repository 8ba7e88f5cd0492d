"""TensorFlow-1 control-flow ops: Switch, Merge, Enter, Exit, NextIteration, LoopCond, ControlTrigger
and their Ref variants (plus RefIdentity, which ref loop variables pass through) — declared exactly as TensorFlow's OpDefs — and thin builders for them.

These ops only make sense to the control-flow executor
(:mod:`gpugraph.runtime.control_flow_executor`), which a Session uses for any pruned graph that
contains one of them: a ``Switch`` forwards its data to one output and leaves the other *dead*
(the :data:`DEAD` marker), a ``Merge`` forwards the first live input it gets, ``Enter`` / ``Exit``
move values into and out of a loop frame and ``NextIteration`` into the frame's next iteration.
The kernels below are what the executor calls for live nodes; dead nodes never run.

``tf.while_loop`` / ``tf.cond`` (which build these ops in TensorFlow's layout) live in
:mod:`gpugraph.ops.control_flow_v1`.

Example:
    >>> x = tf.placeholder(tf.float32, [2], name="x")
    >>> f, t = switch(x, tf.constant(True))
    >>> y, index = merge([f * 2.0, t * 3.0])
    >>> tf.Session().run([y, index], {x: [1, 2]})                              # doctest: +SKIP
    [array([3., 6.], dtype=float32), 1]
"""

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op

TensorShape = tensor_shape.TensorShape

# Op types the control-flow executor gives special treatment (and that force its use).
SWITCH_OPS = frozenset({"Switch", "RefSwitch"})
MERGE_OPS = frozenset({"Merge", "RefMerge"})
ENTER_OPS = frozenset({"Enter", "RefEnter"})
EXIT_OPS = frozenset({"Exit", "RefExit"})
NEXT_ITERATION_OPS = frozenset({"NextIteration", "RefNextIteration"})
CONTROL_FLOW_OPS = SWITCH_OPS | MERGE_OPS | ENTER_OPS | EXIT_OPS | NEXT_ITERATION_OPS | \
    frozenset({"LoopCond", "ControlTrigger"})


class _Dead:
    """The value of an output that carries no tensor (the untaken output of a Switch)."""

    __slots__ = ()

    def __repr__(self):
        return "<dead>"

    def __reduce__(self):
        return "DEAD"


DEAD = _Dead()


# -- shape functions (TensorFlow's control_flow_ops.cc) -------------------------------------------
def _switch_shape(op):
    pred = op.inputs[1].shape
    if pred.ndims is not None and pred.ndims != 0:
        raise ValueError(f"Shape must be rank 0 but is rank {pred.ndims} for the predicate of "
                         f"'{op.name}' ({op.type}), shape {pred}")
    data = op.inputs[0].shape
    return [data, data]


def _merge_shape(op):
    """The first input's shape, with a dimension unknown where the inputs disagree (unknown rank
    where their ranks differ); ``value_index`` is a scalar."""
    out = op.inputs[0].shape
    if out.ndims is not None:
        dims = out.as_list()
        for t in op.inputs[1:]:
            s = t.shape
            if s.ndims is None or s.ndims != len(dims):
                dims = None
                break
            dims = [d if d == e else None for d, e in zip(dims, s.as_list())]
        out = TensorShape(dims)
    return [out, TensorShape([])]


def _enter_shape(op):
    # TF: unknown, except that a constant (loop-invariant) Enter keeps its input's shape.
    if op.get_attr("is_constant"):
        return [op.inputs[0].shape]
    return [TensorShape(None)]


def _loop_cond_shape(op):
    s = op.inputs[0].shape
    if s.ndims is not None and s.ndims != 0:
        raise ValueError(f"Shape must be rank 0 but is rank {s.ndims} for the input of "
                         f"'{op.name}' (LoopCond), shape {s}")
    return [TensorShape([])]


def _unchanged(op):
    return [op.inputs[0].shape]


# -- kernels: called for live nodes only --------------------------------------------------------
def _switch_kernel(ctx, data, pred):
    pred = np.asarray(pred)
    if pred.ndim != 0:
        raise ctx.error(f"The second input must be a scalar, but it has shape {list(pred.shape)}")
    return (DEAD, data) if bool(pred) else (data, DEAD)


def _merge_kernel(ctx, *inputs):
    # The executor passes the first live input that arrived and DEAD for the others.
    for i, value in enumerate(inputs):
        if value is not DEAD:
            return value, np.int32(i)
    raise ctx.error("Merge ran without a live input")


def _forward(ctx, data):
    return data


def _loop_cond_kernel(ctx, pred):
    pred = np.asarray(pred)
    if pred.ndim != 0:
        raise ctx.error(f"LoopCond's input must be a scalar boolean, but it has shape {list(pred.shape)}")
    return pred


def _control_trigger_kernel(ctx):
    return None


# -- registrations ------------------------------------------------------------------------------
register_op("Switch", inputs=["data: T", "pred: bool"], outputs=["output_false: T", "output_true: T"],
            attrs=["T: type"], shape=_switch_shape, cpu=_switch_kernel)
register_op("RefSwitch", inputs=["data: Ref(T)", "pred: bool"],
            outputs=["output_false: Ref(T)", "output_true: Ref(T)"], attrs=["T: type"],
            shape=_switch_shape, cpu=_switch_kernel, allows_uninitialized_input=True)
register_op("Merge", inputs=["inputs: N * T"], outputs=["output: T", "value_index: int32"],
            attrs=["T: type", "N: int >= 1"], shape=_merge_shape, cpu=_merge_kernel)
register_op("RefMerge", inputs=["inputs: Ref(N * T)"], outputs=["output: Ref(T)", "value_index: int32"],
            attrs=["T: type", "N: int >= 1"], shape=_merge_shape, cpu=_merge_kernel)
_ENTER_ATTRS = ["T: type", "frame_name: string", "is_constant: bool = false",
                "parallel_iterations: int = 10"]
register_op("Enter", inputs=["data: T"], outputs=["output: T"], attrs=_ENTER_ATTRS,
            shape=_enter_shape, cpu=_forward)
register_op("RefEnter", inputs=["data: Ref(T)"], outputs=["output: Ref(T)"], attrs=_ENTER_ATTRS,
            shape=_enter_shape, cpu=_forward)
register_op("Exit", inputs=["data: T"], outputs=["output: T"], attrs=["T: type"], shape=_unchanged,
            cpu=_forward)
register_op("RefExit", inputs=["data: Ref(T)"], outputs=["output: Ref(T)"], attrs=["T: type"],
            shape=_unchanged, cpu=_forward)
register_op("NextIteration", inputs=["data: T"], outputs=["output: T"], attrs=["T: type"],
            shape=_unchanged, cpu=_forward)
register_op("RefNextIteration", inputs=["data: Ref(T)"], outputs=["output: Ref(T)"], attrs=["T: type"],
            shape=_unchanged, cpu=_forward)
register_op("LoopCond", inputs=["input: bool"], outputs=["output: bool"], shape=_loop_cond_shape,
            cpu=_loop_cond_kernel)
register_op("ControlTrigger", shape=lambda op: [], cpu=_control_trigger_kernel)
# A loop variable that is a ref passes through RefIdentity (``while/Identity``) in TF's layout.
register_op("RefIdentity", inputs=["input: Ref(T)"], outputs=["output: Ref(T)"], attrs=["T: type"],
            shape=_unchanged, cpu=_forward, allows_uninitialized_input=True)


# -- builders (TensorFlow's control_flow_ops helpers) -------------------------------------------
def _as_tensor_or_ref(value, name=None):
    return convert_to_tensor(value, name=name, as_ref=True)


def _is_ref(t):
    return t.dtype._is_ref_dtype


def switch(data, pred, dtype=None, name=None):
    """Forwards ``data`` to ``output_true`` when ``pred`` is true, else to ``output_false``; the
    other output is dead. Returns ``(output_false, output_true)``.

    Example:
        >>> f, t = switch(tf.constant([1, 2]), tf.constant(False))          # f is live
    """
    with ops.name_scope(name, "Switch", [data, pred]) as scope:
        data = convert_to_tensor(data, dtype=dtype, name="data", as_ref=True)
        pred = convert_to_tensor(pred, name="pred")
        return tuple(apply_op("Switch", data=data, pred=pred, name=scope))


def ref_switch(data, pred, name=None):
    """``Switch`` for a ref tensor (a variable): both outputs are refs to the same variable."""
    return tuple(apply_op("RefSwitch", data=data, pred=pred, name=name))


def switch_ref_or_tensor(data, pred, name="Switch"):
    """TF's ``_SwitchRefOrTensor``: RefSwitch for refs, Switch otherwise, colocated with ``data``."""
    data = _as_tensor_or_ref(data, name="data")
    g = ops.get_default_graph()
    with g.colocate_with(data.op, ignore_existing=True):
        if _is_ref(data):
            return ref_switch(data, pred, name=name)
        return switch(data, pred, name=name)


def merge(inputs, name=None):
    """Forwards the first of ``inputs`` that is live; returns ``(output, value_index)``.

    Example:
        >>> out, index = merge([a, b])                                       # doctest: +SKIP
    """
    if any(inp is None for inp in inputs):
        raise ValueError(f"At least one of the merge inputs is None: {inputs}")
    with ops.name_scope(name, "Merge", inputs) as scope:
        inputs = [_as_tensor_or_ref(inp) for inp in inputs]
        op_type = "RefMerge" if all(_is_ref(t) for t in inputs) else "Merge"
        return tuple(apply_op(op_type, inputs=inputs, name=scope))


def enter(data, frame_name, is_constant=False, parallel_iterations=10, use_ref=True,
          use_input_shape=True, name=None):
    """TF's ``_Enter``: makes ``data`` available in the child frame ``frame_name`` (RefEnter for
    refs when ``use_ref``); with ``use_input_shape`` the output keeps ``data``'s static shape."""
    data = _as_tensor_or_ref(data)
    op_type = "RefEnter" if _is_ref(data) and use_ref else "Enter"
    result = apply_op(op_type, data=data, frame_name=frame_name, is_constant=bool(is_constant),
                      parallel_iterations=int(parallel_iterations), name=name)
    if use_input_shape:
        result.set_shape(data.shape)
    return result


def exit(data, name=None):  # noqa: A001 - TensorFlow's name
    """Makes ``data`` available to the parent frame (RefExit for refs)."""
    data = _as_tensor_or_ref(data)
    return apply_op("RefExit" if _is_ref(data) else "Exit", data=data, name=name)


def next_iteration(data, name=None):
    """Makes ``data`` available to the next iteration (RefNextIteration for refs)."""
    data = _as_tensor_or_ref(data)
    return apply_op("RefNextIteration" if _is_ref(data) else "NextIteration", data=data, name=name)


def loop_cond(pred, name=None):
    """Marks ``pred`` as the termination condition of a loop (``LoopCond``)."""
    return apply_op("LoopCond", input=pred, name=name)


def control_trigger(name=None):
    """An op that does nothing and is never dead: a placeholder for control edges."""
    return apply_op("ControlTrigger", name=name)


def identity_ref_or_tensor(data, name=None):
    """TF's ``_Identity``: RefIdentity for refs, Identity otherwise."""
    data = _as_tensor_or_ref(data)
    return apply_op("RefIdentity" if _is_ref(data) else "Identity", input=data, name=name)


def is_dead(value):
    """True for the DEAD marker (an output without a value)."""
    return value is DEAD


def _is_bool(t):
    return t.dtype.base_dtype == dtypes.bool


EXPORTS = {}
