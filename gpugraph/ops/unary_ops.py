"""Elementwise unary math — Neg, Abs, Square, Sqrt, Rsqrt, Exp, Log, Log1p, Tanh, Sigmoid, Erf, Erfc,
Floor, Ceil, Round, Sign, Reciprocal, Invert, Conj, ComplexAbs — and Cast: declarations, NumPy kernels
and the ``tf.compat.v1`` API functions (``abs``, ``sigmoid``, ``cast``, ``to_float``, …).

Half and bfloat16 transcendental functions are computed in float32 and rounded once, as Eigen does;
erf/erfc use a double-precision NumPy implementation (``special_math``). Cast truncates floats toward
zero when converting to integers, maps anything to bool as ``x != 0``, keeps the real part of complex
values, and with ``Truncate=True`` truncates (instead of rounding) float mantissas like TensorFlow.

Also holds the small helpers the other math modules share (``_fmt_shape``, ``_LOW_PRECISION``, …).

Example:
    >>> x = tf.constant([-1.5, 0.0, 2.5])
    >>> a, r, c = tf.abs(x), tf.round(x), tf.cast(x, tf.int32)
    >>> # Session.run gives: a = [1.5, 0, 2.5], r = [-2, 0, 2] (half to even), c = [-1, 0, 2]
"""

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes, ops, shape_fns
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops import special_math

_bfloat16 = dtypes.bfloat16.as_numpy_dtype
_LOW_PRECISION = frozenset([np.dtype(np.float16), np.dtype(_bfloat16)])

# TensorFlow's allowed-type lists, in TensorFlow's order (the OpDef test compares them verbatim).
_SIGNED = "{bfloat16, half, float, double, int8, int16, int32, int64, complex64, complex128}"
_ABS = "{bfloat16, half, float, double, int8, int16, int32, int64}"
_SQUARE = "{bfloat16, half, float, double, int8, int16, int32, int64, uint8, uint16, uint32, uint64, " \
          "complex64, complex128}"
_FLOAT_COMPLEX = "{bfloat16, half, float, double, complex64, complex128}"
_FLOAT = "{bfloat16, half, float, double}"
_BITWISE = "{int8, int16, int32, int64, uint8, uint16, uint32, uint64}"


def _fmt_shape(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _is_signed_int(dtype):
    return dtype.kind == "i"


def _is_int(dtype):
    return dtype.kind in "iu"


def _check_int_divisor(ctx, y):
    if not np.all(y):
        raise ctx.error("Integer division by zero")


# -- kernels: unary --------------------------------------------------------------------------------
def _in_float32(fn):
    """Half and bfloat16 are computed in float32 and rounded once (Eigen's behaviour)."""
    def kernel(ctx, x):
        if x.dtype in _LOW_PRECISION:
            return fn(x.astype(np.float32)).astype(x.dtype)
        return fn(x)
    return kernel


def _sigmoid(x):
    if x.dtype.kind == "c":
        return 1 / (1 + np.exp(-x))
    e = np.exp(-np.abs(x))  # never overflows; keeps full relative precision for large |x|
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _erf_kernel(fn):
    return lambda ctx, x: np.asarray(fn(x)).astype(x.dtype)


def _round(ctx, x):
    if _is_int(x.dtype):
        return x  # integers are already rounded
    return np.round(x) if x.dtype.kind == "c" else np.rint(x)


def _reciprocal(ctx, x):
    if _is_int(x.dtype):
        _check_int_divisor(ctx, x)
        return np.where(np.abs(x) == 1, x, np.zeros((), x.dtype))  # 1 / x truncated toward zero
    return np.reciprocal(x)


def _register_unary(name, types, kernel):
    register_op(name, inputs=["x: T"], outputs=["y: T"], attrs=[f"T: {types}"],
                shape=shape_fns.unchanged, cpu=kernel)


_register_unary("Neg", _SIGNED, lambda ctx, x: np.negative(x))
_register_unary("Abs", _ABS, lambda ctx, x: np.abs(x))
_register_unary("Square", _SQUARE, lambda ctx, x: np.multiply(x, x))
_register_unary("Sqrt", _FLOAT_COMPLEX, _in_float32(np.sqrt))
_register_unary("Rsqrt", _FLOAT_COMPLEX, _in_float32(lambda x: np.reciprocal(np.sqrt(x))))
_register_unary("Exp", _FLOAT_COMPLEX, _in_float32(np.exp))
_register_unary("Log", _FLOAT_COMPLEX, _in_float32(np.log))
_register_unary("Log1p", _FLOAT_COMPLEX, _in_float32(np.log1p))
_register_unary("Tanh", _FLOAT_COMPLEX, _in_float32(np.tanh))
_register_unary("Sigmoid", _FLOAT_COMPLEX, _in_float32(_sigmoid))
_register_unary("Erf", _FLOAT, _erf_kernel(special_math.erf))
_register_unary("Erfc", _FLOAT, _erf_kernel(special_math.erfc))
_register_unary("Floor", _FLOAT, lambda ctx, x: np.floor(x))
_register_unary("Ceil", _FLOAT, lambda ctx, x: np.ceil(x))
_register_unary("Round", _SIGNED, _round)
_register_unary("Sign", _SIGNED, lambda ctx, x: np.sign(x))
_register_unary("Reciprocal", _SIGNED, _reciprocal)
_register_unary("Invert", _BITWISE, lambda ctx, x: np.invert(x))

register_op("Conj", inputs=["input: T"], outputs=["output: T"],
            attrs=["T: {complex64, complex128, variant} = DT_COMPLEX64"],
            shape=shape_fns.unchanged, cpu=lambda ctx, x: np.conj(x))
register_op("ComplexAbs", inputs=["x: T"], outputs=["y: Tout"],
            attrs=["T: {complex64, complex128} = DT_COMPLEX64", "Tout: {float, double} = DT_FLOAT"],
            shape=shape_fns.unchanged,
            cpu=lambda ctx, x: np.abs(x).astype(ctx.output_dtypes[0], copy=False))


# -- Cast ------------------------------------------------------------------------------------------
_MANTISSA_BITS = {np.dtype(np.float16): 10, np.dtype(_bfloat16): 7, np.dtype(np.float32): 23,
                  np.dtype(np.float64): 52}
_UINT_OF_SIZE = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _zero_low_mantissa(x, dst):
    """TF's ``Truncate=True``: clear the source mantissa bits the destination cannot hold, so the
    conversion truncates instead of rounding to nearest. NaNs are left alone."""
    if x.dtype.kind == "c":
        part = np.dtype(np.float32 if dst == np.complex64 else np.float64)
        return _zero_low_mantissa(x.real, part) + 1j * _zero_low_mantissa(x.imag, part)
    bits = _MANTISSA_BITS.get(x.dtype, 0) - _MANTISSA_BITS.get(np.dtype(dst), 99)
    if bits <= 0:
        return x
    uint = _UINT_OF_SIZE[x.dtype.itemsize]
    mask = uint(np.iinfo(uint).max ^ ((1 << bits) - 1))
    x = np.asarray(x)
    return np.where(np.isnan(x), x, (x.view(uint) & mask).view(x.dtype))


def _not_numeric(dtype):
    """Strings (object arrays) and TF's quantized types (one-field structured dtypes)."""
    return dtype.kind in "OSU" or dtype.fields is not None


def _cast_kernel(ctx, x):
    dst = ctx.output_dtypes[0]
    if x.dtype == dst:
        return x
    if _not_numeric(x.dtype) or _not_numeric(np.dtype(dst)):
        raise ctx.error(f"Cast {x.dtype} to {np.dtype(dst)} is not supported", cls=errors.UnimplementedError)
    if dst == np.bool_:
        return np.not_equal(x, 0)
    if ctx.attrs.get("Truncate"):
        x = _zero_low_mantissa(x, dst)
    if x.dtype.kind == "c" and np.dtype(dst).kind != "c":
        x = x.real  # TF drops the imaginary part
    return x.astype(dst)


register_op("Cast", inputs=["x: SrcT"], outputs=["y: DstT"],
            attrs=["SrcT: type", "DstT: type", "Truncate: bool = false"],
            shape=shape_fns.unchanged, cpu=_cast_kernel)


# -- API helpers -----------------------------------------------------------------------------------
def _gen_unary(op_type, public_name):
    def fn(x, name=None):
        return apply_op(op_type, x=x, name=name)
    fn.__name__ = fn.__qualname__ = public_name
    fn.__doc__ = (f"Elementwise ``{op_type}`` of ``x``.\n\n"
                  f"Example:\n    >>> tf.{public_name}([1.0, 4.0])     # one {op_type} op\n")
    return fn


# -- API: unary ------------------------------------------------------------------------------------
negative = _gen_unary("Neg", "negative")
square = _gen_unary("Square", "square")
sqrt = _gen_unary("Sqrt", "sqrt")
rsqrt = _gen_unary("Rsqrt", "rsqrt")
exp = _gen_unary("Exp", "exp")
log = _gen_unary("Log", "log")
log1p = _gen_unary("Log1p", "log1p")
tanh = _gen_unary("Tanh", "tanh")
erf = _gen_unary("Erf", "erf")
erfc = _gen_unary("Erfc", "erfc")
floor = _gen_unary("Floor", "floor")
ceil = _gen_unary("Ceil", "ceil")
reciprocal = _gen_unary("Reciprocal", "reciprocal")
logical_not = _gen_unary("LogicalNot", "logical_not")


def abs(x, name=None):  # noqa: A001
    """``|x|`` (Abs; ComplexAbs giving a real tensor for complex ``x``).

    Example:
        >>> tf.abs([-2.25, 3.25])     # -> [2.25, 3.25]
    """
    with ops.name_scope(name, "Abs", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        if x.dtype.is_complex:
            return apply_op("ComplexAbs", x=x, Tout=x.dtype.real_dtype, name=scope)
        return apply_op("Abs", x=x, name=scope)


def sigmoid(x, name=None):
    """``1 / (1 + exp(-x))`` (Sigmoid).

    Example:
        >>> tf.sigmoid([0.0])         # -> [0.5]
    """
    with ops.name_scope(name, "Sigmoid", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        return apply_op("Sigmoid", x=x, name=scope)


def round(x, name=None):  # noqa: A001
    """Rounds half to even, like TensorFlow (and NumPy); integer tensors are returned unchanged.

    Example:
        >>> tf.round([0.5, 1.5, 2.5])     # -> [0.0, 2.0, 2.0]
    """
    x = convert_to_tensor(x, name="x")
    if x.dtype.is_integer:
        return x
    return apply_op("Round", x=x, name=name)


def sign(x, name=None):
    """-1, 0 or 1 by the sign of ``x`` (``x / |x|`` for complex), elementwise (Sign).

    Example:
        >>> tf.sign([-3, 0, 5])       # -> [-1, 0, 1]
    """
    return apply_op("Sign", x=x, name=name)


def conj(x, name=None):
    """Complex conjugate (Conj); real tensors are returned unchanged, as in TensorFlow.

    Example:
        >>> tf.conj(tf.constant([1 + 2j]))    # -> [1 - 2j]
    """
    if isinstance(x, ops.Tensor) and (x.dtype.is_floating or x.dtype.is_integer):
        return x
    with ops.name_scope(name, "Conj", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        if x.dtype.is_complex or x.dtype.base_dtype == dtypes.variant:
            return apply_op("Conj", input=x, name=scope)
        if x.dtype.is_floating or x.dtype.is_integer:
            return x
        raise TypeError(f"Expected numeric or variant tensor, got dtype {x.dtype!r}.")


# -- API: casts ------------------------------------------------------------------------------------
def cast(x, dtype, name=None):
    """Casts ``x`` to ``dtype`` (Cast). Floats -> integers truncate toward zero; anything -> bool is
    ``x != 0``; complex -> real keeps the real part. A tensor already of ``dtype`` is returned as is.

    Example:
        >>> tf.cast([1.7, -1.7], tf.int32)    # -> [1, -1]
    """
    base = dtypes.as_dtype(dtype).base_dtype
    if isinstance(x, ops.Tensor) and x.dtype.base_dtype == base:
        return x
    with ops.name_scope(name, "Cast", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        if x.dtype.base_dtype != base:
            x = apply_op("Cast", x=x, DstT=base, name=scope)
        return x


def to_float(x, name="ToFloat"):
    """Casts to float32 (deprecated in TF; kept for v1 graphs)."""
    return cast(x, dtypes.float32, name=name)


def to_double(x, name="ToDouble"):
    """Casts to float64."""
    return cast(x, dtypes.float64, name=name)


def to_int32(x, name="ToInt32"):
    """Casts to int32."""
    return cast(x, dtypes.int32, name=name)


def to_int64(x, name="ToInt64"):
    """Casts to int64."""
    return cast(x, dtypes.int64, name=name)


EXPORTS = {
    "": ["negative", "abs", "square", "sqrt", "rsqrt", "exp", "log", "log1p", "tanh", "sigmoid", "erf",
         "erfc", "floor", "ceil", "round", "sign", "reciprocal", "conj", "logical_not", "cast",
         "to_float", "to_double", "to_int32", "to_int64"],
    "math": ["negative", "abs", "square", "sqrt", "rsqrt", "exp", "log", "log1p", "tanh", "sigmoid",
             "erf", "erfc", "floor", "ceil", "round", "sign", "reciprocal", "conj", "logical_not"],
    "nn": ["sigmoid", "tanh"],
}
