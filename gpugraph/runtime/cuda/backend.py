"""The CuPy backend: per-GPU contexts (device, compute stream, copy stream), transfers, the memory
pool settings from ``GPUOptions``, and the wrappers the plan puts around GPU steps.

Streams and events are explicit. Every GPU step runs with its device current and its device's
compute stream made current around the call (``with device, stream:``), so the CuPy calls inside a
kernel are enqueued on that stream and no kernel relies on whatever stream happens to be current.
Uploads go through the copy stream, ordered by events on both sides; downloads run on the compute
stream that produced the value and block until the copy is done — the only places the host waits
for the GPU (plus one stream sync at the end of a run, so ``run`` returns when its work is done,
as in TensorFlow).

Example:
    >>> backend = get_backend(inventory, gpu_options=None)          # doctest: +SKIP
    >>> dctx = backend.context(inventory.gpus[0])                    # doctest: +SKIP
    >>> backend.to_host(backend.to_device(dctx, np.ones(3)))        # doctest: +SKIP
    array([1., 1., 1.])
"""

import logging

import numpy as np

from gpugraph.runtime.state import RefCell

logger = logging.getLogger("gpugraph")


class DeviceContext:
    """One GPU as the executor uses it. ``stream`` runs kernels; ``copy_stream`` host-to-device
    copies; ``index`` is gpugraph's GPU number, ``cuda_index`` the CUDA ordinal."""

    __slots__ = ("device", "index", "cuda_index", "stream", "copy_stream", "xp", "backend")

    def __init__(self, xp, device, backend=None):
        self.xp = xp
        self.backend = backend
        self.device = device
        self.index = device.index
        self.cuda_index = device.cuda_index
        with self.activate():
            self.stream = xp.cuda.Stream(non_blocking=True)
            self.copy_stream = xp.cuda.Stream(non_blocking=True)

    def activate(self):
        """A context manager making this GPU current. A fresh ``Device`` each time: CuPy keeps the
        device to restore on the Device object, so one shared object is not safe across threads."""
        return self.xp.cuda.Device(self.cuda_index)

    def custom_kernel(self, source, name):
        """The custom kernel ``name`` of ``source`` on this GPU (see :meth:`Backend.custom_kernel`)."""
        return self.backend.custom_kernel(self, source, name)

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

    # -- devices and memory -------------------------------------------------------------------------
    def context(self, device, gpu_options=None):
        """The :class:`DeviceContext` of a GPU (created once per process; the first session's
        ``gpu_options`` set the device's memory pool, as TensorFlow's are process-wide)."""
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

    # -- transfers ----------------------------------------------------------------------------------
    def is_device_array(self, x):
        return isinstance(x, self.ndarray)

    def to_device(self, dctx, x):
        """``x`` on ``dctx``'s GPU: unchanged when already there, else copied (host values through
        the copy stream; another GPU's arrays through the host)."""
        if isinstance(x, RefCell):
            x = x.read()
        if isinstance(x, self.ndarray):
            if x.device.id == dctx.cuda_index:
                return x
            x = self.to_host(x)
        host = np.asarray(x, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        xp = self.xp
        with dctx.activate():
            with dctx.stream:  # allocated from the compute stream's pool, where it will be used
                out = xp.empty(host.shape, host.dtype)
            if host.size:
                # The copy may not start before compute work that last used this (pooled) block.
                dctx.copy_stream.wait_event(dctx.stream.record())
                out.set(host, stream=dctx.copy_stream)
                dctx.stream.wait_event(dctx.copy_stream.record())
        return out

    def to_host(self, x):
        """``x`` as a host value: device arrays are copied back on their device's compute stream
        (blocking until done); host values and Python objects pass through."""
        if isinstance(x, RefCell):
            x = x.read()
        if not isinstance(x, self.ndarray):
            return x
        device_id = x.device.id
        dctx = self._contexts.get(device_id)
        with self.xp.cuda.Device(device_id):
            if dctx is None:
                return x.get()
            return x.get(stream=dctx.stream)

    def upload_step(self, ctx, x):
        """A copy step's kernel: ``ctx`` is the destination's DeviceContext."""
        return self.to_device(ctx, x)

    def sync_step(self, ctx):
        """The last step of a plan that ran GPU work: wait for ``ctx``'s compute stream."""
        ctx.stream.synchronize()

    # -- step wrappers ------------------------------------------------------------------------------
    def wrap_gpu_kernel(self, fn, dctx, host_inputs=(), host_outputs=False):
        """``fn`` called with its device and compute stream current. ``host_inputs`` (positions
        that receive host values) and ``host_outputs`` are what the plan expects; the emulation
        checks them."""
        activate, stream = dctx.activate, dctx.stream

        def run(ctx, *args):
            with activate(), stream:
                return fn(ctx, *args)
        run.__wrapped__ = fn
        return run

    def wrap_cpu_kernel(self, fn):
        return fn
