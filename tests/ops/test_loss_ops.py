"""Conformance tests for the loss ops and the ``tf.compat.v1.nn`` / ``tf.compat.v1.losses`` loss
functions (gpugraph/ops/loss_ops.py, losses_impl.py), run in gpugraph and in TensorFlow."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op
from conformance import Case, build_graph, check, ph, run_gpugraph

rng = np.random.default_rng(5)


def f(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def probs(*shape, dtype=np.float32):
    p = rng.random(shape) + 0.1
    return (p / p.sum(axis=-1, keepdims=True)).astype(dtype)


def labels(n, classes, dtype=np.int64):
    return rng.integers(0, classes, n).astype(dtype)


OP_CASES = [
    Case("SoftmaxXent_op_f32", lambda: list(apply_op("SoftmaxCrossEntropyWithLogits",
                                                     features=ph("x", gg.float32, [None, 5]),
                                                     labels=ph("y", gg.float32, [None, 5]))),
         feeds={"x": f(4, 5) * 3, "y": probs(4, 5)}),
    Case("SoftmaxXent_op_broadcast_labels_f64", lambda: list(apply_op(
        "SoftmaxCrossEntropyWithLogits", features=ph("x", gg.float64, [3, 4]), labels=ph("y", gg.float64, [1, 4]))),
         feeds={"x": f(3, 4, dtype=np.float64), "y": probs(1, 4, dtype=np.float64)}),
    Case("SoftmaxXent_op_half", lambda: list(apply_op("SoftmaxCrossEntropyWithLogits",
                                                      features=ph("x", gg.float16, [2, 3]),
                                                      labels=ph("y", gg.float16, [2, 3]))),
         feeds={"x": f(2, 3, dtype=np.float16), "y": probs(2, 3, dtype=np.float16)}, rtol=1e-2, atol=1e-2),
    Case("SparseXent_op_int64", lambda: list(apply_op("SparseSoftmaxCrossEntropyWithLogits",
                                                      features=ph("x", gg.float32, [None, 6]),
                                                      labels=ph("y", gg.int64, [None]))),
         feeds={"x": f(5, 6) * 4, "y": labels(5, 6)}),
    Case("SparseXent_op_int32_f64", lambda: list(apply_op("SparseSoftmaxCrossEntropyWithLogits",
                                                          features=ph("x", gg.float64, [3, 2]),
                                                          labels=ph("y", gg.int32, [3]))),
         feeds={"x": f(3, 2, dtype=np.float64), "y": labels(3, 2, np.int32)}),
    Case("L2Loss_f32_f64", lambda: [apply_op("L2Loss", t=ph("x", gg.float32, [3, 4])),
                                    apply_op("L2Loss", t=ph("z", gg.float64, []))],
         feeds={"x": f(3, 4), "z": np.array(3.0)}),
    Case("L2Loss_half", lambda: gg.nn.l2_loss(ph("x", gg.float16, [5])), feeds={"x": f(5, dtype=np.float16)},
         rtol=1e-2, atol=1e-2),
]

NN_CASES = [
    Case("nn_softmax_xent_v2_axis0", lambda: gg.nn.softmax_cross_entropy_with_logits_v2(
        labels=ph("y", gg.float32, [5, 3]), logits=ph("x", gg.float32, [5, 3]), axis=0),
         feeds={"x": f(5, 3), "y": probs(3, 5).T.copy()}),
    Case("nn_softmax_xent_v1_dim_rank3", lambda: gg.nn.softmax_cross_entropy_with_logits(
        labels=ph("y", gg.float32, [2, 3, 4]), logits=ph("x", gg.float32, [2, 3, 4]), dim=-1),
         feeds={"x": f(2, 3, 4), "y": probs(2, 3, 4)}),
    Case("nn_softmax_xent_v2_half_rank2", lambda: gg.nn.softmax_cross_entropy_with_logits_v2(
        labels=ph("y", gg.float16, [None, 4]), logits=ph("x", gg.float16, [None, 4])),
         feeds={"x": f(3, 4, dtype=np.float16), "y": probs(3, 4, dtype=np.float16)}, rtol=1e-2, atol=1e-2),
    Case("nn_sparse_xent_rank3", lambda: gg.nn.sparse_softmax_cross_entropy_with_logits(
        labels=ph("y", gg.int32, [2, 3]), logits=ph("x", gg.float32, [2, 3, 5])),
         feeds={"x": f(2, 3, 5), "y": labels(6, 5, np.int32).reshape(2, 3)}),
    Case("nn_sparse_xent_half", lambda: gg.nn.sparse_softmax_cross_entropy_with_logits(
        labels=ph("y", gg.int64, [4]), logits=ph("x", gg.float16, [4, 3])),
         feeds={"x": f(4, 3, dtype=np.float16), "y": labels(4, 3)}, rtol=1e-2, atol=1e-2),
    Case("nn_sigmoid_xent", lambda: gg.nn.sigmoid_cross_entropy_with_logits(
        labels=ph("y", gg.float32, [None, 3]), logits=ph("x", gg.float32, [None, 3])),
         feeds={"x": f(4, 3) * 5, "y": rng.random((4, 3)).astype(np.float32)}),
]

LOSSES_CASES = [
    Case("losses_mse_default", lambda: gg.losses.mean_squared_error(ph("y", gg.float32, [None, 3]),
                                                                    ph("p", gg.float32, [None, 3])),
         feeds={"y": f(4, 3), "p": f(4, 3)}),
    Case("losses_mse_weights_with_zeros", lambda: gg.losses.mean_squared_error(
        ph("y", gg.float32, [4, 3]), ph("p", gg.float32, [4, 3]), weights=ph("w", gg.float32, [4, 1])),
         feeds={"y": f(4, 3), "p": f(4, 3), "w": np.array([[1.0], [0.0], [2.0], [0.0]], np.float32)}),
    Case("losses_mse_reductions", lambda: (lambda y, p: [
        gg.losses.mean_squared_error(y, p, weights=2.0, reduction=r)
        for r in (gg.losses.Reduction.SUM, gg.losses.Reduction.MEAN, gg.losses.Reduction.SUM_OVER_BATCH_SIZE,
                  gg.losses.Reduction.NONE)])(ph("y", gg.float32, [2, 3]), ph("p", gg.float32, [2, 3])),
         feeds={"y": f(2, 3), "p": f(2, 3)}),
    Case("losses_softmax_xent_smoothing", lambda: gg.losses.softmax_cross_entropy(
        ph("y", gg.float32, [None, 4]), ph("x", gg.float32, [None, 4]), label_smoothing=0.1),
         feeds={"y": np.eye(4, dtype=np.float32)[[0, 3, 1]], "x": f(3, 4)}),
    Case("losses_sparse_xent_weights", lambda: gg.losses.sparse_softmax_cross_entropy(
        ph("y", gg.int64, [None]), ph("x", gg.float32, [None, 5]), weights=ph("w", gg.float32, [None])),
         feeds={"y": labels(4, 5), "x": f(4, 5), "w": np.array([1, 0, 0.5, 2], np.float32)}),
    Case("losses_sparse_xent_squeezable_labels", lambda: gg.losses.sparse_softmax_cross_entropy(
        ph("y", gg.int32, [3, 1]), ph("x", gg.float32, [3, 4])),
         feeds={"y": labels(3, 4, np.int32).reshape(3, 1), "x": f(3, 4)}),
    Case("losses_sigmoid_xent_absolute_difference", lambda: (lambda y, x: [
        gg.losses.sigmoid_cross_entropy(y, x, label_smoothing=0.2),
        gg.losses.absolute_difference(y, x)])(ph("y", gg.float32, [2, 3]), ph("x", gg.float32, [2, 3])),
         feeds={"y": rng.random((2, 3)).astype(np.float32), "x": f(2, 3)}),
]

CASES = OP_CASES + NN_CASES + LOSSES_CASES


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def test_losses_collection_and_total_loss():
    with gg.Graph().as_default() as g:
        a = gg.losses.mean_squared_error([1.0, 2.0], [1.5, 2.0])
        b = gg.losses.absolute_difference([1.0], [3.0], loss_collection=None)
        gg.add_to_collection(gg.GraphKeys.REGULARIZATION_LOSSES, gg.constant(0.5))
        assert gg.losses.get_losses() == [a]
        assert b not in g.get_collection(gg.GraphKeys.LOSSES)
        total = gg.losses.get_total_loss()
        reg = gg.losses.get_regularization_loss()
        with gg.Session() as sess:
            assert sess.run(total) == pytest.approx(0.125 + 0.5)
            assert sess.run(reg) == pytest.approx(0.5)


def test_all_zero_weights_give_zero_not_nan():
    case = Case("zero", lambda: gg.losses.mean_squared_error(gg.constant([1.0, 2.0]), gg.constant([3.0, 0.0]),
                                                             weights=gg.constant([0.0, 0.0])))
    g, fetches = build_graph(case)
    assert run_gpugraph(g, fetches, case)[0] == 0.0


@pytest.mark.parametrize("dtype,bad", [(np.int64, 3), (np.int64, -1), (np.int32, -2), (np.int32, 7)])
def test_sparse_xent_label_out_of_range_names_the_node(dtype, bad):
    case = Case("bad", lambda: gg.nn.sparse_softmax_cross_entropy_with_logits(
        labels=ph("y", gg.as_dtype(dtype), [2]), logits=gg.constant(f(2, 3)), name="xent"),
        feeds={"y": np.array([0, bad], dtype)})
    g, fetches = build_graph(case)
    with pytest.raises(gg.errors.InvalidArgumentError,
                       match=f"label value of {bad} which is outside the valid range of \\[0, 3\\)"):
        run_gpugraph(g, fetches, case)


def test_api_errors():
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match="named arguments"):
            gg.nn.softmax_cross_entropy_with_logits(gg.constant([[1.0]]))
        with pytest.raises(ValueError, match="Rank mismatch"):
            gg.nn.sparse_softmax_cross_entropy_with_logits(labels=gg.constant([[1]]), logits=gg.constant([[1.0]]))
        with pytest.raises(ValueError, match="same shape"):
            gg.nn.sigmoid_cross_entropy_with_logits(labels=gg.constant([1.0]), logits=gg.constant([1.0, 2.0]))
        with pytest.raises(ValueError, match="Invalid Reduction"):
            gg.losses.mean_squared_error([1.0], [1.0], reduction="average")
        with pytest.raises(ValueError, match="must not be None"):
            gg.losses.mean_squared_error(None, [1.0])
        with pytest.raises(ValueError, match="must be 2-D"):
            apply_op("SoftmaxCrossEntropyWithLogits", features=gg.constant([1.0]), labels=gg.constant([1.0]))
