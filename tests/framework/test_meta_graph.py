"""MetaGraphDef export/import semantics (tf.compat.v1's), within gpugraph: collections of every kind,
scopes, devices, default attrs, file formats and their errors. TensorFlow interop is in
tests/interop/test_tf_meta_graphs.py."""

import logging
import os

import numpy as np
import pytest
from google.protobuf import any_pb2, text_format

import gpugraph as gg
import gpugraph.train
from gpugraph.framework import meta_graph, registry
from gpugraph.protos import control_flow_pb2, meta_graph_pb2, tensor_shape_pb2


def _model(resource=False):
    """x -> matmul(w) + b -> relu as "y"; w, b variables; a Saver; custom collections."""
    x = gg.placeholder(gg.float32, [None, 2], name="x")
    w = gg.Variable(np.array([[1.0, -1.0], [2.0, 0.5]], np.float32), name="w", use_resource=resource)
    b = gg.Variable(np.array([0.5, -3.0], np.float32), name="b")
    y = gg.nn.relu(gg.matmul(x, w) + b, name="y")
    gg.add_to_collection("outputs", y)
    gg.add_to_collection("train_op", gg.group(w.initializer, b.initializer, name="reinit"))
    return x, w, b, y


def _export(graph, **kwargs):
    with graph.as_default():
        return meta_graph.export_meta_graph(**kwargs)


# -- export ---------------------------------------------------------------------------------------
def test_collections_of_every_kind():
    with gg.Graph().as_default() as g:
        _, w, b, y = _model()
        step = gg.Variable(0, name="global_step", trainable=False,
                           collections=[gg.GraphKeys.GLOBAL_VARIABLES, gg.GraphKeys.GLOBAL_STEP])
        loc = gg.Variable(0.0, name="loc", collections=[gg.GraphKeys.LOCAL_VARIABLES,
                                                        gg.GraphKeys.METRIC_VARIABLES])
        gg.add_to_collection(gg.GraphKeys.MODEL_VARIABLES, w)
        gg.add_to_collection(gg.GraphKeys.MOVING_AVERAGE_VARIABLES, b)
        saver = gg.train.Saver([w, b])
        gg.add_to_collection(gg.GraphKeys.SAVERS, saver)
        for v in (b"raw", "text"):
            gg.add_to_collection("notes", v)
        for v in (3, True, np.int64(-4)):
            gg.add_to_collection("ints", v)
        gg.add_to_collection("floats", 0.25)
        shape_any = any_pb2.Any()
        shape_any.Pack(tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)]))
        gg.add_to_collection("anys", shape_any)
        mg = meta_graph.export_meta_graph()
    kinds = {k: v.WhichOneof("kind") for k, v in mg.collection_def.items()}
    assert kinds == {
        "variables": "bytes_list", "trainable_variables": "bytes_list", "local_variables": "bytes_list",
        "metric_variables": "bytes_list", "model_variables": "bytes_list",
        "moving_average_variables": "bytes_list", "global_step": "bytes_list", "savers": "bytes_list",
        "outputs": "node_list", "train_op": "node_list", "notes": "bytes_list", "ints": "int64_list",
        "floats": "float_list", "anys": "any_list"}
    assert list(mg.collection_def["outputs"].node_list.value) == ["y:0"]
    assert list(mg.collection_def["train_op"].node_list.value) == ["reinit"]
    assert list(mg.collection_def["notes"].bytes_list.value) == [b"raw", b"text"]
    assert list(mg.collection_def["ints"].int64_list.value) == [3, 1, -4]
    assert len(mg.collection_def["variables"].bytes_list.value) == 3  # w, b, global_step
    assert len(mg.collection_def["local_variables"].bytes_list.value) == 1
    assert mg.collection_def["variables"].bytes_list.value[0] == w.to_proto().SerializeToString(deterministic=True)
    assert mg.collection_def["savers"].bytes_list.value[0] == saver.as_saver_def().SerializeToString(
        deterministic=True)
    assert step.name == "global_step:0" and loc.name == "loc:0"


def test_unserializable_collection_is_skipped_with_a_warning(caplog):
    with gg.Graph().as_default():
        gg.add_to_collection("junk", object())
        gg.add_to_collection("ok", 1)
        with caplog.at_level(logging.WARNING):
            mg = meta_graph.export_meta_graph()
    assert "junk" not in mg.collection_def and "ok" in mg.collection_def
    assert any("junk" in r.getMessage() for r in caplog.records)


def test_collection_list_limits_the_collections():
    with gg.Graph().as_default():
        _model()
        mg = meta_graph.export_meta_graph(collection_list=["outputs"])
    assert list(mg.collection_def) == ["outputs"]


def test_meta_info_def_and_output_shapes():
    with gg.Graph().as_default() as g:
        _model()
        info = meta_graph_pb2.MetaGraphDef.MetaInfoDef(meta_graph_version="v7", tags=["serve"])
        mg = meta_graph.export_meta_graph(meta_info_def=info)
    m = mg.meta_info_def
    assert m.meta_graph_version == "v7" and list(m.tags) == ["serve"]
    assert m.tensorflow_version == meta_graph.TENSORFLOW_VERSION and m.tensorflow_git_version.startswith("gpugraph-")
    used = sorted({op.type for op in g.get_operations()})
    assert [op.name for op in m.stripped_op_list.op] == used
    for op_def in m.stripped_op_list.op:
        assert op_def == registry.get_op_spec(op_def.name).op_def()
    for nd in mg.graph_def.node:
        op = g.get_operation_by_name(nd.name)
        shapes = [gg.TensorShape(s) for s in nd.attr["_output_shapes"].list.shape]
        assert [s.as_list() if s.ndims is not None else None for s in shapes] == \
            [t.shape.as_list() if t.shape.ndims is not None else None for t in op.outputs]
    assert not m.stripped_default_attrs


def test_clear_devices_and_devices_kept():
    with gg.Graph().as_default() as g:
        with gg.device("/gpu:1"):
            _model()
        kept = meta_graph.export_meta_graph()
        cleared = meta_graph.export_meta_graph(clear_devices=True)
    assert {nd.device for nd in kept.graph_def.node if nd.name == "y"} == {"/device:GPU:1"}
    assert all(nd.device == "" for nd in cleared.graph_def.node)
    with gg.Graph().as_default() as g2:
        meta_graph.import_meta_graph(kept)
        assert g2.get_operation_by_name("y").device == "/device:GPU:1"
    with gg.Graph().as_default() as g3:
        meta_graph.import_meta_graph(kept, clear_devices=True)
        imported = [g3.get_operation_by_name(nd.name) for nd in kept.graph_def.node]
        assert all(op.device == "" for op in imported)
    assert any(nd.device for nd in kept.graph_def.node)  # the caller's proto is untouched


def test_strip_default_attrs_and_import_restores_them():
    with gg.Graph().as_default() as g:
        _model()
        full = meta_graph.export_meta_graph()
        stripped = meta_graph.export_meta_graph(strip_default_attrs=True)
    assert stripped.meta_info_def.stripped_default_attrs
    full_nodes = {nd.name: nd for nd in full.graph_def.node}
    removed = 0
    for nd in stripped.graph_def.node:
        defaults = {a.name: a.default_value for a in registry.get_op_spec(nd.op).op_def().attr
                    if a.HasField("default_value")}
        for key, value in full_nodes[nd.name].attr.items():
            if key in defaults and value == defaults[key]:
                assert key not in nd.attr, (nd.name, key)
                removed += 1
            else:
                assert nd.attr[key] == value
    assert removed > 0
    with gg.Graph().as_default() as g2:
        meta_graph.import_meta_graph(stripped)
        for op in (g2.get_operation_by_name(nd.name) for nd in stripped.graph_def.node):
            assert set(op.node_def.attr) - {"_output_shapes"} == set(g.get_operation_by_name(op.name).node_def.attr)


def test_export_scope_keeps_only_the_scope_without_prefix():
    with gg.Graph().as_default() as g:
        outside = gg.placeholder(gg.float32, [2], name="outside")
        with gg.name_scope("tower"):
            w = gg.Variable([1.0, 2.0], name="w")
            with gg.colocate_with(w.op):
                z = gg.add(w.value(), outside, name="z")
            gg.add_to_collection("outputs", z)
        gg.Variable(3.0, name="other")
        mg = meta_graph.export_meta_graph(export_scope="tower")
    names = {nd.name for nd in mg.graph_def.node}
    assert "w" in names and "z" in names and not any(n.startswith("tower/") or n == "other" for n in names)
    z_def = [nd for nd in mg.graph_def.node if nd.name == "z"][0]
    assert list(z_def.input) == ["w/read", "$unbound_inputs_outside"]
    assert list(z_def.attr["_class"].list.s) == [b"loc:@w"]
    assert list(mg.collection_def["outputs"].node_list.value) == ["z:0"]
    assert len(mg.collection_def["variables"].bytes_list.value) == 1
    assert g.get_collection("unbound_inputs") == ["$unbound_inputs_outside"]
    # Importing needs the unbound input mapped.
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match="unbound inputs"):
            meta_graph.import_scoped_meta_graph(mg)
        feed = gg.constant([10.0, 20.0])
        meta_graph.import_scoped_meta_graph(mg, input_map={"$unbound_inputs_outside": feed}, import_scope="t2")
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            assert sess.run("t2/z:0").tolist() == [11.0, 22.0]


# -- import ---------------------------------------------------------------------------------------
def test_import_scope_prefixes_names_inputs_controls_and_colocation():
    with gg.Graph().as_default():
        _, w, _, y = _model()
        marker = gg.no_op(name="marker")
        with gg.control_dependencies([marker]):
            gg.identity(y, name="after")
        mg = meta_graph.export_meta_graph()
    with gg.Graph().as_default() as g:
        gg.constant(0, name="tower")  # "tower" is taken: the import scope becomes "tower_1"
        saver = gg.train.import_meta_graph(mg, import_scope="tower")
        saver2 = gg.train.import_meta_graph(mg, import_scope="tower")
        assert g.get_operation_by_name("tower_1/y").inputs[0].name == "tower_1/add:0"
        assert [c.name for c in g.get_operation_by_name("tower_1/after").control_inputs] == ["tower_1/marker"]
        read = g.get_operation_by_name("tower_1/w/read")
        assert read.get_attr("_class") == [b"loc:@tower_1/w"]
        assert g.get_operation_by_name("tower_2/y") is not None
        # No saver_def in the file, but variables: a new Saver (over all variables), as TF does.
        assert isinstance(saver, gg.train.Saver) and isinstance(saver2, gg.train.Saver)
        assert [v.name for v in g.get_collection("variables")] == ["tower_1/w:0", "tower_1/b:0",
                                                                   "tower_2/w:0", "tower_2/b:0"]
        assert [t.name for t in g.get_collection("outputs")] == ["tower_1/y:0", "tower_2/y:0"]


def test_variables_are_shared_across_collections_and_work():
    with gg.Graph().as_default():
        _, w, b, _ = _model(resource=True)
        gg.add_to_collection(gg.GraphKeys.MODEL_VARIABLES, w)
        mg = meta_graph.export_meta_graph()
    with gg.Graph().as_default() as g:
        meta_graph.import_meta_graph(mg)
        by_name = {v.name: v for v in g.get_collection("variables")}
        assert g.get_collection("model_variables")[0] is by_name["w:0"]
        assert g.get_collection("trainable_variables")[0] is by_name["w:0"]
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            out = sess.run("y:0", {"x:0": [[1.0, 1.0]]})
    np.testing.assert_allclose(out, [[3.5, 0.0]])


def test_numbers_bytes_any_and_node_lists_restore():
    with gg.Graph().as_default():
        _model()
        gg.add_to_collection("ints", 7)
        gg.add_to_collection("floats", 1.5)
        gg.add_to_collection("notes", b"\x00x")
        a = any_pb2.Any(type_url="type.googleapis.com/x.Y", value=b"\x01")
        gg.add_to_collection("anys", a)
        mg = meta_graph.export_meta_graph()
    with gg.Graph().as_default() as g:
        meta_graph.import_meta_graph(mg, import_scope="s")
        assert g.get_collection("ints") == [7] and g.get_collection("floats") == [1.5]
        assert g.get_collection("notes") == [b"\x00x"] and g.get_collection("anys") == [a]
        assert g.get_collection("train_op")[0] is g.get_operation_by_name("s/reinit")
        assert g.get_collection("outputs")[0] is g.get_tensor_by_name("s/y:0")


def test_restore_collections_predicate_input_map_and_return_elements():
    with gg.Graph().as_default():
        _model()
        mg = meta_graph.export_meta_graph()
    with gg.Graph().as_default() as g:
        x = gg.constant([[1.0, 0.0]], name="my_x")
        _, (y,) = meta_graph.import_scoped_meta_graph_with_return_elements(
            mg, input_map={"x:0": x}, return_elements=["y:0"],
            restore_collections_predicate=lambda key: key != "outputs")
        assert "outputs" not in g.get_all_collection_keys() and g.get_collection("variables")
        assert y.op.inputs[0].op.inputs[0].op.inputs[0] is x
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            np.testing.assert_allclose(sess.run(y), [[1.5, 0.0]])


def _cond_context_bytes():
    ctx = control_flow_pb2.CondContextDef(context_name="cond/cond_text", pred_name="cond/pred_id:0",
                                          pivot_name="cond/switch_t:0", branch=1)
    ctx.values_def.values.extend(["cond/switch_t:0", "x:0"])
    ctx.values_def.external_values["x:0"] = "cond/Switch:1"
    return ctx.SerializeToString(deterministic=True)


def test_raw_control_flow_and_queue_runner_collections_round_trip():
    raw = _cond_context_bytes()
    with gg.Graph().as_default():
        _model()
        mg = meta_graph.export_meta_graph()
    mg.collection_def["cond_context"].bytes_list.value.append(raw)
    mg.collection_def["queue_runners"].bytes_list.value.append(b"\n\x05queue\x12\x03abc")
    with gg.Graph().as_default() as g:
        meta_graph.import_meta_graph(mg)
        assert g.get_collection("cond_context") == [raw]
        again = meta_graph.export_meta_graph()
    assert again.collection_def["cond_context"] == mg.collection_def["cond_context"]
    assert again.collection_def["queue_runners"] == mg.collection_def["queue_runners"]
    # Under an import scope, names inside the context get the scope too (and lose it on a scoped export).
    with gg.Graph().as_default() as g:
        meta_graph.import_meta_graph(mg, import_scope="t")
        scoped = control_flow_pb2.CondContextDef.FromString(g.get_collection("cond_context")[0])
        assert scoped.pred_name == "t/cond/pred_id:0" and list(scoped.values_def.values) == [
            "t/cond/switch_t:0", "t/x:0"]
        assert dict(scoped.values_def.external_values) == {"t/x:0": "t/cond/Switch:1"}
        assert g.get_collection("queue_runners") == [b"\n\x05queue\x12\x03abc"]
        back = meta_graph.export_meta_graph(export_scope="t")
    assert control_flow_pb2.CondContextDef.FromString(
        back.collection_def["cond_context"].bytes_list.value[0]) == control_flow_pb2.CondContextDef.FromString(raw)


def test_enter_frame_names_get_the_import_scope():
    mg = meta_graph_pb2.MetaGraphDef()
    nd = mg.graph_def.node.add(name="while/Enter", op="Enter")
    nd.attr["frame_name"].s = b"while/while_context"
    gd = meta_graph._prepare_graph_def(mg, clear_devices=False, scope="tower")
    assert gd.node[0].attr["frame_name"].s == b"tower/while/while_context"
    assert mg.graph_def.node[0].attr["frame_name"].s == b"while/while_context"  # the caller's proto


def test_export_import_export_is_stable(tmp_path):
    with gg.Graph().as_default():
        _model(resource=True)
        saver = gg.train.Saver()
        gg.add_to_collection("ints", 5)
        first = saver.export_meta_graph(str(tmp_path / "a.meta"))
    with gg.Graph().as_default():
        saver = meta_graph.import_meta_graph(str(tmp_path / "a.meta"))  # the file's Saver: no new ops
        second = saver.export_meta_graph(str(tmp_path / "b.meta"))
    assert first.SerializeToString(deterministic=True) == second.SerializeToString(deterministic=True)
    assert (tmp_path / "a.meta").read_bytes() == (tmp_path / "b.meta").read_bytes()


# -- files ------------------------------------------------------------------------------------------
def test_binary_and_text_files_read_back_the_same(tmp_path):
    with gg.Graph().as_default():
        _model()
        shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)])
        # As TensorFlow packs it (type URLs name TF's package), and as gpugraph's Any.Pack does.
        gg.add_to_collection("anys", any_pb2.Any(type_url="type.googleapis.com/tensorflow.TensorShapeProto",
                                                 value=shape.SerializeToString()))
        ours = any_pb2.Any()
        ours.Pack(shape)
        gg.add_to_collection("anys", ours)
        mg = meta_graph.export_meta_graph(str(tmp_path / "m.meta"))
        meta_graph.export_meta_graph(str(tmp_path / "m.pbtxt"), as_text=True)
    text = (tmp_path / "m.pbtxt").read_text()
    assert "meta_info_def {" in text and "[type.googleapis.com/tensorflow.TensorShapeProto]" in text
    assert meta_graph.read_meta_graph_file(str(tmp_path / "m.meta")) == mg
    assert meta_graph.read_meta_graph_file(tmp_path / "m.pbtxt") == mg
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_unreadable_files_are_named_in_the_error(tmp_path):
    bad = tmp_path / "garbage.meta"
    bad.write_bytes(b"\xff\xfe not a meta graph \x00\x01")
    with pytest.raises(OSError, match="garbage.meta"):
        meta_graph.read_meta_graph_file(str(bad))
    with pytest.raises(OSError, match="does not exist"):
        gg.train.import_meta_graph(str(tmp_path / "missing.meta"))
    with pytest.raises(OSError, match="directory"):
        meta_graph.read_meta_graph_file(str(tmp_path))
    text_bad = tmp_path / "bad.pbtxt"
    text_bad.write_text("meta_info_def { no_such_field_here: [")
    with pytest.raises(OSError, match="bad.pbtxt"):
        meta_graph.read_meta_graph_file(str(text_bad))


def test_save_debug_info_writes_a_debug_file(tmp_path):
    with gg.Graph().as_default():
        _model()
        mg = meta_graph.export_meta_graph(str(tmp_path / "m.meta"), save_debug_info=True)
    from gpugraph.protos import graph_debug_info_pb2
    info = graph_debug_info_pb2.GraphDebugInfo.FromString((tmp_path / "m.debug").read_bytes())
    assert set(info.traces) == {nd.name for nd in mg.graph_def.node}


def test_text_format_of_meta_graph_round_trips():
    with gg.Graph().as_default():
        _model()
        mg = meta_graph.export_meta_graph()
    parsed = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(text_format.MessageToString(mg), parsed)
    assert parsed == mg
