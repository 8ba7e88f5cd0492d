"""``tf.compat.v1.losses``: weighted losses reduced as TensorFlow does and added to the LOSSES
collection — ``compute_weighted_loss``, ``mean_squared_error``, ``absolute_difference``,
``softmax_cross_entropy``, ``sparse_softmax_cross_entropy``, ``sigmoid_cross_entropy``, and the
collection helpers ``add_loss``, ``get_losses``, ``get_regularization_loss(es)``, ``get_total_loss``.

The default reduction, ``SUM_BY_NONZERO_WEIGHTS``, divides the weighted sum by the number of
elements with a non-zero weight (``DivNoNan``, so an all-zero weight gives 0, not NaN).

Example:
    >>> loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    >>> tf.get_collection(tf.GraphKeys.LOSSES) == [loss]
    True
"""

from gpugraph.framework import dtypes, ops
from gpugraph.framework.op_builder import apply_op, constant, convert_to_tensor
from gpugraph.ops import grad_util as gu
from gpugraph.ops import loss_ops


class Reduction:
    """How ``compute_weighted_loss`` reduces the weighted losses (``tf.compat.v1.losses.Reduction``)."""
    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_OVER_NONZERO_WEIGHTS,
                cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}.")


def _reduce_all(x, name="Sum"):
    """``math_ops.reduce_sum(x)``: axes are a Const for rank >= 1, else Range(0, Rank(x)) (TF's
    ``_ReductionDims`` treats rank 0 like an unknown rank)."""
    rank = x.shape.ndims
    if rank:
        axes = constant(list(range(rank)), dtype=dtypes.int32, name="Const")
    else:
        axes = gu.range_(0, gu.rank(x))
    return gu.reduce_sum(x, axes, name=name)


def _check_broadcastable(weights, values):
    """TF's assert_broadcastable, statically: weights must be a scalar or match values' rank with each
    dim 1 or equal."""
    w, v = weights.shape, values.shape
    if w.ndims is None or v.ndims is None or w.ndims == 0:
        return
    if w.ndims != v.ndims:
        raise ValueError(f"weights can not be broadcast to values. values.rank={v.ndims}. "
                         f"weights.rank={w.ndims}. values.shape={v}. weights.shape={w}.")
    for wd, vd in zip(w.as_list(), v.as_list()):
        if wd is not None and vd is not None and wd != 1 and wd != vd:
            raise ValueError(f"weights can not be broadcast to values. values.shape={v}. weights.shape={w}.")


def _safe_mean(losses, num_present):
    total = _reduce_all(losses)
    with ops.name_scope("value") as scope:
        return apply_op("DivNoNan", x=total, y=num_present, name=scope)


def _broadcast_weights(weights, values):
    with ops.name_scope(None, "broadcast_weights", [weights, values]) as scope:
        ws, vs = weights.shape, values.shape
        if ws.is_fully_defined() and vs.is_fully_defined() and ws.is_compatible_with(vs):
            return weights
        _check_broadcastable(weights, values)
        return apply_op("Mul", x=weights, y=gu.ones_like(values), name=scope)


def _num_present(losses, weights):
    with ops.name_scope(None, "num_present", [losses, weights]) as scope:
        weights = gu.cast(weights, dtypes.float32)
        with ops.name_scope("Equal") as s:
            zero = apply_op("Equal", x=weights, y=constant(0.0, dtype=dtypes.float32, name="y"), name=s)
        present = gu.select(zero, gu.zeros_like(weights), gu.ones_like(weights))
        present = _broadcast_weights(present, losses)
        return _reduce_all(present, name=scope)


def _num_elements(losses):
    with ops.name_scope(None, "num_elements") as scope:
        return gu.cast(gu.size(losses, name=scope), losses.dtype.base_dtype)


def add_loss(loss, loss_collection=ops.GraphKeys.LOSSES):
    """Adds ``loss`` to ``loss_collection`` (nothing when the collection is None)."""
    if loss_collection:
        ops.add_to_collection(loss_collection, loss)


def get_losses(scope=None, loss_collection=ops.GraphKeys.LOSSES):
    """The losses added to ``loss_collection`` (optionally only those whose name matches ``scope``)."""
    return ops.get_collection(loss_collection, scope)


def get_regularization_losses(scope=None):
    return ops.get_collection(ops.GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss"):
    """The sum of the regularization losses (a 0.0 Const when there are none)."""
    losses = get_regularization_losses(scope)
    if losses:
        return apply_op("AddN", inputs=losses, name=name)
    return constant(0.0)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None):
    """The sum of the LOSSES collection (and, by default, the regularization losses).

    Example:
        >>> total = tf.losses.get_total_loss()
    """
    losses = get_losses(scope=scope)
    if add_regularization_losses:
        losses += get_regularization_losses(scope=scope)
    if not losses:
        raise ValueError("No losses found in the LOSSES (or regularization) collection")
    return apply_op("AddN", inputs=losses, name=name)


def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=ops.GraphKeys.LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weights ``losses`` (broadcasting ``weights``), reduces them per ``reduction``, adds the result
    to ``loss_collection`` and returns it in the dtype of ``losses``.

    Example:
        >>> loss = tf.losses.compute_weighted_loss(per_example, weights=mask)
    """
    Reduction.validate(reduction)
    with ops.name_scope(scope, "weighted_loss", [losses, weights]):
        ops.get_default_graph()._last_loss_reduction = reduction
        losses = convert_to_tensor(losses)
        input_dtype = losses.dtype.base_dtype
        losses = gu.cast(losses, dtypes.float32)
        if isinstance(weights, ops.Tensor):
            weights = gu.cast(weights, dtypes.float32)
        else:
            with ops.name_scope("Cast"):
                weights = convert_to_tensor(weights, dtype=dtypes.float32, name="x")
        _check_broadcastable(weights, losses)
        weighted = apply_op("Mul", x=losses, y=weights)
        if reduction == Reduction.NONE:
            loss = weighted
        else:
            loss = _reduce_all(weighted)
            if reduction == Reduction.MEAN:
                with ops.name_scope("mul") as s:
                    ones = apply_op("Mul", x=gu.ones_like(losses), y=weights, name=s)
                loss = _safe_mean(loss, _reduce_all(ones))
            elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
                loss = _safe_mean(loss, _num_present(losses, weights))
            elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
                loss = _safe_mean(loss, _num_elements(losses))
        loss = gu.cast(loss, input_dtype)
        add_loss(loss, loss_collection)
        return loss


def _check_pair(labels, predictions):
    if labels is None:
        raise ValueError("Argument `labels` must not be None.")
    if predictions is None:
        raise ValueError("Argument `predictions` must not be None.")


def _float32_pair(predictions, labels):
    """``predictions`` and ``labels`` cast to float32 (in that order), checked to be of compatible
    shapes."""
    predictions = gu.cast(convert_to_tensor(predictions), dtypes.float32)
    labels = gu.cast(convert_to_tensor(labels), dtypes.float32)
    if not predictions.shape.is_compatible_with(labels.shape):
        raise ValueError(f"Shapes {predictions.shape} and {labels.shape} are incompatible")
    return predictions, labels


def mean_squared_error(labels, predictions, weights=1.0, scope=None,
                       loss_collection=ops.GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted mean of ``(predictions - labels) ** 2`` (``tf.compat.v1.losses.mean_squared_error``).

    Example:
        >>> loss = tf.losses.mean_squared_error(targets, predictions)
    """
    _check_pair(labels, predictions)
    with ops.name_scope(scope, "mean_squared_error", [predictions, labels, weights]) as scope:
        predictions, labels = _float32_pair(predictions, labels)
        losses = apply_op("SquaredDifference", x=predictions, y=labels)
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=ops.GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted mean of ``|predictions - labels|``.

    Example:
        >>> loss = tf.losses.absolute_difference(targets, predictions)
    """
    _check_pair(labels, predictions)
    with ops.name_scope(scope, "absolute_difference", [predictions, labels, weights]) as scope:
        predictions, labels = _float32_pair(predictions, labels)
        with ops.name_scope("sub") as s:
            diff = apply_op("Sub", x=predictions, y=labels, name=s)
        losses = apply_op("Abs", x=diff)
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=ops.GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Softmax cross entropy with one-hot (or soft) labels, optionally smoothed towards uniform.

    Example:
        >>> loss = tf.losses.softmax_cross_entropy(onehot, logits, label_smoothing=0.1)
    """
    if onehot_labels is None:
        raise ValueError("Argument `onehot_labels` must not be None.")
    if logits is None:
        raise ValueError("Argument `logits` must not be None.")
    with ops.name_scope(scope, "softmax_cross_entropy_loss", [logits, onehot_labels, weights]) as scope:
        logits = convert_to_tensor(logits)
        onehot_labels = gu.cast(convert_to_tensor(onehot_labels), logits.dtype.base_dtype)
        if not logits.shape.is_compatible_with(onehot_labels.shape):
            raise ValueError(f"Shapes {logits.shape} and {onehot_labels.shape} are incompatible")
        if label_smoothing > 0:
            dtype = logits.dtype.base_dtype
            num_classes = gu.cast(gu.strided_slice_1d(gu.shape(onehot_labels), -1, None), dtype)
            num_classes = gu.reshape(num_classes, [])
            with ops.name_scope("truediv") as s:
                smooth_neg = apply_op("RealDiv", x=constant(label_smoothing, dtype=dtype, name="x"),
                                      y=num_classes, name=s)
            with ops.name_scope("mul") as s:
                scaled = apply_op("Mul", x=onehot_labels, y=constant(1.0 - label_smoothing, dtype=dtype, name="y"),
                                  name=s)
            with ops.name_scope("add") as s:
                onehot_labels = apply_op("AddV2", x=scaled, y=smooth_neg, name=s)
        onehot_labels = apply_op("StopGradient", input=onehot_labels, name="labels_stop_gradient")
        losses = loss_ops.softmax_cross_entropy_with_logits_v2(labels=onehot_labels, logits=logits,
                                                               name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def _remove_squeezable_dimensions(labels, predictions, weights, expected_rank_diff=1):
    labels_rank, pred_rank = labels.shape.ndims, predictions.shape.ndims
    if labels_rank is not None and pred_rank is not None:
        diff = pred_rank - labels_rank
        if diff == expected_rank_diff + 1 and predictions.shape[-1].is_compatible_with(1):
            predictions = apply_op("Squeeze", input=predictions, squeeze_dims=[-1])
        elif diff == expected_rank_diff - 1 and labels.shape[-1].is_compatible_with(1):
            labels = apply_op("Squeeze", input=labels, squeeze_dims=[-1])
    if weights is not None:
        weights = convert_to_tensor(weights)
        labels_rank, weights_rank = labels.shape.ndims, weights.shape.ndims
        if labels_rank is not None and weights_rank is not None and weights_rank - labels_rank == 1:
            weights = apply_op("Squeeze", input=weights, squeeze_dims=[-1])
    return labels, predictions, weights


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=ops.GraphKeys.LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Softmax cross entropy with integer class ``labels`` (``logits`` has one more dim).

    Example:
        >>> loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    """
    if labels is None:
        raise ValueError("Argument `labels` must not be None.")
    if logits is None:
        raise ValueError("Argument `logits` must not be None.")
    with ops.name_scope(scope, "sparse_softmax_cross_entropy_loss", [logits, labels, weights]) as scope:
        labels, logits = convert_to_tensor(labels), convert_to_tensor(logits)
        labels, logits, weights = _remove_squeezable_dimensions(labels, logits, weights, expected_rank_diff=1)
        losses = loss_ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=ops.GraphKeys.LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weighted logistic loss, labels optionally smoothed towards 1/2.

    Example:
        >>> loss = tf.losses.sigmoid_cross_entropy(targets, logits)
    """
    if multi_class_labels is None:
        raise ValueError("Argument `multi_class_labels` must not be None.")
    if logits is None:
        raise ValueError("Argument `logits` must not be None.")
    with ops.name_scope(scope, "sigmoid_cross_entropy_loss", [logits, multi_class_labels, weights]) as scope:
        logits = convert_to_tensor(logits)
        labels = gu.cast(convert_to_tensor(multi_class_labels), logits.dtype.base_dtype)
        if not logits.shape.is_compatible_with(labels.shape):
            raise ValueError(f"Shapes {logits.shape} and {labels.shape} are incompatible")
        if label_smoothing > 0:
            dtype = logits.dtype.base_dtype
            with ops.name_scope("mul") as s:
                labels = apply_op("Mul", x=labels, y=constant(1 - label_smoothing, dtype=dtype), name=s)
            with ops.name_scope("add") as s:
                labels = apply_op("AddV2", x=labels, y=constant(0.5 * label_smoothing, dtype=dtype), name=s)
        losses = loss_ops.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits, name="xentropy")
        return compute_weighted_loss(losses, weights, scope, loss_collection, reduction=reduction)


EXPORTS = {
    "losses": ["Reduction", "compute_weighted_loss", "mean_squared_error", "absolute_difference",
               "softmax_cross_entropy", "sparse_softmax_cross_entropy", "sigmoid_cross_entropy",
               "add_loss", "get_losses", "get_regularization_loss", "get_regularization_losses",
               "get_total_loss"],
}
