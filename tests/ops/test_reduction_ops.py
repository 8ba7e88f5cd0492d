"""Conformance and bad-input tests for gpugraph/ops/reduction_ops.py (Sum, Mean, Max, Min, Prod, All,
Any, ArgMax, ArgMin and the reduce_* / argmax / count_nonzero API). Each case runs in gpugraph and,
from the exported GraphDef, in TensorFlow."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph import errors
from gpugraph.framework.op_builder import apply_op
from conformance import Case, check, ph

rng = np.random.default_rng(99)
bf16 = gg.bfloat16.as_numpy_dtype


def normal(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def ints(*shape, lo=-50, hi=50, dtype=np.int32):
    return rng.integers(lo, hi, size=shape).astype(dtype)


def quarters(*shape, dtype=np.float16):
    """Small multiples of 1/4: sums of a few are exact in half precision, whatever the order."""
    return (rng.integers(-8, 8, size=shape) / 4).astype(dtype)


def reduce_case(name, fn, x, shape="same", **kw):
    """A case reducing one fed placeholder with ``fn(x)`` (which may return a list)."""
    return Case(name, lambda: fn(ph("x", gg.as_dtype(x.dtype), x.shape if shape == "same" else shape)),
                feeds={"x": x}, **kw)


X234 = normal(2, 3, 4)
NAN_ROWS = np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, 2.0], [-1.0, -1.0, 0.5]], np.float32)

CASES = [
    # -- Sum --
    reduce_case("sum_negative_axis_keepdims", lambda x: [gg.reduce_sum(x, -1, keepdims=True),
                                                         gg.reduce_sum(x, axis=[0, -1])], X234),
    reduce_case("sum_all_axes_and_empty_axes", lambda x: [gg.reduce_sum(x), gg.reduce_sum(x, axis=[]),
                                                          gg.reduce_sum(x, axis=[], keepdims=True)],
                ints(3, 5)),
    reduce_case("sum_scalar_axis_v1_aliases", lambda x: [gg.reduce_sum(x, reduction_indices=1, keep_dims=True),
                                                         gg.math.reduce_sum(x, 0)], ints(4, 3, dtype=np.int64)),
    reduce_case("sum_partial_shape", lambda x: gg.reduce_sum(x, axis=1), normal(5, 3, 2), shape=[None, 3, None]),
    reduce_case("sum_unknown_rank", lambda x: [gg.reduce_sum(x), gg.reduce_sum(x, axis=-2, keepdims=True)],
                normal(2, 3, 4), shape=None),
    reduce_case("sum_uint8_int8_wrap", lambda x: [gg.reduce_sum(x), gg.reduce_sum(gg.cast(x, gg.int8), 0)],
                ints(8, lo=100, hi=255, dtype=np.uint8)),
    reduce_case("sum_half_exact", lambda x: [gg.reduce_sum(x, 1), gg.reduce_sum(x)], quarters(4, 6)),
    reduce_case("sum_bfloat16", lambda x: gg.reduce_sum(gg.cast(x, gg.bfloat16), 0),
                quarters(5, 3, dtype=np.float32)),
    reduce_case("sum_complex_f64", lambda x: [gg.reduce_sum(gg.cast(x, gg.complex64), 1), gg.reduce_sum(x, 0)],
                normal(3, 4, dtype=np.float64)),
    Case("sum_fed_axes_int64", lambda: gg.reduce_sum(ph("x", gg.float32, [2, 3, 4]), ph("a", gg.int64, [None])),
         feeds={"x": X234, "a": np.array([2, 0], np.int64)}),
    Case("sum_fed_axes_keepdims", lambda: gg.reduce_sum(ph("x", gg.float32, [2, 3, 4]), ph("a", gg.int32, []),
                                                        keepdims=True),
         feeds={"x": X234, "a": np.int32(-2)}),
    reduce_case("sum_empty_input", lambda x: [gg.reduce_sum(x, 1), gg.reduce_sum(x, 0)],
                np.zeros((3, 0), np.float32)),
    # -- Mean --
    reduce_case("mean_f32_axes", lambda x: [gg.reduce_mean(x, [0, 2]), gg.reduce_mean(x, keepdims=True)], X234),
    reduce_case("mean_int32_truncates_toward_zero", lambda x: [gg.reduce_mean(x, 1), gg.reduce_mean(x)],
                np.array([[-7, 2], [5, 1], [-1, 0], [2**30, 2**30]], np.int32)),
    reduce_case("mean_int8_uint8_accumulate_wide", lambda x: [gg.reduce_mean(x), gg.reduce_mean(gg.cast(x, gg.int8))],
                np.array([200, 100, 101], np.uint8)),
    reduce_case("mean_int64_empty_is_zero", lambda x: gg.reduce_mean(x, 1), np.zeros((2, 0), np.int64)),
    reduce_case("mean_half_f64", lambda x: [gg.reduce_mean(x, 0), gg.reduce_mean(gg.cast(x, gg.float64), -1)],
                quarters(4, 2)),
    reduce_case("mean_complex", lambda x: gg.reduce_mean(gg.cast(x, gg.complex128), 0), normal(3, 2)),
    # -- Max, Min --
    reduce_case("max_min_f32_axes", lambda x: [gg.reduce_max(x, [0, 2]), gg.reduce_min(x, -1, keepdims=True)], X234),
    reduce_case("max_min_nan_propagates", lambda x: [gg.reduce_max(x, 1), gg.reduce_min(x, 0)], NAN_ROWS),
    reduce_case("max_min_ints", lambda x: [gg.reduce_max(x), gg.reduce_min(gg.cast(x, gg.int16), 1),
                                           gg.reduce_max(gg.cast(x, gg.uint8), 0), gg.reduce_min(gg.to_int64(x))],
                ints(3, 4, lo=0, hi=200)),
    reduce_case("max_min_half_bf16", lambda x: [gg.reduce_max(x, 0), gg.reduce_min(gg.cast(x, gg.bfloat16), 1)],
                normal(3, 5, dtype=np.float16)),
    reduce_case("max_min_empty_give_identity", lambda x: [gg.reduce_max(x, 1), gg.reduce_min(x, 1),
                                                          gg.reduce_max(gg.cast(x, gg.int32), 1),
                                                          gg.reduce_min(gg.cast(x, gg.uint8), 1)],
                np.zeros((2, 0), np.float32)),
    # -- Prod --
    reduce_case("prod_f32_f64", lambda x: [gg.reduce_prod(x, 1), gg.reduce_prod(gg.cast(x, gg.float64))],
                normal(3, 4)),
    reduce_case("prod_int_overflow_wraps", lambda x: [gg.reduce_prod(x),
                                                      gg.reduce_prod(gg.to_int64(x), 0, keepdims=True)],
                np.array([2**20, 2**20, 3], np.int32)),
    reduce_case("prod_half_empty", lambda x: [gg.reduce_prod(x, 0), gg.reduce_prod(x, [])], quarters(0, 3)),
    # -- All, Any --
    reduce_case("all_any_axes", lambda x: [gg.reduce_all(x, 1), gg.reduce_any(x, 0, keepdims=True), gg.reduce_all(x),
                                           gg.reduce_any(x, [])],
                rng.random((3, 4)) > 0.3),
    reduce_case("all_any_empty", lambda x: [gg.reduce_all(x, 1), gg.reduce_any(x, 1)], np.zeros((2, 0), bool)),
    # -- ArgMax, ArgMin --
    reduce_case("argmax_ties_first_index", lambda x: [gg.argmax(x, 1), gg.argmin(x, 1), gg.argmax(x),
                                                      gg.argmin(x, 0)],
                np.array([[1, 9, 9, 0], [7, 0, 7, 0], [2, 2, 2, 2]], np.int32)),
    reduce_case("argmax_negative_axis_output_type", lambda x: [gg.argmax(x, -1, output_type=gg.int32),
                                                               gg.argmin(x, axis=-3, output_type=gg.int32),
                                                               gg.argmax(x, dimension=1),
                                                               gg.arg_max(x, 2, output_type=gg.int16)], X234),
    reduce_case("argmax_nan_skipped", lambda x: [gg.argmax(x, 1), gg.argmin(x, 1), gg.argmax(x, 0), gg.argmin(x, 0)],
                np.array([[np.nan, 1.0, 2.0], [1.0, np.nan, 2.0], [np.nan, np.nan, np.nan], [3.0, np.nan, 3.0]],
                         np.float32)),
    reduce_case("argmax_bool_half_uint8", lambda x: [gg.argmax(x, 0), gg.argmin(gg.cast(x, gg.float16), 1),
                                                     gg.argmax(gg.cast(x, gg.uint8), 1)],
                rng.random((3, 5)) > 0.5),
    reduce_case("argmax_vector_and_int64_axis", lambda x: [gg.argmax(x), gg.argmin(x, gg.constant(0, gg.int64)),
                                                           gg.arg_min(gg.to_int64(x), 0)], ints(7)),
    Case("argmax_fed_dimension", lambda: gg.argmax(ph("x", gg.float64, [2, 3, 4]), ph("d", gg.int32, [])),
         feeds={"x": normal(2, 3, 4, dtype=np.float64), "d": np.int32(1)}),
    Case("argmax_int16_axis_tensor_is_cast", lambda: gg.argmax(ph("x", gg.float32, [3, 2]),
                                                               gg.constant(1, gg.int16)),
         feeds={"x": normal(3, 2)}),
    # -- count_nonzero --
    reduce_case("count_nonzero", lambda x: [gg.count_nonzero(x, axis=1),
                                            gg.count_nonzero(x, keepdims=True, dtype=gg.int32),
                                            gg.count_nonzero(input=gg.cast(x, gg.bool), reduction_indices=[0])],
                np.array([[0, 1, 2], [0, 0, 3.5]], np.float32)),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def _build(fn):
    g = gg.Graph()
    with g.as_default():
        return fn()


def test_static_shapes_follow_tensorflow():
    def build():
        x = gg.placeholder(gg.float32, [2, None, 4])
        axis = gg.placeholder(gg.int32, [None])
        return {
            "all": gg.reduce_sum(x).shape.as_list(),
            "keep": gg.reduce_mean(x, [0, -1], keepdims=True).shape.as_list(),
            "fed_keep": gg.reduce_max(x, axis, keepdims=True).shape.as_list(),
            "fed": gg.reduce_max(x, axis).shape.ndims,
            "unknown_rank_all": gg.reduce_sum(gg.placeholder(gg.float32, None)).shape.as_list(),
            "argmax": gg.argmax(x, 1).shape.as_list(),
            "argmax_vec": gg.argmax(gg.placeholder(gg.float32, [5])).shape.as_list(),
            "argmax_fed": gg.argmax(x, gg.placeholder(gg.int32, [])).shape.as_list(),
        }
    got = _build(build)
    assert got == {"all": [], "keep": [1, None, 1], "fed_keep": [None, None, None], "fed": None,
                   "unknown_rank_all": [], "argmax": [2, 4], "argmax_vec": [], "argmax_fed": [None, None]}


def test_node_names_and_axis_constants():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [2, 3], name="x")
        s = gg.reduce_sum(x)
        m = gg.reduce_mean(x, axis=[])
        a = gg.argmax(x, 1)
    assert (s.op.name, s.op.type) == ("Sum", "Sum")
    assert s.op.inputs[1].dtype == gg.int32 and m.op.inputs[1].dtype == gg.int32
    assert (a.op.name, a.dtype) == ("ArgMax", gg.int64)


def test_invalid_axes_at_build_time():
    x = lambda: gg.placeholder(gg.float32, [2, 3])  # noqa: E731
    with pytest.raises(ValueError, match="Invalid reduction dimension 2"):
        _build(lambda: gg.reduce_sum(x(), 2))
    with pytest.raises(ValueError, match="Dimension \\(-3\\) must be in the range"):
        _build(lambda: gg.argmax(x(), -3))
    with pytest.raises(ValueError, match="rank 0"):
        _build(lambda: apply_op("ArgMax", input=x(), dimension=[1]))
    with pytest.raises(ValueError, match="Cannot specify both"):
        _build(lambda: gg.reduce_sum(x(), axis=0, reduction_indices=0))
    with pytest.raises(TypeError, match="axis must be int"):
        _build(lambda: gg.argmax(x(), 1.5))
    with pytest.raises(TypeError):
        _build(lambda: gg.reduce_all(x()))  # All needs bool input


@pytest.mark.parametrize("fetch, feed, message", [
    (lambda x, a: gg.reduce_sum(x, a), np.array([1, -1], np.int32), "duplicate dimension: 1"),
    (lambda x, a: gg.reduce_prod(x, a), np.array([2], np.int32), r"Invalid reduction dimension \(2"),
    (lambda x, a: gg.argmax(x, a[0]), np.array([2], np.int32), r"range \[-2, 2\), but got 2"),
])
def test_invalid_axes_at_run_time(fetch, feed, message):
    g = gg.Graph()
    with g.as_default():
        x = gg.constant(np.ones((2, 3), np.float32))
        a = gg.placeholder(gg.int32, [None])
        out = fetch(x, a)
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match=message):
            sess.run(out, {a: feed})


def test_argmax_of_an_empty_axis():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [None, 3])
        out = gg.argmax(x, 0)
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="Reduction axis 0 is empty"):
            sess.run(out, {x: np.zeros((0, 3), np.float32)})
