"""Backprop ops of convolution, pooling and batch norm, with TensorFlow's OpDefs:
Conv2DBackpropInput, Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput,
DepthwiseConv2dNativeBackpropFilter, MaxPoolGrad, AvgPoolGrad and FusedBatchNormGrad (V1, V2, V3).

The kernels work in NHWC (NCHW is transposed in and out) and loop over the kernel taps, never over
pixels: tap (i, j) of a convolution reads/writes the strided view ``x[:, i*dh : ... : sh,
j*dw : ... : sw, :]`` of the padded input, so each tap is one vectorised matmul or add. Padding is
TensorFlow's (SAME puts the odd element at the end; EXPLICIT reads ``explicit_paddings``).

Example:
    >>> from gpugraph.framework.op_builder import apply_op
    >>> dx = apply_op("Conv2DBackpropInput", input_sizes=[1, 4, 4, 1], filter=w, out_backprop=dy,
    ...               strides=[1, 1, 1, 1], padding="SAME")                  # doctest: +SKIP
"""

import ml_dtypes
import numpy as np

from gpugraph.framework import tensor_shape
from gpugraph.framework.op_builder import constant_value
from gpugraph.framework.registry import register_op

TensorShape = tensor_shape.TensorShape
_HALF_TYPES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


# -- geometry -----------------------------------------------------------------------------------
def _hwc(data_format):
    """(height, width, channel) axes of a 4-D tensor in ``data_format``."""
    return (2, 3, 1) if data_format.startswith("NC") else (1, 2, 3)


def _window(size, k, stride, dilation, padding, explicit):
    """``(out, pad_before, pad_after)`` of one spatial dim, as TF's GetWindowedOutputSize."""
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    before, after = explicit if padding == "EXPLICIT" else (0, 0)
    padded = size + before + after
    if padded < eff:
        raise ValueError(f"the (dilated) window of size {eff} is larger than the padded input {padded}")
    return (padded - eff) // stride + 1, before, after


class _Conv:
    """A node's checked attrs in NHWC terms (cached per node in ``ctx.cache``)."""

    def __init__(self, attrs, ksize_attr=None):
        self.data_format = attrs["data_format"]
        h, w, c = _hwc(self.data_format)
        self.nchw = self.data_format == "NCHW"
        strides = list(attrs["strides"])
        dilations = list(attrs.get("dilations", [1, 1, 1, 1]))
        if len(strides) != 4 or len(dilations) != 4:
            raise ValueError(f"strides and dilations must have 4 elements, got {strides} and {dilations}")
        if strides[0] != 1 or strides[c] != 1 or dilations[0] != 1 or dilations[c] != 1:
            raise ValueError("strides and dilations in the batch and depth dimensions must be 1, got "
                             f"strides={strides}, dilations={dilations}")
        if min(strides + dilations) < 1:
            raise ValueError(f"strides and dilations must be positive, got {strides} and {dilations}")
        self.strides = (strides[h], strides[w])
        self.dilations = (dilations[h], dilations[w])
        self.ksize = None
        if ksize_attr is not None:
            ksize = list(attrs[ksize_attr])
            if len(ksize) != 4 or ksize[0] != 1 or ksize[c] != 1:
                raise ValueError(f"pooling is only supported over the spatial dimensions: ksize={ksize}")
            self.ksize = (ksize[h], ksize[w])
        self.padding = attrs["padding"]
        explicit = list(attrs.get("explicit_paddings", []))
        self.explicit = ((0, 0), (0, 0))
        if self.padding == "EXPLICIT":
            if len(explicit) != 8:
                raise ValueError(f"explicit_paddings must contain 8 values, got {explicit}")
            self.explicit = ((explicit[2 * h], explicit[2 * h + 1]), (explicit[2 * w], explicit[2 * w + 1]))
        elif explicit:
            raise ValueError("explicit_paddings must be empty unless padding is EXPLICIT")

    def geometry(self, in_h, in_w, kh, kw):
        """((out_h, top, bottom), (out_w, left, right))."""
        return (_window(in_h, kh, self.strides[0], self.dilations[0], self.padding, self.explicit[0]),
                _window(in_w, kw, self.strides[1], self.dilations[1], self.padding, self.explicit[1]))

    def to_nhwc(self, x):
        return x.transpose(0, 2, 3, 1) if self.nchw else x

    def from_nhwc(self, x):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if self.nchw else x

    def sizes_to_nhwc(self, sizes):
        sizes = [int(s) for s in sizes]
        return [sizes[0], sizes[2], sizes[3], sizes[1]] if self.nchw else sizes

    def tap(self, i, j, out_h, out_w):
        """The index of tap (i, j)'s strided view into the padded NHWC input."""
        sh, sw = self.strides
        dh, dw = self.dilations
        return (slice(None), slice(i * dh, i * dh + (out_h - 1) * sh + 1, sh),
                slice(j * dw, j * dw + (out_w - 1) * sw + 1, sw), slice(None))


def _config(ctx, ksize_attr=None):
    cfg = ctx.cache.get("conv")
    if cfg is None:
        try:
            cfg = _Conv(ctx.attrs, ksize_attr)
        except ValueError as e:
            raise ctx.error(str(e)) from None
        ctx.cache["conv"] = cfg
    return cfg


def _compute_dtype(dtype):
    return np.dtype(np.float32) if dtype in _HALF_TYPES else dtype


def _check_out_backprop(ctx, dy, n, out_h, out_w, channels):
    want = (n, out_h, out_w, channels)
    if dy.shape != want:
        raise ctx.error(f"out_backprop has shape {list(dy.shape)} (NHWC), but the forward op computes "
                        f"{list(want)} from the input and filter sizes")


def _padded_shape(n, h, w, c, pads):
    (_, top, bottom), (_, left, right) = pads
    return (n, h + top + bottom, w + left + right, c)


def _crop(xp, pads, h, w):
    (_, top, _), (_, left, _) = pads
    return xp[:, top:top + h, left:left + w, :]


def _pad(x, pads, value=0):
    (_, top, bottom), (_, left, right) = pads
    if not (top or bottom or left or right):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


# -- Conv2D backprops -------------------------------------------------------------------------------
def _sizes(ctx, cfg, sizes, what):
    sizes = np.asarray(sizes)
    if sizes.shape != (4,):
        raise ctx.error(f"{what} must be a vector of 4 elements, got shape {list(sizes.shape)}")
    return sizes


def _conv_backprop_input(ctx, input_sizes, filt, dy, depthwise=False):
    cfg = _config(ctx)
    n, h, w, c = cfg.sizes_to_nhwc(_sizes(ctx, cfg, input_sizes, "input_sizes"))
    kh, kw = filt.shape[:2]
    if filt.shape[2] != c:
        raise ctx.error(f"filter has {filt.shape[2]} input channels, input_sizes {c}")
    dy = cfg.to_nhwc(dy)
    pads = cfg.geometry(h, w, kh, kw)
    out_h, out_w = pads[0][0], pads[1][0]
    out_c = filt.shape[2] * filt.shape[3] if depthwise else filt.shape[3]
    _check_out_backprop(ctx, dy, n, out_h, out_w, out_c)
    ct = _compute_dtype(dy.dtype)
    dyc, fc = dy.astype(ct, copy=False), filt.astype(ct, copy=False)
    dxp = np.zeros(_padded_shape(n, h, w, c, pads), dtype=ct)
    if depthwise:
        dyc = dyc.reshape(n, out_h, out_w, c, filt.shape[3])
    for i in range(kh):
        for j in range(kw):
            if depthwise:
                contrib = np.einsum("nhwcm,cm->nhwc", dyc, fc[i, j])
            else:
                contrib = dyc @ fc[i, j].T
            dxp[cfg.tap(i, j, out_h, out_w)] += contrib
    return cfg.from_nhwc(_crop(dxp, pads, h, w).astype(dy.dtype, copy=False))


def _conv_backprop_filter(ctx, x, filter_sizes, dy, depthwise=False):
    cfg = _config(ctx)
    kh, kw, in_c, mult = (int(s) for s in _sizes(ctx, cfg, filter_sizes, "filter_sizes"))
    x, dy = cfg.to_nhwc(x), cfg.to_nhwc(dy)
    n, h, w, c = x.shape
    if in_c != c:
        raise ctx.error(f"filter_sizes has {in_c} input channels, the input {c}")
    pads = cfg.geometry(h, w, kh, kw)
    out_h, out_w = pads[0][0], pads[1][0]
    _check_out_backprop(ctx, dy, n, out_h, out_w, c * mult if depthwise else mult)
    ct = _compute_dtype(dy.dtype)
    xp = _pad(x.astype(ct, copy=False), pads)
    dyc = dy.astype(ct, copy=False)
    dw = np.empty((kh, kw, in_c, mult), dtype=ct)
    if depthwise:
        dyc = dyc.reshape(n, out_h, out_w, c, mult)
    else:
        dy2 = dyc.reshape(-1, mult)
    for i in range(kh):
        for j in range(kw):
            patch = xp[cfg.tap(i, j, out_h, out_w)]
            if depthwise:
                dw[i, j] = np.einsum("nhwc,nhwcm->cm", patch, dyc)
            else:
                dw[i, j] = patch.reshape(-1, c).T @ dy2
    return dw.astype(dy.dtype, copy=False)


def _shape_from_sizes(op, index, data_format=None):
    """The output shape named by a sizes input (e.g. input_sizes), in the node's data format."""
    value = constant_value(op.inputs[index])
    if value is not None:
        return TensorShape([int(v) for v in value])
    return TensorShape([None] * 4)


def _backprop_input_shape(op):
    return [_shape_from_sizes(op, 0)]


def _backprop_filter_shape(op):
    return [_shape_from_sizes(op, 1)]


_CONV_ATTRS = ["strides: list(int)", "use_cudnn_on_gpu: bool = true",
               "padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []",
               "data_format: {'NHWC', 'NCHW'} = 'NHWC'", "dilations: list(int) = [1, 1, 1, 1]"]
_DEPTHWISE_ATTRS = [a for a in _CONV_ATTRS if not a.startswith("use_cudnn")]

register_op("Conv2DBackpropInput", inputs=["input_sizes: int32", "filter: T", "out_backprop: T"],
            outputs=["output: T"], attrs=["T: {half, bfloat16, float, double, int32}"] + _CONV_ATTRS,
            shape=_backprop_input_shape, cpu=_conv_backprop_input, host_memory=("input_sizes",))
register_op("Conv2DBackpropFilter", inputs=["input: T", "filter_sizes: int32", "out_backprop: T"],
            outputs=["output: T"], attrs=["T: {half, bfloat16, float, double}"] + _CONV_ATTRS,
            shape=_backprop_filter_shape, cpu=_conv_backprop_filter, host_memory=("filter_sizes",))
register_op("DepthwiseConv2dNativeBackpropInput",
            inputs=["input_sizes: int32", "filter: T", "out_backprop: T"], outputs=["output: T"],
            attrs=["T: {half, bfloat16, float, double}"] + _DEPTHWISE_ATTRS,
            shape=_backprop_input_shape, host_memory=("input_sizes",),
            cpu=lambda ctx, s, f, dy: _conv_backprop_input(ctx, s, f, dy, depthwise=True))
register_op("DepthwiseConv2dNativeBackpropFilter",
            inputs=["input: T", "filter_sizes: int32", "out_backprop: T"], outputs=["output: T"],
            attrs=["T: {half, bfloat16, float, double}"] + _DEPTHWISE_ATTRS,
            shape=_backprop_filter_shape, host_memory=("filter_sizes",),
            cpu=lambda ctx, x, s, dy: _conv_backprop_filter(ctx, x, s, dy, depthwise=True))


# -- pooling backprops ------------------------------------------------------------------------------
def _valid_taps(cfg, pads, h, w):
    """For each tap: a [1, out_h, out_w, 1] mask of the windows where the tap reads a real pixel."""
    (out_h, top, _), (out_w, left, _) = pads
    kh, kw = cfg.ksize
    rows = np.arange(out_h) * cfg.strides[0] - top
    cols = np.arange(out_w) * cfg.strides[1] - left
    masks = {}
    for i in range(kh):
        r = (rows + i >= 0) & (rows + i < h)
        for j in range(kw):
            c = (cols + j >= 0) & (cols + j < w)
            masks[i, j] = (r[:, None] & c[None, :])[None, :, :, None]
    return masks


def _max_pool_grad(ctx, orig_input, orig_output, grad):
    cfg = _config(ctx, "ksize")
    x, g = cfg.to_nhwc(orig_input), cfg.to_nhwc(grad)
    if x.ndim != 4:
        raise ctx.error(f"orig_input must be 4-dimensional, got shape {list(x.shape)}")
    n, h, w, c = x.shape
    kh, kw = cfg.ksize
    pads = cfg.geometry(h, w, kh, kw)
    out_h, out_w = pads[0][0], pads[1][0]
    _check_out_backprop(ctx, g, n, out_h, out_w, c)
    xp = _pad(x, pads)
    valid = _valid_taps(cfg, pads, h, w)
    # TF's CPU kernel: the first real pixel in row-major window order holding the maximum wins.
    best = np.zeros((n, out_h, out_w, c), dtype=x.dtype)
    found = np.zeros(best.shape, dtype=bool)
    arg = np.full(best.shape, -1, dtype=np.int32)
    for i in range(kh):
        for j in range(kw):
            v = xp[cfg.tap(i, j, out_h, out_w)]
            better = valid[i, j] & (~found | (v > best))
            best = np.where(better, v, best)
            arg[better] = i * kw + j
            found |= better
    # TF's kernel adds each window's gradient into its argmax pixel in T itself (no wider accumulator).
    dxp = np.zeros(_padded_shape(n, h, w, c, pads), dtype=g.dtype)
    zero = g.dtype.type(0)
    for i in range(kh):
        for j in range(kw):
            dxp[cfg.tap(i, j, out_h, out_w)] += np.where(arg == i * kw + j, g, zero)
    return cfg.from_nhwc(np.ascontiguousarray(_crop(dxp, pads, h, w)))


def _avg_pool_grad(ctx, orig_input_shape, grad):
    cfg = _config(ctx, "ksize")
    n, h, w, c = cfg.sizes_to_nhwc(_sizes(ctx, cfg, orig_input_shape, "orig_input_shape"))
    g = cfg.to_nhwc(grad)
    kh, kw = cfg.ksize
    pads = cfg.geometry(h, w, kh, kw)
    out_h, out_w = pads[0][0], pads[1][0]
    _check_out_backprop(ctx, g, n, out_h, out_w, c)
    valid = _valid_taps(cfg, pads, h, w)
    count = sum(m.astype(np.int64) for m in valid.values())  # real pixels in each window
    ct = _compute_dtype(g.dtype)
    scaled = g.astype(ct, copy=False) * (ct.type(1) / np.maximum(count, 1).astype(ct))
    dxp = np.zeros(_padded_shape(n, h, w, c, pads), dtype=ct)
    for i in range(kh):
        for j in range(kw):
            dxp[cfg.tap(i, j, out_h, out_w)] += scaled
    return cfg.from_nhwc(_crop(dxp, pads, h, w).astype(g.dtype, copy=False))


register_op("MaxPoolGrad", inputs=["orig_input: T", "orig_output: T", "grad: T"], outputs=["output: T"],
            attrs=["ksize: list(int) >= 4", "strides: list(int) >= 4",
                   "padding: {'SAME', 'VALID', 'EXPLICIT'}", "explicit_paddings: list(int) = []",
                   "data_format: {'NHWC', 'NCHW'} = 'NHWC'", "T: realnumbertype = DT_FLOAT"],
            shape=lambda op: [op.inputs[0].shape], cpu=_max_pool_grad)
register_op("AvgPoolGrad", inputs=["orig_input_shape: int32", "grad: T"], outputs=["output: T"],
            attrs=["ksize: list(int) >= 4", "strides: list(int) >= 4", "padding: {'SAME', 'VALID'}",
                   "data_format: {'NHWC', 'NCHW'} = 'NHWC'", "T: {half, bfloat16, float, double}"],
            shape=lambda op: [_shape_from_sizes(op, 0)], cpu=_avg_pool_grad,
            host_memory=("orig_input_shape",))


# -- FusedBatchNormGrad ----------------------------------------------------------------------------
def _fbn_grad(ctx, dy, x, scale, mean, var, *unused):
    fmt = ctx.attrs["data_format"]
    rank = 5 if fmt in ("NDHWC", "NCDHW") else 4
    axis = 1 if fmt.startswith("NC") else rank - 1
    if x.ndim != rank or dy.shape != x.shape:
        raise ctx.error(f"x and y_backprop must be {rank}-dimensional with the same shape, got "
                        f"{list(x.shape)} and {list(dy.shape)}")
    channels = x.shape[axis]
    for name, v in (("scale", scale), ("reserve_space_1", mean), ("reserve_space_2", var)):
        if v.shape != (channels,):
            raise ctx.error(f"{name} must have {channels} elements (one per channel), got shape {list(v.shape)}")
    bshape = [1] * rank
    bshape[axis] = channels
    axes = tuple(i for i in range(rank) if i != axis)
    f32 = np.float32
    xf, dyf = x.astype(f32, copy=False), dy.astype(f32, copy=False)
    scale, mean, var = (v.astype(f32, copy=False) for v in (scale, mean, var))
    inv = f32(1) / np.sqrt(var + f32(ctx.attrs["epsilon"]))
    centered = xf - mean.reshape(bshape)
    dy_sum = dyf.sum(axis=axes, dtype=np.float64).astype(f32)
    dy_xc = (dyf * centered).sum(axis=axes, dtype=np.float64).astype(f32)
    scale_backprop = dy_xc * inv
    if ctx.attrs["is_training"]:
        count = f32(max(x.size // max(channels, 1), 1))
        coef = (scale * inv).reshape(bshape)
        dx = coef * (dyf - (dy_sum / count).reshape(bshape)
                     - centered * (dy_xc / count * inv * inv).reshape(bshape))
    else:
        dx = dyf * (scale * inv).reshape(bshape)
    u = ctx.output_dtypes[1]
    empty = np.zeros((0,), dtype=u)
    return [dx.astype(x.dtype, copy=False), scale_backprop.astype(u), dy_sum.astype(u), empty, empty]


def _fbn_grad_shape(op):
    x = op.inputs[1].shape.merge_with(op.inputs[0].shape)
    fmt = op.get_attr("data_format").decode()
    axis = 1 if fmt.startswith("NC") else -1
    channels = x.dims[axis] if x.ndims is not None else None
    vec = TensorShape([channels]).merge_with(op.inputs[2].shape.with_rank(1))
    return [x, vec, vec, TensorShape([0]), TensorShape([0])]


_FBN_GRAD_ATTRS = ["epsilon: float = 0.0001", "data_format: {'NHWC', 'NCHW'} = 'NHWC'",
                   "is_training: bool = true"]
register_op("FusedBatchNormGrad",
            inputs=["y_backprop: T", "x: T", "scale: T", "reserve_space_1: T", "reserve_space_2: T"],
            outputs=["x_backprop: T", "scale_backprop: T", "offset_backprop: T", "reserve_space_3: T",
                     "reserve_space_4: T"],
            attrs=["T: {float}"] + _FBN_GRAD_ATTRS, shape=_fbn_grad_shape, cpu=_fbn_grad)
register_op("FusedBatchNormGradV2",
            inputs=["y_backprop: T", "x: T", "scale: float", "reserve_space_1: U", "reserve_space_2: U"],
            outputs=["x_backprop: T", "scale_backprop: U", "offset_backprop: U", "reserve_space_3: U",
                     "reserve_space_4: U"],
            attrs=["T: {half, bfloat16, float}", "U: {float}"] + _FBN_GRAD_ATTRS,
            shape=_fbn_grad_shape, cpu=_fbn_grad)
register_op("FusedBatchNormGradV3",
            inputs=["y_backprop: T", "x: T", "scale: float", "reserve_space_1: U", "reserve_space_2: U",
                    "reserve_space_3: U"],
            outputs=["x_backprop: T", "scale_backprop: U", "offset_backprop: U", "reserve_space_4: U",
                     "reserve_space_5: U"],
            attrs=["T: {half, bfloat16, float}", "U: {float}", "epsilon: float = 0.0001",
                   "data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'", "is_training: bool = true"],
            shape=_fbn_grad_shape, cpu=_fbn_grad)
