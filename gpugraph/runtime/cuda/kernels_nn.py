"""GPU kernels for neural-network ops: activations and their gradients, Softmax, BiasAdd, MatMul
and the batch matmuls (cuBLAS through ``xp.matmul``), Conv2D (im2col + one matmul), depthwise
convolution, pooling, and the losses — each the NumPy kernel's semantics written against ``ctx.xp``.

Attr parsing and window geometry are the NumPy kernels' own helpers (pure Python, cached per node).
Half precision computes in float32 where the NumPy kernel does.

The activations, Softmax/LogSoftmax, BiasAdd, Conv2D (gg_im2col + matmul), depthwise convolution,
pooling and the softmax cross-entropies launch their ``kernels/`` kernel through
:mod:`custom_kernels` where it applies (dtype, shape, a backend with custom kernels), and compute
with ``ctx.xp`` otherwise.
"""

import numpy as np

from gpugraph.ops import conv_ops
from gpugraph.runtime.cuda import custom_kernels
from gpugraph.runtime.cuda.kernels_math import F16, FLOATS, gpu_kernel, with_unary_kernel

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _up(x):
    return x.astype(np.float32) if x.dtype == F16 else x


def _float_kernel(fn):
    """fn(ctx, x) computed in float32 for half; output in the input's dtype."""
    def kernel(ctx, x):
        return fn(ctx, _up(x)).astype(x.dtype, copy=False)
    return kernel


# -- activations ---------------------------------------------------------------------------------
def _relu(ctx, x):
    return x if x.dtype.kind == "u" else ctx.xp.maximum(x, x.dtype.type(0))


def _relu6(ctx, x):
    out = ctx.xp.minimum(x, x.dtype.type(6))
    return out if x.dtype.kind == "u" else ctx.xp.maximum(out, x.dtype.type(0))


gpu_kernel("Relu")(with_unary_kernel("relu", _relu))
gpu_kernel("Relu6")(with_unary_kernel("relu6", _relu6))
gpu_kernel("Elu", dtypes=FLOATS)(with_unary_kernel("elu", _float_kernel(
    lambda ctx, x: ctx.xp.where(x < 0, ctx.xp.expm1(ctx.xp.minimum(x, 0)), x))))
gpu_kernel("Selu", dtypes=FLOATS)(with_unary_kernel("selu", _float_kernel(
    lambda ctx, x: ctx.xp.where(x < 0, (_SELU_SCALE * _SELU_ALPHA) * ctx.xp.expm1(ctx.xp.minimum(x, 0)),
                                _SELU_SCALE * x))))
gpu_kernel("Softplus", dtypes=FLOATS)(with_unary_kernel("softplus", _float_kernel(
    lambda ctx, x: ctx.xp.logaddexp(x, x.dtype.type(0)))))


@gpu_kernel("LeakyRelu", dtypes=FLOATS)
def _leaky_relu(ctx, x):
    alpha = ctx.attrs["alpha"]
    y = custom_kernels.unary(ctx, "leaky_relu", x, alpha)
    if y is not None:
        return y
    xc = _up(x)
    return ctx.xp.where(xc > 0, xc, xc * xc.dtype.type(alpha)).astype(x.dtype, copy=False)


def _softmax(ctx, x):
    if x.size == 0:
        return x.copy()
    e = ctx.xp.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(ctx, x):
    if x.size == 0:
        return x.copy()
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - ctx.xp.log(ctx.xp.exp(shifted).sum(axis=-1, keepdims=True))


def _with_softmax_kernel(log, fallback):
    def kernel(ctx, x):
        y = custom_kernels.softmax(ctx, x, log=log)
        return fallback(ctx, x) if y is None else y
    return kernel


gpu_kernel("Softmax", dtypes=FLOATS)(_with_softmax_kernel(False, _float_kernel(_softmax)))
gpu_kernel("LogSoftmax", dtypes=FLOATS)(_with_softmax_kernel(True, _float_kernel(_log_softmax)))


# -- activation and unary-math gradients ---------------------------------------------------------
def _grad_kernel(fn):
    def kernel(ctx, a, b):
        if a.shape != b.shape:
            raise ctx.error(f"{ctx.op_type} needs inputs of the same shape: {list(a.shape)} vs. "
                            f"{list(b.shape)}")
        return fn(ctx, ctx.xp, _up(a), _up(b)).astype(a.dtype, copy=False)
    return kernel


def _zero_where_no_grad(xp, dy, value):
    return xp.where(dy == 0, dy.dtype.type(0), value)


_GRADS = {
    "ReluGrad": lambda ctx, xp, g, f: g * (f > f.dtype.type(0)),
    "Relu6Grad": lambda ctx, xp, g, f: g * ((f > f.dtype.type(0)) & (f < f.dtype.type(6))).astype(g.dtype),
    "EluGrad": lambda ctx, xp, g, y: xp.where(y < 0, g * (y + y.dtype.type(1)), g),
    "SeluGrad": lambda ctx, xp, g, y: xp.where(y < 0, g * (y + y.dtype.type(_SELU_SCALE * _SELU_ALPHA)),
                                               g * g.dtype.type(_SELU_SCALE)),
    "SoftplusGrad": lambda ctx, xp, g, f: g / (xp.exp(-f) + f.dtype.type(1)),
    "LeakyReluGrad": lambda ctx, xp, g, f: xp.where(f > 0, g, g * g.dtype.type(ctx.attrs["alpha"])),
    "TanhGrad": lambda ctx, xp, y, dy: dy * (y.dtype.type(1) - y * y),
    "SigmoidGrad": lambda ctx, xp, y, dy: dy * y * (y.dtype.type(1) - y),
    "SqrtGrad": lambda ctx, xp, y, dy: _zero_where_no_grad(xp, dy, y.dtype.type(0.5) * dy / xp.conj(y)),
    "RsqrtGrad": lambda ctx, xp, y, dy: _zero_where_no_grad(
        xp, dy, y.dtype.type(-0.5) * (dy * xp.conj(y)) * (xp.conj(y) * xp.conj(y))),
    "ReciprocalGrad": lambda ctx, xp, y, dy: _zero_where_no_grad(xp, dy, -xp.conj(y) * xp.conj(y) * dy),
}
for _name, _fn in _GRADS.items():
    gpu_kernel(_name)(_grad_kernel(_fn))


@gpu_kernel("BiasAddGrad")
def _bias_add_grad(ctx, g):
    if g.ndim < 2:
        raise ctx.error(f"Input tensor must be at least 2D: {list(g.shape)}")
    acc = np.float32 if g.dtype == F16 else None
    if ctx.attrs["data_format"] == "NCHW":
        axes = tuple(i for i in range(g.ndim) if i != 1)
        return ctx.xp.sum(g, axis=axes, dtype=acc).astype(g.dtype, copy=False)
    return ctx.xp.sum(g.reshape(-1, g.shape[-1]), axis=0, dtype=acc).astype(g.dtype, copy=False)


# -- BiasAdd --------------------------------------------------------------------------------------
@gpu_kernel("BiasAdd")
def _bias_add(ctx, value, bias):
    nchw = ctx.attrs["data_format"] == "NCHW"
    axis = 1 if nchw else value.ndim - 1
    if value.ndim < (3 if nchw else 2) or bias.ndim != 1 or bias.shape[0] != value.shape[axis]:
        raise ctx.error(f"Must provide as many biases as the channel dimension of the input tensor: "
                        f"bias shape {list(bias.shape)} vs. value shape {list(value.shape)} "
                        f"(data_format {ctx.attrs['data_format']})")
    y = custom_kernels.bias_add(ctx, value, bias, channels_first=nchw)
    if y is not None:
        return y
    if nchw:
        bias = bias.reshape((-1,) + (1,) * (value.ndim - 2))
    return ctx.xp.add(value, bias)


# -- matrix products ------------------------------------------------------------------------------
def _product(xp, a, b, out_dtype):
    out_dtype = np.dtype(out_dtype)
    compute = np.dtype(np.float32) if out_dtype == F16 else out_dtype
    return xp.matmul(a.astype(compute, copy=False), b.astype(compute, copy=False)).astype(out_dtype, copy=False)


@gpu_kernel("MatMul")
def _matmul(ctx, a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise ctx.error(f"In[0] and In[1] must be matrices, got shapes {list(a.shape)} and {list(b.shape)}")
    if ctx.attrs["transpose_a"]:
        a = a.T
    if ctx.attrs["transpose_b"]:
        b = b.T
    if a.shape[1] != b.shape[0]:
        raise ctx.error(f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)}")
    return _product(ctx.xp, a, b, a.dtype)


def _adjoint(xp, x):
    x = xp.swapaxes(x, -1, -2)
    return xp.conj(x) if x.dtype.kind == "c" else x


def _batch_matmul(broadcast):
    def kernel(ctx, x, y):
        xp = ctx.xp
        if x.ndim < 2 or y.ndim < 2:
            raise ctx.error(f"In[0] and In[1] must have rank >= 2, got shapes {list(x.shape)} and "
                            f"{list(y.shape)}")
        if not broadcast and (x.ndim != y.ndim or x.shape[:-2] != y.shape[:-2]):
            raise ctx.error(f"In[0] and In[1] must have the same batch dimensions: {list(x.shape)} vs. "
                            f"{list(y.shape)}")
        if ctx.attrs["adj_x"]:
            x = _adjoint(xp, x)
        if ctx.attrs["adj_y"]:
            y = _adjoint(xp, y)
        if x.shape[-1] != y.shape[-2]:
            raise ctx.error(f"Matrix size-incompatible: In[0]: {list(x.shape)}, In[1]: {list(y.shape)}")
        return _product(xp, x, y, ctx.output_dtypes[0])
    return kernel


gpu_kernel("BatchMatMul")(_batch_matmul(False))
gpu_kernel("BatchMatMulV2", "BatchMatMulV3")(_batch_matmul(True))


# -- convolution and pooling (NHWC inside; NCHW transposed in and out) -----------------------------
def _to_nhwc(x, fmt):
    return x.transpose(0, 2, 3, 1) if fmt == "NCHW" else x


def _from_nhwc(y, fmt):
    return y.transpose(0, 3, 1, 2) if fmt == "NCHW" else y


def _pad_hw(xp, x, top, bottom, left, right, value=0):
    if not (top or bottom or left or right):
        return x
    return xp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode="constant", constant_values=value)


def _tap(x, i, j, oh, ow, sh, sw):
    """The input pixels that (dilated) kernel tap (i, j) meets, for every output pixel."""
    return x[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw, :]


@gpu_kernel("Conv2D")
def _conv2d(ctx, x, w):
    xp = ctx.xp
    cfg = conv_ops._config(ctx, conv_ops._ConvConfig)
    _, _, ca = conv_ops._layout(cfg.data_format)
    if x.ndim != 4 or w.ndim != 4:
        raise ctx.error(f"input and filter must be 4-D, got shapes {list(x.shape)} and {list(w.shape)}")
    depth, f_in, f_out = x.shape[ca], w.shape[2], w.shape[3]
    if f_in == 0 or depth % f_in or depth == 0 or f_out % (depth // f_in):
        raise ctx.error(f"input depth {depth} must be a positive multiple of the filter's in_channels "
                        f"{f_in}, and out_channels {f_out} a multiple of the number of groups: input "
                        f"shape {list(x.shape)}, filter shape {list(w.shape)}")
    (oh, pt, pb), (ow, pl, pr) = conv_ops._kernel_geometry(ctx, cfg, x, w.shape[:2])
    y = custom_kernels.conv2d(ctx, x, w, cfg.data_format, cfg.strides, cfg.dilations, (oh, ow), (pt, pl))
    if y is not None:
        return y
    compute = np.dtype(np.float32) if x.dtype == F16 else x.dtype
    xn = _to_nhwc(x, cfg.data_format).astype(compute, copy=False)
    w = w.astype(compute, copy=False)
    n, c = xn.shape[0], xn.shape[3]
    kh, kw = w.shape[:2]
    if n * oh * ow * f_out == 0:
        y = xp.zeros((n, oh, ow, f_out), compute)
    else:
        (sh, sw), (dh, dw) = cfg.strides, cfg.dilations
        xpad = _pad_hw(xp, xn, pt, pb, pl, pr)
        # im2col: (n, oh, ow, kh*kw, c), tap-major like the HWIO filter's rows.
        cols = xp.stack([_tap(xpad, i * dh, j * dw, oh, ow, sh, sw)
                         for i in range(kh) for j in range(kw)], axis=3)
        m, groups = n * oh * ow, c // f_in
        if groups == 1:
            y = xp.matmul(cols.reshape(m, kh * kw * c), w.reshape(kh * kw * f_in, f_out))
        else:
            og = f_out // groups
            cg = cols.reshape(m, kh * kw, groups, f_in).transpose(2, 0, 1, 3).reshape(groups, m, -1)
            wg = w.reshape(kh * kw, f_in, groups, og).transpose(2, 0, 1, 3).reshape(groups, -1, og)
            y = xp.matmul(cg, wg).transpose(1, 0, 2)
        y = y.reshape(n, oh, ow, f_out)
    return _from_nhwc(y, cfg.data_format).astype(x.dtype, copy=False)


@gpu_kernel("DepthwiseConv2dNative")
def _depthwise(ctx, x, w):
    xp = ctx.xp
    cfg = conv_ops._config(ctx, conv_ops._ConvConfig)
    _, _, ca = conv_ops._layout(cfg.data_format)
    if x.ndim != 4 or w.ndim != 4 or x.shape[ca] != w.shape[2]:
        raise ctx.error(f"input depth must equal the filter's in_channels: input shape {list(x.shape)}, "
                        f"filter shape {list(w.shape)}")
    (oh, pt, pb), (ow, pl, pr) = conv_ops._kernel_geometry(ctx, cfg, x, w.shape[:2])
    y = custom_kernels.depthwise_conv2d(ctx, x, w, cfg.data_format, cfg.strides, cfg.dilations,
                                        (oh, ow), (pt, pl))
    if y is not None:
        return y
    compute = np.dtype(np.float32) if x.dtype == F16 else x.dtype
    xn = _to_nhwc(x, cfg.data_format).astype(compute, copy=False)
    w = w.astype(compute, copy=False)
    kh, kw, c, mult = w.shape
    (sh, sw), (dh, dw) = cfg.strides, cfg.dilations
    out = xp.zeros((x.shape[0], oh, ow, c, mult), compute)
    if out.size:
        xpad = _pad_hw(xp, xn, pt, pb, pl, pr)
        for i in range(kh):
            for j in range(kw):
                out += _tap(xpad, i * dh, j * dw, oh, ow, sh, sw)[..., None] * w[i, j]
    y = out.reshape(x.shape[0], oh, ow, c * mult)
    return _from_nhwc(y, cfg.data_format).astype(x.dtype, copy=False)


_POOL_TYPES = FLOATS + ["int32", "int64", "uint8", "int16", "int8", "uint16"]


@gpu_kernel("MaxPool", dtypes=_POOL_TYPES)
def _max_pool(ctx, x):
    xp = ctx.xp
    cfg = conv_ops._config(ctx, conv_ops._PoolConfig)
    if x.ndim != 4:
        raise ctx.error(f"input must be 4-D, got shape {list(x.shape)}")
    if cfg.batch != (1, 1):
        raise ctx.error("Pooling is not yet supported on the batch dimension.")
    if cfg.depth != (1, 1):
        k, stride = cfg.depth
        depth = x.shape[conv_ops._layout(cfg.data_format)[2]]
        if cfg.ksize != (1, 1) or cfg.strides != (1, 1) or k != stride or depth % k \
                or cfg.padding == "EXPLICIT":
            raise ctx.error("Depthwise max pooling requires the depth window to equal the depth "
                            "stride, to evenly divide the input depth, no pooling across width/height "
                            "and no explicit padding.")
        xn = _to_nhwc(x, cfg.data_format)
        return _from_nhwc(xn.reshape(xn.shape[:3] + (depth // k, k)).max(axis=-1), cfg.data_format)
    (oh, pt, pb), (ow, pl, pr) = conv_ops._kernel_geometry(ctx, cfg, x, cfg.ksize)
    y = custom_kernels.pool(ctx, "max", x, cfg.data_format, cfg.ksize, cfg.strides, (oh, ow), (pt, pl))
    if y is not None:
        return y
    xpad = _pad_hw(xp, _to_nhwc(x, cfg.data_format), pt, pb, pl, pr, conv_ops._lowest(x.dtype))
    (kh, kw), (sh, sw) = cfg.ksize, cfg.strides
    out = _tap(xpad, 0, 0, oh, ow, sh, sw).copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out = xp.maximum(out, _tap(xpad, i, j, oh, ow, sh, sw))
    return _from_nhwc(out, cfg.data_format)


@gpu_kernel("AvgPool", dtypes=FLOATS)
def _avg_pool(ctx, x):
    xp = ctx.xp
    cfg = conv_ops._config(ctx, conv_ops._PoolConfig)
    if x.ndim != 4:
        raise ctx.error(f"input must be 4-D, got shape {list(x.shape)}")
    if cfg.batch != (1, 1) or cfg.depth != (1, 1):
        raise ctx.error("AvgPool is not supported on the batch or depth dimensions: ksize and strides "
                        "there must be 1")
    (oh, pt, pb), (ow, pl, pr) = conv_ops._kernel_geometry(ctx, cfg, x, cfg.ksize)
    y = custom_kernels.pool(ctx, "avg", x, cfg.data_format, cfg.ksize, cfg.strides, (oh, ow), (pt, pl))
    if y is not None:
        return y
    compute = np.dtype(np.float32) if x.dtype == F16 else x.dtype
    xn = _to_nhwc(x, cfg.data_format)
    xpad = _pad_hw(xp, xn.astype(compute, copy=False), pt, pb, pl, pr)
    (kh, kw), (sh, sw) = cfg.ksize, cfg.strides
    out = _tap(xpad, 0, 0, oh, ow, sh, sw).astype(compute, copy=True)
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out += _tap(xpad, i, j, oh, ow, sh, sw)
    key = ("gpu_divisor", x.shape)
    divisor = ctx.cache.get(key)
    if divisor is None:  # counts of real (unpadded) elements per window, computed once per shape
        counts = np.outer(conv_ops._valid_counts(xn.shape[1], oh, kh, sh, pt),
                          conv_ops._valid_counts(xn.shape[2], ow, kw, sw, pl))
        divisor = ctx.cache[key] = xp.asarray(counts.astype(compute)[:, :, None])
    out /= divisor
    return _from_nhwc(out, cfg.data_format).astype(x.dtype, copy=False)


# -- losses ---------------------------------------------------------------------------------------
@gpu_kernel("L2Loss", dtypes=FLOATS)
def _l2_loss(ctx, t):
    x = _up(t)
    return ((x * x).sum() * x.dtype.type(0.5)).astype(t.dtype, copy=False)


@gpu_kernel("SoftmaxCrossEntropyWithLogits", dtypes=FLOATS)
def _softmax_xent(ctx, logits, labels):
    xp = ctx.xp
    if logits.ndim != 2 or labels.ndim != 2:
        raise ctx.error(f"logits and labels must be 2-D, got shapes {list(logits.shape)} and "
                        f"{list(labels.shape)}")
    try:
        shape = np.broadcast_shapes(logits.shape, labels.shape)
    except ValueError:
        raise ctx.error(f"logits and labels must be broadcastable: logits_size={list(logits.shape)} "
                        f"labels_size={list(labels.shape)}") from None
    out = custom_kernels.softmax_xent(ctx, logits, labels)
    if out is not None:
        return out
    x = xp.broadcast_to(_up(logits), shape)
    y = _up(labels)
    shifted = x - x.max(axis=1, keepdims=True) if shape[1] else x
    exp = xp.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    loss = (y * (xp.log(sum_exp) - shifted)).sum(axis=1)
    backprop = exp / sum_exp - y
    return loss.astype(logits.dtype, copy=False), backprop.astype(logits.dtype, copy=False)


@gpu_kernel("SparseSoftmaxCrossEntropyWithLogits", dtypes=FLOATS + ["int32", "int64"])
def _sparse_xent(ctx, logits, labels):
    """Out-of-range labels are not checked (that needs a device sync); TF's GPU kernel gives NaN
    rows for them, and so does the custom kernel."""
    xp = ctx.xp
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise ctx.error(f"logits must be 2-D and labels 1-D with the same first dimension, got logits "
                        f"shape {list(logits.shape)} and labels shape {list(labels.shape)}")
    out = custom_kernels.sparse_softmax_xent(ctx, logits, labels)
    if out is not None:
        return out
    n, classes = logits.shape
    x = _up(logits)
    shifted = x - x.max(axis=1, keepdims=True) if classes else x
    exp = xp.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = xp.arange(n)
    loss = xp.log(sum_exp[:, 0]) - shifted[rows, labels]
    backprop = exp / sum_exp
    backprop[rows, labels] -= 1  # ``backprop`` is this kernel's own array
    return loss.astype(logits.dtype, copy=False), backprop.astype(logits.dtype, copy=False)
