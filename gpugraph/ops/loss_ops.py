"""Loss ops — SoftmaxCrossEntropyWithLogits, SparseSoftmaxCrossEntropyWithLogits, L2Loss — and the
``tf.compat.v1.nn`` loss functions built on them (``softmax_cross_entropy_with_logits`` v1 and v2,
``sparse_softmax_cross_entropy_with_logits``, ``sigmoid_cross_entropy_with_logits``, ``l2_loss``).

The cross-entropy kernels follow TensorFlow's CPU functors: logits are shifted by their row maximum,
``loss = sum(labels * (log(sum(exp(shifted))) - shifted))`` and the second output is the gradient
``softmax - labels`` the training graph reuses. The weighted reductions of ``tf.compat.v1.losses``
live in :mod:`gpugraph.ops.losses_impl`.

Example:
    >>> logits = tf.placeholder(tf.float32, [None, 10])
    >>> labels = tf.placeholder(tf.int64, [None])
    >>> loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
"""

import numpy as np

from gpugraph.framework import dtypes, ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops import grad_util as gu
from gpugraph.ops.grad_ops import _upcast

TensorShape = tensor_shape.TensorShape


# -- ops ----------------------------------------------------------------------------------------------
def _xent_shape(op):
    logits, labels = op.inputs[0].shape, op.inputs[1].shape
    for what, s in (("logits", logits), ("labels", labels)):
        if s.ndims is not None and s.ndims != 2:
            raise ValueError(f"SoftmaxCrossEntropyWithLogits: {what} must be 2-D, got shape {s} "
                             f"(logits {logits}, labels {labels})")
    both = shape_fns.broadcast_shapes(logits.with_rank(2), labels.with_rank(2))
    return [TensorShape([both.dims[0]]), both]


def _softmax_xent_kernel(ctx, logits, labels):
    if logits.ndim != 2 or labels.ndim != 2:
        raise ctx.error(f"logits and labels must be 2-D, got shapes {list(logits.shape)} and "
                        f"{list(labels.shape)}")
    try:
        shape = np.broadcast_shapes(logits.shape, labels.shape)
    except ValueError:
        raise ctx.error(f"logits and labels must be broadcastable: logits_size={list(logits.shape)} "
                        f"labels_size={list(labels.shape)}") from None
    x, y = _upcast(logits), _upcast(labels)
    x = np.broadcast_to(x, shape)
    shifted = x - x.max(axis=1, keepdims=True) if shape[1] else x
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    loss = (y * (np.log(sum_exp) - shifted)).sum(axis=1)
    exp /= sum_exp
    exp -= y
    return loss.astype(logits.dtype, copy=False), exp.astype(logits.dtype, copy=False)


def _sparse_xent_shape(op):
    logits, labels = op.inputs[0].shape, op.inputs[1].shape
    if logits.ndims is not None and logits.ndims != 2:
        raise ValueError(f"SparseSoftmaxCrossEntropyWithLogits: logits must be 2-D, got shape {logits}")
    if labels.ndims is not None and labels.ndims != 1:
        raise ValueError(f"SparseSoftmaxCrossEntropyWithLogits: labels must be 1-D, got shape {labels}")
    logits = logits.with_rank(2)
    batch = logits.dims[0].merge_with(labels.with_rank(1).dims[0])
    return [TensorShape([batch]), TensorShape([batch, logits.dims[1]])]


def _sparse_xent_kernel(ctx, logits, labels):
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise ctx.error(f"logits must be 2-D and labels 1-D with the same first dimension, got "
                        f"logits shape {list(logits.shape)} and labels shape {list(labels.shape)}")
    n, classes = logits.shape
    # One pass: seen as unsigned, a negative label is huge, so max() >= classes catches both ends.
    if n and labels.view(labels.dtype.str.replace("i", "u")).max() >= classes:
        bad = int(labels[(labels < 0) | (labels >= classes)][0])
        raise ctx.error(f"Received a label value of {bad} which is outside the valid range of [0, {classes}).  "
                        f"Label values: {' '.join(map(str, labels.tolist()))}")
    x = _upcast(logits)
    shifted = x - x.max(axis=1, keepdims=True) if classes else x
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.log(sum_exp[:, 0])
    loss -= shifted[rows, labels]
    exp /= sum_exp                     # softmax, then minus the one-hot labels
    exp[rows, labels] -= 1
    return loss.astype(logits.dtype, copy=False), exp.astype(logits.dtype, copy=False)


def _l2_loss_kernel(ctx, t):
    x = _upcast(t)
    return np.asarray((x * x).sum() * x.dtype.type(0.5)).astype(t.dtype, copy=False)


register_op("SoftmaxCrossEntropyWithLogits", inputs=["features: T", "labels: T"],
            outputs=["loss: T", "backprop: T"], attrs=["T: {half, bfloat16, float, double}"],
            shape=_xent_shape, cpu=_softmax_xent_kernel)
register_op("SparseSoftmaxCrossEntropyWithLogits", inputs=["features: T", "labels: Tlabels"],
            outputs=["loss: T", "backprop: T"],
            attrs=["T: {half, bfloat16, float, double}", "Tlabels: {int32, int64} = DT_INT64"],
            shape=_sparse_xent_shape, cpu=_sparse_xent_kernel)
register_op("L2Loss", inputs=["t: T"], outputs=["output: T"], attrs=["T: {half, bfloat16, float, double}"],
            shape=shape_fns.scalar, cpu=_l2_loss_kernel)


# -- API ----------------------------------------------------------------------------------------------
def _move_dim_to_end(x, axis, rank):
    perm = [i for i in range(rank) if i != axis] + [axis]
    return gu.transpose(x, perm)


def _xent_v2(labels, logits, axis, name):
    with ops.name_scope(name, "softmax_cross_entropy_with_logits", [logits, labels]) as scope:
        logits = convert_to_tensor(logits, name="logits")
        labels = convert_to_tensor(labels, name="labels")
        to_float32 = logits.dtype.base_dtype in (dtypes.float16, dtypes.bfloat16)
        precise = gu.cast(logits, dtypes.float32) if to_float32 else logits
        labels = gu.cast(labels, precise.dtype.base_dtype)
        shape = logits.shape
        rank = shape.ndims
        if rank is None:
            raise ValueError(f"softmax_cross_entropy_with_logits needs logits of known rank, got {logits}")
        if rank == 0:
            raise ValueError("softmax_cross_entropy_with_logits: logits must have at least one dimension")
        axis = axis % rank
        if rank == 2 and axis == 1:
            cost, _ = apply_op("SoftmaxCrossEntropyWithLogits", features=precise, labels=labels, name=scope)
        else:
            if axis != rank - 1:
                precise = _move_dim_to_end(precise, axis, rank)
                labels = _move_dim_to_end(labels, axis, rank)
            input_shape = gu.shape(precise)
            flat = [-1, shape.as_list()[axis] if shape[axis].value is not None else -1]
            if flat[1] == -1:
                flat = gu.concat([[-1], gu.strided_slice_1d(input_shape, rank - 1, None)], 0)
            precise2 = gu.reshape(precise, flat)
            labels2 = gu.reshape(labels, flat)
            cost, _ = apply_op("SoftmaxCrossEntropyWithLogits", features=precise2, labels=labels2,
                               name=scope)
            out_shape = gu.strided_slice_1d(input_shape, 0, rank - 1) if rank > 1 else []
            cost = gu.reshape(cost, out_shape)
            dims = shape.as_list()
            del dims[axis]
            cost.set_shape(dims)
        return gu.cast(cost, logits.dtype.base_dtype) if to_float32 else cost


def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """Cross entropy between ``labels`` (a distribution per row) and ``softmax(logits)``; gradients
    flow into both (``tf.compat.v1.nn.softmax_cross_entropy_with_logits_v2``).

    Example:
        >>> loss = tf.nn.softmax_cross_entropy_with_logits_v2(labels=onehot, logits=logits)
    """
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and 'dim'")
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return _xent_v2(labels, logits, axis, name)


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None,
                                      axis=None):
    """The v1 softmax cross entropy: like ``_v2`` but no gradient flows into ``labels``.

    Example:
        >>> loss = tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits)
    """
    if _sentinel is not None:
        raise ValueError("Only call `softmax_cross_entropy_with_logits` with named arguments (labels=..., "
                         "logits=..., ...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")
    if axis is not None:
        dim = axis
    with ops.name_scope(name, "softmax_cross_entropy_with_logits_sg", [logits, labels]) as scope:
        labels = apply_op("StopGradient", input=labels, name="labels_stop_gradient")
    return _xent_v2(labels, logits, dim, scope)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Cross entropy with integer class ``labels`` (one per row of ``logits``); logits of rank > 2
    are flattened to [-1, classes] and the loss reshaped back to ``labels``' shape.

    Example:
        >>> loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[3, 0], logits=logits)
    """
    if _sentinel is not None:
        raise ValueError("Only call `sparse_softmax_cross_entropy_with_logits` with named arguments "
                         "(labels=..., logits=..., ...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")
    with ops.name_scope(name, "SparseSoftmaxCrossEntropyWithLogits", [labels, logits]):
        labels = convert_to_tensor(labels)
        logits = convert_to_tensor(logits)
        half = logits.dtype.base_dtype == dtypes.float16
        precise = gu.cast(logits, dtypes.float32) if half else logits
        labels_shape_static, logits_shape = labels.shape, logits.shape
        if logits_shape.ndims == 0:
            raise ValueError(f"Logits cannot be scalars - received shape {logits_shape}.")
        if logits_shape.ndims is not None and labels_shape_static.ndims is not None and \
                labels_shape_static.ndims != logits_shape.ndims - 1:
            raise ValueError(f"Rank mismatch: Rank of labels (received {labels_shape_static.ndims}) should "
                             f"equal rank of logits minus 1 (received {logits_shape.ndims}).")
        if logits_shape.ndims is not None and not labels_shape_static.is_compatible_with(logits_shape[:-1]):
            raise ValueError(f"Shape mismatch: The shape of labels (received {labels_shape_static}) should "
                             f"equal the shape of logits except for the last dimension (received "
                             f"{logits_shape}).")
        labels_shape = gu.shape(labels)
        if logits_shape.ndims == 2:
            cost, _ = apply_op("SparseSoftmaxCrossEntropyWithLogits", features=precise, labels=labels,
                               name=name or "SparseSoftmaxCrossEntropyWithLogits")
        else:
            num_classes = logits_shape[-1].value if logits_shape.ndims is not None else None
            if num_classes is None:
                num_classes = gu.strided_slice_1d(gu.shape(logits), -1, None)
                flat = gu.concat([[-1], num_classes], 0)
            else:
                flat = [-1, num_classes]
            precise = gu.reshape(precise, flat)
            flat_labels = gu.reshape(labels, [-1])
            cost, _ = apply_op("SparseSoftmaxCrossEntropyWithLogits", features=precise, labels=flat_labels,
                               name=name or "SparseSoftmaxCrossEntropyWithLogits")
            cost = gu.reshape(cost, labels_shape)
            cost.set_shape(labels_shape_static)
        return gu.cast(cost, dtypes.float16) if half else cost


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Elementwise logistic loss ``max(x, 0) - x * z + log(1 + exp(-|x|))`` (numerically stable).

    Example:
        >>> loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    """
    if _sentinel is not None:
        raise ValueError("Only call `sigmoid_cross_entropy_with_logits` with named arguments (labels=..., "
                         "logits=..., ...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")
    with ops.name_scope(name, "logistic_loss", [logits, labels]) as scope:
        logits = convert_to_tensor(logits, name="logits")
        labels = convert_to_tensor(labels, dtype=logits.dtype.base_dtype, name="labels")
        if not labels.shape.is_compatible_with(logits.shape):
            raise ValueError(f"logits and labels must have the same shape ({logits.shape} vs {labels.shape})")
        zeros = gu.zeros_like(logits)
        cond = apply_op("GreaterEqual", x=logits, y=zeros)
        relu_logits = gu.select(cond, logits, zeros)
        neg_abs_logits = gu.select(cond, apply_op("Neg", x=logits), logits)
        with ops.name_scope("mul") as s:
            prod = apply_op("Mul", x=logits, y=labels, name=s)
        with ops.name_scope("sub") as s:
            diff = apply_op("Sub", x=relu_logits, y=prod, name=s)
        log1p = apply_op("Log1p", x=apply_op("Exp", x=neg_abs_logits))
        return apply_op("AddV2", x=diff, y=log1p, name=scope)


def l2_loss(t, name=None):
    """``sum(t ** 2) / 2`` (the L2Loss op), the usual weight-decay term.

    Example:
        >>> decay = 1e-4 * tf.nn.l2_loss(w)
    """
    return apply_op("L2Loss", t=t, name=name)


EXPORTS = {
    "nn": ["softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
           "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits", "l2_loss"],
}
