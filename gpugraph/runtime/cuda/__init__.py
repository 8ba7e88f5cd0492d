"""The CUDA backend (CuPy): device contexts and streams, transfers, memory pool, GPU kernels.

Importing this package does not import CuPy. :func:`register_kernels` adds the GPU kernels to the
op registry (they only run when a GPU backend is active; registering them needs no GPU), and
:func:`get_backend` returns the backend for an inventory: CuPy for real GPUs, the NumPy emulation
for ``devices.simulated()`` GPUs.

Example:
    >>> from gpugraph.runtime import cuda, devices
    >>> cuda.register_kernels()
    >>> with devices.simulated(num_gpus=1) as inv:
    ...     cuda.get_backend(inv).emulated
    True
"""

import importlib
import threading

_lock = threading.Lock()
_backends = {}
_registered = False

_KERNEL_MODULES = ("kernels_math", "kernels_nn", "kernels_array")


def register_kernels():
    """Registers every GPU kernel (idempotent)."""
    global _registered
    if _registered:
        return
    with _lock:
        if not _registered:
            import gpugraph  # noqa: F401  (every op family is declared before its GPU kernels)
            for name in _KERNEL_MODULES:
                importlib.import_module(f"gpugraph.runtime.cuda.{name}")
            _registered = True


def get_backend(inventory):
    """The backend for ``inventory``'s GPUs (one per kind per process), or None without GPUs."""
    kind = inventory.backend
    if not inventory.num_gpus or kind not in ("cupy", "emulated"):
        return None
    backend = _backends.get(kind)
    if backend is None:
        with _lock:
            backend = _backends.get(kind)
            if backend is None:
                if kind == "cupy":
                    import cupy
                    from gpugraph.runtime.cuda.backend import Backend
                    backend = Backend(cupy)
                else:
                    from gpugraph.runtime.cuda.emulation import EmulatedBackend
                    backend = EmulatedBackend()
                _backends[kind] = backend
    return backend
