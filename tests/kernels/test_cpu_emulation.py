"""Runs every CUDA kernel of kernels/*.cu on the CPU — the same sources compiled as C++ against
cuda_emulation.h — and compares it with gpugraph's NumPy kernels, the definition of each op.

Inputs have odd sizes, several blocks, grid-stride loops, partial warps, sub-warp row groups,
misaligned (scalar) and aligned (vector) paths. Kernels whose threads cooperate (shared memory,
shuffles) run with the emulator's forward and reverse thread orders, which exposes missing
barriers. Tolerances: float32/float64 a few units in the last place (summation order, libm);
half/bfloat16 one unit of their precision.
"""

import math

import ml_dtypes
import numpy as np
import pytest

from gpugraph.ops import conv_ops
from gpugraph.runtime.cuda import kernel_loader as kl

import fused_cases
from kernel_reference import FakeCell, KernelError, numpy_kernel
from gpugraph.runtime.cuda.cpu_emulation import EmulationError

DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "bf16": ml_dtypes.bfloat16,
          "i32": np.int32, "i64": np.int64, "u8": np.uint8, "i8": np.int8}
FLOATS = ("f32", "f64", "f16", "bf16")
ACC_BYTES = {"f32": 4, "f64": 8, "f16": 4, "bf16": 4}
TOL = {"f32": dict(rtol=3e-5, atol=1e-6), "f64": dict(rtol=1e-12, atol=1e-13),
       "f16": dict(rtol=2e-3, atol=1e-4), "bf16": dict(rtol=1.6e-2, atol=1e-3)}
ORDERS = (0, 1)  # the emulator's forward and reverse thread scheduling

rng = np.random.default_rng(20261121)


def normal(shape, sfx, scale=3.0):
    return np.asarray(rng.standard_normal(shape) * scale).astype(DTYPES[sfx])


def close(got, want, sfx, **kw):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    tol = dict(TOL.get(sfx, dict(rtol=0, atol=0)), **kw)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), equal_nan=True, **tol)


def misaligned(a):
    """A C-contiguous copy of ``a`` whose data pointer is one element past 16-byte alignment."""
    buf = np.empty(a.size + 16, a.dtype)
    start = (-(buf.ctypes.data // a.itemsize)) % (16 // math.gcd(16, a.itemsize)) + 1
    out = buf[start:start + a.size].reshape(a.shape)
    out[...] = a
    return out


# -- elementwise -----------------------------------------------------------------------------------
UNARY = {"neg": "Neg", "abs": "Abs", "square": "Square", "sqrt": "Sqrt", "rsqrt": "Rsqrt",
         "exp": "Exp", "log": "Log", "log1p": "Log1p", "tanh": "Tanh", "sigmoid": "Sigmoid",
         "relu": "Relu", "relu6": "Relu6", "elu": "Elu", "selu": "Selu", "softplus": "Softplus",
         "leaky_relu": "LeakyRelu"}
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 6.0, -1e-3, 80.0, -80.0]


@pytest.mark.parametrize("sfx", FLOATS)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(emu, op, sfx):
    x = normal(1003, sfx)
    x[:len(SPECIALS)] = SPECIALS
    kwargs = {"alpha": 0.3} if op == "leaky_relu" else {}
    want = numpy_kernel(UNARY[op], x, **kwargs)
    for xin in (x, misaligned(x)):  # vector and scalar paths
        y = np.full_like(xin, 7)
        emu.launch(f"gg_ew_unary_{sfx}", (3,), (96,), kl.UNARY_OPS[op], xin, y, x.size, 0.3)
        close(y, want, sfx)


BINARY = {"add": "AddV2", "sub": "Sub", "mul": "Mul", "div": "RealDiv", "maximum": "Maximum",
          "minimum": "Minimum", "squared_difference": "SquaredDifference"}
BINARY_CASES = ([(op, kind, "f32") for op in BINARY for kind in kl.BROADCAST_KINDS]
                + [(op, kind, sfx) for op in ("add", "div", "maximum")
                   for kind in kl.BROADCAST_KINDS for sfx in ("f64", "f16", "bf16")])


@pytest.mark.parametrize("op,kind,sfx", BINARY_CASES)
def test_binary(emu, op, kind, sfx):
    rows, cols = 37, 24
    a = normal((rows, cols), sfx)
    b = normal({"full": (rows, cols), "scalar": (), "row": (cols,), "col": (rows, 1)}[kind], sfx)
    a[0, :3] = [np.nan, np.inf, 0.0]
    want = numpy_kernel(BINARY[op], a, b)
    for ain in (a, misaligned(a)):
        y = np.empty_like(a)
        emu.launch(f"gg_ew_binary_{sfx}", (4,), (64,), kl.BINARY_OPS[op], ain, np.ascontiguousarray(b),
                   kl.BROADCAST_KINDS[kind], y, a.size, cols)
        close(y, want, sfx)


@pytest.mark.parametrize("layout,channels", [("NHWC", 12), ("NHWC", 6), ("NCHW", 12)])
@pytest.mark.parametrize("sfx", FLOATS)
@pytest.mark.parametrize("act", sorted(kl.ACTIVATIONS))
def test_bias_act(emu, act, sfx, layout, channels):
    shape = (3, 5, 7, channels) if layout == "NHWC" else (3, channels, 5, 7)
    x, bias = normal(shape, sfx), normal(channels, sfx)
    want = numpy_kernel("BiasAdd", x, bias, data_format=layout)
    if act != "identity":
        tf_op = {"leaky_relu": "LeakyRelu", "relu6": "Relu6"}.get(act, act.capitalize())
        want = numpy_kernel(tf_op, want, **({"alpha": 0.2} if act == "leaky_relu" else {}))
    inner = 1 if layout == "NHWC" else 5 * 7
    y = np.empty_like(x)
    emu.launch(f"gg_bias_act_{sfx}", (5,), (128,), x, bias, y, x.size, channels, inner,
               kl.ACTIVATIONS[act], 0.2)
    close(y, want, sfx)


# -- row-group kernels: softmax, layernorm ---------------------------------------------------------------
# (name, rows, cols, block, grid, cache_row)
ROW_CONFIGS = [
    ("warp_per_row", 37, 45, (32, 4), (3,), 0),
    ("sub_warp_rows", 29, 7, (8, 12), (2,), 0),
    ("partial_warp", 20, 19, (16, 3), (2,), 0),
    ("block_cached", 5, 1500, (128, 1), (2,), 1),
    ("blocks_uncached", 4, 1300, (64, 2), (1,), 0),
    ("policy", 11, 2100, None, None, None),  # kernel_loader.row_launch's choice
]


def row_config(cfg, sfx):
    name, rows, cols, block, grid, cache = cfg
    if block is None:
        grid, block, shared, cache = kl.row_launch(rows, cols, ACC_BYTES[sfx])
    else:
        shared = block[1] * cols * ACC_BYTES[sfx] if cache else 0
    return rows, cols, grid, block, shared, cache


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("cfg", ROW_CONFIGS, ids=lambda c: c[0])
@pytest.mark.parametrize("log_mode", [0, 1])
@pytest.mark.parametrize("sfx", FLOATS)
def test_softmax(emu, sfx, log_mode, cfg, order):
    rows, cols, grid, block, shared, cache = row_config(cfg, sfx)
    x = normal((rows, cols), sfx, scale=4.0)
    x[1, cols // 2] = np.nan  # a NaN row stays NaN
    x[2] += 1000 if sfx != "f16" else 100  # large logits: the max shift keeps exp finite
    want = numpy_kernel("LogSoftmax" if log_mode else "Softmax", x)
    y = np.empty_like(x)
    emu.launch(f"gg_softmax_{sfx}", grid, block, x, y, rows, cols, log_mode, cache, shared=shared,
               order=order)
    close(y, want, sfx)


def moments_reference(x, sfx):
    """tf.nn.moments over the last axis, built from gpugraph's Mean/SquaredDifference kernels
    (half input is reduced in float32 and cast back, as nn_ops.moments does)."""
    xc = x.astype(np.float32) if sfx in ("f16", "bf16") else x
    axes = np.array([-1], np.int32)
    mean = numpy_kernel("Mean", xc, axes, keep_dims=True)
    var = numpy_kernel("Mean", numpy_kernel("SquaredDifference", xc, mean), axes, keep_dims=True)
    return mean.astype(x.dtype), var.astype(x.dtype)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("cfg", ROW_CONFIGS[:3] + ROW_CONFIGS[4:], ids=lambda c: c[0])
@pytest.mark.parametrize("sfx", FLOATS)
def test_moments(emu, sfx, cfg, order):
    rows, cols, grid, block, _, _ = row_config(cfg, sfx)
    x = normal((rows, cols), sfx) + DTYPES[sfx](5)
    mean_want, var_want = moments_reference(x, sfx)
    mean, var = np.empty(rows, x.dtype), np.empty(rows, x.dtype)
    emu.launch(f"gg_moments_{sfx}", grid, block, x, mean, var, rows, cols, order=order)
    close(mean, mean_want[:, 0], sfx)
    close(var, var_want[:, 0], sfx, rtol=TOL[sfx]["rtol"] * 4)


@pytest.mark.parametrize("affine", ["gamma_beta", "none"])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("cfg", ROW_CONFIGS, ids=lambda c: c[0])
@pytest.mark.parametrize("sfx", FLOATS)
def test_layernorm(emu, sfx, cfg, order, affine):
    rows, cols, grid, block, shared, cache = row_config(cfg, sfx)
    x = normal((rows, cols), sfx)
    gamma = normal(cols, sfx, 1.0) if affine != "none" else None
    beta = normal(cols, sfx, 1.0) if affine != "none" else None
    eps = 1e-3
    # The unfused graph: moments, then tf.nn.batch_normalization's Rsqrt/Mul/Sub/AddV2 chain.
    mean, var = moments_reference(x, sfx)
    inv = numpy_kernel("Rsqrt", numpy_kernel("AddV2", var, np.asarray(eps, x.dtype)))
    if gamma is not None:
        inv = numpy_kernel("Mul", inv, gamma)
    scaled = numpy_kernel("Mul", x, inv)
    if beta is not None:
        shift = numpy_kernel("Sub", beta, numpy_kernel("Mul", mean, inv))
    else:
        shift = numpy_kernel("Mul", numpy_kernel("Neg", mean), inv)
    want = numpy_kernel("AddV2", scaled, shift)
    y, m, v = np.empty_like(x), np.empty(rows, x.dtype), np.empty(rows, x.dtype)
    emu.launch(f"gg_layernorm_{sfx}", grid, block, x, gamma, beta, y, m, v, rows, cols, eps, cache,
               shared=shared, order=order)
    # a variance differing in its last bit moves y by about as much, relative
    close(y, want, sfx, rtol=TOL[sfx]["rtol"] * 4, atol=TOL[sfx]["atol"] * 4)
    close(m, mean[:, 0], sfx)


# -- reductions --------------------------------------------------------------------------------------------
REDUCE_TF = {"sum": "Sum", "mean": "Mean", "max": "Max", "min": "Min", "prod": "Prod"}
AXES = [(3,), (0,), (1, 2), (0, 2), (0, 1, 2, 3), (), (1, 3)]
REDUCE_TYPES = FLOATS + ("i32", "i64")


def reduce_input(op, sfx, shape=(3, 5, 4, 7)):
    if sfx in ("i32", "i64"):
        return rng.integers(-50, 50, size=shape).astype(DTYPES[sfx])
    if op == "prod":
        return rng.uniform(0.6, 1.5, size=shape).astype(DTYPES[sfx])
    x = normal(shape, sfx)
    if op in ("max", "min"):
        x.reshape(-1)[x.size // 2] = np.nan  # propagates to its output
    return x


def reduce_want(op, x, axes):
    return numpy_kernel(REDUCE_TF[op], x, np.array(axes, np.int32), keep_dims=False)


def reduce_tol(op, sfx):
    if sfx in ("f16", "bf16") and op in ("sum", "mean", "prod"):
        return {}
    return {"rtol": TOL[sfx]["rtol"] * 4} if sfx in TOL else {}


@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("sfx", REDUCE_TYPES)
@pytest.mark.parametrize("op", sorted(REDUCE_TF))
def test_reduce(emu, op, sfx, axes):
    x = reduce_input(op, sfx)
    want = reduce_want(op, x, axes)
    view = kl.reduce_view(x.shape, axes)
    grid, block, _, _ = kl.row_launch(view.rows, view.red)
    y = np.empty(view.rows, x.dtype)
    order = len(axes) % 2  # both thread orders across the axis sets
    emu.launch(f"gg_reduce_{sfx}", grid, block, kl.REDUCE_OPS[op], x, y, None, view.geom, view.rows,
               view.red, 1, order=order)
    close(y.reshape(want.shape), want, sfx, **reduce_tol(op, sfx))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("sfx", REDUCE_TYPES)
@pytest.mark.parametrize("op", sorted(REDUCE_TF))
def test_reduce_chunked(emu, op, sfx, order):
    """Long reductions split over blocks: partial accumulators, then gg_reduce_finish."""
    x = reduce_input(op, sfx, shape=(3, 301))
    want = reduce_want(op, x, (1,))
    view = kl.reduce_view(x.shape, (1,))
    chunks = 4
    acc = np.float64 if sfx == "f64" else np.float32
    if sfx in ("i32", "i64"):
        acc = np.int64
    partial = np.empty(view.rows * chunks, acc)
    y = np.empty(view.rows, x.dtype)
    emu.launch(f"gg_reduce_{sfx}", (2, chunks), (64, 2), kl.REDUCE_OPS[op], x, y, partial, view.geom,
               view.rows, view.red, chunks, order=order)
    emu.launch(f"gg_reduce_finish_{sfx}", (1,), (4, 8), kl.REDUCE_OPS[op], partial, y, view.rows,
               chunks, view.red, order=order)
    close(y, want, sfx, **reduce_tol(op, sfx))


@pytest.mark.parametrize("chunks", [1, 3])
@pytest.mark.parametrize("axes", [(0,), (1, 2), (0, 1)], ids=str)
@pytest.mark.parametrize("sfx", REDUCE_TYPES)
@pytest.mark.parametrize("op", sorted(REDUCE_TF))
def test_reduce_cols(emu, op, sfx, axes, chunks):
    x = reduce_input(op, sfx, shape=(3, 5, 4, 7))
    want = reduce_want(op, x, axes)
    view = kl.reduce_view(x.shape, axes)
    outer, red, inner = view.cols_form
    grid = (-(-inner // 32), min(outer, 2), chunks)  # grid-stride over outer
    acc = np.int64 if sfx in ("i32", "i64") else (np.float64 if sfx == "f64" else np.float32)
    partial = np.empty(outer * inner * chunks, acc) if chunks > 1 else None
    y = np.empty(outer * inner, x.dtype)
    emu.launch(f"gg_reduce_cols_{sfx}", grid, (32, 4), kl.REDUCE_OPS[op], x, y, partial, outer, red,
               inner, chunks, order=chunks % 2)
    if chunks > 1:
        emu.launch(f"gg_reduce_finish_{sfx}", (3,), (2, 16), kl.REDUCE_OPS[op], partial, y,
                   outer * inner, chunks, red)
    close(y.reshape(want.shape), want, sfx, **reduce_tol(op, sfx))


@pytest.mark.parametrize("sfx", ["f32", "i64"])
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_full_reduction_splits_into_chunks(emu, op, sfx):
    """kernel_loader.reduce_launch's policy for one long row: chunks, then the finish kernel."""
    x = reduce_input(op, sfx, shape=(50001,))
    want = reduce_want(op, x, (0,))
    view = kl.reduce_view(x.shape, (0,))
    grid, block, chunks = kl.reduce_launch(view.rows, view.red)
    assert chunks > 1
    partial = np.empty(view.rows * chunks, np.int64 if sfx == "i64" else np.float32)
    y = np.empty(1, x.dtype)
    emu.launch(f"gg_reduce_{sfx}", grid, block, kl.REDUCE_OPS[op], x, y, partial, view.geom,
               view.rows, view.red, chunks)
    fgrid, fblock, _, _ = kl.row_launch(view.rows, chunks)
    emu.launch(f"gg_reduce_finish_{sfx}", fgrid, fblock, kl.REDUCE_OPS[op], partial, y, view.rows,
               chunks, view.red)
    close(y.reshape(()), want, sfx, rtol=1e-5)


def test_reduce_view_geometry():
    v = kl.reduce_view((3, 5, 4, 7), (1, 2))
    assert (v.rows, v.red, v.cols_form) == (21, 20, (3, 20, 7))
    assert v.geom.tolist() == [2, 1, 3, 7, 140, 1, 20, 7]
    v = kl.reduce_view((3, 5, 4, 7), (0, 2))
    assert (v.rows, v.red, v.cols_form) == (35, 12, None)
    assert kl.reduce_view((6, 8), (1,)).cols_form is None  # a row reduction
    assert kl.reduce_view((6, 8), (0,)).cols_form == (1, 6, 8)


@pytest.mark.parametrize("op", sorted(REDUCE_TF))
@pytest.mark.parametrize("sfx", ("f32", "i32"))
def test_reduce_empty(emu, op, sfx):
    x = np.zeros((4, 0), DTYPES[sfx])
    want = reduce_want(op, x, (1,))
    view = kl.reduce_view(x.shape, (1,))
    y = np.full(4, 99, x.dtype)
    emu.launch(f"gg_reduce_{sfx}", (1,), (32, 2), kl.REDUCE_OPS[op], x, y, None, view.geom, view.rows,
               view.red, 1)
    close(y, want, sfx)


# -- convolution and pooling ---------------------------------------------------------------------------------
# (n, h, w, c, kh, kw, (sh, sw), (dh, dw), padding, explicit ((top, bottom), (left, right)))
CONV_GEOMETRIES = [
    (2, 7, 6, 3, 3, 2, (2, 1), (1, 2), "SAME", None),
    (2, 9, 8, 5, 1, 1, (2, 3), (1, 1), "VALID", None),
    (1, 6, 7, 4, 2, 3, (1, 2), (2, 1), "EXPLICIT", ((1, 2), (0, 3))),
    (3, 5, 5, 2, 5, 5, (1, 1), (1, 1), "SAME", None),
]


def geometry(h, w, kh, kw, strides, dilations, padding, explicit):
    explicit = explicit or ((0, 0), (0, 0))
    oh, pt, _ = conv_ops._window(h, kh, strides[0], dilations[0], padding, explicit[0])
    ow, pl, _ = conv_ops._window(w, kw, strides[1], dilations[1], padding, explicit[1])
    return oh, ow, pt, pl


def conv_attrs(strides, dilations, padding, explicit):
    pads = [0, 0, *explicit[0], *explicit[1], 0, 0] if padding == "EXPLICIT" else []
    return dict(strides=[1, *strides, 1], dilations=[1, *dilations, 1], padding=padding,
                explicit_paddings=pads, data_format="NHWC")


IM2COL = {"f32": "b32", "f64": "b64", "f16": "b16", "bf16": "b16", "i32": "b32"}


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("sfx", ["f32", "f64", "f16", "i32"])
@pytest.mark.parametrize("geo", CONV_GEOMETRIES, ids=lambda g: f"{g[8]}_{g[4]}x{g[5]}")
def test_im2col_gemm_matches_conv2d(emu, geo, sfx, groups):
    n, h, w, c, kh, kw, strides, dilations, padding, explicit = geo
    c *= groups
    f_in, f_out = c // groups, 3 * groups
    if sfx == "i32":
        x = rng.integers(-5, 6, (n, h, w, c)).astype(np.int32)
        f = rng.integers(-3, 4, (kh, kw, f_in, f_out)).astype(np.int32)
    else:
        x, f = normal((n, h, w, c), sfx, 1.0), normal((kh, kw, f_in, f_out), sfx, 1.0)
    want = numpy_kernel("Conv2D", x, f, **conv_attrs(strides, dilations, padding, explicit))
    oh, ow, pt, pl = geometry(h, w, kh, kw, strides, dilations, padding, explicit)
    k = kh * kw * c
    cols = np.full((n * oh * ow, k), 9, x.dtype)
    for n0, count in ((0, 1), (1, n - 1)):  # two batch chunks, as a workspace-bounded caller does
        part = np.empty((count * oh * ow, k), x.dtype)
        emu.launch(f"gg_im2col_nhwc_{IM2COL[sfx]}", (3,), (128,), x, part, n0, count,
                   h, w, c, kh, kw, *strides, *dilations, pt, pl, oh, ow)
        cols[n0 * oh * ow:(n0 + count) * oh * ow] = part
    # The GEMM the backend runs after im2col (16-bit types in float32, like the NumPy kernel).
    compute = np.float32 if sfx == "f16" else x.dtype
    og = f_out // groups
    cg = cols.astype(compute).reshape(-1, kh * kw, groups, f_in).transpose(2, 0, 1, 3)
    wg = f.astype(compute).reshape(kh * kw, f_in, groups, og).transpose(2, 0, 1, 3)
    y = np.matmul(cg.reshape(groups, -1, kh * kw * f_in), wg.reshape(groups, -1, og))
    y = y.transpose(1, 0, 2).reshape(n, oh, ow, f_out).astype(x.dtype)
    close(y, want, sfx)


@pytest.mark.parametrize("mult", [1, 2])
@pytest.mark.parametrize("sfx", FLOATS)
@pytest.mark.parametrize("geo", CONV_GEOMETRIES, ids=lambda g: f"{g[8]}_{g[4]}x{g[5]}")
def test_depthwise_conv2d(emu, geo, sfx, mult):
    n, h, w, c, kh, kw, strides, dilations, padding, explicit = geo
    x, f = normal((n, h, w, c), sfx, 1.0), normal((kh, kw, c, mult), sfx, 1.0)
    want = numpy_kernel("DepthwiseConv2dNative", x, f,
                        **conv_attrs(strides, dilations, padding, explicit))
    oh, ow, pt, pl = geometry(h, w, kh, kw, strides, dilations, padding, explicit)
    y = np.empty((n, oh, ow, c * mult), x.dtype)
    emu.launch(f"gg_depthwise_conv2d_nhwc_{sfx}", (2,), (96,), x, f, y, n, h, w, c, mult, kh, kw,
               *strides, *dilations, pt, pl, oh, ow)
    close(y, want, sfx)


# (n, h, w, c, (kh, kw), (sh, sw), padding, explicit)
POOL_GEOMETRIES = [
    (2, 7, 8, 5, (3, 2), (2, 3), "SAME", None),
    (1, 9, 6, 3, (2, 2), (2, 2), "VALID", None),
    (2, 6, 7, 4, (3, 3), (1, 1), "SAME", None),
    (1, 5, 6, 3, (2, 3), (1, 2), "EXPLICIT", ((1, 1), (0, 2))),
]


@pytest.mark.parametrize("sfx", FLOATS + ("i32", "i64", "u8", "i8"))
@pytest.mark.parametrize("geo", POOL_GEOMETRIES, ids=lambda g: f"{g[6]}_{g[4][0]}x{g[4][1]}")
def test_max_pool(emu, geo, sfx):
    n, h, w, c, ksize, strides, padding, explicit = geo
    if sfx in FLOATS:
        x = normal((n, h, w, c), sfx)
        x[0, 1, 1, 0] = np.nan
    else:
        info = np.iinfo(DTYPES[sfx])
        x = rng.integers(info.min, info.max, (n, h, w, c), endpoint=True).astype(DTYPES[sfx])
    attrs = conv_attrs(strides, (1, 1), padding, explicit or ((0, 0), (0, 0)))
    del attrs["dilations"]
    want = numpy_kernel("MaxPool", x, ksize=[1, *ksize, 1], **attrs)
    oh, ow, pt, pl = geometry(h, w, *ksize, strides, (1, 1), padding, explicit)
    y = np.empty((n, oh, ow, c), x.dtype)
    emu.launch(f"gg_max_pool_nhwc_{sfx}", (2,), (64,), x, y, n, h, w, c, *ksize, *strides, pt, pl, oh, ow)
    close(y, want, sfx)


@pytest.mark.parametrize("sfx", FLOATS)
@pytest.mark.parametrize("geo", POOL_GEOMETRIES[:3], ids=lambda g: f"{g[6]}_{g[4][0]}x{g[4][1]}")
def test_avg_pool(emu, geo, sfx):
    n, h, w, c, ksize, strides, padding, _ = geo
    x = normal((n, h, w, c), sfx)
    want = numpy_kernel("AvgPool", x, ksize=[1, *ksize, 1], strides=[1, *strides, 1],
                        padding=padding, data_format="NHWC")
    oh, ow, pt, pl = geometry(h, w, *ksize, strides, (1, 1), padding, None)
    y = np.empty((n, oh, ow, c), x.dtype)
    emu.launch(f"gg_avg_pool_nhwc_{sfx}", (3,), (32,), x, y, n, h, w, c, *ksize, *strides, pt, pl, oh, ow)
    close(y, want, sfx)


# -- gather, argmax ------------------------------------------------------------------------------------------
GATHER_TYPES = {"b8": np.int8, "b16": np.float16, "b32": np.float32, "b64": np.int64,
                "b128": np.complex128}


def gather_params(shape, bits):
    dtype = GATHER_TYPES[bits]
    if np.dtype(dtype).kind == "i":
        return rng.integers(-100, 100, shape).astype(dtype)
    values = rng.standard_normal(shape) * 100
    return (values + 1j * rng.standard_normal(shape) if bits == "b128" else values).astype(dtype)
# (params shape, indices shape, axis, batch_dims)
GATHER_CASES = [((11, 6), (4, 3), 0, 0), ((3, 7, 5), (2, 2), 1, 0), ((4, 9), (5,), 1, 0),
                ((3, 7, 4), (3, 5), 1, 1), ((2, 3, 6, 2), (2, 3, 4), 2, 2)]


def gather_view(params, indices, axis, bd):
    p = params.shape
    return (math.prod(p[:bd]), math.prod(p[bd:axis]), p[axis], math.prod(p[axis + 1:]),
            math.prod(indices.shape[bd:]))


@pytest.mark.parametrize("itype", ["i32", "i64"])
@pytest.mark.parametrize("bits", sorted(GATHER_TYPES))
@pytest.mark.parametrize("case", GATHER_CASES, ids=str)
def test_gather(emu, case, bits, itype):
    pshape, ishape, axis, bd = case
    params = gather_params(pshape, bits)
    indices = rng.integers(0, pshape[axis], ishape).astype(DTYPES[itype])
    want = numpy_kernel("GatherV2", params, indices, np.array(axis), batch_dims=bd)
    batch, outer, axis_len, inner, n_idx = gather_view(params, indices, axis, bd)
    out = np.empty(want.shape, params.dtype)
    bad = np.full(1, np.iinfo(np.uint64).max, np.uint64)
    emu.launch(f"gg_gather_{bits}_{itype}", (3,), (64,), params, indices, out, batch, outer,
               axis_len, inner, n_idx, bad)
    np.testing.assert_array_equal(out, want)
    assert bad[0] == np.iinfo(np.uint64).max


def test_gather_out_of_range_flag(emu):
    params = rng.standard_normal((11, 6)).astype(np.float32)
    indices = np.array([[3, 11], [-1, 2], [0, 12]], np.int64)
    with pytest.raises(KernelError, match=r"indices\[0,1\] = 11 is not in \[0, 11\)"):
        numpy_kernel("GatherV2", params, indices, np.array(0), batch_dims=0)
    out = np.full((3, 2, 6), 5, np.float32)
    bad = np.full(1, np.iinfo(np.uint64).max, np.uint64)
    emu.launch("gg_gather_b32_i64", (2,), (32,), params, indices, out, 1, 1, 11, 6, 6, bad)
    assert bad[0] == 1  # the first bad position, as the NumPy kernel's message names it
    assert not out[0, 1].any() and not out[1, 0].any() and not out[2, 1].any()
    np.testing.assert_array_equal(out[0, 0], params[3])


ARG_TYPES = FLOATS + ("i32", "i64", "u8")


def arg_input(shape, sfx):
    if sfx in FLOATS:  # few distinct values: many ties; and NaNs that are never selected
        x = rng.integers(-3, 4, shape).astype(DTYPES[sfx])
        x.reshape(-1)[::7] = np.nan
        x[..., 0] = np.nan
        return x
    return rng.integers(0, 5, shape).astype(DTYPES[sfx])


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("out_bits", [64, 32, 16])
@pytest.mark.parametrize("is_min", [0, 1])
@pytest.mark.parametrize("sfx", ARG_TYPES)
def test_argmax_last_axis(emu, sfx, is_min, out_bits, order):
    x = arg_input((23, 37), sfx)
    x[3] = np.nan if sfx in FLOATS else 2  # an all-NaN (or all-equal) row: index 0
    out_dtype = {64: np.int64, 32: np.int32, 16: np.int16}[out_bits]
    want = numpy_kernel("ArgMin" if is_min else "ArgMax", x, np.array(-1), output_dtypes=[out_dtype])
    out = np.empty(23, out_dtype)
    grid, block, _, _ = kl.row_launch(23, 37)
    emu.launch(f"gg_argmax_{sfx}", grid, block, x, out, 23, 37, is_min, out_bits, order=order)
    np.testing.assert_array_equal(out, want)
    out16 = np.empty(23, out_dtype)  # sub-warp groups and a partial last warp
    emu.launch(f"gg_argmax_{sfx}", (2,), (16, 5), x, out16, 23, 37, is_min, out_bits, order=order)
    np.testing.assert_array_equal(out16, want)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("is_min", [0, 1])
@pytest.mark.parametrize("sfx", ARG_TYPES)
def test_argmax_inner_axis(emu, sfx, is_min, axis):
    x = arg_input((6, 9, 11), sfx)
    want = numpy_kernel("ArgMin" if is_min else "ArgMax", x, np.array(axis), output_dtypes=[np.int64])
    outer, length, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    out = np.empty(want.shape, np.int64)
    emu.launch(f"gg_argmax_inner_{sfx}", (2,), (64,), x, out, outer, length, inner, is_min, 64)
    np.testing.assert_array_equal(out, want)


# -- losses ----------------------------------------------------------------------------------------------
def strides2d(a):
    """(row stride, column stride) in elements, 0 along broadcast (size-1) dimensions."""
    r, c = a.shape
    return (c if r > 1 else 0), (1 if c > 1 else 0)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shapes", [((13, 10), (13, 10)), ((13, 10), (1, 10)), ((13, 10), (13, 1)),
                                    ((1, 10), (13, 10)), ((9, 1500), (9, 1500))], ids=str)
@pytest.mark.parametrize("sfx", FLOATS)
def test_softmax_xent(emu, sfx, shapes, order):
    logits = normal(shapes[0], sfx)
    labels = rng.dirichlet(np.ones(shapes[1][1]), size=shapes[1][0]).astype(DTYPES[sfx])
    loss_want, backprop_want = numpy_kernel("SoftmaxCrossEntropyWithLogits", logits, labels)
    rows, cols = backprop_want.shape
    grid, block, _, _ = kl.row_launch(rows, cols)
    loss, backprop = np.empty(rows, logits.dtype), np.empty((rows, cols), logits.dtype)
    emu.launch(f"gg_softmax_xent_{sfx}", grid, block, logits, labels, loss, backprop, rows, cols,
               *strides2d(logits), *strides2d(labels), order=order)
    close(loss, loss_want, sfx, rtol=TOL[sfx]["rtol"] * 4)
    close(backprop, backprop_want, sfx)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("cols", [10, 1500])
@pytest.mark.parametrize("ltype", ["i32", "i64"])
@pytest.mark.parametrize("sfx", FLOATS)
def test_sparse_softmax_xent(emu, sfx, ltype, cols, order):
    rows = 13
    logits = normal((rows, cols), sfx)
    labels = rng.integers(0, cols, rows).astype(DTYPES[ltype])
    loss_want, backprop_want = numpy_kernel("SparseSoftmaxCrossEntropyWithLogits", logits, labels)
    grid, block, _, _ = kl.row_launch(rows, cols)
    loss, backprop = np.empty(rows, logits.dtype), np.empty((rows, cols), logits.dtype)
    bad = np.full(1, np.iinfo(np.uint64).max, np.uint64)
    emu.launch(f"gg_sparse_softmax_xent_{sfx}_{ltype}", grid, block, logits, labels, loss, backprop,
               rows, cols, bad, order=order)
    close(loss, loss_want, sfx, rtol=TOL[sfx]["rtol"] * 4)
    close(backprop, backprop_want, sfx)
    assert bad[0] == np.iinfo(np.uint64).max


def test_sparse_softmax_xent_bad_label(emu):
    logits = normal((6, 5), "f32")
    labels = np.array([0, 4, 5, 1, -1, 2], np.int32)
    with pytest.raises(KernelError, match="label value of 5"):
        numpy_kernel("SparseSoftmaxCrossEntropyWithLogits", logits, labels)
    loss, backprop = np.empty(6, np.float32), np.empty((6, 5), np.float32)
    bad = np.full(1, np.iinfo(np.uint64).max, np.uint64)
    emu.launch("gg_sparse_softmax_xent_f32_i32", (1,), (8, 8), logits, labels, loss, backprop, 6, 5, bad)
    assert bad[0] == 2  # the first bad row
    assert np.isnan(loss[[2, 4]]).all() and np.isnan(backprop[[2, 4]]).all()
    assert np.isfinite(loss[[0, 1, 3, 5]]).all()


# -- optimizers ------------------------------------------------------------------------------------------
def scalar(value, sfx):
    return np.array([value], DTYPES[sfx])


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("nesterov", [0, 1])
@pytest.mark.parametrize("sfx", FLOATS)
def test_apply_adam(emu, sfx, nesterov, aligned):
    n = 1001
    var, grad = normal(n, sfx, 1.0), normal(n, sfx, 0.1)
    m, v = normal(n, sfx, 0.01), np.abs(normal(n, sfx, 0.01))
    hyper = dict(beta1_power=0.9 ** 3, beta2_power=0.999 ** 3, lr=0.01, beta1=0.9, beta2=0.999,
                 epsilon=1e-7 if sfx != "f16" else 1e-4)
    s = {k: scalar(val, sfx) for k, val in hyper.items()}
    cells = [FakeCell(a.copy()) for a in (var, m, v)]
    numpy_kernel("ApplyAdam", *cells, *(s[k].reshape(()) for k in hyper), grad, use_nesterov=bool(nesterov))
    prep = (lambda a: a.copy()) if aligned else misaligned
    var_d, m_d, v_d, grad_d = prep(var), prep(m), prep(v), prep(grad)
    emu.launch(f"gg_apply_adam_{sfx}", (2,), (64,), var_d, m_d, v_d, grad_d, *(s[k] for k in hyper), n,
               nesterov)
    for got, cell in zip((var_d, m_d, v_d), cells):
        close(got, cell.value, sfx)


@pytest.mark.parametrize("nesterov", [0, 1])
@pytest.mark.parametrize("sfx", FLOATS)
def test_apply_momentum(emu, sfx, nesterov):
    n = 777
    var, accum, grad = normal(n, sfx, 1.0), normal(n, sfx, 0.1), normal(n, sfx, 0.1)
    lr, momentum = scalar(0.05, sfx), scalar(0.9, sfx)
    cells = [FakeCell(var.copy()), FakeCell(accum.copy())]
    numpy_kernel("ApplyMomentum", *cells, lr.reshape(()), grad, momentum.reshape(()),
                 use_nesterov=bool(nesterov))
    emu.launch(f"gg_apply_momentum_{sfx}", (3,), (32,), var, accum, lr, grad, momentum, n, nesterov)
    close(var, cells[0].value, sfx)
    close(accum, cells[1].value, sfx)


@pytest.mark.parametrize("sfx", FLOATS)
def test_apply_gradient_descent(emu, sfx):
    var, delta, alpha = normal(300, sfx), normal(300, sfx), scalar(0.1, sfx)
    cell = FakeCell(var.copy())
    numpy_kernel("ApplyGradientDescent", cell, alpha.reshape(()), delta)
    emu.launch(f"gg_apply_gradient_descent_{sfx}", (2,), (50,), var, alpha, delta, var.size)
    close(var, cell.value, sfx)


# -- fused elementwise chains --------------------------------------------------------------------------
def fused_reference(expr, arrays):
    """Evaluates a fusion expression with gpugraph's NumPy kernels, op by op."""
    if expr.op == "input":
        return arrays[expr.attrs[0]]
    if expr.op == "const":
        return np.asarray(expr.attrs[0], DTYPES[{"float32": "f32", "float64": "f64", "float16": "f16",
                                                 "bfloat16": "bf16"}[expr.dtype]])
    args = [fused_reference(a, arrays) for a in expr.args]
    return numpy_kernel(expr.tf_op, *args, **dict(expr.attrs))


@pytest.mark.parametrize("case", fused_cases.CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("sfx", FLOATS)
def test_fused(emu, fused, case, sfx):
    dtype = {"f32": "float32", "f64": "float64", "f16": "float16", "bf16": "bfloat16"}[sfx]
    kernel = next(k for cid, dt, k in fused if cid == case[0] and dt == dtype)
    expr = case[1](dtype)
    rows, cols = 9, 20
    shapes = {"full": (rows, cols), "scalar": (), "row": (cols,), "col": (rows, 1)}
    arrays = [normal(shapes[kind], sfx, 1.5) for kind, _ in kernel.inputs]
    want = np.broadcast_to(fused_reference(expr, arrays), (rows, cols))
    out = np.empty((rows, cols), DTYPES[sfx])
    emu.launch(kernel.name, (2,), (32,), *[np.ascontiguousarray(a).reshape(-1) for a in arrays], out,
               out.size, cols)
    close(out, want, sfx, rtol=TOL[sfx]["rtol"] * 2, atol=TOL[sfx]["atol"] * 4)


# -- the emulator itself -----------------------------------------------------------------------------------
def test_emulated_collectives_follow_cuda(emu):
    n = 27  # a partial warp: the mask names lanes 0..26
    x = rng.integers(0, 1000, n).astype(np.int32)
    outs = [np.zeros(n, np.int32) for _ in range(7)]
    emu.launch("selftest_collectives", (1,), (n,), x, *outs)
    down, up, xr, idx, ballot, any_, all_ = outs
    lanes = np.arange(n)
    # shfl_down by 3: own value when lane + 3 >= 32 — here lanes 24..26 read lanes 27..29,
    # which exist in no thread: undefined on a GPU, poison in the emulator.
    assert (down[:24] == x[3:27]).all()
    up_src = np.where(lanes % 16 >= 5, lanes - 5, lanes)
    assert (up == x[up_src]).all()
    xor_src = lanes ^ 6
    ok = xor_src < n
    assert (xr[ok] == x[xor_src[ok]]).all()
    idx_src = (lanes // 16) * 16 + 7
    assert (idx == x[idx_src]).all()
    expected_ballot = int(sum(1 << i for i in range(n) if x[i] & 1))
    assert (ballot.view(np.uint32) == expected_ballot).all()
    assert (any_ == int((x > 1000).any())).all() and (all_ == 1).all()


def test_emulator_catches_missing_barrier(emulator):
    n = 64
    results = {}
    for with_barrier in (1, 0):
        for order in ORDERS:
            x = rng.integers(0, 1 << 30, n).astype(np.int32)
            y = np.zeros(n, np.int32)
            emulator.launch("selftest_reverse", (1,), (n,), x, y, with_barrier, order=order)
            results[with_barrier, order] = bool((y == x[::-1]).all())
    assert results[1, 0] and results[1, 1]
    assert not (results[0, 0] and results[0, 1])


def test_emulator_reports_deadlock_and_bad_masks(emulator):
    with pytest.raises(EmulationError, match="deadlock.*5 threads at __syncthreads"):
        emulator.launch("selftest_divergent_barrier", (1,), (32,), np.zeros(32, np.int32))
    with pytest.raises(EmulationError, match="mask names lane 20, which does not exist"):
        emulator.launch("selftest_bad_mask", (1,), (20,), np.zeros(20, np.int32))
    with pytest.raises(EmulationError, match="invalid launch"):  # over __launch_bounds__(1024)
        emulator.launch("gg_softmax_f32", (1,), (64, 32), np.zeros(4, np.float32),
                        np.zeros(4, np.float32), 1, 4, 0, 0)


def test_emulated_dynamic_shared_memory(emu):
    x = rng.integers(-100, 100, 3 * 40).astype(np.int32)
    out = np.zeros(3, np.int32)
    emu.launch("selftest_dynamic_shared", (3,), (40,), x, out, shared=40 * 4)
    np.testing.assert_array_equal(out, x.reshape(3, 40).sum(axis=1))


def test_half_and_bfloat16_conversions_round_like_numpy(emu):
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, 65520.0, 1e-8, 6e-8, 2.0 ** -24 * 1.5,
                1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 3.4e38]
    x = np.concatenate([np.array(specials, np.float32),
                        (rng.standard_normal(500) * 10.0 ** rng.integers(-8, 8, 500)).astype(np.float32)])
    h, b = np.empty(x.size, np.float16), np.empty(x.size, ml_dtypes.bfloat16)
    hb, bb = np.empty(x.size, np.float32), np.empty(x.size, np.float32)
    emu.launch("selftest_convert", (2,), (64,), x, h, b, hb, bb, x.size)
    with np.errstate(over="ignore"):
        want_h, want_b = x.astype(np.float16), x.astype(ml_dtypes.bfloat16)
    nan_h, nan_b = np.isnan(want_h), np.isnan(want_b)
    np.testing.assert_array_equal(h.view(np.uint16)[~nan_h], want_h.view(np.uint16)[~nan_h])
    np.testing.assert_array_equal(b.view(np.uint16)[~nan_b], want_b.view(np.uint16)[~nan_b])
    assert np.isnan(h[nan_h]).all() and np.isnan(b[nan_b]).all()
    np.testing.assert_array_equal(hb, want_h.astype(np.float32))
    np.testing.assert_array_equal(bb, want_b.astype(np.float32))
