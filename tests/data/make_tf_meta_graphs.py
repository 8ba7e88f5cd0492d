"""Writes the TensorFlow MetaGraphDefs (+ checkpoints and expected outputs) that the meta-graph and
Saver tests import with gpugraph.

Run from anywhere with tensorflow-cpu installed (graph mode, tf.compat.v1, deterministic values)::

    .venv/bin/python tests/data/make_tf_meta_graphs.py

Outputs, under tests/data/tf_meta_graphs/ (``checkpoint`` files hold relative paths):

- ``model/``    a small model with ref variables (``dense/kernel``, ``dense/bias``, ``global_step``) and a
                resource variable (``res/scale``), local / model / moving-average / metric variables, and a
                collection of every kind: node_list (``outputs``, ``train_op``), bytes_list (``notes``),
                int64_list (``ints``), float_list (``floats``), any_list (``anys``), ``savers`` (SaverDef);
                ``train_op`` run once, then saved by a Saver at step 1: ``model.ckpt-1.{meta,index,data-…}``
                and ``checkpoint``; the same MetaGraphDef as text in ``model_text.meta``.
- ``devices/``  nodes placed on /cpu:0, /gpu:0, /device:GPU:3 and /job:worker/replica:0/task:1/device:GPU:1,
                ref and resource variables, a sharded Saver (one shard per device). TF cannot run those
                devices here, so the graph is exported (``devices.meta``), re-imported with
                clear_devices=True and run and saved from there: ``model-5.index`` + 4 data shards.
- ``cond/``     a v1 ``tf.cond`` (Switch/Merge, a ``cond_context`` collection of two CondContextDefs).
- ``expected.npz`` ``<dir>|x`` (the feed), ``<dir>|y`` (the output), ``<dir>|var|<key>`` (each variable's
                saved value).
"""

import os
import shutil
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from google.protobuf import any_pb2  # noqa: E402

tf1 = tf.compat.v1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_meta_graphs")
GK = tf1.GraphKeys


def _var(name, value, use_resource=False, **kwargs):
    return tf1.Variable(tf.constant(value), name=name, use_resource=use_resource, **kwargs)


def write_model(outdir):
    rs = np.random.RandomState(42)
    x_value = rs.standard_normal((3, 4)).astype(np.float32)
    with tf1.Graph().as_default() as g:
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        with tf1.variable_scope("dense"):
            kernel = tf1.get_variable("kernel", initializer=rs.standard_normal((4, 3)).astype(np.float32),
                                      use_resource=False)
            bias = tf1.get_variable("bias", initializer=rs.standard_normal(3).astype(np.float32),
                                    use_resource=False)
        scale = tf1.get_variable("res/scale", initializer=np.array([0.5, -1.5, 2.0], np.float32),
                                 use_resource=True)
        logits = tf.matmul(x, kernel) + bias
        y = tf.nn.relu(logits * scale, name="y")
        step = tf1.train.get_or_create_global_step()
        _var("local_counter", np.float32(0), collections=[GK.LOCAL_VARIABLES], trainable=False)
        _var("model_var", np.arange(4, dtype=np.int32), collections=[GK.GLOBAL_VARIABLES, GK.MODEL_VARIABLES])
        ema = _var("ema/w", np.ones((2, 2), np.float64), trainable=False)
        tf1.add_to_collection(GK.MOVING_AVERAGE_VARIABLES, ema)
        _var("metric/total", np.float32(0), collections=[GK.LOCAL_VARIABLES, GK.METRIC_VARIABLES],
             trainable=False)
        train_op = tf.group(tf1.assign_add(step, 1), tf1.assign_add(bias, [0.25, 0.25, 0.25]),
                            scale.assign_add([1.0, 1.0, 1.0]), name="train_op")
        tf1.add_to_collection("outputs", y)
        tf1.add_to_collection("outputs", logits)
        tf1.add_to_collection(GK.TRAIN_OP, train_op)
        for note in [b"hello", "caf\u00e9".encode(), b"\x00\xff"]:
            tf1.add_to_collection("notes", note)
        for i in [1, -2, 2 ** 40]:
            tf1.add_to_collection("ints", i)
        for f in [0.5, -1.25]:
            tf1.add_to_collection("floats", f)
        shape_any = any_pb2.Any()
        shape_any.Pack(tf.TensorShape([2, None, 3]).as_proto())
        tf1.add_to_collection("anys", shape_any)
        saver = tf1.train.Saver(max_to_keep=3, save_relative_paths=True)
        tf1.add_to_collection(GK.SAVERS, saver)
        with tf1.Session() as sess:
            sess.run([tf1.global_variables_initializer(), tf1.local_variables_initializer()])
            sess.run(train_op)
            saver.save(sess, "model.ckpt", global_step=step)
            saver.export_meta_graph("model_text.meta", as_text=True)  # the graph model.ckpt-1.meta holds
            y_value = sess.run(y, {x: x_value})
            values = {v.op.name: sess.run(v.value() if hasattr(v, "handle") else v)
                      for v in tf1.global_variables()}
        assert g.get_collection(GK.GLOBAL_STEP)
    return {"x": x_value, "y": y_value}, values


def _build_devices_graph(rs):
    x = tf1.placeholder(tf.float32, [None, 3], name="x")
    with tf1.device("/cpu:0"):
        w0 = _var("cpu/w", rs.standard_normal((3, 3)).astype(np.float32))
        h = tf.matmul(x, w0)
    with tf1.device("/gpu:0"):
        w1 = _var("gpu0/w", rs.standard_normal((3, 3)).astype(np.float32), use_resource=True)
        h = tf.nn.relu(tf.matmul(h, w1))
    with tf1.device("/device:GPU:3"):
        b = _var("gpu3/b", rs.standard_normal(3).astype(np.float32))
        h = h + b
    with tf1.device("/job:worker/replica:0/task:1/device:GPU:1"):
        s = _var("worker/scale", np.array(1.5, np.float32), use_resource=True)
        y = tf.multiply(h, s, name="y")
    saver = tf1.train.Saver(sharded=True, save_relative_paths=True)
    return x, y, saver


def write_devices(outdir):
    rs = np.random.RandomState(7)
    x_value = rs.standard_normal((2, 3)).astype(np.float32)
    with tf1.Graph().as_default():
        _, _, saver = _build_devices_graph(rs)
        saver.export_meta_graph("devices.meta")
    # No GPUs (and no worker job) here: run the same graph with its devices cleared.
    with tf1.Graph().as_default() as g:
        saver = tf1.train.import_meta_graph("devices.meta", clear_devices=True)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, "model", global_step=5, write_meta_graph=False)
            y_value = sess.run("y:0", {"x:0": x_value})
            values = {v.op.name: sess.run(v.value() if hasattr(v, "handle") else v)
                      for v in tf1.global_variables()}
        assert all(not op.device for op in g.get_operations())
    assert os.path.exists("model-5.data-00003-of-00004"), sorted(os.listdir("."))
    return {"x": x_value, "y": y_value}, values


def write_cond(outdir):
    x_value = np.array([1.0, -2.0, 3.0], np.float32)
    with tf1.Graph().as_default() as g:
        x = tf1.placeholder(tf.float32, [3], name="x")
        pred = tf1.placeholder_with_default(True, [], name="pred")
        w = _var("w", np.array([2.0, 3.0, 4.0], np.float32))
        y = tf1.cond(pred, lambda: x * w, lambda: x - w, name="cond")
        y = tf.identity(y, name="y")
        saver = tf1.train.Saver(save_relative_paths=True)
        assert len(g.get_collection(GK.COND_CONTEXT)) == 2, g.get_all_collection_keys()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, "model", write_meta_graph=True)
            y_value = sess.run(y, {x: x_value})
            values = {"w": sess.run(w)}
    _canonicalize_cond_contexts("model.meta")
    return {"x": x_value, "y": y_value}, values


def _canonicalize_cond_contexts(path):
    """TF serializes a CondContextDef's ``external_values`` map in hash order, which changes from run to
    run; rewrite those bytes (same content) in deterministic order so reruns give identical files."""
    from tensorflow.core.protobuf import control_flow_pb2, meta_graph_pb2
    mg = meta_graph_pb2.MetaGraphDef()
    with open(path, "rb") as f:
        mg.ParseFromString(f.read())
    values = mg.collection_def[GK.COND_CONTEXT].bytes_list.value
    for i, raw in enumerate(values):
        values[i] = control_flow_pb2.CondContextDef.FromString(raw).SerializeToString(deterministic=True)
    with open(path, "wb") as f:
        f.write(mg.SerializeToString(deterministic=True))


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    tf1.disable_eager_execution()
    tf1.disable_control_flow_v2()  # v1 tf.cond: Switch/Merge and a CondContextDef in cond_context
    expected = {}
    for name, writer in [("model", write_model), ("devices", write_devices), ("cond", write_cond)]:
        outdir = os.path.join(OUT, name)
        os.makedirs(outdir)
        cwd = os.getcwd()
        os.chdir(outdir)  # relative save paths
        try:
            io_values, var_values = writer(outdir)
        finally:
            os.chdir(cwd)
        for key, value in io_values.items():
            expected["%s|%s" % (name, key)] = value
        for key, value in var_values.items():
            expected["%s|var|%s" % (name, key)] = np.asarray(value)
    np.savez_compressed(os.path.join(OUT, "expected.npz"), **expected)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("wrote %s (%d bytes)" % (OUT, total), file=sys.stderr)


if __name__ == "__main__":
    main()
