"""v1 control flow both ways with real TensorFlow (in this process).

TensorFlow's graphs come from tests/data/make_tf_control_flow.py: while loops (a placeholder trip count,
maximum_iterations, a cond inside a loop, nested loops, a TensorArray) and dynamic_rnn models with a
checkpoint; gpugraph imports them, restores, and must compute TensorFlow's outputs. gpugraph's own
while_loop / cond / case / TensorArray / dynamic_rnn graphs, exported as MetaGraphDefs (with their
while_context / cond_context collections) and checkpoints, must import into TensorFlow — which rebuilds
the contexts and can even differentiate through them — and compute the same values there.
"""

import os
import pathlib
import sys

import numpy as np
import pytest

import gpugraph as gg
import gpugraph.train
from gpugraph import errors

TESTS = pathlib.Path(__file__).resolve().parent.parent
if str(TESTS / "ops") not in sys.path:
    sys.path.insert(0, str(TESTS / "ops"))
from conformance import tf_v1_control_flow  # noqa: E402  (the one helper the ops tests use too)

DATA = TESTS / "data" / "tf_control_flow"
EXPECTED = np.load(DATA / "expected.npz")
LOOP_FETCHES = ["count_i", "count_acc", "capped_j", "capped3_j", "capped3_x", "nested_s", "outer_total",
                "ta_stack"]
RNN_FETCHES = ["lstm_out", "lstm_c", "lstm_h", "proj_out", "proj_c", "proj_h", "gru_out", "gru_state"]

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow
    return tensorflow


def _loop_feeds(name, scope=""):
    return {f"{scope}x:0": EXPECTED[f"loops|{name}|x"], f"{scope}n:0": EXPECTED[f"loops|{name}|n"]}


def _assert_loops_match(values, name):
    for fetch, got in zip(LOOP_FETCHES, values):
        want = EXPECTED[f"loops|{name}|{fetch}"]
        got = np.asarray(got)
        assert got.shape == want.shape and got.dtype == want.dtype, (name, fetch, got, want)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{name} {fetch}")


# -- TensorFlow's graphs in gpugraph -------------------------------------------------------------------------
@pytest.mark.parametrize("feeds", ["n0", "n1", "n5"])
def test_tensorflow_loops_import_and_match(feeds):
    with gg.Graph().as_default() as g:
        gg.train.import_meta_graph(str(DATA / "loops" / "model.meta"))
        assert len(g.get_collection("while_context")) == 6
        with gg.Session() as sess:
            values = sess.run([f + ":0" for f in LOOP_FETCHES], _loop_feeds(feeds))
    _assert_loops_match(values, feeds)


def test_tensorflow_loops_imported_twice_under_scopes():
    with gg.Graph().as_default() as g:
        gg.train.import_meta_graph(str(DATA / "loops" / "model.meta"), import_scope="a")
        gg.train.import_meta_graph(str(DATA / "loops" / "model.meta"), import_scope="b")
        frames = {op.get_attr("frame_name") for op in g.get_operations() if op.type == "Enter"}
        assert b"a/count/while_context" in frames and b"b/count/while_context" in frames
        with gg.Session() as sess:
            feeds = {**_loop_feeds("n5", "a/"), **_loop_feeds("n1", "b/")}
            a = sess.run([f"a/{f}:0" for f in LOOP_FETCHES], feeds)
            b = sess.run([f"b/{f}:0" for f in LOOP_FETCHES], feeds)
    _assert_loops_match(a, "n5")
    _assert_loops_match(b, "n1")


def test_maximum_iterations_placeholder_default_and_override():
    with gg.Graph().as_default():
        gg.train.import_meta_graph(str(DATA / "loops" / "model.meta"))
        with gg.Session() as sess:
            assert sess.run("capped_j:0") == 10          # 5 iterations of j += 2 (default maximum)
            assert sess.run("capped_j:0", {"max_iter:0": 2}) == 4
            assert sess.run("capped_j:0", {"max_iter:0": 10_000}) == 1000  # the condition ends it first


def test_wrong_feed_dtype_into_an_imported_loop_is_named():
    with gg.Graph().as_default():
        gg.train.import_meta_graph(str(DATA / "loops" / "model.meta"))
        with gg.Session() as sess:
            with pytest.raises(TypeError, match="placeholder 'n'"):
                sess.run("count_i:0", {"n:0": 1.5, "x:0": [1.0]})
            with pytest.raises(ValueError, match="Cannot feed value of shape"):
                sess.run("count_i:0", {"n:0": [1, 2], "x:0": [1.0]})


def test_tensorflow_dynamic_rnn_restores_and_matches():
    with gg.Graph().as_default() as g:
        saver = gg.train.import_meta_graph(str(DATA / "rnn" / "model.meta"))
        names = {v.op.name for v in g.get_collection("trainable_variables")}
        assert {"rnn/basic_lstm_cell/kernel", "rnn/basic_lstm_cell/bias", "proj/lstm_cell/projection/kernel",
                "gru/gru_cell/gates/kernel", "gru/gru_cell/candidate/bias"} <= names
        with gg.Session() as sess:
            saver.restore(sess, str(DATA / "rnn" / "model"))
            values = sess.run([f + ":0" for f in RNN_FETCHES],
                              {"x:0": EXPECTED["rnn|x"], "lengths:0": EXPECTED["rnn|lengths"]})
            for v in g.get_collection("variables"):
                assert sess.run(v).tobytes() == EXPECTED[f"rnn|var|{v.op.name}"].tobytes(), v.op.name
    for fetch, got in zip(RNN_FETCHES, values):
        np.testing.assert_allclose(got, EXPECTED[f"rnn|{fetch}"], rtol=1e-5, atol=1e-6, err_msg=fetch)
    assert not values[0][2].any()  # a zero-length sequence outputs zeros


def test_tensorflow_graph_exported_again_runs_in_tensorflow(tf):
    with gg.Graph().as_default():
        gg.train.import_meta_graph(str(DATA / "loops" / "model.meta"))
        mg = gg.train.export_meta_graph()
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.train.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(mg.SerializeToString()))
        values = sess.run([f + ":0" for f in LOOP_FETCHES], _loop_feeds("n5"))
    _assert_loops_match(values, "n5")


# -- gpugraph's graphs in TensorFlow ----------------------------------------------------------------------------
def _our_program():
    x = gg.placeholder(gg.float32, [None, 3], name="x")
    n = gg.placeholder(gg.int32, [], name="n")
    i, acc = gg.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * 0.5 + gg.tanh(x)), [0, gg.zeros_like(x)])
    picked = gg.cond(gg.reduce_sum(acc) > 0, lambda: acc * 3.0, lambda: acc - x)
    capped = gg.while_loop(lambda v: gg.constant(True), lambda v: v * 1.5, [x], maximum_iterations=3)
    branch = gg.case([(n < 2, lambda: x[0]), (n < 4, lambda: x[1])], default=lambda: gg.reduce_mean(x, 0))

    def body(t, ta):
        return t + 1, ta.write(t, gg.reduce_sum(x * gg.cast(t, gg.float32), 1))
    _, ta = gg.while_loop(lambda t, ta: t < n, body, [0, gg.TensorArray(gg.float32, size=n)])
    stacked = ta.stack()
    seq = gg.placeholder(gg.int32, [None], name="lengths")
    rnn_out, state = gg.nn.dynamic_rnn(gg.nn.rnn_cell.BasicLSTMCell(4), gg.reshape(x, [-1, 1, 3]) * gg.ones([1, 4, 1]),
                                       sequence_length=seq, dtype=gg.float32)
    outs = {"i": i, "acc": acc, "picked": picked, "capped": capped, "branch": branch, "stacked": stacked,
            "rnn_out": rnn_out, "rnn_h": state.h}
    for k, t in outs.items():
        gg.identity(t, name="out_" + k)
    return list(outs)


def test_our_graphs_run_in_tensorflow_with_the_same_results(tf, tmp_path):
    x_value = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], np.float32)
    feeds = {"x:0": x_value, "n:0": 5, "lengths:0": np.array([4, 1], np.int32)}
    with gg.Graph().as_default():
        names = _our_program()
        saver = gg.train.Saver()
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "ours"))
            ours = sess.run([f"out_{k}:0" for k in names], feeds)
    with tf_v1_control_flow() as tf1:
        with tf.Graph().as_default() as g, tf1.Session() as sess:
            their_saver = tf1.train.import_meta_graph(prefix + ".meta")
            assert len(g.get_collection("while_context")) == 4 and len(g.get_collection("cond_context")) == 4
            their_saver.restore(sess, prefix)
            theirs = sess.run([f"out_{k}:0" for k in names], feeds)
            # TensorFlow rebuilt our WhileContexts: it can build its v1 gradient of our loops.
            (grad,) = tf1.gradients(g.get_tensor_by_name("out_acc:0"), [g.get_tensor_by_name("x:0")])
            their_grad = sess.run(grad, feeds)
    for k, a, b in zip(names, ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=k)
    want_grad = sum(0.5 ** k for k in range(5)) * (1 - np.tanh(x_value) ** 2)
    np.testing.assert_allclose(their_grad, want_grad, rtol=1e-5)


def test_our_graph_def_runs_in_tensorflow_under_an_import_name(tf):
    with gg.Graph().as_default() as g:
        _our_program()
        graph_def = g.as_graph_def()
    feeds = {"x:0": np.ones((2, 3), np.float32), "n:0": 3, "lengths:0": np.array([4, 4], np.int32)}
    with gg.Graph().as_default() as g2:
        gg.import_graph_def(graph_def, name="copy")
        with gg.Session() as sess:
            sess.run([op for op in g2.get_operations() if op.type == "Assign"])
            ours = sess.run("copy/out_picked:0", {"copy/" + k: v for k, v in feeds.items()})
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(graph_def.SerializeToString()), name="copy")
        theirs = sess.run("copy/out_picked:0", {"copy/" + k: v for k, v in feeds.items()})
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_a_merge_that_can_never_fire_in_an_imported_graph_is_named():
    from gpugraph.ops import control_flow_context as cfc
    from gpugraph.ops import control_flow_ops as cfo
    with gg.Graph().as_default() as g:
        x = gg.placeholder(gg.float32, [], name="x")
        m, _ = cfo.merge([x, x], name="m")
        y = gg.multiply(m, 2.0, name="y")
        cfc.update_input(m.op, 1, y)
        graph_def = g.as_graph_def()
    with gg.Graph().as_default():
        gg.import_graph_def(graph_def, name="")
        with gg.Session() as sess:
            with pytest.raises(errors.InvalidArgumentError, match="Merge node 'm' \\(Merge\\) can never fire"):
                sess.run("y:0", {"x:0": 1.0})


def test_dynamic_rnn_loss_gradients_match_tensorflows_own(tf):
    """Training through a loop: d(loss)/d(every RNN weight) of TF's dynamic_rnn model, computed by our
    gradients() and by TensorFlow's tf.gradients on the same imported graph and checkpoint."""
    feeds = {"x:0": EXPECTED["rnn|x"], "lengths:0": EXPECTED["rnn|lengths"]}
    fetches = ["lstm_out", "proj_out", "gru_out"]
    with gg.Graph().as_default() as g:
        saver = gg.train.import_meta_graph(str(DATA / "rnn" / "model.meta"))
        names = sorted(v.op.name for v in g.get_collection("trainable_variables"))
        variables = [g.get_tensor_by_name(n + ":0") for n in names]
        loss = gg.add_n([gg.reduce_sum(gg.square(g.get_tensor_by_name(f + ":0"))) for f in fetches])
        grads = gg.gradients(loss, variables)
        assert all(gr is not None for gr in grads)
        with gg.Session() as sess:
            saver.restore(sess, str(DATA / "rnn" / "model"))
            ours = sess.run(grads, feeds)
    with tf_v1_control_flow() as tf1:
        with tf.Graph().as_default() as tg, tf1.Session() as sess:
            tf_saver = tf1.train.import_meta_graph(str(DATA / "rnn" / "model.meta"))
            tf_saver.restore(sess, str(DATA / "rnn" / "model"))
            loss = tf.add_n([tf.reduce_sum(tf.square(tg.get_tensor_by_name(f + ":0"))) for f in fetches])
            tf_vars = [tg.get_tensor_by_name(n + ":0") for n in names]
            theirs = sess.run(tf1.gradients(loss, tf_vars), feeds)
    for name, a, b in zip(names, ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
