"""Graph, Operation and Tensor: names, scopes, control dependencies, devices, collections."""

import pytest

import gpugraph as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def test_unique_names_and_name_scopes():
    a = tf.constant(1.0, name="a")
    a1 = tf.constant(1.0, name="a")
    assert (a.op.name, a1.op.name) == ("a", "a_1")
    with tf.name_scope("block") as scope:
        assert scope == "block/"
        b = tf.constant(2.0, name="b")
        with tf.name_scope("inner"):
            c = tf.constant(3.0)
    with tf.name_scope("block"):
        d = tf.constant(4.0, name="b")
    assert b.op.name == "block/b"
    assert c.op.name == "block/inner/Const"
    assert d.op.name == "block_1/b"
    assert b.name == "block/b:0"


def test_name_scope_reset_and_absolute():
    with tf.name_scope("outer"):
        with tf.name_scope(None):
            a = tf.constant(1.0, name="root")
        with tf.name_scope("abs/"):
            b = tf.constant(1.0, name="x")
    assert a.op.name == "root"
    assert b.op.name == "abs/x"


def test_name_scope_default_name():
    with tf.name_scope(None, "Default") as s1:
        pass
    with tf.name_scope(None, "Default") as s2:
        pass
    assert (s1, s2) == ("Default/", "Default_1/")


def test_names_are_case_insensitively_unique_like_tf():
    tf.constant(1.0, name="Foo")
    other = tf.constant(1.0, name="foo")
    assert other.op.name == "foo_1"


def test_control_dependencies_and_clearing():
    a = tf.constant(1.0, name="a")
    b = tf.constant(2.0, name="b")
    with tf.control_dependencies([a]):
        c = tf.identity(b, name="c")
        with tf.control_dependencies(None):
            d = tf.identity(b, name="d")
        with tf.control_dependencies([b.op]):
            e = tf.identity(a, name="e")
    assert c.op.control_inputs == [a.op]
    assert d.op.control_inputs == []
    assert set(e.op.control_inputs) == {b.op}  # a is already a data input: no control edge, as TF


def test_control_dependency_skipped_when_input_created_inside_block():
    a = tf.constant(1.0, name="a")
    with tf.control_dependencies([a]):
        inner = tf.constant(2.0, name="inner")
        uses_inner = tf.identity(inner)
    assert inner.op.control_inputs == [a.op]
    assert uses_inner.op.control_inputs == []


def test_device_scopes_merge_inner_wins():
    with tf.device("/job:worker/replica:0/task:1"):
        with tf.device("/gpu:1"):
            a = tf.constant(1.0)
        with tf.device("/cpu:0"):
            b = tf.constant(1.0)
        c = tf.constant(1.0)
    with tf.device("/gpu:0"):
        with tf.device(None):
            d = tf.constant(1.0)
    assert a.device == "/job:worker/replica:0/task:1/device:GPU:1"
    assert b.device == "/job:worker/replica:0/task:1/device:CPU:0"
    assert c.device == "/job:worker/replica:0/task:1"
    assert d.device == ""


def test_device_function():
    with tf.device(lambda op: "/cpu:0" if op.type == "Const" else "/gpu:0"):
        a = tf.constant(1.0)
        b = tf.identity(a)
    assert a.device == "/device:CPU:0"
    assert b.device == "/device:GPU:0"


def test_colocate_with_sets_class_attr_and_device():
    with tf.device("/gpu:0"):
        a = tf.constant(1.0, name="a")
    with tf.device("/cpu:0"):
        with tf.colocate_with(a.op):
            b = tf.identity(a, name="b")
    assert b.op.get_attr("_class") == [b"loc:@a"]
    assert b.device == a.device
    assert b.op.colocation_groups() == [b"loc:@a"]


def test_collections_and_scope_filter():
    a = tf.constant(1.0, name="s1/a")
    b = tf.constant(1.0, name="s2/b")
    tf.add_to_collection("things", a)
    tf.add_to_collections(["things", "other"], b)
    assert tf.get_collection("things") == [a, b]
    assert tf.get_collection("things", scope="s2") == [b]
    ref = tf.get_collection_ref("things")
    ref.append(3)
    assert tf.get_collection("things")[-1] == 3
    assert set(tf.get_all_collection_keys()) == {"things", "other"}
    assert tf.GraphKeys.TRAINABLE_VARIABLES == "trainable_variables"


def test_default_graph_stack_and_reset():
    g = tf.Graph()
    with g.as_default():
        assert tf.get_default_graph() is g
        with pytest.raises(AssertionError):
            tf.reset_default_graph()
    before = tf.get_default_graph()
    tf.reset_default_graph()
    assert tf.get_default_graph() is not before


def test_as_graph_element_and_lookup_errors():
    a = tf.constant(1.0, name="a")
    g = tf.get_default_graph()
    assert g.get_tensor_by_name("a:0") is a
    assert g.get_operation_by_name("a") is a.op
    with pytest.raises(KeyError, match="'b'"):
        g.get_tensor_by_name("b:0")
    with pytest.raises(KeyError, match="has 1 outputs"):
        g.get_tensor_by_name("a:3")
    with pytest.raises(ValueError, match="Tensor"):
        g.get_operation_by_name("a:0")


def test_cross_graph_input_is_rejected():
    g1, g2 = tf.Graph(), tf.Graph()
    with g1.as_default():
        a = tf.constant(1.0)
    with g2.as_default():
        with pytest.raises(ValueError, match="different graph"):
            tf.identity(a)


def test_finalized_graph_refuses_new_ops():
    g = tf.get_default_graph()
    g.finalize()
    with pytest.raises(RuntimeError, match="finalized"):
        tf.constant(1.0)


def test_tensor_is_not_a_bool_and_hashes_by_identity():
    a = tf.constant([1.0, 2.0])
    with pytest.raises(TypeError, match="bool"):
        bool(a)
    assert len({a: 1, tf.identity(a): 2}) == 2
    assert a == a and not (a != a)


def test_set_shape_merges_and_rejects_incompatible():
    x = tf.placeholder(tf.float32, [None, 3])
    x.set_shape([4, None])
    assert x.shape.as_list() == [4, 3]
    with pytest.raises(ValueError, match="cannot set shape"):
        x.set_shape([5, 3])


def test_get_attr_values_and_errors():
    x = tf.placeholder(tf.float32, [2, None], name="x")
    assert x.op.get_attr("dtype") == tf.float32
    assert x.op.get_attr("shape").as_list() == [2, None]
    with pytest.raises(ValueError, match="no attr named 'nope'"):
        x.op.get_attr("nope")
