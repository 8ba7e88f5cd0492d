"""A NumPy emulation of the part of CuPy the backend and the GPU kernels use — so the executor's
device boundaries, the GPU kernels' logic, the transfer discipline and CUDA-graph capture run and are
tested on hosts without a GPU.

Device arrays are :class:`DeviceArray`, a NumPy subclass that remembers its device. As in CuPy, they
do not mix with host arrays: a ufunc or ``xp`` function given a host ``numpy.ndarray`` raises
TypeError, so a missing copy step in a plan, or a kernel that reaches for NumPy, fails here as it
would on a GPU. When CuPy is installed, ``xp.<name>`` exists only if ``cupy.<name>`` does, so kernels
cannot use NumPy functions that CuPy lacks.

What the emulation checks (each models what CUDA does, or is stricter where noted):

- **Asynchronous copies.** Kernels run eagerly, but copies issued on a stream — ``ndarray.set`` with
  a stream, ``ndarray.get(..., blocking=False)``, ``runtime.memcpyPeerAsync`` — are queued on that
  stream and happen only when something orders them: an event recorded after them is synchronized
  or waited on (``Stream.wait_event``), or the stream or device is synchronized. So a kernel that
  reads an upload without waiting on its event sees stale data, and a pinned buffer rewritten before
  its copy completed delivers the new bytes: both show up as wrong values in tests. (A real GPU may
  finish a copy later than a ``wait_event`` does here; the emulation cannot show such races.)
- **Pinned memory.** ``cuda.alloc_pinned_memory`` returns :class:`PinnedMemory`, host memory the
  emulation knows as page-locked. An asynchronous copy (``set`` with a stream, non-blocking ``get``)
  from or to anything else raises TypeError — stricter than CUDA, which silently runs a pageable copy
  synchronously.
- **Streams, events, devices.** A stream is entered only while its device is current; an event is
  recorded only on a stream of the device it was created on; waiting on a never-recorded event raises.
- **Peer access.** ``runtime.deviceEnablePeerAccess`` twice for one pair raises
  ``cudaErrorPeerAccessAlreadyEnabled``, as CUDA does; ``memcpyPeerAsync`` checks that each pointer
  belongs to an array on the device it names. ``runtime.peer_access_supported = False`` emulates
  GPUs without peer access.
- **CUDA graph capture.** ``Stream.begin_capture()`` starts recording: GPU steps (the backend reports
  them through :func:`active_capture`) still run eagerly and are recorded with their arguments and
  result arrays. ``Graph.launch()`` re-runs the recorded steps and copies their results into the
  arrays captured (``np.copyto``), as a replay writes the same addresses. During capture, operations
  a real capture rejects raise ``CUDARuntimeError`` (cudaErrorStreamCaptureUnsupported) and make
  ``end_capture()`` raise cudaErrorStreamCaptureInvalidated: stream, event and device synchronize,
  ``get()`` and other device-to-host reads (``bool()``, ``int()``, ``float()``, ``item()``,
  ``tolist()``, boolean-mask indexing), host-to-device copies (``set()``, ``xp.asarray``/``xp.array``
  of host data) and CuPy functions whose output size depends on the data (``nonzero``, ``unique``,
  …). A kernel launched on another stream while a capture is active raises (a real GPU would run it
  outside the graph). A replay raises :class:`EmulatedGraphError` when an array the graph uses was
  freed since capture (a real GPU would write memory someone else now owns), when a variable the
  graph reads was rebound to another array (a real replay reads the old one), and when a recorded
  step rebinds a variable or changes a host output (a real replay runs no Python).

What only a real GPU shows: timing and overlap, races that depend on when copies really finish,
memory reuse by CuPy's pool (the emulation allocates fresh NumPy memory; kernels' internal
temporaries are invisible to it), cuBLAS or NVRTC behaviour under capture, and the real set of
operations a capture rejects.

Example:
    >>> a = xp.asarray(np.arange(3.0))          # an "upload"
    >>> (a * 2).get()
    array([0., 2., 4.])
    >>> a + np.ones(3)                          # doctest: +SKIP
    TypeError: emulated CuPy: host numpy.ndarray passed to a device operation (add)
"""

import collections
import contextlib
import itertools
import os
import threading
import time
import types
import weakref

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

    @property
    def data(self):
        """``cupy.ndarray.data``: a :class:`MemoryPointer` (``.ptr``) to this array's first byte."""
        return MemoryPointer(self)

    def get(self, stream=None, order="C", out=None, blocking=True):
        _forbid_in_capture("ndarray.get() (a device-to-host copy)")
        if out is not None and (out.shape != self.shape or out.dtype != self.dtype):
            raise ValueError(f"emulated CuPy: get(out=) of shape {out.shape} {out.dtype} for an array "
                             f"of {self.shape} {self.dtype}")
        if stream is not None and not blocking:
            if out is None or not is_pinned(out):
                raise TypeError("emulated CuPy: get(blocking=False) into pageable memory; the copy is "
                                "only asynchronous into a pinned out= buffer")
            stream._flush()  # in stream order: earlier queued work first, then this copy's snapshot
            snapshot = np.array(self.view(np.ndarray), copy=True)

            def copy():
                out[...] = snapshot
            stream._enqueue(copy)
            stats["async_downloads"] += 1
            return out
        _flush_device(self._device_id, stream)
        host = np.array(self.view(np.ndarray), order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        _forbid_in_capture("ndarray.set() (a host-to-device copy)")
        if isinstance(arr, DeviceArray) or not isinstance(arr, np.ndarray):
            raise TypeError("emulated CuPy: ndarray.set takes a host numpy.ndarray")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(f"emulated CuPy: set() of shape {arr.shape} {arr.dtype} into "
                             f"{self.shape} {self.dtype}")
        if stream is None:
            self.view(np.ndarray)[...] = arr
            return
        if not is_pinned(arr):
            raise TypeError("emulated CuPy: ndarray.set(arr, stream=...) from pageable memory; CUDA runs "
                            "such a copy synchronously: stage it through pinned memory")
        target = self.view(np.ndarray)

        def copy():  # reads the pinned buffer when the copy runs, as DMA does
            target[...] = arr
        stream._enqueue(copy)
        stats["async_uploads"] += 1

    # Device-to-host reads: legal (and synchronous) outside a capture, rejected inside one.
    def __bool__(self):
        _forbid_in_capture("bool() of a device array")
        return bool(self.view(np.ndarray))

    def __int__(self):
        _forbid_in_capture("int() of a device array")
        return int(self.view(np.ndarray))

    def __float__(self):
        _forbid_in_capture("float() of a device array")
        return float(self.view(np.ndarray))

    def __complex__(self):
        _forbid_in_capture("complex() of a device array")
        return complex(self.view(np.ndarray))

    def item(self, *args):
        _forbid_in_capture("ndarray.item()")
        return self.view(np.ndarray).item(*args)

    def tolist(self):
        _forbid_in_capture("ndarray.tolist()")
        return self.view(np.ndarray).tolist()

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
        _check_mask_key(key)
        result = super().__getitem__(_plain_tree(key))
        return _wrap(result) if isinstance(result, np.generic) else result  # CuPy: 0-d arrays

    def __setitem__(self, key, value):
        _check_mask_key(key)
        super().__setitem__(_plain_tree(key), _plain(value))

    def __repr__(self):
        return f"DeviceArray({np.ndarray.__repr__(self.view(np.ndarray))}, device={self._device_id})"


def _check_mask_key(key):
    """Boolean-mask indexing needs the number of True values on the host: CuPy synchronizes."""
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, DeviceArray) and k.dtype == np.bool_ and k.ndim for k in keys):
        _forbid_in_capture("boolean-mask indexing")


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


# -- errors, statistics ---------------------------------------------------------------------------
class CUDARuntimeError(RuntimeError):
    """``cupy.cuda.runtime.CUDARuntimeError``: ``status`` is the CUDA error's name here."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status


class EmulatedGraphError(RuntimeError):
    """A replay of an emulated CUDA graph would go wrong on a real GPU (see the module docstring)."""


# What the emulation saw, for tests: async_uploads, async_downloads, peer_copies, pinned_allocations,
# captures, graph_launches. Tests may clear it.
stats = collections.Counter()


def _forbid_in_capture(what):
    """Raises as CUDA does for an operation that is illegal while this thread captures a stream."""
    capture = getattr(_current, "capture", None)
    if capture is not None:
        capture.invalidated = capture.invalidated or what
        raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported",
                               f"operation not permitted when stream is capturing ({what})")


# -- pinned host memory ---------------------------------------------------------------------------
class PinnedMemory(bytearray):
    """Emulated page-locked host memory (``cupy.cuda.PinnedMemoryPointer``): a buffer NumPy arrays
    can be built on (``np.frombuffer``), which asynchronous copies accept."""


def alloc_pinned_memory(size):
    stats["pinned_allocations"] += 1
    return PinnedMemory(int(size))


def is_pinned(arr):
    """Whether the host array ``arr`` lies in :class:`PinnedMemory`."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, PinnedMemory)


# -- device pointers ---------------------------------------------------------------------------------
_arrays_by_pointer = {}  # address -> weakref to the DeviceArray whose .data gave it


class MemoryPointer:
    """``cupy.cuda.MemoryPointer``: ``ptr`` is the address of the array's first byte."""

    __slots__ = ("ptr", "device_id")

    def __init__(self, array):
        self.ptr = array.__array_interface__["data"][0]
        self.device_id = array._device_id
        _arrays_by_pointer[self.ptr] = weakref.ref(array)


def _array_at(ptr, device_id, size, what):
    ref = _arrays_by_pointer.get(ptr)
    array = ref() if ref is not None else None
    if array is None or array.__array_interface__["data"][0] != ptr:
        raise CUDARuntimeError("cudaErrorInvalidValue", f"{what} pointer {ptr:#x} is not a live device array")
    if array._device_id != device_id:
        raise CUDARuntimeError("cudaErrorInvalidValue", f"{what} pointer is on device {array._device_id}, "
                                                        f"not {device_id}")
    if not array.flags.c_contiguous or size > array.nbytes:
        raise CUDARuntimeError("cudaErrorInvalidValue", f"{what}: {size} bytes do not fit a contiguous "
                                                        f"array of {array.nbytes} bytes")
    return array


def _bytes(array):
    return array.view(np.ndarray).reshape(-1).view(np.uint8)


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

    def synchronize(self):
        _forbid_in_capture("device synchronize")
        _flush_device(self.id, None)

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


class Event:
    """``cupy.cuda.Event``: marks a point in a stream; ``done`` once the stream's copies queued
    before it have run."""

    def __init__(self, block=True, disable_timing=False, interprocess=False):
        self.device_id = _current_device_id()
        self.recorded = False
        self._stream = None
        self._position = 0

    def record(self, stream=None):
        stream = stream if stream is not None else _current_stream()
        if stream.device_id != self.device_id:
            raise CUDARuntimeError("cudaErrorInvalidResourceHandle",
                                   f"event of device {self.device_id} recorded on a stream of device "
                                   f"{stream.device_id}")
        self.recorded = True
        self._stream = stream
        self._position = stream._queued

    @property
    def done(self):
        return self._stream is None or self._stream._completed >= self._position

    def synchronize(self):
        if self._stream is not None:
            if self._stream._capture is not None:
                _forbid_in_capture("event synchronize on a capturing stream")
            self._stream._flush(self._position)


_streams = weakref.WeakSet()
_streams_by_pointer = weakref.WeakValueDictionary()
_stream_pointers = itertools.count(0x5000)
_null_streams = {}


class Stream:
    """``cupy.cuda.Stream``. Kernels run at once; copies issued on the stream wait in its queue
    until an event after them is synchronized or waited on, or the stream is synchronized."""

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.device_id = _current_device_id()
        self.synchronized = 0
        self.ptr = next(_stream_pointers)
        self._pending = collections.deque()  # (position, copy function)
        self._queued = 0
        self._completed = 0
        self._capture = None
        self._lock = threading.Lock()
        _streams.add(self)
        _streams_by_pointer[self.ptr] = self

    def __enter__(self):
        if _current_device_id() != self.device_id:
            raise RuntimeError(f"emulated CuPy: stream of device {self.device_id} used while device "
                               f"{_current_device_id()} is current")
        _stream_stack().append(self)
        return self

    def __exit__(self, *exc):
        _stream_stack().pop()
        return False

    def _enqueue(self, copy):
        if self._capture is not None:
            raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported",
                                   "the emulation does not record copies into a graph")
        with self._lock:
            self._queued += 1
            self._pending.append((self._queued, copy))

    def _flush(self, upto=None):
        """Runs the queued copies up to position ``upto`` (all of them by default)."""
        while True:
            with self._lock:
                if not self._pending or (upto is not None and self._pending[0][0] > upto):
                    return
                position, copy = self._pending.popleft()
            copy()
            self._completed = max(self._completed, position)

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        if not event.recorded:
            raise RuntimeError("emulated CuPy: waiting on an event that was never recorded")
        event._stream._flush(event._position)

    @property
    def done(self):
        return not self._pending

    def synchronize(self):
        if self._capture is not None:
            _forbid_in_capture("synchronize of the capturing stream")
        self._flush()
        self.synchronized += 1

    # -- capture ----------------------------------------------------------------------------------
    def begin_capture(self, mode=None):
        if self._capture is not None or getattr(_current, "capture", None) is not None:
            raise CUDARuntimeError("cudaErrorIllegalState", "a capture is already under way")
        self._flush()
        self._capture = _current.capture = _Capture(self, getattr(_current, "allocator", None))

    def is_capturing(self):
        return self._capture is not None

    def end_capture(self):
        capture = self._capture
        if capture is None:
            raise CUDARuntimeError("cudaErrorIllegalState", "end_capture() without begin_capture()")
        self._capture = None
        if getattr(_current, "capture", None) is capture:
            _current.capture = None
        if capture.invalidated:
            raise CUDARuntimeError("cudaErrorStreamCaptureInvalidated",
                                   f"capture was invalidated by: {capture.invalidated}")
        stats["captures"] += 1
        return Graph(capture.nodes, self.device_id, capture.allocator)


def _stream_stack():
    stack = getattr(_current, "streams", None)
    if stack is None:
        stack = _current.streams = []
    return stack


def _current_stream():
    stack = _stream_stack()
    if stack:
        return stack[-1]
    device_id = _current_device_id()
    stream = _null_streams.get(device_id)
    if stream is None:
        stream = _null_streams[device_id] = Stream(null=True)
    return stream


def _flush_device(device_id, stream):
    """A blocking copy: the given stream's queued work (or, without one, every stream's on the
    device) completes first."""
    if stream is not None:
        stream._flush()
        return
    for s in list(_streams):
        if s.device_id == device_id:
            s._flush()


# -- CUDA graphs ----------------------------------------------------------------------------------
def active_capture():
    """The capture this thread has under way, or None. The emulated backend reports GPU steps to it."""
    return getattr(_current, "capture", None)


class _Held:
    """A device array a graph node uses, held weakly: the plan must keep it alive, as a real graph
    keeps using its memory."""

    __slots__ = ("ref", "shape", "dtype")

    def __init__(self, array):
        self.ref = weakref.ref(array)
        self.shape = array.shape
        self.dtype = array.dtype

    def get(self, node):
        array = self.ref()
        if array is None:
            raise EmulatedGraphError(
                f"graph node '{node}': an array of {self.shape} {self.dtype} it uses was freed after "
                f"capture; on a GPU the replay would write memory CuPy's pool has handed to someone else")
        return array


def _hold(value):
    return _Held(value) if isinstance(value, DeviceArray) else value


def _held_value(value, node):
    return value.get(node) if isinstance(value, _Held) else value


def _flat(result):
    return list(result) if isinstance(result, (list, tuple)) else [result]


class _KernelNode:
    """One GPU step as a graph replays it: ``fn(ctx, *args)``, its results copied into the captured
    arrays."""

    def __init__(self, fn, ctx, args, result, bindings):
        self.fn = fn
        self.ctx = ctx
        self.args = [_hold(a) for a in args]
        self.results = [_hold(r) for r in _flat(result)]
        self.bindings = bindings  # (cell, array) for each variable the step reads

    def __str__(self):
        return getattr(self.ctx, "node_name", getattr(self.fn, "__name__", "?"))

    def replay(self):
        for cell, value in self.bindings:
            if cell.value is not value:
                raise EmulatedGraphError(
                    f"graph node '{self}': variable '{cell.name}' was rebound after capture; on a GPU the "
                    f"replay would read the array captured, not the variable's value")
        result = self.fn(self.ctx, *[_held_value(a, self) for a in self.args])
        for cell, value in self.bindings:
            if cell.value is not value:
                raise EmulatedGraphError(
                    f"graph node '{self}' rebinds variable '{cell.name}': a replay on a GPU runs no Python, "
                    f"so the variable would keep its old array")
        new = _flat(result)
        if len(new) != len(self.results):
            raise EmulatedGraphError(f"graph node '{self}' returned {len(new)} values at replay, "
                                     f"{len(self.results)} at capture")
        for captured, value in zip(self.results, new):
            if isinstance(captured, _Held):
                _copy_result(self, captured.get(self), value)
            elif captured is not value and not _same_host_value(captured, value):
                raise EmulatedGraphError(
                    f"graph node '{self}' produced host value {value!r} at replay but {captured!r} at "
                    f"capture; a replay on a GPU cannot change host values")


def _copy_result(node, captured, value):
    if not isinstance(value, DeviceArray) or value.shape != captured.shape or value.dtype != captured.dtype:
        raise EmulatedGraphError(f"graph node '{node}' produced {getattr(value, 'shape', value)} at replay "
                                 f"instead of {captured.shape} {captured.dtype}")
    target, source = captured.view(np.ndarray), value.view(np.ndarray)
    if captured is value or np.shares_memory(target, source):
        return  # the kernel returned (a view of) memory the graph already writes in place
    if not target.flags.writeable:
        raise EmulatedGraphError(f"graph node '{node}': its captured output is read-only and shares no "
                                 f"memory with the replayed one")
    np.copyto(target, source)


def _same_host_value(a, b):
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:  # noqa: BLE001 - objects that do not compare: not the same
        return False


class _Capture:
    def __init__(self, stream, allocator):
        self.stream = stream
        self.allocator = allocator
        self.nodes = []
        self.invalidated = None

    def record_kernel(self, fn, ctx, args, device_id, cells_of):
        """Runs a GPU step during capture (eagerly: the emulation has no deferred kernels) and
        records it. ``cells_of(ctx, args)`` lists the variables (RefCells) the step reads."""
        current = _current_stream()
        if current is not self.stream:
            self.invalidated = self.invalidated or "a kernel on another stream"
            raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported",
                                   f"'{getattr(ctx, 'node_name', fn)}' launched on a stream that is not "
                                   f"capturing; on a GPU it would run outside the graph")
        cells = cells_of(ctx, args)
        bindings = [(cell, cell.value) for cell in cells]
        result = fn(ctx, *args)
        self.nodes.append(_KernelNode(fn, ctx, args, result, bindings))
        return result


class Graph:
    """``cupy.cuda.Graph``: ``launch(stream)`` replays the recorded GPU steps on ``stream``."""

    def __init__(self, nodes, device_id, allocator=None):
        self._nodes = nodes
        self.device_id = device_id
        self.captured_with_allocator = allocator  # the allocator active at capture (a private pool)
        self.launches = 0

    def launch(self, stream=None):
        _forbid_in_capture("launching a graph inside a capture (not emulated)")
        stream = stream if stream is not None else _current_stream()
        if stream.device_id != self.device_id:
            raise CUDARuntimeError("cudaErrorInvalidValue", f"graph of device {self.device_id} launched "
                                                            f"on a stream of device {stream.device_id}")
        with Device(self.device_id), stream:
            for node in self._nodes:
                time.sleep(0)  # let other threads run: a GPU replays while the host goes on
                node.replay()
        self.launches += 1
        stats["graph_launches"] += 1

    def upload(self, stream=None):
        pass

    def debug_dot_str(self, flags=0):
        """The recorded nodes in DOT (the emulation records kernel nodes only: it rejects copies
        during capture)."""
        lines = [f'  n{i} [label="KERNEL\\n{node}"];' for i, node in enumerate(self._nodes)]
        lines += [f"  n{i} -> n{i + 1};" for i in range(len(self._nodes) - 1)]
        return "digraph emulated {\n" + "\n".join(lines) + "\n}\n"


# -- runtime (the few calls the backend makes) -------------------------------------------------------
class _Runtime(types.SimpleNamespace):
    """``cupy.cuda.runtime``: peer access and peer copies."""

    CUDARuntimeError = CUDARuntimeError
    streamCaptureModeGlobal = 0
    streamCaptureModeThreadLocal = 1
    streamCaptureModeRelaxed = 2

    def __init__(self):
        super().__init__()
        self.peer_access_supported = True
        self.peer_access_enabled = set()  # (device, peer) pairs

    def deviceCanAccessPeer(self, device, peer):
        return int(self.peer_access_supported and device != peer)

    def deviceEnablePeerAccess(self, peer):
        device = _current_device_id()
        if not self.deviceCanAccessPeer(device, peer):
            raise CUDARuntimeError("cudaErrorPeerAccessUnsupported", f"device {device} cannot access {peer}")
        if (device, peer) in self.peer_access_enabled:
            raise CUDARuntimeError("cudaErrorPeerAccessAlreadyEnabled",
                                   f"peer access from {device} to {peer} is already enabled")
        self.peer_access_enabled.add((device, peer))

    def memcpyPeerAsync(self, dst, dstDevice, src, srcDevice, size, stream):  # noqa: N803 - CUDA's names
        _forbid_in_capture("memcpyPeerAsync (peer copies are not recorded by the emulation)")
        target = _array_at(dst, dstDevice, size, "destination")
        source = _array_at(src, srcDevice, size, "source")
        queue = _streams_by_pointer.get(stream)
        if queue is None or queue.device_id not in (dstDevice, srcDevice):
            raise CUDARuntimeError("cudaErrorInvalidResourceHandle", "memcpyPeerAsync on an unknown stream "
                                                                     "or one of a third device")

        def copy():
            _bytes(target)[:size] = _bytes(source)[:size]
        queue._enqueue(copy)
        stats["peer_copies"] += 1


runtime = _Runtime()


@contextlib.contextmanager
def using_allocator(allocator=None):
    """``cupy.cuda.using_allocator``: this thread's allocator within the block (the emulation
    allocates NumPy memory either way; captures remember which allocator was active)."""
    saved = getattr(_current, "allocator", None)
    _current.allocator = allocator
    try:
        yield
    finally:
        _current.allocator = saved


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

    def malloc(self, size):
        raise NotImplementedError("the emulation allocates NumPy memory, not from a pool")


_POOL = _MemoryPool()
cuda = types.SimpleNamespace(Device=Device, Stream=Stream, Event=Event, Graph=Graph, MemoryPool=_MemoryPool,
                             using_allocator=using_allocator, alloc_pinned_memory=alloc_pinned_memory,
                             PinnedMemory=PinnedMemory, MemoryPointer=MemoryPointer, runtime=runtime)


# CuPy functions whose output size depends on the data: they copy a count to the host.
_SYNCING_FUNCTIONS = frozenset({"nonzero", "argwhere", "flatnonzero", "unique", "compress", "extract"})


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
        if not isinstance(a, DeviceArray):
            _forbid_in_capture("cupy.asarray of host data (a host-to-device copy)")
        return _wrap(np.array(_plain(a), dtype=dtype, order=order or "K", copy=True))

    @staticmethod
    def asnumpy(a, stream=None):
        _forbid_in_capture("cupy.asnumpy (a device-to-host copy)")
        return a.get() if isinstance(a, DeviceArray) else np.asarray(a)

    def __getattr__(self, name):
        if _cupy is not None and not hasattr(_cupy, name):
            raise AttributeError(f"cupy has no attribute {name!r} (the emulation only offers what "
                                 f"CuPy has)")
        value = getattr(np, name)
        if isinstance(value, type) or not callable(value):
            return value  # dtypes, constants, classes (cupy re-exports NumPy's scalar types)

        syncs = name in _SYNCING_FUNCTIONS

        def call(*args, **kwargs):
            if syncs or (name == "array" and args and not isinstance(args[0], DeviceArray)):
                _forbid_in_capture(f"cupy.{name} (it synchronizes with the host)")
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
                if stream is not dctx.step_stream():
                    raise RuntimeError(f"emulated launch of {kernel.name} on a stream other than "
                                       f"the one GPU {device_id}'s steps run on in this thread")
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
            device_id = dctx.cuda_index

            def recorded(ctx, *args):  # runs with the step's device and stream current
                capture = active_capture()
                if capture is None:
                    return fn(ctx, *args)
                from gpugraph.runtime.device_plan import variable_cells
                return capture.record_kernel(fn, ctx, args, device_id, variable_cells)
            run = super().wrap_gpu_kernel(recorded, dctx)
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
