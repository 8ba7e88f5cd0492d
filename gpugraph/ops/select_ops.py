"""Select, SelectV2, Where and Range — their declarations, NumPy kernels and the ``where``,
``where_v2`` and ``range`` API functions.

``Select`` keeps TensorFlow-1 semantics: the condition is a scalar (picks one whole input), has the
inputs' shape (elementwise), or is a vector choosing whole rows of higher-rank inputs. ``SelectV2``
broadcasts all three inputs.

Example:
    >>> c = tf.constant([True, False])
    >>> tf.Session().run(tf.where(c, [[1, 2], [3, 4]], [[0, 0], [0, 0]])).tolist()
    [[1, 2], [0, 0]]
"""

import numpy as np

from gpugraph.framework import dtypes, ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant_value, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops.unary_ops import _fmt_shape, cast

TensorShape = tensor_shape.TensorShape


# -- Select (v1) -----------------------------------------------------------------------------------
def _select_shape(op):
    """TensorFlow's Select shape function: ``t`` and ``e`` merge; a vector condition must match
    their first dimension; any other non-scalar condition must match their whole shape."""
    cond, t, e = (x.shape for x in op.inputs)
    data = t.merge_with(e)
    if cond.ndims is None or data.ndims is None or cond.ndims == 0:
        return [data]
    if cond.ndims != 1 or data.ndims == 0:
        return [data.merge_with(cond)]
    cond.merge_with(TensorShape([data.dims[0].value]))
    return [data]


def _select_kernel(ctx, cond, t, e):
    if t.shape != e.shape:
        raise ctx.error(f"'then' and 'else' must have the same size.  but received: "
                        f"{_fmt_shape(t.shape)} vs. {_fmt_shape(e.shape)}")
    if cond.ndim == 0:
        return t if cond else e
    if cond.shape == t.shape:
        return np.where(cond, t, e)
    if cond.ndim == 1 and t.ndim > 1:
        if cond.shape[0] != t.shape[0]:
            raise ctx.error(f"Number of batches of 'then' must match size of 'cond', but saw: "
                            f"{t.shape[0]} vs. {cond.shape[0]}")
        # A vector condition picks whole rows ("batch select").
        return np.where(cond.reshape((-1,) + (1,) * (t.ndim - 1)), t, e)
    raise ctx.error(f"'then' and 'cond' must have the same size.  but received: "
                    f"{_fmt_shape(t.shape)} vs. {_fmt_shape(cond.shape)}")


register_op("Select", inputs=["condition: bool", "t: T", "e: T"], outputs=["output: T"],
            attrs=["T: type"], shape=_select_shape, cpu=_select_kernel)


# -- SelectV2 --------------------------------------------------------------------------------------
def _select_v2_shape(op):
    cond, t, e = (x.shape for x in op.inputs)
    return [shape_fns.broadcast_shapes(cond, shape_fns.broadcast_shapes(t, e))]


def _select_v2_kernel(ctx, cond, t, e):
    try:
        return np.where(cond, t, e)
    except ValueError:
        raise ctx.error(f"condition {_fmt_shape(np.shape(cond))}, then {_fmt_shape(np.shape(t))} and "
                        f"else {_fmt_shape(np.shape(e))} must be broadcastable") from None


register_op("SelectV2", inputs=["condition: bool", "t: T", "e: T"], outputs=["output: T"],
            attrs=["T: type"], shape=_select_v2_shape, cpu=_select_v2_kernel)


# -- Where (coordinates of true elements) ----------------------------------------------------------
def _where_shape(op):
    return [TensorShape([None, op.inputs[0].shape.ndims])]


def _where_kernel(ctx, x):
    if np.ndim(x) == 0:
        raise ctx.error("WhereOp : Unhandled input dimensions: 0 (the condition must be at least a "
                        "vector)")
    return np.argwhere(x).astype(np.int64, copy=False)


register_op("Where", inputs=["input: T"], outputs=["index: int64"],
            attrs=["T: {numbertype, bool} = DT_BOOL"], shape=_where_shape, cpu=_where_kernel)


# -- Range -----------------------------------------------------------------------------------------
def _range_size(start, limit, delta):
    """Number of elements, computed in the inputs' own type as TensorFlow does; ValueError if the
    arguments are inconsistent. ``start`` etc. are NumPy scalars of one dtype."""
    if start > limit and delta > 0:
        raise ValueError(f"Requires start <= limit when delta > 0: {start}/{limit}")
    if start < limit and delta < 0:
        raise ValueError(f"Requires start >= limit when delta < 0: {start}/{limit}")
    if delta == 0:
        raise ValueError("Requires delta != 0")
    if np.dtype(type(start)).kind in "iu":
        span = abs(int(limit) - int(start))
        step = abs(int(delta))
        return (span + step - 1) // step
    return int(np.ceil(np.abs((limit - start) / delta)))


def _range_shape(op):
    for t, what in zip(op.inputs, ("start", "limit", "delta")):
        if t.shape.ndims not in (None, 0):
            raise ValueError(f"Shape must be rank 0 but is rank {t.shape.ndims} for '{what}'")
    values = [constant_value(t) for t in op.inputs]
    if any(v is None for v in values):
        return [TensorShape([None])]
    return [TensorShape([_range_size(*(v[()] for v in values))])]


def _range_kernel(ctx, start, limit, delta):
    for v, what in ((start, "start"), (limit, "limit"), (delta, "delta")):
        if np.ndim(v) != 0:
            raise ctx.error(f"{what} must be a scalar, not shape {_fmt_shape(np.shape(v))}")
    start, limit, delta = start[()], limit[()], delta[()]
    try:
        size = _range_size(start, limit, delta)
    except ValueError as e:
        raise ctx.error(str(e)) from None
    dtype = np.dtype(ctx.output_dtypes[0])
    # start + i * delta in the output type (not an accumulating sum), matching TF's CPU kernel.
    return np.arange(size).astype(dtype) * np.asarray(delta, dtype) + np.asarray(start, dtype)


register_op("Range", inputs=["start: Tidx", "limit: Tidx", "delta: Tidx"], outputs=["output: Tidx"],
            attrs=["Tidx: {bfloat16, half, float, double, int8, int16, int32, int64, uint16, uint32, "
                   "uint64} = DT_INT32"],
            shape=_range_shape, cpu=_range_kernel,
            host_memory=("start", "limit", "delta"))


# -- API -------------------------------------------------------------------------------------------
def where(condition, x=None, y=None, name=None):
    """``tf.compat.v1.where``: with ``x`` and ``y``, Select (a vector condition picks rows); with
    neither, the int64 coordinates of the true elements of ``condition`` (Where).

    Example:
        >>> tf.where([True, False], [1, 2], [3, 4])   # -> [1, 4]
        >>> tf.where([[True, False], [False, True]])  # -> [[0, 0], [1, 1]]
    """
    if x is None and y is None:
        with ops.name_scope(name, "Where", [condition]) as scope:
            condition = convert_to_tensor(condition, preferred_dtype=dtypes.bool, name="condition")
            return apply_op("Where", input=condition, name=scope)
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    return apply_op("Select", condition=condition, t=x, e=y, name=name)


def where_v2(condition, x=None, y=None, name=None):
    """``tf.where_v2``: like ``where`` but ``condition``, ``x`` and ``y`` broadcast (SelectV2).

    Example:
        >>> tf.where_v2([[True], [False]], [1, 2], 0)     # -> [[1, 2], [0, 0]]
    """
    if x is None and y is None:
        return where(condition, name=name)
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    return apply_op("SelectV2", condition=condition, t=x, e=y, name=name)


_RANGE_DTYPE_ORDER = [dtypes.int32, dtypes.int64, dtypes.float16, dtypes.bfloat16, dtypes.float32,
                      dtypes.float64]


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001 - TF's name
    """``[start, start + delta, ...)`` up to (not including) ``limit`` (Range). With one argument,
    ``range(n)`` is ``range(0, n)``. The dtype is the widest of the arguments' unless given.

    Example:
        >>> tf.range(10, 1, -3)           # -> [10, 7, 4]
        >>> tf.range(0.0, 1.0, 0.25)      # -> [0.0, 0.25, 0.5, 0.75]
    """
    if limit is None:
        start, limit = 0, start
    with ops.name_scope(name, "Range", [start, limit, delta]) as scope:
        args = []
        for value, arg_name in ((start, "start"), (limit, "limit"), (delta, "delta")):
            if not isinstance(value, ops.Tensor):
                value = convert_to_tensor(value, dtype=dtype, name=arg_name)
            args.append(value)
        if dtype is None:
            for t in args:
                if t.dtype.base_dtype not in _RANGE_DTYPE_ORDER:
                    raise TypeError(f"range: unsupported argument dtype {t.dtype.name}")
            dtype = max((t.dtype.base_dtype for t in args), key=_RANGE_DTYPE_ORDER.index)
        start, limit, delta = (cast(t, dtype) for t in args)
        return apply_op("Range", start=start, limit=limit, delta=delta, name=scope)


EXPORTS = {
    "": ["where", "where_v2", "range"],
}
