"""Array ops, part 4: slicing (Slice, StridedSlice and ``Tensor.__getitem__``) and gathering
(GatherV2) — and their API functions.

StridedSlice's semantics (masks, ellipsis, negative strides, clamping of out-of-range bounds) come from
one port of TensorFlow's ``ValidateStridedSliceOp``, used by both the shape function (with unknown
dims) and the kernel (with the concrete shape), so static and computed shapes always agree.

Example:
    >>> x = tf.placeholder(tf.float32, [None, 4, 5])
    >>> x[::-2, ..., 1:, None].shape.as_list()
    [None, 4, 4, 1]
"""

import builtins
import math
import numbers

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant, constant_value, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops.array_ops import (
    _check_rank, _dims, _fmt, _int_value, _normalize_axis, _shape_arg, _shape_tensor_dims, ones_like)
from gpugraph.ops.concat_split_ops import stack

TensorShape = tensor_shape.TensorShape
_PySlice = builtins.slice


# -- Slice -------------------------------------------------------------------------------------
def _slice_shape(op):
    in_dims = _dims(op.inputs[0].shape)
    _check_rank(op.inputs[1].shape, 1, "Slice's begin")
    _check_rank(op.inputs[2].shape, 1, "Slice's size")
    n_begin, n_size = (_dims(op.inputs[i].shape) for i in (1, 2))
    n = next((d[0] for d in (n_begin, n_size) if d is not None and d[0] is not None), None)
    for d in (n_begin, n_size):
        if d is not None and d[0] is not None and d[0] != n:
            raise ValueError(f"begin and size must have the same length, got {n_begin} and {n_size}")
    if n is not None and in_dims is not None and n != len(in_dims):
        raise ValueError(f"Slice of a rank {len(in_dims)} input {_fmt(in_dims)} needs begin and size "
                         f"of length {len(in_dims)}, got {n}")
    begin = _shape_tensor_dims(op.inputs[1], "begin")
    sizes = constant_value(op.inputs[2])
    if sizes is not None:
        sizes = sizes.reshape(-1).tolist()
        if in_dims is None:
            in_dims = [None] * len(sizes)
        begin = begin if begin is not None else [None] * len(sizes)
        out = []
        for i, s in enumerate(sizes):
            if s != -1:
                if s < 0:
                    raise ValueError(f"Size must be -1 or >= 0, got size[{i}] = {s}")
                out.append(s)
            elif in_dims[i] is None or begin[i] is None:
                out.append(None)
            elif in_dims[i] < begin[i]:
                raise ValueError(f"Negative dimension size caused by subtracting {begin[i]} from "
                                 f"{in_dims[i]} (begin[{i}] is past the end of input {_fmt(in_dims)})")
            else:
                out.append(in_dims[i] - begin[i])
        return [TensorShape(out)]
    size_dims = _shape_tensor_dims(op.inputs[2], "size")
    if size_dims is not None:
        return [TensorShape(size_dims)]
    return [TensorShape(None if in_dims is None else [None] * len(in_dims))]


def _slice_kernel(ctx, x, begin, size):
    if begin.ndim != 1 or size.ndim != 1 or begin.size != x.ndim or size.size != x.ndim:
        raise ctx.error(f"Expected begin and size arguments to be 1-D tensors of size {x.ndim}, but got "
                        f"shapes {list(begin.shape)} and {list(size.shape)} instead.")
    index = []
    for i, (b, s, d) in enumerate(zip(begin.tolist(), size.tolist(), x.shape)):
        if s == -1:
            s = d - b
        if not 0 <= b <= d:
            raise ctx.error(f"Expected begin[{i}] in [0, {d}], but got {b}")
        if not 0 <= s <= d - b:
            raise ctx.error(f"Expected size[{i}] in [0, {d - b}], but got {s}")
        index.append(_PySlice(b, b + s))
    return x[tuple(index)]


register_op("Slice", inputs=["input: T", "begin: Index", "size: Index"], outputs=["output: T"],
            attrs=["T: type", "Index: {int32, int64}"], shape=_slice_shape, cpu=_slice_kernel,
            host_memory=("begin", "size"))


# -- StridedSlice ------------------------------------------------------------------------------
_NEW_AXIS, _SHRINK_AXIS = -1, -2


def strided_slice_spec(in_dims, begin, end, strides, begin_mask=0, end_mask=0, ellipsis_mask=0,
                       new_axis_mask=0, shrink_axis_mask=0):
    """A port of TF's ``ValidateStridedSliceOp`` (strided_slice_op.cc).

    ``in_dims``: the input's dims (ints, None where unknown); ``begin``/``end``: lists of ints, or None
    when not known statically; ``strides``: a list of ints. Returns ``(processing, final, dense_begin,
    dense_end, dense_strides, is_identity)`` where ``processing`` has one (clamped) size per input
    dim and ``final`` is the output shape (shrunk and new axes applied). Raises ValueError.

    Example:
        >>> strided_slice_spec([5, 4], [0, 1], [0, 0], [-2, 1], begin_mask=1, end_mask=3)[1]
        [3, 3]
    """
    n = len(strides)
    if (begin is not None and len(begin) != n) or (end is not None and len(end) != n) or n >= 32:
        raise ValueError(f"Expected begin, end, and strides to be 1D equal size tensors (of fewer than 32 "
                         f"elements), but got lengths {None if begin is None else len(begin)}, "
                         f"{None if end is None else len(end)} and {n}")
    if ellipsis_mask & (ellipsis_mask - 1):
        raise ValueError("Multiple ellipses in slice spec not allowed")
    # Step 1: count new axes after the ellipsis; with no ellipsis, imply one at the end.
    seen, add_after_ellipsis = False, 0
    for i in range(n):
        if seen and (1 << i) & new_axis_mask:
            add_after_ellipsis += 1
        if (1 << i) & ellipsis_mask:
            seen = True
    sparse_dims = n
    if not seen:
        ellipsis_mask |= 1 << n
        sparse_dims += 1
    # Step 2: the sparse spec (one entry per index in the slice) → a dense one (one per input dim).
    dims = len(in_dims)
    d_begin, d_end, d_strides = [0] * dims, [0] * dims, [1] * dims
    d_begin_mask = d_end_mask = d_shrink = 0
    gather = []  # per output dim: the dense dim it comes from, or _NEW_AXIS / _SHRINK_AXIS
    full = 0
    for i in range(sparse_dims):
        bit = 1 << i
        if bit & ellipsis_mask:
            stop = min(dims - (sparse_dims - i) + 1 + add_after_ellipsis, dims)
            while full < stop:
                d_begin_mask |= 1 << full
                d_end_mask |= 1 << full
                gather.append(full)
                full += 1
        elif bit & new_axis_mask:
            gather.append(_NEW_AXIS)
        else:
            if full == dims:
                if dims == 0:
                    raise ValueError("Attempting to slice scalar input.")
                raise ValueError(f"Index out of range using input dim {full}; input has only {dims} dims")
            if begin is not None:
                d_begin[full] = int(begin[i])
            if end is not None:
                d_end[full] = int(end[i])
            d_strides[full] = int(strides[i])
            if begin_mask & bit:
                d_begin_mask |= 1 << full
            if end_mask & bit:
                d_end_mask |= 1 << full
            if shrink_axis_mask & bit:
                gather.append(_SHRINK_AXIS)
                d_shrink |= 1 << full
            else:
                gather.append(full)
            full += 1
    # Step 3: make the masked ranges explicit, clamp out-of-range bounds, compute the sizes.
    valid = begin is not None and end is not None
    is_identity = True
    processing = []
    for i in range(dims):
        b, e, s, dim = d_begin[i], d_end[i], d_strides[i], in_dims[i]
        if s == 0:
            raise ValueError(f"strides[{i}] must be non-zero")
        shrink = bool(d_shrink & (1 << i))
        if dim is None:
            processing.append(1 if shrink else None)
            is_identity = False
            continue
        masked = (bool(d_begin_mask & (1 << i)), bool(d_end_mask & (1 << i)))
        lo, hi = (0, dim) if s > 0 else (-1, dim - 1)

        def canonical(x, c):
            if masked[c]:
                return (lo, hi)[c] if s > 0 else (lo, hi)[(c + 1) & 1]
            x_fwd = dim + x if x < 0 else x
            return lo if x_fwd < lo else hi if x_fwd > hi else x_fwd

        if shrink and s <= 0:
            raise ValueError("only stride 1 allowed on non-range indexing.")
        if valid:
            if shrink:
                x_fwd = dim + b if b < 0 else b
                if x_fwd < 0 or x_fwd >= dim:
                    raise ValueError(f"slice index {b} of dimension {i} out of bounds.")
                b, e = x_fwd, x_fwd + 1
            else:
                b, e = canonical(b, 0), canonical(e, 1)
            d_begin[i], d_end[i] = b, e
            is_identity &= s == 1 and b == 0 and e == dim
        else:
            is_identity &= s == 1 and all(masked)
        if valid:
            length = e - b
        elif shrink:
            length = 1
        elif all(masked):
            length = -dim if s < 0 else dim
        else:
            processing.append(None)
            continue
        if length == 0 or (length < 0) != (s < 0):
            processing.append(0)
        else:  # same signs: floor division equals C's truncation here
            processing.append(length // s + (1 if length % s else 0))
    # Step 4: the final shape — shrunk dims dropped, new axes of size 1 added.
    final = [processing[g] if g >= 0 else 1 for g in gather if g != _SHRINK_AXIS]
    return processing, final, d_begin, d_end, d_strides, is_identity


def _strided_slice_masks(get):
    return {k: get(k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                "shrink_axis_mask")}


def _strided_slice_shape(op):
    in_dims = _dims(op.inputs[0].shape)
    lengths = set()
    for i, what in ((1, "begin"), (2, "end"), (3, "strides")):
        _check_rank(op.inputs[i].shape, 1, f"StridedSlice's {what}")
        d = _dims(op.inputs[i].shape)
        if d is not None and d[0] is not None:
            lengths.add(d[0])
    if len(lengths) > 1:
        raise ValueError(f"begin, end and strides must have the same length, got "
                         f"{[str(t.shape) for t in op.inputs[1:]]}")
    strides = constant_value(op.inputs[3])
    if in_dims is None or not lengths or strides is None:
        return [TensorShape(None)]
    begin, end = constant_value(op.inputs[1]), constant_value(op.inputs[2])
    final = strided_slice_spec(
        in_dims, None if begin is None else begin.tolist(), None if end is None else end.tolist(),
        strides.tolist(), **_strided_slice_masks(op.get_attr))[1]
    return [TensorShape(final)]


def _strided_slice_plan(ctx, x, begin, end, strides):
    if not (begin.ndim == end.ndim == strides.ndim == 1 and begin.size == end.size == strides.size):
        raise ctx.error(f"Expected begin, end, and strides to be 1D equal size tensors, but got shapes "
                        f"{list(begin.shape)}, {list(end.shape)}, and {list(strides.shape)} instead.")
    try:
        processing, final, b, e, s, identity = strided_slice_spec(
            list(x.shape), begin.tolist(), end.tolist(), strides.tolist(),
            **_strided_slice_masks(ctx.attrs.__getitem__))
    except ValueError as err:
        raise ctx.error(str(err)) from None
    index = []
    for size, bi, ei, si in zip(processing, b, e, s):
        if size == 0:
            index.append(_PySlice(0, 0))
        else:  # with a negative stride, a clamped end of -1 means "past index 0"
            index.append(_PySlice(bi, None if ei < 0 else ei, si))
    return None if identity else tuple(index), tuple(final)


def _strided_slice_kernel(ctx, x, begin, end, strides):
    key = (x.shape, begin.tobytes(), end.tobytes(), strides.tobytes())
    plan = ctx.cache.get(key)
    if plan is None:
        plan = _strided_slice_plan(ctx, x, begin, end, strides)
        if len(ctx.cache) >= 64:  # varying begin/end values (a loop index): keep the cache small
            ctx.cache.clear()
        ctx.cache[key] = plan
    index, final = plan
    return (x if index is None else x[index]).reshape(final)


def _vector_slice(op, elems):
    """Applies a StridedSlice ``op`` (constant begin/end/strides) to ``elems``, the partially known
    elements of its 1-D input: a list for a range, one element for a shrunk index, None if unknown."""
    consts = [constant_value(t) for t in op.inputs[1:]]
    if any(c is None or c.ndim != 1 for c in consts):
        return None
    try:
        processing, final, b, e, s, _ = strided_slice_spec(
            [len(elems)], *(c.tolist() for c in consts), **_strided_slice_masks(op.get_attr))
    except ValueError:
        return None
    if len(final) > 1:  # new axes: not a shape vector any more
        return None
    picked = [] if processing[0] == 0 else elems[b[0]:None if e[0] < 0 else e[0]:s[0]]
    return picked if final else picked[0]


def strided_slice_as_shape(op):
    """``constant_value_as_shape`` of a StridedSlice of a shape vector, e.g. ``tf.shape(x)[1:]`` gives
    ``x.shape[1:]`` even when other dims of ``x`` are unknown (TF's C++ shape refiner does this).
    Returns a TensorShape, or None when not computable."""
    from gpugraph.framework.op_builder import constant_value_as_shape
    if op.inputs[0].shape.ndims != 1 or op.inputs[0].shape.as_list()[0] is None:
        return None
    picked = _vector_slice(op, _dims(constant_value_as_shape(op.inputs[0])))
    return TensorShape(picked) if isinstance(picked, list) else None


def strided_slice_constant_value(op):
    """``constant_value`` of a StridedSlice: sliced constants, or one known element of a partially
    known shape vector (``tf.shape(x)[1]`` with ``x.shape[1]`` static). None when not computable."""
    from gpugraph.framework.op_builder import constant_value_as_shape
    value = constant_value(op.inputs[0])
    consts = [constant_value(t) for t in op.inputs[1:]]
    # Only small constants (shape-like values): larger ones are not worth slicing at build time.
    if value is not None and value.size <= 4096 and all(c is not None for c in consts):
        try:
            processing, final, b, e, s, _ = strided_slice_spec(
                list(value.shape), *(c.tolist() for c in consts), **_strided_slice_masks(op.get_attr))
        except ValueError:
            return None
        index = tuple(_PySlice(0, 0) if n == 0 else _PySlice(bi, None if ei < 0 else ei, si)
                      for n, bi, ei, si in zip(processing, b, e, s))
        return value[index].reshape(final)
    if op.inputs[0].shape.ndims != 1 or op.inputs[0].shape.as_list()[0] is None:
        return None
    picked = _vector_slice(op, _dims(constant_value_as_shape(op.inputs[0])))
    if picked is None or (isinstance(picked, list) and None in picked):
        return None
    return np.array(picked, dtype=op.inputs[0].dtype.base_dtype.as_numpy_dtype)


register_op("StridedSlice", inputs=["input: T", "begin: Index", "end: Index", "strides: Index"],
            outputs=["output: T"],
            attrs=["T: type", "Index: {int16, int32, int64}", "begin_mask: int = 0", "end_mask: int = 0",
                   "ellipsis_mask: int = 0", "new_axis_mask: int = 0", "shrink_axis_mask: int = 0"],
            shape=_strided_slice_shape, cpu=_strided_slice_kernel,
            host_memory=("begin", "end", "strides"))


# -- GatherV2 ----------------------------------------------------------------------------------
def _gather_shape(op):
    params, indices = _dims(op.inputs[0].shape), _dims(op.inputs[1].shape)
    if params is not None and not params:
        raise ValueError("params must be at least rank 1 (GatherV2 of a scalar)")
    _check_rank(op.inputs[2].shape, 0, "GatherV2's axis")
    batch_dims = op.get_attr("batch_dims")
    axis = _int_value(op.inputs[2])
    if axis is None or params is None or indices is None:
        if params is not None and indices is not None:
            bd = batch_dims + len(indices) if batch_dims < 0 else batch_dims
            return [TensorShape([None] * (len(params) + len(indices) - 1 - bd))]
        return [TensorShape(None)]
    axis = _normalize_axis(axis, len(params), "GatherV2 axis")
    if not -len(indices) <= batch_dims <= len(indices):
        raise ValueError(f"batch_dims {batch_dims} must be in [{-len(indices)}, {len(indices)}] for "
                         f"indices of shape {_fmt(indices)}")
    if batch_dims < 0:
        batch_dims += len(indices)
    if batch_dims >= len(params):
        raise ValueError(f"batch_dims ({batch_dims}) must be less than rank(params) ({len(params)})")
    if batch_dims > axis:
        raise ValueError(f"batch_dims ({batch_dims}) must be less than or equal to axis ({axis})")
    return [TensorShape(params[:axis] + indices[batch_dims:] + params[axis + 1:])]


def _gather_kernel(ctx, params, indices, axis):
    if axis.size != 1:
        raise ctx.error(f"axis must be scalar, got shape {list(axis.shape)}")
    a = int(axis.reshape(-1)[0])
    if not -params.ndim <= a < params.ndim:
        raise ctx.error(f"Expected axis in the range [{-params.ndim}, {params.ndim}), but got {a}")
    a %= params.ndim
    bd = ctx.attrs["batch_dims"]
    if bd < 0:
        bd += indices.ndim
    if not 0 <= bd <= indices.ndim or bd >= params.ndim or bd > a:
        raise ctx.error(f"batch_dims ({ctx.attrs['batch_dims']}) must be in [-{indices.ndim}, "
                        f"{indices.ndim}], less than rank(params) ({params.ndim}) and at most axis ({a})")
    for i in range(bd):
        if params.shape[i] != indices.shape[i]:
            raise ctx.error(f"params.shape[{i}]: {params.shape[i]} should be equal to "
                            f"indices.shape[{i}]: {indices.shape[i]}")
    n = params.shape[a]
    bad = (indices < 0) | (indices >= n)
    if bad.any():
        pos = np.unravel_index(int(np.argmax(bad)), indices.shape)
        where = "[" + ",".join(str(int(p)) for p in pos) + "]" if indices.ndim else ""
        raise ctx.error(f"indices{where} = {int(indices[pos])} is not in [0, {n})")
    if bd == 0:
        return np.take(params, indices, axis=a)
    batch, outer, inner = params.shape[:bd], params.shape[bd:a], params.shape[a + 1:]
    nb, ni = math.prod(batch), math.prod(indices.shape[bd:])
    p = params.reshape(nb, math.prod(outer), n, math.prod(inner)).transpose(0, 2, 1, 3)
    # p[b, idx[b, i]] for all b, i: advanced indexing yields [nb, ni, outer, inner].
    r = p[np.arange(nb)[:, None], indices.reshape(nb, ni)]
    return r.transpose(0, 2, 1, 3).reshape(batch + outer + indices.shape[bd:] + inner)


register_op("GatherV2", inputs=["params: Tparams", "indices: Tindices", "axis: Taxis"],
            outputs=["output: Tparams"],
            attrs=["batch_dims: int = 0", "Tparams: type", "Tindices: {int16, int32, int64}",
                   "Taxis: {int32, int64}"],
            shape=_gather_shape, cpu=_gather_kernel, host_memory=("axis",))


# -- API ---------------------------------------------------------------------------------------
def slice_(input_, begin, size, name=None):
    """Extracts ``input_[begin[i] : begin[i] + size[i]]`` per dim; a size of -1 means "to the end".

    Example:
        >>> tf.slice(tf.zeros([4, 5]), [1, 2], [-1, 2]).shape.as_list()
        [3, 2]
    """
    return apply_op("Slice", input=input_, begin=_shape_arg(begin), size=_shape_arg(size), name=name)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """Python-style extended slicing with explicit bounds and masks (what ``t[...]`` builds).

    Example:
        >>> tf.strided_slice(tf.zeros([5, 4]), [0, 1], [0, 0], [-2, 1],
        ...                  begin_mask=1, end_mask=3).shape.as_list()
        [3, 3]
    """
    if strides is None:
        strides = ones_like(begin)
    op = apply_op("StridedSlice", input=input_, begin=_shape_arg(begin), end=_shape_arg(end),
                  strides=_shape_arg(strides), begin_mask=begin_mask, end_mask=end_mask,
                  ellipsis_mask=ellipsis_mask, new_axis_mask=new_axis_mask,
                  shrink_axis_mask=shrink_axis_mask, name=name)
    if var is not None and hasattr(var, "_strided_slice_assign"):
        parent_name = op.op.name

        def assign(val, name=None):
            return var._strided_slice_assign(
                begin=begin, end=end, strides=strides, value=val,
                name=name or parent_name + "_assign", begin_mask=begin_mask, end_mask=end_mask,
                ellipsis_mask=ellipsis_mask, new_axis_mask=new_axis_mask,
                shrink_axis_mask=shrink_axis_mask)

        op.assign = assign
    return op


def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """Gathers slices of ``params`` along ``axis`` at ``indices`` (GatherV2).

    Example:
        >>> tf.gather(tf.zeros([4, 5]), [[0, 2]], axis=1).shape.as_list()
        [4, 1, 2]
    """
    del validate_indices  # indices are always validated on the host kernels
    if axis is None:
        axis = batch_dims
    axis_value = _int_value(axis) if isinstance(axis, ops.Tensor) else axis
    if isinstance(axis_value, (int, np.integer)) and axis_value == 0:
        return apply_op("GatherV2", params=params, indices=_shape_arg(indices), axis=axis, name=name)
    return apply_op("GatherV2", params=params, indices=_shape_arg(indices), axis=axis,
                    batch_dims=batch_dims, name=name)


# -- Tensor.__getitem__ ------------------------------------------------------------------------
_SLICE_TYPE_ERROR = ("Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and scalar "
                     "tf.int32/tf.int64 tensors are valid indices")
_INDEX_DTYPES = (dtypes.int16, dtypes.int32, dtypes.int64)


def _is_undefined_dimension(d):
    return isinstance(d, tensor_shape.Dimension) and d.value is None


def _check_index(idx):
    if isinstance(idx, (numbers.Integral, tensor_shape.Dimension)):
        return
    dtype = getattr(idx, "dtype", None)
    if (dtype is None or dtypes.as_dtype(dtype).base_dtype not in _INDEX_DTYPES
            or (getattr(idx, "shape", None) is not None and len(idx.shape or ()) == 1)):
        raise TypeError(f"{_SLICE_TYPE_ERROR}, got {idx!r}")


def _slice_helper(tensor, slice_spec, var=None):
    """``tensor[slice_spec]``: ints, slices (with steps), ``...``, ``None`` and scalar int tensors.

    Example:
        >>> x = tf.zeros([6, 4, 5])
        >>> x[::-2, ..., 1:, None].shape.as_list()
        [3, 4, 4, 1]
    """
    tensor = convert_to_tensor(tensor)
    if (isinstance(slice_spec, bool)
            or (isinstance(slice_spec, ops.Tensor) and slice_spec.dtype == dtypes.bool)
            or (isinstance(slice_spec, np.ndarray) and slice_spec.dtype == bool)):
        import gpugraph
        if not hasattr(gpugraph, "boolean_mask"):
            raise TypeError("indexing with a boolean mask needs tf.boolean_mask, which gpugraph does "
                            "not provide")
        return gpugraph.boolean_mask(tensor=tensor, mask=slice_spec)
    if not isinstance(slice_spec, (list, tuple)):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    begin_mask = end_mask = ellipsis_mask = new_axis_mask = shrink_axis_mask = 0
    for index, s in enumerate(slice_spec):
        if isinstance(s, _PySlice):
            dtype = None  # tensors among start/stop/step set the index dtype of the filler values
            for t in (s.start, s.stop, s.step):
                if isinstance(t, ops.Tensor):
                    if t.dtype == dtypes.int64:
                        dtype = dtypes.int64
                    elif t.dtype == dtypes.int32 and dtype != dtypes.int64:
                        dtype = dtypes.int32
                    elif t.dtype == dtypes.int16 and dtype is None:
                        dtype = dtypes.int16
            for value, out, mask_default in ((s.start, begin, 0), (s.stop, end, 0), (s.step, strides, 1)):
                if value is not None and not _is_undefined_dimension(value):
                    _check_index(value)
                    out.append(value)
                else:
                    out.append(mask_default if dtype is None else constant(mask_default, dtype=dtype))
                    if out is begin:
                        begin_mask |= 1 << index
                    elif out is end:
                        end_mask |= 1 << index
        elif s is Ellipsis or s is None:
            begin.append(0)
            end.append(0)
            strides.append(1)
            if s is Ellipsis:
                ellipsis_mask |= 1 << index
            else:
                new_axis_mask |= 1 << index
        else:
            _check_index(s)
            begin.append(s)
            end.append(s + 1)
            if isinstance(s, ops.Tensor) and s.dtype in (dtypes.int16, dtypes.int64):
                strides.append(constant(1, dtype=s.dtype))
            else:
                strides.append(1)
            shrink_axis_mask |= 1 << index
    with ops.name_scope(None, "strided_slice", [tensor]) as name:
        if begin:
            packed = [stack(v) for v in (begin, end, strides)]
            if any(p.dtype == dtypes.int64 for p in packed):
                packed = [p if p.dtype == dtypes.int64 else
                          apply_op("Cast", x=p, DstT=dtypes.int64, Truncate=False) for p in packed]
        else:
            empty = constant([], dtype=dtypes.int32)
            packed = [empty] * 3
        return strided_slice(tensor, *packed, begin_mask=begin_mask, end_mask=end_mask,
                             shrink_axis_mask=shrink_axis_mask, new_axis_mask=new_axis_mask,
                             ellipsis_mask=ellipsis_mask, var=var, name=name)


ops.Tensor._override_operator("__getitem__", _slice_helper)

EXPORTS = {
    "": ["slice=slice_", "strided_slice", "gather"],
}
