"""Ops that gradient functions emit, in TensorFlow's vocabulary: the activation backprops
(ReluGrad, Relu6Grad, EluGrad, SeluGrad, LeakyReluGrad, SoftplusGrad), the unary math backprops
(TanhGrad, SigmoidGrad, SqrtGrad, RsqrtGrad, ReciprocalGrad), BiasAddGrad, and the shape helpers of
TF's python gradients (BroadcastGradientArgs, ConcatOffset, InvertPermutation, StridedSliceGrad,
UnsortedSegmentSum).

Convolution and pooling backprops live in :mod:`gpugraph.ops.conv_grad_ops`. Every kernel follows
the formula of TF's CPU functor (e.g. ReluGrad multiplies by the mask, so a NaN gradient stays NaN).

Example:
    >>> from gpugraph.framework.op_builder import apply_op
    >>> dx = apply_op("ReluGrad", gradients=[1.0, 1.0], features=[-1.0, 2.0])
    >>> tf.Session().run(dx).tolist()
    [0.0, 1.0]
"""

import ml_dtypes
import numpy as np

from gpugraph.framework import shape_fns, tensor_shape
from gpugraph.framework.op_builder import constant_value
from gpugraph.framework.registry import lookup, register_op
# The forward families first: ops declared here only when no family declares them.
from gpugraph.ops.nn_ops import _upcast  # 16-bit floats compute in float32, rounded once
from gpugraph.ops import array_ops, math_ops, reduction_ops, select_ops, slicing_ops  # noqa: F401

TensorShape = tensor_shape.TensorShape

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_HALF_TYPES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def _merge_both_inputs(op):
    """TF's MergeBothInputsShapeFn: the two inputs must have compatible shapes."""
    a, b = op.inputs[0].shape, op.inputs[1].shape
    if not a.is_compatible_with(b):
        raise ValueError(f"{op.type} needs inputs of the same shape, got {a} and {b}")
    return [a.merge_with(b)]


def _same_shape(ctx, a, b):
    if a.shape != b.shape:
        raise ctx.error(f"{ctx.op_type} needs inputs of the same shape: {list(a.shape)} vs. {list(b.shape)}")


def _binary_grad_kernel(fn):
    """A kernel ``fn(a, b)`` on two same-shaped inputs; result in the inputs' dtype."""
    def kernel(ctx, a, b):
        _same_shape(ctx, a, b)
        return np.asarray(fn(_upcast(a), _upcast(b), ctx)).astype(a.dtype, copy=False)
    return kernel


def _zero(x):
    return x.dtype.type(0)


# -- activation backprops: (gradients, features/outputs) -> backprops ---------------------------
_ACTIVATION_GRADS = {
    # name: (second input, dtype attr, formula(gradients, x, ctx))
    "ReluGrad": ("features", "T: realnumbertype",
                 lambda g, f, ctx: np.multiply(g, f > _zero(f))),
    "Relu6Grad": ("features", "T: realnumbertype",
                  lambda g, f, ctx: g * ((f > _zero(f)) & (f < f.dtype.type(6))).astype(g.dtype)),
    "EluGrad": ("outputs", "T: {half, bfloat16, float, double}",
                lambda g, y, ctx: np.where(y < 0, g * (y + y.dtype.type(1)), g)),
    "SeluGrad": ("outputs", "T: {half, bfloat16, float, double}",
                 lambda g, y, ctx: np.where(y < 0, g * (y + y.dtype.type(_SELU_SCALE * _SELU_ALPHA)),
                                            g * g.dtype.type(_SELU_SCALE))),
    "SoftplusGrad": ("features", "T: {half, bfloat16, float, double}",
                     lambda g, f, ctx: g / (np.exp(-f) + f.dtype.type(1))),
}

for _name, (_second, _type_attr, _fn) in _ACTIVATION_GRADS.items():
    register_op(_name, inputs=["gradients: T", f"{_second}: T"], outputs=["backprops: T"],
                attrs=[_type_attr], shape=_merge_both_inputs, cpu=_binary_grad_kernel(_fn))

register_op("LeakyReluGrad", inputs=["gradients: T", "features: T"], outputs=["backprops: T"],
            attrs=["alpha: float = 0.2", "T: {half, bfloat16, float, double} = DT_FLOAT"],
            shape=_merge_both_inputs,
            cpu=_binary_grad_kernel(lambda g, f, ctx: np.where(f > 0, g, g * g.dtype.type(ctx.attrs["alpha"]))))


# -- unary math backprops: (y, dy) -> z, with y the forward op's output ------------------------
def _zero_where_no_grad(dy, value):
    """TF's sqrt/rsqrt/reciprocal gradient functors return 0 where dy == 0 (no 0 * inf = NaN)."""
    return np.where(dy == 0, dy.dtype.type(0), value)


_UNARY_GRADS = {
    "TanhGrad": lambda y, dy, ctx: dy * (y.dtype.type(1) - y * y),
    "SigmoidGrad": lambda y, dy, ctx: dy * y * (y.dtype.type(1) - y),
    "SqrtGrad": lambda y, dy, ctx: _zero_where_no_grad(dy, y.dtype.type(0.5) * dy / np.conj(y)),
    "RsqrtGrad": lambda y, dy, ctx: _zero_where_no_grad(
        dy, y.dtype.type(-0.5) * (dy * np.conj(y)) * (np.conj(y) * np.conj(y))),
    "ReciprocalGrad": lambda y, dy, ctx: _zero_where_no_grad(dy, -np.conj(y) * np.conj(y) * dy),
}

for _name, _fn in _UNARY_GRADS.items():
    register_op(_name, inputs=["y: T", "dy: T"], outputs=["z: T"],
                attrs=["T: {bfloat16, half, float, double, complex64, complex128}"],
                shape=_merge_both_inputs, cpu=_binary_grad_kernel(_fn))


# -- BiasAddGrad ---------------------------------------------------------------------------------
def _bias_add_grad_shape(op):
    s = op.inputs[0].shape
    if s.ndims is None:
        return [TensorShape([None])]
    if s.ndims < 2:
        raise ValueError(f"BiasAddGrad: out_backprop must be at least 2-D, got shape {s}")
    axis = 1 if op.get_attr("data_format") == b"NCHW" else -1
    return [TensorShape([s.dims[axis]])]


def _bias_add_grad(ctx, g):
    if g.ndim < 2:
        raise ctx.error(f"Input tensor must be at least 2D: {list(g.shape)}")
    acc = np.float32 if g.dtype in _HALF_TYPES else None  # TF accumulates 16-bit floats in float
    if ctx.attrs["data_format"] == "NCHW":
        axes = tuple(i for i in range(g.ndim) if i != 1)
        return np.sum(g, axis=axes, dtype=acc).astype(g.dtype, copy=False)
    # NHWC: every leading dim folds into one, so the sum is a single column reduction.
    return np.add.reduce(g.reshape(-1, g.shape[-1]), axis=0, dtype=acc).astype(g.dtype, copy=False)


register_op("BiasAddGrad", inputs=["out_backprop: T"], outputs=["output: T"],
            attrs=["T: numbertype", "data_format: {'NHWC', 'NCHW'} = 'NHWC'"],
            shape=_bias_add_grad_shape, cpu=_bias_add_grad)


# -- BroadcastGradientArgs -------------------------------------------------------------------------
def broadcast_gradient_args(s0, s1):
    """TF's BCast reduction indices: the axes each input was broadcast along (as Python lists).

    Identical shapes reduce nothing; a dim where both sizes are 1 is reduced for both (TF's rule).
    Raises ValueError for shapes that do not broadcast.

    Example:
        >>> broadcast_gradient_args([2, 1, 3], [3])
        ([1], [0, 1])
    """
    s0, s1 = [int(d) for d in s0], [int(d) for d in s1]
    if s0 == s1:
        return [], []
    n = max(len(s0), len(s1))
    x = [1] * (n - len(s0)) + s0
    y = [1] * (n - len(s1)) + s1
    r0, r1 = [], []
    for i, (a, b) in enumerate(zip(x, y)):
        if a == 1 and b == 1:
            r0.append(i)
            r1.append(i)
        elif a == 1:
            r0.append(i)
        elif b == 1:
            r1.append(i)
        elif a != b:
            raise ValueError(f"Incompatible shapes: [{','.join(map(str, s0))}] vs. "
                             f"[{','.join(map(str, s1))}]")
    return r0, r1


def _broadcast_gradient_args_shape(op):
    for t in op.inputs:
        if t.shape.ndims is not None and t.shape.ndims != 1:
            raise ValueError(f"BroadcastGradientArgs: shapes must be 1-D, got {t.shape}")
    a, b = constant_value(op.inputs[0]), constant_value(op.inputs[1])
    if a is not None and b is not None:
        r0, r1 = broadcast_gradient_args(a, b)
        return [TensorShape([len(r0)]), TensorShape([len(r1)])]
    return [TensorShape([None]), TensorShape([None])]


def _broadcast_gradient_args_kernel(ctx, s0, s1):
    if s0.ndim != 1 or s1.ndim != 1:
        raise ctx.error(f"In[0] and In[1] must be vectors, got shapes {list(s0.shape)} and {list(s1.shape)}")
    key = (s0.tobytes(), s1.tobytes())
    out = ctx.cache.get(key)
    if out is None:
        try:
            r0, r1 = broadcast_gradient_args(s0, s1)
        except ValueError as e:
            raise ctx.error(str(e)) from None
        out = (np.array(r0, dtype=s0.dtype), np.array(r1, dtype=s0.dtype))
        for a in out:
            a.flags.writeable = False  # shared between runs
        if len(ctx.cache) > 64:
            ctx.cache.clear()
        ctx.cache[key] = out
    return out


register_op("BroadcastGradientArgs", inputs=["s0: T", "s1: T"], outputs=["r0: T", "r1: T"],
            attrs=["T: {int32, int64} = DT_INT32"], shape=_broadcast_gradient_args_shape,
            cpu=_broadcast_gradient_args_kernel, host_memory=("s0", "s1"))


# -- ConcatOffset, InvertPermutation -----------------------------------------------------------------
def _concat_offset_kernel(ctx, concat_dim, *shapes):
    rank = shapes[0].size
    axis = int(concat_dim)
    if not -rank <= axis < rank:
        raise ctx.error(f"Concat dim is out of range: {axis} vs. {rank}")
    axis %= rank
    out, offset = [], 0
    for i, s in enumerate(shapes):
        if s.size != rank:
            raise ctx.error(f"input {i} should contain {rank} elements, but got {s.size}")
        for d in range(rank):
            if d != axis and s[d] != shapes[0][d]:
                raise ctx.error(f"All dimensions except {axis} must match. Input {i} has shape "
                                f"[{' '.join(map(str, s))}] and doesn't match input 0 with shape "
                                f"[{' '.join(map(str, shapes[0]))}].")
        o = np.zeros(rank, dtype=s.dtype)
        o[axis] = offset
        offset += int(s[axis])
        out.append(o)
    return out


register_op("ConcatOffset", inputs=["concat_dim: int32", "shape: N * shape_type"],
            outputs=["offset: N * shape_type"], attrs=["N: int >= 2", "shape_type: {int32, int64} = DT_INT32"],
            shape=lambda op: [t.shape for t in op.inputs[1:]], cpu=_concat_offset_kernel,
            host_memory=("concat_dim", "shape"))


def _invert_permutation_kernel(ctx, x):
    if x.ndim != 1:
        raise ctx.error(f"invert_permutation expects a 1D vector, got shape {list(x.shape)}")
    n = x.size
    if n and (x.min() < 0 or x.max() >= n or np.unique(x).size != n):
        raise ctx.error(f"{x.tolist()} is not a permutation of 0..{n - 1}")
    y = np.empty_like(x)
    y[x] = np.arange(n, dtype=x.dtype)
    return y


def _invert_permutation_shape(op):
    s = op.inputs[0].shape
    if s.ndims is not None and s.ndims != 1:
        raise ValueError(f"InvertPermutation: input must be 1-D, got {s}")
    return [s if s.ndims is not None else TensorShape([None])]


if lookup("InvertPermutation") is None:  # array_ops may grow it; the declaration is TF's either way
    register_op("InvertPermutation", inputs=["x: T"], outputs=["y: T"],
                attrs=["T: {int32, int64} = DT_INT32"], shape=_invert_permutation_shape,
                cpu=_invert_permutation_kernel)


# -- StridedSliceGrad ----------------------------------------------------------------------------
def _strided_slice_grad_shape(op):
    return [shape_fns.constant_value_as_shape(op.inputs[0])]


def _strided_slice_grad_kernel(ctx, shape, begin, end, strides, dy):
    from gpugraph.ops.slicing_ops import strided_slice_spec
    key = (shape.tobytes(), begin.tobytes(), end.tobytes(), strides.tobytes())
    plan = ctx.cache.get(key)
    if plan is None:
        masks = {k: ctx.attrs[k] for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                           "shrink_axis_mask")}
        try:
            processing, _, b, e, s, _ = strided_slice_spec(
                shape.tolist(), begin.tolist(), end.tolist(), strides.tolist(), **masks)
        except ValueError as err:
            raise ctx.error(str(err)) from None
        index = tuple(slice(0, 0) if n == 0 else slice(bi, None if ei < 0 else ei, si)
                      for n, bi, ei, si in zip(processing, b, e, s))
        plan = (tuple(int(d) for d in shape), index, tuple(processing))
        if len(ctx.cache) > 64:
            ctx.cache.clear()
        ctx.cache[key] = plan
    full, index, processing = plan
    if int(np.prod(processing)) != dy.size:
        raise ctx.error(f"shape of dy was {list(dy.shape)} instead of {list(processing)}")
    out = np.zeros(full, dtype=dy.dtype)
    out[index] = dy.reshape(processing)
    return out


register_op("StridedSliceGrad",
            inputs=["shape: Index", "begin: Index", "end: Index", "strides: Index", "dy: T"],
            outputs=["output: T"],
            attrs=["T: type", "Index: {int32, int64}", "begin_mask: int = 0", "end_mask: int = 0",
                   "ellipsis_mask: int = 0", "new_axis_mask: int = 0", "shrink_axis_mask: int = 0"],
            shape=_strided_slice_grad_shape, cpu=_strided_slice_grad_kernel,
            host_memory=("shape", "begin", "end", "strides"))


# -- UnsortedSegmentSum (the dense gradient of GatherV2) -----------------------------------------------
def _unsorted_segment_sum_shape(op):
    data, ids = op.inputs[0].shape, op.inputs[1].shape
    n = constant_value(op.inputs[2])
    if data.ndims is None or ids.ndims is None:
        return [TensorShape(None)]
    if not ids.is_compatible_with(data[:ids.ndims]):
        raise ValueError(f"UnsortedSegmentSum: segment_ids shape {ids} must be a prefix of data's "
                         f"shape {data}")
    first = None if n is None else int(n)
    return [TensorShape([first]).concatenate(data[ids.ndims:])]


def _unsorted_segment_sum_kernel(ctx, data, ids, num_segments):
    n = int(num_segments)
    if data.shape[:ids.ndim] != ids.shape:
        raise ctx.error(f"data.shape = {list(data.shape)} does not start with segment_ids.shape = "
                        f"{list(ids.shape)}")
    if n < 0:
        raise ctx.error(f"num_segments must be non-negative, got {n}")
    flat_ids = ids.reshape(-1).astype(np.int64, copy=False)
    if flat_ids.size and flat_ids.max() >= n:
        bad = int(flat_ids[flat_ids >= n][0])
        raise ctx.error(f"segment_ids[{int(np.argmax(flat_ids >= n))}] = {bad} is out of range "
                        f"[0, {n})")
    tail = data.shape[ids.ndim:]
    values = data.reshape((flat_ids.size,) + tail)
    keep = flat_ids >= 0  # TF drops negative ids
    out = np.zeros((n,) + tail, dtype=data.dtype)
    if not keep.all():
        flat_ids, values = flat_ids[keep], values[keep]
    np.add.at(out, flat_ids, values)
    return out


if lookup("UnsortedSegmentSum") is None:
    register_op("UnsortedSegmentSum", inputs=["data: T", "segment_ids: Tindices", "num_segments: Tnumsegments"],
                outputs=["output: T"],
                attrs=["T: numbertype", "Tindices: {int16, int32, int64}",
                       "Tnumsegments: {int32, int64} = DT_INT32"],
                shape=_unsorted_segment_sum_shape, cpu=_unsorted_segment_sum_kernel,
                host_memory=("num_segments",))


# -- ListDiff and Cumprod (what TF's Prod gradient is built from) ------------------------------------
def _list_diff_kernel(ctx, x, y):
    if x.ndim != 1 or y.ndim != 1:
        raise ctx.error(f"x and y must be 1-D, got shapes {list(x.shape)} and {list(y.shape)}")
    keep = ~np.isin(x, y)
    return [x[keep], np.nonzero(keep)[0].astype(ctx.output_dtypes[1])]


if lookup("ListDiff") is None:
    register_op("ListDiff", inputs=["x: T", "y: T"], outputs=["out: T", "idx: out_idx"],
                attrs=["T: type", "out_idx: {int32, int64} = DT_INT32"],
                shape=lambda op: [TensorShape([None]), TensorShape([None])], cpu=_list_diff_kernel)


def _cumulative_kernel(np_fn, identity):
    """Cumsum/Cumprod: ``exclusive`` shifts by one (starting at the identity), ``reverse`` runs from
    the end."""
    def kernel(ctx, x, axis):
        if np.ndim(axis) != 0:
            raise ctx.error(f"axis must be a scalar, got shape {list(np.shape(axis))}")
        rank = x.ndim
        a = int(axis)
        if not -rank <= a < rank:
            raise ctx.error(f"axis {a} is out of range for a tensor of rank {rank}")
        a %= rank
        work = _upcast(x)
        if ctx.attrs["reverse"]:
            work = np.flip(work, axis=a)
        out = np_fn(work, axis=a, dtype=work.dtype)
        if ctx.attrs["exclusive"]:
            head = np.full_like(np.take(out, [0], axis=a), identity)
            out = np.concatenate([head, np.take(out, range(out.shape[a] - 1), axis=a)], axis=a)
        if ctx.attrs["reverse"]:
            out = np.flip(out, axis=a)
        return np.ascontiguousarray(out).astype(x.dtype, copy=False)
    return kernel


for _name, _fn, _identity in (("Cumprod", np.cumprod, 1), ("Cumsum", np.cumsum, 0)):
    if lookup(_name) is None:
        register_op(_name, inputs=["x: T", "axis: Tidx"], outputs=["out: T"],
                    attrs=["exclusive: bool = false", "reverse: bool = false", "T: numbertype",
                           "Tidx: {int32, int64} = DT_INT32"],
                    shape=shape_fns.unchanged, cpu=_cumulative_kernel(_fn, _identity), host_memory=("axis",))


# -- MirrorPadGrad (the gradient of MirrorPad) ------------------------------------------------------------
def _mirror_pad_grad_shape(op):
    s = op.inputs[0].shape
    pads = constant_value(op.inputs[1])
    if s.ndims is None or pads is None:
        return [TensorShape(None) if s.ndims is None else TensorShape([None] * s.ndims)]
    return [TensorShape([None if d is None else d - int(b) - int(a)
                         for d, (b, a) in zip(s.as_list(), pads.reshape(-1, 2))])]


def _mirror_pad_grad_kernel(ctx, g, paddings):
    """Folds the mirrored border gradients back onto the elements they copied, dim by dim."""
    if paddings.shape != (g.ndim, 2):
        raise ctx.error(f"paddings must be a matrix with 2 columns and {g.ndim} rows, got shape "
                        f"{list(paddings.shape)}")
    offset = 0 if ctx.attrs["mode"] == "SYMMETRIC" else 1
    out = g
    for axis, (before, after) in enumerate(paddings.tolist()):
        n = out.shape[axis] - before - after
        if n < 0 or before > n - offset or after > n - offset:
            raise ctx.error(f"paddings {paddings.tolist()} are too large for an output of shape "
                            f"{list(g.shape)} in {ctx.attrs['mode']} mode")
        take = lambda lo, hi: [slice(None)] * axis + [slice(lo, hi)]  # noqa: E731
        core = np.array(out[tuple(take(before, before + n))])
        if before:
            # padded position j (0 = outermost) copies element before - j - 1 + offset
            head = np.flip(out[tuple(take(0, before))], axis=axis)
            core[tuple(take(offset, offset + before))] += head
        if after:
            tail = np.flip(out[tuple(take(before + n, before + n + after))], axis=axis)
            core[tuple(take(n - offset - after, n - offset))] += tail
        out = core
    return np.ascontiguousarray(out)


register_op("MirrorPadGrad", inputs=["input: T", "paddings: Tpaddings"], outputs=["output: T"],
            attrs=["T: type", "Tpaddings: {int32, int64} = DT_INT32", "mode: {'REFLECT', 'SYMMETRIC'}"],
            shape=_mirror_pad_grad_shape, cpu=_mirror_pad_grad_kernel, host_memory=("paddings",))
