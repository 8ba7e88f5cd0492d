"""Elementwise fusion in GPU plans (gpugraph/runtime/cuda/fusion_pass.py): which ops become one
fused step, and that the generated kernel — run by the emulated backend through the CPU build of
its CUDA source — gives the CPU session's results.

Every test that expects fusion checks ``plan.fused_groups`` *and* counts the launches of the
generated kernels, so a plan that silently ran the ops unfused cannot pass. Tolerances are those of
the kernel tests (tests/kernels/test_cpu_emulation.py): a few float32 units in the last place
(libm differs), and for half one unit of its precision, since intermediates are rounded to half
exactly where the unfused ops round them.
"""

import collections

import numpy as np
import pytest

import gpugraph as gg
from gpugraph import errors
from gpugraph.framework.tensor_shape import TensorShape
from gpugraph.protos import rewriter_config_pb2
from gpugraph.runtime import cuda, devices
from gpugraph.runtime.cuda import cpu_emulation, fusion_pass
from gpugraph.runtime.cuda.emulation import EmulatedBackend

TOL = {np.float32: dict(rtol=6e-5, atol=4e-6), np.float16: dict(rtol=4e-3, atol=4e-4),
       np.float64: dict(rtol=1e-12, atol=1e-13)}

rng = np.random.default_rng(20260407)


class CountingEmulator(cpu_emulation.KernelEmulator):
    """The CPU build of the kernels, counting launches per kernel name."""

    def __init__(self, directory):
        super().__init__(directory)
        self.launches = collections.Counter()

    def kernel(self, source, name):
        return _Counted(super().kernel(source, name), self.launches)


class _Counted:
    def __init__(self, kernel, counter):
        self._kernel, self._counter = kernel, counter
        self.name, self.entry = kernel.name, kernel.entry

    def __call__(self, grid, block, args, *, stream=None, shared_mem=0):
        self._counter[self.name] += 1
        return self._kernel(grid, block, args, stream=stream, shared_mem=shared_mem)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if not cpu_emulation.available():
        pytest.skip("no C++ compiler for the CPU emulation of the kernels")
    return CountingEmulator(tmp_path_factory.mktemp("fused_kernels"))


@pytest.fixture
def gpus(emulator, monkeypatch):
    """A host with two emulated GPUs whose backend launches custom kernels through the emulator."""
    monkeypatch.setitem(cuda._backends, "emulated", EmulatedBackend(kernel_emulator=emulator))
    monkeypatch.delenv("GPUGRAPH_FUSION", raising=False)
    # Launch counts here are per run; a CUDA graph's capture launches extra times and a replay none
    # (tested together in test_fused_steps_are_captured_in_cuda_graphs).
    monkeypatch.setenv("GPUGRAPH_CUDA_GRAPHS", "0")
    emulator.launches.clear()
    with devices.simulated(num_gpus=2) as inv:
        yield inv


def fused_launches(emulator):
    return sum(n for name, n in emulator.launches.items() if name.startswith("gg_fused_"))


def run(graph, fetches, feed, runs=1, config=None):
    """``fetches`` run ``runs`` times in one session on this host: (last results, the plan)."""
    with gg.Session(graph=graph, config=config) as sess:
        for _ in range(runs):
            out = sess.run(fetches, feed)
        plans = list(sess._plans.values())
    assert len(plans) == 1
    return out, plans[0]


def on_cpu(graph, fetches, feed):
    with devices.simulated(num_gpus=0):
        with gg.Session(graph=graph) as sess:
            return sess.run(fetches, feed)


def close(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), **TOL[want.dtype.type])


def groups(plan):
    return [g.nodes for g in plan.fused_groups]


def normal(shape, dtype=np.float32, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# -- what is fused --------------------------------------------------------------------------------------
def test_mlp_layer_bias_add_and_relu_become_one_kernel(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [None, 24], name="x")
        w = gg.constant(normal((24, 40)), name="w")
        b = gg.constant(normal(40), name="b")
        y = gg.nn.relu(gg.matmul(x, w) + b, name="y")
    feed = {x: normal((33, 24))}
    out, plan = run(g, y, feed, runs=3)
    assert groups(plan) == [("add", "y")]
    group = plan.fused_groups[0]
    assert group.input_kinds == ("full", "row") and group.device.endswith("GPU:0")
    assert (group.launches, group.fallbacks) == (3, 0)
    assert fused_launches(emulator) == 3
    close(out, on_cpu(g, y, feed))


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["f32", "f16"])
def test_a_tree_with_scalar_row_and_col_inputs(gpus, emulator, dtype):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(dtype, [None, 130], name="x")
        a = gg.placeholder(dtype, [], name="a")
        b = gg.placeholder(dtype, [130], name="b")
        c = gg.placeholder(dtype, [None, 1], name="c")
        y = gg.sigmoid(x * a + b) * c - gg.tanh(x)
    feed = {x: normal((9, 130), dtype, 2.0), a: dtype(1.5), b: normal(130, dtype), c: normal((9, 1), dtype)}
    out, plan = run(g, y, feed)
    assert groups(plan) == [("mul", "add", "Sigmoid", "mul_1", "Tanh", "sub")]
    assert plan.fused_groups[0].input_kinds == ("full", "scalar", "row", "col")
    assert fused_launches(emulator) == 1
    close(out, on_cpu(g, y, feed))


def test_half_intermediates_round_where_the_unfused_ops_do(gpus, emulator, monkeypatch):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float16, [64, 40], name="x")
        h = x
        for i in range(6):
            h = gg.nn.relu(h * 1.37 + 0.3) - gg.tanh(h) * 0.71
    feed = {x: normal((64, 40), np.float16, 2.0)}
    fused, plan = run(g, h, feed)
    assert len(plan.fused_groups) == 1 and fused_launches(emulator) == 1
    monkeypatch.setenv("GPUGRAPH_FUSION", "0")
    unfused, plan = run(g, h, feed)
    assert groups(plan) == []
    np.testing.assert_array_max_ulp(fused, unfused, maxulp=1)


def test_an_inner_value_read_by_several_ops_of_the_group(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [5, 12], name="x")
        b = gg.placeholder(gg.float32, [12], name="b")
        t = gg.nn.bias_add(x, b, name="t")
        y = gg.multiply(t, gg.sigmoid(t * 1.702), name="y")  # gelu's sigmoid approximation
        z = gg.reduce_sum(gg.exp(x, name="e") * 2.0, name="z")  # a non-elementwise consumer
    feed = {x: normal((5, 12)), b: normal(12)}
    out, plan = run(g, [y, z], feed)
    assert groups(plan) == [("t", "mul", "Sigmoid", "y"), ("e", "mul_1")]
    assert plan.fused_groups[0].expression.count("add(x0, x1[row])") == 2  # one node, shown twice
    assert fused_launches(emulator) == 2
    for got, want in zip(out, on_cpu(g, [y, z], feed)):
        close(got, want)


def test_a_value_read_twice_by_one_op_is_computed_once(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [3, 7], name="x")
        e = gg.exp(x, name="e")
        y = gg.add(e * e, x, name="y")
    feed = {x: normal((3, 7))}
    out, plan = run(g, y, feed)
    assert groups(plan) == [("e", "mul", "y")]
    assert plan.fused_groups[0].expression == "add(mul(exp(x0), exp(x0)), x0)"
    close(out, on_cpu(g, y, feed))


@pytest.mark.parametrize("shape,kind", [((7, 33), "full"), ((), "scalar"), ((1, 1), "scalar"),
                                        ((33,), "row"), ((1, 33), "row"), ((7, 1), "col")])
def test_each_broadcast_kind(gpus, emulator, shape, kind):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [7, 33], name="x")
        other = gg.placeholder(gg.float32, shape, name="other")
        y = gg.maximum(gg.exp(x) - other, 0.5)
    feed = {x: normal((7, 33)), other: normal(shape)}
    out, plan = run(g, y, feed)
    assert groups(plan) == [("Exp", "sub", "Maximum")]
    assert plan.fused_groups[0].input_kinds == ("full", kind, "scalar")
    assert fused_launches(emulator) == 1
    close(out, on_cpu(g, y, feed))


def test_float64_and_every_unary_op_of_the_list(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float64, [6, 10], name="x")
        t = gg.nn.relu6(gg.nn.elu(x) + gg.nn.selu(-x)) + gg.nn.softplus(gg.nn.leaky_relu(x, alpha=0.3))
        t = gg.log1p(gg.abs(t)) + gg.sqrt(gg.square(x) + 1.0) - gg.rsqrt(gg.exp(x) + 2.0)
        y = gg.log(gg.nn.relu(t) + 0.5) / gg.minimum(gg.squared_difference(x, 0.25) + 1.0, 4.0)
    feed = {x: normal((6, 10), np.float64, 2.0)}
    out, plan = run(g, y, feed)
    assert len(plan.fused_groups) == 1 and len(plan.fused_groups[0].nodes) > 20
    assert fused_launches(emulator) == 1
    close(out, on_cpu(g, y, feed))


def test_a_fetched_interior_value_is_not_absorbed(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [5, 8], name="x")
        e = gg.exp(x, name="e")
        y = gg.nn.relu(e * 2.0 - 3.0, name="y")
    feed = {x: normal((5, 8))}
    out, plan = run(g, [e, y], feed)
    assert groups(plan) == [("mul", "sub", "y")]
    close(out[0], np.exp(feed[x]))
    close(out[1], on_cpu(g, y, feed))
    _, plan = run(g, y, feed)
    assert groups(plan) == [("e", "mul", "sub", "y")]


def test_an_interior_value_with_a_second_consumer_stays_a_step(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [4, 6], name="x")
        t = gg.multiply(x, 2.0, name="t")
        u = gg.multiply(gg.nn.relu(t), 3.0, name="u")
        v = gg.tanh(t + 1.0, name="v")
    feed = {x: normal((4, 6))}
    out, plan = run(g, [u, v], feed)
    assert groups(plan) == [("Relu", "u"), ("add", "v")]
    assert fused_launches(emulator) == 2
    for got, want in zip(out, on_cpu(g, [u, v], feed)):
        close(got, want)


def test_a_control_edge_out_of_an_interior_op_keeps_it_a_step(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [4, 6], name="x")
        t = gg.exp(x, name="t")
        y = gg.nn.relu(t - 1.0, name="y")
        with gg.control_dependencies([t.op]):
            z = gg.negative(x, name="z")
    feed = {x: normal((4, 6))}
    out, plan = run(g, [y, z], feed)
    assert groups(plan) == [("sub", "y")]
    close(out[0], on_cpu(g, y, feed))


def test_ops_on_two_gpus_are_fused_per_gpu(gpus, emulator):
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [3, 16], name="x")
        with gg.device("/gpu:0"):
            a = gg.exp(x, name="a") * 0.5
        with gg.device("/gpu:1"):
            y = gg.nn.relu(a, name="relu") + 1.0
    feed = {x: normal((3, 16))}
    out, plan = run(g, y, feed)
    assert groups(plan) == [("a", "mul"), ("relu", "add")]
    assert [grp.device[-5:] for grp in plan.fused_groups] == ["GPU:0", "GPU:1"]
    assert fused_launches(emulator) == 2
    close(out, on_cpu(g, y, feed))


def test_nchw_bias_add_and_int_ops_are_left_alone(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [2, 3, 4, 5], name="x")
        b = gg.constant(normal(3), name="b")
        y = gg.nn.relu(gg.nn.bias_add(x, b, data_format="NCHW"))
        i = gg.placeholder(gg.int32, [4], name="i")
        j = (i + 1) * 2
    feed = {x: normal((2, 3, 4, 5)), i: np.arange(4, dtype=np.int32)}
    out, plan = run(g, [y, j], feed)
    assert groups(plan) == []
    close(out[0], on_cpu(g, y, feed))


# -- shapes known only at run time ---------------------------------------------------------------------------
@pytest.mark.parametrize("other_static,kinds,unfit", [
    ([None], ("full", "row"), {"x": (3, 1), "other": (5,)}),        # x is no longer "full"
    ([None], ("full", "row"), {"x": (3, 5), "other": (1,)}),        # a scalar, not a row
    ([None, 1], ("full", "col"), {"x": (3, 5), "other": (1, 1)}),   # a scalar, not a column
    ([None, None], ("full", "full"), {"x": (3, 5), "other": (1, 5)}),  # a row, not "full"
], ids=["x_col", "row_scalar", "col_scalar", "full_row"])
def test_shapes_that_do_not_fit_the_compiled_kinds_run_the_ops_one_by_one(gpus, emulator, other_static,
                                                                          kinds, unfit):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [None, None], name="x")
        other = gg.placeholder(gg.float32, other_static, name="other")
        y = gg.nn.relu(gg.add(x, other, name="add"), name="y")
    fit_shapes = {"x": (3, 5), "other": {"row": (5,), "col": (3, 1), "full": (3, 5)}[kinds[1]]}
    fits = {x: normal(fit_shapes["x"]), other: normal(fit_shapes["other"])}
    does_not_fit = {x: normal(unfit["x"]), other: normal(unfit["other"])}
    with gg.Session(graph=g) as sess:
        close(sess.run(y, fits), on_cpu(g, y, fits))
        plan = next(iter(sess._plans.values()))
        assert groups(plan) == [("add", "y")]
        assert plan.fused_groups[0].input_kinds == kinds
        close(sess.run(y, does_not_fit), on_cpu(g, y, does_not_fit))
        close(sess.run(y, fits), on_cpu(g, y, fits))
        group = plan.fused_groups[0]
        assert (group.launches, group.fallbacks) == (2, 1)
        assert fused_launches(emulator) == 2


def test_shapes_the_ops_reject_raise_their_error_naming_the_node(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [None, None], name="x")
        b = gg.placeholder(gg.float32, [None], name="b")
        y = gg.nn.relu(gg.add(x, b, name="add"), name="y")
    with gg.Session(graph=g) as sess:
        with pytest.raises(errors.InvalidArgumentError, match="node 'add' \\(AddV2\\)") as info:
            sess.run(y, {x: normal((3, 4)), b: normal(5)})
        assert "fused with 'add'" in str(info.value)
        assert groups(next(iter(sess._plans.values()))) == [("add", "y")]


def test_an_empty_batch(gpus, emulator):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [None, 4], name="x")
        y = gg.tanh(x * 3.0)
    out, plan = run(g, y, {x: np.zeros((0, 4), np.float32)})
    assert out.shape == (0, 4) and groups(plan) == [("mul", "Tanh")]


# -- when not to fuse ----------------------------------------------------------------------------------------
def _chain():
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [4, 9], name="x")
        y = gg.sigmoid(gg.nn.relu(x) * 2.0)
    return g, x, y


def test_gpugraph_fusion_0_turns_it_off(gpus, emulator, monkeypatch):
    monkeypatch.setenv("GPUGRAPH_FUSION", "0")
    g, x, y = _chain()
    feed = {x: normal((4, 9))}
    out, plan = run(g, y, feed)
    assert groups(plan) == [] and fused_launches(emulator) == 0
    close(out, on_cpu(g, y, feed))


def test_remapping_off_in_the_sessions_config_turns_it_off(gpus, emulator):
    g, x, y = _chain()
    feed = {x: normal((4, 9))}
    config = gg.ConfigProto()
    config.graph_options.rewrite_options.remapping = rewriter_config_pb2.RewriterConfig.OFF
    out, plan = run(g, y, feed, config=config)
    assert groups(plan) == [] and fused_launches(emulator) == 0
    close(out, on_cpu(g, y, feed))
    _, plan = run(g, y, feed, config=gg.ConfigProto())  # the same graph, default config: fused
    assert len(plan.fused_groups) == 1


def test_a_backend_without_custom_kernels_does_not_fuse(monkeypatch):
    monkeypatch.setitem(cuda._backends, "emulated", EmulatedBackend())
    monkeypatch.delenv("GPUGRAPH_FUSION", raising=False)
    g, x, y = _chain()
    feed = {x: normal((4, 9))}
    with devices.simulated(num_gpus=1):
        out, plan = run(g, y, feed)
    assert groups(plan) == []
    close(out, on_cpu(g, y, feed))


def test_log_device_placement_prints_the_fused_groups(gpus, emulator, capsys):
    g, x, y = _chain()
    run(g, y, {x: normal((4, 9))}, config=gg.ConfigProto(log_device_placement=True))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fused ")]
    assert len(lines) == 1
    assert lines[0].startswith("fused Relu (Relu), mul (Mul), Sigmoid (Sigmoid): "
                               "/job:localhost/replica:0/task:0/device:GPU:0  # one kernel gg_fused_")


# -- pieces ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,out,kind", [
    ([None, 8], [None, 8], "full"), ([3, 8], [3, 8], "full"), ([1, 3, 8], [1, 3, 8], "full"),
    ([3, 8], [1, 3, 8], "full"), ([], [None, 8], "scalar"), ([1, 1], [5, 8], "scalar"),
    ([8], [None, 8], "row"), ([1, 8], [5, 8], "row"), ([None], [None, None], "row"),
    ([None, 1], [None, 8], "col"), ([5, 1], [2, 5, 8], None), ([2, 1, 1], [2, 5, 8], None),
    ([4, 1, 8], [4, 5, 8], None), ([5, 8], [2, 5, 8], None), (None, [5, 8], None),
    ([5, 8], None, None)])
def test_static_kinds(shape, out, kind):
    assert fusion_pass.static_kind(TensorShape(shape), TensorShape(out)) == kind


def test_fused_steps_are_captured_in_cuda_graphs(gpus, emulator, monkeypatch):
    """A fused step is an ordinary GPU step for CUDA graphs: it is captured with the rest and its
    replays compute the new feeds' values."""
    from gpugraph.runtime.cuda import graphs
    monkeypatch.setenv("GPUGRAPH_CUDA_GRAPHS", "1")
    bias = rng.standard_normal(6).astype(np.float32)
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        x = gg.placeholder(gg.float32, [4, 6], name="x")
        y = gg.nn.relu(gg.sigmoid(x * 2.0 + gg.constant(bias)) - 0.25)
    with gg.Session(graph=g) as sess:
        for _ in range(5):
            feed = rng.standard_normal((4, 6)).astype(np.float32)
            want = np.maximum(1 / (1 + np.exp(-(feed * np.float32(2.0) + bias))) - np.float32(0.25), 0)
            np.testing.assert_allclose(sess.run(y, {x: feed}), want, **TOL[np.float32])
        (plan,) = sess._plans.values()
        assert len(plan.fused_groups) == 1
        stats = graphs.session_stats(sess)
    assert stats.captures == 1 and stats.replays >= 2
    assert fused_launches(emulator) > 0
