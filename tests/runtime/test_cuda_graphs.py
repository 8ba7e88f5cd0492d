"""CUDA graphs: a single-GPU plan is captured on its second run with a feed signature and replayed
after that; replays give what normal runs give; plans that write variables, steps that cannot be
captured, rebound variables, other feed shapes, the GPUGRAPH_CUDA_GRAPHS switch and concurrent runs
all stay right.

The ``emulated`` tests run everywhere (the emulation records and re-runs the captured steps and
rejects what a real capture rejects); those marked ``gpu`` run the main cases on CuPy and a real GPU.
"""

import contextlib
import logging
import threading

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework.op_builder import apply_op
from gpugraph.runtime import device_plan, devices, rewrites
from gpugraph.runtime.cuda import emulation, graphs
from gpugraph.runtime.cuda.emulation import CUDARuntimeError, EmulatedGraphError, xp

BACKENDS = ["emulated", pytest.param("cupy", marks=pytest.mark.gpu)]


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(rewrites.CUDA_GRAPHS_ENV, raising=False)
    gg.reset_default_graph()
    emulation.stats.clear()
    yield
    gg.reset_default_graph()


def _gpu_host(backend):
    if backend == "emulated":
        return devices.simulated(num_gpus=1)
    inv = devices.inventory()
    if inv.backend != "cupy" or not inv.num_gpus:
        pytest.skip(f"no CUDA GPU: {inv.reason or 'CuPy sees none'}")
    return contextlib.nullcontext(inv)


def _mlp(hidden=(16, 8), inputs=5, classes=3, seed=0):
    """An inference MLP: x -> dense+relu ... -> softmax; weights in variables. Returns (x, probs,
    weights as NumPy arrays)."""
    rng = np.random.default_rng(seed)
    x = gg.placeholder(gg.float32, [None, inputs], name="x")
    h, weights, width = x, [], inputs
    for i, units in enumerate(list(hidden) + [classes]):
        w0 = (rng.standard_normal((width, units)) / np.sqrt(width)).astype(np.float32)
        b0 = (rng.standard_normal(units) * 0.1).astype(np.float32)
        w = gg.Variable(w0, name=f"w{i}")
        b = gg.Variable(b0, name=f"b{i}")
        h = gg.matmul(h, w) + b
        if i < len(hidden):
            h = gg.nn.relu(h)
        weights.append((w0, b0))
        width = units
    return x, gg.nn.softmax(h), weights


def _mlp_reference(weights, batch):
    h = batch.astype(np.float64)
    for i, (w, b) in enumerate(weights):
        h = h @ w + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _plan(sess, fetch, feeds):
    return sess._get_plan([fetch], list(feeds), [])


# -- replay --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_replays_match_normal_runs(backend):
    x, probs, weights = _mlp()
    rng = np.random.default_rng(1)
    with _gpu_host(backend), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        plan = _plan(sess, probs, [x])
        assert isinstance(plan, graphs.CudaGraphPlan)
        for _ in range(25):
            batch = rng.standard_normal((4, 5)).astype(np.float32)
            np.testing.assert_allclose(sess.run(probs, {x: batch}), _mlp_reference(weights, batch),
                                       rtol=1e-5, atol=1e-6)
        stats = plan.cuda_graphs
        assert (stats.normal_runs, stats.captures, stats.replays, stats.capture_failures) == (1, 1, 23, 0)
        assert graphs.session_stats(sess).replays == 23


def test_replay_writes_into_the_arrays_captured():
    """The emulated graph re-runs the recorded steps into the captured arrays, and the plan keeps
    every one of them alive (a freed one makes the emulated replay raise)."""
    x, probs, weights = _mlp()
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        batch = np.ones((2, 5), np.float32)
        for _ in range(3):
            sess.run(probs, {x: batch})
        captured = next(iter(_plan(sess, probs, [x])._graphs.values()))
        assert captured.graph.launches == 2  # the capture run's own launch, then one replay
        assert captured.graph.captured_with_allocator is not None  # a private memory pool
        assert "KERNEL" in captured.graph.debug_dot_str()
    assert emulation.stats["captures"] == 1 and emulation.stats["graph_launches"] == 2


def test_make_callable_replays_too():
    x, probs, weights = _mlp()
    batch = np.full((3, 5), 0.5, np.float32)
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        predict = sess.make_callable(probs, [x])
        for i in range(4):
            np.testing.assert_allclose(predict(batch * i), _mlp_reference(weights, batch * i), rtol=1e-5,
                                       atol=1e-6)
        assert graphs.session_stats(sess).replays == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_feed_shapes_run_normally_and_get_their_own_graph(backend):
    x, probs, weights = _mlp()
    rng = np.random.default_rng(2)
    with _gpu_host(backend), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        plan = _plan(sess, probs, [x])
        for batch_size in (4, 4, 4, 7, 4, 7, 7, 1, 1, 1):
            batch = rng.standard_normal((batch_size, 5)).astype(np.float32)
            np.testing.assert_allclose(sess.run(probs, {x: batch}), _mlp_reference(weights, batch),
                                       rtol=1e-5, atol=1e-6)
        stats = plan.cuda_graphs
        # batch 4: normal, capture, replay, replay; 7: normal, capture, replay; 1: normal, capture, replay
        assert (stats.normal_runs, stats.captures, stats.replays) == (3, 3, 4)


def test_least_recently_used_graphs_are_dropped(monkeypatch):
    monkeypatch.setattr(graphs, "MAX_GRAPHS_PER_PLAN", 2)
    x, probs, weights = _mlp()
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        plan = _plan(sess, probs, [x])
        for batch_size in (1, 1, 2, 2, 1, 3, 3):
            batch = np.full((batch_size, 5), 0.25, np.float32)
            np.testing.assert_allclose(sess.run(probs, {x: batch}), _mlp_reference(weights, batch),
                                       rtol=1e-5, atol=1e-6)
        assert [s[0][0][0] for s in plan._graphs] == [1, 3]  # batch 2's graph was least recently used


# -- what is not captured ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_training_step_is_not_captured_and_stays_right(backend):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((8, 4)).astype(np.float32)
    target = rng.standard_normal((8, 1)).astype(np.float32)
    w0 = rng.standard_normal((4, 1)).astype(np.float32)

    def train(host):
        gg.reset_default_graph()
        x = gg.placeholder(gg.float32, [None, 4])
        y = gg.placeholder(gg.float32, [None, 1])
        w = gg.Variable(w0, name="w")
        loss = gg.reduce_mean(gg.square(gg.matmul(x, w) - y))
        step = gg.train.GradientDescentOptimizer(0.1).minimize(loss)
        with host, gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            losses = [sess.run([loss, step], {x: data, y: target})[0] for _ in range(6)]
            return losses, sess.run(w), graphs.session_stats(sess)

    expected, w_expected, _ = train(devices.simulated(num_gpus=0))
    losses, w_final, stats = train(_gpu_host(backend))
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    np.testing.assert_allclose(w_final, w_expected, rtol=1e-5)
    assert expected[-1] < expected[0]
    assert stats.captures == 0 and stats.replays == 0


def test_random_ops_are_not_replayed():
    x = gg.placeholder(gg.float32, [2, 3])
    noisy = x + gg.random_uniform([2, 3], seed=1)
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        outs = [sess.run(noisy, {x: np.zeros((2, 3), np.float32)}) for _ in range(4)]
        assert not isinstance(_plan(sess, noisy, [x]), graphs.CudaGraphPlan)
    assert all(not np.array_equal(a, b) for a, b in zip(outs, outs[1:]))


def test_a_step_that_writes_a_variable_is_caught_at_capture_and_undone(monkeypatch, caplog):
    """Were a writer not barred up front, the capture notices the rebinding, restores the variable
    and runs normally: the update happens exactly once per run."""
    monkeypatch.setattr(device_plan, "_graph_blocker", lambda op, spec, want: None)
    x = gg.placeholder(gg.float32, [3])
    w = gg.Variable(np.zeros(3, np.float32), name="w")
    bump = gg.assign_add(w, x)
    caplog.set_level(logging.DEBUG, logger="gpugraph")
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        for i in range(4):
            sess.run(bump, {x: np.ones(3, np.float32)})
        np.testing.assert_array_equal(sess.run(w), [4.0, 4.0, 4.0])
        stats = graphs.session_stats(sess)
    assert stats.capture_failures == 1 and stats.replays == 0
    assert sum("rebinds variable 'w'" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_that_copies_from_the_host_falls_back(backend, caplog, monkeypatch):
    """A GPU kernel that uploads a host value from inside its step (here Equal's, replaced for the
    test by one that does so when the shapes differ) cannot be captured (the emulation raises like
    CUDA): the capture fails once for that feed signature and its runs stay normal, while another
    signature is captured and replayed."""
    from gpugraph.framework import registry
    cuda_equal = registry.get_op_spec("Equal").kernel_for("GPU")

    def uploading_equal(ctx, x, y):
        if x.shape != y.shape:
            return ctx.xp.asarray(np.array(False))   # a host-to-device copy inside the step
        return cuda_equal(ctx, x, y)
    monkeypatch.setitem(registry.get_op_spec("Equal").kernels, "GPU", uploading_equal)
    a = gg.placeholder(gg.float32, [None])
    b = gg.placeholder(gg.float32, [None])
    with gg.device("/gpu:0"):
        same = apply_op("Equal", x=a * 2.0, y=b, incompatible_shape_error=False)
    caplog.set_level(logging.DEBUG, logger="gpugraph")
    with _gpu_host(backend), gg.Session() as sess:
        plan = _plan(sess, same, [a, b])
        for _ in range(4):
            assert not sess.run(same, {a: np.ones(3, np.float32), b: np.ones(4, np.float32)})
        for i in range(3):  # another signature is captured and replayed fine
            out = sess.run(same, {a: np.arange(3, dtype=np.float32), b: np.array([0, 2, 5], np.float32) + i})
            assert out.tolist() == [[True, True, False], [False, False, False], [False, False, False]][i]
        stats = plan.cuda_graphs
    assert stats.capture_failures == 1 and stats.captures == 1 and stats.replays == 1
    messages = [r.getMessage() for r in caplog.records if "capture failed" in r.getMessage()]
    assert len(messages) == 1 and "float32[3], float32[4]" in messages[0]


def test_env_switch_turns_cuda_graphs_off(monkeypatch):
    monkeypatch.setenv(rewrites.CUDA_GRAPHS_ENV, "0")
    x, probs, weights = _mlp()
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        batch = np.ones((2, 5), np.float32)
        for _ in range(4):
            np.testing.assert_allclose(sess.run(probs, {x: batch}), _mlp_reference(weights, batch),
                                       rtol=1e-5, atol=1e-6)
        assert not isinstance(_plan(sess, probs, [x]), graphs.CudaGraphPlan)
        assert graphs.session_stats(sess) == graphs.CudaGraphStats()
    assert emulation.stats["captures"] == 0


def test_multi_gpu_plans_are_not_captured():
    x = gg.placeholder(gg.float32, [2])
    with gg.device("/gpu:0"):
        a = x * 2.0
    with gg.device("/gpu:1"):
        b = a + 1.0
    with devices.simulated(num_gpus=2), gg.Session() as sess:
        for _ in range(3):
            assert sess.run(b, {x: np.ones(2, np.float32)}).tolist() == [3.0, 3.0]
        assert not isinstance(_plan(sess, b, [x]), graphs.CudaGraphPlan)


# -- variables changed between replays ------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_reassigned_between_replays(backend):
    x = gg.placeholder(gg.float32, [None, 3])
    w = gg.Variable(np.eye(3, dtype=np.float32), name="w")
    y = gg.matmul(x, w)
    new_w = gg.placeholder(gg.float32, [3, 3])
    set_w = w.assign(new_w)
    batch = np.arange(6, dtype=np.float32).reshape(2, 3)
    with _gpu_host(backend), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        plan = _plan(sess, y, [x])
        for _ in range(3):
            np.testing.assert_allclose(sess.run(y, {x: batch}), batch)
        assert plan.cuda_graphs.replays == 1
        for k in range(2, 5):
            sess.run(set_w, {new_w: np.eye(3, dtype=np.float32) * k})
            for _ in range(3):
                np.testing.assert_allclose(sess.run(y, {x: batch}), batch * k)
        stats = plan.cuda_graphs
        # Each reassignment drops the graph (one normal run), the next run captures again.
        assert stats.invalidations == 3 and stats.captures == 4 and stats.replays == 4


def test_resource_variable_reads_replay_and_notice_writes():
    x = gg.placeholder(gg.float32, [None, 2])
    w = gg.get_variable("w", initializer=np.ones((2, 2), np.float32), use_resource=True)
    y = gg.matmul(x, w)
    bump = w.assign_add(np.ones((2, 2), np.float32))
    batch = np.ones((1, 2), np.float32)
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        for _ in range(3):
            assert sess.run(y, {x: batch}).tolist() == [[2.0, 2.0]]
        sess.run(bump)
        for _ in range(3):
            assert sess.run(y, {x: batch}).tolist() == [[4.0, 4.0]]
        stats = graphs.session_stats(sess)
    assert stats.replays >= 2 and stats.invalidations == 1


# -- threads -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_runs_get_their_own_results(backend):
    x, probs, weights = _mlp(hidden=(32,))
    errors = []
    with _gpu_host(backend), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        start = threading.Barrier(6)

        def worker(seed):
            rng = np.random.default_rng(seed)
            start.wait()
            try:
                for _ in range(40):
                    batch = rng.standard_normal((4, 5)).astype(np.float32)
                    np.testing.assert_allclose(sess.run(probs, {x: batch}), _mlp_reference(weights, batch),
                                               rtol=1e-5, atol=1e-6)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = _plan(sess, probs, [x]).cuda_graphs
    assert not errors, errors[0]
    assert stats.captures == 1 and stats.replays > 0
    assert stats.normal_runs + stats.captures + stats.replays == 240


# -- the emulation's capture checks ------------------------------------------------------------------
@pytest.mark.parametrize("illegal", [
    lambda a, s: a.get(),
    lambda a, s: bool(a[0]),
    lambda a, s: float(a.sum()),
    lambda a, s: a.tolist(),
    lambda a, s: s.synchronize(),
    lambda a, s: emulation.Device(0).synchronize(),
    lambda a, s: xp.asarray(np.ones(2)),
    lambda a, s: xp.nonzero(a),
    lambda a, s: a[a > 1],
    lambda a, s: a.set(np.ones(3)),
], ids=["get", "bool", "float", "tolist", "stream sync", "device sync", "asarray host", "nonzero", "mask",
        "set"])
def test_emulated_capture_rejects_what_cuda_rejects(illegal):
    a = xp.arange(3.0)
    stream = emulation.Stream()
    with stream:
        stream.begin_capture()
        with pytest.raises(CUDARuntimeError, match="cudaErrorStreamCaptureUnsupported"):
            illegal(a, stream)
        with pytest.raises(CUDARuntimeError, match="cudaErrorStreamCaptureInvalidated"):
            stream.end_capture()
    assert not stream.is_capturing() and emulation.active_capture() is None
    assert a.get().tolist() == [0.0, 1.0, 2.0]  # legal again


def _captured_double(source):
    """A graph of one recorded step ``source * 2``; returns (graph, its output array)."""
    stream = emulation.Stream()
    with stream:
        stream.begin_capture()
        out = emulation.active_capture().record_kernel(lambda ctx, v: v * 2, None, [source], 0,
                                                       lambda ctx, args: [])
        graph = stream.end_capture()
    return graph, out, stream


def test_emulated_replay_writes_into_the_captured_output():
    source = xp.arange(3.0)
    graph, out, stream = _captured_double(source)
    source[...] = xp.asarray(np.array([5.0, 6.0, 7.0]))
    graph.launch(stream)
    assert out.get().tolist() == [10.0, 12.0, 14.0]


def test_emulated_replay_raises_when_a_captured_array_was_freed():
    source = xp.arange(3.0)
    graph, out, stream = _captured_double(source)
    del out  # the plan must keep every captured array alive
    with pytest.raises(EmulatedGraphError, match="freed after capture"):
        graph.launch(stream)


def test_emulated_replay_raises_when_a_variable_was_rebound():
    from gpugraph.runtime.state import RefCell
    cell = RefCell("v")
    cell.value = xp.arange(3.0)
    stream = emulation.Stream()
    with stream:
        stream.begin_capture()
        out = emulation.active_capture().record_kernel(lambda ctx, c: c.value + 1, None, [cell], 0,
                                                       device_plan.variable_cells)
        graph = stream.end_capture()
    cell.value = xp.zeros(3)
    with pytest.raises(EmulatedGraphError, match="rebound after capture"):
        graph.launch(stream)
    assert out is not None


def test_emulated_capture_rejects_a_kernel_on_another_stream():
    capturing, other = emulation.Stream(), emulation.Stream()
    with capturing:
        capturing.begin_capture()
    with other, pytest.raises(CUDARuntimeError, match="not capturing"):
        emulation.active_capture().record_kernel(lambda ctx: xp.zeros(1), None, [], 0, lambda c, a: [])
    with pytest.raises(CUDARuntimeError, match="Invalidated"):
        capturing.end_capture()
