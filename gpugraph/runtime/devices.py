"""The host's device inventory: ``CPU:0`` plus every GPU CuPy can see, detected once, lazily.

Detection asks CuPy for the device count, names and memory the first time a Session needs it.
When CuPy is not installed, or is installed but cannot reach a GPU (no driver, no device, a driver
too old for its CUDA runtime), the inventory is CPU-only and ONE line on the ``gpugraph`` logger says
why and that everything runs on NumPy.

Overrides:

- ``GPUGRAPH_VISIBLE_DEVICES`` (environment, read at detection): ``"0,2"`` keeps only those CUDA
  devices (renumbered ``GPU:0``, ``GPU:1``, like ``CUDA_VISIBLE_DEVICES``); ``""``, ``"-1"`` or
  ``"none"`` hides every GPU.
- ``simulated(num_gpus=N)`` (tests): Sessions created inside see a host with N GPUs whose kernels
  run on the NumPy emulation of the CuPy backend, so placement and device boundaries can be tested
  on a machine without a GPU.

Example:
    >>> from gpugraph.runtime import devices
    >>> [d.name for d in devices.list_devices()][:1]
    ['/job:localhost/replica:0/task:0/device:CPU:0']
    >>> with devices.simulated(num_gpus=2):
    ...     [d.short_name for d in devices.inventory().gpus]
    ['/device:GPU:0', '/device:GPU:1']
"""

import contextlib
import logging
import os
import threading
from dataclasses import dataclass

logger = logging.getLogger("gpugraph")

_HOST_PREFIX = "/job:localhost/replica:0/task:0"
_SIMULATED_GPU_MEMORY = 16 << 30


@dataclass(frozen=True)
class Device:
    """One device of this host, as ``Session.list_devices()`` reports it (TF's DeviceAttributes)."""

    device_type: str            # "CPU" or "GPU"
    index: int
    memory_limit_bytes: int
    description: str = ""       # e.g. "NVIDIA H100 80GB HBM3", "simulated"
    cuda_index: int = -1        # the CUDA ordinal behind a GPU (differs under GPUGRAPH_VISIBLE_DEVICES)
    simulated: bool = False

    @property
    def short_name(self):
        """``/device:GPU:0``: the canonical name without job/replica/task."""
        return f"/device:{self.device_type}:{self.index}"

    @property
    def name(self):
        """``/job:localhost/replica:0/task:0/device:GPU:0``, as TensorFlow names local devices."""
        return _HOST_PREFIX + self.short_name

    @property
    def incarnation(self):
        return 0

    def __repr__(self):
        return (f"_DeviceAttributes({self.name}, {self.device_type}, {self.memory_limit_bytes}"
                f"{', ' + self.description if self.description else ''})")


@dataclass(frozen=True)
class Inventory:
    """The devices a Session may use; ``reason`` says why there is no GPU when there is none."""

    devices: tuple
    backend: str = "numpy"      # "cupy", "emulated" (simulated GPUs) or "numpy" (CPU only)
    reason: str = ""

    @property
    def cpu(self):
        return self.devices[0]

    @property
    def gpus(self):
        return tuple(d for d in self.devices if d.device_type == "GPU")

    @property
    def num_gpus(self):
        return len(self.devices) - 1

    def with_gpus(self, keep):
        """A copy keeping the GPUs at positions ``keep`` (renumbered from 0): used for
        ``ConfigProto.device_count`` and ``gpu_options.visible_device_list``."""
        gpus = self.gpus
        kept = []
        for i in keep:
            if not 0 <= i < len(gpus):
                raise ValueError(f"visible device {i} does not exist: this host has {len(gpus)} GPU(s)")
            d = gpus[i]
            kept.append(Device("GPU", len(kept), d.memory_limit_bytes, d.description, d.cuda_index,
                               d.simulated))
        reason = self.reason if kept or not gpus else "the session's config hides every GPU"
        return Inventory((self.cpu,) + tuple(kept), self.backend if kept else "numpy", reason)


def _host_memory_bytes():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _cpu_device():
    return Device("CPU", 0, _host_memory_bytes(), "NumPy")


def _parse_visible(text):
    """``GPUGRAPH_VISIBLE_DEVICES``: None (all), or the CUDA ordinals to keep."""
    text = text.strip().lower()
    if text in ("", "-1", "none", "cpu"):
        return []
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"GPUGRAPH_VISIBLE_DEVICES must be a comma-separated list of GPU ordinals, "
                         f"or '' / 'none' for no GPU; got {text!r}") from None


def _detect():
    """(list of GPU Devices, reason when empty, level of the log line)."""
    visible = os.environ.get("GPUGRAPH_VISIBLE_DEVICES")
    keep = None if visible is None else _parse_visible(visible)
    if keep == []:
        return [], "GPUGRAPH_VISIBLE_DEVICES hides every GPU", logging.INFO
    try:
        import cupy
    except ImportError as e:
        return [], f"CuPy is not installed ({e}; install gpugraph[cuda13] or [cuda12])", logging.WARNING
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        found = []
        for ordinal in range(count):
            props = cupy.cuda.runtime.getDeviceProperties(ordinal)
            name = props.get("name", b"GPU")
            name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
            found.append((ordinal, name, int(props.get("totalGlobalMem", 0))))
    except Exception as e:  # CUDARuntimeError (no driver/device), or CuPy's own load errors
        return [], f"CuPy cannot use a GPU ({type(e).__name__}: {e})", logging.WARNING
    if keep is not None:
        missing = [k for k in keep if not 0 <= k < len(found)]
        if missing:
            logger.warning("gpugraph: GPUGRAPH_VISIBLE_DEVICES names GPU(s) %s that this host lacks "
                           "(it has %d); ignoring them", missing, len(found))
        found = [found[k] for k in keep if 0 <= k < len(found)]
    if not found:
        return [], "CUDA reports no GPU on this host", logging.WARNING
    return [Device("GPU", i, mem, name, ordinal) for i, (ordinal, name, mem) in enumerate(found)], "", None


_lock = threading.Lock()
_detected = None
_override = []  # stack of Inventory set by simulated()


def inventory():
    """This host's :class:`Inventory` (detected on first call; the innermost ``simulated()`` wins)."""
    if _override:
        return _override[-1]
    global _detected
    if _detected is None:
        with _lock:
            if _detected is None:
                gpus, reason, level = _detect()
                if not gpus:
                    logger.log(level, "gpugraph: no GPU: %s; every op runs on NumPy (CPU:0)", reason)
                _detected = Inventory((_cpu_device(),) + tuple(gpus), "cupy" if gpus else "numpy", reason)
    return _detected


def list_devices():
    """The devices of this host, CPU first: objects with ``name``, ``device_type``,
    ``memory_limit_bytes`` (what ``Session.list_devices()`` returns)."""
    return list(inventory().devices)


@contextlib.contextmanager
def simulated(num_gpus=1, memory_limit_bytes=_SIMULATED_GPU_MEMORY):
    """Within this block, the host has ``num_gpus`` simulated GPUs (their kernels run on the NumPy
    emulation of the CuPy backend). For tests of placement and device boundaries.

    Example:
        >>> with simulated(num_gpus=0):
        ...     inventory().num_gpus
        0
    """
    gpus = tuple(Device("GPU", i, memory_limit_bytes, "simulated", i, True) for i in range(num_gpus))
    inv = Inventory((_cpu_device(),) + gpus, "emulated" if gpus else "numpy",
                    "" if gpus else "simulated host without GPUs")
    _override.append(inv)
    try:
        yield inv
    finally:
        _override.remove(inv)


def _reset_for_tests():
    """Forgets the detected inventory so the next call detects (and logs) again."""
    global _detected
    with _lock:
        _detected = None
