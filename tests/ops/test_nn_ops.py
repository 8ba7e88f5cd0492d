"""Conformance and bad-input tests for gpugraph/ops/nn_ops.py: activations, Softmax/LogSoftmax,
BiasAdd and FusedBatchNorm V1/V2/V3 (training and inference), plus the composed API functions
(batch_normalization, moments, l2_normalize)."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op
from conformance import Case, check, ph

rng = np.random.default_rng(11)
HALF = dict(rtol=2e-3, atol=2e-3)


def f(*shape, dtype=np.float32, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def ints(*shape, dtype=np.int32, low=-9, high=10):
    return rng.integers(low, high, size=shape).astype(dtype)


def positive(*shape):
    return (rng.random(shape) + 0.5).astype(np.float32)


def _unary(name, fn, dtype, shape, values, **kw):
    return Case(name, lambda: fn(ph("x", dtype, [None] + list(shape[1:]))), feeds={"x": values}, **kw)


ACTIVATION_CASES = [
    _unary("relu_f32", gg.nn.relu, gg.float32, (3, 5), f(3, 5)),
    _unary("relu_f64", gg.nn.relu, gg.float64, (2, 3, 4), f(2, 3, 4, dtype=np.float64)),
    _unary("relu_half", gg.nn.relu, gg.float16, (4, 4), f(4, 4, dtype=np.float16)),
    _unary("relu_int32", gg.nn.relu, gg.int32, (3, 4), ints(3, 4)),
    _unary("relu_int64", gg.nn.relu, gg.int64, (5,), ints(5, dtype=np.int64)),
    _unary("relu_int8", gg.nn.relu, gg.int8, (2, 7), ints(2, 7, dtype=np.int8)),
    _unary("relu_uint8", gg.nn.relu, gg.uint8, (2, 3), ints(2, 3, dtype=np.uint8, low=0, high=255)),
    _unary("relu6_f32", gg.nn.relu6, gg.float32, (4, 6), f(4, 6, scale=6.0)),
    _unary("relu6_int32", gg.nn.relu6, gg.int32, (3, 5), ints(3, 5)),
    _unary("relu6_uint8", gg.nn.relu6, gg.uint8, (3, 5), ints(3, 5, dtype=np.uint8, low=0, high=20)),
    _unary("relu6_half", gg.nn.relu6, gg.float16, (3, 5), f(3, 5, dtype=np.float16, scale=6.0)),
    _unary("elu_f32", gg.nn.elu, gg.float32, (4, 5), f(4, 5)),
    _unary("elu_f64", gg.nn.elu, gg.float64, (6,), f(6, dtype=np.float64)),
    _unary("elu_half", gg.nn.elu, gg.float16, (3, 3), f(3, 3, dtype=np.float16), **HALF),
    _unary("selu_f32", gg.nn.selu, gg.float32, (4, 5), f(4, 5)),
    _unary("selu_f64", gg.nn.selu, gg.float64, (2, 2, 2), f(2, 2, 2, dtype=np.float64)),
    _unary("selu_half", gg.nn.selu, gg.float16, (3, 3), f(3, 3, dtype=np.float16), **HALF),
    _unary("softplus_wide_range", gg.nn.softplus, gg.float32, (7,),
           np.array([-40, -15, -1, 0, 1, 15, 40], np.float32)),
    _unary("softplus_f64", gg.nn.softplus, gg.float64, (3, 4), f(3, 4, dtype=np.float64)),
    _unary("softplus_half", gg.nn.softplus, gg.float16, (3, 4), f(3, 4, dtype=np.float16), **HALF),
    Case("activations_special_values", lambda: (lambda x: [
        gg.nn.relu(x), gg.nn.relu6(x), gg.nn.elu(x), gg.nn.selu(x), gg.nn.leaky_relu(x),
        gg.nn.softplus(x)])(ph("x", gg.float32, [6])),
        feeds={"x": np.array([np.nan, -np.inf, np.inf, -1, 0, 7], np.float32)}),
    Case("leaky_relu_alphas", lambda: (lambda x: [gg.nn.leaky_relu(x), gg.nn.leaky_relu(x, 0.01),
                                                  gg.nn.leaky_relu(x, alpha=1.5)])(
        ph("x", gg.float32, [None, 4])), feeds={"x": f(3, 4)}),
    Case("leaky_relu_f64_half", lambda: [gg.nn.leaky_relu(ph("x", gg.float64, [3]), 0.3),
                                         gg.nn.leaky_relu(ph("y", gg.float16, [2, 2]), 0.1)],
         feeds={"x": f(3, dtype=np.float64), "y": f(2, 2, dtype=np.float16)}, **HALF),
]

SOFTMAX_CASES = [
    Case("softmax_2d", lambda: gg.nn.softmax(ph("x", gg.float32, [None, 5])), feeds={"x": f(4, 5)}),
    Case("softmax_large_logits_stable", lambda: gg.nn.softmax(ph("x", gg.float32, [2, 3])),
         feeds={"x": np.array([[1000, 1001, 1002], [-1000, -1000, 5]], np.float32)}),
    Case("softmax_1d_f64", lambda: gg.nn.softmax(ph("x", gg.float64, [6])),
         feeds={"x": f(6, dtype=np.float64)}),
    Case("softmax_3d_half", lambda: gg.nn.softmax(ph("x", gg.float16, [2, 3, 4])),
         feeds={"x": f(2, 3, 4, dtype=np.float16)}, **HALF),
    Case("softmax_axis0_and_dim", lambda: (lambda x: [gg.nn.softmax(x, axis=0),
                                                      gg.nn.softmax(x, dim=1, name="sm"),
                                                      gg.math.softmax(x, axis=-1)])(
        ph("x", gg.float32, [3, 4, 5])), feeds={"x": f(3, 4, 5)}),
    Case("log_softmax_2d", lambda: gg.nn.log_softmax(ph("x", gg.float32, [None, 7])),
         feeds={"x": f(3, 7)}),
    Case("log_softmax_axis1_f64", lambda: gg.nn.log_softmax(ph("x", gg.float64, [2, 3, 4]), axis=1),
         feeds={"x": f(2, 3, 4, dtype=np.float64)}),
    Case("log_softmax_large_half", lambda: [gg.nn.log_softmax(ph("x", gg.float32, [2, 3])),
                                            gg.math.log_softmax(ph("y", gg.float16, [2, 3]))],
         feeds={"x": np.array([[1000, 1001, 1002], [-1000, -1000, 5]], np.float32),
                "y": f(2, 3, dtype=np.float16)}, **HALF),
]


def _bias(name, dtype, shape, data_format=None, **kw):
    channels = shape[1] if data_format and data_format.startswith("NC") else shape[-1]
    np_dtype = np.dtype(dtype.as_numpy_dtype)
    if np_dtype.kind in "iu":
        x, b = ints(*shape, dtype=np_dtype, low=0, high=9), ints(channels, dtype=np_dtype, low=0, high=9)
    elif np_dtype.kind == "c":
        x = (f(*shape) + 1j * f(*shape)).astype(np_dtype)
        b = (f(channels) + 1j * f(channels)).astype(np_dtype)
    else:
        x, b = f(*shape, dtype=np_dtype), f(channels, dtype=np_dtype)
    return Case(name, lambda: gg.nn.bias_add(ph("x", dtype, [None] + list(shape[1:])),
                                             ph("b", dtype, [channels]), data_format=data_format),
                feeds={"x": x, "b": b}, **kw)


BIAS_CASES = [
    _bias("bias_add_2d", gg.float32, (3, 4)),
    _bias("bias_add_nhwc_4d", gg.float32, (2, 3, 5, 4)),
    _bias("bias_add_nchw_4d", gg.float32, (2, 4, 3, 5), "NCHW"),
    _bias("bias_add_nchw_3d_f64", gg.float64, (2, 4, 3), "NCHW"),
    _bias("bias_add_ndhwc_alias", gg.float32, (2, 2, 3, 3, 4), "NDHWC"),
    _bias("bias_add_ncdhw_alias", gg.float32, (2, 4, 2, 3, 3), "NCDHW"),
    _bias("bias_add_half", gg.float16, (3, 5), **HALF),
    _bias("bias_add_int32", gg.int32, (3, 4, 2)),
    _bias("bias_add_int64_nchw", gg.int64, (2, 3, 4), "NCHW"),
    _bias("bias_add_int8_wraps", gg.int8, (4, 3)),
    _bias("bias_add_uint8", gg.uint8, (2, 6)),
    _bias("bias_add_complex64", gg.complex64, (2, 3)),
    Case("bias_add_python_bias", lambda: gg.nn.bias_add(ph("x", gg.float32, [2, 3]), [1.0, 2.0, 3.0]),
         feeds={"x": f(2, 3)}),
]


def _side_outputs(outs, count=5):
    # TF's grappler (remapper) rewrites an inference FusedBatchNorm into Mul/Add when only y has
    # consumers — and then fails to fetch the other outputs; Identity consumers keep the op.
    return [outs[0]] + [gg.identity(t) for t in outs[1:count]]


def _fbn(version, make_x, channels, is_training, data_format="NHWC", factor=1.0, epsilon=0.001,
         stats=True, u_dtype=gg.float32, fetch=5):
    """Builds FusedBatchNorm* on ``make_x()``; fetches y, the side outputs up to ``fetch``."""
    def build():
        x = make_x()
        args = [ph(n, u_dtype, [channels]) for n in ("scale", "offset")]
        if stats:
            args += [ph(n, u_dtype, [channels]) for n in ("mean", "variance")]
        else:
            args += [gg.constant([], u_dtype), gg.constant([], u_dtype)]
        outs = apply_op(version, x=x, scale=args[0], offset=args[1], mean=args[2], variance=args[3],
                        epsilon=epsilon, exponential_avg_factor=factor, data_format=data_format,
                        is_training=is_training)
        return _side_outputs(outs, fetch)
    return build


def _fbn_feeds(shape, channels, stats=True):
    feeds = {"x": f(*shape) + 1.0, "scale": f(channels, scale=1.0), "offset": f(channels, scale=1.0)}
    if stats:
        feeds.update(mean=f(channels, scale=1.0), variance=positive(channels))
    return feeds


def _fbn_case(name, version, shape, is_training, data_format="NHWC", factor=1.0, dtype=np.float32,
              stats=True, **kw):
    channels = shape[1] if data_format.startswith("NC") else shape[-1]
    feeds = _fbn_feeds(shape, channels, stats)
    feeds["x"] = feeds["x"].astype(dtype)
    # The reserve spaces in inference (and reserve_space_3 always) depend on which TF CPU kernel
    # runs (oneDNN copies mean/variance, the reference kernel leaves zeros; gpugraph follows the
    # reference kernel): compare them in training only, and test their values separately.
    fetch = 5 if is_training else 3
    build = _fbn(version, lambda: ph("x", gg.as_dtype(dtype), [None] + list(shape[1:])), channels,
                 is_training, data_format, factor, stats=stats, fetch=fetch)
    return Case(name, build, feeds=feeds, **{"rtol": 1e-4, "atol": 1e-4, **kw})


BATCH_NORM_CASES = [
    _fbn_case("fbn_v3_inference_nhwc", "FusedBatchNormV3", (2, 3, 5, 4), False),
    _fbn_case("fbn_v3_inference_nchw", "FusedBatchNormV3", (2, 4, 3, 5), False, "NCHW"),
    _fbn_case("fbn_v3_training_nhwc", "FusedBatchNormV3", (4, 5, 3, 6), True, stats=False),
    _fbn_case("fbn_v3_training_nchw", "FusedBatchNormV3", (3, 4, 5, 2), True, "NCHW", stats=False),
    _fbn_case("fbn_v3_training_running_average", "FusedBatchNormV3", (4, 3, 3, 5), True, factor=0.3),
    _fbn_case("fbn_v3_inference_ndhwc", "FusedBatchNormV3", (2, 2, 3, 3, 4), False, "NDHWC"),
    _fbn_case("fbn_v3_training_ncdhw", "FusedBatchNormV3", (2, 3, 2, 3, 2), True, "NCDHW", stats=False),
    _fbn_case("fbn_v3_half_inference", "FusedBatchNormV3", (2, 3, 3, 4), False, dtype=np.float16,
              rtol=5e-3, atol=5e-3),
    _fbn_case("fbn_v3_half_training", "FusedBatchNormV3", (4, 3, 3, 4), True, dtype=np.float16,
              stats=False, rtol=5e-3, atol=5e-3),
    _fbn_case("fbn_v2_inference", "FusedBatchNormV2", (2, 3, 3, 4), False),
    _fbn_case("fbn_v2_training_half_nchw", "FusedBatchNormV2", (4, 3, 2, 5), True, "NCHW",
              dtype=np.float16, stats=False, rtol=5e-3, atol=5e-3),
    _fbn_case("fbn_v1_inference", "FusedBatchNorm", (2, 3, 3, 4), False),
    _fbn_case("fbn_v1_training", "FusedBatchNorm", (5, 2, 3, 3), True, stats=False),
    _fbn_case("fbn_v1_training_single_element_per_channel", "FusedBatchNorm", (1, 1, 1, 3), True,
              stats=False),
    Case("fused_batch_norm_api_training",
         lambda: list(gg.nn.fused_batch_norm(ph("x", gg.float32, [None, 4, 4, 3]),
                                             ph("scale", gg.float32, [3]),
                                             ph("offset", gg.float32, [3]))),
         feeds=_fbn_feeds((6, 4, 4, 3), 3, stats=False), rtol=1e-4, atol=1e-4),
    Case("fused_batch_norm_api_inference_nchw",
         lambda: (lambda y, m, v: [y, gg.identity(m), gg.identity(v)])(*gg.nn.fused_batch_norm(
             ph("x", gg.float32, [None, 3, 4, 4]), ph("scale", gg.float32, [3]),
             ph("offset", gg.float32, [3]), ph("mean", gg.float32, [3]),
             ph("variance", gg.float32, [3]), epsilon=1e-5, data_format="NCHW",
             is_training=False)),
         feeds=_fbn_feeds((2, 3, 4, 4), 3), rtol=1e-4, atol=1e-4),
]

CASES = ACTIVATION_CASES + SOFTMAX_CASES + BIAS_CASES + BATCH_NORM_CASES


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- composed API functions (built from math ops) -------------------------------------------------
COMPOSED_CASES = [
    Case("batch_normalization_full", lambda: gg.nn.batch_normalization(
        ph("x", gg.float32, [None, 4]), ph("m", gg.float32, [4]), ph("v", gg.float32, [4]),
        ph("o", gg.float32, [4]), ph("s", gg.float32, [4]), 1e-3),
        feeds={"x": f(3, 4), "m": f(4), "v": positive(4), "o": f(4), "s": f(4)}),
    Case("batch_normalization_no_offset_scale", lambda: gg.nn.batch_normalization(
        ph("x", gg.float64, [2, 3]), ph("m", gg.float64, [3]), ph("v", gg.float64, [3]), None, None,
        0.01), feeds={"x": f(2, 3, dtype=np.float64), "m": f(3, dtype=np.float64),
                      "v": positive(3).astype(np.float64)}),
    Case("moments_keep_dims", lambda: list(gg.nn.moments(ph("x", gg.float32, [None, 3, 4]), [0, 2],
                                                         keep_dims=True)),
         feeds={"x": f(5, 3, 4)}, rtol=1e-5, atol=1e-5),
    Case("moments_squeezed_half", lambda: list(gg.nn.moments(ph("x", gg.float16, [4, 3]), axes=[0])),
         feeds={"x": f(4, 3, dtype=np.float16)}, **HALF),
    Case("l2_normalize_axis_and_dim", lambda: (lambda x: [gg.nn.l2_normalize(x, 1),
                                                          gg.math.l2_normalize(x, dim=0),
                                                          gg.nn.l2_normalize(x)])(
        ph("x", gg.float32, [3, 4])), feeds={"x": f(3, 4)}),
    Case("leaky_relu_int_input_cast", lambda: gg.nn.leaky_relu(ph("x", gg.int32, [5]), 0.5),
         feeds={"x": ints(5)}),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", COMPOSED_CASES, ids=repr)
def test_composed_api(case):
    check(case)


# -- focused tests ------------------------------------------------------------------------------
def _run(build, feeds):
    g = gg.Graph()
    with g.as_default():
        out = build()
    with gg.Session(graph=g) as sess:
        return sess.run(out, {g.get_tensor_by_name(k + ":0"): v for k, v in feeds.items()})


def test_softmax_rows_sum_to_one_for_extreme_logits():
    x = np.array([[3e4, -3e4, 0.0], [-np.inf, 0.0, 0.0]], np.float32)
    y = _run(lambda: gg.nn.softmax(ph("x", gg.float32, [2, 3])), {"x": x})
    np.testing.assert_allclose(y, [[1, 0, 0], [0, 0.5, 0.5]], atol=1e-7)


def test_training_batch_variance_uses_bessel_correction():
    x = f(4, 3, 3, 2) + 2.0
    outs = _run(_fbn("FusedBatchNormV3", lambda: ph("x", gg.float32, [4, 3, 3, 2]), 2, True,
                     stats=False, epsilon=1e-3, fetch=6),
                {"x": x, "scale": np.ones(2, np.float32), "offset": np.zeros(2, np.float32)})
    y, batch_mean, batch_var, saved_mean, saved_var, reserve_3 = outs
    flat = x.reshape(-1, 2).astype(np.float64)
    np.testing.assert_allclose(batch_mean, flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(batch_var, flat.var(0, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(saved_var, flat.var(0), rtol=1e-5)
    np.testing.assert_allclose(y.reshape(-1, 2), (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-3),
                               rtol=1e-4, atol=1e-5)
    # TF's reference CPU kernel (and so gpugraph) returns a scalar zero as reserve_space_3.
    assert reserve_3.shape == () and reserve_3 == 0


def test_inference_reserve_spaces_follow_tf_reference_kernel():
    feeds = _fbn_feeds((2, 3, 3, 4), 4)
    outs = _run(_fbn("FusedBatchNormV3", lambda: ph("x", gg.float32, [2, 3, 3, 4]), 4, False,
                     fetch=6), feeds)
    np.testing.assert_array_equal(outs[1], feeds["mean"])
    np.testing.assert_array_equal(outs[2], feeds["variance"])
    assert (outs[3] == 0).all() and (outs[4] == 0).all() and outs[3].shape == (4,)
    assert outs[5].shape == () and outs[5] == 0


def test_fused_batch_norm_empty_input_gives_nan_statistics():
    outs = _run(_fbn("FusedBatchNormV3", lambda: ph("x", gg.float32, [0, 2, 2, 3]), 3, False),
                {"x": np.zeros((0, 2, 2, 3), np.float32), **_fbn_feeds((0, 2, 2, 3), 3)})
    assert outs[0].shape == (0, 2, 2, 3)
    assert np.isnan(outs[1]).all() and np.isnan(outs[2]).all()
    assert (outs[3] == 0).all() and (outs[4] == 0).all()


def test_fused_batch_norm_static_shapes():
    g = gg.Graph()
    with g.as_default():
        x = ph("x", gg.float32, [None, 3, 4, None])
        outs = apply_op("FusedBatchNormV3", x=x, scale=ph("s", gg.float32, [5]),
                        offset=ph("o", gg.float32, None), mean=gg.constant([], gg.float32),
                        variance=gg.constant([], gg.float32), is_training=True)
        assert outs[0].shape.as_list() == [None, 3, 4, 5]
        assert [t.shape.as_list() for t in outs[1:5]] == [[5]] * 4
        assert outs[5].shape.ndims is None
        unknown = apply_op("FusedBatchNormV2", x=ph("u", gg.float16, None),
                           scale=ph("s2", gg.float32, None), offset=ph("o2", gg.float32, None),
                           mean=ph("m2", gg.float32, [7]), variance=ph("v2", gg.float32, None),
                           is_training=False, data_format="NCHW")
        assert unknown[0].shape.as_list() == [None, 7, None, None]


@pytest.mark.parametrize("build, match", [
    (lambda: apply_op("FusedBatchNormV3", x=ph("x", gg.float32, [2, 3, 4, 5]),
                      scale=ph("s", gg.float32, [4]), offset=ph("o", gg.float32, [5]),
                      mean=ph("m", gg.float32, [5]), variance=ph("v", gg.float32, [5]),
                      is_training=False), r"scale.*\[4\].*\[2, 3, 4, 5\]|4 and 5|5 and 4"),
    (lambda: apply_op("FusedBatchNormV3", x=ph("x", gg.float32, [2, 3, 4, 5]),
                      scale=ph("s", gg.float32, [5]), offset=ph("o", gg.float32, [5]),
                      mean=gg.constant([], gg.float32), variance=gg.constant([], gg.float32),
                      is_training=False), r"5 and 0"),
    (lambda: apply_op("FusedBatchNormV3", x=ph("x", gg.float32, [2, 4, 5]),
                      scale=ph("s", gg.float32, [5]), offset=ph("o", gg.float32, [5]),
                      mean=ph("m", gg.float32, [5]), variance=ph("v", gg.float32, [5])),
     r"rank 4 but is rank 3"),
    (lambda: apply_op("FusedBatchNormV3", x=ph("x", gg.float32, [2, 3, 4, 5]),
                      scale=ph("s", gg.float32, [5]), offset=ph("o", gg.float32, [5]),
                      mean=ph("m", gg.float32, [5]), variance=ph("v", gg.float32, [5]),
                      data_format="NDHWC"), r"rank 5 but is rank 4"),
    (lambda: gg.nn.bias_add(ph("x", gg.float32, [2, 3, 4]), ph("b", gg.float32, [3])),
     r"4 and 3.*\[2,3,4\]|\(2, 3, 4\)"),
    (lambda: gg.nn.bias_add(ph("x", gg.float32, [2, 3]), ph("b", gg.float32, [3, 1])),
     r"rank 1"),
    (lambda: gg.nn.bias_add(ph("x", gg.float32, [4]), ph("b", gg.float32, [4])),
     r"at least rank 2"),
    (lambda: gg.nn.bias_add(ph("x", gg.float32, [2, 4]), ph("b", gg.float32, [4]),
                            data_format="NCHW"), r"at least rank 3"),
    (lambda: gg.nn.softmax(ph("x", gg.float32, [])), r"at least rank 1"),
    (lambda: gg.nn.softmax(ph("x", gg.float32, [2, 3]), axis=2), r"`dim` must be in the range"),
    (lambda: gg.nn.softmax(ph("x", gg.float32, [2, 3]), axis=0, dim=0), r"both"),
])
def test_bad_shapes_raise_value_error_at_build_time(build, match):
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match=match):
            build()


def test_bad_format_and_dtype():
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match="N...C"):
            gg.nn.bias_add(ph("x", gg.float32, [2, 3]), [1.0, 2.0, 3.0], data_format="HWC")
        with pytest.raises(TypeError, match="int32"):
            gg.nn.elu(ph("x", gg.int32, [2]))
        with pytest.raises(TypeError, match="float64"):
            apply_op("FusedBatchNormV3", x=ph("d", gg.float64, [1, 1, 1, 1]), scale=[1.0],
                     offset=[0.0], mean=[0.0], variance=[1.0])
        with pytest.raises(ValueError, match="mean.*variance"):
            gg.nn.fused_batch_norm(ph("y", gg.float32, [1, 2, 2, 3]), [1.0] * 3, [0.0] * 3,
                                   is_training=False)


def test_bias_size_checked_at_run_time():
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"biases.*\[5\].*\[2, 3\]"):
        _run(lambda: gg.nn.bias_add(ph("x", gg.float32, [None, None]), ph("b", gg.float32, [None])),
             {"x": f(2, 3), "b": f(5)})


def test_default_node_names_match_tensorflow():
    g = gg.Graph()
    with g.as_default():
        x = ph("x", gg.float32, [2, 3, 4, 5])
        outs = [gg.nn.relu(x), gg.nn.relu6(x), gg.nn.elu(x), gg.nn.leaky_relu(x), gg.nn.softplus(x),
                gg.nn.softmax(x), gg.nn.log_softmax(x), gg.nn.bias_add(x, f(5)),
                gg.nn.fused_batch_norm(x, f(5), f(5))[0]]
        assert [t.op.name for t in outs] == ["Relu", "Relu6", "Elu", "LeakyRelu", "Softplus",
                                             "Softmax", "LogSoftmax", "BiasAdd",
                                             "FusedBatchNormV3"]
        assert gg.nn.softmax(x, axis=1).op.name == "transpose_1"
        assert gg.nn.relu(x, name="act").op.name == "act"


def test_bfloat16_kernels_match_float32():
    import ml_dtypes
    bf16 = ml_dtypes.bfloat16
    x32 = f(3, 4, 5, 6)
    x16 = x32.astype(bf16)
    b = f(6)

    def build(dtype):
        x = ph("x", dtype, [3, 4, 5, 6])
        bias = gg.constant(b.astype(dtype.as_numpy_dtype))
        return [gg.nn.relu(x), gg.nn.relu6(x), gg.nn.elu(x), gg.nn.selu(x), gg.nn.leaky_relu(x),
                gg.nn.softplus(x), gg.nn.softmax(x), gg.nn.log_softmax(x), gg.nn.bias_add(x, bias),
                gg.nn.fused_batch_norm(x, np.ones(6, np.float32), np.zeros(6, np.float32))[0]]
    ours = _run(lambda: build(gg.bfloat16), {"x": x16})
    reference = _run(lambda: build(gg.float32), {"x": x16.astype(np.float32)})
    for got, want in zip(ours, reference):
        assert got.dtype == bf16
        np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-2, atol=5e-2)
