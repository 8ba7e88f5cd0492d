"""Conformance and bad-input tests for the elementwise math ops (gpugraph/ops/math_ops.py), Select,
SelectV2, Where and Range (select_ops.py), and MatMul/BatchMatMul*/Einsum (matmul_ops.py). Each case
runs in gpugraph and, from the exported GraphDef, in TensorFlow."""

import math

import numpy as np
import pytest

import gpugraph as gg
from gpugraph import errors
from gpugraph.framework.op_builder import apply_op
from gpugraph.ops import special_math
from conformance import Case, build_graph, check, ph

rng = np.random.default_rng(20240611)
bf16 = gg.bfloat16.as_numpy_dtype


def normal(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def ints(*shape, lo=-20, hi=20, dtype=np.int32):
    return rng.integers(lo, hi, size=shape).astype(dtype)


def cplx(*shape, dtype=np.complex64):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def nonzero_ints(*shape, dtype=np.int32):
    v = ints(*shape, dtype=dtype)
    return np.where(v == 0, 3, v).astype(dtype)


def feed_ph(name, value, shape="same"):
    """A placeholder for ``value`` (static shape = the value's, or ``shape``)."""
    return ph(name, gg.as_dtype(value.dtype), value.shape if shape == "same" else shape)


def binary(name, fn, x, y, x_shape="same", y_shape="same", **kw):
    """A case applying ``fn`` to two fed placeholders."""
    return Case(name, lambda: fn(feed_ph("x", x, x_shape), feed_ph("y", y, y_shape)),
                feeds={"x": x, "y": y}, **kw)


def unary(name, fn, x, shape="same", **kw):
    return Case(name, lambda: fn(feed_ph("x", x, shape)), feeds={"x": x}, **kw)


def raw(op_type, **attrs):
    """An op applied directly (for ops the v1 API never creates, e.g. Div or TruncateMod)."""
    def fn(*inputs):
        names = {"Select": ("condition", "t", "e"), "SelectV2": ("condition", "t", "e"),
                 "MatMul": ("a", "b"), "Where": ("input",), "Conj": ("input",)}
        arg_names = names.get(op_type, ("x", "y")[:len(inputs)])
        return apply_op(op_type, **dict(zip(arg_names, inputs)), **attrs)
    return fn


NEG_INTS = np.array([7, -7, 7, -7, 0, 6, -6, 1], np.int32)
NEG_DIVS = np.array([2, 2, -2, -2, 5, -4, 4, -1], np.int32)
FLOAT_EDGE_X = np.array([7.5, -7.5, 1.0, -1.0, 5.0, -5.0, 0.0, 6.0], np.float64)
FLOAT_EDGE_Y = np.array([2.0, 2.0, 0.1, 0.1, -np.inf, np.inf, -2.0, -3.0], np.float64)
WIDE = np.concatenate([np.linspace(-30, 30, 61), [-0.0, 0.5, 1e-8, -1e-8]]).astype(np.float32)

CASES = [
    # -- broadcasting arithmetic --
    binary("add_broadcast_odd_f32", gg.add, normal(2, 1, 3), normal(4, 1)),
    binary("add_partial_shapes_f64", gg.add, normal(3, 1, dtype=np.float64), normal(1, 5, dtype=np.float64),
           x_shape=[None, 1], y_shape=[1, None]),
    binary("add_unknown_rank_int64", gg.add, ints(2, 3, dtype=np.int64), ints(3, dtype=np.int64),
           x_shape=None),
    binary("add_strings", gg.add, np.array([b"ab", b"c"], dtype=object), np.array([b"!"], dtype=object)),
    binary("add_bfloat16", gg.add, normal(3, 2, dtype=bf16), normal(2, dtype=bf16), rtol=1e-2),
    binary("subtract_uint8_wraps", gg.subtract, ints(5, lo=0, hi=50, dtype=np.uint8),
           np.array([200], np.uint8)),
    binary("subtract_complex128", gg.subtract, cplx(2, 3, dtype=np.complex128), cplx(3, dtype=np.complex128)),
    binary("multiply_half_broadcast", gg.multiply, normal(3, 1, dtype=np.float16),
           normal(1, 4, dtype=np.float16), rtol=1e-3),
    binary("multiply_int8_wraps", gg.multiply, ints(6, lo=-128, hi=127, dtype=np.int8),
           ints(6, lo=-128, hi=127, dtype=np.int8)),
    binary("multiply_uint64", gg.multiply, ints(4, lo=0, hi=2**40, dtype=np.uint64),
           ints(4, lo=0, hi=2**30, dtype=np.uint64)),
    binary("realdiv_f32_broadcast", gg.realdiv, normal(2, 3), normal(3) + 3),
    binary("realdiv_complex64", gg.realdiv, cplx(4), cplx(4)),
    binary("div_int32_truncates", raw("Div"), NEG_INTS, NEG_DIVS),
    binary("div_int64_and_uint16", raw("Div"), NEG_INTS.astype(np.int64) * 1000003, NEG_DIVS.astype(np.int64)),
    binary("div_uint16", raw("Div"), ints(5, lo=0, hi=60000, dtype=np.uint16),
           ints(5, lo=1, hi=300, dtype=np.uint16)),
    binary("div_float_half", raw("Div"), normal(4, dtype=np.float16), normal(4, dtype=np.float16) + 4,
           rtol=1e-3),
    binary("tf_div_ints_floors", gg.div, NEG_INTS, NEG_DIVS),
    binary("tf_div_floats", gg.div, normal(3), normal(3) + 5),
    binary("floordiv_int32_negative", gg.floordiv, NEG_INTS, NEG_DIVS),
    binary("floordiv_int64_int8", gg.floor_div, NEG_INTS.astype(np.int8), np.int8(3) * np.ones(1, np.int8)),
    binary("floordiv_float_edges", gg.floordiv, FLOAT_EDGE_X, FLOAT_EDGE_Y),
    binary("floormod_int32_negative", gg.floormod, NEG_INTS, NEG_DIVS),
    binary("floormod_float_edges", gg.mod, FLOAT_EDGE_X, FLOAT_EDGE_Y),
    binary("floormod_half", gg.floormod, normal(6, dtype=np.float16) * 10, normal(6, dtype=np.float16) + 3,
           rtol=1e-3, atol=1e-2),
    binary("truncatediv_ints_and_floats", gg.truncatediv, NEG_INTS.astype(np.int64), NEG_DIVS.astype(np.int64)),
    binary("truncatediv_float", gg.truncatediv, FLOAT_EDGE_X[:4], FLOAT_EDGE_Y[:4]),
    binary("truncatemod_int32", gg.truncatemod, NEG_INTS, NEG_DIVS),
    binary("truncatemod_float", gg.truncatemod, normal(5) * 10, normal(5) + 4),
    binary("div_no_nan", gg.div_no_nan, normal(2, 3), np.array([0.0, 2.0, -0.5], np.float32)),
    binary("maximum_nan_f32", gg.maximum, np.array([np.nan, 1.0, -2.0], np.float32),
           np.array([1.0, np.nan, -3.0], np.float32)),
    binary("minimum_uint16_broadcast", gg.minimum, ints(3, 4, lo=0, hi=1000, dtype=np.uint16),
           ints(4, lo=0, hi=1000, dtype=np.uint16)),
    binary("maximum_bfloat16", gg.maximum, normal(5, dtype=bf16), normal(5, dtype=bf16)),
    binary("pow_f32", gg.pow, np.abs(normal(2, 3)) + 0.1, normal(3)),
    binary("pow_int32_nonneg", gg.pow, ints(6, lo=-5, hi=6), ints(6, lo=0, hi=7)),
    binary("pow_int64_overflow_wraps", gg.pow, np.array([3, -2], np.int64), np.array([50, 63], np.int64)),
    binary("pow_complex128", gg.pow, cplx(3, dtype=np.complex128), cplx(3, dtype=np.complex128)),
    binary("pow_half", gg.pow, np.abs(normal(4, dtype=np.float16)) + 0.5, np.float16([2, 0.5, -1, 3]),
           rtol=2e-3),
    binary("squared_difference_f32", gg.squared_difference, normal(2, 3), normal(2, 1)),
    binary("squared_difference_int64", gg.squared_difference, ints(4, dtype=np.int64), ints(1, dtype=np.int64)),
    binary("squared_difference_complex", gg.squared_difference, cplx(3), cplx(3)),
    Case("add_n_partial_shapes", lambda: gg.add_n([ph("a", gg.float32, [None, 3]), ph("b", gg.float32, [2, None]),
                                                   ph("c", gg.float32, None)]),
         feeds={"a": normal(2, 3), "b": normal(2, 3), "c": normal(2, 3)}),
    Case("add_n_int32_and_half", lambda: [gg.add_n([ph("a", gg.int32, [3]), ph("b", gg.int32, [3])]),
                                          gg.add_n([ph("c", gg.float16, [2]), ph("d", gg.float16, [2]),
                                                    ph("e", gg.float16, [2])])],
         feeds={"a": ints(3), "b": ints(3), "c": normal(2, dtype=np.float16),
                "d": normal(2, dtype=np.float16), "e": normal(2, dtype=np.float16)}, rtol=1e-3),
    Case("scalar_mul", lambda: gg.scalar_mul(2.5, ph("x", gg.float64, [2, 2])),
         feeds={"x": normal(2, 2, dtype=np.float64)}),
    # -- bitwise (through operators on integers) --
    binary("bitwise_and_or_xor", lambda x, y: [x & y, x | y, x ^ y, ~x], ints(5, lo=-100, hi=100),
           ints(5, lo=-100, hi=100)),
    binary("bitwise_uint8", lambda x, y: [x & y, ~y], ints(4, lo=0, hi=255, dtype=np.uint8),
           ints(4, lo=0, hi=255, dtype=np.uint8)),
    # -- comparisons and logic --
    binary("equal_broadcast_f32", gg.equal, np.array([[1.0, 2.0, np.nan]], np.float32),
           np.array([[1.0], [2.0], [np.nan]], np.float32)),
    binary("not_equal_int64", gg.not_equal, ints(3, 4, lo=0, hi=3, dtype=np.int64),
           ints(4, lo=0, hi=3, dtype=np.int64)),
    binary("equal_strings", gg.equal, np.array([b"a", b"b"], dtype=object), np.array([b"a"], dtype=object)),
    binary("equal_bool", gg.equal, np.array([True, False]), np.array([[True], [False]])),
    binary("equal_incompatible_static", raw("Equal", incompatible_shape_error=False), normal(3), normal(4)),
    binary("not_equal_incompatible_dynamic", raw("NotEqual", incompatible_shape_error=False), normal(2, 3),
           normal(4), x_shape=[None, None]),
    binary("equal_lenient_but_compatible", raw("Equal", incompatible_shape_error=False),
           np.array([[1.0, 2.0, 3.0]], np.float32), np.array([1.0, 5.0, 3.0], np.float32), x_shape=[None, 3]),
    binary("less_half_broadcast", gg.less, normal(2, 3, dtype=np.float16), normal(3, dtype=np.float16)),
    binary("less_equal_uint8", gg.less_equal, ints(6, lo=0, hi=5, dtype=np.uint8),
           ints(6, lo=0, hi=5, dtype=np.uint8)),
    binary("greater_int64", gg.greater, ints(2, 2, lo=-3, hi=3, dtype=np.int64),
           ints(2, lo=-3, hi=3, dtype=np.int64)),
    binary("greater_equal_f64_nan", gg.greater_equal, np.array([1.0, np.nan, 3.0]), np.array([1.0, 1.0, 4.0])),
    binary("logical_ops", lambda x, y: [gg.logical_and(x, y), gg.logical_or(x, y), gg.logical_not(x),
                                        gg.logical_xor(x, y)],
           rng.random((3, 4)) > 0.5, rng.random((4,)) > 0.5),
    # -- unary --
    unary("negative_int8_f32", lambda x: [gg.negative(x), -gg.cast(x, gg.float32)],
          ints(5, lo=-127, hi=127, dtype=np.int8)),
    unary("negative_complex", gg.negative, cplx(3)),
    unary("abs_int64_intmin", gg.abs, np.array([-5, 0, 7, -2**63], np.int64)),
    unary("abs_half_bf16", lambda x: [gg.abs(x), gg.abs(gg.cast(x, gg.bfloat16))], normal(6, dtype=np.float16)),
    unary("abs_complex_is_complex_abs", gg.abs, cplx(2, 3, dtype=np.complex128)),
    unary("square_uint16_int32", lambda x: [gg.square(x), gg.square(gg.cast(x, gg.int32))],
          ints(5, lo=0, hi=400, dtype=np.uint16)),
    unary("square_complex_half", lambda x: [gg.square(gg.cast(x, gg.complex64)), gg.square(gg.cast(x, gg.float16))],
          normal(4) * 100, rtol=1e-3),
    unary("sqrt_rsqrt_f32", lambda x: [gg.sqrt(x), gg.rsqrt(x)], np.abs(normal(2, 5)) + 1e-3),
    unary("sqrt_rsqrt_edges_f64", lambda x: [gg.sqrt(x), gg.rsqrt(x)], np.array([-1.0, 0.0, 4.0, np.inf])),
    unary("sqrt_half_complex", lambda x: [gg.sqrt(x), gg.sqrt(gg.cast(x, gg.complex128)),
                                          gg.rsqrt(gg.cast(x, gg.complex64))],
          normal(5, dtype=np.float16), rtol=1e-3),
    unary("exp_log_log1p_f32", lambda x: [gg.exp(x), gg.log(gg.abs(x)), gg.log1p(gg.abs(x))], normal(3, 4)),
    unary("exp_log_complex64", lambda x: [gg.exp(x), gg.log(x), gg.log1p(x)], cplx(4)),
    unary("exp_log_half_bf16", lambda x: [gg.exp(x), gg.log(gg.abs(x)), gg.log1p(gg.cast(gg.abs(x), gg.bfloat16))],
          normal(5, dtype=np.float16), rtol=1e-2),
    unary("tanh_sigmoid_f32_wide", lambda x: [gg.tanh(x), gg.sigmoid(x), gg.nn.sigmoid(x), gg.nn.tanh(x)], WIDE),
    unary("tanh_sigmoid_f64_tails", lambda x: [gg.tanh(x), gg.sigmoid(x)],
          np.array([-800, -40, -5, 0, 5, 40, 800.0])),
    unary("tanh_sigmoid_half_complex", lambda x: [gg.tanh(x), gg.sigmoid(x), gg.sigmoid(gg.cast(x, gg.complex64))],
          np.linspace(-6, 6, 13).astype(np.float16), rtol=2e-3, atol=1e-3),
    unary("erf_erfc_f32", lambda x: [gg.erf(x), gg.erfc(x), gg.math.erf(x)],
          np.linspace(-5, 5, 401).astype(np.float32),
          rtol=1e-6, atol=1e-7),
    unary("erf_erfc_f64", lambda x: [gg.erf(x), gg.erfc(x)], np.linspace(-8, 27, 700), rtol=1e-13, atol=1e-300),
    unary("erf_erfc_half_bf16", lambda x: [gg.erf(x), gg.erfc(gg.cast(x, gg.bfloat16))],
          np.linspace(-3, 3, 25).astype(np.float16), rtol=1e-2, atol=1e-3),
    unary("floor_ceil_half_f64", lambda x: [gg.floor(x), gg.ceil(x), gg.floor(gg.cast(x, gg.float64)),
                                            gg.ceil(gg.cast(x, gg.bfloat16))],
          (normal(7) * 5).astype(np.float16)),
    unary("round_half_to_even", lambda x: [gg.round(x), gg.round(gg.cast(x, gg.float16)),
                                           gg.round(gg.cast(x, gg.float64))],
          np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -7.49], np.float32)),
    unary("sign_int64_f32_nan", lambda x: [gg.sign(x), gg.sign(gg.cast(x, gg.int64))],
          np.array([-2.5, 0.0, 3.0, np.nan, -0.0, -np.inf], np.float32)),
    unary("sign_complex", gg.sign, np.array([3 + 4j, 0j, -2j], np.complex128)),
    unary("reciprocal_f32_complex", lambda x: [gg.reciprocal(x), gg.reciprocal(gg.cast(x, gg.complex64))],
          normal(6) + 0.5),
    unary("conj", gg.conj, cplx(2, 2)),
    # -- casts --
    unary("cast_float_to_ints_truncates", lambda x: [gg.cast(x, gg.int32), gg.cast(x, gg.int64), gg.to_int32(x),
                                                    gg.cast(x, gg.int8), gg.cast(x, gg.uint8)],
          np.array([-2.7, -0.5, 0.5, 1.9, 100.99, 300.7, -2.5], np.float32)),
    unary("cast_to_and_from_bool", lambda x: [gg.cast(x, gg.bool), gg.cast(gg.cast(x, gg.bool), gg.float16),
                                              gg.cast(gg.cast(x, gg.bool), gg.int64)],
          np.array([-1.5, 0.0, np.nan, 2.0, -0.0], np.float32)),
    unary("cast_complex_real_parts", lambda x: [gg.cast(x, gg.float32), gg.cast(x, gg.complex128),
                                                gg.cast(x, gg.int32)],
          cplx(4) * 10),
    unary("cast_widen_narrow_ints", lambda x: [gg.cast(x, gg.int8), gg.cast(x, gg.uint16), gg.to_double(x),
                                               gg.to_float(x), gg.to_int64(x), gg.cast(x, gg.complex64)],
          np.array([300, -200, 70000, -1, 2**31 - 1], np.int64)),
    unary("cast_float_narrowing_rounds_and_truncates", lambda x: [
        gg.cast(x, gg.float16), apply_op("Cast", x=x, DstT=gg.float16, Truncate=True),
        gg.cast(x, gg.bfloat16), apply_op("Cast", x=x, DstT=gg.bfloat16, Truncate=True),
        apply_op("Cast", x=gg.cast(x, gg.float64) * (1 + 2**-30), DstT=gg.float32, Truncate=True)],
        np.array([1.0009765625 + 2**-12, 1.00390625 + 2**-9, 65519.0, 1e-7, -3.3, np.nan], np.float32),
        rtol=0, atol=0),
    # -- Select, SelectV2, Where --
    Case("select_elementwise_and_scalar", lambda: (lambda t, e: [
        gg.where(ph("c", gg.bool, [2, 3]), t, e), gg.where(ph("s", gg.bool, []), t, e)])(
            ph("t", gg.float32, [2, 3]), ph("e", gg.float32, [None, 3])),
        feeds={"c": rng.random((2, 3)) > 0.5, "s": np.array(False), "t": normal(2, 3), "e": normal(2, 3)}),
    Case("select_vector_condition_rows", lambda: gg.where(ph("c", gg.bool, [None]), ph("t", gg.int64, [3, 2, 2]),
                                                          ph("e", gg.int64, [3, 2, None])),
         feeds={"c": np.array([True, False, True]), "t": ints(3, 2, 2, dtype=np.int64),
                "e": ints(3, 2, 2, dtype=np.int64)}),
    Case("select_strings", lambda: gg.where(ph("c", gg.bool, [2]), ph("t", gg.string, [2]), ph("e", gg.string, [2])),
         feeds={"c": np.array([True, False]), "t": np.array([b"a", b"b"], dtype=object),
                "e": np.array([b"c", b"d"], dtype=object)}),
    Case("select_v2_broadcasts", lambda: (lambda c: [
        gg.where_v2(c, ph("t", gg.float16, [3]), ph("e", gg.float16, [])),
        gg.where_v2(c, 1, ph("i", gg.int32, [None, 4]))])(ph("c", gg.bool, [2, 1])),
        feeds={"c": np.array([[True], [False]]), "t": normal(3, dtype=np.float16), "e": np.float16(-1),
               "i": ints(2, 4)}),
    Case("where_coordinates", lambda: (lambda c: [gg.where(c), gg.where_v2(c),
                                                  raw("Where")(ph("f", gg.float32, None))])(
        ph("c", gg.bool, [None, 3])),
         feeds={"c": rng.random((4, 3)) > 0.5, "f": np.array([[0.0, 1.5], [-2.0, 0.0]], np.float32)}),
    # -- Range --
    Case("range_ints_negative_delta", lambda: [gg.range(10, 1, -3), gg.range(5), gg.range(-3, 4, 2, dtype=gg.int64),
                                               gg.range(3, 3)]),
    Case("range_floats", lambda: [gg.range(0.0, 1.0, 0.1), gg.range(0.3, 7.1, 0.7), gg.range(1, 2, 0.25),
                                  gg.range(5.0, 0.0, -1.5, dtype=gg.float64),
                                  gg.range(0, 3, 0.5, dtype=gg.bfloat16)]),
    Case("range_fed_limits", lambda: [gg.range(ph("a", gg.int32, []), ph("b", gg.int32, []), 2),
                                      gg.range(ph("f", gg.float32, []))],
         feeds={"a": np.int32(-3), "b": np.int32(6), "f": np.float32(4.5)}),
    # -- MatMul, BatchMatMul, Einsum --
    binary("matmul_f32", gg.matmul, normal(4, 3), normal(3, 5), x_shape=[None, 3]),
    *[binary(f"matmul_transpose_{ta:d}{tb:d}",
             lambda x, y, ta=ta, tb=tb: gg.matmul(x, y, transpose_a=ta, transpose_b=tb),
             normal(*((3, 4) if ta else (4, 3)), dtype=np.float64),
             normal(*((5, 3) if tb else (3, 5)), dtype=np.float64))
      for ta in (False, True) for tb in (False, True)],
    binary("matmul_int32_int64", lambda x, y: [gg.matmul(x, y), gg.matmul(gg.to_int64(x), gg.to_int64(y))],
           ints(2, 3), ints(3, 2)),
    binary("matmul_half_bf16", lambda x, y: [gg.matmul(x, y),
                                             gg.matmul(gg.cast(x, gg.bfloat16), gg.cast(y, gg.bfloat16))],
           normal(3, 8, dtype=np.float16), normal(8, 2, dtype=np.float16), rtol=2e-2, atol=2e-2),
    binary("matmul_complex_adjoint", lambda x, y: [gg.matmul(x, y, adjoint_a=True),
                                                   gg.matmul(x, y, transpose_a=True)],
           cplx(3, 2), cplx(3, 4)),
    binary("matmul_operator", lambda x, y: [x @ y, [[1.0, 2.0, 3.0, 4.0]] @ x], normal(4, 4), normal(4, 2)),
    binary("batch_matmul_v1", raw("BatchMatMul", adj_y=True), normal(2, 3, 4), normal(2, 5, 4)),
    binary("batch_matmul_v1_complex_adj", raw("BatchMatMul", adj_x=True), cplx(2, 4, 3), cplx(2, 4, 2)),
    binary("batch_matmul_v2_broadcast", gg.matmul, normal(5, 1, 2, 3), normal(7, 3, 4), x_shape=[None, 1, 2, 3]),
    binary("batch_matmul_v2_transposes", lambda x, y: gg.matmul(x, y, transpose_a=True, transpose_b=True),
           normal(2, 3, 4, dtype=np.float64), normal(1, 5, 3, dtype=np.float64)),
    binary("batch_matmul_v2_int16_unknown_rank", lambda x, y: gg.matmul(x, y), ints(2, 2, 3, dtype=np.int16),
           ints(3, 2, dtype=np.int16), x_shape=None),
    binary("batch_matmul_v3_int8_to_int32", lambda x, y: gg.matmul(x, y, output_type=gg.int32),
           ints(2, 3, 8, lo=-128, hi=127, dtype=np.int8), ints(8, 2, lo=-128, hi=127, dtype=np.int8)),
    binary("einsum_matmul", lambda x, y: gg.einsum("ij,jk->ik", x, y), normal(3, 4), normal(4, 5)),
    binary("einsum_batch_matmul", lambda x, y: [gg.einsum("bij,bjk->bik", x, y), gg.linalg.einsum("bij,bjk", x, y)],
           normal(2, 3, 4), normal(2, 4, 5)),
    unary("einsum_single_input", lambda x: [gg.einsum("ii->i", x), gg.einsum("ii", x), gg.einsum("ij->ji", x),
                                            gg.einsum("ij->", x), gg.einsum("ij->j", x)],
          normal(3, 3, dtype=np.float64)),
    binary("einsum_outer_and_dot", lambda x, y: [gg.einsum("i,j->ij", x, y), gg.einsum("i,i->", x, x)],
           normal(3), normal(4)),
    binary("einsum_ellipsis", lambda x, y: [gg.einsum("...ij,jk->...ik", x, y), gg.einsum("bij,jk->bik", x, y)],
           normal(5, 2, 3), normal(3, 4), x_shape=[None, 2, 3]),
    binary("einsum_ellipsis_broadcast", lambda x, y: gg.einsum("...ij,...jk->...ik", x, y), normal(5, 1, 2, 3),
           normal(7, 3, 4)),
    binary("einsum_int32_half", lambda x, y: [gg.einsum("ij,jk->ik", x, y),
                                              gg.einsum("ij,jk->ik", gg.cast(x, gg.float16), gg.cast(y, gg.float16))],
           ints(2, 3, lo=-4, hi=4), ints(3, 4, lo=-4, hi=4)),
    Case("einsum_three_inputs", lambda: gg.einsum("ij,jk,kl->il", ph("a", gg.float32, [2, 3]),
                                                  ph("b", gg.float32, [3, 4]),
                                                  ph("c", gg.float32, [4, 5])),
         feeds={"a": normal(2, 3), "b": normal(3, 4), "c": normal(4, 5)}, rtol=1e-4),
    # -- operator overloads --
    binary("operators_float", lambda x, y: [x + y, x - y, x * y, x / y, x // y, x % y, x ** 2, -x, abs(x),
                                            x < y, x <= y, x > y, x >= y, 2.0 - x, 3.0 / y, 1.5 * x, 2.0 ** x],
           normal(2, 3), normal(3) + 4),
    binary("operators_int_truediv_casts", lambda x, y: [x / y, x // y, x % y, 7 // y, 1 + x, x ** 2],
           NEG_INTS, NEG_DIVS),
    binary("operators_bool", lambda x, y: [x & y, x | y, x ^ y, ~x, x * y], np.array([True, True, False, False]),
           np.array([True, False, True, False])),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- NumPy-only checks (behaviour TensorFlow does not define, or has no CPU kernel for) -------------
def _run(fetches, feeds=None):
    with gg.Session() as sess:
        return sess.run(fetches, feeds)


def test_erf_matches_math_erf_to_double_precision():
    x = np.concatenate([np.linspace(-27, 27, 20001), np.geomspace(1e-300, 0.5, 200),
                        -np.geomspace(1e-20, 6, 200), [0.0, -0.0, np.inf, -np.inf]])
    want_erf = np.array([math.erf(v) for v in x])
    want_erfc = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(special_math.erf(x), want_erf, rtol=2e-15, atol=1e-300)
    np.testing.assert_allclose(special_math.erfc(x), want_erfc, rtol=4e-15, atol=1e-300)
    assert np.isnan(special_math.erf(np.array([np.nan]))).all()
    assert np.isnan(special_math.erfc(np.array([np.nan]))).all()


def test_integer_round_is_identity_and_reciprocal_truncates():
    # TF's CPU Round kernel returns 0 for integers and it has no integer Reciprocal kernel; the
    # API never builds them (round() returns integer tensors as is). Ours compute the exact values.
    g = gg.Graph()
    with g.as_default():
        x = gg.constant([3, -2, 0, 7], gg.int32)
        r = apply_op("Round", x=x)
        q = gg.reciprocal(gg.constant([2, 1, -1, -3], gg.int64))
        assert gg.round(x) is x
        with gg.Session() as sess:
            rv, qv = sess.run([r, q])
    np.testing.assert_array_equal(rv, [3, -2, 0, 7])
    np.testing.assert_array_equal(qv, [0, 1, -1, 0])
    assert qv.dtype == np.int64


def test_add_of_string_scalars():
    # (Not a conformance case: TensorFlow fetches a scalar string as bytes, we as a 0-d object array.)
    g = gg.Graph()
    with g.as_default():
        out = gg.add(gg.constant(b"ab"), gg.placeholder(gg.string, [], name="s"))
        with gg.Session() as sess:
            value = sess.run(out, {"s:0": np.array(b"!", dtype=object)})
    assert np.asarray(value).reshape(()).item() == b"ab!"


def test_operator_node_names_and_types_match_tensorflow():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [2], name="x")
        i = gg.placeholder(gg.int32, [2], name="i")
        b = gg.placeholder(gg.bool, [2], name="b")
        m = gg.placeholder(gg.float32, [2, 2], name="m")
        outs = {"add": x + 1, "radd": 1 + x, "sub": x - 1, "mul": x * 2, "truediv": i / 2, "floordiv": i // 2,
                "mod": i % 2, "pow": x ** 2, "and": b & b, "neg": -x, "abs": abs(x), "lt": x < 1,
                "invert": ~b, "matmul": m @ m}
    got = {k: (v.op.name, v.op.type) for k, v in outs.items()}
    assert got["add"] == ("add", "AddV2")
    assert got["radd"] == ("add_1", "AddV2")
    assert got["sub"] == ("sub", "Sub")
    assert got["mul"] == ("mul", "Mul")
    assert got["truediv"] == ("truediv", "RealDiv") and outs["truediv"].dtype == gg.float64
    assert got["floordiv"] == ("floordiv", "FloorDiv")
    assert got["mod"] == ("mod", "FloorMod")
    assert got["pow"] == ("pow", "Pow")
    assert got["and"] == ("and", "LogicalAnd")
    assert got["neg"] == ("Neg", "Neg")
    assert got["abs"] == ("Abs", "Abs")
    assert got["lt"] == ("Less", "Less")
    assert got["invert"] == ("LogicalNot", "LogicalNot")
    assert g.get_operation_by_name("add/y").type == "Const"
    assert g.get_operation_by_name("add_1/x").type == "Const"
    assert got["matmul"] == ("matmul", "MatMul")


def test_api_op_names_and_choices():
    g = gg.Graph()
    with g.as_default():
        a = gg.placeholder(gg.float32, [2, 3])
        assert gg.add(a, 1.0).op.name == "Add" and gg.add(a, 1.0).op.type == "AddV2"
        assert gg.matmul(a, a, transpose_b=True).op.name == "MatMul"
        assert gg.matmul(gg.placeholder(gg.float32, [4, 2, 3]), a, transpose_b=True).op.type == "BatchMatMulV2"
        assert gg.matmul(gg.placeholder(gg.float32, None), a).op.type == "BatchMatMulV2"
        assert gg.cast(a, gg.float32) is a and gg.cast(a, gg.int32).op.name == "Cast"
        assert gg.to_float(gg.cast(a, gg.int32)).op.name == "ToFloat"
        assert gg.divide(a, 2.0).op.name == "truediv"
        assert gg.range(3).op.name == "range" and gg.range(3).dtype == gg.int32
        assert gg.range(3, 5.0).dtype == gg.float32
        assert gg.logical_xor(a > 0, a < 1).op.name == "LogicalXor"
        assert gg.add_n([a]) is a
        assert gg.einsum("ij->ji", a).op.name == "einsum/Einsum"
        assert gg.where(a > 0).op.type == "Where" and gg.where(a > 0).shape.as_list() == [None, 2]
        assert gg.math.divide_no_nan is gg.div_no_nan and gg.linalg.matmul is gg.matmul
        assert gg.nn.sigmoid is gg.sigmoid and gg.math.reduce_sum is gg.reduce_sum


# -- bad input --------------------------------------------------------------------------------------
def _build(fn):
    g = gg.Graph()
    with g.as_default():
        return fn()


def test_incompatible_broadcast_raises_value_error_naming_both_shapes():
    with pytest.raises(ValueError) as e:
        _build(lambda: gg.add(gg.placeholder(gg.float32, [2, 3]), gg.placeholder(gg.float32, [4])))
    assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value)
    with pytest.raises(ValueError, match="2, 3"):
        _build(lambda: gg.placeholder(gg.int32, [2, 3]) < gg.placeholder(gg.int32, [5, 1, 2]))


def test_incompatible_broadcast_at_run_time():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, None)
        y = x * gg.constant([1.0, 2.0, 3.0])
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match=r"Incompatible shapes: \[4\]"):
            sess.run(y, {x: np.ones(4, np.float32)})


def test_realdiv_on_integers_is_a_type_error():
    with pytest.raises(TypeError, match="RealDiv.*int32"):
        _build(lambda: gg.realdiv(gg.constant([1, 2]), gg.constant([3, 4])))


def test_mismatched_dtypes_are_type_errors():
    with pytest.raises(TypeError):
        _build(lambda: gg.add(gg.constant([1.0]), gg.constant([1])))
    with pytest.raises(TypeError):
        _build(lambda: gg.constant([1, 2]) + 1.5)
    with pytest.raises(TypeError):
        _build(lambda: gg.sqrt(gg.constant([4])))  # Sqrt has no integer types
    with pytest.raises(TypeError):
        _build(lambda: gg.truediv(gg.constant([1]), gg.constant([1.0])))


@pytest.mark.parametrize("fn", [lambda x, y: apply_op("Div", x=x, y=y), gg.floordiv, gg.floormod,
                                gg.truncatemod, lambda x, y: gg.reciprocal(y)])
def test_integer_division_by_zero(fn):
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.int32, [2])
        y = gg.placeholder(gg.int32, [2])
        out = fn(x, y)
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="Integer division by zero"):
            sess.run(out, {x: np.array([1, 2], np.int32), y: np.array([1, 0], np.int32)})


def test_integer_pow_negative_exponent():
    g = gg.Graph()
    with g.as_default():
        out = gg.pow(gg.placeholder(gg.int32, [2], name="x"), gg.constant([2, -1]))
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="negative integer powers"):
            sess.run(out, {"x:0": np.array([1, 2], np.int32)})


def test_select_shape_errors():
    with pytest.raises(ValueError):
        _build(lambda: gg.where(gg.placeholder(gg.bool, [3]), gg.constant(np.zeros((2, 3), np.float32)),
                                gg.constant(np.ones((2, 3), np.float32))))
    with pytest.raises(ValueError):
        _build(lambda: gg.where(True, gg.constant(np.zeros((2, 3), np.float32)),
                                gg.constant(np.zeros((3, 3), np.float32))))
    with pytest.raises(ValueError):
        _build(lambda: gg.where(x=1, condition=True))
    g = gg.Graph()
    with g.as_default():
        c = gg.placeholder(gg.bool, None)
        out = gg.where(c, gg.constant(np.zeros((2, 3), np.float32)), gg.constant(np.ones((2, 3), np.float32)))
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="Number of batches"):
            sess.run(out, {c: np.array([True, False, True])})


def test_where_of_a_scalar_is_an_error():
    g = gg.Graph()
    with g.as_default():
        out = gg.where(gg.placeholder(gg.bool, []))
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="dimensions: 0"):
            sess.run(out, {out.op.inputs[0]: np.array(True)})


def test_range_errors():
    with pytest.raises(ValueError, match="delta != 0"):
        _build(lambda: gg.range(1, 10, 0))
    with pytest.raises(ValueError, match="start >= limit when delta < 0"):
        _build(lambda: gg.range(1, 10, -3))
    g = gg.Graph()
    with g.as_default():
        start = gg.placeholder(gg.int32, [])
        out = gg.range(start, 10)
        assert out.shape.as_list() == [None]
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="start <= limit"):
            sess.run(out, {start: np.int32(30)})


def test_matmul_shape_errors():
    with pytest.raises(ValueError, match="3 and 4"):
        _build(lambda: gg.matmul(gg.placeholder(gg.float32, [2, 3]), gg.placeholder(gg.float32, [4, 3])))
    with pytest.raises(ValueError):
        _build(lambda: apply_op("BatchMatMul", x=gg.placeholder(gg.float32, [5, 2, 3]),
                                y=gg.placeholder(gg.float32, [1, 3, 4])))
    with pytest.raises(ValueError, match="Only one of `transpose_a` and `adjoint_a`"):
        _build(lambda: gg.matmul(gg.placeholder(gg.float32, [2, 2]), gg.placeholder(gg.float32, [2, 2]),
                                 transpose_a=True, adjoint_a=True))
    g = gg.Graph()
    with g.as_default():
        a = gg.placeholder(gg.float32, [None, None])
        out = gg.matmul(a, gg.constant(np.ones((4, 4), np.float32)))
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="Matrix size-incompatible"):
            sess.run(out, {a: np.ones((2, 3), np.float32)})


def test_einsum_errors():
    with pytest.raises(ValueError, match="2 and 3"):
        _build(lambda: gg.einsum("ii->i", gg.placeholder(gg.float32, [2, 3])))
    with pytest.raises(ValueError):
        _build(lambda: gg.einsum("ij,jk->ik", gg.placeholder(gg.float32, [2, 3]), gg.placeholder(gg.float32, [4, 4])))
    with pytest.raises(ValueError):
        _build(lambda: gg.einsum("ij,jk->ik", gg.placeholder(gg.float32, [2, 3])))
    with pytest.raises(ValueError):
        _build(lambda: apply_op("Einsum", inputs=[gg.placeholder(gg.float32, [2, 3])] * 3, equation="ij,jk,kl->il"))
    g = gg.Graph()
    with g.as_default():
        a = gg.placeholder(gg.float32, None)
        out = gg.einsum("ij,jk->ik", a, gg.constant(np.ones((3, 4), np.float32)))
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError, match="label 'j'"):
            sess.run(out, {a: np.ones((2, 1), np.float32)})  # no NumPy-style stretching of size 1


def test_add_n_shape_mismatch():
    with pytest.raises(ValueError):
        _build(lambda: gg.add_n([gg.placeholder(gg.float32, [2, 3]), gg.placeholder(gg.float32, [1, 3])]))
    with pytest.raises(ValueError):
        gg.add_n([])


@pytest.mark.parametrize("build", [lambda: gg.cast(gg.constant([b"1"]), gg.float32),
                                   lambda: gg.floordiv(gg.constant([1j]), gg.constant([2j])),
                                   lambda: gg.truncatediv(gg.constant([1j]), gg.constant([2j])),
                                   lambda: apply_op("RealDiv", x=gg.constant([1]), y=gg.constant([2]))])
def test_kernels_tensorflow_lacks_too_are_unimplemented(build):
    g = gg.Graph()
    with g.as_default():
        out = build()
        with gg.Session() as sess, pytest.raises(errors.UnimplementedError):
            sess.run(out)


def test_graph_round_trip_of_cases_builds():
    # Every case's graph must also import back through our own registry (attr defaults etc.).
    for case in CASES[:10]:
        g, _ = build_graph(case)
        gd = g.as_graph_def()
        g2 = gg.Graph()
        with g2.as_default():
            gg.import_graph_def(gd, name="")
        assert {op.type for op in g2.get_operations()} == {op.type for op in g.get_operations()}
