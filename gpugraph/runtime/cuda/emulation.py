"""A NumPy emulation of the part of CuPy the backend and the GPU kernels use — so the executor's
device boundaries and the GPU kernels' logic run and are tested on hosts without a GPU.

Device arrays are :class:`DeviceArray`, a NumPy subclass that remembers its device. As in CuPy, they
do not mix with host arrays: a ufunc or ``xp`` function given a host ``numpy.ndarray`` raises
TypeError, so a missing copy step in a plan, or a kernel that reaches for NumPy, fails here as it
would on a GPU. When CuPy is installed, ``xp.<name>`` exists only if ``cupy.<name>`` does, so kernels
cannot use NumPy functions that CuPy lacks. Streams, events and devices are no-ops that keep
CuPy's shape (``with device, stream:``, ``record``, ``wait_event``).

Example:
    >>> a = xp.asarray(np.arange(3.0))          # an "upload"
    >>> (a * 2).get()
    array([0., 2., 4.])
    >>> a + np.ones(3)                          # doctest: +SKIP
    TypeError: emulated CuPy: host numpy.ndarray passed to a device operation (add)
"""

import os
import threading
import types

import numpy as np

try:  # the real CuPy (importable without a GPU) tells which names exist
    import cupy as _cupy
except Exception:  # noqa: BLE001 - any import failure just means no name check
    _cupy = None

_current = threading.local()


def _current_device_id():
    return getattr(_current, "device", 0)


class DeviceArray(np.ndarray):
    """An emulated ``cupy.ndarray``: NumPy data tagged with a device."""

    def __array_finalize__(self, obj):
        self._device_id = getattr(obj, "_device_id", _current_device_id())

    @property
    def device(self):
        return Device(self._device_id)

    def get(self, stream=None, order="C", out=None, blocking=True):
        host = np.array(self.view(np.ndarray), order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        if isinstance(arr, DeviceArray) or not isinstance(arr, np.ndarray):
            raise TypeError("emulated CuPy: ndarray.set takes a host numpy.ndarray")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(f"emulated CuPy: set() of shape {arr.shape} {arr.dtype} into "
                             f"{self.shape} {self.dtype}")
        self.view(np.ndarray)[...] = arr

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _reject_host(inputs, ufunc.__name__)
        args = [_plain(x) for x in inputs]
        out = kwargs.get("out")
        if out is not None:
            _reject_host(out, ufunc.__name__)
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        _reject_host(args, func.__name__)
        return _wrap(func(*_plain_tree(args), **{k: _plain_tree(v) for k, v in kwargs.items()}))

    def __getitem__(self, key):
        result = super().__getitem__(_plain_tree(key))
        return _wrap(result) if isinstance(result, np.generic) else result  # CuPy: 0-d arrays

    def __bool__(self):
        return bool(self.view(np.ndarray))

    def __repr__(self):
        return f"DeviceArray({np.ndarray.__repr__(self.view(np.ndarray))}, device={self._device_id})"


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, DeviceArray) else x


def _plain_tree(x):
    if isinstance(x, DeviceArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain_tree(v) for v in x)
    return x


def _reject_host(args, what):
    for x in args:
        if isinstance(x, (list, tuple)):
            _reject_host(x, what)
        elif isinstance(x, np.ndarray) and not isinstance(x, DeviceArray):
            raise TypeError(f"emulated CuPy: host numpy.ndarray {x.shape} {x.dtype} passed to a "
                            f"device operation ({what}); copy it to the device first")


def _wrap(result):
    """NumPy results as device arrays on the current device (CuPy returns 0-d arrays, not scalars)."""
    if isinstance(result, DeviceArray):
        return result
    if isinstance(result, np.ndarray):
        out = result.view(DeviceArray)
        out._device_id = _current_device_id()
        return out
    if isinstance(result, np.generic):
        return _wrap(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, list):
        return [_wrap(r) for r in result]
    return result


# -- cuda namespace ---------------------------------------------------------------------------------
class Device:
    """``cupy.cuda.Device``: a context manager making a device current."""

    def __init__(self, device_id=0):
        self.id = int(device_id)
        self._saved = []

    def __enter__(self):
        self._saved.append(_current_device_id())
        _current.device = self.id
        return self

    def __exit__(self, *exc):
        _current.device = self._saved.pop()
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


class Event:
    def __init__(self, *args, **kwargs):
        self.recorded = False

    def record(self, stream=None):
        self.recorded = True

    def synchronize(self):
        pass


class Stream:
    """``cupy.cuda.Stream``: work is synchronous here; the context-manager protocol is kept."""

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.device_id = _current_device_id()
        self.synchronized = 0

    def __enter__(self):
        if _current_device_id() != self.device_id:
            raise RuntimeError(f"emulated CuPy: stream of device {self.device_id} used while device "
                               f"{_current_device_id()} is current")
        return self

    def __exit__(self, *exc):
        return False

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        if not event.recorded:
            raise RuntimeError("emulated CuPy: waiting on an event that was never recorded")

    def synchronize(self):
        self.synchronized += 1


class _MemoryPool:
    def __init__(self):
        self.limit = 0

    def set_limit(self, size=None, fraction=None):
        self.limit = int(size or 0) if fraction is None else int(fraction * (16 << 30))

    def get_limit(self):
        return self.limit

    def used_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _MemoryPool()
cuda = types.SimpleNamespace(Device=Device, Stream=Stream, Event=Event)


# -- the xp namespace -----------------------------------------------------------------------------
class _EmulatedCupy(types.ModuleType):
    """``xp``: NumPy's functions under CuPy's names, returning DeviceArrays."""

    ndarray = DeviceArray
    cuda = cuda

    def __init__(self):
        super().__init__("gpugraph_emulated_cupy")

    @staticmethod
    def get_default_memory_pool():
        return _POOL

    @staticmethod
    def asarray(a, dtype=None, order=None):
        if isinstance(a, DeviceArray) and (dtype is None or a.dtype == dtype):
            return a
        return _wrap(np.array(_plain(a), dtype=dtype, order=order or "K", copy=True))

    @staticmethod
    def asnumpy(a, stream=None):
        return a.get() if isinstance(a, DeviceArray) else np.asarray(a)

    def __getattr__(self, name):
        if _cupy is not None and not hasattr(_cupy, name):
            raise AttributeError(f"cupy has no attribute {name!r} (the emulation only offers what "
                                 f"CuPy has)")
        value = getattr(np, name)
        if isinstance(value, type) or not callable(value):
            return value  # dtypes, constants, classes (cupy re-exports NumPy's scalar types)

        def call(*args, **kwargs):
            _reject_host(args, name)
            _reject_host(list(kwargs.values()), name)
            return _wrap(value(*_plain_tree(args), **{k: _plain_tree(v) for k, v in kwargs.items()}))
        call.__name__ = name
        setattr(self, name, call)  # cached: later lookups skip __getattr__
        return call


xp = _EmulatedCupy()


# -- the emulated backend -------------------------------------------------------------------------
def _make_backend_class():
    from gpugraph.runtime.cuda.backend import Backend

    class EmulatedBackend(Backend):
        """The CuPy backend over the emulated ``xp``. CPU steps also check that they never receive
        a device array, so a missing copy step fails loudly in tests."""

        emulated = True

        def __init__(self, kernel_emulator=None):
            super().__init__(xp)
            # The CPU build of the custom kernels (cpu_emulation.KernelEmulator): with it, GPU
            # steps launch kernels/*.cu and generated kernels as on a GPU; without it
            # (custom_kernel gives None) they compute with xp. GPUGRAPH_EMULATE_KERNELS=1 turns
            # it on for the process's emulated backend.
            if kernel_emulator is None and os.environ.get("GPUGRAPH_EMULATE_KERNELS") == "1":
                from gpugraph.runtime.cuda.cpu_emulation import KernelEmulator
                kernel_emulator = KernelEmulator()
            self.kernel_emulator = kernel_emulator

        def custom_kernel(self, dctx, source, name):
            emulator = self.kernel_emulator
            if emulator is None:
                return None
            kernel = emulator.kernel(source, name)
            device_id = dctx.cuda_index

            def launch(grid, block, args, *, stream, shared_mem=0):
                # What a real launch needs: device arrays of this GPU, contiguous, and the stream
                # of the step (the one made current around GPU steps).
                if stream is not dctx.stream:
                    raise RuntimeError(f"emulated launch of {kernel.name} on a stream other than "
                                       f"GPU {device_id}'s compute stream")
                for a in args:
                    if isinstance(a, np.ndarray):
                        if not isinstance(a, DeviceArray) or a._device_id != device_id:
                            raise TypeError(f"emulated launch of {kernel.name} on GPU {device_id} got "
                                            f"{'a host array' if not isinstance(a, DeviceArray) else f'an array of GPU {a._device_id}'}")
                        if not a.flags.c_contiguous:
                            raise TypeError(f"emulated launch of {kernel.name}: a non-contiguous array")
                kernel(grid, block, args, stream=stream, shared_mem=shared_mem)
            launch.name = kernel.name
            launch.entry = kernel.entry
            return launch

        def wrap_gpu_kernel(self, fn, dctx, host_inputs=(), host_outputs=False):
            run = super().wrap_gpu_kernel(fn, dctx)
            device_id = dctx.cuda_index
            host_inputs = frozenset(host_inputs)

            def checked(ctx, *args):
                for i, a in enumerate(args):
                    if i in host_inputs:
                        if isinstance(a, DeviceArray):
                            raise TypeError(f"emulated GPU step '{ctx.node_name}' got a device array "
                                            f"for host-memory input {i}")
                    elif isinstance(a, np.ndarray) and not isinstance(a, DeviceArray):
                        raise TypeError(f"emulated GPU step '{ctx.node_name}' got a host array "
                                        f"{a.shape} {a.dtype} for input {i}: a copy step is missing")
                    elif isinstance(a, DeviceArray) and a._device_id != device_id:
                        raise TypeError(f"emulated GPU step '{ctx.node_name}' on GPU {device_id} got "
                                        f"an array of GPU {a._device_id}")
                result = run(ctx, *args)
                for r in (result if isinstance(result, (list, tuple)) else (result,)):
                    on_host = isinstance(r, (np.ndarray, np.generic)) and not isinstance(r, DeviceArray)
                    if (isinstance(r, DeviceArray) if host_outputs else on_host):
                        raise TypeError(f"emulated GPU kernel of '{ctx.node_name}' ({ctx.op_type}) "
                                        f"returned a {'device' if host_outputs else 'host'} value "
                                        f"{type(r).__name__}")
                return result
            return checked

        def wrap_cpu_kernel(self, fn):
            def checked(ctx, *args):
                for a in args:
                    if isinstance(a, DeviceArray):
                        raise TypeError(f"emulated CPU step '{ctx.node_name}' ({ctx.op_type}) got a "
                                        f"device array {a.shape} {a.dtype}: a copy step is missing")
                return fn(ctx, *args)
            return checked

    return EmulatedBackend


def __getattr__(name):  # EmulatedBackend is built lazily: backend.py imports the runtime state
    if name == "EmulatedBackend":
        cls = _make_backend_class()
        globals()["EmulatedBackend"] = cls
        return cls
    raise AttributeError(name)
