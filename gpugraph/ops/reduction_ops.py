"""Reductions — Sum, Mean, Max, Min, Prod, All, Any, ArgMax, ArgMin — and the ``reduce_*``,
``argmax``/``argmin`` and ``count_nonzero`` API functions.

Semantics follow TensorFlow's CPU kernels: ``reduction_indices`` may be a scalar or a vector,
negative, or empty (no reduction); duplicates and out-of-range axes are InvalidArgument errors.
Integer sums and products wrap in the input type; the integer Mean accumulates in 64 bits and
truncates toward zero; Max/Min of an empty set give the type's lowest/highest value; ArgMax/ArgMin
return the first index among ties and skip NaNs. Half and bfloat16 accumulate in float32.

Example:
    >>> x = tf.constant([[1, 2, 3], [4, 5, 6]])
    >>> s, m, a = tf.reduce_sum(x, -1), tf.reduce_mean(x), tf.argmax(x, axis=1)
    >>> # Session.run gives: s = [6, 15] (int32), m = 3 (21 // 6), a = [2, 2] (int64)
"""

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant, constant_value, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops.unary_ops import _LOW_PRECISION, _fmt_shape, cast

TensorShape = tensor_shape.TensorShape

_NUMBER = "numbertype"
_REAL_OR_QUANTIZED = "{realnumbertype, quantizedtype}"
_TIDX = "Tidx: {int32, int64} = DT_INT32"


# -- shape functions -------------------------------------------------------------------------------
def _reduction_shape(op):
    """TensorFlow's ReductionShape: exact when the axes are static, else rank-only or unknown."""
    x, axes_t = op.inputs
    if axes_t.shape.ndims is not None and axes_t.shape.ndims > 1:
        raise ValueError(f"Shape must be at most rank 1 but is rank {axes_t.shape.ndims} for "
                         "reduction_indices")
    keep_dims = op.get_attr("keep_dims")
    axes = constant_value(axes_t)
    rank = x.shape.ndims
    if axes is None or rank is None:
        if keep_dims and rank is not None:
            return [TensorShape([None] * rank)]
        return [TensorShape(None)]
    reduced = set()
    for a in np.asarray(axes).reshape(-1).tolist():
        if not -rank <= a < rank:
            raise ValueError(f"Invalid reduction dimension {a} for input with {rank} dimensions.")
        reduced.add(a % rank)
    dims = x.shape.as_list()
    out = [1 if i in reduced else d for i, d in enumerate(dims) if keep_dims or i not in reduced]
    return [TensorShape(out)]


def _arg_shape(op):
    x, dim_t = op.inputs
    if dim_t.shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {dim_t.shape.ndims} for 'dimension'")
    rank = x.shape.ndims
    if rank is None:
        return [TensorShape(None)]
    if rank <= 1:
        return [TensorShape([])]
    dim = constant_value(dim_t)
    if dim is None:
        return [TensorShape([None] * (rank - 1))]
    dim = int(dim)
    if not -rank <= dim < rank:
        raise ValueError(f"Dimension ({dim}) must be in the range [{-rank}, {rank}), where {rank} is "
                         "the number of dimensions in the input.")
    dim %= rank
    return [TensorShape([d for i, d in enumerate(x.shape.as_list()) if i != dim])]


# -- kernels ---------------------------------------------------------------------------------------
def _axes(ctx, x, reduction_indices):
    """Validated, normalised axes as a sorted tuple (cached per distinct axes value)."""
    key = (x.ndim, reduction_indices.tobytes(), reduction_indices.dtype.str)
    cached = ctx.cache.get("axes")
    if cached is not None and cached[0] == key:
        return cached[1]
    if reduction_indices.ndim > 1:
        raise ctx.error(f"reduction_indices must be at most rank 1, got shape "
                        f"{_fmt_shape(reduction_indices.shape)}")
    rank = x.ndim
    seen = []
    for a in reduction_indices.reshape(-1).tolist():
        if not -rank <= a < rank:
            raise ctx.error(f"Invalid reduction dimension ({a} for input with {rank} dimension(s)")
        a %= rank
        if a in seen:
            raise ctx.error(f"Invalid reduction arguments: Axes contains duplicate dimension: {a}")
        seen.append(a)
    axes = tuple(sorted(seen))
    ctx.cache["axes"] = (key, axes)
    return axes


def _reducer(reduce):
    """Builds a kernel from ``reduce(x, axes, keepdims) -> array`` with axes validation."""
    def kernel(ctx, x, reduction_indices):
        x = np.asarray(x)
        axes = _axes(ctx, x, np.asarray(reduction_indices))
        return reduce(x, axes, ctx.attrs["keep_dims"])
    return kernel


def _accumulation_dtype(dtype):
    return np.float32 if dtype in _LOW_PRECISION else dtype


def _sum(x, axes, keep):
    return np.sum(x, axis=axes, dtype=_accumulation_dtype(x.dtype), keepdims=keep).astype(x.dtype, copy=False)


def _prod(x, axes, keep):
    return np.prod(x, axis=axes, dtype=_accumulation_dtype(x.dtype), keepdims=keep).astype(x.dtype)


def _mean(x, axes, keep):
    if x.dtype.kind not in "iu":
        return np.mean(x, axis=axes, dtype=_accumulation_dtype(x.dtype), keepdims=keep).astype(x.dtype)
    # TF sums integers in 64 bits and divides with C truncation; an empty mean is 0.
    wide = np.int64 if x.dtype.kind == "i" else np.uint64
    total = np.sum(x, axis=axes, dtype=wide, keepdims=keep)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if count == 0:
        return np.zeros_like(total).astype(x.dtype)
    q = np.floor_divide(total, count)
    if x.dtype.kind == "i":
        q = q + ((q * count != total) & (total < 0))
    return np.asarray(q).astype(x.dtype)


def _extremum(np_fn, empty_value):
    def reduce(x, axes, keep):
        if x.size == 0:  # TF returns the reduction's identity for an empty set
            return np_fn(x, axis=axes, keepdims=keep, initial=empty_value(x.dtype))
        return np_fn(x, axis=axes, keepdims=keep)
    return reduce


def _lowest(dtype):
    return np.iinfo(dtype).min if dtype.kind in "iu" else -np.inf


def _highest(dtype):
    return np.iinfo(dtype).max if dtype.kind in "iu" else np.inf


def _register_reduction(name, types, reduce, input_type="T"):
    attrs = ["keep_dims: bool = false", *([f"T: {types}"] if types else []), _TIDX]
    register_op(name, inputs=[f"input: {input_type}", "reduction_indices: Tidx"],
                outputs=[f"output: {input_type}"], attrs=attrs, shape=_reduction_shape,
                cpu=_reducer(reduce), host_memory=("reduction_indices",))


_register_reduction("Sum", _NUMBER, _sum)
_register_reduction("Mean", _NUMBER, _mean)
_register_reduction("Prod", _NUMBER, _prod)
_register_reduction("Max", _REAL_OR_QUANTIZED, _extremum(np.max, _lowest))
_register_reduction("Min", _REAL_OR_QUANTIZED, _extremum(np.min, _highest))
_register_reduction("All", None, lambda x, axes, keep: np.all(x, axis=axes, keepdims=keep),
                    input_type="bool")
_register_reduction("Any", None, lambda x, axes, keep: np.any(x, axis=axes, keepdims=keep),
                    input_type="bool")


def _arg_kernel(np_fn, nan_fill):
    def kernel(ctx, x, dimension):
        x = np.asarray(x)
        if np.ndim(dimension) != 0:
            raise ctx.error(f"dimension must be a scalar, got shape {_fmt_shape(np.shape(dimension))}")
        dim = int(dimension)
        rank = x.ndim
        if not -rank <= dim < rank:
            lo = -rank if rank else 0
            raise ctx.error(f"Expected dimension in the range [{lo}, {rank}), but got {dim}")
        dim %= rank
        if x.shape[dim] == 0:
            raise ctx.error(f"Reduction axis {dim} is empty in shape {_fmt_shape(x.shape)}")
        if x.dtype.kind == "f" or x.dtype in _LOW_PRECISION:
            nan = np.isnan(x)
            if nan.any():  # TF's comparisons never select a NaN
                x = np.where(nan, nan_fill, x)
        return np_fn(x, axis=dim).astype(ctx.output_dtypes[0])
    return kernel


_ARG_T = "{realnumbertype, quantizedtype, bool}"
register_op("ArgMax", inputs=["input: T", "dimension: Tidx"], outputs=["output: output_type"],
            attrs=[f"T: {_ARG_T}", "Tidx: {int16, int32, int64} = DT_INT32",
                   "output_type: {int16, uint16, int32, int64} = DT_INT64"],
            shape=_arg_shape, cpu=_arg_kernel(np.argmax, -np.inf), host_memory=("dimension",))
register_op("ArgMin", inputs=["input: T", "dimension: Tidx"], outputs=["output: output_type"],
            attrs=[f"T: {_ARG_T}", _TIDX, "output_type: {int32, int64} = DT_INT64"],
            shape=_arg_shape, cpu=_arg_kernel(np.argmin, np.inf), host_memory=("dimension",))


# -- API -------------------------------------------------------------------------------------------
def _deprecated_alias(new_name, new, old_name, old):
    if old is not None:
        if new is not None:
            raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'")
        return old
    return new


def _reduction_dims(x, axis):
    """The reduction_indices input: ``axis`` as an int32 tensor, or every axis when None."""
    if axis is not None:
        if isinstance(axis, ops.Tensor) or hasattr(axis, "_as_graph_element"):
            return axis
        value = np.asarray(axis)
        if value.size == 0 or value.dtype.kind not in "iu":
            value = value.astype(np.int32)
        elif value.dtype != np.int64 or (value.min() >= -2**31 and value.max() < 2**31):
            value = value.astype(np.int32)
        return value
    rank = x.shape.ndims
    if rank is not None:
        return constant(np.arange(rank, dtype=np.int32))
    from gpugraph.ops.select_ops import range as range_
    return range_(0, apply_op("Rank", input=x))


def _reduce(op_type, input_tensor, axis, keepdims, name):
    keepdims = False if keepdims is None else bool(keepdims)
    x = convert_to_tensor(input_tensor, dtype_hint=dtypes.bool if op_type in ("All", "Any") else None)
    out = apply_op(op_type, input=x, reduction_indices=_reduction_dims(x, axis), keep_dims=keepdims,
                   name=name)
    if axis is None and not keepdims and not out.shape.is_fully_defined():
        out.set_shape([])  # reducing everything gives a scalar even when the rank is unknown
    return out


def _make_reduce(op_type, public_name, summary, example):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
        axis = _deprecated_alias("axis", axis, "reduction_indices", reduction_indices)
        keepdims = _deprecated_alias("keepdims", keepdims, "keep_dims", keep_dims)
        return _reduce(op_type, input_tensor, axis, keepdims, name)
    fn.__name__ = fn.__qualname__ = public_name
    fn.__doc__ = (f"{summary} over ``axis`` (all axes when None; negative axes count from the end; "
                  f"``keepdims`` keeps reduced axes as size 1). ``reduction_indices`` and "
                  f"``keep_dims`` are the deprecated v1 spellings. Op: {op_type}.\n\n"
                  f"Example:\n    >>> {example}\n")
    return fn


reduce_sum = _make_reduce("Sum", "reduce_sum", "Sum of elements",
                          "tf.reduce_sum([[1, 2], [3, 4]], axis=-1)     # -> [3, 7]")
reduce_mean = _make_reduce("Mean", "reduce_mean", "Mean of elements (integer division for ints)",
                           "tf.reduce_mean([[1., 2.], [3., 4.]])      # -> 2.5")
reduce_max = _make_reduce("Max", "reduce_max", "Maximum",
                          "tf.reduce_max([[1, 5], [3, 4]], axis=0)     # -> [3, 5]")
reduce_min = _make_reduce("Min", "reduce_min", "Minimum",
                          "tf.reduce_min([[1, 5], [3, 4]], axis=1)     # -> [1, 3]")
reduce_prod = _make_reduce("Prod", "reduce_prod", "Product of elements",
                           "tf.reduce_prod([2, 3, 4])                   # -> 24")
reduce_all = _make_reduce("All", "reduce_all", "Logical AND",
                          "tf.reduce_all([[True, False]], axis=1)      # -> [False]")
reduce_any = _make_reduce("Any", "reduce_any", "Logical OR",
                          "tf.reduce_any([[True, False]], axis=1)      # -> [True]")


def _arg(op_type, input, axis, output_type, name):  # noqa: A002
    if axis is None:
        axis = 0
    if hasattr(axis, "dtype"):
        axis_dtype = dtypes.as_dtype(axis.dtype).base_dtype
        if axis_dtype not in (dtypes.int8, dtypes.uint8, dtypes.int16, dtypes.uint16, dtypes.int32,
                              dtypes.int64):
            raise TypeError(f"axis tensor dtypes {axis_dtype} is not supported")
        if axis_dtype in (dtypes.int8, dtypes.int16, dtypes.uint8, dtypes.uint16):
            axis = cast(axis, dtypes.int32)
    elif not isinstance(axis, (int, np.integer)):
        raise TypeError("axis must be int or Tensor with integer datatype")
    return apply_op(op_type, input=input, dimension=axis, output_type=dtypes.as_dtype(output_type),
                    name=name)


def argmax(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    """Index of the largest value along ``axis`` (default 0; ``dimension`` is the v1 alias); the
    first index wins ties. Op: ArgMax.

    Example:
        >>> tf.argmax([[1, 9, 9], [7, 0, 2]], axis=1)     # -> [1, 0] (int64)
    """
    axis = _deprecated_alias("axis", axis, "dimension", dimension)
    return _arg("ArgMax", input, axis, output_type, name)


def argmin(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    """Index of the smallest value along ``axis`` (default 0); the first index wins ties. Op: ArgMin.

    Example:
        >>> tf.argmin([3, 1, 1])          # -> 1
    """
    axis = _deprecated_alias("axis", axis, "dimension", dimension)
    return _arg("ArgMin", input, axis, output_type, name)


def arg_max(input, dimension, output_type=dtypes.int64, name=None):  # noqa: A002
    """The raw ArgMax op (``tf.compat.v1.arg_max``)."""
    return apply_op("ArgMax", input=input, dimension=dimension,
                    output_type=dtypes.as_dtype(output_type), name=name)


def arg_min(input, dimension, output_type=dtypes.int64, name=None):  # noqa: A002
    """The raw ArgMin op (``tf.compat.v1.arg_min``)."""
    return apply_op("ArgMin", input=input, dimension=dimension,
                    output_type=dtypes.as_dtype(output_type), name=name)


def count_nonzero(input_tensor=None, axis=None, keepdims=None, dtype=dtypes.int64, name=None,
                  reduction_indices=None, keep_dims=None, input=None):  # noqa: A002
    """Number of non-zero elements along ``axis``, as ``dtype`` (NotEqual, Cast, Sum, Cast).

    Example:
        >>> tf.count_nonzero([[0, 1, 2], [0, 0, 3]], axis=1)     # -> [2, 1]
    """
    keepdims = _deprecated_alias("keepdims", keepdims, "keep_dims", keep_dims)
    input_tensor = _deprecated_alias("input_tensor", input_tensor, "input", input)
    axis = _deprecated_alias("axis", axis, "reduction_indices", reduction_indices)
    with ops.name_scope(name, "count_nonzero", [input_tensor]):
        x = convert_to_tensor(input_tensor, name="input")
        if x.dtype.base_dtype == dtypes.bool:
            predicate = x
        else:
            zero = constant(np.zeros((), x.dtype.base_dtype.as_numpy_dtype), name="zeros")
            predicate = apply_op("NotEqual", x=x, y=zero)
        counts = _reduce("Sum", cast(predicate, dtypes.int64), axis, keepdims, None)
        return cast(counts, dtype)


EXPORTS = {
    "": ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_all",
         "reduce_any", "argmax", "argmin", "arg_max", "arg_min", "count_nonzero"],
    "math": ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_all",
             "reduce_any", "argmax", "argmin", "count_nonzero"],
}
