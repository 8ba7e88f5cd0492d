"""Launching the custom CUDA kernels of ``kernels/*.cu`` from GPU op kernels: one helper per
kernel family, each taking the step's ``ctx`` and the op's (validated) inputs and returning the
op's output — or None when no custom kernel applies (the backend has none, as the emulated
backend without its CPU build of the kernels; the dtype or the shape is one the kernel does not
take; the input is empty). The GPU op kernels in ``kernels_math``/``kernels_nn``/``kernels_array``
then compute with ``ctx.xp`` as before::

    y = custom_kernels.softmax(ctx, x, log=False)
    if y is not None:
        return y
    ...  # the xp path

The results are those of the op's NumPy kernel (16-bit floats compute in float32 and round once
per output, like the NumPy kernels). Every launch names the step's stream; inputs are made
C-contiguous first (the kernels index flat buffers) and outputs are allocated with ``ctx.xp``
inside the step, i.e. on the step's device and stream. Empty inputs never launch anything.

Ops and kernels:

=========================================================  ==========================================
op                                                         kernel (``kernels/``)
=========================================================  ==========================================
Softmax, LogSoftmax                                        ``softmax.cu`` gg_softmax
BiasAdd                                                    ``bias_act.cu`` gg_bias_act
Neg Abs Square Sqrt Rsqrt Exp Log Log1p Tanh Sigmoid,
Relu Relu6 Elu Selu Softplus LeakyRelu                     ``elementwise.cu`` gg_ew_unary
Add AddV2 Sub Mul Div RealDiv Maximum Minimum
SquaredDifference (same shape, scalar, row, column)        ``elementwise.cu`` gg_ew_binary
Sum Mean Max Min Prod                                      ``reduce.cu`` gg_reduce(_cols, _finish)
ArgMax ArgMin                                              ``argmax.cu`` gg_argmax(_inner)
GatherV2                                                   ``gather.cu`` gg_gather
MaxPool AvgPool                                            ``pool.cu`` gg_max_pool / gg_avg_pool
Conv2D                                                     ``conv.cu`` gg_im2col + ``xp.matmul``
DepthwiseConv2dNative                                      ``conv.cu`` gg_depthwise_conv2d
(Sparse)SoftmaxCrossEntropyWithLogits                      ``xent.cu``
(Resource)ApplyAdam / Momentum / GradientDescent           ``optim.cu``
=========================================================  ==========================================
"""

import math

import ml_dtypes
import numpy as np

from gpugraph.runtime.cuda import kernel_loader

# Kernel name suffixes per element type (kernels/README.md), and the suffixes each family has.
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.float16): "f16",
           np.dtype(ml_dtypes.bfloat16): "bf16", np.dtype(np.int32): "i32",
           np.dtype(np.int64): "i64", np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8"}
FLOAT_SUFFIXES = frozenset({"f32", "f64", "f16", "bf16"})
REDUCE_SUFFIXES = FLOAT_SUFFIXES | {"i32", "i64"}
ARGMAX_SUFFIXES = FLOAT_SUFFIXES | {"i32", "i64", "u8"}
MAX_POOL_SUFFIXES = FLOAT_SUFFIXES | {"i32", "i64", "u8", "i8"}
# Kernels that only move elements come per element size.
_MOVE_SUFFIX = {1: "b8", 2: "b16", 4: "b32", 8: "b64", 16: "b128"}

# gg_ew_binary's second operand may broadcast; the first must have the output's shape, so for
# these ops (whose result does not depend on the operand order) a broadcast first operand is
# swapped into second place.
_COMMUTATIVE = frozenset({"add", "mul", "maximum", "minimum", "squared_difference"})

# The largest im2col workspace Conv2D allocates at once; bigger batches are converted and
# multiplied in chunks of images (gg_im2col's n0/count).
IM2COL_WORKSPACE_BYTES = 256 << 20

# Launch shape of gg_reduce_cols: 32 threads along the kept inner axis, 8 sharing each column.
_COLS_BLOCK = (32, 8)
_TARGET_BLOCKS = 256  # enough blocks to keep every SM of a large GPU busy


# -- plumbing ---------------------------------------------------------------------------------------
def _suffix(dtype, supported):
    sfx = _SUFFIX.get(np.dtype(dtype))
    return sfx if sfx in supported else None


def _contiguous(xp, a):
    """``a`` as a C-contiguous array (the kernels index flat buffers). 0-d arrays stay 0-d."""
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def _acc_bytes(sfx):
    """Bytes of a row kernel's per-element accumulator for ``sfx`` (float32 for 16-bit floats),
    which sizes the shared-memory row cache of :func:`kernel_loader.row_launch`."""
    return 8 if sfx in ("f64", "i64") else 4


def _launch(ctx, kernel, geometry, args, shared_mem=0):
    grid, block = geometry
    kernel(grid, block, args, stream=ctx.stream, shared_mem=shared_mem)


def _index_error_flag(ctx):
    """A per-node device word for the kernels' out-of-range index flag (gather, sparse xent).

    The kernels need somewhere to record the first bad index; reading it back would synchronise
    the stream on every step, so it is not read: as in TensorFlow's GPU kernels, out-of-range
    indices give zeros (gather) or NaN rows (sparse cross-entropy) instead of an error."""
    flag = ctx.cache.get("gg_index_error_flag")
    if flag is None:  # "no bad index yet" is all ones (the kernels atomicMin into it)
        flag = ctx.cache["gg_index_error_flag"] = ctx.xp.asarray(
            np.full(1, np.iinfo(np.uint64).max, np.uint64))
    return flag


# -- softmax, bias-add, elementwise ----------------------------------------------------------------
def softmax(ctx, x, log=False):
    """Softmax (or LogSoftmax with ``log=True``) over the last axis of ``x``."""
    sfx = _suffix(x.dtype, FLOAT_SUFFIXES)
    if sfx is None or x.ndim == 0 or x.size == 0:
        return None
    kernel = ctx.kernel("softmax.cu", f"gg_softmax_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    x = _contiguous(xp, x)
    cols = x.shape[-1]
    rows = x.size // cols
    grid, block, shared, cache_row = kernel_loader.row_launch(rows, cols, _acc_bytes(sfx))
    y = xp.empty(x.shape, x.dtype)
    _launch(ctx, kernel, (grid, block), (x, y, rows, cols, int(log), cache_row), shared)
    return y


def bias_add(ctx, value, bias, channels_first, activation="identity", alpha=0.0):
    """``activation(value + bias)`` with ``bias`` along axis 1 (``channels_first``, NCHW) or the
    last axis; shapes already validated by the op."""
    sfx = _suffix(value.dtype, FLOAT_SUFFIXES)
    if sfx is None or value.size == 0 or bias.dtype != value.dtype:
        return None
    kernel = ctx.kernel("bias_act.cu", f"gg_bias_act_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    value, bias = _contiguous(xp, value), _contiguous(xp, bias)
    inner = math.prod(value.shape[2:]) if channels_first else 1
    y = xp.empty(value.shape, value.dtype)
    _launch(ctx, kernel, kernel_loader.flat_launch(value.size),
            (value, bias, y, value.size, bias.shape[0], inner, kernel_loader.ACTIVATIONS[activation],
             alpha))
    return y


def unary(ctx, op, x, alpha=0.0):
    """``op`` (a key of ``kernel_loader.UNARY_OPS``, e.g. ``"relu"``) of a float array;
    ``alpha`` is LeakyRelu's slope."""
    sfx = _suffix(x.dtype, FLOAT_SUFFIXES)
    if sfx is None or x.size == 0:
        return None
    kernel = ctx.kernel("elementwise.cu", f"gg_ew_unary_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    x = _contiguous(xp, x)
    y = xp.empty(x.shape, x.dtype)
    _launch(ctx, kernel, kernel_loader.flat_launch(x.size),
            (kernel_loader.UNARY_OPS[op], x, y, x.size, alpha))
    return y


def _broadcast_form(out_shape, b_shape):
    """How an operand of ``b_shape`` broadcasts against ``out_shape`` seen as [rows, cols]:
    ``(kind, cols)`` with kind a key of ``kernel_loader.BROADCAST_KINDS`` (cols is 0, unused,
    for full and scalar operands), or None when it is none of those (e.g. broadcasting along a
    middle axis)."""
    if math.prod(b_shape) == 1:
        return "scalar", 0
    if b_shape == out_shape:
        return "full", 0
    padded = (1,) * (len(out_shape) - len(b_shape)) + tuple(b_shape)
    for k in range(1, len(out_shape)):
        head, tail = padded[:k], padded[k:]
        if all(d == 1 for d in head) and tail == out_shape[k:]:
            return "row", math.prod(tail)          # b repeats for every row: b[i % cols]
        if head == out_shape[:k] and all(d == 1 for d in tail):
            return "col", math.prod(out_shape[k:])  # one b value per row: b[i // cols]
    return None


def binary(ctx, op, a, b):
    """``op`` (a key of ``kernel_loader.BINARY_OPS``, e.g. ``"add"``) of two float arrays of one
    dtype with NumPy broadcasting, where one operand has the output's shape and the other is
    the same shape, a scalar, a row (trailing axes) or a column (leading axes); else None."""
    sfx = _suffix(a.dtype, FLOAT_SUFFIXES)
    if sfx is None or b.dtype != a.dtype:
        return None
    try:
        out_shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        return None  # the xp path raises the op's error
    if math.prod(out_shape) == 0:
        return None
    if a.shape != out_shape:
        if op not in _COMMUTATIVE or b.shape != out_shape:
            return None
        a, b = b, a
    form = _broadcast_form(out_shape, b.shape)
    if form is None:
        return None
    kernel = ctx.kernel("elementwise.cu", f"gg_ew_binary_{sfx}")
    if kernel is None:
        return None
    kind, cols = form
    xp = ctx.xp
    a, b = _contiguous(xp, a), _contiguous(xp, b)
    y = xp.empty(out_shape, a.dtype)
    _launch(ctx, kernel, kernel_loader.flat_launch(y.size),
            (kernel_loader.BINARY_OPS[op], a, b, kernel_loader.BROADCAST_KINDS[kind], y, y.size, cols))
    return y


# -- reductions ------------------------------------------------------------------------------------------
def _reduce_partial_dtype(sfx):
    """The dtype of gg_reduce's per-chunk accumulators: float32 (float64 for f64); 8-byte
    integers for integer inputs, which fits both their 64-bit sums and their max/min."""
    if sfx in ("i32", "i64"):
        return np.int64
    return np.float64 if sfx == "f64" else np.float32


def _reduce_cols_launch(outer, red, inner):
    """``(grid, block, chunks)`` for gg_reduce_cols: a column of threads per 32 inner positions
    and outer index, and — when that leaves the GPU idle — the reduced axis split into chunks
    over ``blockIdx.z`` (at least 8 elements per thread each), combined by gg_reduce_finish."""
    bx, by = _COLS_BLOCK
    grid_x, grid_y = -(-inner // bx), min(outer, 65535)
    per_chunk = 8 * by
    chunks = 1
    if grid_x * grid_y < _TARGET_BLOCKS and red > per_chunk:
        chunks = max(1, min(65535, _TARGET_BLOCKS // (grid_x * grid_y), -(-red // per_chunk)))
    return (grid_x, grid_y, chunks), _COLS_BLOCK, chunks


def _device_geom(ctx, view, key):
    """gg_reduce's view geometry as a device array, uploaded once per node and input shape."""
    cached = ctx.cache.get("gg_reduce_geom")
    if cached is None or cached[0] != key:
        cached = ctx.cache["gg_reduce_geom"] = (key, ctx.xp.asarray(view.geom))
    return cached[1]


def reduce(ctx, op, x, axes, keep_dims):
    """Sum/Mean/Max/Min/Prod (``op``: a key of ``kernel_loader.REDUCE_OPS``) of ``x`` over
    ``axes`` (validated, sorted, non-negative)."""
    sfx = _suffix(x.dtype, REDUCE_SUFFIXES)
    if sfx is None or x.size == 0:
        return None
    try:
        view = kernel_loader.reduce_view(x.shape, axes)
    except ValueError:  # more than 8 separate axis groups: beyond the kernel's view
        return None
    along_columns = view.cols_form is not None
    kernel = ctx.kernel("reduce.cu", f"gg_reduce_cols_{sfx}" if along_columns else f"gg_reduce_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    x = _contiguous(xp, x)
    code = kernel_loader.REDUCE_OPS[op]
    y = xp.empty(view.rows, x.dtype)
    if along_columns:
        outer, red, inner = view.cols_form
        grid, block, chunks = _reduce_cols_launch(outer, red, inner)
        partial = xp.empty(view.rows * chunks, _reduce_partial_dtype(sfx)) if chunks > 1 else None
        _launch(ctx, kernel, (grid, block), (code, x, y, partial, outer, red, inner, chunks))
    else:
        geom = _device_geom(ctx, view, (x.shape, tuple(axes)))
        grid, block, chunks = kernel_loader.reduce_launch(view.rows, view.red, _acc_bytes(sfx))
        partial = xp.empty(view.rows * chunks, _reduce_partial_dtype(sfx)) if chunks > 1 else None
        _launch(ctx, kernel, (grid, block), (code, x, y, partial, geom, view.rows, view.red, chunks))
    if chunks > 1:
        finish = ctx.kernel("reduce.cu", f"gg_reduce_finish_{sfx}")
        grid, block, _, _ = kernel_loader.row_launch(view.rows, chunks)
        _launch(ctx, finish, (grid, block), (code, partial, y, view.rows, chunks, view.red))
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep_dims or i not in axes)
    return y.reshape(out_shape)


_ARG_OUT_BITS = {np.dtype(np.int64): 64, np.dtype(np.int32): 32, np.dtype(np.int16): 16,
                 np.dtype(np.uint16): 16}


def arg_reduce(ctx, x, axis, is_min, out_dtype):
    """ArgMax (ArgMin with ``is_min``) of ``x`` along ``axis`` (validated, non-negative) as
    ``out_dtype`` integers."""
    sfx = _suffix(x.dtype, ARGMAX_SUFFIXES)
    out_bits = _ARG_OUT_BITS.get(np.dtype(out_dtype))
    if sfx is None or out_bits is None or x.size == 0:
        return None
    outer, length, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    along_last = inner == 1
    kernel = ctx.kernel("argmax.cu", f"gg_argmax_{sfx}" if along_last else f"gg_argmax_inner_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    x = _contiguous(xp, x)
    out = xp.empty(x.shape[:axis] + x.shape[axis + 1:], out_dtype)
    if along_last:
        grid, block, _, _ = kernel_loader.row_launch(outer, length, _acc_bytes(sfx))
        _launch(ctx, kernel, (grid, block), (x, out, outer, length, int(is_min), out_bits))
    else:
        _launch(ctx, kernel, kernel_loader.flat_launch(outer * inner),
                (x, out, outer, length, inner, int(is_min), out_bits))
    return out


# -- gather ------------------------------------------------------------------------------------------
_INDEX_SUFFIX = {np.dtype(np.int32): "i32", np.dtype(np.int64): "i64"}


def gather(ctx, params, indices, axis, batch_dims):
    """GatherV2 of ``params`` along ``axis`` with ``batch_dims`` (both validated, non-negative).
    Out-of-range indices give zeros (see :func:`_index_error_flag`)."""
    size_sfx = _MOVE_SUFFIX.get(params.dtype.itemsize)
    index_sfx = _INDEX_SUFFIX.get(np.dtype(indices.dtype))
    out_shape = params.shape[:axis] + indices.shape[batch_dims:] + params.shape[axis + 1:]
    if size_sfx is None or index_sfx is None or params.dtype.kind not in "biufc" \
            or math.prod(out_shape) == 0:
        return None
    kernel = ctx.kernel("gather.cu", f"gg_gather_{size_sfx}_{index_sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    params, indices = _contiguous(xp, params), _contiguous(xp, indices)
    out = xp.empty(out_shape, params.dtype)
    shape = params.shape
    _launch(ctx, kernel, kernel_loader.flat_launch(out.size),
            (params, indices, out, math.prod(shape[:batch_dims]), math.prod(shape[batch_dims:axis]),
             shape[axis], math.prod(shape[axis + 1:]), math.prod(indices.shape[batch_dims:]),
             _index_error_flag(ctx)))
    return out


# -- convolution and pooling (NHWC kernels; NCHW is transposed in and out) -------------------------
def _to_nhwc(xp, x, data_format):
    return _contiguous(xp, x.transpose(0, 2, 3, 1) if data_format == "NCHW" else x)


def _from_nhwc(y, data_format):
    return y.transpose(0, 3, 1, 2) if data_format == "NCHW" else y


def pool(ctx, kind, x, data_format, ksize, strides, out_hw, pad_top_left):
    """MaxPool (``kind="max"``) or AvgPool (``"avg"``) over H and W of a 4-D ``x`` with the
    op's window geometry: output size ``out_hw`` and the top/left padding (TF's rules)."""
    sfx = _suffix(x.dtype, MAX_POOL_SUFFIXES if kind == "max" else FLOAT_SUFFIXES)
    oh, ow = out_hw
    if sfx is None or x.size == 0 or oh * ow == 0:
        return None
    kernel = ctx.kernel("pool.cu", f"gg_{kind}_pool_nhwc_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    xn = _to_nhwc(xp, x, data_format)
    n, h, w, c = xn.shape
    y = xp.empty((n, oh, ow, c), x.dtype)
    _launch(ctx, kernel, kernel_loader.flat_launch(y.size),
            (xn, y, n, h, w, c, *ksize, *strides, *pad_top_left, oh, ow))
    return _from_nhwc(y, data_format)


def conv2d(ctx, x, w, data_format, strides, dilations, out_hw, pad_top_left):
    """Conv2D (grouped when the input has a multiple of the filter's in_channels) as gg_im2col
    and one matmul (per group) — conv_ops' patch layout, so the products are the NumPy kernel's.
    Half precision is widened to float32 before im2col, as the NumPy kernel computes."""
    compute = np.dtype(np.float32) if x.dtype == np.float16 else x.dtype
    if compute.kind not in "fi" or w.dtype != x.dtype:
        return None
    move_sfx = _MOVE_SUFFIX.get(compute.itemsize)
    oh, ow = out_hw
    kh, kw, f_in, f_out = w.shape
    if move_sfx is None or x.size == 0 or oh * ow * f_out * kh * kw == 0:
        return None
    kernel = ctx.kernel("conv.cu", f"gg_im2col_nhwc_{move_sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    xn = _to_nhwc(xp, x.astype(compute, copy=False), data_format)
    n, h, wd, c = xn.shape
    groups = c // f_in
    k = kh * kw * c
    filt = w.astype(compute, copy=False)
    if groups == 1:
        filt = filt.reshape(k, f_out)
    else:  # per group: the filter rows of its channels, in the patches' (kh, kw, c) order
        og = f_out // groups
        filt = filt.reshape(kh * kw, f_in, groups, og).transpose(2, 0, 1, 3).reshape(groups, -1, og)
    pixels = oh * ow
    per_chunk = max(1, min(n, IM2COL_WORKSPACE_BYTES // (pixels * k * compute.itemsize)))
    cols = xp.empty((per_chunk * pixels, k), compute)
    y = xp.empty((n, oh, ow, f_out), compute) if per_chunk < n else None
    for n0 in range(0, n, per_chunk):
        count = min(per_chunk, n - n0)
        part = cols[:count * pixels]
        _launch(ctx, kernel, kernel_loader.flat_launch(part.size),
                (xn, part, n0, count, h, wd, c, kh, kw, *strides, *dilations, *pad_top_left, oh, ow))
        if groups == 1:
            prod = xp.matmul(part, filt)
        else:
            m = count * pixels
            patches = part.reshape(m, kh * kw, groups, f_in).transpose(2, 0, 1, 3).reshape(groups, m, -1)
            prod = xp.matmul(patches, filt).transpose(1, 0, 2)
        prod = prod.reshape(count, oh, ow, f_out)
        if y is None:
            y = prod
        else:
            y[n0:n0 + count] = prod
    return _from_nhwc(y, data_format).astype(x.dtype, copy=False)


def depthwise_conv2d(ctx, x, w, data_format, strides, dilations, out_hw, pad_top_left):
    """DepthwiseConv2dNative in one kernel: output channel ``k * mult + q`` is input channel k
    convolved with ``w[:, :, k, q]``."""
    sfx = _suffix(x.dtype, FLOAT_SUFFIXES)
    oh, ow = out_hw
    if sfx is None or w.dtype != x.dtype or x.size == 0 or w.size == 0 or oh * ow == 0:
        return None
    kernel = ctx.kernel("conv.cu", f"gg_depthwise_conv2d_nhwc_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    xn = _to_nhwc(xp, x, data_format)
    w = _contiguous(xp, w)
    n, h, wd, c = xn.shape
    kh, kw, _, mult = w.shape
    y = xp.empty((n, oh, ow, c * mult), x.dtype)
    _launch(ctx, kernel, kernel_loader.flat_launch(y.size),
            (xn, w, y, n, h, wd, c, mult, kh, kw, *strides, *dilations, *pad_top_left, oh, ow))
    return _from_nhwc(y, data_format)


# -- losses ---------------------------------------------------------------------------------------
def _strides_2d(a):
    """(row stride, column stride) of a C-contiguous 2-D array in elements, 0 along a size-1
    (broadcast) dimension."""
    rows, cols = a.shape
    return (cols if rows > 1 else 0), (1 if cols > 1 else 0)


def softmax_xent(ctx, logits, labels):
    """SoftmaxCrossEntropyWithLogits of 2-D ``logits`` and ``labels`` that broadcast against
    each other: ``(loss, backprop)``."""
    sfx = _suffix(logits.dtype, FLOAT_SUFFIXES)
    if sfx is None or labels.dtype != logits.dtype:
        return None
    rows, cols = np.broadcast_shapes(logits.shape, labels.shape)
    if rows * cols == 0:
        return None
    kernel = ctx.kernel("xent.cu", f"gg_softmax_xent_{sfx}")
    if kernel is None:
        return None
    logits, labels = _contiguous(ctx.xp, logits), _contiguous(ctx.xp, labels)
    return _launch_xent(ctx, kernel, sfx, logits, labels, rows, cols,
                        (*_strides_2d(logits), *_strides_2d(labels)))


def sparse_softmax_xent(ctx, logits, labels):
    """SparseSoftmaxCrossEntropyWithLogits of [rows, classes] ``logits`` and class-index
    ``labels``: ``(loss, backprop)``; an out-of-range label gives a NaN row (as in TensorFlow's
    GPU kernel; see :func:`_index_error_flag`)."""
    sfx = _suffix(logits.dtype, FLOAT_SUFFIXES)
    label_sfx = _INDEX_SUFFIX.get(np.dtype(labels.dtype))
    rows, cols = logits.shape
    if sfx is None or label_sfx is None or rows * cols == 0:
        return None
    kernel = ctx.kernel("xent.cu", f"gg_sparse_softmax_xent_{sfx}_{label_sfx}")
    if kernel is None:
        return None
    logits, labels = _contiguous(ctx.xp, logits), _contiguous(ctx.xp, labels)
    return _launch_xent(ctx, kernel, sfx, logits, labels, rows, cols, (_index_error_flag(ctx),))


def _launch_xent(ctx, kernel, sfx, logits, labels, rows, cols, extra_args):
    """Launches a cross-entropy kernel of ``xent.cu`` (a row group per example) on contiguous
    ``logits`` and ``labels``: ``(loss, backprop)``."""
    xp = ctx.xp
    loss, backprop = xp.empty(rows, logits.dtype), xp.empty((rows, cols), logits.dtype)
    grid, block, _, _ = kernel_loader.row_launch(rows, cols, _acc_bytes(sfx))
    _launch(ctx, kernel, (grid, block), (logits, labels, loss, backprop, rows, cols, *extra_args))
    return loss, backprop


# -- optimizer updates ----------------------------------------------------------------------------------
# training_ops' update name -> (optim.cu kernel, whether it has a use_nesterov attr); the kernel's
# arguments are the slots, then the op's inputs in TF's order (grad among them), n, [nesterov].
_OPTIMIZERS = {"Adam": ("gg_apply_adam", True), "Momentum": ("gg_apply_momentum", True),
               "GradientDescent": ("gg_apply_gradient_descent", False)}


def apply_update(ctx, name, slots, others, grad_index):
    """The fused update of training op ``Apply<name>``: ``slots`` are the variable and its
    slot values, ``others`` the op's remaining inputs in TF's order (scalars as 0-d device
    arrays, the gradient at ``grad_index``), all already validated. Returns the new slot values.

    The kernels update in place; they run on copies, because a variable's array may also be a
    value read earlier in the same run or another variable's (Assign stores arrays as they are):
    writers replace a variable's array and never mutate it."""
    entry = _OPTIMIZERS.get(name)
    var = slots[0]
    sfx = _suffix(var.dtype, FLOAT_SUFFIXES)
    if entry is None or sfx is None or var.size == 0 or any(o.dtype != var.dtype for o in others):
        return None
    kernel_name, has_nesterov = entry
    kernel = ctx.kernel("optim.cu", f"{kernel_name}_{sfx}")
    if kernel is None:
        return None
    xp = ctx.xp
    new = [s.copy() for s in slots]  # C-contiguous, this step's device and stream
    inputs = [_contiguous(xp, o) for o in others]
    if name == "Adam":  # the kernel takes the gradient right after the slots
        inputs.insert(0, inputs.pop(grad_index))
    args = (*new, *inputs, var.size) + ((int(bool(ctx.attrs["use_nesterov"])),) if has_nesterov else ())
    _launch(ctx, kernel, kernel_loader.flat_launch(var.size), args)
    return new
