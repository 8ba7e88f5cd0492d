"""``tf.compat.v1.layers`` functional layers: dense, conv2d, max/average_pooling2d, flatten, dropout.

TF's functional layers build a one-shot Keras legacy layer; what a graph and a checkpoint see of them
is the variable scope (``dense``, ``dense_1``, … or ``name``), the variables ``<scope>/kernel`` and
``<scope>/bias`` made with ``get_variable``, and the math. These functions build exactly that from
the existing ops, so TF1 scripts (``import gpugraph as tf; tf.layers.dense(x, 10)``) restore TF's
checkpoints and compute the same values. TF's node layout inside a layer is not reproduced.

Example:
    >>> h = tf.layers.dense(x, 64, activation=tf.nn.relu)        # dense/kernel, dense/bias
    >>> y = tf.layers.dense(h, 10, name="logits")                 # logits/kernel, logits/bias
"""

import numbers

from gpugraph.framework import dtypes, ops, shape_fns
from gpugraph.framework.op_builder import convert_to_tensor
from gpugraph.ops import (array_ops, concat_split_ops, control_flow_v1, conv_ops, core_ops, init_ops,
                          math_ops, matmul_ops, nn_ops, random_ops, select_ops, unary_ops)
from gpugraph.ops import variable_scope as vs

_DATA_FORMATS = {"channels_last": "NHWC", "channels_first": "NCHW"}


# -- argument normalisation (as Keras' conv_utils) --------------------------------------------------
def _normalize_tuple(value, n, arg_name):
    """An int or an iterable of ``n`` ints → a tuple of ``n`` ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        values = tuple(value)
    except TypeError:
        raise ValueError(f"The `{arg_name}` argument must be a tuple of {n} integers. "
                         f"Received: {value}") from None
    if len(values) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                   for v in values):
        raise ValueError(f"The `{arg_name}` argument must be a tuple of {n} integers. "
                         f"Received: {value}")
    return tuple(int(v) for v in values)


def _normalize_padding(padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: {padding}")
    return p.upper()


def _data_format(data_format):
    key = str(data_format).lower() if data_format is not None else "channels_last"
    if key not in _DATA_FORMATS:
        raise ValueError(f"The `data_format` argument must be one of 'channels_first', "
                         f"'channels_last'. Received: {data_format}")
    return key


def _layer_inputs(inputs):
    """Inputs as a Tensor; the layer's variables take the input's float dtype (float32 otherwise)."""
    inputs = convert_to_tensor(inputs)
    dtype = inputs.dtype.base_dtype
    if not dtype.is_floating:
        dtype = dtypes.float32
        inputs = unary_ops.cast(inputs, dtype)
    return inputs, dtype


def _check_rank(inputs, rank, layer):
    ndims = inputs.shape.ndims
    if ndims is not None and ndims != rank:
        raise ValueError(f"Input 0 of layer {layer} is incompatible with the layer: expected "
                         f"ndim={rank}, found ndim={ndims}. Full shape received: {inputs.shape}")


def _activity_regularization(outputs, activity_regularizer):
    """Keras adds ``regularizer(outputs) / batch_size`` to the regularization losses."""
    if activity_regularizer is None:
        return
    with ops.name_scope("ActivityRegularizer"):
        loss = activity_regularizer(outputs)
        if loss is None:
            return
        batch = unary_ops.cast(array_ops.shape(outputs)[0], loss.dtype.base_dtype)
        loss = math_ops.truediv(loss, batch)
    ops.add_to_collection(ops.GraphKeys.REGULARIZATION_LOSSES, loss)


def _layer_scope(name, default_name, reuse, inputs):
    """The layer's variable scope: ``name``, else a fresh ``default_name``, ``default_name_1``, …;
    with ``reuse=True`` and no name TF reuses the plain ``default_name`` scope."""
    if name is None and reuse:
        name = default_name
    return vs.variable_scope(name, default_name=default_name, values=[inputs], reuse=reuse)


# -- dense --------------------------------------------------------------------------------------------
def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
          name=None, reuse=None):
    """``tf.compat.v1.layers.dense``: ``activation(inputs @ kernel + bias)`` on the last axis.

    Variables ``<scope>/kernel`` ``[in, units]`` (glorot_uniform by default) and ``<scope>/bias``
    ``[units]``; inputs of rank > 2 are contracted on their last axis (as ``tensordot``).

    Example:
        >>> y = tf.layers.dense(x, 10, activation=tf.nn.relu)    # doctest: +SKIP
    """
    if not isinstance(units, numbers.Integral) or isinstance(units, bool) or units <= 0:
        raise ValueError(f"Received an invalid value for `units`, expected a positive integer, "
                         f"got {units}.")
    units = int(units)
    with _layer_scope(name, "dense", reuse, inputs):
        inputs, dtype = _layer_inputs(inputs)
        rank = inputs.shape.ndims
        if rank is not None and rank < 2:
            raise ValueError(f"Input 0 of layer dense is incompatible with the layer: expected "
                             f"min_ndim=2, found ndim={rank}. Full shape received: {inputs.shape}")
        last_dim = inputs.shape.as_list()[-1] if rank is not None else None
        if last_dim is None:
            raise ValueError("The last dimension of the inputs to `Dense` should be defined. "
                             "Found `None`.")
        kernel = vs.get_variable("kernel", shape=[last_dim, units], dtype=dtype,
                                 initializer=kernel_initializer, regularizer=kernel_regularizer,
                                 constraint=kernel_constraint, trainable=trainable)
        bias = None
        if use_bias:
            bias = vs.get_variable("bias", shape=[units], dtype=dtype, initializer=bias_initializer,
                                   regularizer=bias_regularizer, constraint=bias_constraint,
                                   trainable=trainable)
        if rank == 2:
            outputs = matmul_ops.matmul(inputs, kernel)
        else:
            outputs = _dense_nd(inputs, kernel, units)
        if bias is not None:
            outputs = nn_ops.bias_add(outputs, bias)
        if activation is not None:
            outputs = activation(outputs)
        _activity_regularization(outputs, activity_regularizer)
        return outputs


def _dense_nd(inputs, kernel, units):
    """``tensordot(inputs, kernel, [[rank-1], [0]])``: flatten the leading axes, MatMul, restore."""
    shape = inputs.shape.as_list()
    with ops.name_scope("Tensordot"):
        flat = array_ops.reshape(inputs, [-1, shape[-1]])
        product = matmul_ops.matmul(flat, kernel)
        if all(d is not None for d in shape[:-1]):
            out_shape = shape[:-1] + [units]
        else:
            out_shape = concat_split_ops.concat([array_ops.shape(inputs)[:-1], [units]], 0)
        outputs = array_ops.reshape(product, out_shape)
    outputs.set_shape(shape[:-1] + [units])
    return outputs


# -- conv2d -------------------------------------------------------------------------------------------
def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
           dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer=None,
           bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None,
           bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    """``tf.compat.v1.layers.conv2d``: 2-D convolution plus bias and activation.

    Variables ``<scope>/kernel`` ``[kh, kw, in_channels, filters]`` and ``<scope>/bias``
    ``[filters]``; ``padding`` is 'valid' or 'same' (any case).

    Example:
        >>> y = tf.layers.conv2d(images, 32, 3, padding="same", activation=tf.nn.relu)  # doctest: +SKIP
    """
    if not isinstance(filters, numbers.Integral) or isinstance(filters, bool) or filters <= 0:
        raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. "
                         f"Received filters={filters}.")
    filters = int(filters)
    kernel_size = _normalize_tuple(kernel_size, 2, "kernel_size")
    strides = _normalize_tuple(strides, 2, "strides")
    dilation_rate = _normalize_tuple(dilation_rate, 2, "dilation_rate")
    padding = _normalize_padding(padding)
    data_format = _data_format(data_format)
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                         f"Received: strides={strides} and dilation_rate={dilation_rate}")
    with _layer_scope(name, "conv2d", reuse, inputs):
        inputs, dtype = _layer_inputs(inputs)
        _check_rank(inputs, 4, "conv2d")
        channel_axis = -1 if data_format == "channels_last" else 1
        in_channels = inputs.shape.as_list()[channel_axis] if inputs.shape.ndims is not None else None
        if in_channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. "
                             f"The input_shape received is {inputs.shape}, where axis {channel_axis} "
                             f"(0-based) is the channel dimension, which found to be `None`.")
        kernel = vs.get_variable("kernel", shape=list(kernel_size) + [in_channels, filters],
                                 dtype=dtype, initializer=kernel_initializer,
                                 regularizer=kernel_regularizer, constraint=kernel_constraint,
                                 trainable=trainable)
        bias = None
        if use_bias:
            bias = vs.get_variable("bias", shape=[filters], dtype=dtype, initializer=bias_initializer,
                                   regularizer=bias_regularizer, constraint=bias_constraint,
                                   trainable=trainable)
        fmt = _DATA_FORMATS[data_format]
        outputs = conv_ops.conv2d(inputs, kernel, strides=_spatial(strides, fmt), padding=padding,
                                  data_format=fmt, dilations=_spatial(dilation_rate, fmt))
        if bias is not None:
            outputs = nn_ops.bias_add(outputs, bias, data_format=fmt)
        if activation is not None:
            outputs = activation(outputs)
        _activity_regularization(outputs, activity_regularizer)
        return outputs


def _spatial(pair, fmt):
    """(h, w) → the 4-vector for ``fmt`` with 1 on the batch and channel axes."""
    return [1, pair[0], pair[1], 1] if fmt == "NHWC" else [1, 1, pair[0], pair[1]]


# -- pooling ------------------------------------------------------------------------------------------
def _pooling2d(pool_fn, default_name, inputs, pool_size, strides, padding, data_format, name):
    pool_size = _normalize_tuple(pool_size, 2, "pool_size")
    strides = _normalize_tuple(strides, 2, "strides")
    padding = _normalize_padding(padding)
    fmt = _DATA_FORMATS[_data_format(data_format)]
    with _layer_scope(name, default_name, None, inputs):
        inputs = convert_to_tensor(inputs)
        _check_rank(inputs, 4, default_name)
        return pool_fn(inputs, ksize=_spatial(pool_size, fmt), strides=_spatial(strides, fmt),
                       padding=padding, data_format=fmt)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    """``tf.compat.v1.layers.max_pooling2d``: max over ``pool_size`` windows moved by ``strides``.

    Example:
        >>> y = tf.layers.max_pooling2d(x, pool_size=2, strides=2)    # doctest: +SKIP
    """
    return _pooling2d(conv_ops.max_pool, "max_pooling2d", inputs, pool_size, strides, padding,
                      data_format, name)


def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                      name=None):
    """``tf.compat.v1.layers.average_pooling2d``: mean over ``pool_size`` windows (SAME padding
    averages only the in-bounds values, as TF).

    Example:
        >>> y = tf.layers.average_pooling2d(x, 3, 1, padding="same")    # doctest: +SKIP
    """
    return _pooling2d(conv_ops.avg_pool, "average_pooling2d", inputs, pool_size, strides, padding,
                      data_format, name)


# -- flatten ------------------------------------------------------------------------------------------
def flatten(inputs, name=None, data_format="channels_last"):
    """``tf.compat.v1.layers.flatten``: ``[batch, ...] → [batch, prod(...)]``; with
    ``channels_first`` the channels axis is moved last first (as Keras), so the order matches a
    channels_last model's.

    Example:
        >>> tf.layers.flatten(tf.zeros([4, 2, 3])).shape.as_list()    # doctest: +SKIP
        [4, 6]
    """
    data_format = _data_format(data_format)
    with _layer_scope(name, "flatten", None, inputs):
        inputs = convert_to_tensor(inputs)
        rank = inputs.shape.ndims
        if rank is not None and rank < 1:
            raise ValueError(f"Input 0 of layer flatten is incompatible with the layer: expected "
                             f"min_ndim=1, found ndim={rank}. Full shape received: {inputs.shape}")
        if data_format == "channels_first" and rank is not None and rank > 1:
            inputs = array_ops.transpose(inputs, [0] + list(range(2, rank)) + [1])
        if rank == 1:
            return array_ops.reshape(inputs, [-1, 1])
        shape = inputs.shape.as_list() if rank is not None else None
        if shape is not None and all(d is not None for d in shape[1:]):
            flat = 1
            for d in shape[1:]:
                flat *= d
            # A known batch stays static; otherwise -1 lets the batch follow the input.
            return array_ops.reshape(inputs, [shape[0] if shape[0] is not None else -1, flat])
        batch = array_ops.shape(inputs)[:1]
        return array_ops.reshape(inputs, concat_split_ops.concat([batch, [-1]], 0))


# -- dropout ------------------------------------------------------------------------------------------
def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """``tf.compat.v1.layers.dropout``: in training, zero each value with probability ``rate`` and
    scale the kept ones by ``1 / (1 - rate)``; otherwise the identity.

    ``training`` may be a Python bool or a scalar bool Tensor (then a ``tf.cond`` picks the branch at
    run time). ``noise_shape`` broadcasts one mask over axes (``None`` entries take the input's).

    Example:
        >>> y = tf.layers.dropout(h, rate=0.3, training=is_training)    # doctest: +SKIP
    """
    if isinstance(rate, numbers.Real) and not 0 <= rate <= 1:
        raise ValueError(f"Invalid value received for argument `rate`. Expected a float value "
                         f"between 0 and 1. Received: rate={rate}")
    with _layer_scope(name, "dropout", None, inputs):
        inputs = convert_to_tensor(inputs)

        def dropped():
            return _dropout(inputs, rate, noise_shape, seed)

        def identity():
            return core_ops.identity(inputs)

        if isinstance(training, ops.Tensor):
            if training.dtype.base_dtype != dtypes.bool:
                raise TypeError(f"dropout's `training` must be a Python bool or a bool Tensor, got "
                                f"{training.name} of dtype {training.dtype.name}")
            static = _static_bool(training)
            if static is None:
                return control_flow_v1.cond(training, dropped, identity)
            training = static
        elif training is not None and not isinstance(training, (bool, numbers.Integral)):
            raise TypeError(f"dropout's `training` must be a Python bool or a bool Tensor, got "
                            f"{type(training).__name__}")
        return dropped() if training else identity()


def _static_bool(tensor):
    """The value of a constant bool tensor (TF's smart_cond folds those), else None."""
    value = shape_fns.constant_value(tensor)
    return None if value is None else bool(value)


def _dropout(x, rate, noise_shape, seed):
    """``tf.nn.dropout`` (v2 semantics): keep where ``uniform >= rate``, scale by ``1/(1-rate)``."""
    with ops.name_scope("dropout"):
        if not x.dtype.is_floating:
            raise ValueError(f"x has to be a floating point tensor since it's going to be scaled. "
                             f"Got a {x.dtype.name} tensor instead.")
        if isinstance(rate, numbers.Real) and rate == 0:
            return core_ops.identity(x)
        if isinstance(rate, numbers.Real) and not 0 <= rate < 1:
            # The layer accepts rate=1 but tf.nn.dropout refuses it once training is on.
            raise ValueError(f"`rate` must be a scalar tensor or a float in the range [0, 1). "
                             f"Received: rate={rate}")
        dtype = x.dtype.base_dtype
        rate_t = convert_to_tensor(rate, dtype=dtype, name="rate")
        scale = math_ops.truediv(convert_to_tensor(1.0, dtype=dtype), 1.0 - rate_t)
        shape = _noise_shape(x, noise_shape)
        random = random_ops.random_uniform(shape, dtype=dtype, seed=seed)
        keep = math_ops.greater_equal(random, rate_t)
        return select_ops.where_v2(keep, x * scale, convert_to_tensor(0.0, dtype=dtype))


def _noise_shape(x, noise_shape):
    """Keras' Dropout: ``None`` → the input's shape; ``None`` entries → the input's dimension."""
    if noise_shape is None:
        static = x.shape.as_list() if x.shape.ndims is not None else None
        if static is not None and all(d is not None for d in static):
            return static
        return array_ops.shape(x)
    if isinstance(noise_shape, ops.Tensor):
        return noise_shape
    dims = list(noise_shape)
    if all(d is not None for d in dims):
        return dims
    dynamic = array_ops.shape(x)
    parts = [dynamic[i] if d is None else convert_to_tensor(int(d), dtype=dtypes.int32)
             for i, d in enumerate(dims)]
    return concat_split_ops.stack(parts)


EXPORTS = {
    "layers": ["dense", "conv2d", "max_pooling2d", "average_pooling2d", "flatten", "dropout"],
}
