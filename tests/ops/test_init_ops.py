"""Initializers (tf.compat.v1 classes): values against TensorFlow, statistics of the random ones,
configs, fan computation, errors, and node names against TensorFlow's."""

import math

import numpy as np
import pytest
from conformance import Case, check
from state_graph_compare import assert_same_graph

import gpugraph as tf
from gpugraph.ops import init_ops


def _std_check(expected_std, low=None, high=None, bound=None):
    def check_values(ours, theirs):
        for values in (ours[0], theirs[0]):
            x = np.asarray(values, np.float64).reshape(-1)
            assert abs(x.std() - expected_std) < 0.05 * expected_std, (x.std(), expected_std)
            assert abs(x.mean()) < 0.05 * expected_std + 1e-3
            if low is not None:
                assert x.min() >= low and x.max() <= high
            if bound is not None:
                assert np.abs(x).max() <= bound * (1 + 1e-3)
    return check_values


def _init_case(name, init, shape, dtype=None, **kw):
    return Case(name, lambda: init()(shape, dtype=dtype) if dtype is not None else init()(shape), **kw)


CASES = [
    _init_case("zeros_small_float32", tf.zeros_initializer, [3, 4]),
    _init_case("zeros_large_uses_fill", tf.zeros_initializer, [40, 30]),
    _init_case("zeros_int64", lambda: tf.zeros_initializer(tf.int64), [5]),
    _init_case("zeros_bool_large", tf.zeros_initializer, [1000], dtype=tf.bool),
    _init_case("ones_float64_large", tf.ones_initializer, [20, 60], dtype=tf.float64),
    _init_case("ones_int32", tf.ones_initializer, [2, 2], dtype=tf.int32),
    _init_case("ones_half", tf.ones_initializer, [7], dtype=tf.float16),
    _init_case("constant_scalar_broadcast", lambda: tf.constant_initializer(0.25), [3, 2]),
    _init_case("constant_list_exact", lambda: tf.constant_initializer([1, 2, 3, 4, 5, 6]), [2, 3]),
    _init_case("constant_list_padded_with_last", lambda: tf.constant_initializer([1, 2, 3]), [3, 4]),
    _init_case("constant_ndarray_reshaped", lambda: tf.constant_initializer(np.arange(6.0)), [3, 2],
               dtype=tf.float64),
    _init_case("constant_int64", lambda: tf.constant_initializer([7, 8], dtype=tf.int64), [2]),
    _init_case("constant_large_scalar", lambda: tf.constant_initializer(3.0), [50, 40]),
    _init_case("random_uniform_init", lambda: tf.random_uniform_initializer(-2.0, 2.0, seed=1),
               [100, 100], compare="shape_dtype", check_values=_std_check(4 / math.sqrt(12), -2, 2)),
    _init_case("random_normal_init", lambda: tf.random_normal_initializer(0.0, 0.5, seed=1),
               [100, 100], compare="shape_dtype", check_values=_std_check(0.5)),
    _init_case("truncated_normal_init_float64",
               lambda: tf.truncated_normal_initializer(0.0, 2.0, seed=1, dtype=tf.float64), [100, 100],
               compare="shape_dtype", check_values=_std_check(2.0 * 0.8796, bound=4.0)),
    _init_case("glorot_uniform_init", lambda: tf.glorot_uniform_initializer(seed=2), [200, 100],
               compare="shape_dtype",
               check_values=_std_check(math.sqrt(6 / 300) / math.sqrt(3), -math.sqrt(6 / 300),
                                       math.sqrt(6 / 300))),
    _init_case("glorot_normal_init", lambda: tf.glorot_normal_initializer(seed=2), [200, 100],
               compare="shape_dtype", check_values=_std_check(math.sqrt(2 / 300))),
    _init_case("he_normal_conv", lambda: tf.initializers.he_normal(seed=3), [3, 3, 64, 32],
               compare="shape_dtype", check_values=_std_check(math.sqrt(2 / (9 * 64)))),
    _init_case("he_uniform_init", lambda: tf.initializers.he_uniform(seed=3), [300, 50],
               compare="shape_dtype", check_values=_std_check(math.sqrt(2 / 300))),
    _init_case("lecun_normal_init", lambda: tf.initializers.lecun_normal(seed=3), [300, 50],
               compare="shape_dtype", check_values=_std_check(math.sqrt(1 / 300))),
    _init_case("lecun_uniform_init", lambda: tf.initializers.lecun_uniform(seed=3), [300, 50],
               compare="shape_dtype", check_values=_std_check(math.sqrt(1 / 300))),
    _init_case("variance_scaling_fan_out_untruncated",
               lambda: tf.variance_scaling_initializer(3.0, "fan_out", "untruncated_normal", seed=1),
               [50, 400], compare="shape_dtype", check_values=_std_check(math.sqrt(3 / 400))),
    _init_case("uniform_unit_scaling_init", lambda: tf.uniform_unit_scaling_initializer(1.5, seed=1),
               [100, 200], compare="shape_dtype", check_values=_std_check(1.5 / math.sqrt(100))),
    _init_case("variance_scaling_half", lambda: tf.variance_scaling_initializer(seed=5), [100, 200],
               dtype=tf.float16, compare="shape_dtype", check_values=_std_check(math.sqrt(1 / 100))),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def test_zeros_and_ones_use_fill_only_when_large():
    with tf.Graph().as_default():
        small = tf.zeros_initializer()([10, 99])
        large = tf.ones_initializer()([10, 100])
        assert small.op.type == "Const" and small.op.name == "zeros"
        assert large.op.type == "Fill" and large.op.name == "ones"
        assert [t.op.name for t in large.op.inputs] == ["ones/shape_as_tensor", "ones/Const"]
        assert large.shape.as_list() == [10, 100]


def test_constant_initializer_errors():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="Too many elements provided. Needed at most 6, but received 8"):
            tf.constant_initializer(list(range(8)))([2, 3])
        with pytest.raises(TypeError, match=r"Expected Tensor's shape: \(3, 4\), got \(8,\)"):
            tf.constant_initializer(list(range(8)), verify_shape=True)([3, 4])
        with pytest.raises(TypeError, match="Invalid type"):
            tf.constant_initializer({"a": 1})
        with pytest.raises(TypeError, match="int32"):
            tf.constant_initializer(0.5)([2], dtype=tf.int32)


def test_variance_scaling_argument_errors():
    with pytest.raises(ValueError, match="positive"):
        tf.variance_scaling_initializer(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        tf.variance_scaling_initializer(mode="fan_sideways")
    with pytest.raises(ValueError, match="distribution"):
        tf.variance_scaling_initializer(distribution="cauchy")
    with pytest.raises(ValueError, match="floating point"):
        tf.random_normal_initializer(dtype=tf.int32)


@pytest.mark.parametrize("init", [
    tf.zeros_initializer(tf.int32), tf.ones_initializer(), tf.constant_initializer([1, 2]),
    tf.random_uniform_initializer(-1, 2, seed=3), tf.random_normal_initializer(1, 2, seed=4),
    tf.truncated_normal_initializer(0, 3, seed=5), tf.uniform_unit_scaling_initializer(2.0, seed=1),
    tf.variance_scaling_initializer(2.0, "fan_avg", "uniform", seed=6),
    tf.glorot_uniform_initializer(seed=7), tf.glorot_normal_initializer(seed=8),
], ids=lambda i: type(i).__name__)
def test_get_config_round_trip(init):
    config = init.get_config()
    again = type(init).from_config(config)
    assert again.get_config() == config


@pytest.mark.tf
def test_configs_match_tensorflow():
    import tensorflow as real_tf
    t1 = real_tf.compat.v1
    pairs = [(tf.glorot_uniform_initializer(seed=1), t1.glorot_uniform_initializer(seed=1)),
             (tf.initializers.he_normal(seed=2), t1.initializers.he_normal(seed=2)),
             (tf.random_uniform_initializer(), t1.random_uniform_initializer()),
             (tf.constant_initializer(3), t1.constant_initializer(3)),
             (tf.zeros_initializer(), t1.zeros_initializer())]
    for ours, theirs in pairs:
        assert ours.get_config() == theirs.get_config()


def test_compute_fans():
    assert init_ops._compute_fans([]) == (1, 1)
    assert init_ops._compute_fans([7]) == (7, 7)
    assert init_ops._compute_fans([3, 5]) == (3, 5)
    assert init_ops._compute_fans([3, 3, 16, 32]) == (144, 288)
    assert init_ops._compute_fans(tf.TensorShape([2, 4, 6])) == (8, 12)


def test_partition_info_scales_by_the_full_shape():
    class Info:
        full_shape = [1000, 10]

    with tf.Graph().as_default():
        x = tf.variance_scaling_initializer(distribution="uniform", seed=1)([100, 10], partition_info=Info())
        limit = float(x.op.inputs[0].op.inputs[1].op.inputs[0].op.get_attr("value"))
        assert limit == pytest.approx(math.sqrt(3.0 / 1000))


def test_initializer_namespaces():
    assert tf.initializers.zeros is tf.zeros_initializer
    assert tf.initializers.glorot_uniform is tf.glorot_uniform_initializer
    assert tf.initializers.truncated_normal is tf.truncated_normal_initializer
    assert tf.initializers.global_variables is tf.global_variables_initializer
    assert tf.compat.v1.initializers.variance_scaling is tf.variance_scaling_initializer


@pytest.mark.tf
def test_initializer_graphs_match_tensorflow():
    def build(tf):
        tf.zeros_initializer()([3, 4])
        tf.zeros_initializer()([40, 30], dtype=tf.int64)
        tf.ones_initializer()([1000])
        tf.constant_initializer([1, 2, 3])([2, 3])
        tf.random_uniform_initializer(maxval=2.0, seed=1)([4])
        tf.random_normal_initializer(stddev=3.0)([4])
        tf.glorot_uniform_initializer()([3, 5])
        tf.glorot_normal_initializer()([3, 5], dtype=tf.float64)
        tf.variance_scaling_initializer(distribution="untruncated_normal")([3, 5])
        tf.initializers.he_uniform()([2, 2, 3, 4])
    assert_same_graph(build)
