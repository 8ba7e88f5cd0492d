"""``tf.compat.v1.Variable`` (ref and resource): node layout against TensorFlow, semantics,
collections, initializer ops, tensor conversion and operators, VariableDef round trips."""

import numpy as np
import pytest
from conformance import Case, check
from state_graph_compare import assert_same_graph, build_tf_graph

import gpugraph as tf
from gpugraph.ops.resource_variable_ops import ResourceVariable
from gpugraph.ops.variables import RefVariable


def _init_all():
    tf.global_variables_initializer()


def _case_arithmetic():
    v = tf.Variable([[1.0, -2.0], [3.0, 4.5]], name="v")
    _init_all()
    return [v + 1.5, 2.0 * v, -v, v - v, v / 2.0, abs(v), v ** 2.0]


def _case_resource_arithmetic():
    v = tf.Variable(np.arange(6, dtype=np.int64).reshape(2, 3), name="v", use_resource=True)
    _init_all()
    return [v + 1, v * v, v.read_value(), v[1]]


def _case_callable_initial_value():
    v = tf.Variable(lambda: tf.constant([[1, 2], [3, 4]], dtype=tf.int32), name="lam")
    _init_all()
    return v.value()


def _case_assign_ops_chain():
    v = tf.Variable(np.float64(1.0), name="x")
    _init_all()
    with tf.control_dependencies([v.assign_add(2.0)]):
        out = v.read_value()
    return out


CASES = [
    Case("variable_operators", _case_arithmetic, init=["init"]),
    Case("resource_variable_operators", _case_resource_arithmetic, init=["init"]),
    Case("callable_initial_value_int32", _case_callable_initial_value, init=["init"]),
    Case("read_value_after_assign_add", _case_assign_ops_chain, init=["init"], runs=3),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- graphs as TensorFlow builds them ------------------------------------------------------------
def _build_ref(tf):
    w = tf.Variable([1.0, 2.0], name="w")
    tf.Variable(tf.zeros([2, 3]), name="z")
    tf.Variable(7, name="count", trainable=False, dtype=tf.int64)
    tf.Variable([1.0, 2.0])  # default name "Variable"
    tf.Variable(3.0)  # "Variable_1"
    with tf.name_scope("block"):
        tf.Variable(lambda: tf.ones([4]), name="lam")
    tf.Variable(np.zeros([3], np.float32), name="noshape", validate_shape=False)
    tf.Variable([1, 2], name="shaped", shape=tf.TensorShape([2]))
    with tf.control_dependencies([w.initializer]):
        tf.Variable([0.0], name="nodeps")  # variables ignore outer control dependencies
    tf.assign(w, [0.0, 0.0])
    tf.assign_add(w, [1.0, 1.0], use_locking=True)
    w.assign_sub([1.0, 1.0], name="dec")
    w.assign([3.0, 4.0], read_value=False)
    w.read_value()
    tf.is_variable_initialized(w)
    tf.global_variables_initializer()
    tf.local_variables_initializer()
    tf.variables_initializer([w], name="just_w")
    tf.assert_variables_initialized([w])


def _build_resource(tf):
    r = tf.Variable([1.0, 2.0], name="r", use_resource=True)
    tf.Variable(lambda: tf.zeros([2, 2]), name="rl", use_resource=True)
    tf.Variable([3], name="rc", use_resource=True, caching_device="/cpu:0")
    r.assign_add([1.0, 1.0])
    r.assign([3.0, 3.0], name="set")
    r.assign_sub([1.0, 1.0], read_value=False)
    r.value()
    r.read_value()
    r.is_initialized()
    tf.assign(r, [0.0, 0.0])
    tf.convert_to_tensor(r) + 1.0
    tf.global_variables_initializer()


def _build_on_devices(tf):
    tf.Variable([5.0], name="cached", caching_device="/cpu:0")
    with tf.device("/cpu:0"):
        v = tf.Variable([0.0], name="oncpu")
        tf.Variable([0.0], name="roncpu", use_resource=True)
    with tf.device("/gpu:0"):
        v.assign([1.0])  # an op with a ref input is colocated with its variable


@pytest.mark.tf
@pytest.mark.parametrize("build", [_build_ref, _build_resource, _build_on_devices],
                         ids=["ref", "resource", "devices"])
def test_graph_matches_tensorflow(build):
    assert_same_graph(build)


@pytest.mark.tf
def test_collections_and_names_match_tensorflow():
    def build(tf):
        tf.Variable([1.0], name="a")
        tf.Variable([1.0], name="b", trainable=False)
        tf.Variable([1.0], name="c", collections=[tf.GraphKeys.LOCAL_VARIABLES])
        tf.Variable([1.0], name="d", collections=[tf.GraphKeys.GLOBAL_VARIABLES,
                                                   tf.GraphKeys.MODEL_VARIABLES])
        with tf.name_scope("s"):
            tf.Variable([1.0], name="e", use_resource=True)
        return {k: [v.name for v in f()] for k, f in (
            ("global", tf.global_variables), ("trainable", tf.trainable_variables),
            ("local", tf.local_variables), ("model", tf.model_variables),
            ("scoped", lambda: tf.global_variables("s/")))}
    g = tf.Graph()
    with g.as_default():
        ours = build(tf)
    _, theirs = build_tf_graph(build)
    assert ours == theirs
    assert ours["trainable"] == ["a:0", "c:0", "d:0", "s/e:0"]


# -- semantics -----------------------------------------------------------------------------------
def test_properties():
    with tf.Graph().as_default() as g:
        with tf.device("/cpu:0"):
            v = tf.Variable(np.zeros([2, 3], np.float32), name="w")
        assert isinstance(v, tf.Variable) and isinstance(v, RefVariable)
        assert v.name == "w:0" and v.op.name == "w" and v.op.type == "VariableV2"
        assert v.dtype == tf.float32_ref and v.dtype.base_dtype == tf.float32
        assert v.shape.as_list() == [2, 3] and v.get_shape().as_list() == [2, 3]
        assert v.initializer.name == "w/Assign" and v.initial_value.name == "w/initial_value:0"
        assert v.value().name == "w/read:0" and v.graph is g
        assert v.device == "/device:CPU:0" and v.trainable
        assert repr(v) == "<gpugraph.Variable 'w:0' shape=(2, 3) dtype=float32_ref>"
        r = tf.Variable([1.0], name="r", use_resource=True)
        assert isinstance(r, tf.Variable) and isinstance(r, ResourceVariable)
        assert r.name == "r:0" and r.dtype == tf.float32 and r.op.type == "VarHandleOp"
        assert r.handle.name == "r:0" and r.initializer.name == "r/Assign"
        assert r.initial_value.name == "r/Initializer/initial_value:0"


def test_eval_load_and_fetch_by_variable():
    with tf.Graph().as_default():
        v = tf.Variable([1.0, 2.0], name="v")
        r = tf.Variable([1, 2], name="r", use_resource=True)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_array_equal(v.eval(), [1.0, 2.0])
            v.load([5.0, 6.0])
            r.load([7, 8], sess)
            np.testing.assert_array_equal(sess.run(v), [5.0, 6.0])
            np.testing.assert_array_equal(sess.run(r), [7, 8])
            np.testing.assert_array_equal(r.eval(), [7, 8])
            np.testing.assert_array_equal(sess.run({"v": v})["v"], [5.0, 6.0])


def test_tensor_conversion():
    with tf.Graph().as_default():
        v = tf.Variable([1.0], name="v")
        assert tf.convert_to_tensor(v) is v.value()
        assert tf.convert_to_tensor(v, as_ref=True) is v._ref()
        with pytest.raises(ValueError, match="int32"):
            tf.convert_to_tensor(v, dtype=tf.int32)
        r = tf.Variable([1.0], name="r", use_resource=True)
        t = tf.convert_to_tensor(r)
        assert t.op.type == "ReadVariableOp" and t.op.inputs[0] is r.handle
        assert tf.convert_to_tensor(r, as_ref=True) is r.handle


def test_variables_hash_by_identity():
    with tf.Graph().as_default():
        a = tf.Variable([1.0], name="a")
        b = tf.Variable([1.0], name="b")
        assert a != b and a == a and len({a, b, a}) == 2


def test_initializer_names():
    with tf.Graph().as_default() as g:
        assert tf.global_variables_initializer().name == "init"  # a NoOp even with no variables
        v = tf.Variable([1.0], name="v")
        tf.Variable([1.0], name="loc", collections=[tf.GraphKeys.LOCAL_VARIABLES])
        init = tf.global_variables_initializer()
        local = tf.local_variables_initializer()
        assert (init.name, local.name) == ("init_1", "init_2")
        assert [c.name for c in init.control_inputs] == ["v/Assign"]
        assert [c.name for c in local.control_inputs] == ["loc/Assign"]
        assert tf.initialize_all_variables().type == "NoOp"
        assert g.get_operation_by_name("init_1") is init and v.initializer in init.control_inputs


def test_initial_value_from_another_variable():
    with tf.Graph().as_default():
        a = tf.Variable([1.0, 2.0], name="a")
        b = tf.Variable(a * 3.0, name="b")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(b), [3.0, 6.0])


def test_validate_shape_false_allows_reshaping_assigns():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, None)
        v = tf.Variable(x, name="free", validate_shape=False)
        assert v.shape.ndims is None
        grow = tf.assign(v, tf.zeros([4, 2]), validate_shape=False)
        with tf.Session() as sess:
            sess.run(v.initializer, {x: [1.0, 2.0]})
            np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
            assert sess.run(grow).shape == (4, 2)


def test_constructor_errors():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="initial_value must be specified"):
            tf.Variable()
        with pytest.raises(ValueError, match="collections"):
            tf.Variable(1.0, collections="variables")
        with pytest.raises(ValueError, match="initial_value must have a shape specified"):
            tf.Variable(tf.placeholder(tf.float32, None))
        with pytest.raises(ValueError, match="constraint"):
            tf.Variable(1.0, constraint=3)
        with pytest.raises(ValueError, match="not compatible"):
            tf.Variable([1.0, 2.0], use_resource=True, shape=[3])
        v = tf.Variable(1.0, name="v")
        with pytest.raises(ValueError, match="mutually exclusive"):
            tf.Variable(1.0, variable_def=v.to_proto())


def test_assert_variables_initialized():
    with tf.Graph().as_default():
        a = tf.Variable([1.0], name="a")
        b = tf.Variable([2.0], name="b", use_resource=True)
        check_init = tf.assert_variables_initialized()
        assert check_init.op.type == "Pack" and check_init.shape.as_list() == [2]
        with tf.Session() as sess:
            assert not sess.run(tf.is_variable_initialized(a))
            with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized value a"):
                sess.run(check_init)
            sess.run(a.initializer)
            assert sess.run(tf.is_variable_initialized(a))
            assert not sess.run(tf.is_variable_initialized(b))
            sess.run(b.initializer)
            np.testing.assert_array_equal(sess.run(check_init), [1, 1])
        with tf.Graph().as_default():
            assert tf.assert_variables_initialized() is None


def test_report_uninitialized_variables():
    with tf.Graph().as_default():
        a = tf.Variable([1.0], name="a")
        tf.Variable([2.0], name="b", use_resource=True)
        report = tf.report_uninitialized_variables()
        with tf.Session() as sess:
            assert list(sess.run(report)) == [b"a", b"b"]
            sess.run(a.initializer)
            assert list(sess.run(report)) == [b"b"]
            sess.run(tf.global_variables_initializer())
            assert list(sess.run(report)) == []
        with tf.Graph().as_default():
            assert list(tf.Session().run(tf.report_uninitialized_variables())) == []


@pytest.mark.tf
def test_report_uninitialized_graph_matches_tensorflow():
    def build(tf):
        tf.Variable([1.0], name="a")
        tf.Variable([2.0], name="b")
        tf.report_uninitialized_variables()
    assert_same_graph(build)


def test_variable_def_round_trip():
    with tf.Graph().as_default() as g:
        with tf.name_scope("outer"):
            v = tf.Variable([1.0, 2.0], name="v", trainable=False)
            r = tf.Variable([3], name="r", use_resource=True)
        pv, pr = v.to_proto(), r.to_proto()
        assert (pv.variable_name, pv.initializer_name, pv.snapshot_name, pv.initial_value_name) == \
            ("outer/v:0", "outer/v/Assign", "outer/v/read:0", "outer/v/initial_value:0")
        assert not pv.trainable and not pv.is_resource
        assert (pr.variable_name, pr.snapshot_name, pr.is_resource, pr.trainable) == \
            ("outer/r:0", "outer/r/Read/ReadVariableOp:0", True, True)
        scoped = v.to_proto(export_scope="outer")
        assert scoped.variable_name == "v:0" and v.to_proto(export_scope="other") is None
        v2 = tf.Variable.from_proto(pv)
        r2 = tf.Variable(variable_def=pr)
        assert isinstance(v2, RefVariable) and isinstance(r2, ResourceVariable)
        assert v2.name == v.name and v2.op is v.op and v2.value() is v.value()
        assert v2.initializer is v.initializer and not v2.trainable
        assert r2.handle is r.handle and r2.dtype == tf.int32 and r2.shape.as_list() == [1]
        assert v2.to_proto() == pv and r2.to_proto() == pr
        # Import into another graph under a scope and rebuild from the exported def.
        with tf.Graph().as_default():
            tf.import_graph_def(g.as_graph_def(), name="imp")
            v3 = tf.Variable.from_proto(scoped, import_scope="imp/outer")
            assert v3.name == "imp/outer/v:0" and v3.value().name == "imp/outer/v/read:0"
            with tf.Session() as sess:
                sess.run(v3.initializer)
                np.testing.assert_array_equal(sess.run(v3), [1.0, 2.0])


@pytest.mark.tf
def test_variable_def_matches_tensorflow():
    def build(tf):
        v = tf.Variable([1.0, 2.0], name="v")
        r = tf.Variable([3], name="r", use_resource=True)
        return v.to_proto().SerializeToString(), r.to_proto().SerializeToString()
    g = tf.Graph()
    with g.as_default():
        ours = build(tf)
    _, theirs = build_tf_graph(build)
    assert ours == theirs


def test_resource_unread_variable():
    with tf.Graph().as_default():
        r = tf.Variable([1.0], name="r", use_resource=True)
        upd = r.assign_add([2.0])
        assert upd.name == "AssignAddVariableOp" and upd.op.type == "AssignAddVariableOp"
        again = upd.assign_add([3.0])  # ordered after the first update
        with tf.Session() as sess:
            sess.run(r.initializer)
            np.testing.assert_array_equal(sess.run(upd), [3.0])
            np.testing.assert_array_equal(sess.run(again), [8.0])
            np.testing.assert_array_equal(sess.run(tf.identity(upd)), [10.0])


def test_resource_variable_scope_and_toggle():
    with tf.Graph().as_default():
        with tf.variable_scope("s", use_resource=True):
            assert isinstance(tf.Variable(1.0, name="a"), ResourceVariable)
        assert isinstance(tf.Variable(1.0, name="b"), RefVariable)
        assert not tf.resource_variables_enabled()
        tf.enable_resource_variables()
        try:
            assert isinstance(tf.Variable(1.0, name="c"), ResourceVariable)
            assert isinstance(tf.get_variable("d", [1]), ResourceVariable)
        finally:
            tf.disable_resource_variables()
        assert isinstance(tf.Variable(1.0, name="e"), RefVariable)


def test_in_place_operators():
    with tf.Graph().as_default():
        v = tf.Variable([1.0], name="v")
        w = v
        w += 1.0  # TF1: a new tensor, the variable is untouched
        assert isinstance(w, tf.Tensor)
        r = tf.Variable([1.0], name="r", use_resource=True)
        with pytest.raises(RuntimeError, match="assign_add"):
            r += 1.0


def test_save_slice_info_spec_and_proto():
    info = tf.Variable.SaveSliceInfo("emb", [10, 4], [3, 0], [4, 4])
    assert info.spec == "10 4 3,4:0,4"
    proto = info.to_proto()
    back = tf.Variable.SaveSliceInfo(save_slice_info_def=proto, import_scope="m")
    assert (back.full_name, back.full_shape, back.var_offset, back.var_shape) == \
        ("m/emb", [10, 4], [3, 0], [4, 4])
