"""Neural-network ops: activations (Relu, Relu6, Elu, Selu, LeakyRelu, Softplus), Softmax,
LogSoftmax, BiasAdd and FusedBatchNorm (V1/V2/V3) — and the ``tf.compat.v1.nn`` functions built on
them (plus ``batch_normalization``, ``moments`` and ``l2_normalize``, composed from math ops).

Convolutions and pooling live in :mod:`gpugraph.ops.conv_ops`.

Example:
    >>> x = tf.placeholder(tf.float32, [None, 3])
    >>> y = tf.nn.softmax(tf.nn.relu(x))
    >>> tf.Session().run(y, {x: [[1.0, -1.0, 1.0]]}).round(3).tolist()
    [[0.422, 0.155, 0.422]]
"""

import ml_dtypes
import numpy as np

from gpugraph.framework import dtypes, ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant, convert_to_tensor
from gpugraph.framework.registry import register_op

TensorShape = tensor_shape.TensorShape

_FLOAT_TYPES = "T: {half, bfloat16, float, double}"
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# -- kernel helpers ---------------------------------------------------------------------------
def _upcast(x):
    """Half and bfloat16 compute in float32 (rounded once at the end, like TF's Eigen kernels that
    evaluate half expressions in float); other dtypes compute as they are."""
    if x.dtype == np.float16 or x.dtype == ml_dtypes.bfloat16:
        return x.astype(np.float32)
    return x


def _plain(x):
    """Quantized tensors (one-field structured dtypes) as their underlying integers."""
    return x.view(x.dtype[0]) if x.dtype.names else x


def _like(result, x):
    """``result`` (computed on ``_plain(x)``) in ``x``'s dtype."""
    return result.view(x.dtype) if x.dtype.names else result


def _float_kernel(fn):
    """An elementwise float kernel computing in float32 for 16-bit floats; output dtype = input's."""
    def kernel(ctx, x):
        return fn(ctx, _upcast(x)).astype(x.dtype, copy=False)
    return kernel


# -- activations ------------------------------------------------------------------------------
def _relu(ctx, x):
    if x.dtype.kind == "u":
        return x  # already non-negative
    plain = _plain(x)
    return _like(np.maximum(plain, plain.dtype.type(0)), x)


def _relu6(ctx, x):
    plain = _plain(x)
    out = np.minimum(plain, plain.dtype.type(6))  # (np.clip would promote bfloat16 to float32)
    if plain.dtype.kind != "u":
        np.maximum(out, plain.dtype.type(0), out=out)
    return _like(out, x)


def _elu(ctx, x):
    return np.where(x < 0, np.expm1(np.minimum(x, 0)), x)


def _selu(ctx, x):
    return np.where(x < 0, (_SELU_SCALE * _SELU_ALPHA) * np.expm1(np.minimum(x, 0)), _SELU_SCALE * x)


def _leaky_relu(ctx, x):
    alpha = ctx.attrs["alpha"]
    # select(x > 0, x, alpha * x) as TF does, which is not max(x, alpha*x) when alpha > 1.
    return np.where(x > 0, x, x * x.dtype.type(alpha))


def _softplus(ctx, x):
    return np.logaddexp(x, x.dtype.type(0))  # log(1 + exp(x)) without overflow


def _at_least_rank(rank):
    def shape(op):
        s = op.inputs[0].shape
        if s.ndims is not None and s.ndims < rank:
            raise ValueError(f"Shape must be at least rank {rank} but is rank {s.ndims} "
                             f"(input shape {s})")
        return [s]
    return shape


def _softmax(ctx, x):
    if x.size == 0:
        return x.copy()
    e = x - x.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _log_softmax(ctx, x):
    if x.size == 0:
        return x.copy()
    shifted = x - x.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


register_op("Relu", inputs=["features: T"], outputs=["activations: T"],
            attrs=["T: {realnumbertype, qint8}"], shape=shape_fns.unchanged, cpu=_relu)
register_op("Relu6", inputs=["features: T"], outputs=["activations: T"],
            attrs=["T: realnumbertype"], shape=shape_fns.unchanged, cpu=_relu6)
register_op("Elu", inputs=["features: T"], outputs=["activations: T"], attrs=[_FLOAT_TYPES],
            shape=shape_fns.unchanged, cpu=_float_kernel(_elu))
register_op("Selu", inputs=["features: T"], outputs=["activations: T"], attrs=[_FLOAT_TYPES],
            shape=shape_fns.unchanged, cpu=_float_kernel(_selu))
register_op("LeakyRelu", inputs=["features: T"], outputs=["activations: T"],
            attrs=["alpha: float = 0.2", "T: {half, bfloat16, float, double} = DT_FLOAT"],
            shape=shape_fns.unchanged, cpu=_float_kernel(_leaky_relu))
register_op("Softplus", inputs=["features: T"], outputs=["activations: T"], attrs=[_FLOAT_TYPES],
            shape=shape_fns.unchanged, cpu=_float_kernel(_softplus))
register_op("Softmax", inputs=["logits: T"], outputs=["softmax: T"], attrs=[_FLOAT_TYPES],
            shape=_at_least_rank(1), cpu=_float_kernel(_softmax))
register_op("LogSoftmax", inputs=["logits: T"], outputs=["logsoftmax: T"], attrs=[_FLOAT_TYPES],
            shape=_at_least_rank(1), cpu=_float_kernel(_log_softmax))


# -- BiasAdd ------------------------------------------------------------------------------------
def _bias_add_shape(op):
    value, bias = op.inputs[0].shape, op.inputs[1].shape
    bias = bias.with_rank(1)
    if value.ndims is None:
        return [TensorShape(None)]
    nchw = op.get_attr("data_format") == b"NCHW"
    min_rank = 3 if nchw else 2
    if value.ndims < min_rank:
        raise ValueError(f"Shape must be at least rank {min_rank} but is rank {value.ndims} for "
                         f"BiasAdd with data_format={'NCHW' if nchw else 'NHWC'} (value shape "
                         f"{value}, bias shape {bias})")
    axis = 1 if nchw else value.ndims - 1
    dims = list(value.dims)
    try:
        dims[axis] = dims[axis].merge_with(bias[0])
    except ValueError:
        raise ValueError(f"Dimensions must be equal, but are {dims[axis]} and {bias[0]}: the bias "
                         f"(shape {bias}) must match the channel dimension of value (shape "
                         f"{value})") from None
    return [TensorShape(dims)]


def _bias_add(ctx, value, bias):
    v, b = _plain(value), _plain(bias)
    nchw = ctx.attrs["data_format"] == "NCHW"
    axis = 1 if nchw else v.ndim - 1
    if v.ndim < (3 if nchw else 2) or b.ndim != 1 or b.shape[0] != v.shape[axis]:
        raise ctx.error(f"Must provide as many biases as the channel dimension of the input "
                        f"tensor: bias shape {list(b.shape)} vs. value shape {list(v.shape)} "
                        f"(data_format {ctx.attrs['data_format']})")
    if nchw:
        b = b.reshape((-1,) + (1,) * (v.ndim - 2))
    return _like(np.add(v, b), value)


register_op("BiasAdd", inputs=["value: T", "bias: T"], outputs=["output: T"],
            attrs=["T: numbertype", "data_format: {'NHWC', 'NCHW'} = 'NHWC'"],
            shape=_bias_add_shape, cpu=_bias_add)


# -- FusedBatchNorm -----------------------------------------------------------------------------
_FBN_ATTRS = ["epsilon: float = 0.0001", "exponential_avg_factor: float = 1",
              "data_format: {'NHWC', 'NCHW'} = 'NHWC'", "is_training: bool = true"]


def _fbn_layout(data_format):
    """(rank, channel axis) for a FusedBatchNorm data_format."""
    rank = 5 if data_format in ("NDHWC", "NCDHW") else 4
    return rank, 1 if data_format.startswith("NC") else rank - 1


def _fbn_shape(op):
    fmt = op.get_attr("data_format").decode()
    rank, axis = _fbn_layout(fmt)
    x = op.inputs[0].shape
    if x.ndims is not None and x.ndims != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {x.ndims}: FusedBatchNorm with "
                         f"data_format={fmt} needs a rank-{rank} x, got shape {x}")
    x = x.with_rank(rank)
    channels = x.dims[axis]
    # In training with exponential_avg_factor 1 mean/variance are unused (they may be empty).
    uses_stats = not op.get_attr("is_training") or op.get_attr("exponential_avg_factor") != 1.0
    names = ["scale", "offset", "mean", "variance"][:4 if uses_stats else 2]
    for name, t in zip(names, op.inputs[1:]):
        s = t.shape
        if s.ndims is not None and s.ndims != 1:
            raise ValueError(f"Shape must be rank 1 but is rank {s.ndims}: FusedBatchNorm {name} "
                             f"must be a vector, got shape {s} (x shape {x})")
        s = s.with_rank(1)
        if not channels.is_compatible_with(s.dims[0]):
            raise ValueError(f"Dimensions must be equal, but are {channels} and {s.dims[0]}: "
                             f"FusedBatchNorm {name} (shape {s}) must have one entry per channel "
                             f"of x (shape {x}, data_format {fmt})")
        channels = channels.merge_with(s.dims[0])
    dims = list(x.dims)
    dims[axis] = channels
    vec = TensorShape([channels])
    shapes = [TensorShape(dims), vec, vec, vec, vec]
    if len(op.outputs) == 6:
        shapes.append(TensorShape(None))  # reserve_space_3: TF leaves it unknown
    return shapes


def _channel_sums(a, axis):
    """Per-channel sums of float32 ``a`` (channels on ``axis``: 1 or last) as BLAS matrix-vector
    products: several times faster than ``np.sum`` over the other axes, and blocked, so more
    accurate than its row-by-row accumulation."""
    if axis == a.ndim - 1:
        return np.ones(a.size // a.shape[-1], a.dtype) @ a.reshape(-1, a.shape[-1])
    per_image = a.reshape(a.shape[0], a.shape[1], -1)
    return (per_image @ np.ones(per_image.shape[2], a.dtype)).sum(axis=0)


def _fused_batch_norm(ctx, x, scale, offset, mean, variance):
    fmt = ctx.attrs["data_format"]
    rank, axis = _fbn_layout(fmt)
    if x.ndim != rank:
        raise ctx.error(f"input must be {rank}-dimensional for data_format {fmt}, got shape "
                        f"{list(x.shape)}")
    training = ctx.attrs["is_training"]
    factor = ctx.attrs["exponential_avg_factor"]
    eps = np.float32(ctx.attrs["epsilon"])
    stats_dtype = ctx.output_dtypes[1]
    channels = x.shape[axis]
    uses_stats = not training or factor != 1.0
    for name, v in (("scale", scale), ("offset", offset)) + \
            ((("mean", mean), ("variance", variance)) if uses_stats else ()):
        if v.shape != (channels,):
            raise ctx.error(f"{name} must have one element per channel of x ({channels}), got "
                            f"shape {list(v.shape)} (x shape {list(x.shape)}, data_format {fmt})")
    if x.size == 0:
        # TF's CPU kernel: empty y, NaN statistics, zero reserve spaces (training or not).
        nan = np.full((channels,), np.nan, stats_dtype)
        zeros = np.zeros((channels,), stats_dtype)
        outs = [np.empty(x.shape, ctx.output_dtypes[0]), nan, nan.copy(), zeros, zeros.copy()]
        return outs + [np.zeros((), stats_dtype)] * (len(ctx.output_dtypes) - 5)
    # Compute in float32 whatever T is (TF's CPU kernel does the same for half and bfloat16).
    xf = x.astype(np.float32, copy=False)
    scale, offset = scale.astype(np.float32, copy=False), offset.astype(np.float32, copy=False)
    bshape = [1] * rank
    bshape[axis] = channels
    if training:
        count = x.size // channels
        batch_mean = _channel_sums(xf, axis) / np.float32(count)
        centered = xf - batch_mean.reshape(bshape)
        batch_var = _channel_sums(np.square(centered), axis) / np.float32(count)
        inv = scale / np.sqrt(batch_var + eps)
        y = centered * inv.reshape(bshape)
        y += offset.reshape(bshape)
        unbiased = batch_var * np.float32(count / max(count - 1, 1))
        if factor == 1.0:
            running_mean, running_var = batch_mean, unbiased
        else:
            f = np.float32(factor)
            running_mean = (1 - f) * mean.astype(np.float32) + f * batch_mean
            running_var = (1 - f) * variance.astype(np.float32) + f * unbiased
        saved = (batch_mean, batch_var)
    else:
        inv = scale / np.sqrt(variance.astype(np.float32) + eps)
        shift = offset - mean.astype(np.float32) * inv
        y = xf * inv.reshape(bshape)
        y += shift.reshape(bshape)
        running_mean, running_var = mean, variance
        # TF's reference CPU kernel leaves the reserve spaces zero in inference (its oneDNN kernel
        # copies mean/variance there); nothing reads them: the inference gradient uses the inputs.
        saved = (np.zeros((channels,), stats_dtype), np.zeros((channels,), stats_dtype))
    outs = [y.astype(ctx.output_dtypes[0], copy=False)] + \
        [np.asarray(v).astype(stats_dtype, copy=False) for v in (running_mean, running_var) + saved]
    if len(ctx.output_dtypes) == 6:
        # TF's reference CPU kernel returns a scalar zero here (its oneDNN kernel an empty vector);
        # only FusedBatchNormGradV3 reads it, and the CPU gradient ignores it.
        outs.append(np.zeros((), stats_dtype))
    return outs


_FBN_IO = dict(inputs=["x: T", "scale: U", "offset: U", "mean: U", "variance: U"],
               outputs=["y: T", "batch_mean: U", "batch_variance: U", "reserve_space_1: U",
                        "reserve_space_2: U"])
register_op("FusedBatchNorm",
            inputs=["x: T", "scale: T", "offset: T", "mean: T", "variance: T"],
            outputs=["y: T", "batch_mean: T", "batch_variance: T", "reserve_space_1: T",
                     "reserve_space_2: T"],
            attrs=["T: {float}"] + _FBN_ATTRS, shape=_fbn_shape, cpu=_fused_batch_norm)
register_op("FusedBatchNormV2", **_FBN_IO,
            attrs=["T: {half, bfloat16, float}", "U: {float}"] + _FBN_ATTRS,
            shape=_fbn_shape, cpu=_fused_batch_norm)
register_op("FusedBatchNormV3", inputs=_FBN_IO["inputs"],
            outputs=_FBN_IO["outputs"] + ["reserve_space_3: U"],
            attrs=["T: {half, bfloat16, float}", "U: {bfloat16, float}"] + _FBN_ATTRS[:2] +
            ["data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'", _FBN_ATTRS[3]],
            shape=_fbn_shape, cpu=_fused_batch_norm)


# -- API ----------------------------------------------------------------------------------------
def _unary_api(op_type, features, name):
    with ops.name_scope(name, op_type, [features]) as scope:
        features = convert_to_tensor(features, name="features")
        return apply_op(op_type, features=features, name=scope)


def relu(features, name=None):
    """``tf.nn.relu``: ``max(features, 0)``.

    Example:
        >>> tf.Session().run(tf.nn.relu([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    return apply_op("Relu", features=features, name=name)


def relu6(features, name=None):
    """``tf.nn.relu6``: ``min(max(features, 0), 6)``.

    Example:
        >>> tf.Session().run(tf.nn.relu6([-1.0, 7.0])).tolist()
        [0.0, 6.0]
    """
    return _unary_api("Relu6", features, name)


def elu(features, name=None):
    """``tf.nn.elu``: ``exp(features) - 1`` where negative, else ``features``.

    Example:
        >>> y = tf.nn.elu([-1.0, 2.0])          # [-0.632, 2.0]
    """
    return apply_op("Elu", features=features, name=name)


def selu(features, name=None):
    """``tf.nn.selu``: scaled exponential linear unit (Klambauer et al., 2017).

    Example:
        >>> y = tf.nn.selu([-1.0, 2.0])         # [-1.111, 2.101]
    """
    return apply_op("Selu", features=features, name=name)


def leaky_relu(features, alpha=0.2, name=None):
    """``tf.nn.leaky_relu``: ``features`` where positive, else ``alpha * features``. Integer
    inputs are cast to float32 first, as in TensorFlow.

    Example:
        >>> y = tf.nn.leaky_relu([-1.0, 2.0], alpha=0.1)    # [-0.1, 2.0]
    """
    with ops.name_scope(name, "LeakyRelu", [features]) as scope:
        features = convert_to_tensor(features, name="features")
        if features.dtype.is_integer:
            features = apply_op("Cast", x=features, DstT=dtypes.float32, name="Cast")
        if isinstance(alpha, np.ndarray):
            alpha = alpha.item()
        return apply_op("LeakyRelu", features=features, alpha=float(alpha), name=scope)


def softplus(features, name=None):
    """``tf.nn.softplus`` / ``tf.math.softplus``: ``log(exp(features) + 1)``.

    Example:
        >>> y = tf.nn.softplus([0.0, 1.0])      # [0.693, 1.313]
    """
    return apply_op("Softplus", features=features, name=name)


def _wrap_2d(op_type, logits, axis, name):
    """Applies a last-axis op along ``axis`` by swapping that axis with the last one (TF's
    ``_wrap_2d_function``: Transpose, the op, Transpose back)."""
    logits = convert_to_tensor(logits)
    if axis is None:
        axis = -1
    ndims = logits.shape.ndims
    if axis == -1 or (ndims is not None and axis == ndims - 1):
        return apply_op(op_type, logits=logits, name=name)
    if ndims is None:
        raise ValueError(f"{op_type} along axis {axis} needs the rank of logits to be known "
                         f"statically; {logits.name} has unknown rank")
    if not -ndims <= axis < ndims:
        raise ValueError(f"`dim` must be in the range [{-ndims}, {ndims}) where {ndims} is the "
                         f"number of dimensions in the input. Received: dim={axis}")
    axis %= ndims
    perm = list(range(ndims))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    perm = np.array(perm, dtype=np.int32)
    swapped = apply_op("Transpose", x=logits, perm=perm, name="transpose")
    out = apply_op(op_type, logits=swapped)
    out = apply_op("Transpose", x=out, perm=perm, name=name or "transpose")
    out.set_shape(logits.shape)
    return out


def _axis_alias(axis, dim):
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and 'dim'")
    return dim if axis is None else axis


def softmax(logits, axis=None, name=None, dim=None):
    """``tf.nn.softmax``: ``exp(logits) / reduce_sum(exp(logits), axis)``, computed stably
    (the maximum is subtracted first). ``dim`` is the deprecated alias of ``axis``.

    Example:
        >>> tf.Session().run(tf.nn.softmax([[1.0, 1.0]])).tolist()
        [[0.5, 0.5]]
    """
    return _wrap_2d("Softmax", logits, _axis_alias(axis, dim), name)


def log_softmax(logits, axis=None, name=None, dim=None):
    """``tf.nn.log_softmax``: ``logits - log(reduce_sum(exp(logits), axis))``.

    Example:
        >>> y = tf.nn.log_softmax([[0.0, 0.0]])  # [[-0.693, -0.693]]
    """
    return _wrap_2d("LogSoftmax", logits, _axis_alias(axis, dim), name)


def bias_add(value, bias, data_format=None, name=None):
    """``tf.nn.bias_add``: adds the 1-D ``bias`` along the channel dimension of ``value`` (the last
    one for "N...C" formats, dimension 1 for "NC...").

    Example:
        >>> y = tf.nn.bias_add(tf.zeros([2, 3]), [1.0, 2.0, 3.0])   # [[1, 2, 3], [1, 2, 3]]
    """
    with ops.name_scope(name, "BiasAdd", [value, bias]) as scope:
        if data_format is not None:
            if data_format.startswith("NC"):
                data_format = "NCHW"
            elif data_format.startswith("N") and data_format.endswith("C"):
                data_format = "NHWC"
            else:
                raise ValueError("`data_format` must be of the form `N...C` or `NC...`. "
                                 f"Received: data_format={data_format}")
        value = convert_to_tensor(value, name="input")
        bias = convert_to_tensor(bias, dtype=value.dtype.base_dtype, name="bias")
        kwargs = {} if data_format is None else {"data_format": data_format}
        return apply_op("BiasAdd", value=value, bias=bias, name=scope, **kwargs)


def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001,
                     data_format="NHWC", is_training=True, name=None, exponential_avg_factor=1.0):
    """``tf.compat.v1.nn.fused_batch_norm`` (builds FusedBatchNormV3): returns ``(y, mean,
    variance)``. In training the batch statistics are used and returned (the variance with
    Bessel's correction, or blended into the given running values when
    ``exponential_avg_factor != 1``); in inference the given ``mean``/``variance`` are used.

    Example:
        >>> y, m, v = tf.nn.fused_batch_norm(images, gamma, beta, is_training=True)  # doctest: +SKIP
    """
    if (not is_training or exponential_avg_factor != 1.0) and (mean is None or variance is None):
        raise ValueError("Both `mean` and `variance` must be a 1D tensor when `is_training` is "
                         f"False or `exponential_avg_factor` != 1.0. Received: `mean` {mean!r} "
                         f"and `variance` {variance!r}")
    x = convert_to_tensor(x, name="input")
    scale = convert_to_tensor(scale, name="scale")
    offset = convert_to_tensor(offset, name="offset")
    if mean is None:
        mean = constant([], dtype=dtypes.float32)
    if variance is None:
        variance = constant([], dtype=dtypes.float32)
    y, running_mean, running_var, _, _, _ = apply_op(
        "FusedBatchNormV3", x=x, scale=scale, offset=offset, mean=mean, variance=variance,
        epsilon=float(epsilon), exponential_avg_factor=float(exponential_avg_factor),
        data_format=data_format, is_training=bool(is_training), name=name)
    return y, running_mean, running_var


def _cast(x, dtype, name="Cast"):
    if x.dtype.base_dtype == dtype:
        return x
    return apply_op("Cast", x=x, DstT=dtype, name=name)


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """``tf.nn.batch_normalization``: ``scale * (x - mean) / sqrt(variance + eps) + offset``,
    built from Rsqrt/Mul/Sub/AddV2 exactly as TensorFlow builds it (``offset`` and ``scale`` may
    be None).

    Example:
        >>> mean, var = tf.nn.moments(x, [0])                                  # doctest: +SKIP
        >>> y = tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)     # doctest: +SKIP
    """
    with ops.name_scope(name, "batchnorm", [x, mean, variance, scale, offset]):
        x = convert_to_tensor(x)
        mean = convert_to_tensor(mean)
        variance = convert_to_tensor(variance)
        inv = apply_op("Rsqrt", x=apply_op("AddV2", x=variance, y=variance_epsilon, name="add"),
                       name="Rsqrt")
        if scale is not None:
            inv = apply_op("Mul", x=inv, y=scale, name="mul")
        scaled = apply_op("Mul", x=x, y=_cast(inv, x.dtype.base_dtype), name="mul")
        if offset is not None:
            shift = apply_op("Sub", x=offset, y=apply_op("Mul", x=mean, y=inv, name="mul"),
                             name="sub")
        else:
            shift = apply_op("Mul", x=apply_op("Neg", x=mean, name="Neg"), y=inv, name="mul")
        return apply_op("AddV2", x=scaled, y=_cast(shift, x.dtype.base_dtype), name="add")


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """``tf.nn.moments``: mean and (biased) variance of ``x`` over ``axes``. ``shift`` is unused,
    as in TensorFlow; half inputs are reduced in float32.

    Example:
        >>> mean, variance = tf.nn.moments(images, axes=[0, 1, 2])             # doctest: +SKIP
    """
    if keep_dims is not None and keepdims is not None:
        raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'")
    keep = keepdims if keepdims is not None else keep_dims
    with ops.name_scope(name, "moments", [x, axes]):
        x = convert_to_tensor(x)
        half = x.dtype.base_dtype == dtypes.float16
        y = _cast(x, dtypes.float32) if half else x
        axes_t = np.asarray(axes, dtype=np.int32) if not isinstance(axes, ops.Tensor) else axes
        mean = apply_op("Mean", input=y, reduction_indices=axes_t, keep_dims=True, name="mean")
        variance = apply_op(
            "Mean", input=apply_op("SquaredDifference", x=y,
                                   y=apply_op("StopGradient", input=mean, name="StopGradient"),
                                   name="SquaredDifference"),
            reduction_indices=axes_t, keep_dims=True, name="variance")
        if not keep:
            squeeze = [int(a) for a in np.atleast_1d(axes_t)] if not isinstance(axes_t, ops.Tensor) \
                else None
            if squeeze is None:
                raise ValueError("moments with keep_dims=False needs constant axes")
            mean = apply_op("Squeeze", input=mean, squeeze_dims=squeeze, name="Squeeze")
            variance = apply_op("Squeeze", input=variance, squeeze_dims=squeeze, name="Squeeze")
        if half:
            return _cast(mean, dtypes.float16), _cast(variance, dtypes.float16)
        return mean, variance


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """``tf.nn.l2_normalize``: ``x / sqrt(max(sum(x**2, axis), epsilon))``.

    Example:
        >>> tf.Session().run(tf.nn.l2_normalize([3.0, 4.0], 0)).tolist()
        [0.6, 0.8]
    """
    axis = _axis_alias(axis, dim)
    with ops.name_scope(name, "l2_normalize", [x]) as scope:
        x = convert_to_tensor(x, name="x")
        if x.dtype.is_complex:
            raise TypeError(f"l2_normalize of complex tensors is not supported (x: {x.name}, "
                            f"dtype {x.dtype.name})")
        if axis is None:
            axes = np.arange(x.shape.ndims, dtype=np.int32) if x.shape.ndims is not None else None
            if axes is None:
                raise ValueError("l2_normalize with axis=None needs x to have a known rank")
        else:
            axes = axis if isinstance(axis, ops.Tensor) else np.asarray(axis, dtype=np.int32)
        square_sum = apply_op("Sum", input=apply_op("Square", x=x, name="Square"),
                              reduction_indices=axes, keep_dims=True, name="Sum")
        inv_norm = apply_op("Rsqrt", x=apply_op("Maximum", x=square_sum, y=epsilon,
                                                name="Maximum"), name="Rsqrt")
        return apply_op("Mul", x=x, y=inv_norm, name=scope)


EXPORTS = {
    "nn": ["relu", "relu6", "elu", "selu", "leaky_relu", "softplus", "softmax", "log_softmax",
           "bias_add", "fused_batch_norm", "batch_normalization", "moments", "l2_normalize"],
    "math": ["softplus", "softmax", "log_softmax", "l2_normalize"],
}
