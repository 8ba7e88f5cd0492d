"""MetaGraphDefs and Saver checkpoints both ways with real TensorFlow (run in this process).

TensorFlow-written files come from tests/data/make_tf_meta_graphs.py (see its docstring): they import
here, restore their TF-written checkpoints and compute TF's outputs on this CPU-only machine. Ours
import into TensorFlow with the same collections, and TF restores our checkpoints bitwise.
"""

import os
import pathlib

import ml_dtypes
import numpy as np
import pytest

import gpugraph as gg
import gpugraph.train
from gpugraph.framework import meta_graph, registry
from gpugraph.ops import io_bundle

DATA = pathlib.Path(__file__).parent.parent / "data" / "tf_meta_graphs"
EXPECTED = np.load(DATA / "expected.npz")

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow
    return tensorflow


def _variables_expected(name):
    prefix = f"{name}|var|"
    return {k[len(prefix):]: EXPECTED[k] for k in EXPECTED.files if k.startswith(prefix)}


def _value_tensor(graph, op_name, scope=""):
    op = graph.get_operation_by_name(scope + op_name)
    if op.type == "VarHandleOp":
        return graph.get_tensor_by_name(scope + op_name + "/Read/ReadVariableOp:0")
    return op.outputs[0]


# -- TensorFlow's files into gpugraph -----------------------------------------------------------------
@pytest.mark.parametrize("meta", ["model.ckpt-1.meta", "model_text.meta"])
def test_tensorflow_model_imports_restores_and_matches(meta):
    with gg.Graph().as_default() as g:
        saver = gg.train.import_meta_graph(str(DATA / "model" / meta))
        assert isinstance(saver, gg.train.Saver)
        kinds = {k: len(g.get_collection(k)) for k in g.get_all_collection_keys()}
        assert kinds == {"variables": 6, "trainable_variables": 4, "local_variables": 2, "metric_variables": 1,
                         "model_variables": 1, "moving_average_variables": 1, "global_step": 1, "savers": 1,
                         "outputs": 2, "train_op": 1, "notes": 3, "ints": 3, "floats": 2, "anys": 1}
        variables = {v.op.name: v for v in g.get_collection("variables")}
        # One Variable object per variable, whichever collections name it.
        assert g.get_collection("trainable_variables")[0] is variables["dense/kernel"]
        assert g.get_collection("global_step")[0] is variables["global_step"]
        assert g.get_collection("metric_variables")[0] is g.get_collection("local_variables")[1]
        assert g.get_collection("outputs")[0] is g.get_tensor_by_name("y:0")
        assert g.get_collection("train_op")[0] is g.get_operation_by_name("train_op")
        assert g.get_collection("notes") == [b"hello", "caf\u00e9".encode(), b"\x00\xff"]
        assert g.get_collection("ints") == [1, -2, 2 ** 40] and g.get_collection("floats") == [0.5, -1.25]
        assert g.get_collection("anys")[0].type_url == "type.googleapis.com/tensorflow.TensorShapeProto"
        assert g.get_collection("savers")[0].as_saver_def() == saver.as_saver_def()
        with gg.Session() as sess:
            saver.restore(sess, str(DATA / "model" / "model.ckpt-1"))
            y = sess.run("y:0", {"x:0": EXPECTED["model|x"]})
            for name, want in _variables_expected("model").items():
                assert sess.run(_value_tensor(g, name)).tobytes() == want.tobytes(), name
    np.testing.assert_allclose(y, EXPECTED["model|y"], rtol=1e-6, atol=1e-6)


def test_binary_and_text_tensorflow_files_are_the_same_meta_graph():
    binary = meta_graph.read_meta_graph_file(DATA / "model" / "model.ckpt-1.meta")
    text = meta_graph.read_meta_graph_file(DATA / "model" / "model_text.meta")
    assert binary == text


def test_same_graph_imported_twice_under_two_scopes():
    with gg.Graph().as_default() as g:
        s1 = gg.train.import_meta_graph(str(DATA / "model" / "model.ckpt-1.meta"), import_scope="a")
        s2 = gg.train.import_meta_graph(str(DATA / "model" / "model.ckpt-1.meta"), import_scope="b")
        assert s1.as_saver_def().restore_op_name == "a/save/restore_all"
        assert s2.as_saver_def().filename_tensor_name == "b/save/Const:0"
        assert [v.name for v in g.get_collection("trainable_variables")][:2] == ["a/dense/kernel:0", "a/dense/bias:0"]
        assert g.get_operation_by_name("b/dense/kernel/read").get_attr("_class") == [b"loc:@b/dense/kernel"]
        with gg.Session() as sess:
            s1.restore(sess, str(DATA / "model" / "model.ckpt-1"))
            s2.restore(sess, str(DATA / "model" / "model.ckpt-1"))
            ya, yb = sess.run(["a/y:0", "b/y:0"], {"a/x:0": EXPECTED["model|x"], "b/x:0": EXPECTED["model|x"]})
    np.testing.assert_allclose(ya, EXPECTED["model|y"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(yb, EXPECTED["model|y"], rtol=1e-6, atol=1e-6)


def test_device_placed_graph_keeps_devices_and_runs_on_cpu(tmp_path, tf):
    mg = meta_graph.read_meta_graph_file(DATA / "devices" / "devices.meta")
    file_devices = {nd.name: nd.device for nd in mg.graph_def.node}
    assert {"/device:CPU:0", "/device:GPU:0", "/device:GPU:3",
            "/job:worker/replica:0/task:1/device:GPU:1"} <= set(file_devices.values())
    with gg.Graph().as_default() as g:
        saver = gg.train.import_meta_graph(str(DATA / "devices" / "devices.meta"))
        for name, device in file_devices.items():
            assert g.get_operation_by_name(name).device == device, name
        with gg.Session() as sess:  # devices are requests; this CPU-only runtime runs them all here
            saver.restore(sess, str(DATA / "devices" / "model-5"))
            y = sess.run("y:0", {"x:0": EXPECTED["devices|x"]})
            # TF's own sharded save graph (one shard per device) runs here, too.
            ours = saver.save(sess, str(tmp_path / "ours"), global_step=9)
    np.testing.assert_allclose(y, EXPECTED["devices|y"], rtol=1e-6, atol=1e-6)
    io_bundle.wait_for_pending_flushes()
    assert sorted(p.name for p in tmp_path.glob("ours-9.data-*")) == [
        "ours-9.data-0000%d-of-00004" % i for i in range(4)]
    with gg.Graph().as_default() as g:
        gg.train.import_meta_graph(str(DATA / "devices" / "devices.meta"), clear_devices=True)
        assert all(op.device == "" for op in g.get_operations())
    reader = tf.train.load_checkpoint(ours)
    for name, want in _variables_expected("devices").items():
        assert reader.get_tensor(name).tobytes() == want.tobytes(), name


def test_tensorflow_cond_context_survives_import_and_export():
    cond_mg = meta_graph.read_meta_graph_file(DATA / "cond" / "model.meta")
    raw = list(cond_mg.collection_def["cond_context"].bytes_list.value)
    assert len(raw) == 2
    if registry.lookup("Switch") is not None and registry.lookup("Merge") is not None:
        mg = cond_mg
    else:
        # v1 control flow (Switch/Merge) is another op family; carry TF's CondContextDefs on a graph
        # gpugraph can import, which is all the collection round trip needs.
        mg = meta_graph.read_meta_graph_file(DATA / "model" / "model.ckpt-1.meta")
        mg.collection_def["cond_context"].bytes_list.value.extend(raw)
    with gg.Graph().as_default() as g:
        saver = gg.train.import_meta_graph(mg)
        assert g.get_collection("cond_context") == raw
        again = saver.export_meta_graph()
    assert list(again.collection_def["cond_context"].bytes_list.value) == raw


@pytest.mark.skipif(registry.lookup("Switch") is None, reason="v1 control-flow ops (Switch/Merge) are not "
                    "registered yet (another op family); the cond_context collection is covered above")
def test_tensorflow_cond_graph_runs():
    with gg.Graph().as_default():
        saver = gg.train.import_meta_graph(str(DATA / "cond" / "model.meta"))
        with gg.Session() as sess:
            saver.restore(sess, str(DATA / "cond" / "model"))
            y = sess.run("y:0", {"x:0": EXPECTED["cond|x"]})
    np.testing.assert_allclose(y, EXPECTED["cond|y"], rtol=1e-6)


# -- gpugraph's files into TensorFlow -----------------------------------------------------------------
def _rich_gpugraph_model(directory):
    """A gpugraph model with every collection kind, saved with a Saver; returns (prefix, feed, y)."""
    rs = np.random.RandomState(11)
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [None, 3], name="x")
        w = gg.Variable(rs.standard_normal((3, 2)).astype(np.float32), name="dense/kernel")
        b = gg.Variable(rs.standard_normal(2).astype(np.float32), name="dense/bias", use_resource=True)
        y = gg.nn.relu(gg.matmul(x, w) + b, name="y")
        step = gg.Variable(np.int64(12), name="global_step", trainable=False,
                           collections=[gg.GraphKeys.GLOBAL_VARIABLES, gg.GraphKeys.GLOBAL_STEP])
        gg.Variable(0.0, name="local", collections=[gg.GraphKeys.LOCAL_VARIABLES, gg.GraphKeys.METRIC_VARIABLES])
        gg.add_to_collection(gg.GraphKeys.MODEL_VARIABLES, w)
        gg.add_to_collection(gg.GraphKeys.MOVING_AVERAGE_VARIABLES, b)
        gg.add_to_collection("outputs", y)
        gg.add_to_collection("train_op", gg.group(gg.assign_add(step, 1), name="train"))
        gg.add_to_collection("notes", b"note")
        gg.add_to_collection("ints", 4)
        gg.add_to_collection("floats", 0.75)
        saver = gg.train.Saver()
        gg.add_to_collection(gg.GraphKeys.SAVERS, saver)
        feed = rs.standard_normal((2, 3)).astype(np.float32)
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, os.path.join(directory, "model"), global_step=step)
            out = sess.run(y, {x: feed})
    io_bundle.wait_for_pending_flushes()
    return prefix, feed, out


def test_tensorflow_imports_our_meta_graph_with_equal_collections(tmp_path, tf):
    prefix, feed, want = _rich_gpugraph_model(str(tmp_path))
    ours = meta_graph.read_meta_graph_file(prefix + ".meta")
    tf1 = tf.compat.v1
    with tf.Graph().as_default() as tg:
        tf_saver = tf1.train.import_meta_graph(prefix + ".meta")
        exported = tf_saver.export_meta_graph()
        with tf1.Session() as sess:
            tf_saver.restore(sess, prefix)
            got = sess.run("y:0", {"x:0": feed})
        assert [v.name for v in tg.get_collection("variables")] == ["dense/kernel:0", "dense/bias:0", "global_step:0"]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    theirs = meta_graph._convert(exported, type(ours), "MetaGraphDef")
    assert sorted(theirs.collection_def) == sorted(ours.collection_def)
    for key in ours.collection_def:
        assert theirs.collection_def[key] == ours.collection_def[key], key
    assert theirs.saver_def == ours.saver_def


@pytest.mark.parametrize("sharded", [False, True])
def test_tensorflow_restores_our_checkpoints_bitwise(tmp_path, tf, sharded):
    rs = np.random.RandomState(2)
    values = {
        "f32": rs.standard_normal((3, 4)).astype(np.float32), "f64": rs.standard_normal(5),
        "f16": np.array([0.5, -0.0, np.inf, np.nan], np.float16),
        "bf16": np.array([1.5, -2.25, np.inf], ml_dtypes.bfloat16),
        "i8": np.array([-128, 127], np.int8), "i64": np.array([-(2 ** 63), 2 ** 63 - 1], np.int64),
        "u8": np.array([0, 255], np.uint8), "b": np.array([[True], [False]]),
        "c64": np.array([1 + 2j, -1j], np.complex64), "c128": np.array([3 - 4j], np.complex128),
        "s": np.array([b"", b"bytes\x00\xff", "\u00fcnicode".encode()], dtype=object),
        "scalar": np.array(-1.25, np.float32), "big": rs.standard_normal((600, 500)).astype(np.float32),
    }
    g = gg.Graph()
    with g.as_default():
        for i, (name, value) in enumerate(values.items()):
            with gg.device("/cpu:%d" % (i % 2)):
                gg.Variable(gg.constant(value, dtype=gg.string if value.dtype == object else None),
                            name=name, use_resource=bool(i % 3 == 0))
        saver = gg.train.Saver(sharded=sharded)
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "ours"), global_step=1)
    io_bundle.wait_for_pending_flushes()
    tf1 = tf.compat.v1
    with tf.Graph().as_default() as tg:
        tf_saver = tf1.train.import_meta_graph(prefix + ".meta", clear_devices=True)
        with tf1.Session() as sess:
            tf_saver.restore(sess, prefix)
            for name, want in values.items():
                got = sess.run(_value_tensor(tg, name))
                if want.dtype == object:
                    assert list(np.asarray(got, dtype=object).reshape(-1)) == list(want.reshape(-1)), name
                else:
                    got = np.asarray(got)
                    assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name


def test_our_saver_graph_matches_tensorflows(tf):
    tf1 = tf.compat.v1

    def describe(ops):
        return [(op.name, op.type, [t.name for t in op.inputs], sorted(c.name for c in op.control_inputs),
                 op.device) for op in ops if op.name.startswith("save")]

    g = gg.Graph()
    with g.as_default():
        with gg.device("/cpu:0"):
            gg.Variable([1.0, 2.0], name="a")
        with gg.device("/cpu:1"):
            gg.Variable(3, name="b", use_resource=True)
        gg.train.Saver(sharded=True)
        gg.train.Saver()
    with tf.Graph().as_default() as tg:
        with tf1.device("/cpu:0"):
            tf1.Variable([1.0, 2.0], name="a", use_resource=False)
        with tf1.device("/cpu:1"):
            tf1.Variable(3, name="b", use_resource=True)
        tf1.train.Saver(sharded=True)
        tf1.train.Saver()
    assert describe(g.get_operations()) == describe(tg.get_operations())
