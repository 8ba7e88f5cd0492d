"""The CuPy backend: per-GPU contexts (device, compute stream, copy stream, pinned host buffers),
transfers, the memory pool settings from ``GPUOptions``, and the wrappers the plan puts around GPU
steps.

Streams and events are explicit. Every GPU step runs with its device current and its device's
compute stream made current around the call (``with device, stream:``), so the CuPy calls inside a
kernel are enqueued on that stream and no kernel relies on whatever stream happens to be current.
(While a CUDA graph is being captured, :mod:`gpugraph.runtime.cuda.graphs` substitutes a capture
stream for the compute stream in the capturing thread only; see :meth:`DeviceContext.step_stream`.)

Transfers:

- **Host to device** (fed values): the value is copied into a page-locked (pinned) host buffer from
  the device's :class:`PinnedBufferPool`, then copied to the device on the copy stream, which is
  truly asynchronous from pinned memory. The copy stream first waits for the compute stream (the
  pooled device block may still be in use there); the compute stream then waits for the copy.
- **Device to host** (fetched values, inputs of CPU steps): copied into a pinned buffer on the
  compute stream that produced the value, then out into a fresh NumPy array once the copy's event
  completes — the only places the host waits for the GPU (plus one stream sync at the end of a run,
  so ``run`` returns when its work is done, as in TensorFlow).
- **Between GPUs**: one device-to-device copy (``cudaMemcpyPeerAsync``) on the destination's copy
  stream, after enabling peer access once per pair of GPUs where CUDA allows it (without it the
  runtime still copies device to device). The copy waits for the source's compute stream; the
  destination's compute stream waits for the copy, and so does the source's, so the source block is
  not reused before the copy has read it.

A pinned buffer is handed out again only after the event recorded behind its last copy is done.

Example:
    >>> backend = get_backend(inventory, gpu_options=None)          # doctest: +SKIP
    >>> dctx = backend.context(inventory.gpus[0])                    # doctest: +SKIP
    >>> backend.to_host(backend.to_device(dctx, np.ones(3)))        # doctest: +SKIP
    array([1., 1., 1.])
"""

import collections
import contextlib
import logging
import threading

import numpy as np

from gpugraph.runtime.state import RefCell

logger = logging.getLogger("gpugraph")


class CaptureUnsupported(RuntimeError):
    """An operation that cannot be part of a CUDA graph was attempted while one is being captured."""


_capture_state = threading.local()  # .dctx: the DeviceContext this thread is capturing, if any


def _check_not_capturing(what):
    dctx = getattr(_capture_state, "dctx", None)
    if dctx is not None:
        raise CaptureUnsupported(f"{what} while capturing a CUDA graph on {dctx.device.short_name}")


class PinnedBufferPool:
    """Page-locked host buffers for one GPU's transfers, reused by size.

    Sizes are rounded up to a power of two (at least 512 bytes). :meth:`acquire` returns a buffer
    whose last copy has completed: it takes a free buffer whose event is done, else allocates one
    while fewer than ``max_per_size`` of that size exist, else waits for the oldest one's event.
    :meth:`release` gives a buffer back with the event recorded after the copy that uses it.

    Example:
        >>> pool = PinnedBufferPool(allocate=lambda n: np.empty(n, np.uint8))
        >>> buf = pool.acquire(1000)
        >>> len(buf)
        1024
        >>> pool.release(buf, None)          # no copy pending: reusable at once
        >>> pool.acquire(700) is buf
        True
    """

    def __init__(self, allocate, max_per_size=4, large_bytes=64 << 20):
        self._allocate = allocate
        self.max_per_size = max_per_size
        self.large_bytes = large_bytes  # above this, one buffer per size: pinned memory is scarce
        self._free = collections.defaultdict(collections.deque)   # size -> (buffer, event or None)
        self._count = collections.Counter()                       # size -> buffers that exist
        self._lock = threading.Lock()
        self.allocations = 0
        self.waits = 0

    @staticmethod
    def size_class(nbytes):
        return max(512, 1 << (int(nbytes) - 1).bit_length())

    def _limit(self, size):
        return 1 if size > self.large_bytes else self.max_per_size

    def acquire(self, nbytes):
        """A uint8 buffer of at least ``nbytes`` that no copy is using."""
        size = self.size_class(nbytes)
        with self._lock:
            free = self._free[size]
            for i, (buffer, event) in enumerate(free):
                if event is None or event.done:
                    del free[i]
                    return buffer
            if not free or self._count[size] < self._limit(size):
                self._count[size] += 1
                self.allocations += 1
                allocate = True
            else:
                buffer, event = free.popleft()
                allocate = False
        if allocate:
            return self._allocate(size)
        event.synchronize()  # every buffer of this size is in flight: wait for the oldest copy
        self.waits += 1
        return buffer

    def release(self, buffer, event):
        """Gives ``buffer`` back; it is reused once ``event`` (None: nothing pending) is done."""
        size = len(buffer)
        with self._lock:
            free = self._free[size]
            if len(free) < self._limit(size):
                free.append((buffer, event))
                return
            self._count[size] -= 1
        if event is not None:
            event.synchronize()  # dropped: its memory must not return to CuPy's pool mid-copy


class DeviceContext:
    """One GPU as the executor uses it. ``stream`` runs kernels; ``copy_stream`` host-to-device and
    peer copies; ``pinned`` stages transfers; ``index`` is gpugraph's GPU number, ``cuda_index``
    the CUDA ordinal."""

    __slots__ = ("device", "index", "cuda_index", "stream", "copy_stream", "xp", "pinned", "_local",
                 "backend")

    def __init__(self, xp, device, backend=None):
        self.xp = xp
        self.backend = backend
        self.device = device
        self.index = device.index
        self.cuda_index = device.cuda_index
        with self.activate():
            self.stream = xp.cuda.Stream(non_blocking=True)
            self.copy_stream = xp.cuda.Stream(non_blocking=True)
        self.pinned = PinnedBufferPool(self._allocate_pinned)
        self._local = threading.local()

    def _allocate_pinned(self, nbytes):
        memory = self.xp.cuda.alloc_pinned_memory(nbytes)
        return np.ndarray((nbytes,), np.uint8, buffer=memory)  # as cupyx.empty_pinned builds it

    def activate(self):
        """A context manager making this GPU current. A fresh ``Device`` each time: CuPy keeps the
        device to restore on the Device object, so one shared object is not safe across threads."""
        return self.xp.cuda.Device(self.cuda_index)

    def custom_kernel(self, source, name):
        """The custom kernel ``name`` of ``source`` on this GPU (see :meth:`Backend.custom_kernel`)."""
        return self.backend.custom_kernel(self, source, name)

    def step_stream(self):
        """The stream GPU steps run on in the calling thread: the compute stream, or the capture
        stream while this thread captures a CUDA graph (other threads keep the compute stream)."""
        return getattr(self._local, "stream_override", None) or self.stream

    def __repr__(self):
        return f"<DeviceContext {self.device.short_name} cuda:{self.device.cuda_index}>"


class Backend:
    """Transfers and step wrappers over an array module ``xp`` (CuPy, or its NumPy emulation)."""

    emulated = False

    def __init__(self, xp):
        self.xp = xp
        self.ndarray = xp.ndarray
        self._contexts = {}
        self._memory_configured = {}
        self._peer_access = {}  # (cuda device, cuda peer) -> whether peer access is enabled
        self._lock = threading.Lock()

    # -- devices and memory -------------------------------------------------------------------------
    def context(self, device, gpu_options=None):
        """The :class:`DeviceContext` of a GPU (created once per process; the first session's
        ``gpu_options`` set the device's memory pool, as TensorFlow's are process-wide)."""
        dctx = self._contexts.get(device.cuda_index)
        if dctx is None:
            with self._lock:
                dctx = self._contexts.get(device.cuda_index)
                if dctx is None:
                    dctx = self._contexts[device.cuda_index] = DeviceContext(self.xp, device, self)
        self._configure_memory(dctx, gpu_options)
        return dctx

    def _configure_memory(self, dctx, gpu_options):
        """``per_process_gpu_memory_fraction`` caps CuPy's pool on the device; with
        ``allow_growth=False`` that fraction is also reserved up front (TF's behaviour). CuPy's pool
        otherwise grows on demand, i.e. it always behaves like ``allow_growth=True``: gpugraph never
        grabs the whole GPU by default."""
        if gpu_options is None:
            return
        fraction = float(gpu_options.per_process_gpu_memory_fraction or 0.0)
        grow = bool(gpu_options.allow_growth)
        wanted = (fraction, grow)
        done = self._memory_configured.get(dctx.index)
        if done is not None:
            if done != wanted and (fraction or done[0]):
                logger.info("gpugraph: GPU memory options are process-wide; %s keeps "
                            "per_process_gpu_memory_fraction=%s, allow_growth=%s from the first session",
                            dctx.device.short_name, done[0], done[1])
            return
        self._memory_configured[dctx.index] = wanted
        if not fraction:
            return
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"gpu_options.per_process_gpu_memory_fraction must be in (0, 1], got {fraction}")
        pool = self.xp.get_default_memory_pool()
        with dctx.activate():
            pool.set_limit(fraction=fraction)
            if not grow:
                # Reserve: allocate the limit once and free it; the pool keeps the block cached.
                reserve = pool.get_limit()
                if reserve:
                    with dctx.stream:
                        block = self.xp.empty((int(reserve * 0.95),), dtype=self.xp.uint8)
                    del block

    # -- custom kernels -----------------------------------------------------------------------------
    def custom_kernel(self, dctx, source, name):
        """Kernel ``name`` of ``source`` (a ``kernels/`` file name or a generated
        :class:`~gpugraph.runtime.cuda.kernel_loader.KernelSource`) loaded in ``dctx``'s GPU —
        compiled on first use through the kernel cache. Call it as
        ``kernel(grid, block, args, stream=dctx.stream, shared_mem=0)``."""
        from gpugraph.runtime.cuda import kernel_loader
        return kernel_loader.get_kernel(source, name, device=dctx.cuda_index)

    def peer_access(self, device, peer):
        """Whether CUDA device ``device`` has peer access to ``peer``'s memory (enabled on first
        ask where ``deviceCanAccessPeer`` allows it; asked once per pair)."""
        key = (device, peer)
        enabled = self._peer_access.get(key)
        if enabled is not None:
            return enabled
        with self._lock:
            enabled = self._peer_access.get(key)
            if enabled is None:
                enabled = self._peer_access[key] = self._enable_peer_access(device, peer)
        return enabled

    def _enable_peer_access(self, device, peer):
        runtime = self.xp.cuda.runtime
        if not runtime.deviceCanAccessPeer(device, peer):
            return False
        try:
            with self.xp.cuda.Device(device):
                runtime.deviceEnablePeerAccess(peer)
        except runtime.CUDARuntimeError as e:
            if "PeerAccessAlreadyEnabled" in str(e):  # another library enabled it: fine
                return True
            logger.debug("gpugraph: peer access from GPU %d to GPU %d not enabled (%s); copies between "
                         "them go through the CUDA runtime", device, peer, e)
            return False
        return True

    # -- transfers ----------------------------------------------------------------------------------
    def is_device_array(self, x):
        return isinstance(x, self.ndarray)

    def to_device(self, dctx, x):
        """``x`` on ``dctx``'s GPU: unchanged when already there, else copied (host values through a
        pinned buffer and the copy stream; another GPU's arrays peer to peer)."""
        if isinstance(x, RefCell):
            x = x.read()
        if isinstance(x, self.ndarray):
            if x.device.id == dctx.cuda_index:
                return x
            return self.copy_peer(dctx, x)
        _check_not_capturing("a host-to-device copy")
        host = np.asarray(x)
        xp = self.xp
        with dctx.activate():
            with dctx.stream:  # allocated from the compute stream's pool, where it will be used
                out = xp.empty(host.shape, host.dtype)
            if host.size:
                self._upload_into(dctx, out, host)
        return out

    def copy_into(self, dctx, out, host):
        """Copies the host array ``host`` into the device array ``out`` (same shape and dtype) on
        ``dctx``'s GPU, through a pinned buffer and the copy stream, ordered on the compute stream."""
        host = np.asarray(host)
        if host.shape != out.shape or host.dtype != out.dtype:
            raise ValueError(f"copy_into: {host.shape} {host.dtype} into {out.shape} {out.dtype}")
        if host.size:
            with dctx.activate():
                self._upload_into(dctx, out, host)

    def _upload_into(self, dctx, out, host):
        nbytes = host.nbytes
        buffer = dctx.pinned.acquire(nbytes)
        staged = buffer[:nbytes].view(host.dtype).reshape(host.shape)
        np.copyto(staged, host)
        copy_stream = dctx.copy_stream
        # The copy may not start before compute work that last used this (pooled) block.
        copy_stream.wait_event(dctx.stream.record())
        out.set(staged, stream=copy_stream)
        done = copy_stream.record()
        dctx.pinned.release(buffer, done)
        dctx.stream.wait_event(done)

    def to_host(self, x):
        """``x`` as a host value: device arrays are copied back through a pinned buffer on their
        device's compute stream (blocking until done); host values and Python objects pass through."""
        if isinstance(x, RefCell):
            x = x.read()
        if not isinstance(x, self.ndarray):
            return x
        _check_not_capturing("a device-to-host copy")
        device_id = x.device.id
        dctx = self._contexts.get(device_id)
        with self.xp.cuda.Device(device_id):
            if dctx is None:
                return x.get()
            if not x.size:
                return x.get(stream=dctx.stream)
            stream = dctx.stream
            if not x.flags.c_contiguous:
                with stream:
                    x = self.xp.ascontiguousarray(x)
            nbytes = x.nbytes
            buffer = dctx.pinned.acquire(nbytes)
            staged = buffer[:nbytes].view(x.dtype).reshape(x.shape)
            x.get(stream=stream, out=staged, blocking=False)
            done = stream.record()
            done.synchronize()
            host = staged.copy()
            dctx.pinned.release(buffer, None)
        return host

    def copy_peer(self, dctx, x):
        """``x``, an array on another GPU, copied to ``dctx``'s GPU device to device."""
        src = self._contexts.get(x.device.id)
        if src is None:  # not produced by a plan step (no context): through the host
            return self.to_device(dctx, self.to_host(x))
        _check_not_capturing("a peer-to-peer copy")
        self.peer_access(dctx.cuda_index, src.cuda_index)
        xp = self.xp
        with src.activate():
            if not x.flags.c_contiguous:
                with src.stream:
                    x = xp.ascontiguousarray(x)
            ready = src.stream.record()
        with dctx.activate():
            with dctx.stream:
                out = xp.empty(x.shape, x.dtype)
            if not x.nbytes:
                return out
            copy_stream = dctx.copy_stream
            copy_stream.wait_event(ready)                  # x has been computed
            copy_stream.wait_event(dctx.stream.record())   # out's pooled block is free here
            xp.cuda.runtime.memcpyPeerAsync(out.data.ptr, dctx.cuda_index, x.data.ptr, src.cuda_index,
                                            x.nbytes, copy_stream.ptr)
            done = copy_stream.record()
            dctx.stream.wait_event(done)
        with src.activate():
            src.stream.wait_event(done)  # x's block is not reused on its GPU before the copy read it
        return out

    def upload_step(self, ctx, x):
        """A copy step's kernel: ``ctx`` is the destination's DeviceContext."""
        return self.to_device(ctx, x)

    def sync_step(self, ctx):
        """The last step of a plan that ran GPU work: wait for ``ctx``'s compute stream."""
        ctx.stream.synchronize()

    @contextlib.contextmanager
    def capturing(self, dctx, stream):
        """Within the block, this thread's GPU steps on ``dctx`` run on ``stream`` (which is
        capturing a CUDA graph) and transfers raise :class:`CaptureUnsupported`."""
        dctx._local.stream_override = stream
        _capture_state.dctx = dctx
        try:
            yield
        finally:
            dctx._local.stream_override = None
            _capture_state.dctx = None

    @contextlib.contextmanager
    def on_stream(self, dctx, stream):
        """Within the block, this thread's GPU steps on ``dctx`` run on ``stream``."""
        dctx._local.stream_override = stream
        try:
            yield
        finally:
            dctx._local.stream_override = None

    # -- step wrappers ------------------------------------------------------------------------------
    def wrap_gpu_kernel(self, fn, dctx, host_inputs=(), host_outputs=False):
        """``fn`` called with its device and step stream current. ``host_inputs`` (positions
        that receive host values) and ``host_outputs`` are what the plan expects; the emulation
        checks them."""
        activate, step_stream = dctx.activate, dctx.step_stream

        def run(ctx, *args):
            with activate(), step_stream():
                return fn(ctx, *args)
        run.__wrapped__ = fn
        return run

    def wrap_cpu_kernel(self, fn):
        return fn
