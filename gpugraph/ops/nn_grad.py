"""Gradients of the neural-network ops, ported from TensorFlow's ``python/ops/nn_grad.py``:
activations (through ReluGrad & co.), Softmax, LogSoftmax, BiasAdd, the cross-entropy losses,
Conv2D, DepthwiseConv2dNative, MaxPool, AvgPool, FusedBatchNorm and L2Loss — plus the gradients of
the backprop ops themselves where TensorFlow defines them (second derivatives).

Example:
    >>> y = tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"))
    >>> dw, = tf.gradients(tf.reduce_sum(y), [w])   # ReluGrad -> Conv2DBackpropFilter
"""

from gpugraph.framework import dtypes, ops
from gpugraph.framework.op_builder import apply_op, constant
from gpugraph.ops import grad_util as gu
from gpugraph.ops.gradients_impl import RegisterGradient


def _attr(op, name):
    value = op.get_attr(name)
    return value.decode() if isinstance(value, bytes) else value


def _mul(x, y):
    with ops.name_scope("mul") as scope:
        return gu.binary("Mul", x, y, name=scope)


def _sub(x, y):
    with ops.name_scope("sub") as scope:
        return gu.binary("Sub", x, y, name=scope)


# -- activations ------------------------------------------------------------------------------------
RegisterGradient("Relu")(lambda op, grad: apply_op("ReluGrad", gradients=grad, features=op.outputs[0]))
RegisterGradient("Relu6")(lambda op, grad: apply_op("Relu6Grad", gradients=grad, features=op.outputs[0]))
RegisterGradient("Elu")(lambda op, grad: apply_op("EluGrad", gradients=grad, outputs=op.outputs[0]))
RegisterGradient("Selu")(lambda op, grad: apply_op("SeluGrad", gradients=grad, outputs=op.outputs[0]))
RegisterGradient("LeakyRelu")(lambda op, grad: apply_op(
    "LeakyReluGrad", gradients=grad, features=op.inputs[0], alpha=op.get_attr("alpha")))


@RegisterGradient("Softplus")
def _softplus_grad(op, grad):
    return _mul(grad, apply_op("Sigmoid", x=op.inputs[0]))


@RegisterGradient("ReluGrad")
def _relu_grad_grad(op, grad):
    x = op.inputs[1]
    return apply_op("ReluGrad", gradients=grad, features=x), gu.zeros_like(x)


@RegisterGradient("Relu6Grad")
def _relu6_grad_grad(op, grad):
    x = op.inputs[1]
    return apply_op("Relu6Grad", gradients=grad, features=x), gu.zeros_like(x)


@RegisterGradient("LeakyReluGrad")
def _leaky_relu_grad_grad(op, grad):
    x = op.inputs[1]
    return (apply_op("LeakyReluGrad", gradients=grad, features=x, alpha=op.get_attr("alpha")),
            gu.zeros_like(x))


def _elu_selu_grad_grad(grad_op):
    def grad_fn(op, grad):
        x = op.inputs[1]
        negative = apply_op("Less", x=x, y=constant(0, dtype=x.dtype.base_dtype))
        return (apply_op(grad_op, gradients=grad, outputs=x),
                gu.select(negative, _mul(grad, op.inputs[0]), gu.zeros_like(x)))
    return grad_fn


RegisterGradient("EluGrad")(_elu_selu_grad_grad("EluGrad"))
RegisterGradient("SeluGrad")(_elu_selu_grad_grad("SeluGrad"))


@RegisterGradient("SoftplusGrad")
def _softplus_grad_grad(op, grad):
    dy, x = op.inputs
    with ops.control_dependencies([grad]):
        ddy = apply_op("SoftplusGrad", gradients=grad, features=x)
        denom = gu.binary("AddV2", gu.binary("AddV2", apply_op("Exp", x=apply_op("Neg", x=x)), 2.0),
                          apply_op("Exp", x=x))
        d2x = apply_op("RealDiv", x=_mul(grad, dy), y=denom)
        return ddy, d2x


# -- softmax ------------------------------------------------------------------------------------------
@RegisterGradient("Softmax")
def _softmax_grad(op, grad_softmax):
    softmax = op.outputs[0]
    sum_channels = gu.reduce_sum(_mul(grad_softmax, softmax), -1, keepdims=True)
    return _mul(_sub(grad_softmax, sum_channels), softmax)


@RegisterGradient("LogSoftmax")
def _log_softmax_grad(op, grad):
    softmax = apply_op("Exp", x=op.outputs[0])
    return _sub(grad, _mul(gu.reduce_sum(grad, -1, keepdims=True), softmax))


def _broadcast_mul(vec, mat):
    """``vec[:, None] * mat``."""
    return _mul(gu.expand_dims(vec, -1), mat)


def _xent_second_order(op, grad, grad_grad):
    """The softmax part of a cross-entropy gradient when its backprop output is differentiated too."""
    if grad_grad is None or grad_grad.op.type in ("ZerosLike", "Const"):
        return grad
    logits = op.inputs[0]
    softmax = apply_op("Softmax", logits=logits)
    prod = apply_op("BatchMatMulV2", x=gu.expand_dims(grad_grad, 1), y=gu.expand_dims(softmax, 2))
    squeezed = gu.op("Squeeze", input=prod, squeeze_dims=[1])
    return gu.binary("AddV2", grad, _mul(_sub(grad_grad, squeezed), softmax))


@RegisterGradient("SoftmaxCrossEntropyWithLogits")
def _softmax_xent_grad(op, grad_loss, grad_grad):
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    grad = _xent_second_order(op, grad, grad_grad)
    logits = op.inputs[0]
    return grad, _broadcast_mul(grad_loss, apply_op("Neg", x=apply_op("LogSoftmax", logits=logits)))


@RegisterGradient("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_xent_grad(op, grad_loss, grad_grad):
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    return _xent_second_order(op, grad, grad_grad), None


# -- bias ---------------------------------------------------------------------------------------------
@RegisterGradient("BiasAdd")
def _bias_add_grad(op, received_grad):
    return received_grad, apply_op("BiasAddGrad", out_backprop=received_grad,
                                   data_format=_attr(op, "data_format"))


@RegisterGradient("BiasAddGrad")
def _bias_add_grad_grad(op, received_grad):
    """Tiles the bias gradient back over every non-channel dim of BiasAddGrad's input."""
    rank = op.inputs[0].shape.ndims
    if rank is None:
        raise LookupError(f"the gradient of BiasAddGrad needs an input of known rank (node {op.name})")
    channel = 1 if _attr(op, "data_format") == "NCHW" else rank - 1
    shape = gu.shape(op.inputs[0])
    bias_shape = gu.shape(received_grad)
    ones = [1] * rank
    expanded = gu.concat([ones[:channel], bias_shape, ones[channel + 1:]], 0)
    static = op.inputs[0].shape.as_list()
    if None not in static:
        mults = [1 if i == channel else d for i, d in enumerate(static)]
    else:
        mask = constant([i == channel for i in range(rank)], dtype=dtypes.bool)
        mults = gu.where_v2(mask, constant(ones, dtype=dtypes.int32), shape)
    return gu.tile(gu.reshape(received_grad, expanded), mults)


# -- convolution and pooling -------------------------------------------------------------------------------
def _conv_attrs(op, cudnn=True):
    attrs = {k: _attr(op, k) for k in ("dilations", "strides", "padding", "explicit_paddings", "data_format")}
    if cudnn:
        attrs["use_cudnn_on_gpu"] = op.get_attr("use_cudnn_on_gpu")
    return attrs


@RegisterGradient("Conv2D")
def _conv2d_grad(op, grad):
    attrs = _conv_attrs(op)
    shape_0, shape_1 = apply_op("ShapeN", input=[op.inputs[0], op.inputs[1]], out_type=dtypes.int32)
    return [apply_op("Conv2DBackpropInput", input_sizes=shape_0, filter=op.inputs[1], out_backprop=grad, **attrs),
            apply_op("Conv2DBackpropFilter", input=op.inputs[0], filter_sizes=shape_1, out_backprop=grad, **attrs)]


@RegisterGradient("Conv2DBackpropInput")
def _conv2d_backprop_input_grad(op, grad):
    attrs = _conv_attrs(op)
    return [None,
            apply_op("Conv2DBackpropFilter", input=grad, filter_sizes=gu.shape(op.inputs[1]),
                     out_backprop=op.inputs[2], **attrs),
            apply_op("Conv2D", input=grad, filter=op.inputs[1], **attrs)]


@RegisterGradient("Conv2DBackpropFilter")
def _conv2d_backprop_filter_grad(op, grad):
    attrs = _conv_attrs(op)
    return [apply_op("Conv2DBackpropInput", input_sizes=gu.shape(op.inputs[0]), filter=grad,
                     out_backprop=op.inputs[2], **attrs),
            None,
            apply_op("Conv2D", input=op.inputs[0], filter=grad, **attrs)]


@RegisterGradient("DepthwiseConv2dNative")
def _depthwise_grad(op, grad):
    attrs = _conv_attrs(op, cudnn=False)
    return [apply_op("DepthwiseConv2dNativeBackpropInput", input_sizes=gu.shape(op.inputs[0]),
                     filter=op.inputs[1], out_backprop=grad, **attrs),
            apply_op("DepthwiseConv2dNativeBackpropFilter", input=op.inputs[0],
                     filter_sizes=gu.shape(op.inputs[1]), out_backprop=grad, **attrs)]


@RegisterGradient("DepthwiseConv2dNativeBackpropInput")
def _depthwise_backprop_input_grad(op, grad):
    attrs = _conv_attrs(op, cudnn=False)
    return [None,
            apply_op("DepthwiseConv2dNativeBackpropFilter", input=grad, filter_sizes=gu.shape(op.inputs[1]),
                     out_backprop=op.inputs[2], **attrs),
            apply_op("DepthwiseConv2dNative", input=grad, filter=op.inputs[1], **attrs)]


@RegisterGradient("DepthwiseConv2dNativeBackpropFilter")
def _depthwise_backprop_filter_grad(op, grad):
    attrs = _conv_attrs(op, cudnn=False)
    return [apply_op("DepthwiseConv2dNativeBackpropInput", input_sizes=gu.shape(op.inputs[0]), filter=grad,
                     out_backprop=op.inputs[2], **attrs),
            None,
            apply_op("DepthwiseConv2dNative", input=op.inputs[0], filter=grad, **attrs)]


def _pool_attrs(op, explicit=True):
    attrs = {k: _attr(op, k) for k in ("ksize", "strides", "padding", "data_format")}
    if explicit:
        attrs["explicit_paddings"] = op.get_attr("explicit_paddings")
    return attrs


@RegisterGradient("MaxPool")
def _max_pool_grad(op, grad):
    if _attr(op, "data_format") == "NCHW_VECT_C":
        raise LookupError(f"the gradient of MaxPool with NCHW_VECT_C is not implemented (node {op.name})")
    return apply_op("MaxPoolGrad", orig_input=op.inputs[0], orig_output=op.outputs[0], grad=grad,
                    **_pool_attrs(op))


@RegisterGradient("AvgPool")
def _avg_pool_grad(op, grad):
    return apply_op("AvgPoolGrad", orig_input_shape=gu.shape(op.inputs[0]), grad=grad,
                    **_pool_attrs(op, explicit=False))


@RegisterGradient("AvgPoolGrad")
def _avg_pool_grad_grad(op, grad):
    return (apply_op("StopGradient", input=op.inputs[0]),
            apply_op("AvgPool", value=grad, **_pool_attrs(op, explicit=False)))


# -- batch norm, L2Loss ----------------------------------------------------------------------------------
def _fused_batch_norm_grad(version):
    grad_op = ("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3")[version]

    def grad_fn(op, *grad):
        x, grad_y, scale = op.inputs[0], grad[0], op.inputs[1]
        epsilon, data_format = op.get_attr("epsilon"), _attr(op, "data_format")
        is_training = op.get_attr("is_training")
        if is_training:
            kwargs = dict(y_backprop=grad_y, x=x, scale=scale, reserve_space_1=op.outputs[3],
                          reserve_space_2=op.outputs[4], epsilon=epsilon, data_format=data_format,
                          is_training=True)
            if version == 2:
                kwargs["reserve_space_3"] = op.outputs[5]
            dx, dscale, doffset, _, _ = apply_op(grad_op, **kwargs)
        else:
            pop_mean, pop_var = op.inputs[3], op.inputs[4]
            to_last = {"NCHW": [0, 2, 3, 1], "NCDHW": [0, 2, 3, 4, 1]}.get(data_format)
            if to_last:
                x, grad_y = gu.transpose(x, to_last), gu.transpose(grad_y, to_last)
            target = "NHWC" if data_format in ("NCHW", "NHWC") else "NDHWC"
            kwargs = dict(y_backprop=grad_y, x=x, scale=scale, reserve_space_1=pop_mean,
                          reserve_space_2=pop_var, epsilon=epsilon, data_format=target,
                          is_training=False)
            if version == 2:
                kwargs["reserve_space_3"] = op.outputs[5]
            dx, dscale, doffset, _, _ = apply_op(grad_op, **kwargs)
            if to_last:
                back = [0, 3, 1, 2] if data_format == "NCHW" else [0, 4, 1, 2, 3]
                dx = gu.transpose(dx, back)
        return dx, dscale, doffset, None, None
    return grad_fn


RegisterGradient("FusedBatchNorm")(_fused_batch_norm_grad(0))
RegisterGradient("FusedBatchNormV2")(_fused_batch_norm_grad(1))
RegisterGradient("FusedBatchNormV3")(_fused_batch_norm_grad(2))


@RegisterGradient("L2Loss")
def _l2_loss_grad(op, grad):
    return _mul(op.inputs[0], grad)
