"""Conformance and bad-input tests for the gradient ops (gpugraph/ops/grad_ops.py and
conv_grad_ops.py): each case runs in gpugraph and, from the exported GraphDef, in TensorFlow."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op
from gpugraph.ops.grad_ops import broadcast_gradient_args
from conformance import Case, build_graph, check, ph, run_gpugraph

rng = np.random.default_rng(11)


def f(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def pos(*shape, dtype=np.float32):
    return (rng.random(shape) + 0.5).astype(dtype)


def _binary(op, a, b, shape, dtype, gg_dtype, a_feed=None, b_feed=None, **attrs):
    names = {"ReluGrad": ("gradients", "features"), "Relu6Grad": ("gradients", "features"),
             "EluGrad": ("gradients", "outputs"), "SeluGrad": ("gradients", "outputs"),
             "LeakyReluGrad": ("gradients", "features"), "SoftplusGrad": ("gradients", "features")}
    first, second = names.get(op, ("y", "dy"))
    return Case(f"{op}_{np.dtype(dtype).name}_{'x'.join(map(str, shape))}",
                lambda: apply_op(op, **{first: ph(a, gg_dtype, shape), second: ph(b, gg_dtype, shape)}, **attrs),
                feeds={a: a_feed if a_feed is not None else f(*shape, dtype=dtype),
                       b: b_feed if b_feed is not None else f(*shape, dtype=dtype) * 4},
                rtol=1e-2 if dtype == np.float16 else 1e-5, atol=1e-2 if dtype == np.float16 else 1e-6)


def _relu6_features(*shape):
    x = rng.uniform(-2, 8, shape).astype(np.float32)
    return x


ACTIVATION_CASES = [
    _binary("ReluGrad", "g", "x", (3, 4), np.float32, gg.float32),
    _binary("ReluGrad", "g", "x", (5,), np.float64, gg.float64),
    _binary("ReluGrad", "g", "x", (2, 3), np.float16, gg.float16),
    Case("ReluGrad_int32", lambda: apply_op("ReluGrad", gradients=ph("g", gg.int32, [4]),
                                            features=ph("x", gg.int32, [4])),
         feeds={"g": np.array([1, 2, 3, 4], np.int32), "x": np.array([-1, 0, 3, 5], np.int32)}),
    _binary("Relu6Grad", "g", "x", (4, 3), np.float32, gg.float32, b_feed=_relu6_features(4, 3)),
    Case("Relu6Grad_int64", lambda: apply_op("Relu6Grad", gradients=ph("g", gg.int64, [5]),
                                             features=ph("x", gg.int64, [5])),
         feeds={"g": np.arange(5, dtype=np.int64), "x": np.array([-3, 0, 3, 6, 9], np.int64)}),
    _binary("EluGrad", "g", "y", (2, 5), np.float32, gg.float32),
    _binary("EluGrad", "g", "y", (7,), np.float64, gg.float64),
    _binary("SeluGrad", "g", "y", (3, 3), np.float32, gg.float32),
    _binary("SeluGrad", "g", "y", (4,), np.float16, gg.float16),
    _binary("LeakyReluGrad", "g", "x", (2, 6), np.float32, gg.float32, alpha=0.3),
    _binary("LeakyReluGrad", "g", "x", (3,), np.float64, gg.float64),
    _binary("SoftplusGrad", "g", "x", (3, 4), np.float32, gg.float32),
    _binary("SoftplusGrad", "g", "x", (5,), np.float64, gg.float64),
]

UNARY_GRAD_CASES = [
    _binary("TanhGrad", "y", "dy", (3, 4), np.float32, gg.float32, a_feed=np.tanh(f(3, 4))),
    _binary("TanhGrad", "y", "dy", (6,), np.float64, gg.float64),
    _binary("SigmoidGrad", "y", "dy", (2, 3), np.float32, gg.float32, a_feed=rng.random((2, 3)).astype(np.float32)),
    _binary("SigmoidGrad", "y", "dy", (4,), np.float16, gg.float16),
    _binary("SqrtGrad", "y", "dy", (3, 2), np.float32, gg.float32, a_feed=pos(3, 2)),
    _binary("SqrtGrad", "y", "dy", (5,), np.float64, gg.float64, a_feed=pos(5, dtype=np.float64),
            b_feed=np.array([0, 1, 2, 0, 3], np.float64)),
    _binary("RsqrtGrad", "y", "dy", (2, 2), np.float32, gg.float32, a_feed=pos(2, 2)),
    _binary("RsqrtGrad", "y", "dy", (3,), np.float64, gg.float64),
    _binary("ReciprocalGrad", "y", "dy", (4, 2), np.float32, gg.float32),
    _binary("ReciprocalGrad", "y", "dy", (3,), np.float64, gg.float64),
    Case("TanhGrad_complex64", lambda: apply_op("TanhGrad", y=ph("y", gg.complex64, [3]),
                                                dy=ph("dy", gg.complex64, [3])),
         feeds={"y": (f(3) + 1j * f(3)).astype(np.complex64), "dy": (f(3) + 1j * f(3)).astype(np.complex64)}),
    Case("ReciprocalGrad_complex128", lambda: apply_op("ReciprocalGrad", y=ph("y", gg.complex128, [2]),
                                                       dy=ph("dy", gg.complex128, [2])),
         feeds={"y": np.array([1 + 2j, -1j]), "dy": np.array([0.5 - 1j, 2 + 0j])}),
]

SHAPE_HELPER_CASES = [
    Case("BiasAddGrad_nhwc", lambda: apply_op("BiasAddGrad", out_backprop=ph("g", gg.float32, [None, 3, 4, 5])),
         feeds={"g": f(2, 3, 4, 5)}),
    Case("BiasAddGrad_nchw_f64", lambda: apply_op("BiasAddGrad", out_backprop=ph("g", gg.float64, [2, 3, 4]),
                                                  data_format="NCHW"),
         feeds={"g": f(2, 3, 4, dtype=np.float64)}),
    Case("BiasAddGrad_int32_2d", lambda: apply_op("BiasAddGrad", out_backprop=ph("g", gg.int32, [4, 3])),
         feeds={"g": rng.integers(-5, 5, (4, 3)).astype(np.int32)}),
    Case("BiasAddGrad_half", lambda: apply_op("BiasAddGrad", out_backprop=ph("g", gg.float16, [6, 2])),
         feeds={"g": f(6, 2, dtype=np.float16)}, rtol=1e-2, atol=1e-2),
    Case("BroadcastGradientArgs_cases", lambda: [
        *apply_op("BroadcastGradientArgs", s0=ph("a", gg.int32, [None]), s1=ph("b", gg.int32, [None])),
        *apply_op("BroadcastGradientArgs", s0=gg.constant([1, 1], gg.int64), s1=gg.constant([2, 1], gg.int64)),
        *apply_op("BroadcastGradientArgs", s0=gg.constant([5, 1]), s1=gg.constant([1, 4])),
        *apply_op("BroadcastGradientArgs", s0=gg.constant([2, 3]), s1=gg.constant([2, 3]))],
         feeds={"a": np.array([2, 1, 3], np.int32), "b": np.array([3], np.int32)}),
    Case("ConcatOffset_axis1", lambda: apply_op("ConcatOffset", concat_dim=1,
                                                shape=[gg.constant([2, 3, 5]), gg.constant([2, 1, 5]),
                                                       ph("s", gg.int32, [3])]),
         feeds={"s": np.array([2, 4, 5], np.int32)}),
    Case("ConcatOffset_int64_negative_axis", lambda: apply_op(
        "ConcatOffset", concat_dim=-1, shape=[gg.constant([3, 2], gg.int64), gg.constant([3, 7], gg.int64)])),
    Case("InvertPermutation", lambda: [apply_op("InvertPermutation", x=ph("p", gg.int32, [None])),
                                       apply_op("InvertPermutation", x=gg.constant([2, 0, 1], gg.int64))],
         feeds={"p": np.array([3, 1, 0, 2], np.int32)}),
    Case("StridedSliceGrad_masks", lambda: apply_op(
        "StridedSliceGrad", shape=[4, 5, 6], begin=[1, 0, -1], end=[3, 0, 0], strides=[1, 1, -2],
        dy=ph("dy", gg.float32, [2, 5, 3]), end_mask=2, begin_mask=2), feeds={"dy": f(2, 5, 3)}),
    Case("StridedSliceGrad_shrink_newaxis_int64", lambda: apply_op(
        "StridedSliceGrad", shape=gg.constant([3, 4], gg.int64), begin=gg.constant([1, 0, 1], gg.int64),
        end=gg.constant([2, 0, 4], gg.int64), strides=gg.constant([1, 1, 2], gg.int64),
        dy=ph("dy", gg.float64, [1, 2]), shrink_axis_mask=1, new_axis_mask=2),
         feeds={"dy": f(1, 2, dtype=np.float64)}),
    Case("StridedSliceGrad_ellipsis_int32", lambda: apply_op(
        "StridedSliceGrad", shape=[2, 3, 4], begin=[0, 1], end=[0, 3], strides=[1, 1],
        dy=ph("dy", gg.int32, [2, 3, 2]), ellipsis_mask=1),
         feeds={"dy": np.arange(12, dtype=np.int32).reshape(2, 3, 2)}),
    Case("UnsortedSegmentSum_2d_ids", lambda: apply_op(
        "UnsortedSegmentSum", data=ph("d", gg.float32, [2, 3, 4]), segment_ids=ph("i", gg.int32, [2, 3]),
        num_segments=5), feeds={"d": f(2, 3, 4), "i": np.array([[0, 4, -1], [4, 2, 0]], np.int32)}),
    Case("UnsortedSegmentSum_int64_ids", lambda: apply_op(
        "UnsortedSegmentSum", data=ph("d", gg.int32, [5]), segment_ids=ph("i", gg.int64, [5]),
        num_segments=gg.constant(3, gg.int64)),
         feeds={"d": np.arange(5, dtype=np.int32), "i": np.array([2, 2, 0, 1, 0], np.int64)}),
    Case("UnsortedSegmentSum_float64", lambda: apply_op(
        "UnsortedSegmentSum", data=ph("d", gg.float64, [4, 2]), segment_ids=gg.constant([1, 1, 1, 0]),
        num_segments=2), feeds={"d": f(4, 2, dtype=np.float64)}),
    Case("ListDiff", lambda: apply_op("ListDiff", x=ph("x", gg.int32, [None]), y=gg.constant([1, 5, 9]),
                                      out_idx=gg.int64),
         feeds={"x": np.array([0, 1, 2, 5, 7, 9, 3], np.int32)}),
    Case("Cumsum_exclusive_reverse_int32", lambda: [
        apply_op("Cumsum", x=ph("c", gg.int32, [2, 3]), axis=1, exclusive=True, reverse=True),
        apply_op("Cumsum", x=gg.constant(np.arange(6, dtype=np.float64).reshape(3, 2)), axis=0)],
         feeds={"c": np.arange(6, dtype=np.int32).reshape(2, 3)}),
    Case("MirrorPadGrad_reflect", lambda: apply_op(
        "MirrorPadGrad", input=ph("g", gg.float32, [6, 7]), paddings=[[2, 1], [1, 2]], mode="REFLECT"),
         feeds={"g": f(6, 7)}),
    Case("MirrorPadGrad_symmetric_int64_pads", lambda: apply_op(
        "MirrorPadGrad", input=ph("g", gg.float64, [2, 5, 3]),
        paddings=gg.constant([[0, 0], [2, 1], [1, 0]], gg.int64), mode="SYMMETRIC"),
         feeds={"g": f(2, 5, 3, dtype=np.float64)}),
    Case("Cumprod_exclusive_reverse", lambda: (lambda x: [
        apply_op("Cumprod", x=x, axis=1, exclusive=True),
        apply_op("Cumprod", x=x, axis=0, reverse=True),
        apply_op("Cumprod", x=ph("y", gg.int64, [5]), axis=gg.constant(-1, gg.int64), exclusive=True,
                 reverse=True)])(ph("x", gg.float32, [3, 4])),
         feeds={"x": f(3, 4), "y": np.array([1, 2, 3, 4, 5], np.int64)}),
]


def _conv_sizes(op, sizes, filt, dy, **attrs):
    return apply_op(op, input_sizes=sizes, filter=filt, out_backprop=dy, **attrs)


CONV_CASES = [
    Case("Conv2DBackpropInput_same_stride2", lambda: _conv_sizes(
        "Conv2DBackpropInput", [2, 7, 6, 3], ph("w", gg.float32, [3, 3, 3, 4]), ph("dy", gg.float32, [2, 4, 3, 4]),
        strides=[1, 2, 2, 1], padding="SAME"), feeds={"w": f(3, 3, 3, 4), "dy": f(2, 4, 3, 4)}),
    Case("Conv2DBackpropInput_valid_stride3_f64", lambda: _conv_sizes(
        "Conv2DBackpropInput", [1, 8, 7, 2], ph("w", gg.float64, [2, 3, 2, 3]),
        ph("dy", gg.float64, [1, 3, 2, 3]), strides=[1, 3, 3, 1], padding="VALID"),
         feeds={"w": f(2, 3, 2, 3, dtype=np.float64), "dy": f(1, 3, 2, 3, dtype=np.float64)}),
    Case("Conv2DBackpropInput_explicit", lambda: _conv_sizes(
        "Conv2DBackpropInput", [1, 5, 5, 1], ph("w", gg.float32, [3, 3, 1, 2]), ph("dy", gg.float32, [1, 2, 4, 2]),
        strides=[1, 2, 1, 1], padding="EXPLICIT", explicit_paddings=[0, 0, 1, 0, 0, 1, 0, 0]),
         feeds={"w": f(3, 3, 1, 2), "dy": f(1, 2, 4, 2)}),
    Case("Conv2DBackpropFilter_same", lambda: apply_op(
        "Conv2DBackpropFilter", input=ph("x", gg.float32, [2, 5, 6, 3]), filter_sizes=[3, 2, 3, 4],
        out_backprop=ph("dy", gg.float32, [2, 5, 6, 4]), strides=[1, 1, 1, 1], padding="SAME"),
         feeds={"x": f(2, 5, 6, 3), "dy": f(2, 5, 6, 4)}),
    Case("Conv2DBackpropFilter_valid_stride_f64", lambda: apply_op(
        "Conv2DBackpropFilter", input=ph("x", gg.float64, [1, 7, 7, 2]), filter_sizes=[3, 3, 2, 2],
        out_backprop=ph("dy", gg.float64, [1, 3, 3, 2]), strides=[1, 2, 2, 1], padding="VALID"),
         feeds={"x": f(1, 7, 7, 2, dtype=np.float64), "dy": f(1, 3, 3, 2, dtype=np.float64)}),
    Case("Conv2DBackpropFilter_half", lambda: apply_op(
        "Conv2DBackpropFilter", input=ph("x", gg.float16, [1, 4, 4, 2]), filter_sizes=[2, 2, 2, 1],
        out_backprop=ph("dy", gg.float16, [1, 4, 4, 1]), strides=[1, 1, 1, 1], padding="SAME"),
         feeds={"x": f(1, 4, 4, 2, dtype=np.float16), "dy": f(1, 4, 4, 1, dtype=np.float16)},
         rtol=2e-2, atol=2e-2),
    Case("DepthwiseBackpropInput_same_stride", lambda: _conv_sizes(
        "DepthwiseConv2dNativeBackpropInput", [2, 6, 5, 3], ph("w", gg.float32, [3, 3, 3, 2]),
        ph("dy", gg.float32, [2, 3, 3, 6]), strides=[1, 2, 2, 1], padding="SAME"),
         feeds={"w": f(3, 3, 3, 2), "dy": f(2, 3, 3, 6)}),
    Case("DepthwiseBackpropInput_valid_f64", lambda: _conv_sizes(
        "DepthwiseConv2dNativeBackpropInput", [1, 5, 5, 2], ph("w", gg.float64, [2, 2, 2, 1]),
        ph("dy", gg.float64, [1, 4, 4, 2]), strides=[1, 1, 1, 1], padding="VALID"),
         feeds={"w": f(2, 2, 2, 1, dtype=np.float64), "dy": f(1, 4, 4, 2, dtype=np.float64)}),
    Case("DepthwiseBackpropFilter_same", lambda: apply_op(
        "DepthwiseConv2dNativeBackpropFilter", input=ph("x", gg.float32, [2, 5, 5, 3]), filter_sizes=[3, 3, 3, 2],
        out_backprop=ph("dy", gg.float32, [2, 5, 5, 6]), strides=[1, 1, 1, 1], padding="SAME"),
         feeds={"x": f(2, 5, 5, 3), "dy": f(2, 5, 5, 6)}),
    Case("DepthwiseBackpropFilter_valid_stride_f64", lambda: apply_op(
        "DepthwiseConv2dNativeBackpropFilter", input=ph("x", gg.float64, [1, 6, 6, 2]), filter_sizes=[2, 2, 2, 2],
        out_backprop=ph("dy", gg.float64, [1, 3, 3, 4]), strides=[1, 2, 2, 1], padding="VALID"),
         feeds={"x": f(1, 6, 6, 2, dtype=np.float64), "dy": f(1, 3, 3, 4, dtype=np.float64)}),
]


def _max_pool_grad(x_shape, ksize, strides, padding, dtype=gg.float32, np_dtype=np.float32):
    def build():
        x = ph("x", dtype, x_shape)
        y = gg.nn.max_pool(x, ksize=ksize, strides=strides, padding=padding)
        g = ph("g", dtype, y.shape.as_list())
        return apply_op("MaxPoolGrad", orig_input=x, orig_output=y, grad=g, ksize=ksize, strides=strides,
                        padding=padding)
    out_shape = build_graph(Case("", build))[1][0].op.inputs[2].shape.as_list()
    half = np_dtype == np.float16
    return Case(f"MaxPoolGrad_{padding}_{'x'.join(map(str, ksize))}_{np.dtype(np_dtype).name}", build,
                feeds={"x": f(*x_shape, dtype=np_dtype), "g": f(*out_shape, dtype=np_dtype)},
                rtol=1e-2 if half else 1e-5, atol=1e-2 if half else 1e-6)


def _avg_pool_grad(x_shape, ksize, strides, padding, dtype=gg.float32, np_dtype=np.float32):
    def build():
        y = gg.nn.avg_pool(ph("x", dtype, x_shape), ksize=ksize, strides=strides, padding=padding)
        g = ph("g", dtype, y.shape.as_list())
        return apply_op("AvgPoolGrad", orig_input_shape=x_shape, grad=g, ksize=ksize, strides=strides,
                        padding=padding)
    out_shape = build_graph(Case("", build))[1][0].op.inputs[1].shape.as_list()
    return Case(f"AvgPoolGrad_{padding}_{'x'.join(map(str, ksize))}_{np.dtype(np_dtype).name}", build,
                feeds={"g": f(*out_shape, dtype=np_dtype)}, rtol=1e-2 if np_dtype == np.float16 else 1e-5,
                atol=1e-2 if np_dtype == np.float16 else 1e-6)


POOL_CASES = [
    _max_pool_grad([2, 5, 6, 3], [1, 2, 2, 1], [1, 2, 2, 1], "SAME"),
    _max_pool_grad([1, 7, 7, 2], [1, 3, 3, 1], [1, 2, 2, 1], "VALID", gg.float64, np.float64),
    _max_pool_grad([1, 4, 4, 1], [1, 3, 2, 1], [1, 1, 1, 1], "SAME", gg.float16, np.float16),
    Case("MaxPoolGrad_ties_go_to_first", lambda: apply_op(
        "MaxPoolGrad", orig_input=gg.constant(np.ones((1, 3, 3, 1), np.float32)),
        orig_output=gg.constant(np.ones((1, 2, 2, 1), np.float32)), grad=ph("g", gg.float32, [1, 2, 2, 1]),
        ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="VALID"), feeds={"g": f(1, 2, 2, 1)}),
    _avg_pool_grad([2, 5, 6, 3], [1, 3, 3, 1], [1, 2, 2, 1], "SAME"),
    _avg_pool_grad([1, 6, 6, 2], [1, 2, 2, 1], [1, 2, 2, 1], "VALID", gg.float64, np.float64),
    _avg_pool_grad([1, 5, 4, 2], [1, 2, 3, 1], [1, 1, 2, 1], "SAME", gg.float16, np.float16),
]


def _fbn_grad(op, is_training, x_dtype=gg.float32, np_dtype=np.float32, fmt="NHWC"):
    shape = [2, 3, 4, 5] if fmt == "NHWC" else [2, 5, 3, 4]
    scale_dtype = gg.float32

    def build():
        kwargs = dict(y_backprop=ph("dy", x_dtype, shape), x=ph("x", x_dtype, shape),
                      scale=ph("scale", scale_dtype, [5]), reserve_space_1=ph("m", gg.float32, [5]),
                      reserve_space_2=ph("v", gg.float32, [5]), epsilon=0.01, is_training=is_training,
                      data_format=fmt)
        if op == "FusedBatchNormGradV3":
            kwargs["reserve_space_3"] = gg.constant(np.zeros(0, np.float32))
        return list(apply_op(op, **kwargs)[:3])
    return Case(f"{op}_{'train' if is_training else 'infer'}_{np.dtype(np_dtype).name}_{fmt}", build,
                feeds={"dy": f(*shape, dtype=np_dtype), "x": f(*shape, dtype=np_dtype), "scale": f(5),
                       "m": f(5) * 0.1, "v": pos(5)},
                rtol=2e-2 if np_dtype != np.float32 else 1e-4, atol=2e-2 if np_dtype != np.float32 else 1e-4)


FBN_CASES = [
    _fbn_grad("FusedBatchNormGrad", True),
    _fbn_grad("FusedBatchNormGradV2", False),
    _fbn_grad("FusedBatchNormGradV3", True),
    _fbn_grad("FusedBatchNormGradV3", False, gg.float16, np.float16),
]

CASES = ACTIVATION_CASES + UNARY_GRAD_CASES + SHAPE_HELPER_CASES + CONV_CASES + POOL_CASES + FBN_CASES


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- layouts TF's CPU kernels do not support: NCHW against NHWC transposed ---------------------------
def _run(build, feeds):
    case = Case("nchw", build, feeds=feeds)
    g, fetches = build_graph(case)
    return run_gpugraph(g, fetches, case)


def test_conv_backprops_nchw_match_nhwc():
    w, dy = f(3, 3, 2, 4), f(2, 5, 4, 4)
    attrs = dict(strides=[1, 1, 2, 1], padding="SAME")
    nhwc = _run(lambda: _conv_sizes("Conv2DBackpropInput", [2, 5, 7, 2], gg.constant(w), gg.constant(dy),
                                    **attrs), {})[0]
    nchw = _run(lambda: _conv_sizes("Conv2DBackpropInput", [2, 2, 5, 7], gg.constant(w),
                                    gg.constant(dy.transpose(0, 3, 1, 2)), strides=[1, 1, 1, 2], padding="SAME",
                                    data_format="NCHW"), {})[0]
    np.testing.assert_allclose(nchw, nhwc.transpose(0, 3, 1, 2), rtol=1e-6)
    x = f(2, 5, 7, 2)
    nhwc = _run(lambda: apply_op("Conv2DBackpropFilter", input=gg.constant(x), filter_sizes=[3, 3, 2, 4],
                                 out_backprop=gg.constant(dy), **attrs), {})[0]
    nchw = _run(lambda: apply_op("Conv2DBackpropFilter", input=gg.constant(x.transpose(0, 3, 1, 2)),
                                 filter_sizes=[3, 3, 2, 4], out_backprop=gg.constant(dy.transpose(0, 3, 1, 2)),
                                 strides=[1, 1, 1, 2], padding="SAME", data_format="NCHW"), {})[0]
    np.testing.assert_allclose(nchw, nhwc, rtol=1e-5)


@pytest.mark.parametrize("padding,strides,dilations", [
    ("VALID", [1, 1, 1, 1], [1, 2, 2, 1]), ("SAME", [1, 1, 1, 1], [1, 2, 3, 1]),
    ("SAME", [1, 2, 3, 1], [1, 1, 1, 1])])
@pytest.mark.parametrize("depthwise", [False, True])
def test_conv_backprops_are_adjoint_of_forward(padding, strides, dilations, depthwise):
    """<conv(x, w), dy> == <x, backprop_input(dy, w)> == <w, backprop_filter(x, dy)>: checks the
    dilated cases TensorFlow's CPU backprop kernels refuse, against our forward convolution."""
    x, w = f(2, 7, 8, 3, dtype=np.float64), f(3, 2, 3, 2, dtype=np.float64)
    attrs = dict(strides=strides, padding=padding, dilations=dilations)
    fwd = "DepthwiseConv2dNative" if depthwise else "Conv2D"
    y = _run(lambda: apply_op(fwd, input=gg.constant(x), filter=gg.constant(w), **attrs), {})[0]
    dy = f(*y.shape, dtype=np.float64)
    dx, dw = _run(lambda: [apply_op(fwd + "BackpropInput", input_sizes=list(x.shape), filter=gg.constant(w),
                                    out_backprop=gg.constant(dy), **attrs),
                           apply_op(fwd + "BackpropFilter", input=gg.constant(x), filter_sizes=list(w.shape),
                                    out_backprop=gg.constant(dy), **attrs)], {})
    np.testing.assert_allclose(np.sum(y * dy), np.sum(x * dx), rtol=1e-10)
    np.testing.assert_allclose(np.sum(y * dy), np.sum(w * dw), rtol=1e-10)


def test_pool_grads_nchw_match_nhwc():
    x = f(1, 5, 6, 3)
    g = f(1, 3, 3, 3)
    kw = dict(ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    kw_c = dict(ksize=[1, 1, 2, 2], strides=[1, 1, 2, 2], padding="SAME", data_format="NCHW")
    y = _run(lambda: gg.nn.max_pool(gg.constant(x), **kw), {})[0]
    nhwc = _run(lambda: apply_op("MaxPoolGrad", orig_input=gg.constant(x), orig_output=gg.constant(y),
                                 grad=gg.constant(g), **kw), {})[0]
    t = (0, 3, 1, 2)
    nchw = _run(lambda: apply_op("MaxPoolGrad", orig_input=gg.constant(x.transpose(t)),
                                 orig_output=gg.constant(y.transpose(t)), grad=gg.constant(g.transpose(t)),
                                 **kw_c), {})[0]
    np.testing.assert_allclose(nchw, nhwc.transpose(t), rtol=1e-6)
    nhwc = _run(lambda: apply_op("AvgPoolGrad", orig_input_shape=[1, 5, 6, 3], grad=gg.constant(g), **kw), {})[0]
    nchw = _run(lambda: apply_op("AvgPoolGrad", orig_input_shape=[1, 3, 5, 6], grad=gg.constant(g.transpose(t)),
                                 **kw_c), {})[0]
    np.testing.assert_allclose(nchw, nhwc.transpose(t), rtol=1e-6)


def test_bias_add_grad_nchw_matches_reference():
    g = f(2, 3, 4, 5)
    out = _run(lambda: apply_op("BiasAddGrad", out_backprop=gg.constant(g), data_format="NCHW"), {})[0]
    np.testing.assert_allclose(out, g.sum(axis=(0, 2, 3)), rtol=1e-5)


def test_fused_batch_norm_grad_nchw_matches_nhwc():
    t = (0, 3, 1, 2)
    dy, x, scale, m, v = f(2, 3, 4, 5), f(2, 3, 4, 5), f(5), f(5), pos(5)

    def grads(fmt):
        tr = (lambda a: a.transpose(t)) if fmt == "NCHW" else (lambda a: a)
        return _run(lambda: list(apply_op("FusedBatchNormGradV3", y_backprop=gg.constant(tr(dy)), x=gg.constant(tr(x)),
                                          scale=gg.constant(scale), reserve_space_1=gg.constant(m),
                                          reserve_space_2=gg.constant(v),
                                          reserve_space_3=gg.constant(np.zeros(0, np.float32)),
                                          data_format=fmt)[:3]), {})
    a, b = grads("NHWC"), grads("NCHW")
    np.testing.assert_allclose(b[0], a[0].transpose(t), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b[1], a[1], rtol=1e-5)
    np.testing.assert_allclose(b[2], a[2], rtol=1e-5)


# -- Python helper and bad input ---------------------------------------------------------------------
def test_broadcast_gradient_args_rules():
    assert broadcast_gradient_args([2, 1, 3], [3]) == ([1], [0, 1])
    assert broadcast_gradient_args([4, 5], [4, 5]) == ([], [])
    assert broadcast_gradient_args([], [2, 3]) == ([0, 1], [])
    with pytest.raises(ValueError, match=r"Incompatible shapes: \[2,3\] vs. \[4\]"):
        broadcast_gradient_args([2, 3], [4])


def _fails(build, feeds, match):
    case = Case("bad", build, feeds=feeds)
    g, fetches = build_graph(case)
    with pytest.raises(gg.errors.InvalidArgumentError, match=match):
        run_gpugraph(g, fetches, case)


def test_bad_inputs_name_the_node():
    _fails(lambda: apply_op("ReluGrad", gradients=ph("g", gg.float32, None), features=ph("x", gg.float32, None),
                            name="rg"), {"g": f(2), "x": f(3)}, "rg.*same shape")
    _fails(lambda: apply_op("BroadcastGradientArgs", s0=ph("a", gg.int32, [None]), s1=ph("b", gg.int32, [None])),
           {"a": np.array([2, 3], np.int32), "b": np.array([4], np.int32)}, "Incompatible shapes")
    _fails(lambda: apply_op("InvertPermutation", x=ph("p", gg.int32, [None])), {"p": np.array([0, 0], np.int32)},
           "not a permutation")
    _fails(lambda: apply_op("UnsortedSegmentSum", data=ph("d", gg.float32, [3]), segment_ids=ph("i", gg.int32, [3]),
                            num_segments=2), {"d": f(3), "i": np.array([0, 2, 1], np.int32)}, "out of range")
    _fails(lambda: apply_op("Conv2DBackpropInput", input_sizes=[1, 4, 4, 1], filter=gg.constant(f(2, 2, 1, 1)),
                            out_backprop=ph("dy", gg.float32, None), strides=[1, 1, 1, 1], padding="VALID"),
           {"dy": f(1, 4, 4, 1)}, "out_backprop has shape")


def test_build_time_shape_errors():
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match="ReluGrad"):
            apply_op("ReluGrad", gradients=gg.constant(f(2, 3)), features=gg.constant(f(3, 2)))
        with pytest.raises(ValueError, match="BiasAddGrad"):
            apply_op("BiasAddGrad", out_backprop=gg.constant(f(3)))
        with pytest.raises(TypeError, match="EluGrad"):
            apply_op("EluGrad", gradients=gg.constant([1, 2]), outputs=gg.constant([1, 2]))
