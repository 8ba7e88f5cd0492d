"""SavedModel interop: gpugraph loads SavedModels that TensorFlow wrote (simple_save and the builder:
several signatures, assets, main op, legacy init op, several meta graphs), and TensorFlow loads the
SavedModels gpugraph writes, with the same outputs."""

import os
import shutil

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.protos import saved_model_pb2

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "tf_saved_models")
EXPECTED = np.load(os.path.join(DATA, "expected.npz"))


def expected(model, signature, key):
    value = EXPECTED[f"{model}|{signature}|{key}"]
    return value.astype(object) if value.dtype.kind == "S" else value


def run_signature(sess, meta_graph_def, name, feeds):
    sig = meta_graph_def.signature_def[name]
    return sess.run({k: v.name for k, v in sig.outputs.items()},
                    {sig.inputs[k].name: v for k, v in feeds.items()})


def assert_outputs(actual, model, signature):
    for key, value in actual.items():
        want = expected(model, signature, key)
        value = np.asarray(value)
        assert value.shape == want.shape, key
        if want.dtype == object:
            assert value.tolist() == want.tolist(), key
        else:
            assert value.dtype == want.dtype, key
            np.testing.assert_allclose(value, want, rtol=2e-6, atol=1e-7, err_msg=key)


# -- gpugraph loads TensorFlow's SavedModels ----------------------------------------------------------
def test_namespace_after_import_gpugraph_as_tf():
    import gpugraph as tf
    assert tf.saved_model.tag_constants.SERVING == "serve"
    assert tf.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY == "serving_default"
    assert tf.saved_model.loader.load is tf.saved_model.load
    assert callable(tf.saved_model.simple_save)
    assert tf.saved_model.Builder is tf.saved_model.builder.SavedModelBuilder
    assert callable(tf.saved_model.main_op.main_op)


def test_load_tf_simple_save_mlp():
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.loader.load(sess, [gg.saved_model.tag_constants.SERVING], os.path.join(DATA, "mlp"))
        assert list(mg.meta_info_def.tags) == ["serve"]
        sig = mg.signature_def["serving_default"]
        assert sig.method_name == gg.saved_model.signature_constants.PREDICT_METHOD_NAME
        assert sorted(sig.outputs) == ["logits", "probs"]
        out = run_signature(sess, mg, "serving_default", {"x": expected("mlp", "serving_default", "x")})
    assert_outputs(out, "mlp", "serving_default")


def test_load_tf_builder_signatures_assets_and_main_op(tmp_path):
    # A copy somewhere else: the asset feed must be the loaded directory's absolute path.
    export_dir = tmp_path / "copy"
    shutil.copytree(os.path.join(DATA, "multi"), export_dir)
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.load(sess, ["serve"], str(export_dir))
        assert sorted(mg.signature_def) == ["asset", "bytes", "ints", "serving_default", "two_inputs"]
        for name in ["serving_default", "bytes", "ints", "two_inputs"]:
            sig = mg.signature_def[name]
            feeds = {k: expected("multi", name, k) for k in sig.inputs}
            assert_outputs(run_signature(sess, mg, name, feeds), "multi", name)
        path = run_signature(sess, mg, "asset", {})["asset_path"]
    assert path == os.path.join(str(export_dir.resolve()), "assets", "vocab.txt").encode()


def test_load_legacy_init_op_and_tag_sets():
    export_dir = os.path.join(DATA, "legacy")
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.loader.load(sess, ["gpu", "serve"], export_dir)  # tag order does not matter
        out = run_signature(sess, mg, "serving_default", {"x": expected("legacy", "serving_default", "x")})
    assert_outputs(out, "legacy", "serving_default")
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.loader.load(sess, [gg.saved_model.tag_constants.TRAINING], export_dir)
        assert not mg.signature_def
        assert sess.run("counter:0") == 42.0  # restored then set by the legacy init op
    with gg.Session(graph=gg.Graph()) as sess:
        with pytest.raises(RuntimeError) as err:
            gg.saved_model.loader.load(sess, ["serve"], export_dir)
    message = str(err.value)
    assert "'serve'" in message and "{'gpu', 'serve'}" in message and "{'train'}" in message


def test_load_with_import_scope():
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.loader.load(sess, ["serve"], os.path.join(DATA, "mlp"), import_scope="tower")
        sig = mg.signature_def["serving_default"]
        assert sig.inputs["x"].name == "x:0"  # the returned proto is not rewritten
        x = gg.saved_model.utils.get_tensor_from_tensor_info(sig.inputs["x"], sess.graph, import_scope="tower")
        assert x.name == "tower/x:0"
        logits = sess.run("tower/" + sig.outputs["logits"].name, {x: expected("mlp", "serving_default", "x")})
    np.testing.assert_allclose(logits, expected("mlp", "serving_default", "logits"), rtol=2e-6, atol=1e-7)


def test_load_errors_name_the_problem(tmp_path):
    with gg.Session(graph=gg.Graph()) as sess:
        with pytest.raises(OSError, match="SavedModel file does not exist at: .*nothing_here"):
            gg.saved_model.loader.load(sess, ["serve"], str(tmp_path / "nothing_here"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage")
    with pytest.raises(OSError, match="Cannot parse file .*saved_model.pb"):
        gg.saved_model.loader.parse_saved_model(str(bad))
    assert gg.saved_model.contains_saved_model(str(bad))
    assert not gg.saved_model.maybe_saved_model_directory(str(tmp_path))


def test_load_corrupt_variables_names_the_file(tmp_path):
    export_dir = tmp_path / "m"
    shutil.copytree(os.path.join(DATA, "mlp"), export_dir)
    data_file = export_dir / "variables" / "variables.data-00000-of-00001"
    raw = bytearray(data_file.read_bytes())
    raw[10] ^= 0xFF
    data_file.write_bytes(bytes(raw))
    with gg.Session(graph=gg.Graph()) as sess:
        with pytest.raises(Exception) as err:
            gg.saved_model.loader.load(sess, ["serve"], str(export_dir))
    assert "variables" in str(err.value)


# -- gpugraph writes SavedModels ----------------------------------------------------------------------
def _build_gpugraph_model(asset_file):
    """An MLP with ref and resource variables, a string asset and a main op that records its path."""
    rs = np.random.RandomState(3)
    x = gg.placeholder(gg.float32, [None, 6], name="x")
    with gg.variable_scope("dense"):
        w = gg.get_variable("kernel", initializer=rs.standard_normal((6, 5)).astype(np.float32), use_resource=False)
        b = gg.get_variable("bias", initializer=rs.standard_normal(5).astype(np.float32), use_resource=True)
    hidden = gg.nn.relu(gg.matmul(x, w) + b)
    with gg.variable_scope("out"):
        w2 = gg.get_variable("kernel", initializer=rs.standard_normal((5, 3)).astype(np.float32), use_resource=True)
    logits = gg.identity(gg.matmul(hidden, w2), name="logits")
    probs = gg.nn.softmax(logits, name="probs")
    asset = gg.constant(asset_file, name="vocab_file")
    gg.add_to_collection(gg.GraphKeys.ASSET_FILEPATHS, asset)
    asset_var = gg.get_variable("asset_path", initializer=gg.constant(b""), use_resource=False, trainable=False)
    main_op = gg.group(gg.assign(asset_var, asset), name="main_op")
    return x, logits, probs, asset_var, main_op


def _write_with_builder(export_dir, tmp_path, as_text=False):
    asset_src = tmp_path / "src" / "vocab.txt"
    asset_src.parent.mkdir(exist_ok=True)
    asset_src.write_text("a\nb\n")
    feed = np.random.RandomState(9).standard_normal((4, 6)).astype(np.float32)
    with gg.Graph().as_default() as g:
        x, logits, probs, asset_var, main_op = _build_gpugraph_model(str(asset_src))
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            want = sess.run({"logits": logits, "probs": probs}, {x: feed})
            sm = gg.saved_model
            builder = sm.Builder(str(export_dir))
            sigs = {"serving_default": sm.predict_signature_def({"x": x}, {"logits": logits, "probs": probs}),
                    "asset": sm.build_signature_def(outputs={"path": sm.build_tensor_info(asset_var.value())},
                                                    method_name=sm.PREDICT_METHOD_NAME)}
            builder.add_meta_graph_and_variables(sess, [sm.SERVING], signature_def_map=sigs,
                                                 assets_collection=g.get_collection(gg.GraphKeys.ASSET_FILEPATHS),
                                                 main_op=main_op)
            builder.add_meta_graph([sm.TRAINING], clear_devices=True)
            path = builder.save(as_text=as_text)
    assert path == os.path.join(str(export_dir), "saved_model.pbtxt" if as_text else "saved_model.pb").encode()
    return feed, want


@pytest.mark.tf
@pytest.mark.parametrize("as_text", [False, True], ids=["binary", "text"])
def test_tensorflow_loads_our_saved_model(tmp_path, as_text):
    import tensorflow as tf
    export_dir = tmp_path / "export"
    feed, want = _write_with_builder(export_dir, tmp_path, as_text)
    assert (export_dir / "assets" / "vocab.txt").read_text() == "a\nb\n"
    assert sorted(os.listdir(export_dir / "variables")) == ["variables.data-00000-of-00001", "variables.index"]
    tf1 = tf.compat.v1
    with tf1.Session(graph=tf.Graph()) as sess:
        mg = tf1.saved_model.loader.load(sess, [tf1.saved_model.tag_constants.SERVING], str(export_dir))
        sig = mg.signature_def["serving_default"]
        got = sess.run({k: v.name for k, v in sig.outputs.items()}, {sig.inputs["x"].name: feed})
        path = sess.run(mg.signature_def["asset"].outputs["path"].name)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=2e-6, atol=1e-7, err_msg=key)
    assert path == os.path.join(str(export_dir), "assets", "vocab.txt").encode()
    with tf1.Session(graph=tf.Graph()) as sess:
        tf1.saved_model.loader.load(sess, ["train"], str(export_dir))


def test_gpugraph_round_trip_and_simple_save(tmp_path):
    export_dir = tmp_path / "export"
    feed, want = _write_with_builder(export_dir, tmp_path)
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.loader.load(sess, ["serve"], str(export_dir))
        got = run_signature(sess, mg, "serving_default", {"x": feed})
        path = run_signature(sess, mg, "asset", {})["path"]
        # simple_save of what was loaded: a second, independent SavedModel.
        graph = sess.graph
        gg.saved_model.simple_save(sess, str(tmp_path / "again"), {"x": graph.get_tensor_by_name("x:0")},
                                   {"probs": graph.get_tensor_by_name("probs:0")})
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)
    assert path == os.path.join(str(export_dir), "assets", "vocab.txt").encode()
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.loader.load(sess, ["serve"], str(tmp_path / "again"))
        np.testing.assert_allclose(run_signature(sess, mg, "serving_default", {"x": feed})["probs"], want["probs"],
                                   rtol=1e-6)
    saved = saved_model_pb2.SavedModel.FromString((tmp_path / "again" / "saved_model.pb").read_bytes())
    assert saved.saved_model_schema_version == 1
    assert all(not n.device for n in saved.meta_graphs[0].graph_def.node)  # simple_save clears devices


@pytest.mark.tf
def test_signature_helpers_match_tensorflow():
    import tensorflow as tf
    tf1 = tf.compat.v1
    with tf1.Graph().as_default():
        tx = tf1.placeholder(tf.float32, [None, 3], name="x")
        ty = tf.identity(tx, name="y")
        theirs = tf1.saved_model.predict_signature_def({"x": tx}, {"y": ty})
        their_info = tf1.saved_model.utils.build_tensor_info(tf1.placeholder(tf.int64, None, name="u"))
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None, 3], name="x")
        y = gg.identity(x, name="y")
        ours = gg.saved_model.predict_signature_def({"x": x}, {"y": y})
        our_info = gg.saved_model.build_tensor_info(gg.placeholder(gg.int64, None, name="u"))
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    assert our_info.SerializeToString(deterministic=True) == their_info.SerializeToString(deterministic=True)
    assert gg.saved_model.is_valid_signature(ours)


def test_builder_refuses_bad_input(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(AssertionError, match="already exists, and isn't empty"):
        gg.saved_model.Builder(str(tmp_path / "full"))
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None], name="x")
        with pytest.raises(ValueError, match="Prediction `inputs` cannot be None or empty"):
            gg.saved_model.predict_signature_def({}, {"x": x})
        with gg.Session() as sess:
            builder = gg.saved_model.Builder(str(tmp_path / "b"))
            with pytest.raises(AssertionError, match="add_meta_graph_and_variables"):
                builder.add_meta_graph(["serve"])
            sig = gg.saved_model.predict_signature_def({"x": x}, {"y": x})
            with pytest.raises(KeyError, match="__saved_model_init_op"):
                builder.add_meta_graph_and_variables(sess, ["serve"], {"__saved_model_init_op": sig})
            # No variables at all: allowed (an empty Saver), and loads back.
            builder.add_meta_graph_and_variables(sess, ["serve"], {"serving_default": sig})
            builder.save()
    with gg.Session(graph=gg.Graph()) as sess:
        mg = gg.saved_model.loader.load(sess, ["serve"], str(tmp_path / "b"))
        assert sess.run("x:0", {"x:0": [1.0, 2.0]}).tolist() == [1.0, 2.0]
        assert "serving_default" in mg.signature_def
