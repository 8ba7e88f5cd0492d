"""GPU ops with a custom kernel in ``kernels/`` launch it, and it computes what the NumPy kernel
does: each graph runs in a CPU session and on a simulated GPU whose custom kernels are the C++
CPU build of the ``.cu`` sources; the results are compared and the kernels launched are checked by
name — the launch shapes (row groups, column reductions, chunked reductions, im2col chunks), the
dtype dispatch, the fallbacks to ``ctx.xp`` (other dtypes, broadcasts the kernels do not take,
empty inputs) and the optimizer updates' copy-then-update rule.
"""

import collections

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op
from gpugraph.runtime import devices
from gpugraph.runtime.cuda import custom_kernels

from kernel_recording import RecordingEmulator, emulated_kernels_host

rng = np.random.default_rng(20261122)


def normal(*shape, dtype=np.float32, scale=2.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def ph(name, dtype, shape):
    return gg.placeholder(dtype, shape, name=name)


class KernelCase:
    """A graph built on ``/gpu:0`` from ``build()``, its ``feeds`` (placeholder name -> value) and
    the custom kernels it must launch: ``{kernel name: launches}``; ``{}`` means none."""

    def __init__(self, name, build, feeds, launches, init=None, rtol=2e-5, atol=2e-5):
        self.name, self.build, self.feeds, self.launches = name, build, feeds, launches
        self.init, self.rtol, self.atol = init, rtol, atol

    def __repr__(self):
        return self.name


def _graph(build):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        out = build()
    return g, list(out) if isinstance(out, (list, tuple)) else [out]


def _run(graph, fetches, feeds, init=None, runs=1):
    with gg.Session(graph=graph) as sess:
        if init:
            sess.run(graph.get_operation_by_name(init))
        feed = {graph.get_tensor_by_name(k + ":0"): v for k, v in feeds.items()}
        for _ in range(runs):
            out = sess.run(fetches, feed)
        return out


def _run_both(case, recorder, runs=1):
    """(GPU results, CPU results) of ``case``; the GPU run launches through ``recorder``."""
    graph, fetches = _graph(case.build)
    with devices.simulated(num_gpus=0):
        reference = _run(graph, fetches, case.feeds, case.init, runs)
    with emulated_kernels_host(recorder):
        ours = _run(graph, fetches, case.feeds, case.init, runs)
    return ours, reference


def _assert_close(case, ours, reference):
    for got, want in zip(ours, reference):
        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == want.dtype and got.shape == want.shape, case.name
        if got.dtype.kind in "biu":
            np.testing.assert_array_equal(got, want, err_msg=case.name)
        else:
            rtol, atol = (max(case.rtol, 2e-3), max(case.atol, 2e-3)) if got.dtype == np.float16 \
                else (case.rtol, case.atol)
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=case.name)


@pytest.fixture
def recorder(kernel_emulator):
    return RecordingEmulator(kernel_emulator)


# -- which kernel each op launches ------------------------------------------------------------------
def _unary_graph():
    x = ph("x", gg.float32, [5, 9])
    return [gg.nn.relu(x), gg.nn.relu6(x), gg.nn.elu(x), gg.nn.selu(x), gg.nn.softplus(x),
            gg.nn.leaky_relu(x, 0.3), gg.sigmoid(x), gg.tanh(x), gg.exp(x), gg.negative(x), gg.abs(x),
            gg.square(x)]


def _half_math_graph():
    x = ph("x", gg.float16, [33])
    return [gg.sqrt(x), gg.math.rsqrt(x), gg.math.log(x), gg.math.log1p(x)]


def _binary_graph():
    a, b = ph("a", gg.float32, [6, 8]), ph("b", gg.float32, [6, 8])
    row, col = ph("row", gg.float32, [8]), ph("col", gg.float32, [6, 1])
    return [a + row, a - row,                           # row operand
            a * col,                                    # column operand
            gg.maximum(gg.constant(0.5), a),            # scalar first: swapped (commutative)
            a / b, gg.math.squared_difference(a, b)]    # same shapes


def _xent_graph():
    loss, backprop = apply_op("SoftmaxCrossEntropyWithLogits", features=ph("logits", gg.float32, [7, 5]),
                              labels=ph("labels", gg.float32, [1, 5]))
    return [loss, backprop]


def _sparse_xent_graph():
    loss, backprop = apply_op("SparseSoftmaxCrossEntropyWithLogits",
                              features=ph("logits", gg.float64, [6, 1100]),
                              labels=ph("labels", gg.int64, [6]))
    return [loss, backprop]


def _optimizer_graph(name, dtype, resource, **attrs):
    def build():
        shape = (3, 5)
        slots = {"GradientDescent": ["var"], "Momentum": ["var", "accum"], "Adam": ["var", "m", "v"]}[name]
        variables = {s: gg.Variable(np.abs(normal(*shape, dtype=dtype)) + 0.5, name=s, use_resource=resource)
                     for s in slots}
        scalars = {"GradientDescent": {"alpha": 0.1, "delta": None},
                   "Momentum": {"lr": 0.05, "grad": None, "momentum": 0.9},
                   "Adam": {"beta1_power": 0.9, "beta2_power": 0.999, "lr": 0.01, "beta1": 0.9,
                            "beta2": 0.999, "epsilon": 1e-3}}[name]
        kwargs = {k: ph("g", gg.as_dtype(dtype), list(shape)) if v is None else gg.constant(v, gg.as_dtype(dtype))
                  for k, v in scalars.items()}
        if name == "Adam":
            kwargs["grad"] = ph("g", gg.as_dtype(dtype), list(shape))
        gg.global_variables_initializer()
        if resource:
            update = apply_op(f"ResourceApply{name}", **{s: v.handle for s, v in variables.items()}, **kwargs,
                              **attrs)
            with gg.control_dependencies([update]):
                return [apply_op("ReadVariableOp", resource=v.handle, dtype=gg.as_dtype(dtype))
                        for v in variables.values()]
        return apply_op(f"Apply{name}", **variables, **kwargs, **attrs)
    return build


CASES = [
    KernelCase("softmax_f32_warp_rows", lambda: gg.nn.softmax(ph("x", gg.float32, [37, 45])),
               {"x": normal(37, 45)}, {"gg_softmax_f32": 1}),
    KernelCase("log_softmax_f16_long_cached_rows", lambda: gg.nn.log_softmax(ph("x", gg.float16, [3, 1500])),
               {"x": normal(3, 1500, dtype=np.float16)}, {"gg_softmax_f16": 1}),
    KernelCase("softmax_of_a_transposed_view", lambda: gg.nn.softmax(gg.transpose(ph("x", gg.float64, [6, 4]))),
               {"x": normal(6, 4, dtype=np.float64)}, {"gg_softmax_f64": 1}),
    KernelCase("bias_add_nchw_f64", lambda: gg.nn.bias_add(ph("x", gg.float64, [2, 3, 4, 5]),
                                                           ph("b", gg.float64, [3]), data_format="NCHW"),
               {"x": normal(2, 3, 4, 5, dtype=np.float64), "b": normal(3, dtype=np.float64)},
               {"gg_bias_act_f64": 1}),
    KernelCase("bias_add_nhwc_f16", lambda: gg.nn.bias_add(ph("x", gg.float16, [4, 8]), ph("b", gg.float16, [8])),
               {"x": normal(4, 8, dtype=np.float16), "b": normal(8, dtype=np.float16)},
               {"gg_bias_act_f16": 1}),
    KernelCase("activations_and_unary_math_f32", _unary_graph, {"x": normal(5, 9)}, {"gg_ew_unary_f32": 12}),
    KernelCase("unary_math_f16", _half_math_graph, {"x": np.abs(normal(33, dtype=np.float16)) + np.float16(0.1)},
               {"gg_ew_unary_f16": 4}),
    KernelCase("binary_broadcast_forms", _binary_graph,
               {"a": normal(6, 8), "row": normal(8), "col": normal(6, 1), "b": normal(6, 8) + 5},
               {"gg_ew_binary_f32": 6}),
    KernelCase("sum_last_axis_rows", lambda: gg.reduce_sum(ph("x", gg.float32, [5, 7, 9]), axis=2),
               {"x": normal(5, 7, 9)}, {"gg_reduce_f32": 1}),
    KernelCase("mean_middle_axis_columns", lambda: gg.reduce_mean(ph("x", gg.float16, [5, 7, 9]), axis=1),
               {"x": normal(5, 7, 9, dtype=np.float16)}, {"gg_reduce_cols_f16": 1}),
    KernelCase("mean_int32_split_axes", lambda: gg.reduce_mean(ph("x", gg.int32, [4, 5, 6]), axis=[0, 2],
                                                               keepdims=True),
               {"x": rng.integers(-100, 100, (4, 5, 6)).astype(np.int32)}, {"gg_reduce_i32": 1}),
    KernelCase("max_everything_in_chunks", lambda: gg.reduce_max(ph("x", gg.float32, [50001])),
               {"x": normal(50001)}, {"gg_reduce_f32": 1, "gg_reduce_finish_f32": 1}),
    KernelCase("sum_batch_axis_columns_in_chunks", lambda: gg.reduce_sum(ph("x", gg.int64, [3000, 3]), axis=0),
               {"x": rng.integers(-9, 9, (3000, 3))}, {"gg_reduce_cols_i64": 1, "gg_reduce_finish_i64": 1}),
    KernelCase("prod_f64_keepdims", lambda: gg.reduce_prod(ph("x", gg.float64, [3, 4]), axis=1, keepdims=True),
               {"x": rng.uniform(0.5, 1.5, (3, 4))}, {"gg_reduce_f64": 1}),
    KernelCase("argmax_last_axis", lambda: gg.argmax(ph("x", gg.float32, [9, 13]), axis=1),
               {"x": rng.integers(-2, 3, (9, 13)).astype(np.float32)}, {"gg_argmax_f32": 1}),
    KernelCase("argmin_inner_axis_int32_output",
               lambda: gg.argmin(ph("x", gg.int32, [4, 6, 5]), axis=1, output_type=gg.int32),
               {"x": rng.integers(0, 4, (4, 6, 5)).astype(np.int32)}, {"gg_argmax_inner_i32": 1}),
    KernelCase("gather_axis1_int64_indices", lambda: gg.gather(ph("p", gg.float32, [3, 5, 2]),
                                                               ph("i", gg.int64, [2, 2]), axis=1),
               {"p": normal(3, 5, 2), "i": np.array([[4, 0], [1, 1]])}, {"gg_gather_b32_i64": 1}),
    KernelCase("gather_batch_dims_complex128", lambda: gg.gather(ph("p", gg.complex128, [2, 4, 3]),
                                                                 ph("i", gg.int32, [2, 5]), axis=1, batch_dims=1),
               {"p": normal(2, 4, 3, dtype=np.float64) + 1j * normal(2, 4, 3, dtype=np.float64),
                "i": rng.integers(0, 4, (2, 5)).astype(np.int32)}, {"gg_gather_b128_i32": 1}),
    KernelCase("gather_bool", lambda: gg.gather(ph("p", gg.bool, [6]), ph("i", gg.int32, [4])),
               {"p": rng.random(6) > 0.5, "i": np.array([5, 0, 5, 2], np.int32)}, {"gg_gather_b8_i32": 1}),
    KernelCase("max_pool_nchw_f32", lambda: gg.nn.max_pool(ph("x", gg.float32, [2, 3, 7, 8]), [1, 1, 3, 2],
                                                           [1, 1, 2, 3], "SAME", data_format="NCHW"),
               {"x": normal(2, 3, 7, 8)}, {"gg_max_pool_nhwc_f32": 1}),
    KernelCase("max_pool_int8_valid", lambda: gg.nn.max_pool(ph("x", gg.int8, [1, 6, 6, 2]), [1, 2, 2, 1],
                                                             [1, 2, 2, 1], "VALID"),
               {"x": rng.integers(-128, 128, (1, 6, 6, 2)).astype(np.int8)}, {"gg_max_pool_nhwc_i8": 1}),
    KernelCase("avg_pool_f16_same", lambda: gg.nn.avg_pool(ph("x", gg.float16, [2, 7, 6, 3]), [1, 3, 3, 1],
                                                           [1, 2, 2, 1], "SAME"),
               {"x": normal(2, 7, 6, 3, dtype=np.float16)}, {"gg_avg_pool_nhwc_f16": 1}),
    KernelCase("conv2d_f32_same_strided_dilated", lambda: gg.nn.conv2d(
        ph("x", gg.float32, [2, 9, 8, 3]), ph("w", gg.float32, [3, 2, 3, 4]), [1, 2, 1, 1], "SAME",
        dilations=[1, 1, 2, 1]),
               {"x": normal(2, 9, 8, 3), "w": normal(3, 2, 3, 4)}, {"gg_im2col_nhwc_b32": 1}),
    KernelCase("conv2d_grouped_nchw_f64", lambda: gg.nn.conv2d(
        ph("x", gg.float64, [2, 4, 6, 5]), ph("w", gg.float64, [2, 2, 2, 6]), [1, 1, 1, 1], "VALID",
        data_format="NCHW"),
               {"x": normal(2, 4, 6, 5, dtype=np.float64), "w": normal(2, 2, 2, 6, dtype=np.float64)},
               {"gg_im2col_nhwc_b64": 1}),
    KernelCase("conv2d_f16_widened_to_float32", lambda: gg.nn.conv2d(
        ph("x", gg.float16, [1, 5, 5, 2]), ph("w", gg.float16, [3, 3, 2, 3]), [1, 1, 1, 1], "SAME"),
               {"x": normal(1, 5, 5, 2, dtype=np.float16, scale=1.0), "w": normal(3, 3, 2, 3, dtype=np.float16,
                                                                                  scale=1.0)},
               {"gg_im2col_nhwc_b32": 1}),
    KernelCase("depthwise_conv2d_multiplier_2", lambda: gg.nn.depthwise_conv2d(
        ph("x", gg.float32, [2, 7, 6, 3]), ph("w", gg.float32, [3, 2, 3, 2]), [1, 2, 1, 1], "SAME"),
               {"x": normal(2, 7, 6, 3), "w": normal(3, 2, 3, 2)}, {"gg_depthwise_conv2d_nhwc_f32": 1}),
    KernelCase("softmax_xent_broadcast_labels", _xent_graph,
               {"logits": normal(7, 5), "labels": rng.dirichlet(np.ones(5), 1).astype(np.float32)},
               {"gg_softmax_xent_f32": 1}),
    KernelCase("sparse_softmax_xent_f64_int64_labels", _sparse_xent_graph,
               {"logits": normal(6, 1100, dtype=np.float64), "labels": rng.integers(0, 1100, 6)},
               {"gg_sparse_softmax_xent_f64_i64": 1}),
    KernelCase("resource_adam_nesterov_f32", _optimizer_graph("Adam", np.float32, True, use_nesterov=True),
               {"g": normal(3, 5, scale=0.1)}, {"gg_apply_adam_f32": 1}, init="init"),
    KernelCase("momentum_f64", _optimizer_graph("Momentum", np.float64, False),
               {"g": normal(3, 5, dtype=np.float64, scale=0.1)}, {"gg_apply_momentum_f64": 1}, init="init"),
    KernelCase("gradient_descent_f16", _optimizer_graph("GradientDescent", np.float16, True),
               {"g": normal(3, 5, dtype=np.float16, scale=0.1)}, {"gg_apply_gradient_descent_f16": 1},
               init="init"),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_op_launches_its_kernel_and_matches_numpy(case, recorder):
    ours, reference = _run_both(case, recorder)
    _assert_close(case, ours, reference)
    assert collections.Counter(recorder.launches) == case.launches


def test_optimizer_steps_repeat_through_the_kernel(recorder):
    """Three Adam steps in one session: each step reads the slots the previous step wrote."""
    case = KernelCase("adam_three_steps", _optimizer_graph("Adam", np.float64, False),
                      {"g": normal(3, 5, dtype=np.float64, scale=0.1)}, {}, init="init", rtol=1e-12, atol=1e-12)
    ours, reference = _run_both(case, recorder, runs=3)
    _assert_close(case, ours, reference)
    assert recorder.launches == ["gg_apply_adam_f64"] * 3


# -- where the xp path stays ---------------------------------------------------------------------------
FALLBACK_CASES = [
    KernelCase("relu_int32", lambda: gg.nn.relu(ph("x", gg.int32, [7])),
               {"x": rng.integers(-5, 5, 7).astype(np.int32)}, {}),
    KernelCase("sum_complex64", lambda: gg.reduce_sum(ph("x", gg.complex64, [3, 4]), axis=0),
               {"x": (normal(3, 4) + 1j * normal(3, 4)).astype(np.complex64)}, {}),
    KernelCase("max_pool_int16", lambda: gg.nn.max_pool(ph("x", gg.int16, [1, 4, 4, 1]), [1, 2, 2, 1],
                                                        [1, 2, 2, 1], "VALID"),
               {"x": rng.integers(-99, 99, (1, 4, 4, 1)).astype(np.int16)}, {}),
    KernelCase("subtract_from_a_scalar", lambda: gg.constant(2.0) - ph("x", gg.float32, [3, 4]),
               {"x": normal(3, 4)}, {}),
    KernelCase("both_operands_broadcast", lambda: ph("a", gg.float32, [3, 1]) + ph("b", gg.float32, [1, 4]),
               {"a": normal(3, 1), "b": normal(1, 4)}, {}),
    KernelCase("middle_axis_broadcast", lambda: ph("a", gg.float32, [2, 3, 4]) * ph("b", gg.float32, [3, 1]),
               {"a": normal(2, 3, 4), "b": normal(3, 1)}, {}),
    KernelCase("empty_softmax", lambda: gg.nn.softmax(ph("x", gg.float32, [0, 5])),
               {"x": np.zeros((0, 5), np.float32)}, {}),
    pytest.param(KernelCase("empty_reductions", lambda: (lambda x: [
        gg.reduce_max(x, axis=1), gg.reduce_mean(x, axis=1), gg.reduce_sum(x, axis=0)])(ph("x", gg.float32, [4, 0])),
        {"x": np.zeros((4, 0), np.float32)}, {}),
        marks=pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"), id="empty_reductions"),
    KernelCase("empty_batch_conv2d", lambda: gg.nn.conv2d(ph("x", gg.float32, [None, 5, 5, 2]),
                                                          ph("w", gg.float32, [3, 3, 2, 3]), [1, 1, 1, 1], "SAME"),
               {"x": np.zeros((0, 5, 5, 2), np.float32), "w": normal(3, 3, 2, 3)}, {}),
    KernelCase("empty_gather", lambda: gg.gather(ph("p", gg.float32, [4, 3]), ph("i", gg.int32, [0])),
               {"p": normal(4, 3), "i": np.zeros(0, np.int32)}, {}),
]


@pytest.mark.parametrize("case", FALLBACK_CASES, ids=repr)
def test_ops_without_a_fitting_kernel_compute_with_xp(case, recorder):
    ours, reference = _run_both(case, recorder)
    _assert_close(case, ours, reference)
    assert recorder.launches == []


def test_conv2d_converts_a_large_batch_in_im2col_chunks(recorder, monkeypatch):
    """A workspace bound of two images' patches: five images take three im2col + matmul rounds."""
    n, h, w, c, kh, kw, f_out = 5, 6, 7, 3, 3, 3, 4
    monkeypatch.setattr(custom_kernels, "IM2COL_WORKSPACE_BYTES", 2 * h * w * kh * kw * c * 4)
    case = KernelCase("conv2d_chunked", lambda: gg.nn.conv2d(
        ph("x", gg.float32, [n, h, w, c]), ph("w", gg.float32, [kh, kw, c, f_out]), [1, 1, 1, 1], "SAME"),
        {"x": normal(n, h, w, c), "w": normal(kh, kw, c, f_out)}, {})
    ours, reference = _run_both(case, recorder)
    _assert_close(case, ours, reference)
    assert recorder.launches == ["gg_im2col_nhwc_b32"] * 3


# -- optimizer kernels never mutate arrays others hold ------------------------------------------------
def test_update_leaves_a_value_read_earlier_in_the_run_unchanged(recorder):
    init = normal(4, 3)

    def build():
        var = gg.Variable(init, name="var")
        gg.global_variables_initializer()
        before = gg.identity(var)
        with gg.control_dependencies([before]):
            step = apply_op("ApplyGradientDescent", var=var, alpha=gg.constant(0.5),
                            delta=gg.constant(np.ones((4, 3), np.float32)))
        return [before, step]

    case = KernelCase("read_then_update", build, {}, {}, init="init")
    ours, reference = _run_both(case, recorder)
    _assert_close(case, ours, reference)
    np.testing.assert_array_equal(ours[0], init)
    np.testing.assert_allclose(ours[1], init - 0.5, rtol=1e-6)
    assert recorder.launches == ["gg_apply_gradient_descent_f32"]


def test_update_of_an_assigned_copy_leaves_the_source_variable_alone(recorder):
    """Assign stores the source's device array in the target's cell; updating the target must not
    write through it into the source."""
    init = normal(5)
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        source = gg.Variable(init, name="source")
        target = gg.Variable(np.zeros(5, np.float32), name="target")
        accum = gg.Variable(np.zeros(5, np.float32), name="accum")
        initialize = gg.global_variables_initializer()
        copy = target.assign(source)
        step = apply_op("ApplyMomentum", var=target, accum=accum, lr=gg.constant(0.1),
                        grad=gg.constant(np.ones(5, np.float32)), momentum=gg.constant(0.9))
    with emulated_kernels_host(recorder), gg.Session(graph=g) as sess:
        sess.run(initialize)
        sess.run(copy)
        stepped = sess.run(step)
        source_after = sess.run(source.value())
    np.testing.assert_allclose(stepped, init - 0.1, rtol=1e-6)
    np.testing.assert_array_equal(source_after, init)
    assert recorder.launches == ["gg_apply_momentum_f32"]


@pytest.mark.parametrize("out_shape,b_shape,form", [
    ((6, 8), (6, 8), ("full", 0)),
    ((6, 8), (), ("scalar", 0)),
    ((6, 8), (1, 1), ("scalar", 0)),
    ((6, 8), (8,), ("row", 8)),
    ((2, 3, 4), (3, 4), ("row", 12)),
    ((2, 3, 4), (1, 1, 4), ("row", 4)),
    ((6, 8), (6, 1), ("col", 8)),
    ((2, 3, 4), (2, 1, 1), ("col", 12)),
    ((2, 3, 4), (2, 3, 1), ("col", 4)),
    ((2, 3, 4), (3, 1), None),      # along a middle axis
    ((2, 3, 4), (2, 1, 4), None),
])
def test_broadcast_forms_of_the_binary_kernel(out_shape, b_shape, form):
    assert custom_kernels._broadcast_form(out_shape, b_shape) == form
