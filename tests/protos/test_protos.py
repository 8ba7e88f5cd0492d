"""Our protos against TensorFlow's: generated code is current, and every
message is wire- and text-format compatible with TensorFlow's own classes.

Three layers of evidence:

* ``test_generated_bindings_are_current`` reruns protoc and diffs.
* ``test_descriptors_match_tensorflow`` compares every field we declare
  (number, name, type, label, packing, oneof, referenced type) and every enum
  value with TensorFlow's descriptors, and lists the TF fields we leave out.
* The round-trip tests fill every field of every message, serialize, parse
  with TensorFlow's class and compare bytes and text format, both ways.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import sys
import pathlib

import pytest
from google.protobuf import descriptor as _descriptor
from google.protobuf import message_factory, text_format

# TensorFlow is always installed in the test environment (the `test` extra).
from tensorflow.core.framework import (  # noqa: F401  (registers TF's descriptors)
    attr_value_pb2 as tf_attr_value_pb2,
    full_type_pb2 as tf_full_type_pb2,
    function_pb2 as tf_function_pb2,
    graph_debug_info_pb2 as tf_graph_debug_info_pb2,
    graph_pb2 as tf_graph_pb2,
    node_def_pb2 as tf_node_def_pb2,
    op_def_pb2 as tf_op_def_pb2,
    resource_handle_pb2 as tf_resource_handle_pb2,
    tensor_pb2 as tf_tensor_pb2,
    tensor_shape_pb2 as tf_tensor_shape_pb2,
    tensor_slice_pb2 as tf_tensor_slice_pb2,
    types_pb2 as tf_types_pb2,
    variable_pb2 as tf_variable_pb2,
    versions_pb2 as tf_versions_pb2,
)
from tensorflow.core.protobuf import (  # noqa: F401
    config_pb2 as tf_config_pb2,
    control_flow_pb2 as tf_control_flow_pb2,
    meta_graph_pb2 as tf_meta_graph_pb2,
    rewriter_config_pb2 as tf_rewriter_config_pb2,
    saved_model_pb2 as tf_saved_model_pb2,
    saver_pb2 as tf_saver_pb2,
    struct_pb2 as tf_struct_pb2,
    tensor_bundle_pb2 as tf_tensor_bundle_pb2,
    verifier_config_pb2 as tf_verifier_config_pb2,
)
from tensorflow.python.training import checkpoint_state_pb2 as tf_checkpoint_state_pb2  # noqa: F401

REPO = pathlib.Path(__file__).resolve().parents[2]

# Our module name -> TensorFlow's module holding the same messages.
MODULES = {
    "types": tf_types_pb2,
    "tensor_shape": tf_tensor_shape_pb2,
    "resource_handle": tf_resource_handle_pb2,
    "tensor": tf_tensor_pb2,
    "attr_value": tf_attr_value_pb2,
    "full_type": tf_full_type_pb2,
    "node_def": tf_node_def_pb2,
    "op_def": tf_op_def_pb2,
    "function": tf_function_pb2,
    "versions": tf_versions_pb2,
    "graph_debug_info": tf_graph_debug_info_pb2,
    "graph": tf_graph_pb2,
    "tensor_slice": tf_tensor_slice_pb2,
    "variable": tf_variable_pb2,
    "saver": tf_saver_pb2,
    "struct": tf_struct_pb2,
    "meta_graph": tf_meta_graph_pb2,
    "saved_model": tf_saved_model_pb2,
    "tensor_bundle": tf_tensor_bundle_pb2,
    "checkpoint_state": tf_checkpoint_state_pb2,
    "control_flow": tf_control_flow_pb2,
    "config": tf_config_pb2,
    "rewriter_config": tf_rewriter_config_pb2,
    "verifier_config": tf_verifier_config_pb2,
}

# TensorFlow fields we deliberately do not model (deep sub-messages gpugraph
# never reads). They survive a read-modify-write as unknown fields; the test
# below fails if a field goes missing that is not listed here.
OMITTED_FIELDS = {
    "MetaGraphDef.object_graph_def",  # TF2 SavedObjectGraph
    "ConfigProto.rpc_options",
    "ConfigProto.cluster_def",
    "ConfigProto.Experimental.coordination_config",
    "RunOptions.debug_options",
    "RunMetadata.step_stats",
    "RunMetadata.cost_graph",
}

# Every message TensorFlow defines in these files that we leave out entirely.
OMITTED_MESSAGES = {"BatchingOptions"}


def our_module(name):
    return importlib.import_module("gpugraph.protos.%s_pb2" % name)


def tf_name(full_name: str) -> str:
    assert full_name.startswith("gpugraph."), full_name
    return "tensorflow." + full_name[len("gpugraph."):]


def short_name(full_name: str) -> str:
    return full_name.split(".", 1)[1]


def is_map_entry(desc) -> bool:
    return desc.GetOptions().map_entry


def all_messages(desc_container):
    """Yield every message descriptor, nested ones included, skipping map entries."""
    for m in desc_container.message_types_by_name.values():
        yield from _walk(m)


def _walk(m):
    if is_map_entry(m):
        return
    yield m
    for n in m.nested_types:
        yield from _walk(n)


def all_enums(file_desc):
    yield from file_desc.enum_types_by_name.values()
    for m in all_messages(file_desc):
        yield from m.enum_types


OUR_MESSAGES = [
    m for mod in MODULES for m in all_messages(our_module(mod).DESCRIPTOR)
]
OUR_ENUMS = [e for mod in MODULES for e in all_enums(our_module(mod).DESCRIPTOR)]


def tf_descriptor(full_name):
    pool = tf_graph_pb2.DESCRIPTOR.pool
    return pool.FindMessageTypeByName(tf_name(full_name))


def tf_class(full_name):
    return message_factory.GetMessageClass(tf_descriptor(full_name))


def our_class(desc):
    return message_factory.GetMessageClass(desc)


# --------------------------------------------------------------------------
# Generated code is current.


def test_generated_bindings_are_current():
    proc = subprocess.run(
        [sys.executable, str(REPO / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_is_ours_not_tensorflows():
    for mod in MODULES:
        assert our_module(mod).DESCRIPTOR.package == "gpugraph"


def test_every_tf_message_and_enum_in_mirrored_files_exists_here():
    for mod, tf_mod in MODULES.items():
        ours = {short_name(m.full_name) for m in all_messages(our_module(mod).DESCRIPTOR)}
        for m in all_messages(tf_mod.DESCRIPTOR):
            name = short_name(m.full_name)
            if name in OMITTED_MESSAGES:
                continue
            assert name in ours, "%s_pb2 lacks TensorFlow's message %s" % (mod, name)
        our_enums = {short_name(e.full_name) for e in all_enums(our_module(mod).DESCRIPTOR)}
        for e in all_enums(tf_mod.DESCRIPTOR):
            if short_name(e.full_name).split(".")[0] in OMITTED_MESSAGES:
                continue
            assert short_name(e.full_name) in our_enums, "%s_pb2 lacks TensorFlow's enum %s" % (mod, e.full_name)


# --------------------------------------------------------------------------
# Descriptor comparison: the strong structural check.


def _type_ref(field):
    if field.message_type is not None:
        return field.message_type.full_name.split(".", 1)[1]
    if field.enum_type is not None:
        return field.enum_type.full_name.split(".", 1)[1]
    return None


@pytest.mark.tf
@pytest.mark.parametrize("desc", OUR_MESSAGES, ids=lambda d: short_name(d.full_name))
def test_descriptors_match_tensorflow(desc):
    tf_desc = tf_descriptor(desc.full_name)
    for field in desc.fields:
        where = "%s.%s" % (short_name(desc.full_name), field.name)
        tf_field = tf_desc.fields_by_number.get(field.number)
        assert tf_field is not None, "%s = %d is not a TensorFlow field" % (where, field.number)
        assert field.name == tf_field.name, where
        assert field.type == tf_field.type, where
        assert field.is_repeated == tf_field.is_repeated, where
        assert field.is_packed == tf_field.is_packed, where
        assert field.has_presence == tf_field.has_presence, where
        assert field.json_name == tf_field.json_name, where
        assert _type_ref(field) == _type_ref(tf_field), where
        if field.message_type is not None:
            assert is_map_entry(field.message_type) == is_map_entry(tf_field.message_type), where
        ours_oneof = field.containing_oneof and field.containing_oneof.name
        tf_oneof = tf_field.containing_oneof and tf_field.containing_oneof.name
        assert ours_oneof == tf_oneof, where
        assert field.GetOptions().deprecated == tf_field.GetOptions().deprecated, where
    ours = {f.name for f in desc.fields}
    for tf_field in tf_desc.fields:
        qualified = "%s.%s" % (short_name(desc.full_name), tf_field.name)
        assert tf_field.name in ours or qualified in OMITTED_FIELDS, (
            "TensorFlow field %s = %d is missing" % (qualified, tf_field.number)
        )


def test_omitted_fields_are_really_tensorflow_fields():
    # Keeps OMITTED_FIELDS honest: each entry names a field TF has and we lack.
    by_name = {short_name(m.full_name): m for m in OUR_MESSAGES}
    for qualified in OMITTED_FIELDS:
        msg, field = qualified.rsplit(".", 1)
        assert field in tf_descriptor("gpugraph." + msg).fields_by_name, qualified
        assert field not in by_name[msg].fields_by_name, qualified


@pytest.mark.tf
@pytest.mark.parametrize("enum", OUR_ENUMS, ids=lambda e: short_name(e.full_name))
def test_enums_match_tensorflow(enum):
    pool = tf_graph_pb2.DESCRIPTOR.pool
    tf_enum = pool.FindEnumTypeByName(tf_name(enum.full_name))
    ours = {v.name: v.number for v in enum.values}
    theirs = {v.name: v.number for v in tf_enum.values}
    assert ours == theirs


# --------------------------------------------------------------------------
# Round trips with every field populated.

MAX_DEPTH = 4

_SCALARS = {
    _descriptor.FieldDescriptor.TYPE_DOUBLE: lambda r: r.choice([0.5, -1.25, 3e100, 1e-300]),
    _descriptor.FieldDescriptor.TYPE_FLOAT: lambda r: r.choice([0.5, -2.0, 1024.0, 0.125]),
    _descriptor.FieldDescriptor.TYPE_INT64: lambda r: r.choice([1, -1, 2**40, -(2**63)]),
    _descriptor.FieldDescriptor.TYPE_SINT64: lambda r: r.choice([1, -7, 2**50]),
    _descriptor.FieldDescriptor.TYPE_UINT64: lambda r: r.choice([1, 2**64 - 1, 300]),
    _descriptor.FieldDescriptor.TYPE_INT32: lambda r: r.choice([1, -1, 2**31 - 1, 77]),
    _descriptor.FieldDescriptor.TYPE_UINT32: lambda r: r.choice([1, 2**32 - 1, 9]),
    _descriptor.FieldDescriptor.TYPE_FIXED64: lambda r: r.choice([1, 2**64 - 1]),
    _descriptor.FieldDescriptor.TYPE_FIXED32: lambda r: r.choice([1, 0xDEADBEEF]),
    _descriptor.FieldDescriptor.TYPE_BOOL: lambda r: True,
    _descriptor.FieldDescriptor.TYPE_STRING: lambda r: r.choice(["a", "dense/kernel:0", "ünï"]),
    _descriptor.FieldDescriptor.TYPE_BYTES: lambda r: r.choice([b"\x00\xff", b"loc:@v", b"x"]),
}


def _value(field, rng):
    if field.enum_type is not None:
        # Skip 0 so the value shows up in proto3 output.
        return rng.choice([v.number for v in field.enum_type.values if v.number != 0])
    return _SCALARS[field.type](rng)


def fill(msg, rng, depth=0, skip=frozenset()):
    """Set every field of ``msg`` (one member per oneof), recursing to MAX_DEPTH."""
    desc = msg.DESCRIPTOR
    chosen = {o.name: rng.choice(o.fields) for o in desc.oneofs}
    for field in desc.fields:
        qualified = "%s.%s" % (short_name(desc.full_name), field.name)
        if qualified in skip:
            continue
        if field.containing_oneof is not None and chosen[field.containing_oneof.name] is not field:
            continue
        sub = field.message_type
        if sub is not None and is_map_entry(sub):
            key_f, val_f = sub.fields_by_name["key"], sub.fields_by_name["value"]
            target = getattr(msg, field.name)
            for i in range(2):
                key = _value(key_f, rng)
                key = key + str(i) if isinstance(key, str) else 5 + i  # distinct keys
                if val_f.message_type is not None:
                    if depth < MAX_DEPTH:
                        fill(target[key], rng, depth + 1, skip)
                else:
                    target[key] = _value(val_f, rng)
        elif sub is not None:
            if depth >= MAX_DEPTH:
                continue
            if sub.full_name == "google.protobuf.Any":
                # An unresolvable type URL prints identically in both pools.
                any_msg = getattr(msg, field.name) if not field.is_repeated else getattr(msg, field.name).add()
                any_msg.type_url = "type.example.com/not.Registered"
                any_msg.value = b"\x08\x01"
                continue
            if field.is_repeated:
                for _ in range(2):
                    fill(getattr(msg, field.name).add(), rng, depth + 1, skip)
            else:
                fill(getattr(msg, field.name), rng, depth + 1, skip)
        elif field.is_repeated:
            getattr(msg, field.name).extend([_value(field, rng), _value(field, rng)])
        else:
            setattr(msg, field.name, _value(field, rng))
    return msg


def _text(msg):
    return text_format.MessageToString(msg)


@pytest.mark.tf
@pytest.mark.parametrize("desc", OUR_MESSAGES, ids=lambda d: short_name(d.full_name))
def test_ours_to_tensorflow_round_trip(desc):
    for seed in range(3):
        ours = fill(our_class(desc)(), random.Random(seed))
        wire = ours.SerializeToString(deterministic=True)
        theirs = tf_class(desc.full_name).FromString(wire)
        # Every byte was understood: nothing landed in TF's unknown fields.
        assert theirs.SerializeToString(deterministic=True) == wire
        assert _text(theirs) == _text(ours)
        # Text written by us parses in TensorFlow and vice versa.
        assert text_format.Parse(_text(ours), tf_class(desc.full_name)()) == theirs
        assert text_format.Parse(_text(theirs), our_class(desc)()) == ours


@pytest.mark.tf
@pytest.mark.parametrize("desc", OUR_MESSAGES, ids=lambda d: short_name(d.full_name))
def test_tensorflow_to_ours_round_trip(desc):
    for seed in range(3):
        theirs = fill(tf_class(desc.full_name)(), random.Random(100 + seed), skip=OMITTED_FIELDS)
        wire = theirs.SerializeToString(deterministic=True)
        ours = our_class(desc).FromString(wire)
        assert ours.SerializeToString(deterministic=True) == wire
        assert _text(ours) == _text(theirs)


@pytest.mark.tf
def test_unmodelled_tensorflow_fields_survive_read_modify_write():
    tf_meta = tf_meta_graph_pb2.MetaGraphDef()
    tf_meta.graph_def.node.add(name="v", op="VariableV2")
    tf_meta.object_graph_def.nodes.add().children.add(node_id=1, local_name="x")
    tf_cfg = tf_config_pb2.ConfigProto(allow_soft_placement=True)
    tf_cfg.cluster_def.job.add(name="worker").tasks[1] = "host:2222"
    tf_cfg.rpc_options.use_rpc_for_inprocess_master = True

    from gpugraph.protos import config_pb2, meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef.FromString(tf_meta.SerializeToString())
    meta.graph_def.node[0].device = "/device:CPU:0"
    back = tf_meta_graph_pb2.MetaGraphDef.FromString(meta.SerializeToString())
    assert back.object_graph_def == tf_meta.object_graph_def
    assert back.graph_def.node[0].device == "/device:CPU:0"

    cfg = config_pb2.ConfigProto.FromString(tf_cfg.SerializeToString())
    cfg.log_device_placement = True
    back_cfg = tf_config_pb2.ConfigProto.FromString(cfg.SerializeToString())
    assert back_cfg.cluster_def == tf_cfg.cluster_def
    assert back_cfg.rpc_options.use_rpc_for_inprocess_master
    assert back_cfg.allow_soft_placement and back_cfg.log_device_placement


# --------------------------------------------------------------------------
# Hand-written, realistic messages (readable failures for the common cases).


@pytest.mark.tf
def test_realistic_meta_graph_text_matches_tensorflow():
    from gpugraph.protos import meta_graph_pb2, saver_pb2, types_pb2, variable_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.meta_info_def.tensorflow_version = "1.15.0"
    meta.meta_info_def.tags.append("serve")
    op = meta.meta_info_def.stripped_op_list.op.add(name="Const")
    op.output_arg.add(name="output", type_attr="dtype")
    op.attr.add(name="value", type="tensor")
    node = meta.graph_def.node.add(name="c", op="Const", device="/device:CPU:0")
    node.attr["dtype"].type = types_pb2.DT_FLOAT
    node.attr["value"].tensor.dtype = types_pb2.DT_FLOAT
    node.attr["value"].tensor.tensor_shape.dim.add(size=10)
    node.attr["value"].tensor.float_val.append(0.0)
    node.attr["_class"].list.s.append(b"loc:@v")
    meta.graph_def.versions.producer = 27
    meta.saver_def.CopyFrom(
        saver_pb2.SaverDef(
            filename_tensor_name="save/Const:0",
            save_tensor_name="save/control_dependency:0",
            restore_op_name="save/restore_all",
            max_to_keep=5,
            keep_checkpoint_every_n_hours=10000.0,
            version=saver_pb2.SaverDef.V2,
        )
    )
    var = variable_pb2.VariableDef(
        variable_name="v:0", initializer_name="v/Assign", snapshot_name="v/read:0", trainable=True
    )
    meta.collection_def["variables"].bytes_list.value.append(var.SerializeToString())
    meta.collection_def["train_op"].node_list.value.append("train")
    meta.collection_def["steps"].int64_list.value.extend([1, 2])
    sig = meta.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    sig.inputs["x"].name = "x:0"
    sig.inputs["x"].dtype = types_pb2.DT_FLOAT
    sig.inputs["x"].tensor_shape.dim.add(size=-1)
    sig.outputs["sp"].coo_sparse.values_tensor_name = "sp/values:0"
    meta.asset_file_def.add(filename="vocab.txt").tensor_info.name = "asset:0"

    text = text_format.MessageToString(meta)
    theirs = text_format.Parse(text, tf_meta_graph_pb2.MetaGraphDef())
    assert theirs.SerializeToString(deterministic=True) == meta.SerializeToString(deterministic=True)
    tf_var = tf_variable_pb2.VariableDef.FromString(theirs.collection_def["variables"].bytes_list.value[0])
    assert tf_var.snapshot_name == "v/read:0"


@pytest.mark.tf
def test_checkpoint_state_text_file_matches_tensorflow():
    from gpugraph.protos import checkpoint_state_pb2

    text = (
        'model_checkpoint_path: "model-2"\n'
        'all_model_checkpoint_paths: "model-1"\n'
        'all_model_checkpoint_paths: "model-2"\n'
        "all_model_checkpoint_timestamps: 1700000000.5\n"
        "all_model_checkpoint_timestamps: 1700000100.25\n"
        "last_preserved_timestamp: 1699999999.0\n"
    )
    ours = text_format.Parse(text, checkpoint_state_pb2.CheckpointState())
    theirs = text_format.Parse(text, tf_checkpoint_state_pb2.CheckpointState())
    assert text_format.MessageToString(ours) == text_format.MessageToString(theirs)
    assert list(ours.all_model_checkpoint_paths) == ["model-1", "model-2"]


@pytest.mark.tf
def test_bundle_entry_crc_is_fixed32_on_the_wire():
    from gpugraph.protos import tensor_bundle_pb2, types_pb2

    entry = tensor_bundle_pb2.BundleEntryProto(
        dtype=types_pb2.DT_FLOAT, shard_id=0, offset=16, size=40, crc32c=0xA282EAD8
    )
    entry.shape.dim.add(size=10)
    entry.slices.add().extent.add(start=0, length=0)
    wire = entry.SerializeToString()
    assert b"\x35" + (0xA282EAD8).to_bytes(4, "little") in wire  # tag 6, wire type 5
    theirs = tf_tensor_bundle_pb2.BundleEntryProto.FromString(wire)
    assert theirs.crc32c == 0xA282EAD8
    # Extent.length is in a oneof: a length of 0 is still "set".
    assert theirs.slices[0].extent[0].HasField("length")
