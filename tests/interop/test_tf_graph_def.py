"""GraphDefs both ways with real TensorFlow: TF-written frozen graphs run here, ours run in TF."""

import pathlib

import numpy as np
import pytest

import gpugraph as gg

DATA = pathlib.Path(__file__).parent.parent / "data" / "tf_graphs"

pytestmark = pytest.mark.tf


def test_tensorflow_frozen_cnn_imports_and_matches():
    graph_def = gg.GraphDef.FromString((DATA / "frozen_cnn.pb").read_bytes())
    expected = np.load(DATA / "frozen_cnn.npz")
    ops_used = {n.op for n in graph_def.node}
    assert {"Conv2D", "DepthwiseConv2dNative", "Relu6", "LeakyRelu", "Mean", "Slice", "Squeeze",
            "ConcatV2"} <= ops_used
    with gg.Graph().as_default() as g:
        images = gg.placeholder(gg.float32, [None, 9, 11, 3], name="input")
        (logits,) = gg.import_graph_def(graph_def, input_map={"images:0": images},
                                        return_elements=["logits:0"], name="frozen")
        assert logits.shape.as_list() == [None, 24]
        with gg.Session(graph=g) as sess:
            out = sess.run(logits, {images: expected["images"]})
    np.testing.assert_allclose(out, expected["logits"], rtol=1e-5, atol=1e-5)


def _build_mlp_and_cnn(rng):
    x = gg.placeholder(gg.float32, [None, 6, 6, 2], name="x")
    w = gg.constant(rng.standard_normal((3, 3, 2, 4)).astype(np.float32), name="w")
    h = gg.nn.relu(gg.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME"))
    h = gg.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    flat = gg.reshape(h, [-1, 36])
    w2 = gg.constant(rng.standard_normal((36, 5)).astype(np.float32), name="w2")
    b2 = gg.constant(rng.standard_normal(5).astype(np.float32), name="b2")
    logits = gg.nn.bias_add(gg.matmul(flat, w2), b2)
    return x, gg.nn.softmax(logits, name="probs")


def test_tensorflow_runs_our_graph_def_with_the_same_values():
    import tensorflow as tf
    rng = np.random.default_rng(3)
    with gg.Graph().as_default() as g:
        x, probs = _build_mlp_and_cnn(rng)
        feed = rng.standard_normal((3, 6, 6, 2)).astype(np.float32)
        with gg.Session(graph=g) as sess:
            ours = sess.run(probs, {x: feed})
        graph_def_bytes = g.as_graph_def().SerializeToString()
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(graph_def_bytes), name="")
    with tf.compat.v1.Session(graph=tg) as sess:
        theirs = sess.run("probs:0", {"x:0": feed})
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
