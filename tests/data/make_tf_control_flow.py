"""Writes TensorFlow graphs with v1 control flow (while_loop, cond, TensorArray, dynamic_rnn) and the
outputs TensorFlow computes for them, for tests/interop/test_tf_control_flow.py.

Run with tensorflow-cpu (graph mode, tf.compat.v1, v1 control flow). TensorFlow 2.16+ ships its v1 RNN
cells only with the legacy Keras package, so install ``tf-keras`` matching TensorFlow first::

    .venv/bin/pip install tf-keras==2.21.0   # or: pip install --target /tmp/tfkeras tf-keras==2.21.0
    .venv/bin/python tests/data/make_tf_control_flow.py          # add PYTHONPATH=/tmp/tfkeras if --target

Outputs, under tests/data/tf_control_flow/ (``checkpoint`` files hold relative paths):

- ``loops/model.meta``  one graph, fed ``x`` (float32 [None]) and ``n`` (int32 scalar):
    ``count``    ``while_loop(i < n: i + 1, acc * 1.5 + x)``, a placeholder trip count (``count_i``,
                 ``count_acc``);
    ``capped``   ``while_loop(j < 1000: j + 2)`` with ``maximum_iterations`` a placeholder with default 5
                 (``capped_j``), and ``capped3`` with ``maximum_iterations=3`` on two loop variables
                 (``capped3_j``, ``capped3_x``);
    ``nested``   a ``cond`` inside a while loop: ``s += k * x if k % 2 == 0 else -x`` (``nested_s``);
    ``outer``    a while loop inside a while loop (``outer_total``);
    ``ta``       a TensorArray written in a loop and stacked (``ta_stack``).
- ``rnn/model.meta`` + ``model.{index,data-…}``: ``dynamic_rnn`` over ``x`` [3, 6, 4] with
    ``sequence_length`` fed as ``lengths`` ([6, 2, 0]): a BasicLSTMCell(5) in scope ``rnn`` (variables
    ``rnn/basic_lstm_cell/kernel``, ``.../bias``), an LSTMCell(4, num_proj=3, use_peepholes=True,
    cell_clip=1.5) in scope ``proj`` and a GRUCell(3) in scope ``gru``, time-major; outputs ``lstm_out``,
    ``lstm_c``, ``lstm_h``, ``proj_out``, ``proj_c``, ``proj_h``, ``gru_out``, ``gru_state``.
- ``expected.npz``  ``loops|<feed set>|<name>`` and ``rnn|<name>`` (inputs under ``...|x``, ``...|n``,
    ``rnn|lengths``), ``rnn|var|<checkpoint key>``.
"""

import os
import shutil
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TF's v1 RNN cells live in tf-keras (legacy Keras)
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_control_flow")

LOOP_FEEDS = {
    "n0": {"x": np.array([1.0, -2.0, 0.5], np.float32), "n": np.int32(0)},
    "n1": {"x": np.array([1.0, -2.0, 0.5], np.float32), "n": np.int32(1)},
    "n5": {"x": np.array([0.25, 3.0], np.float32), "n": np.int32(5)},
}
LOOP_FETCHES = ["count_i", "count_acc", "capped_j", "capped3_j", "capped3_x", "nested_s", "outer_total",
                "ta_stack"]


def build_loops():
    x = tf1.placeholder(tf.float32, [None], name="x")
    n = tf1.placeholder(tf.int32, [], name="n")
    i, acc = tf1.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * 1.5 + x),
                            [tf.constant(0), tf.zeros_like(x)], name="count")
    tf.identity(i, name="count_i")
    tf.identity(acc, name="count_acc")

    max_iter = tf1.placeholder_with_default(5, [], name="max_iter")
    j = tf1.while_loop(lambda j: j < 1000, lambda j: j + 2, [tf.constant(0)], maximum_iterations=max_iter,
                       name="capped")
    tf.identity(j, name="capped_j")
    j3, x3 = tf1.while_loop(lambda j, v: j < 1000, lambda j, v: (j + 1, v * 2.0), (tf.constant(0), x),
                            maximum_iterations=3, name="capped3")
    tf.identity(j3, name="capped3_j")
    tf.identity(x3, name="capped3_x")

    def nested_body(k, s):
        even = tf.equal(tf.math.floormod(k, 2), 0)
        step = tf1.cond(even, lambda: tf.cast(k, tf.float32) * x, lambda: -x)
        return k + 1, s + step
    _, s = tf1.while_loop(lambda k, s: k < n, nested_body, [tf.constant(0), tf.zeros_like(x)], name="nested")
    tf.identity(s, name="nested_s")

    def outer_body(a, total):
        _, inner = tf1.while_loop(lambda b, t: b < a, lambda b, t: (b + 1, t + tf.cast(b, tf.float32)),
                                  [tf.constant(0), tf.constant(0.0)], name="inner")
        return a + 1, total + inner
    _, total = tf1.while_loop(lambda a, t: a <= n, outer_body, [tf.constant(0), tf.constant(0.0)], name="outer")
    tf.identity(total, name="outer_total")

    ta = tf1.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))

    def ta_body(t, ta):
        return t + 1, ta.write(t, x * tf.cast(t + 1, tf.float32))
    _, ta = tf1.while_loop(lambda t, ta: t < n + 1, ta_body, [tf.constant(0), ta], name="ta")
    tf.identity(ta.stack(), name="ta_stack")


def write_loops(outdir):
    with tf1.Graph().as_default() as g:
        build_loops()
        assert g.get_collection(tf1.GraphKeys.WHILE_CONTEXT), "v1 control flow must write WhileContextDefs"
        tf1.train.export_meta_graph(filename="model.meta")
        _canonicalize("model.meta")
        expected = {}
        with tf1.Session() as sess:
            for feed_name, feeds in LOOP_FEEDS.items():
                values = sess.run([f + ":0" for f in LOOP_FETCHES], {k + ":0": v for k, v in feeds.items()})
                for k, v in feeds.items():
                    expected["%s|%s" % (feed_name, k)] = v
                for name, value in zip(LOOP_FETCHES, values):
                    expected["%s|%s" % (feed_name, name)] = value
    return expected, {}


RNN_FETCHES = ["lstm_out", "lstm_c", "lstm_h", "proj_out", "proj_c", "proj_h", "gru_out", "gru_state"]


def write_rnn(outdir):
    rs = np.random.RandomState(7)
    x_value = rs.standard_normal((3, 6, 4)).astype(np.float32)
    lengths = np.array([6, 2, 0], np.int32)
    cells = tf1.nn.rnn_cell
    with tf1.Graph().as_default() as g:
        tf1.set_random_seed(3)
        x = tf1.placeholder(tf.float32, [None, 6, 4], name="x")
        seq = tf1.placeholder(tf.int32, [None], name="lengths")
        out, state = tf1.nn.dynamic_rnn(cells.BasicLSTMCell(5), x, sequence_length=seq, dtype=tf.float32)
        tf.identity(out, name="lstm_out")
        tf.identity(state.c, name="lstm_c")
        tf.identity(state.h, name="lstm_h")
        proj = cells.LSTMCell(4, num_proj=3, use_peepholes=True, cell_clip=1.5)
        out, state = tf1.nn.dynamic_rnn(proj, x, sequence_length=seq, dtype=tf.float32, scope="proj")
        tf.identity(out, name="proj_out")
        tf.identity(state.c, name="proj_c")
        tf.identity(state.h, name="proj_h")
        x_tm = tf.transpose(x, [1, 0, 2])
        init = tf.fill([tf.shape(x)[0], 3], 0.1)
        out, state = tf1.nn.dynamic_rnn(cells.GRUCell(3), x_tm, sequence_length=seq, initial_state=init,
                                        time_major=True, scope="gru")
        tf.identity(out, name="gru_out")
        tf.identity(state, name="gru_state")
        saver = tf1.train.Saver(save_relative_paths=True)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, "model", write_meta_graph=True)
            values = sess.run([f + ":0" for f in RNN_FETCHES], {x: x_value, seq: lengths})
            variables = {v.op.name: sess.run(v) for v in tf1.global_variables()}
    _canonicalize("model.meta")
    expected = {"x": x_value, "lengths": lengths}
    expected.update(dict(zip(RNN_FETCHES, values)))
    return expected, variables


def _canonicalize(path):
    """TF serializes proto maps (collection_def, a context's ``external_values``) in hash order, which
    changes from run to run; rewrite the file (same content) in deterministic order."""
    from tensorflow.core.protobuf import control_flow_pb2, meta_graph_pb2
    mg = meta_graph_pb2.MetaGraphDef()
    with open(path, "rb") as f:
        mg.ParseFromString(f.read())
    for key, cls in [("cond_context", control_flow_pb2.CondContextDef),
                     ("while_context", control_flow_pb2.WhileContextDef)]:
        values = mg.collection_def[key].bytes_list.value if key in mg.collection_def else []
        for i, raw in enumerate(values):
            values[i] = cls.FromString(raw).SerializeToString(deterministic=True)
    with open(path, "wb") as f:
        f.write(mg.SerializeToString(deterministic=True))


def main():
    if not hasattr(tf1.nn.rnn_cell, "BasicLSTMCell"):
        sys.exit("TensorFlow's v1 RNN cells need tf-keras: pip install tf-keras matching TensorFlow "
                 "(see this script's docstring)")
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    tf1.disable_v2_behavior()       # graph mode, ref variables
    tf1.disable_control_flow_v2()   # Switch/Merge/Enter/Exit and WhileContextDefs, not While/If functions
    expected = {}
    for name, writer in [("loops", write_loops), ("rnn", write_rnn)]:
        outdir = os.path.join(OUT, name)
        os.makedirs(outdir)
        cwd = os.getcwd()
        os.chdir(outdir)  # relative save paths
        try:
            io_values, var_values = writer(outdir)
        finally:
            os.chdir(cwd)
        for key, value in io_values.items():
            expected["%s|%s" % (name, key)] = np.asarray(value)
        for key, value in var_values.items():
            expected["%s|var|%s" % (name, key)] = np.asarray(value)
    np.savez_compressed(os.path.join(OUT, "expected.npz"), **expected)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("wrote %s (%d bytes)" % (OUT, total), file=sys.stderr)


if __name__ == "__main__":
    main()
