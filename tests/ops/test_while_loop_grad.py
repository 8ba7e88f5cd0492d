"""Gradients through v1 while loops in TensorFlow's layout: backward loops driven by f_count/b_count,
stacks of forward values, accumulators for loop invariants (gpugraph.ops.control_flow_state and
control_flow_grad), created by gradients() for every loop exit it crosses.
"""

import numpy as np
import pytest

import gpugraph as gg
from conformance import Case, check, ph, tf_v1_control_flow

rng = np.random.default_rng(41)


def _loop_product():
    x = ph("x", np.float32, [None, 3])
    n = ph("n", np.int32, [])
    acc = gg.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * x + gg.tanh(a)), [0, gg.ones_like(x)])[1]
    return gg.gradients(gg.reduce_sum(acc * acc), [x])


def _nested_loops():
    x = ph("x", np.float64, [2])
    n = ph("n", np.int32, [])

    def outer(a, total):
        inner = gg.while_loop(lambda b, u: b < a, lambda b, u: (b + 1, u * 0.9 + gg.tanh(x)), [0, gg.zeros_like(x)])[1]
        return a + 1, total + inner * x
    y = gg.while_loop(lambda a, t: a < n, outer, [0, gg.zeros_like(x)])[1]
    return gg.gradients(gg.reduce_sum(y), [x])


def _cond_in_loop():
    x = ph("x", np.float32, [3])
    n = ph("n", np.int32, [])

    def body(k, s):
        return k + 1, gg.cond(gg.equal(gg.floormod(k, 2), 0), lambda: s * x, lambda: gg.tanh(s) + x)
    y = gg.while_loop(lambda k, s: k < n, body, [0, gg.ones_like(x)])[1]
    return gg.gradients(gg.reduce_sum(y * y), [x])


def _maximum_iterations():
    x = ph("x", np.float32, [None])
    n = ph("n", np.int32, [])
    y = gg.while_loop(lambda v: gg.reduce_sum(v) < 1e6, lambda v: v * x + 1.0, [gg.ones_like(x)], maximum_iterations=n)
    return gg.gradients(gg.reduce_sum(y), [x])


def _tensor_array_in_loop():
    x = ph("x", np.float32, [None, 3])
    n = ph("n", np.int32, [])

    def body(t, ta, s):
        s = gg.tanh(s * x + 0.5)
        return t + 1, ta.write(t, s), s
    _, ta, _ = gg.while_loop(lambda t, *_: t < n, body, [0, gg.TensorArray(gg.float32, size=n), gg.ones_like(x)])
    return gg.gradients(gg.reduce_sum(ta.stack() * 2.0), [x])


def _train_lstm(stacked=False):
    x = ph("x", np.float32, [None, 4, 3])
    lengths = ph("lengths", np.int32, [None])
    with gg.variable_scope("m", initializer=gg.constant_initializer(0.1)):
        cell = gg.nn.rnn_cell.BasicLSTMCell(3)
        if stacked:  # two layers, their states concatenated
            cell = gg.nn.rnn_cell.MultiRNNCell([gg.nn.rnn_cell.BasicLSTMCell(3, state_is_tuple=False),
                                                gg.nn.rnn_cell.GRUCell(2)], state_is_tuple=False)
        out, state = gg.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=gg.float32)
    loss = gg.reduce_mean(gg.square(out)) + gg.reduce_mean(state if stacked else state.c)
    gg.global_variables_initializer()
    train = gg.train.GradientDescentOptimizer(0.5).minimize(loss)
    with gg.control_dependencies([train]):
        return [gg.identity(v.read_value()) for v in gg.trainable_variables()]


FEEDS = {"x": np.array([[0.5, 1.0, -1.0], [0.2, -0.3, 0.8]], np.float32), "n": np.int32(4)}
CASES = [
    Case("while_gradient_product", _loop_product, feeds=FEEDS),
    Case("while_gradient_zero_trips", _loop_product, feeds={**FEEDS, "n": np.int32(0)}),
    Case("while_gradient_nested_loops", _nested_loops, feeds={"x": np.array([0.3, -1.2]), "n": np.int32(4)}),
    Case("while_gradient_cond_in_loop", _cond_in_loop, feeds={"x": np.array([0.5, 1.0, -1.0], np.float32),
                                                              "n": np.int32(5)}),
    Case("while_gradient_maximum_iterations", _maximum_iterations,
         feeds={"x": np.array([0.5, 2.0], np.float32), "n": np.int32(3)}),
    Case("while_gradient_tensor_array", _tensor_array_in_loop, feeds=FEEDS, rtol=1e-5),
    Case("train_dynamic_rnn_two_steps", _train_lstm, init=["init"], runs=2, rtol=1e-5, atol=1e-6,
         feeds={"x": rng.standard_normal((2, 4, 3)).astype(np.float32), "lengths": np.array([4, 2], np.int32)}),
    Case("train_multi_rnn_cell_two_steps", lambda: _train_lstm(stacked=True), init=["init"], runs=2, rtol=1e-5,
         atol=1e-6, feeds={"x": rng.standard_normal((2, 4, 3)).astype(np.float32),
                           "lengths": np.array([3, 4], np.int32)}),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def _program(tf):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    acc = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * x + tf.tanh(a)), [0, tf.ones_like(x)])[1]

    def outer(a, total):
        inner = tf.while_loop(lambda b, u: b < a, lambda b, u: (b + 1, u * 0.9 + tf.tanh(x)), [0, tf.zeros_like(x)])[1]
        return a + 1, total + tf.cond(a > 1, lambda: inner * x, lambda: inner - x)
    nested = tf.while_loop(lambda a, t: a < n, outer, [0, tf.zeros_like(x)])[1]
    capped = tf.while_loop(lambda v: tf.reduce_sum(v) < 1e6, lambda v: v * x + 1.0, [tf.ones_like(x)],
                           maximum_iterations=n)

    def body(t, ta, s):
        s = tf.tanh(s * x + 0.5)
        return t + 1, ta.write(t, s), s
    _, ta, _ = tf.while_loop(lambda t, *_: t < n, body, [0, tf.TensorArray(tf.float32, size=n), tf.ones_like(x)])
    loss = tf.reduce_sum(acc) + tf.reduce_sum(nested) + tf.reduce_sum(capped) + tf.reduce_sum(ta.stack())
    return tf.gradients(loss, [x])


@pytest.mark.tf
def test_backward_loops_have_tensorflows_layout():
    with tf_v1_control_flow() as tf1:
        import tensorflow as tf
        with tf.Graph().as_default() as tg:
            _program(tf1)
    with gg.Graph().as_default() as g:
        _program(gg)
    key = lambda n: (n.name, n.op, tuple(sorted(n.input)))  # noqa: E731
    theirs = sorted(map(key, tg.as_graph_def().node))
    ours = sorted(map(key, g.as_graph_def().node))
    assert [n[:2] for n in ours] == [n[:2] for n in theirs]
    assert ours == theirs
    frames = {n.attr["frame_name"].s for n in g.as_graph_def().node if n.op == "Enter"}
    assert b"gradients/while/while_context" in frames and b"gradients/while_1/while/while_context" in frames


def test_back_prop_false_and_loops_without_contexts():
    with gg.Graph().as_default() as g:
        x = gg.placeholder(gg.float32, [2], name="x")
        y = gg.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * x), [0, x], back_prop=False)[1]
        assert gg.gradients(gg.reduce_sum(y), [x]) == [None]
        graph_def = g.as_graph_def()
    with gg.Graph().as_default() as g2:
        gg.import_graph_def(graph_def, name="")  # a GraphDef carries no while contexts
        with pytest.raises(LookupError, match="without a while context"):
            gg.gradients(g2.get_tensor_by_name("while/Exit_1:0"), [g2.get_tensor_by_name("x:0")])


@pytest.mark.tf
def test_gradients_through_tensorflows_imported_loops(tmp_path):
    """TF-written loops (no context objects, only the while_context protos) differentiate too."""
    import pathlib
    meta = pathlib.Path(__file__).parent.parent / "data" / "tf_control_flow" / "loops" / "model.meta"
    fetches = ["count_acc:0", "nested_s:0", "capped3_x:0"]
    feeds = {"x:0": np.array([0.5, -1.0, 2.0], np.float32), "n:0": 3}
    with gg.Graph().as_default() as g:
        gg.train.import_meta_graph(str(meta), import_scope="imported")
        ys = [gg.reduce_sum(g.get_tensor_by_name("imported/" + f)) for f in fetches]
        grads = gg.gradients(gg.add_n(ys), [g.get_tensor_by_name("imported/x:0")])
        with gg.Session() as sess:
            ours = sess.run(grads, {"imported/" + k: v for k, v in feeds.items()})
    with tf_v1_control_flow() as tf1:
        import tensorflow as tf
        with tf.Graph().as_default() as tg, tf1.Session() as sess:
            tf1.train.import_meta_graph(str(meta))
            ys = [tf.reduce_sum(tg.get_tensor_by_name(f)) for f in fetches]
            theirs = sess.run(tf1.gradients(tf.add_n(ys), [tg.get_tensor_by_name("x:0")]), feeds)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)


def test_a_loop_behind_stop_gradient_is_a_constant():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [2])
        y = gg.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * x), [0, gg.ones([2])])[1]
        z = gg.stop_gradient(y) * x  # a loop behind stop_gradient is a constant to gradients()
        (dx,) = gg.gradients(gg.reduce_sum(z), [x])
        with gg.Session() as sess:
            assert sess.run(dx, {x: [2.0, 3.0]}).tolist() == [8.0, 27.0]
