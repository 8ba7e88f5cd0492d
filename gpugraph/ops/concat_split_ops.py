"""Array ops, part 3: joining and splitting — ConcatV2, Pack, Unpack, Split, SplitV — and their API
functions (concat, stack, unstack, split).

Example:
    >>> [t.shape.as_list() for t in tf.split(tf.zeros([5, 2]), [2, -1])]
    [[2, 2], [3, 2]]
"""

import numbers

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant, constant_value, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops.array_ops import (
    _INDEX_TYPES, _autopack, _check_rank, _contains_tensor, _dims, _fmt, _int_value, _normalize_axis,
    _shape_arg)

TensorShape = tensor_shape.TensorShape


# -- ConcatV2, Pack, Unpack --------------------------------------------------------------------
def _concat_shape(op):
    """TF's ConcatShapeHelper: merge the non-concat dims, sum the concat dim."""
    values = op.inputs[:-1]
    all_dims = [_dims(v.shape) for v in values]
    known = [d for d in all_dims if d is not None]
    if not known:
        return [TensorShape(None)]
    rank = len(known[0])
    if rank == 0:
        raise ValueError("Can't concatenate scalars (use tf.stack instead)")
    for i, d in enumerate(all_dims):
        if d is not None and len(d) != rank:
            raise ValueError(f"Shapes must be equal rank, but are {rank} and {len(d)}: ConcatV2 input "
                             f"shapes {[_fmt(x) for x in all_dims]}")
    axis = _int_value(op.inputs[-1])
    if axis is None:
        return [TensorShape([None] * rank)]
    axis = _normalize_axis(axis, rank, "concat axis")
    out = [None] * rank
    total = 0
    for d in known:
        for j in range(rank):
            if j == axis:
                continue
            if out[j] is not None and d[j] is not None and out[j] != d[j]:
                raise ValueError(f"Dimension {j} in both shapes must be equal, but are {out[j]} and "
                                 f"{d[j]}: ConcatV2 input shapes {[_fmt(x) for x in all_dims]}")
            out[j] = d[j] if out[j] is None else out[j]
    for d in all_dims:
        if total is not None:
            total = None if d is None or d[axis] is None else total + d[axis]
    out[axis] = total
    return [TensorShape(out)]


def _concat_kernel(ctx, *args):
    values, axis = args[:-1], args[-1]
    rank = values[0].ndim
    if rank == 0:
        raise ctx.error("ConcatOp : Can't concatenate scalars (use tf.stack instead)")
    a = int(axis)
    if not -rank <= a < rank:
        raise ctx.error(f"ConcatOp : Expected concatenating dimensions in the range [{-rank}, {rank}), "
                        f"but got {a}")
    a %= rank
    s0 = values[0].shape
    for i, v in enumerate(values[1:], 1):
        if v.ndim != rank:
            raise ctx.error(f"ConcatOp : Ranks of all input tensors should match: shape[0] = {list(s0)} "
                            f"vs. shape[{i}] = {list(v.shape)}")
        for j in range(rank):
            if j != a and v.shape[j] != s0[j]:
                raise ctx.error(f"ConcatOp : Dimension {j} in both shapes must be equal: shape[0] = "
                                f"{list(s0)} vs. shape[{i}] = {list(v.shape)}")
    return np.concatenate(values, axis=a)


register_op("ConcatV2", inputs=["values: N * T", "axis: Tidx"], outputs=["output: T"],
            attrs=["N: int >= 2", "T: type", "Tidx: " + _INDEX_TYPES], shape=_concat_shape,
            cpu=_concat_kernel, host_memory=("axis",))


def _pack_shape(op):
    merged = TensorShape(None)
    for t in op.inputs:
        try:
            merged = merged.merge_with(t.shape)
        except ValueError:
            raise ValueError(f"Shapes of all inputs must match: {[str(x.shape) for x in op.inputs]}") \
                from None
    axis = op.get_attr("axis")
    dims = _dims(merged)
    if dims is None:
        return [TensorShape(None)]
    rank = len(dims) + 1
    if not -rank <= axis < rank:
        raise ValueError(f"Invalid axis: {axis}; must be in [{-rank},{rank})")
    axis %= rank
    return [TensorShape(dims[:axis] + [len(op.inputs)] + dims[axis:])]


def _pack_kernel(ctx, *values):
    s0 = values[0].shape
    for i, v in enumerate(values[1:], 1):
        if v.shape != s0:
            raise ctx.error(f"Shapes of all inputs must match: values[0].shape = {list(s0)} != "
                            f"values[{i}].shape = {list(v.shape)}")
    rank = len(s0) + 1
    axis = ctx.attrs["axis"]
    if not -rank <= axis < rank:
        raise ctx.error(f"axis = {axis} not in [{-rank}, {rank})")
    return np.stack(values, axis=axis % rank)


register_op("Pack", inputs=["values: N * T"], outputs=["output: T"],
            attrs=["N: int >= 1", "T: type", "axis: int = 0"], shape=_pack_shape, cpu=_pack_kernel)


def _unpack_shape(op):
    dims = _dims(op.inputs[0].shape)
    num = op.get_attr("num")
    if dims is None:
        return [TensorShape(None)] * num
    rank = len(dims)
    axis = op.get_attr("axis")
    if not -rank <= axis < rank:
        raise ValueError(f"Invalid axis: {axis}; must be in [{-rank},{rank})")
    axis %= rank
    if dims[axis] is not None and dims[axis] != num:
        raise ValueError(f"Dimension {axis} of the input {_fmt(dims)} must be {num} (num) but is "
                         f"{dims[axis]}")
    return [TensorShape(dims[:axis] + dims[axis + 1:])] * num


def _unpack_kernel(ctx, x):
    num, axis = ctx.attrs["num"], ctx.attrs["axis"]
    if not -x.ndim <= axis < x.ndim:
        raise ctx.error(f"axis = {axis} not in [{-x.ndim}, {x.ndim})")
    axis %= x.ndim
    if x.shape[axis] != num:
        raise ctx.error(f"Input shape axis {axis} must equal {num}, got shape {list(x.shape)}")
    moved = np.moveaxis(x, axis, 0)
    return [moved[i] for i in range(num)]


register_op("Unpack", inputs=["value: T"], outputs=["output: num * T"],
            attrs=["num: int >= 0", "T: type", "axis: int = 0"], shape=_unpack_shape,
            cpu=_unpack_kernel)


# -- Split, SplitV -----------------------------------------------------------------------------
def _split_dim(op, index, rank):
    """The split axis from a scalar input, normalised; None when unknown."""
    d = _int_value(op.inputs[index])
    if d is None or rank is None:
        return None if d is None or d < 0 else d
    if not -rank <= d < rank:
        raise ValueError(f"Dimension size, given by scalar input {d} must be in range [{-rank}, {rank})")
    return d % rank


def _split_shape(op):
    _check_rank(op.inputs[0].shape, 0, "split_dim")
    dims = _dims(op.inputs[1].shape)
    num = op.get_attr("num_split")
    axis = _split_dim(op, 0, None if dims is None else len(dims))
    if dims is None:
        return [TensorShape(None)] * num
    if axis is None:
        return [TensorShape([None] * len(dims))] * num
    size = dims[axis]
    if size is not None and size % num:
        raise ValueError(f"Number of ways to split should evenly divide the split dimension: "
                         f"dimension {axis} of {_fmt(dims)} has size {size}, not divisible by {num}")
    out = list(dims)
    out[axis] = None if size is None else size // num
    return [TensorShape(out)] * num


def _split_kernel(ctx, split_dim, x):
    num = ctx.attrs["num_split"]
    d = int(split_dim)
    if not -x.ndim <= d < x.ndim:
        raise ctx.error(f"-input rank(-{x.ndim}) <= split_dim < input rank ({x.ndim}), but got {d}")
    d %= x.ndim
    if x.shape[d] % num:
        raise ctx.error(f"Number of ways to split should evenly divide the split dimension, but got "
                        f"split_dim {d} (size = {x.shape[d]}) and num_split {num}")
    return np.split(x, num, axis=d)


register_op("Split", inputs=["split_dim: int32", "value: T"], outputs=["output: num_split * T"],
            attrs=["num_split: int >= 1", "T: type"], shape=_split_shape, cpu=_split_kernel,
            host_memory=("split_dim",))


def _split_v_shape(op):
    """TF's SplitV shape function: sizes may hold one -1, inferred from the axis' size."""
    dims = _dims(op.inputs[0].shape)
    num = op.get_attr("num_split")
    if dims is None:
        return [TensorShape(None)] * num
    if not dims:
        raise ValueError("Can't split scalars")
    axis = _split_dim(op, 2, len(dims))
    sizes = constant_value(op.inputs[1])
    if axis is None:
        return [TensorShape([None] * len(dims))] * num
    if sizes is None:
        return [TensorShape(dims[:axis] + [None] + dims[axis + 1:])] * num
    sizes = sizes.reshape(-1).tolist()
    if len(sizes) != num:
        raise ValueError(f"Length of size_splits ({len(sizes)}) should be equal to num_split ({num})")
    if sizes.count(-1) > 1:
        raise ValueError(f"size_splits can only have one -1, got {sizes}")
    total = sum(s for s in sizes if s != -1)
    size = dims[axis]
    outs = []
    for i, s in enumerate(sizes):
        if s == -1 and size is not None:
            s = size - total
        if s < -1 or (s == -1 and size is not None):
            raise ValueError(f"Split size at index {i} must be >= 0. Got: {s}")
        outs.append(TensorShape(dims[:axis] + [None if s == -1 else s] + dims[axis + 1:]))
    if size is not None and (total > size if -1 in sizes else total != size):
        raise ValueError(f"can't split axis of size {size} into pieces of size {sizes}")
    return outs


def _split_v_kernel(ctx, x, size_splits, split_dim):
    d = int(split_dim)
    if not -x.ndim <= d < x.ndim:
        raise ctx.error(f"-input rank(-{x.ndim}) <= split_dim < input rank ({x.ndim}), but got {d}")
    d %= x.ndim
    sizes = size_splits.reshape(-1).tolist()
    if len(sizes) != ctx.attrs["num_split"]:
        raise ctx.error(f"Number of split sizes ({len(sizes)}) must equal num_split "
                        f"({ctx.attrs['num_split']})")
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    total = sum(s for s in sizes if s != -1)
    if len(unknown) > 1 or any(s < -1 for s in sizes):
        raise ctx.error(f"There can only be one -1 in the split sizes and no other negative sizes, "
                        f"got {sizes}")
    if unknown and total <= x.shape[d]:
        sizes[unknown[0]] = x.shape[d] - total
    elif unknown or total != x.shape[d]:
        raise ctx.error(f"Determined shape must either match input shape along split_dim exactly if "
                        f"fully specified, or be less than the size of the input along split_dim if "
                        f"not fully specified.  Got: {total}")
    return np.split(x, np.cumsum(sizes)[:-1].tolist(), axis=d)


register_op("SplitV", inputs=["value: T", "size_splits: Tlen", "split_dim: int32"],
            outputs=["output: num_split * T"],
            attrs=["num_split: int >= 1", "T: type", "Tlen: {int8, int32, int64} = DT_INT64"],
            shape=_split_v_shape, cpu=_split_v_kernel, host_memory=("size_splits", "split_dim"))


# -- API ---------------------------------------------------------------------------------------
def concat(values, axis, name="concat"):
    """Concatenates tensors along ``axis`` (a single tensor is passed through an Identity).

    Example:
        >>> tf.concat([tf.zeros([2, 3]), tf.zeros([2, 1])], axis=-1).shape.as_list()
        [2, 4]
    """
    if not isinstance(values, (list, tuple)):
        values = [values]
    if len(values) == 1:
        from gpugraph.ops.core_ops import identity
        with ops.name_scope(name):
            axis_t = convert_to_tensor(axis, dtype=dtypes.int32, name="concat_dim")
            _check_rank(axis_t.shape, 0, "concat's axis")
            return identity(values[0], name=name)
    return apply_op("ConcatV2", values=list(values), axis=axis, name=name)


def stack(values, axis=0, name="stack"):
    """Stacks rank-R tensors into one rank-(R+1) tensor along a new ``axis``.

    Example:
        >>> tf.stack([tf.zeros([3]), tf.ones([3])], axis=1).shape.as_list()
        [3, 2]
    """
    if axis == 0:
        if isinstance(values, ops.Tensor) or hasattr(values, "_as_graph_element"):
            return convert_to_tensor(values)  # TF: converting a tensor gives the tensor itself
        if not _contains_tensor(values):
            try:
                return constant(values, name=name)
            except (TypeError, ValueError):
                pass
        else:
            return _autopack(list(values), name=name)
    first = convert_to_tensor(values[0]).shape
    if first.ndims is not None:
        n = first.ndims + 1
        if not -n <= axis < n:
            raise ValueError(f"Argument `axis` = {axis} not in range [{-n}, {n})")
    return apply_op("Pack", values=list(values), axis=axis, name=name)


def unstack(value, num=None, axis=0, name="unstack"):
    """Splits ``value`` along ``axis`` into a list of ``num`` tensors.

    Example:
        >>> len(tf.unstack(tf.zeros([3, 2]), axis=0))
        3
    """
    if num is None:
        value = convert_to_tensor(value)
        s = value.shape
        if s.ndims is not None:
            if not -s.ndims <= axis < s.ndims:
                raise ValueError(f"Argument `axis` = {axis} not in range [{-s.ndims}, {s.ndims})")
            num = s.as_list()[axis]
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {s}")
    outputs = apply_op("Unpack", value=value, num=num, axis=axis, name=name)
    return outputs if isinstance(outputs, list) else []  # num=0: apply_op hands back the op


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """Splits ``value`` along ``axis`` into equal parts (an int) or parts of the given sizes.

    Example:
        >>> [t.shape.as_list() for t in tf.split(tf.zeros([5, 2]), [2, -1])]
        [[2, 2], [3, 2]]
    """
    if isinstance(num_or_size_splits, (numbers.Integral, tensor_shape.Dimension)):
        return apply_op("Split", split_dim=axis, value=value, num_split=int(num_or_size_splits),
                        name=name)
    size_splits = convert_to_tensor(_shape_arg(num_or_size_splits))
    if size_splits.shape.ndims == 0:
        raise ValueError("Rank-0 tensors are not supported as the num_or_size_splits argument to "
                         f"split. Argument provided: {num_or_size_splits}")
    if num is None:
        if size_splits.shape.ndims is not None:
            num = size_splits.shape.as_list()[0]
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {num_or_size_splits}")
    return apply_op("SplitV", value=value, size_splits=size_splits, split_dim=axis, num_split=num,
                    name=name)


EXPORTS = {
    "": ["concat", "stack", "unstack", "split"],
}
