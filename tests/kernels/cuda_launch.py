"""Runs the kernel tests on a real GPU when one is present: the same ``launch(name, grid, block,
*args)`` interface as the CPU emulation, through kernel_loader and CuPy.

NumPy arrays passed for pointer parameters are copied to the device as raw bytes (so bfloat16 and
other dtypes CuPy lacks travel too), and copied back after the launch, so a test reads a kernel's
outputs exactly as it does from the emulation. ``order`` (an emulator scheduling knob) is ignored.
"""

import os

import numpy as np

from gpugraph.runtime.cuda import kernel_loader


def gpu_available():
    """Whether CuPy is importable and sees a CUDA device (``GPUGRAPH_KERNEL_TESTS_GPU=0`` turns
    the GPU runs off)."""
    if os.environ.get("GPUGRAPH_KERNEL_TESTS_GPU", "1") == "0":
        return False
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: all mean "no GPU"
        return False


class CudaKernels:
    """Kernels from ``sources`` (KernelSource objects) run on device 0."""

    def __init__(self, sources, cache_dir):
        import cupy
        self.cp = cupy
        self.loader = kernel_loader.KernelLoader(directory=cache_dir)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.where = {name: src for src in sources for name in src.entry_points()}

    def launch(self, name, grid, block, *args, shared=0, order=0):
        cp = self.cp
        kernel = self.loader.kernel(self.where[name], name, device=0)
        with cp.cuda.Device(0):
            device_args, copies = [], []
            for a in args:
                if isinstance(a, np.ndarray):
                    raw = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
                    d = cp.asarray(raw)
                    device_args.append(d)
                    copies.append((a, d))
                else:
                    device_args.append(a)
            kernel(tuple(grid), tuple(block), tuple(device_args), stream=self.stream, shared_mem=shared)
            self.stream.synchronize()
            for host, d in copies:
                host.reshape(-1).view(np.uint8)[...] = d.get()
