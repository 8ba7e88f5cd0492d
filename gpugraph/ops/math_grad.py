"""Gradients of the math ops, ported from TensorFlow's ``python/ops/math_grad.py``.

Broadcasting binary ops reduce each input's gradient over the axes it was broadcast along: known
statically from the shapes when possible, else computed by ``BroadcastGradientArgs`` at run time,
then ``Sum(keep_dims=True)`` + ``Reshape`` — the same graph TensorFlow builds, so a graph
differentiated here runs in TensorFlow and vice versa.

Example:
    >>> y = tf.reduce_sum(a * b)               # a: [2, 3], b: [3]
    >>> da, db = tf.gradients(y, [a, b])       # db sums over axis 0
"""

import numpy as np

from gpugraph.framework import dtypes, ops
from gpugraph.framework.op_builder import apply_op, constant, constant_value
from gpugraph.ops import grad_util as gu
from gpugraph.ops.grad_ops import broadcast_gradient_args
from gpugraph.ops.gradients_impl import RegisterGradient, not_differentiable

_FLOAT_OR_COMPLEX = (dtypes.float16, dtypes.float32, dtypes.float64, dtypes.bfloat16,
                     dtypes.complex64, dtypes.complex128)


# -- broadcasting --------------------------------------------------------------------------------
def _infer_reduction_axes(x_shape, y_shape):
    """The axes each side was broadcast along, when the static shapes decide it (else None, None)."""
    if x_shape.ndims is None or y_shape.ndims is None:
        return None, None
    xs, ys = x_shape.as_list(), y_shape.as_list()
    n = max(len(xs), len(ys))
    x_axes, y_axes = [], []
    for axis in range(n):
        x_dim = 1 if axis < n - len(xs) else xs[axis - (n - len(xs))]
        y_dim = 1 if axis < n - len(ys) else ys[axis - (n - len(ys))]
        if x_dim == 1 and y_dim != 1:
            x_axes.append(axis)
        elif y_dim == 1 and x_dim != 1:
            y_axes.append(axis)
        elif x_dim is None or y_dim is None:
            return None, None
    return x_axes, y_axes


def smart_broadcast_gradient_args(x, y):
    """TF's SmartBroadcastGradientArgs: ((shape, axes, must_reduce) for x, the same for y)."""
    x_shape = gu.shape(x)
    y_shape = gu.shape(y)
    x_axes, y_axes = _infer_reduction_axes(x.shape, y.shape)
    if x_axes is None or y_axes is None:
        x_axes, y_axes = apply_op("BroadcastGradientArgs", s0=x_shape, s1=y_shape)
        x_must = y_must = True
    else:
        x_must = bool(x_axes) or x.shape.ndims < y.shape.ndims
        y_must = bool(y_axes) or y.shape.ndims < x.shape.ndims
    return (x_shape, x_axes, x_must), (y_shape, y_axes, y_must)


def _reduce_gradient_arg(grad, shape_axes_must):
    shape, axes, must = shape_axes_must
    if grad is not None and must:
        grad = gu.reduce_sum(grad, axes, keepdims=True)
        grad = gu.reshape(grad, shape)
    return grad


def reduce_gradient_args(x, y, gx, gy):
    """Sums ``gx``/``gy`` over the axes ``x``/``y`` were broadcast along and restores their shapes."""
    if gx is not None or gy is not None:
        bx, by = smart_broadcast_gradient_args(x, y)
        gx = _reduce_gradient_arg(gx, bx)
        gy = _reduce_gradient_arg(gy, by)
    return gx, gy


def _fully_specified_and_equal(x, y, grad):
    return (x.shape.is_fully_defined() and x.shape.as_list() == y.shape.as_list()
            and grad.shape.is_fully_defined() and grad.shape.as_list() == x.shape.as_list())


def _scoped(op_type, default_name, x, y):
    """``x <op> y`` as TF's operator overloads name it (a ``default_name`` scope around the op)."""
    with ops.name_scope(default_name) as scope:
        return gu.binary(op_type, x, y, name=scope)


def _mul(x, y):
    return _scoped("Mul", "mul", x, y)


def _truediv(x, y):
    return _scoped("RealDiv", "truediv", x, y)


def _sub(x, y):
    return _scoped("Sub", "sub", x, y)


def _add(x, y):
    return _scoped("AddV2", "add", x, y)


def _mod(x, y):
    return _scoped("FloorMod", "mod", x, y)


def _reduce_prod_all(x):
    """``math_ops.reduce_prod(x)`` of a tensor of known rank (axes as a Const named Const)."""
    axes = constant(list(range(x.shape.ndims)), dtype=dtypes.int32, name="Const")
    return gu.op("Prod", input=x, reduction_indices=axes)


# -- reductions ----------------------------------------------------------------------------------
def _static_value(t):
    """``constant_value`` that also folds Range (what ``reduce_sum`` of a scalar uses for its axes)."""
    value = constant_value(t)
    if value is None and t.op.type == "Range":
        parts = [constant_value(i) for i in t.op.inputs]
        if all(p is not None for p in parts):
            value = np.arange(*[p.item() for p in parts]).astype(t.dtype.base_dtype.as_numpy_dtype)
    return value


def _normalized_axes(axes, rank):
    return sorted({int(a) % rank for a in np.reshape(axes, -1)}) if rank else []


def _reduced_shape(op):
    """The input's shape with the reduced axes set to 1 (a list when static, else a tensor)."""
    x, axes_t = op.inputs[0], op.inputs[1]
    axes = _static_value(axes_t)
    rank = x.shape.ndims
    if rank == 0:
        return []
    if rank is not None and axes is not None:
        reduced = set(_normalized_axes(axes, rank))
        if x.shape.is_fully_defined():
            return [1 if i in reduced else d for i, d in enumerate(x.shape.as_list())]
        mask = constant([i in reduced for i in range(rank)], dtype=dtypes.bool, name="reduced_mask")
        return gu.where_v2(mask, constant(np.ones(rank, np.int32)), gu.shape(x))
    # Unknown rank or run-time axes: mark the reduced positions with Equal + Any.
    input_shape = gu.shape(x)
    input_rank = gu.size(input_shape)
    axes_i = gu.cast(axes_t, dtypes.int32)
    norm = _mod(_add(axes_i, input_rank), input_rank)
    positions = gu.range_(0, input_rank)
    hits = apply_op("Equal", x=gu.expand_dims(positions, 1), y=gu.expand_dims(gu.reshape(norm, [-1]), 0))
    mask = gu.op("Any", input=hits, reduction_indices=1)
    return gu.where_v2(mask, gu.ones_like(input_shape), input_shape)


@RegisterGradient("Sum")
def _sum_grad(op, grad):
    x = op.inputs[0]
    if x.shape.ndims is not None:
        axes = _static_value(op.inputs[1])
        if axes is not None:
            rank = x.shape.ndims
            if np.array_equal(axes, np.arange(rank)):  # every dim reduced: Reshape + Tile
                grad = gu.reshape(grad, [1] * rank)
                if x.shape.is_fully_defined():
                    input_shape = constant(x.shape.as_list(), dtype=dtypes.int32, name="Const")
                else:
                    input_shape = gu.shape(x)
                return [gu.tile(grad, input_shape), None]
            if x.shape.is_fully_defined():
                kept = _reduced_shape(op)
                scaling = [d // max(k, 1) for d, k in zip(x.shape.as_list(), kept)]
                grad = gu.reshape(grad, kept)
                return [gu.tile(grad, scaling), None]
    input_shape = gu.shape(x)
    if not op.get_attr("keep_dims"):
        grad = gu.reshape(grad, _reduced_shape(op))
    return [gu.op("BroadcastTo", input=grad, shape=input_shape), None]


def _min_or_max_grad(op, grad):
    x, y = op.inputs[0], op.outputs[0]
    if not op.get_attr("keep_dims"):
        kept = _reduced_shape(op)
        y = gu.reshape(y, kept)
        grad = gu.reshape(grad, kept)
    else:
        kept = gu.shape(y)
    indicators = gu.cast(apply_op("Equal", x=y, y=x), grad.dtype.base_dtype)
    num_selected = gu.reshape(gu.reduce_sum(indicators, op.inputs[1]), kept)
    return [_mul(_truediv(indicators, num_selected), grad), None]


RegisterGradient("Max")(_min_or_max_grad)
RegisterGradient("Min")(_min_or_max_grad)


@RegisterGradient("Mean")
def _mean_grad(op, grad):
    sum_grad = _sum_grad(op, grad)[0]
    x, out = op.inputs[0], op.outputs[0]
    if x.shape.is_fully_defined() and out.shape.is_fully_defined():
        factor = x.shape.num_elements() // max(out.shape.num_elements(), 1)
        factor = constant(factor, dtype=sum_grad.dtype.base_dtype, name="Const")
    else:
        input_shape = gu.shape(x)
        input_rank = gu.size(input_shape)
        axes = gu.cast(op.inputs[1], dtypes.int32)
        axes = _mod(_add(axes, input_rank), input_rank)
        factor = _reduce_prod_all(gu.op("GatherV2", params=input_shape, indices=axes, axis=0))
    return _truediv(sum_grad, gu.cast(factor, sum_grad.dtype.base_dtype)), None


@RegisterGradient("Prod")
def _prod_grad(op, grad):
    """TF's zero-safe product gradient: exclusive cumprods from both sides of the reduced axes."""
    x = op.inputs[0]
    input_shape = gu.shape(x)
    reduction_indices = gu.reshape(op.inputs[1], [-1])
    if not op.get_attr("keep_dims"):
        grad = gu.reshape(grad, _reduced_shape(op))
    grad = gu.op("BroadcastTo", input=grad, shape=input_shape)
    with ops.device("/cpu:0"):
        rank = gu.rank(x)
        reduction_indices = gu.cast(reduction_indices, dtypes.int32)
        reduced = _mod(_add(reduction_indices, rank), rank)
        idx = gu.range_(0, rank)
        other, _ = apply_op("ListDiff", x=idx, y=reduced, out_idx=dtypes.int32)
        perm = gu.concat([reduced, other], 0)
        reduced_num = _reduce_prod_all(gu.op("GatherV2", params=input_shape, indices=reduced, axis=0))
        other_num = _reduce_prod_all(gu.op("GatherV2", params=input_shape, indices=other, axis=0))
    permuted = gu.transpose(x, perm)
    permuted_shape = gu.shape(permuted)
    reshaped = gu.reshape(permuted, apply_op("Pack", values=[reduced_num, other_num], axis=0))
    left = gu.op("Cumprod", x=reshaped, axis=0, exclusive=True)
    right = gu.op("Cumprod", x=reshaped, axis=0, exclusive=True, reverse=True)
    y = gu.reshape(_mul(gu.conj(left), gu.conj(right)), permuted_shape)
    out = _mul(grad, gu.transpose(y, apply_op("InvertPermutation", x=perm)))
    return gu.reshape(out, input_shape), None


# -- cumulative ops, segment sums ---------------------------------------------------------------------
@RegisterGradient("Cumsum")
def _cumsum_grad(op, grad):
    return [apply_op("Cumsum", x=grad, axis=op.inputs[1], exclusive=op.get_attr("exclusive"),
                     reverse=not op.get_attr("reverse")), None]


@RegisterGradient("Cumprod")
def _cumprod_grad(op, grad):
    x, axis = op.inputs
    exclusive, reverse = op.get_attr("exclusive"), op.get_attr("reverse")
    prod = apply_op("Cumprod", x=x, axis=axis, exclusive=exclusive, reverse=reverse)
    out = apply_op("Cumsum", x=_mul(prod, grad), axis=axis, exclusive=exclusive, reverse=not reverse)
    with ops.name_scope("div_no_nan") as scope:
        return [apply_op("DivNoNan", x=out, y=x, name=scope), None]


@RegisterGradient("UnsortedSegmentSum")
def _unsorted_segment_sum_grad(op, grad):
    """Each data element gets the gradient of its segment; elements with a negative id get 0."""
    ids = op.inputs[1]
    clipped = apply_op("Maximum", x=ids, y=gu.zeros_like(ids))
    gathered = gu.op("GatherV2", params=grad, indices=clipped, axis=0)
    is_positive = apply_op("GreaterEqual", x=ids, y=constant(0, dtype=ids.dtype.base_dtype))
    data = op.inputs[0]  # the gathered gradient has the data's shape
    extra = data.shape.ndims - ids.shape.ndims if data.shape.ndims is not None and \
        ids.shape.ndims is not None else None
    if extra is None:
        raise LookupError(f"the gradient of UnsortedSegmentSum needs inputs of known rank (node {op.name})")
    if extra:  # broadcast the id mask over the trailing data dims
        is_positive = gu.reshape(is_positive, gu.concat([gu.shape(ids), [1] * extra], 0))
    return gu.where_v2(is_positive, gathered, gu.zeros_like(gathered)), None, None


# -- unary math --------------------------------------------------------------------------------------
@RegisterGradient("Neg")
def _neg_grad(op, grad):
    return apply_op("Neg", x=grad)


@RegisterGradient("Abs")
def _abs_grad(op, grad):
    return _mul(grad, apply_op("Sign", x=op.inputs[0]))


@RegisterGradient("Reciprocal")
def _reciprocal_grad(op, grad):
    return apply_op("ReciprocalGrad", y=op.outputs[0], dy=grad)


@RegisterGradient("Square")
def _square_grad(op, grad):
    x = op.inputs[0]
    with ops.control_dependencies([grad]):
        x = gu.conj(x)
        two = constant(2.0, dtype=x.dtype.base_dtype, name="Const")
        return gu.mul(grad, gu.mul(x, two))


def _unary_grad_op(grad_op_type):
    """Gradient ``grad_op_type(y, dy)`` of an op whose derivative is a function of its output."""
    def grad_fn(op, grad):
        y = op.outputs[0]
        with ops.control_dependencies([grad]):
            return apply_op(grad_op_type, y=gu.conj(y), dy=grad)
    return grad_fn


RegisterGradient("Sqrt")(lambda op, grad: apply_op("SqrtGrad", y=op.outputs[0], dy=grad))
RegisterGradient("Rsqrt")(lambda op, grad: apply_op("RsqrtGrad", y=op.outputs[0], dy=grad))
RegisterGradient("Tanh")(_unary_grad_op("TanhGrad"))
RegisterGradient("Sigmoid")(_unary_grad_op("SigmoidGrad"))


@RegisterGradient("Exp")
def _exp_grad(op, grad):
    y = op.outputs[0]
    with ops.control_dependencies([grad]):
        return _mul(grad, gu.conj(y))


@RegisterGradient("Log")
def _log_grad(op, grad):
    x = op.inputs[0]
    with ops.control_dependencies([grad]):
        return _mul(grad, apply_op("Reciprocal", x=gu.conj(x)))


@RegisterGradient("Log1p")
def _log1p_grad(op, grad):
    x = op.inputs[0]
    with ops.control_dependencies([grad]):
        return _mul(grad, apply_op("Reciprocal", x=_add(1, gu.conj(x))))


@RegisterGradient("Erf")
def _erf_grad(op, grad):
    x = op.inputs[0]
    two_over_root_pi = constant(2 / np.sqrt(np.pi), dtype=grad.dtype.base_dtype, name="Const")
    with ops.control_dependencies([grad]):
        x = gu.conj(x)
        return _mul(_mul(grad, two_over_root_pi), apply_op("Exp", x=apply_op("Neg", x=apply_op("Square", x=x))))


@RegisterGradient("Erfc")
def _erfc_grad(op, grad):
    x = op.inputs[0]
    minus_two_over_root_pi = constant(-2 / np.sqrt(np.pi), dtype=grad.dtype.base_dtype, name="Const")
    with ops.control_dependencies([grad]):
        x = gu.conj(x)
        return _mul(_mul(grad, minus_two_over_root_pi),
                    apply_op("Exp", x=apply_op("Neg", x=apply_op("Square", x=x))))


@RegisterGradient("Sign")
def _sign_grad(op, grad):
    return gu.zeros_like(op.inputs[0])


for _t in ("Floor", "Ceil", "Round", "Rint"):
    RegisterGradient(_t)(lambda op, grad: [None])


@RegisterGradient("Conj")
def _conj_grad(op, grad):
    return gu.conj(grad)


# -- second-order: the gradients of the gradient ops --------------------------------------------------
@RegisterGradient("TanhGrad")
def _tanh_grad_grad(op, grad):
    with ops.control_dependencies([grad]):
        a, b = gu.conj(op.inputs[0]), gu.conj(op.inputs[1])
        return _mul(_mul(_mul(grad, -2.0), b), a), apply_op("TanhGrad", y=a, dy=grad)


@RegisterGradient("SigmoidGrad")
def _sigmoid_grad_grad(op, grad):
    with ops.control_dependencies([grad]):
        a, b = gu.conj(op.inputs[0]), gu.conj(op.inputs[1])
        gb = _mul(grad, b)
        return _sub(gb, _mul(_mul(2.0, gb), a)), apply_op("SigmoidGrad", y=a, dy=grad)


@RegisterGradient("SqrtGrad")
def _sqrt_grad_grad(op, grad):
    a, y = op.inputs[0], op.outputs[0]
    with ops.control_dependencies([grad]):
        ga = _truediv(grad, a)
        return _mul(apply_op("Neg", x=gu.conj(ga)), y), _mul(0.5, ga)


@RegisterGradient("RsqrtGrad")
def _rsqrt_grad_grad(op, grad):
    a, b = op.inputs
    with ops.control_dependencies([grad]):
        ca, cg = gu.conj(a), gu.conj(grad)
        grad_a = _mul(_mul(_mul(-1.5, cg), b), apply_op("Square", x=ca))
        return grad_a, apply_op("RsqrtGrad", y=ca, dy=grad)


@RegisterGradient("ReciprocalGrad")
def _reciprocal_grad_grad(op, grad):
    b = op.inputs[1]
    with ops.control_dependencies([grad]):
        ca, cg = gu.conj(op.inputs[0]), gu.conj(grad)
        return _mul(_mul(_mul(cg, -2.0), b), ca), apply_op("ReciprocalGrad", y=ca, dy=grad)


# -- binary arithmetic --------------------------------------------------------------------------------
@RegisterGradient("AddN")
def _add_n_grad(op, grad):
    return [grad] * len(op.inputs)


def _add_grad(op, grad):
    x, y = op.inputs
    if _fully_specified_and_equal(x, y, grad):
        return grad, grad
    return reduce_gradient_args(x, y, grad, grad)


RegisterGradient("Add")(_add_grad)
RegisterGradient("AddV2")(_add_grad)


@RegisterGradient("Sub")
def _sub_grad(op, grad):
    x, y = op.inputs
    if _fully_specified_and_equal(x, y, grad):
        return grad, apply_op("Neg", x=grad)
    return reduce_gradient_args(x, y, grad, apply_op("Neg", x=grad))


@RegisterGradient("Mul")
def _mul_grad(op, grad):
    x, y = op.inputs
    if _fully_specified_and_equal(x, y, grad) and grad.dtype.base_dtype in (dtypes.int32, dtypes.float32):
        return gu.mul(grad, y), gu.mul(grad, x)
    gx = gu.mul(grad, gu.conj(y))
    gy = gu.mul(gu.conj(x), grad)
    return reduce_gradient_args(x, y, gx, gy)


def _div_grad(realdiv):
    def grad_fn(op, grad):
        x, y = op.inputs
        cx, cy = gu.conj(x), gu.conj(y)
        div = (lambda a, b: apply_op("RealDiv", x=a, y=b)) if realdiv else _truediv
        gx = div(grad, cy)
        gy = _mul(grad, div(div(apply_op("Neg", x=cx), cy), cy))
        return reduce_gradient_args(x, y, gx, gy)
    return grad_fn


RegisterGradient("Div")(_div_grad(False))
RegisterGradient("RealDiv")(_div_grad(True))


@RegisterGradient("DivNoNan")
def _div_no_nan_grad(op, grad):
    x, y = (gu.conj(t) for t in op.inputs)

    def div_no_nan(a, b):
        with ops.name_scope("div_no_nan") as scope:
            return apply_op("DivNoNan", x=a, y=b, name=scope)

    gx = div_no_nan(grad, y)
    gy = _mul(grad, div_no_nan(div_no_nan(apply_op("Neg", x=x), y), y))
    return reduce_gradient_args(op.inputs[0], op.inputs[1], gx, gy)


RegisterGradient("FloorDiv")(lambda op, grad: (None, None))
RegisterGradient("TruncateDiv")(lambda op, grad: (None, None))


@RegisterGradient("FloorMod")
def _floor_mod_grad(op, grad):
    x, y = gu.conj(op.inputs[0]), gu.conj(op.inputs[1])
    floor_xy = apply_op("FloorDiv", x=x, y=y)
    gy = _mul(grad, apply_op("Neg", x=floor_xy))
    return reduce_gradient_args(x, y, grad, gy)


@RegisterGradient("Pow")
def _pow_grad(op, grad):
    x, y = op.inputs
    z = op.outputs[0]
    cx, cy = gu.conj(x), gu.conj(y)
    gx = _mul(_mul(grad, cy), apply_op("Pow", x=cx, y=_sub(cy, 1)))
    if x.dtype.is_complex:
        mask = apply_op("NotEqual", x=cx, y=constant(0, dtype=x.dtype.base_dtype))
    else:
        mask = apply_op("Greater", x=cx, y=constant(0, dtype=x.dtype.base_dtype))
    safe_x = gu.select(mask, cx, gu.ones_like(x))
    log_x = gu.select(mask, apply_op("Log", x=safe_x), gu.zeros_like(x))
    gy = _mul(_mul(grad, gu.conj(z)), log_x)
    return reduce_gradient_args(x, y, gx, gy)


def _maximum_minimum_grad(selector):
    def grad_fn(op, grad):
        x, y = op.inputs
        zeros = gu.zeros_like(grad)
        xmask = apply_op(selector, x=x, y=y)
        gx = gu.where_v2(xmask, grad, zeros)
        gy = gu.where_v2(xmask, zeros, grad)
        return reduce_gradient_args(x, y, gx, gy)
    return grad_fn


RegisterGradient("Maximum")(_maximum_minimum_grad("GreaterEqual"))
RegisterGradient("Minimum")(_maximum_minimum_grad("LessEqual"))


@RegisterGradient("SquaredDifference")
def _squared_difference_grad(op, grad):
    x, y = op.inputs
    with ops.control_dependencies([grad]):
        two = constant(2.0, dtype=grad.dtype.base_dtype, name="scalar")
        x_grad = _mul(apply_op("Mul", x=two, y=grad), _sub(x, y))
    if _fully_specified_and_equal(x, y, grad):
        return x_grad, apply_op("Neg", x=x_grad)
    return reduce_gradient_args(x, y, x_grad, apply_op("Neg", x=x_grad))


# -- selection, casting ---------------------------------------------------------------------------------
@RegisterGradient("Select")
def _select_grad(op, grad):
    c, x = op.inputs[0], op.inputs[1]
    zeros = gu.zeros_like(x)
    return None, gu.select(c, grad, zeros), gu.select(c, zeros, grad)


@RegisterGradient("SelectV2")
def _select_v2_grad(op, grad):
    c, x, y = op.inputs
    z = op.outputs[0]
    zeros = constant(0, dtype=grad.dtype.base_dtype, name="zeros")
    gx = gu.where_v2(c, grad, zeros)
    gy = gu.where_v2(c, zeros, grad)
    gx, _ = reduce_gradient_args(x, z, gx, None)
    gy, _ = reduce_gradient_args(y, z, gy, None)
    return None, gx, gy


@RegisterGradient("Cast")
def _cast_grad(op, grad):
    src = op.inputs[0].dtype.base_dtype
    if src in _FLOAT_OR_COMPLEX and grad.dtype.base_dtype in _FLOAT_OR_COMPLEX:
        return gu.cast(grad, src)
    return None


# -- matrix products -------------------------------------------------------------------------------
@RegisterGradient("MatMul")
def _matmul_grad(op, grad):
    t_a, t_b = op.get_attr("transpose_a"), op.get_attr("transpose_b")
    a, b = gu.conj(op.inputs[0]), gu.conj(op.inputs[1])

    def mm(p, q, ta=False, tb=False, **flag):
        return apply_op("MatMul", a=p, b=q, transpose_a=ta, transpose_b=tb, **flag)

    if not t_a and not t_b:
        return mm(grad, b, tb=True, grad_a=True), mm(a, grad, ta=True, grad_b=True)
    if not t_a and t_b:
        return mm(grad, b, grad_a=True), mm(grad, a, ta=True, grad_b=True)
    if t_a and not t_b:
        return mm(b, grad, tb=True, grad_a=True), mm(a, grad, grad_b=True)
    return mm(b, grad, ta=True, tb=True, grad_a=True), mm(grad, a, ta=True, tb=True, grad_b=True)


def _batch_matmul(p, q, adj_a, adj_b, **flag):
    """``math_ops.matmul`` with adjoints: MatMul for matrices, BatchMatMulV3 otherwise."""
    with ops.name_scope("MatMul") as scope:
        if p.shape.ndims == 2 and q.shape.ndims == 2:
            if adj_a and p.dtype.is_complex:
                p = gu.conj(p)
            if adj_b and q.dtype.is_complex:
                q = gu.conj(q)
            flags = {"grad_a": flag.get("grad_x", False), "grad_b": flag.get("grad_y", False)}
            return apply_op("MatMul", a=p, b=q, transpose_a=adj_a, transpose_b=adj_b, name=scope, **flags)
        dtype = p.dtype.base_dtype
        return apply_op("BatchMatMulV3", x=p, y=q, adj_x=adj_a, adj_y=adj_b, Tout=dtype, name=scope, **flag)


def _batch_matmul_grad(op, grad):
    x, y = op.inputs
    adj_x, adj_y = op.get_attr("adj_x"), op.get_attr("adj_y")
    if not adj_x:
        if not adj_y:
            gx = _batch_matmul(grad, y, False, True, grad_x=True)
            gy = _batch_matmul(x, grad, True, False, grad_y=True)
        else:
            gx = _batch_matmul(grad, y, False, False, grad_x=True)
            gy = _batch_matmul(grad, x, True, False, grad_y=True)
    else:
        if not adj_y:
            gx = _batch_matmul(y, grad, False, True, grad_x=True)
            gy = _batch_matmul(x, grad, False, False, grad_y=True)
        else:
            gx = _batch_matmul(y, grad, True, True, grad_x=True)
            gy = _batch_matmul(grad, x, True, True, grad_y=True)
    if op.type == "BatchMatMul":
        return gx, gy
    sx, sy = x.shape, y.shape
    may_have_batch = (sx.ndims is None or sx.ndims > 2) or (sy.ndims is None or sy.ndims > 2)
    batch_match = (sx.ndims is not None and sy.ndims is not None and sx[:-2].is_fully_defined()
                   and sy[:-2].is_fully_defined() and sx[:-2].as_list() == sy[:-2].as_list())
    if not may_have_batch or batch_match:
        return gx, gy
    shape_x, shape_y = gu.shape(x), gu.shape(y)
    if sx.is_fully_defined() and sy.is_fully_defined():
        rx, ry = broadcast_gradient_args(sx[:-2].as_list(), sy[:-2].as_list())
    else:
        rx, ry = apply_op("BroadcastGradientArgs", s0=gu.strided_slice_1d(shape_x, 0, -2),
                          s1=gu.strided_slice_1d(shape_y, 0, -2))
    gx = gu.reshape(gu.reduce_sum(gx, rx), shape_x)
    gy = gu.reshape(gu.reduce_sum(gy, ry), shape_y)
    return gx, gy


for _t in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
    RegisterGradient(_t)(_batch_matmul_grad)


@RegisterGradient("Einsum")
def _einsum_grad(op, *grads):
    """Einsum of two operands: each input's gradient is an einsum of the output gradient with the
    other operand, summing out indices that appear in that input only (TF's _EinsumGrad, without
    ellipsis broadcasting)."""
    equation = op.get_attr("equation")
    equation = equation.decode() if isinstance(equation, bytes) else equation
    grad = grads[0]
    inputs_spec, output_spec = equation.split("->")
    specs = inputs_spec.split(",")
    if "." in equation:
        raise LookupError("the gradient of Einsum with an ellipsis is not implemented")
    if len(specs) == 1:
        (x_spec,) = specs
        x = op.inputs[0]
        missing = [c for c in dict.fromkeys(x_spec) if c not in output_spec]
        if len(set(x_spec)) != len(x_spec):
            raise LookupError("the gradient of Einsum with a repeated input index is not implemented")
        g = grad
        if missing:  # summed-out indices come back by broadcasting
            reduced_spec = "".join(c for c in x_spec if c not in missing)
            g = apply_op("Einsum", inputs=[grad], equation=f"{output_spec}->{reduced_spec}", N=1)
            shape = [1 if c in missing else d for c, d in zip(x_spec, _dims_or_shape(x))]
            g = gu.reshape(g, shape)
            return [gu.op("BroadcastTo", input=g, shape=gu.shape(x))]
        return [apply_op("Einsum", inputs=[g], equation=f"{output_spec}->{x_spec}", N=1)]
    x_spec, y_spec = specs
    x, y = op.inputs
    for spec, other in ((x_spec, y_spec), (y_spec, x_spec)):
        if len(set(spec)) != len(spec) or any(c not in output_spec and c not in other for c in spec):
            raise LookupError("the gradient of Einsum with an index appearing in one input only (or "
                              "repeated) is not implemented")
    gx = apply_op("Einsum", inputs=[grad, gu.conj(y)], equation=f"{output_spec},{y_spec}->{x_spec}")
    gy = apply_op("Einsum", inputs=[gu.conj(x), grad], equation=f"{x_spec},{output_spec}->{y_spec}")
    return [gx, gy]


def _dims_or_shape(x):
    if not x.shape.is_fully_defined():
        raise LookupError("the gradient of Einsum with summed-out indices needs a static input shape")
    return x.shape.as_list()


not_differentiable("Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "ApproximateEqual",
                   "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "Range", "LinSpace",
                   "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Invert", "TruncateMod", "All", "Any",
                   "ListDiff")
RegisterGradient("ArgMax")(lambda op, grad: [None, None])
RegisterGradient("ArgMin")(lambda op, grad: [None, None])
