"""Array ops, part 2: Tile, BroadcastTo, ReverseV2, Pad, PadV2 and MirrorPad — and their API functions.

Example:
    >>> tf.pad(tf.zeros([2, 3]), [[1, 1], [0, 2]], "REFLECT").shape.as_list()
    [4, 5]
"""

import numpy as np

from gpugraph.framework import tensor_shape
from gpugraph.framework.op_builder import apply_op, constant_value, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.framework.shape_fns import unchanged
from gpugraph.ops.array_ops import (
    _INDEX_TYPES, _check_rank, _dims, _fmt, _is_graph_value, _shape_arg, _shape_tensor_dims, _zero_of)

TensorShape = tensor_shape.TensorShape


# -- Tile, BroadcastTo, ReverseV2 --------------------------------------------------------------
def _tile_shape(op):
    in_dims = _dims(op.inputs[0].shape)
    _check_rank(op.inputs[1].shape, 1, "multiples")
    multiples = _shape_tensor_dims(op.inputs[1], "multiples")
    if in_dims is not None:
        if multiples is None:
            multiples = [None] * len(in_dims)
        if len(multiples) != len(in_dims):
            raise ValueError(f"multiples must have {len(in_dims)} elements for an input of shape "
                             f"{_fmt(in_dims)}, got {len(multiples)}")
    if multiples is None:
        return [TensorShape(None)]
    if in_dims is None:
        in_dims = [None] * len(multiples)
    return [TensorShape([_mul_dims(d, m) for d, m in zip(in_dims, multiples)])]


def _mul_dims(a, b):
    if a == 1:
        return b
    if b == 1:
        return a
    return None if a is None or b is None else a * b


def _tile_kernel(ctx, x, multiples):
    if multiples.ndim != 1 or multiples.size != x.ndim:
        raise ctx.error(f"Expected multiples argument to be a vector of length {x.ndim} but got "
                        f"length {multiples.size}")
    if (multiples < 0).any():
        i = int(np.argmax(multiples < 0))
        raise ctx.error(f"Expected multiples[{i}] >= 0, but got {int(multiples[i])}")
    return np.tile(x, multiples.tolist()) if x.ndim else x.copy()


register_op("Tile", inputs=["input: T", "multiples: Tmultiples"], outputs=["output: T"],
            attrs=["T: type", "Tmultiples: " + _INDEX_TYPES], shape=_tile_shape, cpu=_tile_kernel,
            host_memory=("multiples",))


def _broadcast_to_shape(op):
    _check_rank(op.inputs[1].shape, 1, "BroadcastTo's shape")
    out = _shape_tensor_dims(op.inputs[1])
    in_dims = _dims(op.inputs[0].shape)
    if out is None or in_dims is None:
        return [TensorShape(out)]
    if len(in_dims) > len(out):
        raise ValueError(f"Cannot broadcast a tensor of shape {_fmt(in_dims)} to the lower-rank "
                         f"shape {_fmt(out)}")
    for i in range(1, len(in_dims) + 1):
        d = in_dims[-i]
        if d is not None and d > 1:
            if out[-i] is not None and out[-i] != d:
                raise ValueError(f"Incompatible shapes: {_fmt(in_dims)} vs. {_fmt(out)}")
            out[-i] = d
    return [TensorShape(out)]


def _broadcast_to_kernel(ctx, x, shape):
    try:
        return np.broadcast_to(x, shape.tolist())
    except ValueError:
        raise ctx.error(f"Incompatible shapes: {list(x.shape)} vs. {shape.tolist()}") from None


register_op("BroadcastTo", inputs=["input: T", "shape: Tidx"], outputs=["output: T"],
            attrs=["T: type", "Tidx: " + _INDEX_TYPES], shape=_broadcast_to_shape,
            cpu=_broadcast_to_kernel, host_memory=("shape",))


def _reverse_kernel(ctx, x, axis):
    axes = []
    for a in axis.reshape(-1).tolist():
        if not -x.ndim <= a < x.ndim:
            raise ctx.error(f"'axis'[{len(axes)}] = {a} is out of valid range [0, {x.ndim})")
        a %= x.ndim
        if a in axes:
            raise ctx.error(f"axis {a} specified more than once.")
        axes.append(a)
    return np.flip(x, axis=tuple(axes)) if axes else x


register_op("ReverseV2", inputs=["tensor: T", "axis: Tidx"], outputs=["output: T"],
            attrs=["Tidx: " + _INDEX_TYPES,
                   "T: {uint8, int8, uint16, int16, int32, uint32, int64, uint64, bool, bfloat16, half, "
                   "float, double, complex64, complex128, string}"],
            shape=unchanged, cpu=_reverse_kernel, host_memory=("axis",))


# -- Pad, PadV2, MirrorPad ---------------------------------------------------------------------
def _pad_shape(op):
    """TF's PadShapeFn (and MirrorPad's): paddings is a [rank, 2] matrix of non-negative ints."""
    in_dims = _dims(op.inputs[0].shape)
    pshape = _dims(op.inputs[1].shape)
    if pshape is not None and (len(pshape) != 2 or pshape[1] not in (None, 2)):
        raise ValueError(f"paddings must be a matrix with 2 columns, got shape {_fmt(pshape)}")
    if len(op.inputs) > 2:
        _check_rank(op.inputs[2].shape, 0, "constant_values")
    n = pshape[0] if pshape is not None else None
    if n is not None and in_dims is not None and n != len(in_dims):
        raise ValueError(f"paddings has {n} rows but the input {_fmt(in_dims)} has rank {len(in_dims)}")
    rank = len(in_dims) if in_dims is not None else n
    paddings = constant_value(op.inputs[1])
    if paddings is None:
        return [TensorShape(None if rank is None else [None] * rank)]
    if (paddings < 0).any():
        raise ValueError(f"Paddings must be non-negative, got {paddings.tolist()}")
    if in_dims is None:
        in_dims = [None] * paddings.shape[0]
    return [TensorShape([None if d is None else d + int(p[0]) + int(p[1])
                         for d, p in zip(in_dims, paddings.tolist())])]


def _check_paddings(ctx, x, paddings):
    if paddings.ndim != 2 or paddings.shape[1] != 2:
        raise ctx.error(f"paddings must be a matrix with 2 columns: {list(paddings.shape)}")
    if paddings.shape[0] != x.ndim:
        raise ctx.error(f"The first dimension of paddings must be the rank of inputs"
                        f"{list(paddings.shape)} {list(x.shape)}")
    if (paddings < 0).any():
        raise ctx.error(f"Paddings must be non-negative: {paddings.tolist()}")
    return paddings.tolist()


def _pad_kernel(ctx, x, paddings, constant_values=None):
    widths = _check_paddings(ctx, x, paddings)
    if constant_values is None:
        value = _zero_of(x.dtype)
    else:
        if constant_values.ndim != 0:
            raise ctx.error(f"constant_values must be a scalar. Got: {list(constant_values.shape)}")
        value = constant_values[()]
    out = np.full([d + a + b for d, (a, b) in zip(x.shape, widths)], value, dtype=x.dtype)
    out[tuple(slice(a, a + d) for d, (a, _) in zip(x.shape, widths))] = x
    return out


register_op("Pad", inputs=["input: T", "paddings: Tpaddings"], outputs=["output: T"],
            attrs=["T: type", "Tpaddings: " + _INDEX_TYPES], shape=_pad_shape, cpu=_pad_kernel,
            host_memory=("paddings",))

register_op("PadV2", inputs=["input: T", "paddings: Tpaddings", "constant_values: T"],
            outputs=["output: T"], attrs=["T: type", "Tpaddings: " + _INDEX_TYPES],
            shape=_pad_shape, cpu=_pad_kernel, host_memory=("paddings", "constant_values"))


def _mirror_pad_kernel(ctx, x, paddings):
    widths = _check_paddings(ctx, x, paddings)
    symmetric = ctx.attrs["mode"] == "SYMMETRIC"
    for d, (a, b) in zip(x.shape, widths):
        if symmetric and max(a, b) > d:
            raise ctx.error(f"paddings must be no greater than the dimension size: {a}, {b} greater "
                            f"than {d}")
        if not symmetric and max(a, b) >= d and (a or b):
            raise ctx.error(f"paddings must be less than the dimension size: {a}, {b} not less than {d}")
    return np.pad(x, widths, mode="symmetric" if symmetric else "reflect")


register_op("MirrorPad", inputs=["input: T", "paddings: Tpaddings"], outputs=["output: T"],
            attrs=["T: type", "Tpaddings: " + _INDEX_TYPES, "mode: {'REFLECT', 'SYMMETRIC'}"],
            shape=_pad_shape, cpu=_mirror_pad_kernel, host_memory=("paddings",))


def tile(input, multiples, name=None):  # noqa: A002
    """Repeats ``input`` ``multiples[i]`` times along axis i.

    Example:
        >>> tf.tile(tf.zeros([2, 3]), [2, 1]).shape.as_list()
        [4, 3]
    """
    return apply_op("Tile", input=input, multiples=_shape_arg(multiples), name=name)


def broadcast_to(input, shape, name=None):  # noqa: A002
    """Broadcasts ``input`` to ``shape`` (NumPy rules).

    Example:
        >>> tf.broadcast_to([1, 2], [3, 2]).shape.as_list()
        [3, 2]
    """
    return apply_op("BroadcastTo", input=input, shape=_shape_arg(shape), name=name)


def reverse(tensor, axis, name=None):
    """Reverses ``tensor`` along the dimensions in ``axis`` (``tf.reverse``, i.e. ReverseV2).

    Example:
        >>> tf.Session().run(tf.reverse([[1, 2], [3, 4]], [1])).tolist()
        [[2, 1], [4, 3]]
    """
    return apply_op("ReverseV2", tensor=tensor, axis=axis, name=name)


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    """Pads ``tensor``: ``paddings[i] = [before, after]``; mode CONSTANT, REFLECT or SYMMETRIC.

    Example:
        >>> tf.pad(tf.zeros([2, 3]), [[1, 1], [0, 2]]).shape.as_list()
        [4, 5]
    """
    mode = mode.upper()
    paddings = _shape_arg(paddings)
    if mode == "CONSTANT":
        if (not _is_graph_value(constant_values) and np.ndim(constant_values) == 0
                and constant_values == np.zeros_like(constant_values)):
            return apply_op("Pad", input=tensor, paddings=paddings, name=name)
        tensor = convert_to_tensor(tensor)
        return apply_op("PadV2", input=tensor, paddings=paddings, constant_values=constant_values,
                        name=name)
    if mode in ("REFLECT", "SYMMETRIC"):
        return apply_op("MirrorPad", input=tensor, paddings=paddings, mode=mode, name=name)
    raise ValueError('Value of argument `mode` expected to be one of "CONSTANT", "REFLECT", or '
                     f'"SYMMETRIC". Received `mode` = {mode}')


reverse_v2 = reverse

EXPORTS = {
    "": ["tile", "broadcast_to", "reverse", "reverse_v2", "pad"],
}
