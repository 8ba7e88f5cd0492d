"""Convolution and pooling ops: Conv2D, DepthwiseConv2dNative, MaxPool, AvgPool — and the
``tf.compat.v1.nn`` functions that build them.

The NumPy kernels work in NHWC (NCHW inputs are transposed in and out). Conv2D is im2col: a strided
view of the (padded) input gathers each output pixel's receptive field into one row, and a single
BLAS matmul per batch chunk does the arithmetic — faster than accumulating one matmul per kernel tap
(measured for 3x3 kernels on 32x32 images with 3, 16 and 32 channels). Depthwise convolution and
pooling loop over the kernel taps (never over pixels), each tap one vectorised pass.

Padding follows TensorFlow: SAME pads ``max((out - 1) * stride + eff_k - in, 0)`` in total, the odd
element at the end (bottom/right); MaxPool never lets padding win; AvgPool divides each window by
its count of real (unpadded) elements.

Example:
    >>> x = tf.placeholder(tf.float32, [None, 32, 32, 3])
    >>> w = tf.Variable(tf.random_normal([3, 3, 3, 16]))
    >>> y = tf.nn.max_pool(tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME")), 2, 2, "VALID")
    >>> y.shape.as_list()
    [None, 16, 16, 16]
"""

import threading

import ml_dtypes
import numpy as np
from numpy.lib.stride_tricks import as_strided

from gpugraph.framework import ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op

TensorShape = tensor_shape.TensorShape

# im2col rows are gathered for this many bytes of patches at a time: bounded memory for big
# images, and chunks that stay in cache while the matmul consumes them.
_IM2COL_CHUNK_BYTES = 8 << 20
# Scratch buffers up to this size are kept per thread between kernel calls.
_SCRATCH_KEEP_BYTES = 64 << 20
# Below this many input channels im2col gathers from a channels-first copy (see _conv2d_nhwc).
_FEW_CHANNELS = 8
_SCRATCH = threading.local()


# -- geometry: shared by shape functions and kernels -----------------------------------------
def _layout(data_format):
    """(height, width, channel) axes of a 4-D tensor in ``data_format``."""
    return (2, 3, 1) if data_format.startswith("NC") else (1, 2, 3)


def _window(in_size, k, stride, dilation, padding, explicit):
    """TF's windowed output size: ``(out, pad_before, pad_after)``; None for ``out`` when unknown.

    ``explicit`` is the (before, after) pair for EXPLICIT padding. ValueError when the (dilated)
    window is larger than the padded input.
    """
    if in_size is None:
        return None, 0, 0
    if padding == "SAME":
        out = -(-in_size // stride)
        if k is None:
            return out, 0, 0
        needed = max((out - 1) * stride + (k - 1) * dilation + 1 - in_size, 0)
        return out, needed // 2, needed - needed // 2
    if k is None:
        return None, 0, 0
    eff = (k - 1) * dilation + 1
    before, after = explicit if padding == "EXPLICIT" else (0, 0)
    padded = in_size + before + after
    if padded < eff:
        raise ValueError(f"Negative dimension size caused by subtracting {eff} from {padded}")
    return (padded - eff) // stride + 1, before, after


def _explicit_pairs(explicit, data_format, op_type):
    """The (before, after) pads of the H and W dimensions from ``explicit_paddings``."""
    if len(explicit) != 8:
        raise ValueError(f"{op_type}: explicit_paddings attribute must contain 8 values, but got: "
                         f"{len(explicit)}")
    if any(p < 0 for p in explicit):
        raise ValueError(f"{op_type}: all elements of explicit_paddings must be nonnegative, got "
                         f"{list(explicit)}")
    h, w, c = _layout(data_format)
    pairs = [tuple(explicit[2 * i:2 * i + 2]) for i in range(4)]
    if any(pairs[i] != (0, 0) for i in (0, c)):
        raise ValueError(f"{op_type}: nonzero explicit padding in the batch or depth dimensions is "
                         f"not supported, got explicit_paddings={list(explicit)}")
    return pairs[h], pairs[w]


def _check_padding_attrs(op_type, padding, explicit, data_format):
    if padding == "EXPLICIT":
        return _explicit_pairs(explicit, data_format, op_type)
    if explicit:
        raise ValueError(f"{op_type}: explicit_paddings attribute must be empty if the padding "
                         f"attribute is not EXPLICIT, got {list(explicit)}")
    return (0, 0), (0, 0)


def _four(values, name, op_type, data_format):
    """Checks a 4-element strides/dilations/ksize attr; returns its (H, W, N, C) entries."""
    values = list(values)
    if len(values) != 4:
        raise ValueError(f"{op_type} on data format {data_format} requires the {name} attribute "
                         f"to contain 4 values, but got: {len(values)} ({values})")
    if any(v < 1 for v in values):
        raise ValueError(f"{op_type}: {name} must be > 0, but got {values}")
    h, w, c = _layout(data_format)
    return values[h], values[w], values[0], values[c]


class _ConvConfig:
    """A Conv2D/DepthwiseConv2dNative node's attrs, checked once (build time and kernel cache)."""

    def __init__(self, op_type, attr):
        self.op_type = op_type
        self.data_format = attr("data_format")
        self.padding = attr("padding")
        sh, sw, sn, sc = _four(attr("strides"), "stride", op_type, self.data_format)
        dh, dw, dn, dc = _four(attr("dilations"), "dilation", op_type, self.data_format)
        if sn != 1 or sc != 1:
            raise ValueError(f"{op_type}: strides in the batch and depth dimensions are not "
                             f"supported, got strides={list(attr('strides'))}")
        if dn != 1 or dc != 1:
            raise ValueError(f"{op_type}: dilations in the batch and depth dimensions are not "
                             f"supported, got dilations={list(attr('dilations'))}")
        self.strides, self.dilations = (sh, sw), (dh, dw)
        self.pads = _check_padding_attrs(op_type, self.padding, attr("explicit_paddings"),
                                         self.data_format)

    def out_hw(self, h, w, kh, kw):
        """((out_h, pad_top, pad_bottom), (out_w, pad_left, pad_right))."""
        return (_window(h, kh, self.strides[0], self.dilations[0], self.padding, self.pads[0]),
                _window(w, kw, self.strides[1], self.dilations[1], self.padding, self.pads[1]))


def _op_attr(op):
    def get(name):
        value = op.get_attr(name)
        return value.decode() if isinstance(value, bytes) else value
    return get


def _with_rank4(shape, what, op_type):
    if shape.ndims is not None and shape.ndims != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {shape.ndims}: {op_type} {what} must "
                         f"be 4-D, got shape {shape}")
    return shape.with_rank(4).as_list()


def _conv_shape(op, depthwise=False):
    cfg = _ConvConfig(op.type, _op_attr(op))
    x_shape, f_shape = op.inputs[0].shape, op.inputs[1].shape
    x = _with_rank4(x_shape, "input", op.type)
    kh, kw, f_in, f_out = _with_rank4(f_shape, "filter", op.type)
    ha, wa, ca = _layout(cfg.data_format)
    depth = x[ca]
    if depthwise:
        if depth is not None and f_in is not None and depth != f_in:
            raise ValueError(f"Dimensions must be equal, but are {depth} and {f_in}: {op.type} "
                             f"input depth must equal the filter's in_channels (input shape "
                             f"{x_shape}, filter shape {f_shape})")
        depth = depth if depth is not None else f_in
        out_depth = None if depth is None or f_out is None else depth * f_out
    else:
        if depth is not None and f_in is not None:
            if f_in == 0 or depth % f_in:
                raise ValueError(f"Depth of input ({depth}) is not a multiple of input depth of "
                                 f"filter ({f_in}): input shape {x_shape}, filter shape {f_shape}")
            groups = depth // f_in
            if f_out is not None and f_out % groups:
                raise ValueError(f"Depth of output ({f_out}) is not a multiple of the number of "
                                 f"groups ({groups}): input shape {x_shape}, filter shape "
                                 f"{f_shape}")
        out_depth = f_out
    try:
        (oh, _, _), (ow, _, _) = cfg.out_hw(x[ha], x[wa], kh, kw)
    except ValueError as e:
        raise ValueError(f"{e}: input shape {x_shape}, filter shape {f_shape}") from None
    out = [x[0], None, None, None]
    out[ha], out[wa], out[ca] = oh, ow, out_depth
    return [TensorShape(out)]


# -- kernels ----------------------------------------------------------------------------------
def _compute_dtype(dtype):
    """16-bit floats compute in float32 (NumPy has no fast half matmul; one rounding at the end)."""
    return np.dtype(np.float32) if dtype == np.float16 or dtype == ml_dtypes.bfloat16 else dtype


def _pad_hw(x, top, bottom, left, right, value=0):
    """``x`` (NHWC) padded in H and W, in per-thread scratch memory: valid until the next call
    (kernels use it only while they run); ``x`` itself when no padding is needed."""
    if not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    out = _scratch("pad", (n, h + top + bottom, w + left + right, c), x.dtype)
    out.fill(value)
    out[:, top:top + h, left:left + w, :] = x
    return out


def _tap(xp, i, j, oh, ow, sh, sw):
    """The input pixels that kernel tap (i, j) (already dilated) meets, for every output pixel."""
    return xp[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw, :]


def _kernel_geometry(ctx, cfg, x, f_hw):
    """Cached (per input and filter shape) output size and padding for a conv/pool kernel call."""
    key = (x.shape, f_hw)
    geo = ctx.cache.get(key)
    if geo is None:
        ha, wa, _ = _layout(cfg.data_format)
        try:
            geo = cfg.out_hw(x.shape[ha], x.shape[wa], *f_hw)
        except ValueError as e:
            raise ctx.error(f"{e} (input shape {list(x.shape)}, window {list(f_hw)})") from None
        if len(ctx.cache) > 64:  # input shapes that keep changing: don't grow without bound
            ctx.cache.clear()
        ctx.cache[key] = geo
    return geo


def _config(ctx, cls):
    cfg = ctx.cache.get("cfg")
    if cfg is None:
        try:
            cfg = ctx.cache["cfg"] = cls(ctx.op_type, ctx.attrs.__getitem__)
        except ValueError as e:
            raise ctx.error(str(e)) from None
    return cfg


def _to_nhwc(x, data_format):
    return x.transpose(0, 2, 3, 1) if data_format == "NCHW" else x


def _from_nhwc(y, data_format):
    return y.transpose(0, 3, 1, 2) if data_format == "NCHW" else y


def _scratch(slot, shape, dtype):
    """A per-thread scratch array (for im2col patches, padded copies) reused across calls: a fresh
    multi-megabyte allocation each call costs more in page faults than the copy into it. Requests
    above ``_SCRATCH_KEEP_BYTES`` get a temporary array instead, so nothing huge stays alive."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes > _SCRATCH_KEEP_BYTES:
        return np.empty(shape, dtype)
    buf = getattr(_SCRATCH, slot, None)
    if buf is None or buf.size < nbytes:
        buf = np.empty(max(nbytes, 1 << 16), np.uint8)
        setattr(_SCRATCH, slot, buf)
    return buf[:nbytes].view(dtype).reshape(shape)


def _blocks(n, oh, row_bytes):
    """(first image, last image, first row, last row) blocks of about ``_IM2COL_CHUNK_BYTES`` of
    patches: whole images while they fit, else row ranges of single images."""
    image_bytes = oh * row_bytes
    if image_bytes <= _IM2COL_CHUNK_BYTES:
        step = max(1, _IM2COL_CHUNK_BYTES // max(image_bytes, 1))
        return [(i, min(i + step, n), 0, oh) for i in range(0, n, step)]
    step = max(1, _IM2COL_CHUNK_BYTES // row_bytes)
    return [(i, i + 1, r, min(r + step, oh)) for i in range(n) for r in range(0, oh, step)]


def _conv2d_nhwc(x, w, strides, dilations, geo):
    """Grouped 2-D convolution of NHWC ``x`` with HWIO ``w``: im2col + one matmul per block."""
    (oh, pt, pb), (ow, pl, pr) = geo
    n, h, wd, c = x.shape
    kh, kw, f_in, f_out = w.shape
    sh, sw = strides
    dh, dw = dilations
    groups = c // f_in
    out = np.empty((n, oh, ow, f_out), x.dtype)
    if out.size == 0:
        return out
    if kh == kw == 1 and not (pt or pb or pl or pr):
        cols = x[:, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw, :].reshape(n * oh * ow, c)
        _matmul_groups(cols, w, groups, out.reshape(n * oh * ow, f_out))
        return out
    k = kh * kw * c
    blocks = _blocks(n, oh, ow * k * x.itemsize)
    if c < _FEW_CHANNELS and groups == 1:
        # Few channels: gather patches as a (taps*C, pixels) matrix from a channels-first copy,
        # so each copied run is a whole output row instead of a C-element sliver.
        xc = _scratch("pad", (n, c, h + pt + pb, wd + pl + pr), x.dtype)
        xc.fill(0)
        xc[:, :, pt:pt + h, pl:pl + wd] = x.transpose(0, 3, 1, 2)
        s0, s1, s2, s3 = xc.strides
        patches = as_strided(xc, (kh, kw, c, n, oh, ow),
                             (s2 * dh, s3 * dw, s1, s0, s2 * sh, s3 * sw), writeable=False)
        w2 = w.reshape(k, f_out)
        for i0, i1, r0, r1 in blocks:
            buf = _scratch("cols", (kh, kw, c, i1 - i0, r1 - r0, ow), x.dtype)
            np.copyto(buf, patches[:, :, :, i0:i1, r0:r1])
            np.matmul(buf.reshape(k, -1).T, w2, out=out[i0:i1, r0:r1].reshape(-1, f_out))
        return out
    xp = _pad_hw(x, pt, pb, pl, pr)
    s0, s1, s2, s3 = xp.strides
    patches = as_strided(xp, (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3),
                         writeable=False)
    for i0, i1, r0, r1 in blocks:
        buf = _scratch("cols", (i1 - i0, r1 - r0, ow, kh, kw, c), x.dtype)
        np.copyto(buf, patches[i0:i1, r0:r1])
        _matmul_groups(buf.reshape(-1, k), w, groups, out[i0:i1, r0:r1].reshape(-1, f_out))
    return out


def _matmul_groups(cols, w, groups, out):
    """``out[M, O] = cols[M, taps*C] @ w[taps*C/groups, O]`` per channel group."""
    kh, kw, f_in, f_out = w.shape
    if groups == 1:
        np.matmul(cols, w.reshape(kh * kw * f_in, f_out), out=out)
        return
    m = cols.shape[0]
    og = f_out // groups
    cg = cols.reshape(m, kh * kw, groups, f_in).transpose(2, 0, 1, 3).reshape(groups, m, -1)
    wg = w.reshape(kh * kw, f_in, groups, og).transpose(2, 0, 1, 3).reshape(groups, -1, og)
    out.reshape(m, groups, og)[...] = np.matmul(cg, wg).transpose(1, 0, 2)


def _conv2d_kernel(ctx, x, w):
    cfg = _config(ctx, _ConvConfig)
    _, _, ca = _layout(cfg.data_format)
    if x.ndim != 4 or w.ndim != 4:
        raise ctx.error(f"input and filter must be 4-D, got shapes {list(x.shape)} and "
                        f"{list(w.shape)}")
    depth, f_in, f_out = x.shape[ca], w.shape[2], w.shape[3]
    if f_in == 0 or depth % f_in or depth == 0 or f_out % (depth // f_in):
        raise ctx.error(f"input depth {depth} must be a positive multiple of the filter's "
                        f"in_channels {f_in}, and out_channels {f_out} a multiple of the number of "
                        f"groups: input shape {list(x.shape)}, filter shape {list(w.shape)}")
    geo = _kernel_geometry(ctx, cfg, x, w.shape[:2])
    dtype = _compute_dtype(x.dtype)
    y = _conv2d_nhwc(_to_nhwc(x, cfg.data_format).astype(dtype, copy=False),
                     w.astype(dtype, copy=False), cfg.strides, cfg.dilations, geo)
    return _from_nhwc(y, cfg.data_format).astype(x.dtype, copy=False)


def _depthwise_kernel(ctx, x, w):
    cfg = _config(ctx, _ConvConfig)
    _, _, ca = _layout(cfg.data_format)
    if x.ndim != 4 or w.ndim != 4 or x.shape[ca] != w.shape[2]:
        raise ctx.error(f"input depth must equal the filter's in_channels: input shape "
                        f"{list(x.shape)}, filter shape {list(w.shape)}")
    (oh, pt, pb), (ow, pl, pr) = _kernel_geometry(ctx, cfg, x, w.shape[:2])
    dtype = _compute_dtype(x.dtype)
    xn = _to_nhwc(x, cfg.data_format).astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    kh, kw, c, mult = w.shape
    (sh, sw), (dh, dw) = cfg.strides, cfg.dilations
    xp = _pad_hw(xn, pt, pb, pl, pr)
    out = np.zeros((x.shape[0], oh, ow, c, mult), dtype)
    tmp = _scratch("cols", out.shape, dtype)
    for i in range(kh):
        for j in range(kw):
            np.multiply(_tap(xp, i * dh, j * dw, oh, ow, sh, sw)[..., None], w[i, j], out=tmp)
            out += tmp
    y = out.reshape(x.shape[0], oh, ow, c * mult)
    return _from_nhwc(y, cfg.data_format).astype(x.dtype, copy=False)


_CONV_ATTRS = ["strides: list(int)", "padding: {'SAME', 'VALID', 'EXPLICIT'}",
               "explicit_paddings: list(int) = []", "data_format: {'NHWC', 'NCHW'} = 'NHWC'",
               "dilations: list(int) = [1, 1, 1, 1]"]
register_op("Conv2D", inputs=["input: T", "filter: T"], outputs=["output: T"],
            attrs=["T: {half, bfloat16, float, double, int32}", _CONV_ATTRS[0],
                   "use_cudnn_on_gpu: bool = true"] + _CONV_ATTRS[1:],
            shape=_conv_shape, cpu=_conv2d_kernel)
register_op("DepthwiseConv2dNative", inputs=["input: T", "filter: T"], outputs=["output: T"],
            attrs=["T: {half, bfloat16, float, double}"] + _CONV_ATTRS,
            shape=lambda op: _conv_shape(op, depthwise=True), cpu=_depthwise_kernel)


# -- pooling ----------------------------------------------------------------------------------
class _PoolConfig:
    """A MaxPool/AvgPool node's attrs, checked once."""

    def __init__(self, op_type, attr):
        self.op_type = op_type
        self.data_format = attr("data_format")
        if self.data_format == "NCHW_VECT_C":
            raise ValueError(f"{op_type}: data_format NCHW_VECT_C (int8 vectors) is not "
                             "supported by gpugraph")
        self.padding = attr("padding")
        kh, kw, kn, kc = _four(attr("ksize"), "ksize", op_type, self.data_format)
        sh, sw, sn, sc = _four(attr("strides"), "strides", op_type, self.data_format)
        self.ksize, self.strides = (kh, kw), (sh, sw)
        self.batch = (kn, sn)
        self.depth = (kc, sc)
        explicit = attr("explicit_paddings") if op_type == "MaxPool" else []
        self.pads = _check_padding_attrs(op_type, self.padding, explicit, self.data_format)
        for side, pad, k in zip(("Top", "Bottom", "Left", "Right"), self.pads[0] + self.pads[1],
                                (kh, kh, kw, kw)):
            if pad >= k:  # a window of nothing but padding would have no maximum
                raise ValueError(f"{op_type}: {side} padding {pad} needs to be smaller than the "
                                 f"window size {k}")

    def out_hw(self, h, w, kh, kw):
        return (_window(h, kh, self.strides[0], 1, self.padding, self.pads[0]),
                _window(w, kw, self.strides[1], 1, self.padding, self.pads[1]))


def _pool_shape(op):
    cfg = _PoolConfig(op.type, _op_attr(op))
    x_shape = op.inputs[0].shape
    x = _with_rank4(x_shape, "input", op.type)
    ha, wa, ca = _layout(cfg.data_format)
    out = list(x)
    try:
        (out[ha], _, _), (out[wa], _, _) = cfg.out_hw(x[ha], x[wa], *cfg.ksize)
        if op.type == "MaxPool":  # TF windows the batch and depth dimensions of MaxPool too
            out[0] = _window(x[0], cfg.batch[0], cfg.batch[1], 1, cfg.padding, (0, 0))[0]
            out[ca] = _window(x[ca], cfg.depth[0], cfg.depth[1], 1, cfg.padding, (0, 0))[0]
    except ValueError as e:
        raise ValueError(f"{e}: {op.type} input shape {x_shape}, ksize "
                         f"{list(op.get_attr('ksize'))}") from None
    return [TensorShape(out)]


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" or dtype == ml_dtypes.bfloat16 else np.iinfo(dtype).min


def _max_pool_kernel(ctx, x):
    cfg = _config(ctx, _PoolConfig)
    if x.ndim != 4:
        raise ctx.error(f"input must be 4-D, got shape {list(x.shape)}")
    if cfg.batch != (1, 1):
        raise ctx.error("Pooling is not yet supported on the batch dimension.")
    plain = x.view(x.dtype[0]) if x.dtype.names else x
    if cfg.depth != (1, 1):
        return _depth_max_pool(ctx, cfg, plain).view(x.dtype)
    (oh, pt, pb), (ow, pl, pr) = _kernel_geometry(ctx, cfg, x, cfg.ksize)
    xp = _pad_hw(_to_nhwc(plain, cfg.data_format), pt, pb, pl, pr, _lowest(plain.dtype))
    (kh, kw), (sh, sw) = cfg.ksize, cfg.strides
    out = _tap(xp, 0, 0, oh, ow, sh, sw).copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(out, _tap(xp, i, j, oh, ow, sh, sw), out=out)
    return _from_nhwc(out, cfg.data_format).view(x.dtype)


def _depth_max_pool(ctx, cfg, x):
    """MaxPool across channels only (ksize/strides 1 in H and W): groups of ``k`` channels."""
    k, stride = cfg.depth
    _, _, ca = _layout(cfg.data_format)
    depth = x.shape[ca]
    if cfg.ksize != (1, 1) or cfg.strides != (1, 1):
        raise ctx.error("MaxPooling supports exactly one of pooling across depth or pooling "
                        "across width/height.")
    if k != stride or depth % k or cfg.padding == "EXPLICIT":
        raise ctx.error(f"Depthwise max pooling requires the depth window ({k}) to equal the "
                        f"depth stride ({stride}), to evenly divide the input depth ({depth}), "
                        "and no explicit padding.")
    xn = _to_nhwc(x, cfg.data_format)
    y = xn.reshape(xn.shape[:3] + (depth // k, k)).max(axis=-1)
    return _from_nhwc(y, cfg.data_format)


def _valid_counts(in_size, out, k, stride, before):
    """How many real (unpadded) input elements each of ``out`` windows covers."""
    starts = np.arange(out) * stride - before
    return np.minimum(starts + k, in_size) - np.maximum(starts, 0)


def _avg_pool_kernel(ctx, x):
    cfg = _config(ctx, _PoolConfig)
    if x.ndim != 4:
        raise ctx.error(f"input must be 4-D, got shape {list(x.shape)}")
    if cfg.batch != (1, 1) or cfg.depth != (1, 1):
        raise ctx.error("AvgPool is not supported on the batch or depth dimensions: ksize and "
                        "strides there must be 1")
    geo = _kernel_geometry(ctx, cfg, x, cfg.ksize)
    (oh, pt, pb), (ow, pl, pr) = geo
    dtype = _compute_dtype(x.dtype)
    xn = _to_nhwc(x, cfg.data_format)
    xp = _pad_hw(xn.astype(dtype, copy=False), pt, pb, pl, pr)
    (kh, kw), (sh, sw) = cfg.ksize, cfg.strides
    out = _tap(xp, 0, 0, oh, ow, sh, sw).astype(dtype, copy=True)
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out += _tap(xp, i, j, oh, ow, sh, sw)
    divisor = ctx.cache.get(("divisor", x.shape))
    if divisor is None:
        if pt or pb or pl or pr:
            counts = np.outer(_valid_counts(xn.shape[1], oh, kh, sh, pt),
                              _valid_counts(xn.shape[2], ow, kw, sw, pl))
            divisor = counts.astype(dtype)[:, :, None]
        else:
            divisor = dtype.type(kh * kw)
        ctx.cache[("divisor", x.shape)] = divisor
    out /= divisor
    return _from_nhwc(out, cfg.data_format).astype(x.dtype, copy=False)


register_op("MaxPool", inputs=["input: T"], outputs=["output: T"],
            attrs=["T: {half, bfloat16, float, double, int32, int64, uint8, int16, int8, uint16, "
                   "qint8} = DT_FLOAT",
                   "ksize: list(int) >= 4", "strides: list(int) >= 4",
                   "padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []",
                   "data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'"],
            shape=_pool_shape, cpu=_max_pool_kernel)
register_op("AvgPool", inputs=["value: T"], outputs=["output: T"],
            attrs=["ksize: list(int) >= 4", "strides: list(int) >= 4",
                   "padding: {'SAME', 'VALID'}", "data_format: {'NHWC', 'NCHW'} = 'NHWC'",
                   "T: {half, bfloat16, float, double}"],
            shape=_pool_shape, cpu=_avg_pool_kernel)


# -- API ----------------------------------------------------------------------------------------
def _get_sequence(value, n, channel_index, name):
    """TF's ``_get_sequence``: an int or a list of 1, ``n`` or ``n + 2`` ints → ``n + 2`` ints."""
    if value is None:
        return [1] * (n + 2)
    if isinstance(value, (list, tuple, np.ndarray)):
        value = [int(v) for v in value]
    else:
        value = [int(value)]
    if len(value) == n + 2:
        return value
    if len(value) == 1:
        value = value * n
    elif len(value) != n:
        raise ValueError(f"{name} should be of length 1, {n} or {n + 2}. Received: "
                         f"{name}={value} of length {len(value)}")
    return [1, 1] + value if channel_index == 1 else [1] + value + [1]


def _convert_padding(padding, expected_length=4):
    """TF's ``convert_padding``: a padding string, or a list of [before, after] pairs → EXPLICIT."""
    explicit = []
    if padding == "EXPLICIT":
        raise ValueError("'EXPLICIT' is not a valid value for `padding`. To use explicit padding, "
                         "`padding` must be a list.")
    if isinstance(padding, (list, tuple)):
        for i, pair in enumerate(padding):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError("When `padding` is a list, each element of `padding` must be a "
                                 f"list/tuple of size 2. Received: padding={padding} with element "
                                 f"at index {i}: {pair!r}")
            explicit.extend(int(p) for p in pair)
        if len(padding) != expected_length:
            raise ValueError(f"When padding is a list, it must be of size {expected_length}. "
                             f"Received: padding={padding} of size {len(padding)}")
        padding = "EXPLICIT"
    return padding, explicit


def _deprecated_alias(new_name, new_value, old_name, old_value):
    if new_value is not None and old_value is not None:
        raise ValueError(f"Cannot specify both '{old_name}' and '{new_name}'")
    return new_value if new_value is not None else old_value


def _channel_index(data_format):
    return 1 if data_format.startswith("NC") else 3


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,  # noqa: A002
           data_format="NHWC", dilations=[1, 1, 1, 1], name=None, filters=None):  # noqa: B006
    """``tf.compat.v1.nn.conv2d``: 2-D convolution of a 4-D ``input`` with a
    ``[height, width, in_channels, out_channels]`` filter. ``strides``/``dilations`` are an int or
    1, 2 or 4 ints; ``padding`` is "SAME", "VALID" or explicit ``[[0, 0], [top, bottom], [left,
    right], [0, 0]]`` pairs (NHWC order). ``filters`` is an alias of ``filter``.

    Example:
        >>> y = tf.nn.conv2d(images, kernel, strides=[1, 2, 2, 1], padding="SAME")  # doctest: +SKIP
    """
    filter = _deprecated_alias("filters", filters, "filter", filter)  # noqa: A001
    padding, explicit = _convert_padding(padding)
    if data_format is None:
        data_format = "NHWC"
    ci = _channel_index(data_format)
    return apply_op("Conv2D", input=input, filter=filter,
                    strides=_get_sequence(strides, 2, ci, "strides"), padding=padding,
                    use_cudnn_on_gpu=use_cudnn_on_gpu, explicit_paddings=explicit,
                    data_format=data_format, dilations=_get_sequence(dilations, 2, ci, "dilations"),
                    name=name)


def depthwise_conv2d_native(input, filter, strides, padding, data_format="NHWC",  # noqa: A002
                            dilations=[1, 1, 1, 1], name=None):  # noqa: B006
    """``tf.nn.depthwise_conv2d_native``: each input channel convolved with its own
    ``channel_multiplier`` filters (filter ``[h, w, in_channels, channel_multiplier]``); output
    channel ``k * channel_multiplier + q``.

    Example:
        >>> y = tf.nn.depthwise_conv2d_native(x, f, [1, 1, 1, 1], "SAME")       # doctest: +SKIP
    """
    padding, explicit = _convert_padding(padding)
    return apply_op("DepthwiseConv2dNative", input=input, filter=filter, strides=list(strides),
                    padding=padding, explicit_paddings=explicit, data_format=data_format,
                    dilations=list(dilations), name=name)


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """``tf.nn.depthwise_conv2d``: depthwise convolution with an optional dilation ``rate``
    (``[rate_h, rate_w]``; ``dilations`` is its alias), ``strides`` a list of 4 ints.

    TensorFlow builds dilated depthwise convolutions with SpaceToBatchND/BatchToSpaceND around
    the op; gpugraph uses the op's own ``dilations`` attr, which computes the same values.

    Example:
        >>> y = tf.nn.depthwise_conv2d(x, f, [1, 1, 1, 1], "SAME", rate=[2, 2])  # doctest: +SKIP
    """
    rate = _deprecated_alias("dilations", dilations, "rate", rate)
    with ops.name_scope(name, "depthwise", [input, filter]) as scope:
        input = convert_to_tensor(input, name="tensor_in")  # noqa: A001
        filter = convert_to_tensor(filter, name="filter_in")  # noqa: A001
        rate = [1, 1] if rate is None else [int(r) for r in rate]
        nchw = data_format is not None and data_format.startswith("NC")
        padding, explicit = _convert_padding(padding)
        kwargs = {} if data_format is None else {"data_format": data_format}
        return apply_op("DepthwiseConv2dNative", input=input, filter=filter, strides=list(strides),
                        padding=padding, explicit_paddings=explicit,
                        dilations=[1, 1] + rate if nchw else [1] + rate + [1], name=scope,
                        **kwargs)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    """``tf.compat.v1.nn.max_pool``: the maximum of each ``ksize`` window; ``ksize``/``strides``
    are an int or 1, 2 or 4 ints; ``padding`` "SAME", "VALID" or explicit pairs. ``input`` is an
    alias of ``value``.

    Example:
        >>> y = tf.nn.max_pool(x, ksize=2, strides=2, padding="VALID")          # doctest: +SKIP
    """
    value = _deprecated_alias("input", input, "value", value)
    return _max_pool(value, ksize, strides, padding, data_format, name, "MaxPool")


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """``tf.nn.max_pool2d``: ``max_pool`` for 4-D input.

    Example:
        >>> y = tf.nn.max_pool2d(x, ksize=(2, 2), strides=(2, 2), padding="SAME")  # doctest: +SKIP
    """
    return _max_pool(input, ksize, strides, padding, data_format, name, "MaxPool2d")


def _max_pool(value, ksize, strides, padding, data_format, name, default_name):
    with ops.name_scope(name, default_name, [value]) as scope:
        if data_format is None:
            data_format = "NHWC"
        ci = _channel_index(data_format)
        ksize = _get_sequence(ksize, 2, ci, "ksize")
        strides = _get_sequence(strides, 2, ci, "strides")
        if isinstance(padding, (list, tuple)) and data_format == "NCHW_VECT_C":
            raise ValueError("`data_format='NCHW_VECT_C'` is not supported with explicit padding. "
                             f"Received: padding={padding}")
        padding, explicit = _convert_padding(padding)
        if any(v == 0 for v in ksize):
            raise ValueError(f"`ksize` cannot be zero. Received: ksize={ksize}")
        return apply_op("MaxPool", input=value, ksize=ksize, strides=strides, padding=padding,
                        explicit_paddings=explicit, data_format=data_format, name=scope)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    """``tf.compat.v1.nn.avg_pool``: the mean of each ``ksize`` window; with SAME padding each
    window is divided by its number of real (unpadded) elements. ``input`` is an alias of
    ``value``.

    Example:
        >>> y = tf.nn.avg_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")      # doctest: +SKIP
    """
    with ops.name_scope(name, "AvgPool", [value]) as scope:
        value = _deprecated_alias("input", input, "value", value)
        if data_format is None:
            data_format = "NHWC"
        ci = _channel_index(data_format)
        return apply_op("AvgPool", value=value, ksize=_get_sequence(ksize, 2, ci, "ksize"),
                        strides=_get_sequence(strides, 2, ci, "strides"), padding=padding,
                        data_format=data_format, name=scope)


EXPORTS = {
    "nn": ["conv2d", "depthwise_conv2d", "depthwise_conv2d_native", "max_pool", "max_pool2d",
           "avg_pool", "avg_pool2d=avg_pool"],
}
