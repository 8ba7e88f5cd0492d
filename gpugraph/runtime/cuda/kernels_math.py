"""GPU kernels for elementwise math, Cast, comparisons, AddN and reductions — each the NumPy
kernel's semantics (``gpugraph/ops/math_ops.py``, ``unary_ops.py``, ``reduction_ops.py``) written
against ``ctx.xp`` (CuPy), called by the executor with the step's device and stream current.

Where ``kernels/`` has a kernel for an op and dtype (elementwise math and activations on floats,
binary arithmetic with scalar/row/column broadcasting, Sum/Mean/Max/Min/Prod, ArgMax/ArgMin), the
op launches it through :mod:`custom_kernels`; otherwise (other dtypes and shapes, or a backend
without custom kernels) it computes with ``ctx.xp``.

Differences from the NumPy kernels, as in TensorFlow's own GPU kernels: data-dependent checks that
would need a device-to-host sync (integer division by zero, negative integer powers) are not made.
Half precision computes in float32 where the NumPy kernel does.
"""

import numpy as np

from gpugraph.framework import dtypes
from gpugraph.ops import reduction_ops
from gpugraph.runtime.cuda import custom_kernels
from gpugraph.runtime.placement import register_device_kernel

F16 = np.dtype(np.float16)
FLOATS = [dtypes.float16, dtypes.float32, dtypes.float64]
FLOAT_COMPLEX = FLOATS + [dtypes.complex64, dtypes.complex128]


def gpu_kernel(*op_types, dtypes=None, host_outputs=False):
    """Decorator: registers the function as the GPU kernel of ``op_types``."""
    def deco(fn):
        for name in op_types:
            register_device_kernel(name, "GPU", fn, dtypes=dtypes, host_outputs=host_outputs)
        return fn
    return deco


def in_float32(fn):
    """Half computes in float32 and is rounded once (the NumPy kernels' ``_in_float32``)."""
    def kernel(ctx, x):
        if x.dtype == F16:
            return fn(ctx.xp, x.astype(np.float32)).astype(F16)
        return fn(ctx.xp, x)
    return kernel


def with_unary_kernel(op, fallback):
    """The GPU kernel of a unary op: ``gg_ew_unary``'s ``op`` (a ``kernel_loader.UNARY_OPS``
    key) where it applies, else ``fallback(ctx, x)``."""
    def kernel(ctx, x):
        y = custom_kernels.unary(ctx, op, x)
        return fallback(ctx, x) if y is None else y
    return kernel


# -- unary -----------------------------------------------------------------------------------------
def _sigmoid(xp, x):
    if x.dtype.kind == "c":
        return 1 / (1 + xp.exp(-x))
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


for _op, _code, _fn in (("Sqrt", "sqrt", lambda xp, x: xp.sqrt(x)),
                        ("Rsqrt", "rsqrt", lambda xp, x: xp.reciprocal(xp.sqrt(x))),
                        ("Exp", "exp", lambda xp, x: xp.exp(x)), ("Log", "log", lambda xp, x: xp.log(x)),
                        ("Log1p", "log1p", lambda xp, x: xp.log1p(x)),
                        ("Tanh", "tanh", lambda xp, x: xp.tanh(x)), ("Sigmoid", "sigmoid", _sigmoid)):
    gpu_kernel(_op)(with_unary_kernel(_code, in_float32(_fn)))

gpu_kernel("Neg")(with_unary_kernel("neg", lambda ctx, x: ctx.xp.negative(x)))
gpu_kernel("Abs")(with_unary_kernel("abs", lambda ctx, x: ctx.xp.abs(x)))
gpu_kernel("Square")(with_unary_kernel("square", lambda ctx, x: ctx.xp.multiply(x, x)))
gpu_kernel("Floor")(lambda ctx, x: ctx.xp.floor(x))
gpu_kernel("Ceil")(lambda ctx, x: ctx.xp.ceil(x))
gpu_kernel("Sign")(lambda ctx, x: ctx.xp.sign(x))
gpu_kernel("Invert")(lambda ctx, x: ctx.xp.invert(x))
gpu_kernel("Conj")(lambda ctx, x: ctx.xp.conj(x))
gpu_kernel("LogicalNot")(lambda ctx, x: ctx.xp.logical_not(x))
gpu_kernel("ComplexAbs")(lambda ctx, x: ctx.xp.abs(x).astype(ctx.output_dtypes[0], copy=False))


@gpu_kernel("Round")
def _round(ctx, x):
    if x.dtype.kind in "iu":
        return x
    return ctx.xp.round(x) if x.dtype.kind == "c" else ctx.xp.rint(x)


@gpu_kernel("Reciprocal")
def _reciprocal(ctx, x):
    xp = ctx.xp
    if x.dtype.kind in "iu":
        return xp.where(xp.abs(x) == 1, x, xp.zeros((), x.dtype))  # 1 / x truncated toward zero
    return xp.reciprocal(x)


# -- Cast ------------------------------------------------------------------------------------------
_MANTISSA_BITS = {np.dtype(np.float16): 10, np.dtype(np.float32): 23, np.dtype(np.float64): 52}
_UINT_OF_SIZE = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _zero_low_mantissa(xp, x, dst):
    """``Truncate=True``: clear the mantissa bits ``dst`` cannot hold (NaNs left alone)."""
    if x.dtype.kind == "c":
        part = np.dtype(np.float32 if dst == np.complex64 else np.float64)
        return _zero_low_mantissa(xp, x.real, part) + 1j * _zero_low_mantissa(xp, x.imag, part)
    bits = _MANTISSA_BITS.get(x.dtype, 0) - _MANTISSA_BITS.get(np.dtype(dst), 99)
    if bits <= 0:
        return x
    uint = _UINT_OF_SIZE[x.dtype.itemsize]
    mask = uint(np.iinfo(uint).max ^ ((1 << bits) - 1))
    x = x.copy()  # C-contiguous, so the bit view below is valid
    return xp.where(xp.isnan(x), x, (x.view(uint) & mask).view(x.dtype))


@gpu_kernel("Cast")
def _cast(ctx, x):
    xp = ctx.xp
    dst = np.dtype(ctx.output_dtypes[0])
    if x.dtype == dst:
        return x
    if dst == np.bool_:
        return xp.not_equal(x, 0)
    if ctx.attrs.get("Truncate"):
        x = _zero_low_mantissa(xp, x, dst)
    if x.dtype.kind == "c" and dst.kind != "c":
        x = x.real
    return x.astype(dst)


# -- binary ------------------------------------------------------------------------------------------
def _truncating_int_div(xp, x, y):
    q = xp.floor_divide(x, y)
    if q.dtype.kind == "i":
        q = q + ((q * y != x) & ((x < 0) != (y < 0))).astype(q.dtype)
    return q


def _div(ctx, x, y):
    xp = ctx.xp
    return _truncating_int_div(xp, x, y) if x.dtype.kind in "iu" else xp.true_divide(x, y)


def _floor_div(ctx, x, y):
    xp = ctx.xp
    return xp.floor_divide(x, y) if x.dtype.kind in "iu" else xp.floor(xp.true_divide(x, y))


def _truncate_div(ctx, x, y):
    xp = ctx.xp
    return _truncating_int_div(xp, x, y) if x.dtype.kind in "iu" else xp.trunc(xp.true_divide(x, y))


def _floor_mod(ctx, x, y):
    xp = ctx.xp
    if x.dtype.kind in "iu":
        return xp.mod(x, y)
    r = xp.fmod(x, y)
    return xp.where((r != 0) & ((y < 0) != (r < 0)), r + y, r)


def _squared_difference(ctx, x, y):
    d = ctx.xp.subtract(x, y)
    return d * ctx.xp.conj(d) if d.dtype.kind == "c" else d * d


def _div_no_nan(ctx, x, y):
    xp = ctx.xp
    zero = y == 0
    return xp.where(zero, xp.zeros((), x.dtype), xp.true_divide(x, xp.where(zero, xp.ones((), y.dtype), y)))


def _ufunc(name):
    return lambda ctx, x, y: getattr(ctx.xp, name)(x, y)


def _with_binary_kernel(op, fallback):
    """``gg_ew_binary``'s ``op`` (a ``kernel_loader.BINARY_OPS`` key) where it applies (floats;
    same shapes, or a scalar, row or column operand), else ``fallback(ctx, x, y)``."""
    def kernel(ctx, x, y):
        out = custom_kernels.binary(ctx, op, x, y)
        return fallback(ctx, x, y) if out is None else out
    return kernel


# Ops of gg_ew_binary. Div of floats is true division, so "div" serves it; other dtypes fall back.
_BINARY_KERNEL_OPS = {"Add": "add", "AddV2": "add", "Sub": "sub", "Mul": "mul", "Div": "div",
                      "RealDiv": "div", "Maximum": "maximum", "Minimum": "minimum",
                      "SquaredDifference": "squared_difference"}


def gpu_binary_kernel(*op_types, dtypes=None):
    """Like :func:`gpu_kernel`, trying ``gg_ew_binary`` first for ops it has."""
    def deco(fn):
        for name in op_types:
            code = _BINARY_KERNEL_OPS.get(name)
            gpu_kernel(name, dtypes=dtypes)(fn if code is None else _with_binary_kernel(code, fn))
        return fn
    return deco


_NUMERIC = sorted(set(dtypes.as_dtype(d) for d in (
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "complex64", "complex128")), key=lambda d: d.name)

for _op, _fn in (("Add", _ufunc("add")), ("AddV2", _ufunc("add")), ("Sub", _ufunc("subtract")),
                 ("Mul", _ufunc("multiply")), ("Maximum", _ufunc("maximum")),
                 ("Minimum", _ufunc("minimum")), ("Pow", _ufunc("power")), ("Div", _div),
                 ("FloorDiv", _floor_div), ("TruncateDiv", _truncate_div), ("FloorMod", _floor_mod),
                 ("TruncateMod", _ufunc("fmod")), ("SquaredDifference", _squared_difference),
                 ("BitwiseAnd", _ufunc("bitwise_and")), ("BitwiseOr", _ufunc("bitwise_or")),
                 ("BitwiseXor", _ufunc("bitwise_xor")), ("Less", _ufunc("less")),
                 ("LessEqual", _ufunc("less_equal")), ("Greater", _ufunc("greater")),
                 ("GreaterEqual", _ufunc("greater_equal")), ("LogicalAnd", _ufunc("logical_and")),
                 ("LogicalOr", _ufunc("logical_or"))):
    gpu_binary_kernel(_op)(_fn)
# RealDiv and DivNoNan of integers are errors in the NumPy kernel: they stay there.
gpu_binary_kernel("RealDiv", dtypes=FLOAT_COMPLEX)(_ufunc("true_divide"))
gpu_kernel("DivNoNan", dtypes=FLOAT_COMPLEX)(_div_no_nan)
# FloorDiv/TruncateDiv of complex values are errors in the NumPy kernel.
gpu_kernel("FloorDiv", dtypes=[d for d in _NUMERIC if not d.is_complex])(_floor_div)
gpu_kernel("TruncateDiv", dtypes=[d for d in _NUMERIC if not d.is_complex])(_truncate_div)


def _broadcastable(a, b):
    return all(p == q or p == 1 or q == 1 for p, q in zip(a[::-1], b[::-1]))


def _equality(name, mismatch):
    def kernel(ctx, x, y):
        xp = ctx.xp
        if not ctx.attrs["incompatible_shape_error"] and not _broadcastable(x.shape, y.shape):
            # TF: incompatible shapes compare as one scalar. Filled on the device (no host copy,
            # which a CUDA graph capture could not take).
            return xp.full((), mismatch, dtype=np.bool_)
        return getattr(xp, name)(x, y)
    return kernel


gpu_kernel("Equal")(_equality("equal", False))
gpu_kernel("NotEqual")(_equality("not_equal", True))


@gpu_kernel("AddN")
def _add_n(ctx, *xs):
    first = xs[0].shape
    for i, x in enumerate(xs[1:], 1):
        if x.shape != first:
            raise ctx.error(f"Inputs to operation AddN must have the same size and shape.  Input 0: "
                            f"{list(first)} != input {i}: {list(x.shape)}")
    if len(xs) == 1:
        return xs[0]
    total = ctx.xp.add(xs[0], xs[1])
    for x in xs[2:]:
        total += x  # ``total`` is this kernel's own fresh array
    return total


# -- reductions ------------------------------------------------------------------------------------
def _acc(dtype):
    return np.float32 if dtype == F16 else dtype


def _reducer(reduce, kernel_op=None):
    """A reduction's GPU kernel: ``gg_reduce``'s ``kernel_op`` (a ``kernel_loader.REDUCE_OPS``
    key) where it applies, else ``reduce(xp, x, axes, keep_dims)``."""
    def kernel(ctx, x, reduction_indices):  # reduction_indices is a host array (host memory)
        axes = reduction_ops._axes(ctx, x, np.asarray(reduction_indices))
        keep = ctx.attrs["keep_dims"]
        y = None if kernel_op is None else custom_kernels.reduce(ctx, kernel_op, x, axes, keep)
        return reduce(ctx.xp, x, axes, keep) if y is None else y
    return kernel


def _sum(xp, x, axes, keep):
    return xp.sum(x, axis=axes, dtype=_acc(x.dtype), keepdims=keep).astype(x.dtype)


def _prod(xp, x, axes, keep):
    return xp.prod(x, axis=axes, dtype=_acc(x.dtype), keepdims=keep).astype(x.dtype)


def _mean(xp, x, axes, keep):
    if x.dtype.kind not in "iu":
        return xp.mean(x, axis=axes, dtype=_acc(x.dtype), keepdims=keep).astype(x.dtype)
    wide = np.int64 if x.dtype.kind == "i" else np.uint64
    total = xp.sum(x, axis=axes, dtype=wide, keepdims=keep)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if count == 0:
        return xp.zeros(total.shape, x.dtype)
    q = xp.floor_divide(total, count)
    if x.dtype.kind == "i":  # C truncation toward zero, like TF
        q = q + ((q * count != total) & (total < 0)).astype(q.dtype)
    return q.astype(x.dtype)


def _reduced_shape(shape, axes, keep):
    return tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)


def _extremum(name, empty_value):
    def reduce(xp, x, axes, keep):
        if x.size == 0:  # the reduction's identity, as TF (CuPy has no ``initial=``)
            return xp.full(_reduced_shape(x.shape, axes, keep), empty_value(x.dtype), dtype=x.dtype)
        return getattr(xp, name)(x, axis=axes, keepdims=keep)
    return reduce


def _lowest(dtype):
    return np.iinfo(dtype).min if dtype.kind in "iu" else -np.inf


def _highest(dtype):
    return np.iinfo(dtype).max if dtype.kind in "iu" else np.inf


gpu_kernel("Sum")(_reducer(_sum, "sum"))
gpu_kernel("Prod")(_reducer(_prod, "prod"))
gpu_kernel("Mean")(_reducer(_mean, "mean"))
gpu_kernel("Max")(_reducer(_extremum("amax", _lowest), "max"))
gpu_kernel("Min")(_reducer(_extremum("amin", _highest), "min"))
gpu_kernel("All")(_reducer(lambda xp, x, axes, keep: xp.all(x, axis=axes, keepdims=keep)))
gpu_kernel("Any")(_reducer(lambda xp, x, axes, keep: xp.any(x, axis=axes, keepdims=keep)))


def _arg(name, nan_fill):
    def kernel(ctx, x, dimension):
        xp = ctx.xp
        if np.ndim(dimension) != 0:
            raise ctx.error(f"dimension must be a scalar, got shape {list(np.shape(dimension))}")
        dim, rank = int(dimension), x.ndim
        if not -rank <= dim < rank:
            raise ctx.error(f"Expected dimension in the range [{-rank if rank else 0}, {rank}), but got {dim}")
        dim %= rank
        if x.shape[dim] == 0:
            raise ctx.error(f"Reduction axis {dim} is empty in shape {list(x.shape)}")
        out = custom_kernels.arg_reduce(ctx, x, dim, name == "argmin", ctx.output_dtypes[0])
        if out is not None:
            return out
        if x.dtype.kind == "f":  # TF's comparisons never select a NaN
            x = xp.where(xp.isnan(x), x.dtype.type(nan_fill), x)
        return getattr(xp, name)(x, axis=dim).astype(ctx.output_dtypes[0])
    return kernel


gpu_kernel("ArgMax")(_arg("argmax", -np.inf))
gpu_kernel("ArgMin")(_arg("argmin", np.inf))
