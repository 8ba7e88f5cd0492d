"""Transfers of the GPU backend: fed values and fetches through pinned host buffers (a pool that
never hands out a buffer whose copy is still in flight), GPU-to-GPU edges as one peer-to-peer copy,
and the emulation's model of asynchronous copies and capture that makes these checks meaningful.

The ``emulated`` tests run everywhere; those marked ``gpu`` use CuPy on a real GPU and skip without one.
"""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.runtime import cuda, devices
from gpugraph.runtime.cuda import emulation
from gpugraph.runtime.cuda.backend import PinnedBufferPool
from gpugraph.runtime.cuda.emulation import CUDARuntimeError, xp


@pytest.fixture(autouse=True)
def fresh_graph():
    gg.reset_default_graph()
    emulation.stats.clear()
    yield
    gg.reset_default_graph()


def _emulated_backend():
    cuda.register_kernels()
    with devices.simulated(num_gpus=2) as inv:
        backend = cuda.get_backend(inv)
        return backend, [backend.context(d) for d in inv.gpus]


def _pinned(values):
    """``values`` copied into emulated pinned memory."""
    values = np.asarray(values)
    raw = np.frombuffer(emulation.alloc_pinned_memory(values.nbytes), np.uint8)
    staged = raw.view(values.dtype).reshape(values.shape)
    staged[...] = values
    return staged


# -- the emulation's model of copies ------------------------------------------------------------------
def test_emulated_async_copies_need_pinned_memory():
    dev = xp.zeros(3, np.float32)
    stream = emulation.Stream()
    with pytest.raises(TypeError, match="pageable"):
        dev.set(np.ones(3, np.float32), stream=stream)
    with pytest.raises(TypeError, match="pinned"):
        dev.get(stream=stream, out=np.empty(3, np.float32), blocking=False)
    dev.set(np.ones(3, np.float32))  # a synchronous copy may come from anywhere
    assert dev.get().tolist() == [1.0, 1.0, 1.0]


def test_emulated_upload_lands_only_when_an_event_after_it_is_waited_on():
    dev = xp.zeros(3, np.float32)
    copy_stream, compute = emulation.Stream(), emulation.Stream()
    dev.set(_pinned(np.array([1.0, 2.0, 3.0], np.float32)), stream=copy_stream)
    assert dev.view(np.ndarray).tolist() == [0.0, 0.0, 0.0]  # still in flight
    done = copy_stream.record()
    assert not done.done
    compute.wait_event(done)
    assert done.done and dev.view(np.ndarray).tolist() == [1.0, 2.0, 3.0]


def test_emulation_shows_a_pinned_buffer_reused_too_early():
    """What the pool prevents: rewriting a pinned buffer before its copy ran changes what arrives."""
    first = xp.zeros(2, np.float32)
    stream = emulation.Stream()
    staged = _pinned(np.ones(2, np.float32))
    first.set(staged, stream=stream)
    staged[...] = 7.0  # reused at once, without waiting for the copy's event
    stream.synchronize()
    assert first.get().tolist() == [7.0, 7.0]


def test_pool_never_hands_out_a_buffer_whose_copy_is_in_flight():
    pool = PinnedBufferPool(lambda n: np.frombuffer(emulation.alloc_pinned_memory(n), np.uint8),
                            max_per_size=1)
    stream = emulation.Stream()
    first, second = xp.zeros(4, np.float32), xp.zeros(4, np.float32)

    buffer = pool.acquire(16)
    staged = buffer[:16].view(np.float32)
    staged[...] = 1.0
    first.set(staged, stream=stream)
    pool.release(buffer, stream.record())

    again = pool.acquire(16)  # the only buffer of its size is in flight: the pool waits for it
    assert again is buffer and pool.waits == 1
    staged = again[:16].view(np.float32)
    staged[...] = 2.0
    second.set(staged, stream=stream)
    pool.release(again, stream.record())
    stream.synchronize()
    assert first.get().tolist() == [1.0] * 4 and second.get().tolist() == [2.0] * 4


def test_pool_allocates_another_buffer_rather_than_wait_while_below_its_limit():
    pool = PinnedBufferPool(lambda n: np.frombuffer(emulation.alloc_pinned_memory(n), np.uint8))
    stream = emulation.Stream()
    dev = xp.zeros(100, np.uint8)
    buffer = pool.acquire(100)
    dev.set(buffer[:100], stream=stream)
    pool.release(buffer, stream.record())
    other = pool.acquire(100)
    assert other is not buffer and pool.waits == 0 and pool.allocations == 2
    pool.release(other, None)
    stream.synchronize()
    assert pool.acquire(100) in (buffer, other)  # done now: reused, not allocated
    assert pool.allocations == 2
    assert len(pool.acquire(3000)) == 4096 and len(pool.acquire(1)) == 512


def test_backend_transfers_go_through_pinned_buffers():
    backend, (gpu0, _) = _emulated_backend()
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    dev = backend.to_device(gpu0, values)
    values[...] = -1  # the caller may reuse its array at once: the upload copied it
    back = backend.to_host(dev.T)  # a non-contiguous view comes back too
    np.testing.assert_array_equal(back, np.arange(12, dtype=np.float32).reshape(3, 4).T)
    assert type(back) is np.ndarray and not emulation.is_pinned(back)
    assert emulation.stats["async_uploads"] == 1 and emulation.stats["async_downloads"] == 1
    assert backend.to_host(backend.to_device(gpu0, np.float32(2.5))) == np.float32(2.5)
    assert backend.to_host(backend.to_device(gpu0, np.zeros((0, 3)))).shape == (0, 3)


def test_session_feeds_and_fetches_use_pinned_buffers():
    x = gg.placeholder(gg.float32, [None, 3], name="x")
    y = gg.nn.relu(x * 2.0)
    with devices.simulated(num_gpus=1), gg.Session() as sess:
        for i in range(3):
            feed = np.arange(6, dtype=np.float32).reshape(2, 3) - i
            np.testing.assert_array_equal(sess.run(y, {x: feed}), np.maximum(feed * 2, 0))
    assert emulation.stats["async_uploads"] >= 3 and emulation.stats["async_downloads"] >= 3


# -- peer to peer ----------------------------------------------------------------------------------------
def _two_gpu_graph():
    x = gg.placeholder(gg.float32, [2, 3], name="x")
    with gg.device("/gpu:0"):
        a = gg.nn.relu(x * 3.0, name="on_gpu0")
    with gg.device("/gpu:1"):
        b = gg.add(a, 1.0, name="on_gpu1")
    return x, a, b


@pytest.fixture
def fresh_peer_state(monkeypatch):
    backend, _ = _emulated_backend()
    monkeypatch.setattr(backend, "_peer_access", {})
    monkeypatch.setattr(emulation.runtime, "peer_access_enabled", set())
    return backend


@pytest.mark.parametrize("peer_supported", [True, False])
def test_gpu_to_gpu_edge_is_one_peer_copy(fresh_peer_state, monkeypatch, peer_supported):
    monkeypatch.setattr(emulation.runtime, "peer_access_supported", peer_supported)
    x, a, b = _two_gpu_graph()
    feed = np.array([[1, -2, 3], [-4, 5, -6]], np.float32)
    with devices.simulated(num_gpus=2), gg.Session() as sess:
        plan = sess._get_plan([b], [x], [])
        notes = [n for n in plan.step_notes if n and n.startswith("(copying")]
        assert notes == ["(copying its input from /device:CPU:0 to /device:GPU:0)",
                         "(copying its input from /device:GPU:0 to /device:GPU:1, peer to peer)",
                         "(copying its fetched value from /device:GPU:1 to the host)"]
        for i in range(3):
            np.testing.assert_array_equal(sess.run(b, {x: feed + i}), np.maximum((feed + i) * 3, 0) + 1)
    assert emulation.stats["peer_copies"] == 3
    assert emulation.stats["async_downloads"] == 3  # the fetches only: nothing went through the host
    assert fresh_peer_state.peer_access(1, 0) is peer_supported
    assert emulation.runtime.peer_access_enabled == ({(1, 0)} if peer_supported else set())


def test_peer_copy_of_a_variable_and_both_values_fetched(fresh_peer_state):
    with gg.device("/gpu:0"):
        w = gg.Variable(np.arange(4, dtype=np.float32), name="w")
    with gg.device("/gpu:1"):
        doubled = w * 2.0
    with devices.simulated(num_gpus=2), gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        got_w, got = sess.run([w, doubled])
        sess.run(w.assign(np.ones(4, np.float32)))
        assert sess.run(doubled).tolist() == [2.0] * 4
    np.testing.assert_array_equal(got_w, np.arange(4))
    np.testing.assert_array_equal(got, np.arange(4) * 2)


def test_peer_access_is_enabled_once_per_pair(fresh_peer_state):
    backend = fresh_peer_state
    assert backend.peer_access(0, 1) and backend.peer_access(0, 1)
    assert emulation.runtime.peer_access_enabled == {(0, 1)}
    with emulation.Device(0), pytest.raises(CUDARuntimeError, match="AlreadyEnabled"):
        emulation.runtime.deviceEnablePeerAccess(1)  # what a second enable would do


def test_emulated_peer_copy_checks_pointers_and_devices():
    with emulation.Device(0):
        src = xp.arange(4, dtype=np.float32)
    with emulation.Device(1):
        dst = xp.zeros(4, np.float32)
        stream = emulation.Stream()
    with pytest.raises(CUDARuntimeError, match="on device 0, not 1"):
        emulation.runtime.memcpyPeerAsync(dst.data.ptr, 1, src.data.ptr, 1, 16, stream.ptr)
    emulation.runtime.memcpyPeerAsync(dst.data.ptr, 1, src.data.ptr, 0, 16, stream.ptr)
    assert dst.view(np.ndarray).tolist() == [0.0] * 4  # queued on the stream
    stream.synchronize()
    assert dst.get().tolist() == [0.0, 1.0, 2.0, 3.0]


# -- real GPUs ---------------------------------------------------------------------------------------------
def _real_gpus(n):
    inv = devices.inventory()
    if inv.backend != "cupy" or inv.num_gpus < n:
        pytest.skip(f"needs {n} CUDA GPU(s): {inv.reason or f'{inv.num_gpus} present'}")
    return inv


@pytest.mark.gpu
def test_real_gpu_transfers_through_pinned_buffers():
    inv = _real_gpus(1)
    cuda.register_kernels()
    backend = cuda.get_backend(inv)
    dctx = backend.context(inv.gpus[0])
    values = np.random.default_rng(0).standard_normal((64, 33)).astype(np.float32)
    dev = backend.to_device(dctx, values)
    np.testing.assert_array_equal(backend.to_host(dev), values)
    np.testing.assert_array_equal(backend.to_host(dev[:, ::2]), values[:, ::2])
    assert dctx.pinned.allocations >= 1


@pytest.mark.gpu
def test_real_gpus_peer_copy():
    _real_gpus(2)
    x, a, b = _two_gpu_graph()
    feed = np.array([[1, -2, 3], [-4, 5, -6]], np.float32)
    with gg.Session() as sess:
        plan = sess._get_plan([b], [x], [])
        assert sum("peer to peer" in (n or "") for n in plan.step_notes) == 1
        for i in range(3):
            np.testing.assert_array_equal(sess.run(b, {x: feed + i}), np.maximum((feed + i) * 3, 0) + 1)
