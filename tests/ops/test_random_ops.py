"""Random ops (RandomUniform, RandomStandardNormal, TruncatedNormal, RandomUniformInt): shapes and
dtypes against TensorFlow, distribution statistics, seeding rules (get_seed) and determinism."""

import numpy as np
import pytest
from conformance import Case, check
from state_graph_compare import assert_same_graph

import gpugraph as tf
from gpugraph.framework.op_builder import apply_op

N = 20000


def _stats(kind, lo=None, hi=None, mean=0.0, std=1.0):
    """check_values for a case: both gpugraph's and TensorFlow's samples fit the distribution."""
    def check_values(ours, theirs):
        for values in (ours[0], theirs[0]):
            x = np.asarray(values).astype(np.float64).reshape(-1)
            if kind == "uniform":
                assert x.min() >= lo and x.max() < hi
                assert abs(x.mean() - (lo + hi) / 2) < 0.02 * (hi - lo)
                assert abs(x.std() - (hi - lo) / np.sqrt(12)) < 0.02 * (hi - lo)
            elif kind == "normal":
                assert abs(x.mean() - mean) < 0.05 * std
                assert abs(x.std() - std) < 0.05 * std
            elif kind == "truncated":
                assert np.all(np.abs(x - mean) <= 2 * std * (1 + 1e-3))
                assert abs(x.mean() - mean) < 0.05 * std
                assert abs(x.std() - 0.8796 * std) < 0.05 * std
            elif kind == "int":
                assert x.min() >= lo and x.max() < hi
                assert set(np.unique(x)) == set(range(lo, hi))  # every value is drawn
    return check_values


def _uniform_case(name, dtype, lo=0, hi=1, seed=None, shape=(100, 200)):
    return Case(name, lambda: tf.random_uniform(list(shape), lo, hi, dtype=dtype, seed=seed),
                compare="shape_dtype", check_values=_stats("uniform", lo, hi))


CASES = [
    _uniform_case("uniform_float32_unit", tf.float32),
    _uniform_case("uniform_float64_range", tf.float64, -3.0, 5.0, seed=4),
    _uniform_case("uniform_half", tf.float16, seed=1),
    _uniform_case("uniform_bfloat16", tf.bfloat16, -1.0, 1.0),
    Case("uniform_int64_shape_tensor",
         lambda: apply_op("RandomUniform", shape=tf.constant([40, 500], tf.int64), dtype=tf.float32,
                          seed=3, seed2=9),
         compare="shape_dtype", check_values=_stats("uniform", 0, 1)),
    Case("uniform_empty_shape", lambda: tf.random_uniform([0, 3]), compare="shape_dtype"),
    Case("uniform_scalar", lambda: tf.random_uniform([], seed=2), compare="shape_dtype"),
    Case("normal_float32", lambda: tf.random_normal([N], 2.0, 3.0, seed=5), compare="shape_dtype",
         check_values=_stats("normal", mean=2.0, std=3.0)),
    Case("normal_float64_3d", lambda: tf.random_normal([20, 25, 40], dtype=tf.float64),
         compare="shape_dtype", check_values=_stats("normal")),
    Case("normal_half", lambda: tf.random_normal([N], dtype=tf.float16, seed=7), compare="shape_dtype",
         check_values=_stats("normal")),
    Case("normal_bfloat16", lambda: tf.random_normal([N], dtype=tf.bfloat16, seed=7),
         compare="shape_dtype", check_values=_stats("normal")),
    Case("truncated_float32", lambda: tf.truncated_normal([N], mean=1.0, stddev=0.5, seed=3),
         compare="shape_dtype", check_values=_stats("truncated", mean=1.0, std=0.5)),
    Case("truncated_float64", lambda: tf.truncated_normal([100, 200], dtype=tf.float64),
         compare="shape_dtype", check_values=_stats("truncated")),
    Case("truncated_half", lambda: tf.truncated_normal([N], dtype=tf.float16, seed=8),
         compare="shape_dtype", check_values=_stats("truncated")),
    Case("truncated_bfloat16", lambda: tf.truncated_normal([N], dtype=tf.bfloat16, seed=8),
         compare="shape_dtype", check_values=_stats("truncated")),
    Case("uniform_int32", lambda: tf.random_uniform([N], -3, 7, dtype=tf.int32, seed=1),
         compare="shape_dtype", check_values=_stats("int", -3, 7)),
    Case("uniform_int64", lambda: tf.random_uniform([100, 200], 5, 9, dtype=tf.int64),
         compare="shape_dtype", check_values=_stats("int", 5, 9)),
    Case("uniform_int_empty_allows_bad_range",
         lambda: tf.random_uniform([0], 5, 5, dtype=tf.int32), compare="shape_dtype"),
    Case("uniform_placeholder_shape",
         lambda: tf.random_uniform(tf.placeholder(tf.int32, [2], name="s"), seed=5),
         feeds={"s": np.array([300, 70], np.int32)}, compare="shape_dtype",
         check_values=_stats("uniform", 0, 1)),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- determinism --------------------------------------------------------------------------------
def _run_twice_in_new_sessions(build):
    g = tf.Graph()
    with g.as_default():
        t = build()
    results = []
    for _ in range(2):
        with tf.Session(graph=g) as sess:
            results.append((sess.run(t), sess.run(t)))
    return results


@pytest.mark.parametrize("build", [
    lambda: tf.random_uniform([50], seed=3),
    lambda: tf.random_normal([50], seed=3, dtype=tf.float64),
    lambda: tf.truncated_normal([50], seed=3, dtype=tf.float16),
    lambda: tf.random_uniform([50], 0, 100, dtype=tf.int64, seed=3),
], ids=["uniform", "normal", "truncated", "int"])
def test_same_seed_same_sequence_in_a_new_session(build):
    (a1, a2), (b1, b2) = _run_twice_in_new_sessions(build)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # the generator advances from run to run


def test_graph_seed_alone_is_deterministic():
    def build():
        tf.set_random_seed(1234)
        return tf.random_normal([20])
    (a1, _), (b1, _) = _run_twice_in_new_sessions(build)
    np.testing.assert_array_equal(a1, b1)


def test_unseeded_ops_differ_between_sessions():
    (a1, _), (b1, _) = _run_twice_in_new_sessions(lambda: tf.random_uniform([50]))
    assert not np.array_equal(a1, b1)


def test_different_op_seeds_give_different_values():
    with tf.Graph().as_default():
        a = tf.random_uniform([50], seed=1)
        b = tf.random_uniform([50], seed=2)
        c = tf.random_uniform([50], seed=1)
        with tf.Session() as sess:
            va, vb, vc = sess.run([a, b, c])
    assert not np.array_equal(va, vb)
    np.testing.assert_array_equal(va, vc)  # identical seeds: identical streams, as in TF


def test_half_uniform_stays_below_one():
    with tf.Graph().as_default():
        x = tf.random_uniform([200000], dtype=tf.float16, seed=11)
        with tf.Session() as sess:
            v = sess.run(x)
    assert v.dtype == np.float16 and v.max() < 1.0 and v.min() >= 0.0


# -- seeds --------------------------------------------------------------------------------------
@pytest.mark.tf
def test_get_seed_matches_tensorflow():
    import tensorflow as real_tf
    from tensorflow.python.framework import random_seed

    def sequence(get_seed, set_seed, graph):
        with graph.as_default():
            out = [get_seed(None), get_seed(7)]
            set_seed(42)
            out += [get_seed(None), get_seed(None), get_seed(5), get_seed(2**40)]
            set_seed(0)
            out += [get_seed(0), get_seed(None)]
        return out

    ours = sequence(tf.get_seed, tf.set_random_seed, tf.Graph())
    theirs = sequence(random_seed.get_seed, real_tf.compat.v1.set_random_seed, real_tf.Graph())
    assert ours == [tuple(s) for s in theirs]
    assert ours[1] == (87654321, 7)


@pytest.mark.tf
def test_random_graphs_match_tensorflow():
    def build(tf):
        tf.random_uniform([2, 3], seed=3)
        tf.random_normal([2])
        tf.set_random_seed(3)
        tf.random_uniform([4], maxval=10.0)
        tf.random_uniform([4], minval=1, maxval=10, dtype=tf.int32)
        tf.truncated_normal([3], mean=1.0, stddev=2.0, name="tn")
        tf.random_uniform([5], -1, 1, dtype=tf.float64, seed=0)
        tf.random_normal([], dtype=tf.float16)
    assert_same_graph(build)


# -- errors -------------------------------------------------------------------------------------
def test_random_uniform_bad_dtype_and_missing_maxval():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="invalid value"):
            tf.random_uniform([2], dtype=tf.bool)
        with pytest.raises(ValueError, match="Must specify maxval"):
            tf.random_uniform([2], dtype=tf.int32)
        with pytest.raises(TypeError, match="int32"):  # as TF: the float mean cannot be an int32
            tf.random_normal([2], dtype=tf.int32)
        with pytest.raises(TypeError, match="RandomStandardNormal"):
            tf.random_normal([2], mean=0, stddev=1, dtype=tf.int32)


def test_shape_must_be_a_vector():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="rank 1"):
            apply_op("RandomUniform", shape=tf.constant([[2, 3]]), dtype=tf.float32)
        s = tf.placeholder(tf.int32, None)
        with tf.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match="vector"):
                sess.run(tf.random_uniform(s), {s: [[2]]})
            with pytest.raises(tf.errors.InvalidArgumentError, match="non-negative"):
                sess.run(tf.random_normal(s), {s: [2, -3]})


def test_uniform_int_range_errors():
    with tf.Graph().as_default():
        lo = tf.placeholder(tf.int32, None)
        with pytest.raises(ValueError, match="minval"):
            apply_op("RandomUniformInt", shape=[2], minval=tf.constant([1, 2]), maxval=5)
        x = apply_op("RandomUniformInt", shape=[3], minval=lo, maxval=tf.constant(5))
        with tf.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match="Need minval < maxval: 5 >= 5"):
                sess.run(x, {lo: 5})
            with pytest.raises(tf.errors.InvalidArgumentError, match="minval must be 0-D"):
                sess.run(x, {lo: [1, 2]})


def test_static_shapes():
    with tf.Graph().as_default():
        assert tf.random_uniform([2, 3]).shape.as_list() == [2, 3]
        assert tf.random_normal(tf.TensorShape([4, 1])).shape.as_list() == [4, 1]
        s = tf.placeholder(tf.int32, [3])
        assert tf.truncated_normal(s).shape.as_list() == [None, None, None]
        assert tf.random_uniform(tf.placeholder(tf.int32, None)).shape.ndims is None
