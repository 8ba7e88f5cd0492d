"""variable_scope / get_variable: reuse rules and TensorFlow's error messages, scope naming, default
initializers, custom getters, regularizers, partitioned variables — graphs compared with TF's."""

import numpy as np
import pytest
from conformance import Case, check
from state_graph_compare import assert_same_graph, build_tf_graph

import gpugraph as tf
from gpugraph.ops.partitioned_variables import PartitionedVariable


def _scoped_values():
    with tf.variable_scope("s", initializer=tf.constant_initializer(0.5)):
        a = tf.get_variable("a", [2, 3])
        b = tf.get_variable("b", [4], dtype=tf.int64, initializer=tf.zeros_initializer())
        c = tf.get_variable("c", initializer=tf.constant([[1.0, 2.0]]))
        d = tf.get_variable("d", [3], dtype=tf.int32, initializer=tf.constant_initializer([4, 5]))
        e = tf.get_variable("e", [2], dtype=tf.float64, initializer=tf.ones_initializer())
    f = tf.get_variable("f", [3], dtype=tf.int32)  # integers default to zeros
    g = tf.get_variable("g", [2, 2], dtype=tf.bool)
    tf.global_variables_initializer()
    return [v.value() for v in (a, b, c, d, e, f, g)]


def _partitioned_values():
    emb = tf.get_variable("emb", [7, 3], initializer=tf.constant_initializer(2.5),
                          partitioner=tf.fixed_size_partitioner(3))
    tf.global_variables_initializer()
    return [tf.convert_to_tensor(emb)] + [p.value() for p in emb]


def _partitioned_from_tensor():
    init = tf.constant(np.arange(12, dtype=np.int32).reshape(4, 3))
    v = tf.get_variable("t", initializer=init, partitioner=tf.fixed_size_partitioner(2, axis=1))
    tf.global_variables_initializer()
    return tf.convert_to_tensor(v)


def _glorot_default():
    w = tf.get_variable("w", [30, 50])
    tf.global_variables_initializer()
    return w.value()


def _check_glorot(ours, theirs):
    limit = np.sqrt(6.0 / 80)
    for v in (ours[0], theirs[0]):
        assert np.abs(v).max() <= limit and abs(v.std() - limit / np.sqrt(3)) < 0.1 * limit


CASES = [
    Case("get_variable_initializers", _scoped_values, init=["init"]),
    Case("partitioned_variable_concat", _partitioned_values, init=["init"]),
    Case("partitioned_from_tensor_axis1", _partitioned_from_tensor, init=["init"]),
    Case("get_variable_default_glorot", _glorot_default, init=["init"], compare="shape_dtype",
         check_values=_check_glorot),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- errors match TensorFlow's -------------------------------------------------------------------
def _error_of(build, module):
    try:
        if module is tf:
            with tf.Graph().as_default():
                build(tf)
        else:
            build_tf_graph(build)
    except (ValueError, TypeError) as e:
        return type(e).__name__, str(e)
    return None


def _already_exists(tf):
    with tf.variable_scope("foo"):
        tf.get_variable("v", [1])
        tf.get_variable("v", [1])


def _does_not_exist(tf):
    with tf.variable_scope("foo", reuse=True):
        tf.get_variable("w", [1])


def _created_with_variable(tf):
    tf.Variable([1.0], name="plain")
    with tf.variable_scope("", reuse=True):
        tf.get_variable("plain", [1])


def _shape_mismatch(tf):
    with tf.variable_scope("foo"):
        tf.get_variable("v", [2])
    with tf.variable_scope("foo", reuse=True):
        tf.get_variable("v", [3])


def _dtype_mismatch(tf):
    with tf.variable_scope("foo"):
        tf.get_variable("v", [2])
    with tf.variable_scope("foo", reuse=True):
        tf.get_variable("v", [2], dtype=tf.int32)


def _constant_with_shape(tf):
    tf.get_variable("v", [2], initializer=tf.constant([1.0, 2.0]))


def _initializer_dtype(tf):
    tf.get_variable("v", initializer=tf.constant([1, 2]), dtype=tf.float32)


def _no_shape(tf):
    tf.get_variable("v")


def _reuse_without_name(tf):
    with tf.variable_scope(None, default_name="x", reuse=True):
        pass


def _bad_reuse(tf):
    tf.variable_scope("x", reuse="yes")


def _bad_partitioner(tf):
    tf.get_variable("p", [4, 4], partitioner=lambda shape, dtype: [2, 2])


def _no_initializer_for_complex(tf):
    tf.get_variable("c", [2], dtype=tf.complex64)


@pytest.mark.tf
@pytest.mark.parametrize("build", [
    _already_exists, _does_not_exist, _created_with_variable, _shape_mismatch, _dtype_mismatch,
    _constant_with_shape, _initializer_dtype, _no_shape, _reuse_without_name, _bad_reuse,
    _bad_partitioner, _no_initializer_for_complex,
], ids=lambda f: f.__name__.strip("_"))
def test_errors_match_tensorflow(build):
    import tensorflow as real_tf
    ours, theirs = _error_of(build, tf), _error_of(build, real_tf)
    assert theirs is not None and ours is not None, (ours, theirs)
    assert ours[0] == theirs[0]
    # TF appends "Originally defined at: <traceback>" to the already-exists error.
    assert theirs[1].startswith(ours[1]) and len(ours[1]) > 30, (ours[1], theirs[1])


def test_already_exists_message():
    with tf.Graph().as_default():
        with tf.variable_scope("foo"):
            tf.get_variable("v", [1])
            with pytest.raises(ValueError, match=r"Variable foo/v already exists, disallowed\. Did you "
                                                 r"mean to set reuse=True or reuse=tf\.AUTO_REUSE"):
                tf.get_variable("v", [1])


# -- reuse semantics ------------------------------------------------------------------------------
def test_reuse_rules():
    with tf.Graph().as_default():
        with tf.variable_scope("a"):
            v = tf.get_variable("v", [1])
        with tf.variable_scope("a", reuse=True):
            assert tf.get_variable("v") is v
            with tf.variable_scope("inner", reuse=False):  # reuse is inherited, False cannot undo it
                assert tf.get_variable_scope().reuse is True
        with tf.variable_scope("a", reuse=tf.AUTO_REUSE):
            assert tf.get_variable("v", [1]) is v
            w = tf.get_variable("w", [2])
            assert tf.get_variable("w", [2]) is w
        with tf.variable_scope("a") as scope:
            assert scope.reuse is False
            scope.reuse_variables()
            assert tf.get_variable("w") is w
        assert tf.get_variable_scope().name == "" and tf.get_variable_scope().reuse is False
        assert [x.name for x in tf.global_variables()] == ["a/v:0", "a/w:0"]


def test_auto_reuse_builds_a_shared_layer():
    def dense(x):
        with tf.variable_scope("dense", reuse=tf.AUTO_REUSE):
            return x * tf.get_variable("scale", [3], initializer=tf.constant_initializer(2.0))

    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [3])
        y = dense(dense(x))
        assert [v.name for v in tf.trainable_variables()] == ["dense/scale:0"]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(y, {x: [1.0, 2.0, 3.0]}), [4.0, 8.0, 12.0])


def test_scope_objects_and_names():
    with tf.Graph().as_default():
        with tf.variable_scope("outer") as outer:
            assert outer.name == "outer" and outer.original_name_scope == "outer/"
            with tf.variable_scope("inner") as inner:
                assert inner.name == "outer/inner"
                c = tf.constant(1.0, name="c")
                assert c.op.name == "outer/inner/c"
        with tf.variable_scope(outer):  # re-entering: same variable names, a fresh name scope
            v = tf.get_variable("v", [1])
            c2 = tf.constant(1.0, name="c")
        assert v.name == "outer/v:0" and c2.op.name == "outer_1/c"
        with tf.variable_scope(None, default_name="layer") as s1:
            pass
        with tf.variable_scope(None, default_name="layer") as s2:
            pass
        assert (s1.name, s2.name) == ("layer", "layer_1")
        with tf.variable_scope("aux", auxiliary_name_scope=False) as aux:
            assert aux.original_name_scope == "" and tf.constant(0.0, name="k").op.name == "k"
        with pytest.raises(TypeError, match="name_or_scope"):
            with tf.variable_scope(3):
                pass


def test_scope_defaults_are_inherited():
    with tf.Graph().as_default():
        with tf.variable_scope("a", initializer=tf.ones_initializer(), dtype=tf.float64):
            with tf.variable_scope("b"):
                v = tf.get_variable("v", [2])
        assert v.dtype.base_dtype == tf.float64
        assert v.initial_value.op.name == "a/b/v/Initializer/ones"


def test_custom_getters_nest():
    calls = []

    def outer_getter(getter, name, *args, **kwargs):
        calls.append(("outer", name))
        return getter(name + "_o", *args, **kwargs)

    def inner_getter(getter, name, *args, **kwargs):
        calls.append(("inner", name))
        return getter(name + "_i", *args, **kwargs)

    with tf.Graph().as_default():
        with tf.variable_scope("s", custom_getter=outer_getter):
            with tf.variable_scope("t", custom_getter=inner_getter):
                v = tf.get_variable("v", [1])
        assert v.name == "s/t/v_i_o:0"
        assert calls == [("inner", "s/t/v"), ("outer", "s/t/v_i")]


def test_get_local_variable_and_collections():
    with tf.Graph().as_default():
        loc = tf.get_local_variable("counter", [], dtype=tf.int64)
        assert loc in tf.local_variables() and loc not in tf.global_variables()
        assert loc not in tf.trainable_variables() and not loc.trainable
        frozen = tf.get_variable("frozen", [1], trainable=False)
        assert frozen in tf.global_variables() and frozen not in tf.trainable_variables()
        with tf.variable_scope("sc") as scope:
            inside = tf.get_variable("x", [1])
        assert scope.global_variables() == [inside] and scope.trainable_variables() == [inside]


def test_regularizer_losses():
    with tf.Graph().as_default():
        with tf.variable_scope("d", regularizer=lambda v: v * 0.5):
            w = tf.get_variable("w", [2])
            tf.get_variable("nr", [2], regularizer=tf.no_regularizer)
        losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
        assert [t.op.name for t in losses] == ["d/w/Regularizer/mul"]
        assert losses[0].op.inputs[0] is w.value()


def test_partitioned_variable():
    with tf.Graph().as_default():
        emb = tf.get_variable("emb", [10, 4], partitioner=tf.fixed_size_partitioner(3))
        assert isinstance(emb, PartitionedVariable) and len(emb) == 3
        assert [p.op.name for p in emb] == ["emb/part_0", "emb/part_1", "emb/part_2"]
        assert [p.shape.as_list() for p in emb] == [[4, 4], [3, 4], [3, 4]]
        assert [p._get_save_slice_info().spec for p in emb] == \
            ["10 4 0,4:0,4", "10 4 4,3:0,4", "10 4 7,3:0,4"]
        assert emb.name == "emb" and emb.get_shape().as_list() == [10, 4]
        with tf.variable_scope("", reuse=True):
            assert tf.get_variable("emb", [10, 4], partitioner=tf.fixed_size_partitioner(3)) is emb
            assert tf.get_variable("emb") is emb
        with pytest.raises(ValueError, match="No partitioner was provided"):
            tf.get_variable("emb", [10, 4])
        parts = emb.assign(np.ones([10, 4], np.float32))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(parts)
            np.testing.assert_array_equal(sess.run(tf.convert_to_tensor(emb)), np.ones([10, 4]))


# -- graphs as TensorFlow builds them ------------------------------------------------------------
def _build_layers(tf):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    for _ in range(2):
        with tf.variable_scope(None, default_name="dense"):
            tf.get_variable("kernel", [3, 3])
            tf.get_variable("bias", [3], initializer=tf.zeros_initializer())
            x = x * 2.0
    with tf.variable_scope("shared", reuse=tf.AUTO_REUSE):
        tf.get_variable("w", [2], initializer=tf.random_normal_initializer(seed=1))
        tf.get_variable("w", [2])
    with tf.variable_scope("outer") as outer:
        tf.get_variable("a", [1])
    with tf.variable_scope(outer, reuse=True):
        tf.get_variable("a", [1])
    with tf.variable_scope(outer):
        tf.get_variable("b", [1], initializer=tf.ones_initializer())
    with tf.name_scope("ns"):
        with tf.variable_scope("vs"):
            tf.get_variable("c", [2, 2], dtype=tf.int32)
            tf.constant(1, name="k")
    with tf.variable_scope("aux", auxiliary_name_scope=False):
        tf.get_variable("d", [1])
    with tf.variable_scope("reg", regularizer=lambda v: v * 0.01):
        tf.get_variable("e", [3])
    tf.get_local_variable("loc", [1])
    with tf.variable_scope("res", use_resource=True):
        tf.get_variable("r", [2, 2])
    tf.get_variable("fromtensor", initializer=tf.constant([1.0, 2.0]))
    tf.get_variable("lam", initializer=lambda: tf.ones([2]))
    tf.global_variables_initializer()


def _build_partitioned(tf):
    tf.get_variable("emb", [10, 4], partitioner=tf.fixed_size_partitioner(3))
    emb2 = tf.get_variable("emb2", [6, 2], initializer=tf.ones_initializer(),
                           partitioner=tf.fixed_size_partitioner(2))
    tf.convert_to_tensor(emb2)
    tf.get_variable("t", initializer=tf.constant(np.arange(12, dtype=np.int32).reshape(4, 3)),
                    partitioner=tf.fixed_size_partitioner(2, axis=1))


@pytest.mark.tf
@pytest.mark.parametrize("build", [
    _build_layers,
    _build_partitioned,
], ids=["layers", "partitioned"])
def test_graph_matches_tensorflow(build):
    assert_same_graph(build)
