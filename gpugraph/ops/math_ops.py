"""Elementwise binary math — broadcasting arithmetic (Add, AddV2, Sub, Mul, RealDiv, Div, FloorDiv,
TruncateDiv, FloorMod, TruncateMod, DivNoNan, Maximum, Minimum, Pow, SquaredDifference), comparisons,
logical and bitwise ops, and AddN: declarations, NumPy kernels and ``tf.compat.v1`` API functions;
plus the Tensor operator overloads (``+ - * / // % ** < <= > >= & | ^ ~``, unary ``-`` and ``abs``).

Integer semantics follow TensorFlow's CPU kernels, not NumPy's defaults: ``Div``/``TruncateDiv``
truncate toward zero, ``FloorDiv``/``FloorMod`` floor, integer division by zero and integer powers
with negative exponents are InvalidArgument errors, and every result keeps its input dtype
(``int8 * int8`` wraps like C; float16 stays float16).

Unary ops and Cast live in ``unary_ops``; Select, SelectV2, Where and Range in ``select_ops``;
reductions in ``reduction_ops``; MatMul and Einsum in ``matmul_ops``.

Example:
    >>> x = tf.placeholder(tf.int32, [None])
    >>> y = x // 2 + tf.abs(x)          # FloorDiv, AddV2, Abs
    >>> tf.Session().run(y, {x: [-7, 7]}).tolist()
    [3, 10]
"""

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes, ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops.unary_ops import (
    _BITWISE, _check_int_divisor, _fmt_shape, _is_int, _is_signed_int, abs, cast)

# TensorFlow's allowed-type lists, in TensorFlow's order (the OpDef test compares them verbatim).
_ARITH = "{bfloat16, half, float, double, uint8, int8, uint16, int16, int32, uint32, uint64, int64, " \
         "complex64, complex128}"
_ADD = "{bfloat16, half, float, double, uint8, int8, int16, int32, int64, complex64, complex128, string}"
_ADDV2 = "{bfloat16, half, float, double, uint8, uint16, uint32, uint64, int8, int16, int32, int64, " \
         "complex64, complex128}"
_SUB = "{bfloat16, half, float, double, uint8, int8, uint16, int16, int32, int64, complex64, complex128, " \
       "uint32, uint64}"
_FLOORMOD = "{int8, int16, int32, int64, uint8, uint16, uint32, uint64, bfloat16, half, float, double}"
_MINMAX = "{bfloat16, half, float, double, int8, uint8, int16, uint16, int32, uint32, int64, uint64}"
_POW = "{bfloat16, float, half, double, int8, int16, int32, int64, complex64, complex128}"
_SQDIFF = "{bfloat16, half, float, double, int32, int64, complex64, complex128}"


# -- kernels: binary -------------------------------------------------------------------------------
def _broadcasting(fn):
    """Makes a binary kernel from a NumPy ufunc (called directly: the common, fast case) or from
    ``fn(ctx, x, y)``; a runtime broadcast failure then reads like TensorFlow's."""
    if isinstance(fn, np.ufunc):
        def kernel(ctx, x, y):
            try:
                return fn(x, y)
            except ValueError:
                _raise_incompatible(ctx, x, y)
    else:
        def kernel(ctx, x, y):
            try:
                return fn(ctx, x, y)
            except ValueError:
                _raise_incompatible(ctx, x, y)
    return kernel


def _raise_incompatible(ctx, x, y):
    """Called while handling a ValueError: re-raises it unless the shapes are what failed."""
    if _broadcastable(np.shape(x), np.shape(y)):
        raise  # noqa: PLE0704 - re-raises the ValueError being handled
    raise ctx.error(f"Incompatible shapes: {_fmt_shape(np.shape(x))} vs. "
                    f"{_fmt_shape(np.shape(y))}") from None


def _broadcastable(a, b):
    return all(p == q or p == 1 or q == 1 for p, q in zip(a[::-1], b[::-1]))


def _truncating_int_div(x, y):
    q = np.floor_divide(x, y)
    if _is_signed_int(q.dtype):
        # Floor and truncation differ exactly when the division is inexact and the signs differ.
        q = q + ((q * y != x) & ((x < 0) != (y < 0))).astype(q.dtype)
    return q


def _add(ctx, x, y):
    out = np.add(x, y)
    if isinstance(out, (bytes, str)):
        out = np.array(out, dtype=object)  # 0-d string (object) arrays add up to a bare bytes object
    return out


def _real_div(ctx, x, y):
    if _is_int(x.dtype):
        raise ctx.error(f"RealDiv has no kernel for {x.dtype} (TensorFlow registers it only for "
                        "floating and complex types); use FloorDiv or TruncateDiv",
                        cls=errors.UnimplementedError)
    return np.true_divide(x, y)


def _div(ctx, x, y):
    if _is_int(x.dtype):
        _check_int_divisor(ctx, y)
        return _truncating_int_div(x, y)
    return np.true_divide(x, y)


def _no_complex_kernel(ctx, x):
    if x.dtype.kind == "c":
        raise ctx.error(f"{ctx.op_type} has no kernel for {x.dtype} (rounding a complex quotient is "
                        "undefined; TensorFlow registers none either)", cls=errors.UnimplementedError)


def _floor_div(ctx, x, y):
    _no_complex_kernel(ctx, x)
    if _is_int(x.dtype):
        _check_int_divisor(ctx, y)
        return np.floor_divide(x, y)
    # floor(x / y) like TensorFlow; NumPy's float floor_divide rounds differently (1 // 0.1 == 9).
    return np.floor(np.true_divide(x, y))


def _floor_mod(ctx, x, y):
    if _is_int(x.dtype):
        _check_int_divisor(ctx, y)
        return np.mod(x, y)
    r = np.fmod(x, y)
    return np.where((r != 0) & ((y < 0) != (r < 0)), r + y, r)


def _truncate_div(ctx, x, y):
    _no_complex_kernel(ctx, x)
    if _is_int(x.dtype):
        _check_int_divisor(ctx, y)
        return _truncating_int_div(x, y)
    return np.trunc(np.true_divide(x, y))


def _truncate_mod(ctx, x, y):
    if _is_int(x.dtype):
        _check_int_divisor(ctx, y)
    return np.fmod(x, y)


def _pow(ctx, x, y):
    if _is_signed_int(x.dtype) and np.any(np.less(y, 0)):
        raise ctx.error("Integers to negative integer powers are not allowed")
    return np.power(x, y)


def _squared_difference(ctx, x, y):
    d = np.subtract(x, y)
    if d.dtype.kind == "c":
        return d * np.conj(d)
    return np.multiply(d, d)


def _div_no_nan(ctx, x, y):
    if y.ndim == 0 and x.ndim == 0:  # the common case (a loss's mean): no temporaries
        return np.zeros((), x.dtype) if y == 0 else np.asarray(np.true_divide(x, y))
    zero = y == 0
    return np.where(zero, np.zeros((), x.dtype), np.true_divide(x, np.where(zero, np.ones((), y.dtype), y)))


def _register_binary(name, types, fn, out="T", commutative=False, aggregate=False, attrs=(), shape=None):
    register_op(name, inputs=["x: T", "y: T"], outputs=[f"z: {out}"], attrs=[f"T: {types}", *attrs],
                shape=shape or shape_fns.broadcast_binary, cpu=_broadcasting(fn),
                commutative=commutative, aggregate=aggregate)


_register_binary("Add", _ADD, _add)
_register_binary("AddV2", _ADDV2, np.add, commutative=True, aggregate=True)
_register_binary("Sub", _SUB, np.subtract)
_register_binary("Mul", _ARITH, np.multiply, commutative=True)
_register_binary("RealDiv", _ARITH, _real_div)
_register_binary("Div", _ARITH, _div)
_register_binary("FloorDiv", _ARITH, _floor_div)
_register_binary("TruncateDiv", _ARITH, _truncate_div)
_register_binary("FloorMod", _FLOORMOD, _floor_mod)
_register_binary("TruncateMod", "{int32, int64, bfloat16, half, float, double}", _truncate_mod)
_register_binary("DivNoNan", "{half, float, bfloat16, double, complex64, complex128}", _div_no_nan)
_register_binary("Maximum", _MINMAX, np.maximum)
_register_binary("Minimum", _MINMAX, np.minimum)
_register_binary("Pow", _POW, _pow)
_register_binary("SquaredDifference", _SQDIFF, _squared_difference, commutative=True)
_register_binary("BitwiseAnd", _BITWISE, np.bitwise_and, commutative=True)
_register_binary("BitwiseOr", _BITWISE, np.bitwise_or, commutative=True)
_register_binary("BitwiseXor", _BITWISE, np.bitwise_xor, commutative=True)


# -- comparisons and logical ops -------------------------------------------------------------------
def _broadcast_shape_lenient(a, b):
    """TF's broadcast shape function with ``incompatible_shape_error=False``: where it cannot prove
    the shapes broadcast, the output shape is unknown; where they provably do not, it is a scalar."""
    if a.ndims is None or b.ndims is None:
        return tensor_shape.TensorShape(None)
    da, db = a.as_list(), b.as_list()
    n = max(len(da), len(db))
    da = [1] * (n - len(da)) + da
    db = [1] * (n - len(db)) + db
    out = []
    for x, y in zip(da, db):
        if x is None or y is None:
            if (x is not None and x > 1) or (y is not None and y > 1):
                return tensor_shape.TensorShape(None)
            out.append(y if x == 1 else x if y == 1 else None)
        elif x == 1 or y == 1:
            out.append(y if x == 1 else x)
        elif x != y:
            return tensor_shape.TensorShape([])
        else:
            out.append(x)
    return tensor_shape.TensorShape(out)


def _equality_shape(op):
    if op.get_attr("incompatible_shape_error"):
        return shape_fns.broadcast_binary(op)
    return [_broadcast_shape_lenient(op.inputs[0].shape, op.inputs[1].shape)]


def _equality_kernel(ufunc, mismatch_value):
    def kernel(ctx, x, y):
        if not ctx.attrs["incompatible_shape_error"] and not _broadcastable(np.shape(x), np.shape(y)):
            return np.array(mismatch_value)  # TF: incompatible shapes compare as one scalar
        return np.asarray(ufunc(x, y), dtype=np.bool_)
    return kernel


for _name, _ufunc, _mismatch in (("Equal", np.equal, False), ("NotEqual", np.not_equal, True)):
    _register_binary(_name, "type", _equality_kernel(_ufunc, _mismatch), out="bool", commutative=True,
                     attrs=["incompatible_shape_error: bool = true"], shape=_equality_shape)

_COMPARABLE = "{realnumbertype}"
_register_binary("Less", _COMPARABLE, np.less, out="bool")
_register_binary("LessEqual", _COMPARABLE, np.less_equal, out="bool")
_register_binary("Greater", _COMPARABLE, np.greater, out="bool")
_register_binary("GreaterEqual", _COMPARABLE, np.greater_equal, out="bool")

for _name, _ufunc in (("LogicalAnd", np.logical_and), ("LogicalOr", np.logical_or)):
    register_op(_name, inputs=["x: bool", "y: bool"], outputs=["z: bool"],
                shape=shape_fns.broadcast_binary, cpu=_broadcasting(_ufunc), commutative=True)
register_op("LogicalNot", inputs=["x: bool"], outputs=["y: bool"], shape=shape_fns.unchanged,
            cpu=lambda ctx, x: np.logical_not(x))


# -- AddN ------------------------------------------------------------------------------------------
def _add_n_shape(op):
    shape = tensor_shape.TensorShape(None)
    for t in op.inputs:
        try:
            shape = shape.merge_with(t.shape)
        except ValueError as e:
            raise ValueError(f"AddN inputs must all have the same shape: {e}") from None
    return [shape]


def _add_n_kernel(ctx, *xs):
    first = np.shape(xs[0])
    for i, x in enumerate(xs[1:], 1):
        if np.shape(x) != first:
            raise ctx.error(f"Inputs to operation AddN must have the same size and shape.  Input 0: "
                            f"{_fmt_shape(first)} != input {i}: {_fmt_shape(np.shape(x))}")
    if len(xs) == 1:
        return xs[0]
    total = np.add(xs[0], xs[1])
    for x in xs[2:]:
        np.add(total, x, out=total)  # ``total`` is our own fresh array
    return total


register_op("AddN", inputs=["inputs: N * T"], outputs=["sum: T"],
            attrs=["N: int >= 1", "T: {numbertype, variant}"],
            shape=_add_n_shape, cpu=_add_n_kernel, commutative=True, aggregate=True)


# -- API helpers -----------------------------------------------------------------------------------
def _gen_binary(op_type, public_name):
    def fn(x, y, name=None):
        return apply_op(op_type, x=x, y=y, name=name)
    fn.__name__ = fn.__qualname__ = public_name
    fn.__doc__ = (f"Elementwise ``{op_type}`` of ``x`` and ``y`` with NumPy-style broadcasting.\n\n"
                  f"Example:\n    >>> tf.{public_name}([1.0, 2.0], 3.0)     # one {op_type} op\n")
    return fn


# -- API: arithmetic -------------------------------------------------------------------------------
def add(x, y, name=None):
    """``x + y`` elementwise with broadcasting (AddV2; Add for strings, which concatenates).

    Example:
        >>> tf.add([1, 2], 10)            # -> [11, 12]
    """
    with ops.name_scope(name, "Add", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, dtype_hint=x.dtype.base_dtype, name="y")
        op_type = "Add" if x.dtype.base_dtype == dtypes.string else "AddV2"
        return apply_op(op_type, x=x, y=y, name=scope)


subtract = _gen_binary("Sub", "subtract")
multiply = _gen_binary("Mul", "multiply")
maximum = _gen_binary("Maximum", "maximum")
minimum = _gen_binary("Minimum", "minimum")
squared_difference = _gen_binary("SquaredDifference", "squared_difference")
floor_div = _gen_binary("FloorDiv", "floor_div")
floormod = _gen_binary("FloorMod", "floormod")
truncatediv = _gen_binary("TruncateDiv", "truncatediv")
truncatemod = _gen_binary("TruncateMod", "truncatemod")
mod = floormod


def realdiv(x, y, name=None):
    """``x / y`` for floating and complex tensors (the RealDiv op).

    TypeError for integer tensors: TensorFlow has no RealDiv kernel for them (use ``truediv``,
    which casts integers to floats, or ``floordiv``/``truncatediv``).

    Example:
        >>> tf.realdiv([1.0, 3.0], 2.0)   # -> [0.5, 1.5]
    """
    y_is_tensor = isinstance(y, ops.Tensor)
    x = convert_to_tensor(x, dtype_hint=y.dtype.base_dtype if y_is_tensor else None)
    if not (x.dtype.is_floating or x.dtype.is_complex):
        raise TypeError(f"realdiv: RealDiv needs floating or complex tensors, got {x.dtype.name} "
                        f"(tensor {x.name!r}); use truediv (casts integers to float) or floordiv")
    return apply_op("RealDiv", x=x, y=y, name=name)


_TRUEDIV_CASTS = {
    dtypes.uint8: dtypes.float32, dtypes.int8: dtypes.float32, dtypes.uint16: dtypes.float32,
    dtypes.int16: dtypes.float32, dtypes.uint32: dtypes.float64, dtypes.int32: dtypes.float64,
    dtypes.uint64: dtypes.float64, dtypes.int64: dtypes.float64,
}
_TRUEDIV_OK = frozenset([dtypes.bfloat16, dtypes.float16, dtypes.float32, dtypes.float64,
                         dtypes.complex64, dtypes.complex128])


def truediv(x, y, name=None):
    """Python-3 division: integers are cast to float (int32/int64 -> float64, smaller -> float32)
    before a RealDiv, like TensorFlow.

    Example:
        >>> tf.truediv(tf.constant([1, 3]), 2)        # float64 [0.5, 1.5]
    """
    with ops.name_scope(name, "truediv", [x, y]) as scope:
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, dtype_hint=x.dtype.base_dtype, name="y")
        x_dtype, y_dtype = x.dtype.base_dtype, y.dtype.base_dtype
        if x_dtype != y_dtype:
            raise TypeError(f"`x` and `y` must have the same dtype, got {x_dtype!r} != {y_dtype!r}.")
        if x_dtype in _TRUEDIV_CASTS:
            x, y = cast(x, _TRUEDIV_CASTS[x_dtype]), cast(y, _TRUEDIV_CASTS[x_dtype])
        elif x_dtype not in _TRUEDIV_OK:
            raise TypeError(f"Invalid dtype {x_dtype!r} in __truediv__")
        return apply_op("RealDiv", x=x, y=y, name=scope)


def divide(x, y, name=None):
    """Python-style division ``x / y`` (``truediv``).

    Example:
        >>> tf.divide(7, 2)           # float64 3.5
    """
    if not isinstance(x, ops.Tensor):
        x = convert_to_tensor(x, dtype=y.dtype.base_dtype if isinstance(y, ops.Tensor) else None)
    return truediv(x, y, name=name)


def div(x, y, name=None):
    """Python-2 division (``tf.compat.v1.div``): RealDiv for floats, FloorDiv for integers.

    Example:
        >>> tf.div(tf.constant(-7), 2)    # -> -4
    """
    with ops.name_scope(name, "div", [x, y]) as scope:
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, name="y", dtype=x.dtype.base_dtype)
        op_type = "RealDiv" if x.dtype.is_floating or x.dtype.is_complex else "FloorDiv"
        return apply_op(op_type, x=x, y=y, name=scope)


def floordiv(x, y, name=None):
    """``floor(x / y)`` (FloorDiv); rounds toward negative infinity for integers too.

    Example:
        >>> tf.floordiv(-7, 2)        # -> -4
    """
    with ops.name_scope(name, "floordiv", [x, y]) as scope:
        return apply_op("FloorDiv", x=x, y=y, name=scope)


def div_no_nan(x, y, name=None):
    """``x / y``, or 0 where ``y`` is 0 (DivNoNan).

    Example:
        >>> tf.div_no_nan([1.0, 2.0], [0.0, 4.0])     # -> [0.0, 0.5]
    """
    with ops.name_scope(name, "div_no_nan", [x, y]) as scope:
        x = convert_to_tensor(x, name="x")
        y = convert_to_tensor(y, name="y", dtype=x.dtype.base_dtype)
        return apply_op("DivNoNan", x=x, y=y, name=scope)


def pow(x, y, name=None):  # noqa: A001 - TensorFlow's name
    """``x ** y`` elementwise (Pow); negative integer exponents of integers are an error.

    Example:
        >>> tf.pow([2, 3], 2)         # -> [4, 9]
    """
    with ops.name_scope(name, "Pow", [x]) as scope:
        return apply_op("Pow", x=x, y=y, name=scope)


def scalar_mul(scalar, x, name=None):
    """Multiplies the 0-D ``scalar`` with ``x`` (Mul); ValueError for a non-scalar.

    Example:
        >>> tf.scalar_mul(2.0, tf.ones([3]))
    """
    base = (x.dtype if isinstance(x, ops.Tensor) else convert_to_tensor(x).dtype).base_dtype
    scalar = convert_to_tensor(scalar, dtype=base, name="scalar")
    if scalar.shape.ndims != 0:
        raise ValueError(f"The input scalar must be a 0-D value. Received shape {scalar.shape}.")
    return apply_op("Mul", x=scalar, y=x, name=name)


def add_n(inputs, name=None):
    """Sums a list of same-shape, same-dtype tensors (AddN; a single input is returned as is).

    Example:
        >>> tf.add_n([a, b, c])
    """
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("Inputs must be an iterable of at least one Tensor/IndexedSlices with the "
                         "same dtype and shape.")
    inputs = [convert_to_tensor(t) for t in inputs]
    if len(inputs) == 1:
        if name:
            from gpugraph.ops import core_ops
            return core_ops.identity(inputs[0], name=name)
        return inputs[0]
    return apply_op("AddN", inputs=inputs, name=name)


# -- API: comparisons and logic --------------------------------------------------------------------
equal = _gen_binary("Equal", "equal")
not_equal = _gen_binary("NotEqual", "not_equal")
less = _gen_binary("Less", "less")
less_equal = _gen_binary("LessEqual", "less_equal")
greater = _gen_binary("Greater", "greater")
greater_equal = _gen_binary("GreaterEqual", "greater_equal")
logical_and = _gen_binary("LogicalAnd", "logical_and")
logical_or = _gen_binary("LogicalOr", "logical_or")


def logical_xor(x, y, name="LogicalXor"):
    """``x XOR y`` for bool tensors, built as ``(x | y) & ~(x & y)`` like TensorFlow.

    Example:
        >>> tf.logical_xor([True, True], [True, False])   # -> [False, True]
    """
    return apply_op("LogicalAnd", x=apply_op("LogicalOr", x=x, y=y),
                    y=apply_op("LogicalNot", x=apply_op("LogicalAnd", x=x, y=y)), name=name)


# -- Tensor operator overloads ---------------------------------------------------------------------
def _bitwise_or_logical(logical, bitwise):
    def fn(x, y, name=None):
        if x.dtype.base_dtype == dtypes.bool:
            return logical(x, y, name=name)
        return apply_op(bitwise, x=x, y=y, name=name)
    return fn


def _mul_operator(x, y, name=None):
    # TensorFlow multiplies bools as int32 and casts back.
    if any(isinstance(v, ops.Tensor) and v.dtype.base_dtype == dtypes.bool for v in (x, y)):
        product = apply_op("Mul", x=apply_op("Cast", x=x, DstT=dtypes.int32),
                           y=apply_op("Cast", x=y, DstT=dtypes.int32), name=name)
        return apply_op("Cast", x=product, DstT=dtypes.bool)
    return multiply(x, y, name=name)


def _add_operator(x, y, name=None):
    if not isinstance(y, ops.Tensor):
        y = convert_to_tensor(y, dtype_hint=x.dtype.base_dtype, name="y")
    op_type = "Add" if x.dtype.base_dtype == dtypes.string else "AddV2"
    return apply_op(op_type, x=x, y=y, name=name)


def _override_binary(func, op_name):
    """Installs ``__op__`` and ``__rop__`` the way TensorFlow does: inside ``name_scope(op_name)``;
    the reflected form converts the Python operand to the tensor's dtype as ``<scope>/x``."""
    def forward(x, y):
        with ops.name_scope(None, op_name, [x, y]) as name:
            if not _is_tensor_like(y):
                y = convert_to_tensor(y, dtype_hint=x.dtype.base_dtype, name="y")
            return func(x, y, name=name)

    def reflected(y, x):
        with ops.name_scope(None, op_name, [x, y]) as name:
            x = convert_to_tensor(x, dtype=y.dtype.base_dtype, name="x")
            return func(x, y, name=name)

    forward.__name__, reflected.__name__ = f"__{op_name}__", f"__r{op_name}__"
    ops.Tensor._override_operator(f"__{op_name}__", forward)
    ops.Tensor._override_operator(f"__r{op_name}__", reflected)


def _is_tensor_like(value):
    return isinstance(value, ops.Tensor) or hasattr(value, "_as_graph_element")


def _invert(x, name=None):
    if x.dtype.base_dtype == dtypes.bool:
        return apply_op("LogicalNot", x=x, name=name)
    return apply_op("Invert", x=x, name=name)


_override_binary(_add_operator, "add")
_override_binary(subtract, "sub")
_override_binary(_mul_operator, "mul")
_override_binary(truediv, "truediv")
_override_binary(floordiv, "floordiv")
_override_binary(lambda x, y, name=None: apply_op("FloorMod", x=x, y=y, name=name), "mod")
_override_binary(pow, "pow")
_override_binary(_bitwise_or_logical(logical_and, "BitwiseAnd"), "and")
_override_binary(_bitwise_or_logical(logical_or, "BitwiseOr"), "or")
_override_binary(_bitwise_or_logical(logical_xor, "BitwiseXor"), "xor")
ops.Tensor._override_operator("__neg__", lambda x, name=None: apply_op("Neg", x=x, name=name))
ops.Tensor._override_operator("__abs__", lambda x, name=None: abs(x, name=name))
ops.Tensor._override_operator("__invert__", _invert)
ops.Tensor._override_operator("__lt__", less)
ops.Tensor._override_operator("__le__", less_equal)
ops.Tensor._override_operator("__gt__", greater)
ops.Tensor._override_operator("__ge__", greater_equal)


EXPORTS = {
    "": ["add", "subtract", "multiply", "divide", "truediv", "div", "floordiv", "floor_div",
         "truncatediv", "truncatemod", "mod", "floormod", "realdiv", "div_no_nan", "maximum",
         "minimum", "pow", "squared_difference", "add_n", "scalar_mul", "equal", "not_equal", "less",
         "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor"],
    "math": ["add", "subtract", "multiply", "divide", "truediv", "floordiv", "mod", "floormod",
             "maximum", "minimum", "pow", "squared_difference", "add_n", "scalar_mul", "equal",
             "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
             "logical_xor", "divide_no_nan=div_no_nan"],
}
