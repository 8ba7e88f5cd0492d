"""Conformance and bad-input tests for gpugraph/ops/conv_ops.py: Conv2D, DepthwiseConv2dNative,
MaxPool and AvgPool. NHWC cases run in gpugraph and TensorFlow; NCHW (which TF's reference CPU
kernels do not run) is checked against a small independent NumPy loop reference and against our
NHWC result transposed."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op
from gpugraph.ops import conv_ops
from conformance import Case, check, ph

rng = np.random.default_rng(5)
CONV_TOL = dict(rtol=1e-4, atol=1e-4)
HALF_TOL = dict(rtol=1e-2, atol=2e-2)


def f(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _conv(name, x_shape, f_shape, strides, padding, dilations=1, dtype=gg.float32, **kw):
    np_dtype = np.dtype(dtype.as_numpy_dtype)
    if np_dtype.kind == "i":
        xv = rng.integers(-5, 6, x_shape).astype(np_dtype)
        fv = rng.integers(-5, 6, f_shape).astype(np_dtype)
    else:
        xv, fv = f(*x_shape, dtype=np_dtype), f(*f_shape, dtype=np_dtype)
    tol = HALF_TOL if np_dtype == np.float16 else CONV_TOL
    return Case(name, lambda: gg.nn.conv2d(ph("x", dtype, [None] + list(x_shape[1:])),
                                           ph("w", dtype, list(f_shape)), strides, padding,
                                           dilations=dilations),
                feeds={"x": xv, "w": fv}, **{**tol, **kw})


FILTER_2_3 = f(2, 2, 2, 3)
CONV_CASES = [
    _conv("conv_same_s1_odd", (2, 7, 9, 3), (3, 3, 3, 4), 1, "SAME"),
    _conv("conv_valid_s2_odd", (2, 7, 9, 3), (3, 3, 3, 5), [2, 2], "VALID"),
    _conv("conv_same_s2_pads_bottom_right", (1, 8, 7, 2), (4, 4, 2, 3), [1, 2, 2, 1], "SAME"),
    _conv("conv_same_s2_odd", (2, 7, 9, 10), (3, 3, 10, 6), 2, "SAME"),
    _conv("conv_same_dilation2", (2, 9, 8, 3), (3, 3, 3, 4), 1, "SAME", dilations=2),
    _conv("conv_valid_dilation2_many_channels", (1, 9, 9, 12), (3, 2, 12, 5), 1, "VALID",
          dilations=[1, 2, 2, 1]),
    _conv("conv_asymmetric_kernel_strides", (2, 9, 11, 4), (2, 3, 4, 3), [1, 3], "SAME"),
    _conv("conv_1x1_stride2", (2, 7, 9, 6), (1, 1, 6, 4), 2, "VALID"),
    _conv("conv_1x1_same", (2, 5, 5, 6), (1, 1, 6, 4), 1, "SAME"),
    _conv("conv_explicit_padding", (2, 6, 7, 3), (3, 3, 3, 4), 1, [[0, 0], [1, 2], [0, 3], [0, 0]]),
    _conv("conv_explicit_padding_s2_many_channels", (1, 7, 7, 9), (3, 3, 9, 2), 2,
          [[0, 0], [2, 0], [1, 1], [0, 0]]),
    _conv("conv_grouped", (2, 6, 6, 4), (3, 3, 2, 6), 1, "SAME"),
    _conv("conv_grouped_many_channels", (1, 5, 5, 16), (3, 3, 4, 8), 2, "VALID"),
    _conv("conv_f64", (2, 7, 9, 3), (3, 3, 3, 2), 2, "SAME", dtype=gg.float64),
    _conv("conv_half", (2, 6, 6, 3), (3, 3, 3, 4), 1, "SAME", dtype=gg.float16),
    _conv("conv_int32", (1, 6, 5, 3), (3, 3, 3, 2), 1, "SAME", dtype=gg.int32),
    Case("conv_filters_alias_constant_filter",
         lambda: gg.nn.conv2d(ph("x", gg.float32, [None, 5, 5, 2]), filters=FILTER_2_3,
                              strides=[1, 1, 1, 1], padding="VALID", name="conv"),
         feeds={"x": f(3, 5, 5, 2)}, **CONV_TOL),
]


def _dw(name, x_shape, f_shape, strides, padding, rate=None, dtype=gg.float32, native=False, **kw):
    np_dtype = np.dtype(dtype.as_numpy_dtype)
    tol = HALF_TOL if np_dtype == np.float16 else CONV_TOL

    def build():
        x, w = ph("x", dtype, [None] + list(x_shape[1:])), ph("w", dtype, list(f_shape))
        if native:
            return gg.nn.depthwise_conv2d_native(x, w, strides, padding)
        return gg.nn.depthwise_conv2d(x, w, strides, padding, rate=rate)
    return Case(name, build, feeds={"x": f(*x_shape, dtype=np_dtype), "w": f(*f_shape, dtype=np_dtype)},
                **{**tol, **kw})


DEPTHWISE_CASES = [
    _dw("depthwise_multiplier2_same", (2, 7, 9, 3), (3, 3, 3, 2), [1, 1, 1, 1], "SAME"),
    _dw("depthwise_valid_s2", (2, 7, 9, 4), (3, 3, 4, 1), [1, 2, 2, 1], "VALID", native=True),
    _dw("depthwise_rate2_same", (1, 9, 8, 3), (3, 3, 3, 2), [1, 1, 1, 1], "SAME", rate=[2, 2]),
    _dw("depthwise_rate2_valid", (2, 9, 9, 2), (2, 3, 2, 3), [1, 1, 1, 1], "VALID", rate=[2, 2]),
    _dw("depthwise_same_s2_asymmetric", (2, 8, 7, 2), (4, 2, 2, 2), [1, 2, 2, 1], "SAME"),
    _dw("depthwise_explicit", (1, 5, 6, 3), (3, 3, 3, 2), [1, 1, 1, 1],
        [[0, 0], [1, 0], [2, 1], [0, 0]], native=True),
    _dw("depthwise_f64", (2, 6, 6, 3), (3, 3, 3, 2), [1, 2, 2, 1], "SAME", dtype=gg.float64),
    _dw("depthwise_half", (1, 6, 6, 3), (3, 3, 3, 2), [1, 1, 1, 1], "SAME", dtype=gg.float16),
]


def _pool(name, fn, dtype, x_shape, ksize, strides, padding, values=None, **kw):
    np_dtype = np.dtype(dtype.as_numpy_dtype)
    if values is None:
        if np_dtype.kind in "iu":
            info = np.iinfo(np_dtype)
            values = rng.integers(max(info.min, -1000), min(info.max, 1000), x_shape).astype(np_dtype)
        else:
            values = f(*x_shape, dtype=np_dtype) - 3.0  # mostly negative: padding must not win
    tol = HALF_TOL if np_dtype == np.float16 else {}
    return Case(name, lambda: fn(ph("x", dtype, [None] + list(x_shape[1:])), ksize, strides, padding),
                feeds={"x": values}, **{**tol, **kw})


max_pool, avg_pool = gg.nn.max_pool, gg.nn.avg_pool
POOL_CASES = [
    _pool("max_pool_same_3x3_s2_odd", max_pool, gg.float32, (2, 7, 9, 3), 3, 2, "SAME"),
    _pool("max_pool_valid_2x2", max_pool, gg.float32, (2, 8, 6, 2), [2, 2], [2, 2], "VALID"),
    _pool("max_pool_same_s1_even_window", max_pool, gg.float32, (1, 5, 6, 2), [1, 4, 2, 1],
          [1, 1, 1, 1], "SAME"),
    _pool("max_pool_explicit", max_pool, gg.float32, (2, 7, 9, 3), 3, 2,
          [[0, 0], [1, 2], [2, 1], [0, 0]]),
    _pool("max_pool_depth", max_pool, gg.float32, (2, 3, 4, 6), [1, 1, 1, 3], [1, 1, 1, 3], "VALID"),
    _pool("max_pool_f64", max_pool, gg.float64, (2, 5, 5, 2), 2, 2, "SAME"),
    _pool("max_pool_half", max_pool, gg.float16, (2, 5, 5, 2), 3, 2, "SAME"),
    _pool("max_pool_int32", max_pool, gg.int32, (2, 7, 5, 2), 3, 2, "SAME"),
    _pool("max_pool_int64", max_pool, gg.int64, (1, 6, 6, 2), 2, 2, "VALID"),
    _pool("max_pool_uint8", max_pool, gg.uint8, (1, 5, 7, 2), 3, 2, "SAME"),
    _pool("max_pool_int8", max_pool, gg.int8, (1, 5, 7, 2), 3, 1, "SAME"),
    _pool("max_pool_int16", max_pool, gg.int16, (1, 4, 4, 1), 2, 1, "VALID"),
    _pool("max_pool_uint16", max_pool, gg.uint16, (1, 4, 5, 1), 2, 2, "SAME"),
    Case("max_pool2d_input_alias", lambda: [
        gg.nn.max_pool2d(ph("x", gg.float32, [None, 6, 6, 2]), (2, 2), (2, 2), "SAME"),
        gg.nn.max_pool(None, 3, 1, "VALID", input=ph("y", gg.float32, [1, 4, 4, 1]))],
        feeds={"x": f(2, 6, 6, 2), "y": f(1, 4, 4, 1)}),
    _pool("avg_pool_same_3x3_s2_odd", avg_pool, gg.float32, (2, 7, 9, 3), 3, 2, "SAME"),
    _pool("avg_pool_valid_2x2", avg_pool, gg.float32, (2, 6, 8, 2), 2, 2, "VALID"),
    _pool("avg_pool_same_4x4_s1", avg_pool, gg.float32, (1, 5, 5, 2), [4, 4], [1, 1], "SAME"),
    _pool("avg_pool_same_asymmetric", avg_pool, gg.float32, (2, 6, 9, 1), [1, 2, 3, 1],
          [1, 3, 2, 1], "SAME"),
    _pool("avg_pool_f64", avg_pool, gg.float64, (2, 5, 5, 2), 2, 2, "SAME"),
    _pool("avg_pool_half", avg_pool, gg.float16, (2, 5, 5, 2), 3, 2, "SAME"),
    Case("avg_pool2d_alias", lambda: gg.nn.avg_pool2d(ph("x", gg.float32, [None, 4, 4, 3]), 2, 2,
                                                      "VALID"), feeds={"x": f(2, 4, 4, 3)}),
]

CASES = CONV_CASES + DEPTHWISE_CASES + POOL_CASES


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- independent NumPy loop references (NHWC) ---------------------------------------------------
def _out_and_pad(size, k, stride, dilation, padding):
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return (size - eff) // stride + 1, 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + eff - size, 0) // 2


def ref_conv(x, w, stride, dilation, padding, depthwise=False):
    n, h, wd, c = x.shape
    kh, kw, f_in, f_out = w.shape
    oh, pt = _out_and_pad(h, kh, stride, dilation, padding)
    ow, pl = _out_and_pad(wd, kw, stride, dilation, padding)
    out_c = c * f_out if depthwise else f_out
    out = np.zeros((n, oh, ow, out_c))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for di in range(kh):
                    for dj in range(kw):
                        r, q = i * stride + di * dilation - pt, j * stride + dj * dilation - pl
                        if 0 <= r < h and 0 <= q < wd:
                            if depthwise:
                                out[b, i, j] += (x[b, r, q][:, None] * w[di, dj]).reshape(-1)
                            else:
                                out[b, i, j] += x[b, r, q] @ w[di, dj]
    return out


def ref_pool(x, k, stride, padding, kind):
    n, h, wd, c = x.shape
    oh, pt = _out_and_pad(h, k, stride, 1, padding)
    ow, pl = _out_and_pad(wd, k, stride, 1, padding)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, q0 = i * stride - pt, j * stride - pl
            window = x[:, max(r0, 0):r0 + k, max(q0, 0):q0 + k, :]
            out[:, i, j] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return out


def _run(build, feeds):
    g = gg.Graph()
    with g.as_default():
        out = build()
    with gg.Session(graph=g) as sess:
        return sess.run(out, {g.get_tensor_by_name(k + ":0"): v for k, v in feeds.items()})


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("stride, dilation, padding, channels", [
    (1, 1, "SAME", 3), (2, 1, "SAME", 10), (2, 1, "VALID", 3), (1, 2, "SAME", 9), (1, 2, "VALID", 2)])
def test_conv2d_nchw_matches_reference_and_nhwc(stride, dilation, padding, channels):
    x, w = f(2, 7, 9, channels, dtype=np.float64), f(3, 3, channels, 4, dtype=np.float64)
    expected = ref_conv(x, w, stride, dilation, padding)
    nhwc, nchw = _run(lambda: [
        gg.nn.conv2d(ph("a", gg.float64, x.shape), w, stride, padding, dilations=dilation),
        gg.nn.conv2d(ph("b", gg.float64, _nchw(x).shape), w, stride, padding, data_format="NCHW",
                     dilations=dilation)], {"a": x, "b": _nchw(x)})
    np.testing.assert_allclose(nhwc, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(nchw, _nchw(expected), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride, rate, padding", [(1, 1, "SAME"), (2, 1, "VALID"), (1, 2, "SAME")])
def test_depthwise_nchw_matches_reference(stride, rate, padding):
    x, w = f(2, 7, 9, 3, dtype=np.float64), f(3, 3, 3, 2, dtype=np.float64)
    expected = ref_conv(x, w, stride, rate, padding, depthwise=True)
    nhwc, nchw = _run(lambda: [
        gg.nn.depthwise_conv2d(ph("a", gg.float64, x.shape), w, [1, stride, stride, 1], padding,
                               rate=[rate, rate]),
        gg.nn.depthwise_conv2d(ph("b", gg.float64, _nchw(x).shape), w, [1, 1, stride, stride],
                               padding, rate=[rate, rate], data_format="NCHW")],
        {"a": x, "b": _nchw(x)})
    np.testing.assert_allclose(nhwc, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(nchw, _nchw(expected), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k, stride, padding", [(3, 2, "SAME"), (2, 2, "VALID"), (3, 1, "SAME")])
def test_pool_nchw_matches_reference(kind, k, stride, padding):
    x = f(2, 7, 9, 3, dtype=np.float64) - 2.0
    fn = gg.nn.max_pool if kind == "max" else gg.nn.avg_pool
    expected = ref_pool(x, k, stride, padding, kind)
    nhwc, nchw = _run(lambda: [
        fn(ph("a", gg.float64, x.shape), k, stride, padding),
        fn(ph("b", gg.float64, _nchw(x).shape), k, stride, padding, data_format="NCHW")],
        {"a": x, "b": _nchw(x)})
    np.testing.assert_allclose(nhwc, expected, rtol=1e-12)
    np.testing.assert_allclose(nchw, _nchw(expected), rtol=1e-12)


@pytest.mark.parametrize("chunk_bytes", [2000, 30000])
def test_conv2d_in_blocks_matches_reference(monkeypatch, chunk_bytes):
    # Small blocks force the im2col loop (both patch layouts) through several iterations: row
    # ranges of single images (2000 bytes) and groups of whole images (30000).
    monkeypatch.setattr(conv_ops, "_IM2COL_CHUNK_BYTES", chunk_bytes)
    for channels in (3, 12):
        x, w = f(5, 6, 7, channels, dtype=np.float64), f(3, 3, channels, 4, dtype=np.float64)
        got = _run(lambda: gg.nn.conv2d(ph("x", gg.float64, x.shape), w, 1, "SAME"), {"x": x})
        np.testing.assert_allclose(got, ref_conv(x, w, 1, 1, "SAME"), rtol=1e-10, atol=1e-10)


@pytest.mark.tf
def test_dilated_depthwise_matches_tensorflows_space_to_batch_path():
    # TF's nn.depthwise_conv2d builds SpaceToBatchND/BatchToSpaceND around the op for rate > 1;
    # gpugraph uses the op's dilations attr. Both must give the same values.
    import tensorflow as tf
    x, w = f(2, 11, 10, 3), f(3, 3, 3, 2)
    for padding in ("SAME", "VALID"):
        theirs = tf.compat.v1.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], padding, rate=[2, 3]).numpy()
        ours = _run(lambda: gg.nn.depthwise_conv2d(ph("x", gg.float32, x.shape), w, [1, 1, 1, 1],
                                                   padding, rate=[2, 3]), {"x": x})
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_static_shapes_with_unknown_dims():
    with gg.Graph().as_default():
        x = ph("x", gg.float32, [None, None, 7, 3])
        assert gg.nn.conv2d(x, f(3, 3, 3, 4), 2, "VALID").shape.as_list() == [None, None, 3, 4]
        assert gg.nn.conv2d(x, ph("w", gg.float32, None), 1, "SAME").shape.as_list() == \
            [None, None, 7, None]
        assert gg.nn.conv2d(ph("u", gg.float32, None), f(3, 3, 3, 4), 1, "SAME").shape.as_list() == \
            [None, None, None, 4]
        assert gg.nn.depthwise_conv2d(ph("y", gg.float32, [None, 5, 5, None]), f(3, 3, 3, 2),
                                      [1, 1, 1, 1], "SAME").shape.as_list() == [None, 5, 5, 6]
        assert gg.nn.max_pool(x, 3, 2, "SAME").shape.as_list() == [None, None, 4, 3]
        assert gg.nn.avg_pool(ph("z", gg.float32, [2, 3, 9, 9]), 3, 2, "VALID",
                              data_format="NCHW").shape.as_list() == [2, 3, 4, 4]
        assert gg.nn.conv2d(ph("n", gg.float32, [1, 3, 8, 8]), f(3, 3, 3, 5), 2, "SAME",
                            data_format="NCHW").shape.as_list() == [1, 5, 4, 4]


def test_default_node_names_match_tensorflow():
    with gg.Graph().as_default():
        x = ph("x", gg.float32, [1, 6, 6, 2])
        names = [gg.nn.conv2d(x, f(3, 3, 2, 2), 1, "SAME").op.name,
                 gg.nn.depthwise_conv2d(x, f(3, 3, 2, 1), [1, 1, 1, 1], "SAME").op.name,
                 gg.nn.depthwise_conv2d_native(x, f(3, 3, 2, 1), [1, 1, 1, 1], "SAME").op.name,
                 gg.nn.max_pool(x, 2, 2, "SAME").op.name, gg.nn.max_pool2d(x, 2, 2, "SAME").op.name,
                 gg.nn.avg_pool(x, 2, 2, "SAME").op.name]
        assert names == ["Conv2D", "depthwise", "DepthwiseConv2dNative", "MaxPool", "MaxPool2d",
                         "AvgPool"]


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("build, error, match", [
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), ph("w", gg.float32, [3, 3, 2, 4]), 1,
                          "SAME"), ValueError,
     r"Depth of input \(3\).*\(2\).*\(1, 5, 5, 3\).*\(3, 3, 2, 4\)"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 4]), ph("w", gg.float32, [3, 3, 2, 3]), 1,
                          "SAME"), ValueError, r"Depth of output \(3\).*groups \(2\)"),
    (lambda: gg.nn.depthwise_conv2d_native(ph("x", gg.float32, [1, 5, 5, 3]),
                                           ph("w", gg.float32, [3, 3, 2, 4]), [1, 1, 1, 1], "SAME"),
     ValueError, r"3 and 2.*\(1, 5, 5, 3\).*\(3, 3, 2, 4\)"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), f(3, 3, 3, 4), 1, "FULL"),
     ValueError, r"padding.*FULL"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), f(3, 3, 3, 4), 1, "EXPLICIT"),
     ValueError, r"must be a list"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), f(3, 3, 3, 4), 1, [[1, 1], [1, 1]]),
     ValueError, r"must be of size 4"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), f(3, 3, 3, 4), 1,
                          [[1, 0], [1, 1], [1, 1], [0, 0]]), ValueError, r"batch or depth"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 2, 2, 3]), f(3, 3, 3, 4), 1, "VALID"),
     ValueError, r"Negative dimension size caused by subtracting 3 from 2"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [5, 5, 3]), f(3, 3, 3, 4), 1, "SAME"),
     ValueError, r"rank 4 but is rank 3"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), f(3, 3, 3, 4), [1, 0], "SAME"),
     ValueError, r"stride must be > 0"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), f(3, 3, 3, 4), [2, 1, 1, 1], "SAME"),
     ValueError, r"batch and depth"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [1, 5, 5, 3]), f(3, 3, 3, 4), [1, 1, 1], "SAME"),
     ValueError, r"strides should be of length 1, 2 or 4"),
    (lambda: apply_op("Conv2D", input=ph("x", gg.float32, [1, 5, 5, 3]), filter=f(3, 3, 3, 4),
                      strides=[1, 1, 1], padding="SAME"), ValueError, r"4 values, but got: 3"),
    (lambda: gg.nn.max_pool(ph("x", gg.float32, [1, 5, 5, 3]), [1, 2, 2], 1, "SAME"),
     ValueError, r"ksize should be of length 1, 2 or 4"),
    (lambda: apply_op("MaxPool", input=ph("x", gg.float32, [1, 5, 5, 3]), ksize=[1, 2, 2],
                      strides=[1, 1, 1, 1], padding="SAME"), ValueError, r"ksize.*length 3 less than minimum 4"),
    (lambda: apply_op("AvgPool", value=ph("x", gg.float32, [1, 5, 5, 3]), ksize=[1, 2, 2, 1],
                      strides=[1, 1, 1, 1, 1], padding="SAME"), ValueError, r"strides.*4 values.*5"),
    (lambda: gg.nn.max_pool(ph("x", gg.float32, [1, 5, 5, 3]), 2, 1,
                            [[0, 0], [2, 0], [0, 0], [0, 0]]), ValueError,
     r"Top padding 2 needs to be smaller than the window size 2"),
    (lambda: gg.nn.max_pool(ph("x", gg.float32, [1, 5, 5, 3]), 0, 1, "SAME"),
     ValueError, r"cannot be zero"),
    (lambda: gg.nn.avg_pool(ph("x", gg.float32, [1, 5, 5, 3]), 2, 1, "BAD"),
     ValueError, r"padding.*BAD"),
    (lambda: gg.nn.avg_pool(ph("x", gg.float32, [1, 2, 2, 3]), 3, 1, "VALID"),
     ValueError, r"Negative dimension size"),
    (lambda: gg.nn.max_pool(ph("x", gg.float32, [5, 5, 3]), 2, 2, "VALID"),
     ValueError, r"rank 4 but is rank 3"),
    (lambda: gg.nn.avg_pool(ph("x", gg.int32, [1, 5, 5, 3]), 2, 2, "VALID"),
     TypeError, r"int32"),
])
def test_bad_input_raises_at_build_time(build, error, match):
    with gg.Graph().as_default():
        with pytest.raises(error, match=match):
            build()


@pytest.mark.parametrize("build, feed, match", [
    (lambda: gg.nn.conv2d(ph("x", gg.float32, [None, None, None, None]), f(3, 3, 3, 2), 1, "VALID"),
     f(1, 2, 2, 3), r"Negative dimension size"),
    (lambda: gg.nn.conv2d(ph("x", gg.float32, None), f(3, 3, 3, 2), 1, "SAME"),
     f(1, 4, 4, 5), r"input depth 5.*in_channels 3"),
    (lambda: gg.nn.avg_pool(ph("x", gg.float32, [None, 4, 4, None]), [1, 1, 1, 2], [1, 1, 1, 2],
                            "VALID"), f(1, 4, 4, 4), r"batch or depth"),
    (lambda: gg.nn.max_pool(ph("x", gg.float32, None), [1, 1, 1, 3], [1, 1, 1, 3], "VALID"),
     f(1, 4, 4, 4), r"evenly divide"),
])
def test_bad_input_raises_at_run_time(build, feed, match):
    with pytest.raises(gg.errors.InvalidArgumentError, match=match):
        _run(build, {"x": feed})


def test_bfloat16_kernels_match_float32():
    import ml_dtypes
    bf16 = ml_dtypes.bfloat16
    x16, w16, d16 = f(2, 7, 9, 3).astype(bf16), f(3, 3, 3, 4).astype(bf16), f(3, 3, 3, 2).astype(bf16)

    def build(dtype):
        x = ph("x", dtype, [2, 7, 9, 3])
        w, d = (gg.constant(v.astype(dtype.as_numpy_dtype)) for v in (w16, d16))
        return [gg.nn.conv2d(x, w, 2, "SAME"), gg.nn.depthwise_conv2d(x, d, [1, 1, 1, 1], "SAME"),
                gg.nn.max_pool(x, 3, 2, "SAME"), gg.nn.avg_pool(x, 3, 2, "SAME")]
    ours = _run(lambda: build(gg.bfloat16), {"x": x16})
    reference = _run(lambda: build(gg.float32), {"x": x16.astype(np.float32)})
    for got, want in zip(ours, reference):
        assert got.dtype == bf16
        np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-2, atol=5e-2)
