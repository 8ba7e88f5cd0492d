"""GraphDef export and import_graph_def: round trips, input_map, return_elements, bad input."""

import numpy as np
import pytest

import gpugraph as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def _small_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        c = tf.constant([[1.0, 2.0]], name="c")
        with tf.device("/gpu:0"):
            y = tf.identity(x, name="y")
        with tf.control_dependencies([c]):
            tf.identity(y, name="z")
    return g


def test_graph_def_round_trip_is_stable():
    gd = _small_graph().as_graph_def()
    g2 = tf.Graph()
    with g2.as_default():
        tf.import_graph_def(gd, name="")
    gd2 = g2.as_graph_def()
    assert gd.SerializeToString(deterministic=True) == gd2.SerializeToString(deterministic=True)
    nodes = {n.name: n for n in gd.node}
    assert list(nodes["z"].input) == ["y", "^c"]
    assert nodes["y"].device == "/device:GPU:0"
    assert gd.versions.producer > 0


def test_import_with_scope_input_map_and_return_elements():
    gd = _small_graph().as_graph_def()
    with tf.Graph().as_default() as g:
        feed = tf.constant([[5.0, 6.0]], name="feed")
        y, z_op = tf.import_graph_def(gd, input_map={"x:0": feed}, return_elements=["y:0", "z"],
                                      name="imp")
        assert y.name == "imp/y:0"
        assert z_op.name == "imp/z"
        assert y.op.inputs[0] is feed
        with tf.Session() as sess:
            np.testing.assert_array_equal(sess.run(y), [[5.0, 6.0]])
        # a second import gets a unique scope
        (y2,) = tf.import_graph_def(gd, input_map={"x": feed}, return_elements=["y:0"], name="imp")
        assert y2.name == "imp_1/y:0"


def test_import_rewrites_colocation_under_scope():
    g = tf.Graph()
    with g.as_default():
        a = tf.constant(1.0, name="a")
        with tf.colocate_with(a):
            tf.identity(a, name="b")
    with tf.Graph().as_default() as g2:
        tf.import_graph_def(g.as_graph_def(), name="s")
        assert g2.get_operation_by_name("s/b").get_attr("_class") == [b"loc:@s/a"]


def test_add_shapes_writes_output_shapes():
    gd = _small_graph().as_graph_def(add_shapes=True)
    y = next(n for n in gd.node if n.name == "y")
    dims = [d.size for d in y.attr["_output_shapes"].list.shape[0].dim]
    assert dims == [-1, 2]


def test_unknown_op_type_names_op_and_node():
    gd = tf.GraphDef()
    gd.node.add(name="mystery", op="FancyNewOp")
    with pytest.raises(ValueError, match="'mystery'.*'FancyNewOp'"):
        tf.import_graph_def(gd)


def test_duplicate_node_names_are_refused():
    gd = _small_graph().as_graph_def()
    gd.node.add().CopyFrom(gd.node[0])
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match=f"two nodes named '{gd.node[0].name}'"):
            tf.import_graph_def(gd)


def test_missing_required_attr_is_named():
    gd = tf.GraphDef()
    gd.node.add(name="c", op="Const")  # no value, no dtype: the first in the OpDef is named, as TF does
    with pytest.raises(ValueError, match="'c' \\(Const\\) is missing required attr 'value'"):
        tf.import_graph_def(gd)


def test_missing_input_node_is_named():
    gd = tf.GraphDef()
    node = gd.node.add(name="y", op="Identity")
    node.input.append("ghost")
    node.attr["T"].type = tf.float32.as_datatype_enum
    with pytest.raises(ValueError, match="'y'.*'ghost'"):
        tf.import_graph_def(gd)


def test_input_dtype_mismatch_is_named():
    gd = tf.GraphDef()
    c = gd.node.add(name="c", op="Const")
    c.attr["dtype"].type = tf.int32.as_datatype_enum
    c.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.int32(1)))
    y = gd.node.add(name="y", op="Identity", input=["c"])
    y.attr["T"].type = tf.float32.as_datatype_enum
    with pytest.raises(ValueError, match="'y'.*int32.*float32"):
        tf.import_graph_def(gd)


def test_malformed_bytes_give_a_clear_error():
    with pytest.raises(ValueError, match="could not parse .* as a GraphDef"):
        tf.import_graph_def(b"\x0a\xff\xff\xff\xff\x0f garbage")


def test_unused_input_map_key_is_an_error():
    gd = _small_graph().as_graph_def()
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="nothere:0"):
            tf.import_graph_def(gd, input_map={"nothere:0": tf.constant(1.0)})


def test_text_format_bytes_are_accepted():
    from google.protobuf import text_format
    gd = _small_graph().as_graph_def()
    with tf.Graph().as_default() as g:
        tf.import_graph_def(text_format.MessageToString(gd).encode(), name="")
        assert g.get_operation_by_name("z").type == "Identity"


def test_unsorted_graph_def_imports_in_dependency_order():
    gd = _small_graph().as_graph_def()
    reordered = tf.GraphDef()
    reordered.versions.CopyFrom(gd.versions)
    reordered.node.extend(reversed(gd.node))
    with tf.Graph().as_default() as g:
        tf.import_graph_def(reordered, name="")
        names = [op.name for op in g.get_operations()]
        assert names.index("x") < names.index("y") < names.index("z")


@pytest.mark.tf
def test_tensorflow_imports_our_graph_def_and_computes_the_same():
    import tensorflow as real_tf
    gd = _small_graph().as_graph_def()
    g = real_tf.Graph()
    with g.as_default():
        real_tf.compat.v1.import_graph_def(real_tf.compat.v1.GraphDef.FromString(gd.SerializeToString()),
                                           name="")
    config = real_tf.compat.v1.ConfigProto(allow_soft_placement=True)
    with real_tf.compat.v1.Session(graph=g, config=config) as sess:
        out = sess.run("z:0", {"x:0": [[3.0, 4.0]]})
    np.testing.assert_array_equal(out, [[3.0, 4.0]])
