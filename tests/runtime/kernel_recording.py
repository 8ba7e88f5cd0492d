"""Running GPU graphs through the custom kernels of ``kernels/`` on the CPU, and seeing which ran.

:class:`RecordingEmulator` wraps a :class:`~gpugraph.runtime.cuda.cpu_emulation.KernelEmulator`
(the C++ CPU build of the ``.cu`` sources) and records the name of every kernel launched through
it, so a test can tell a custom-kernel result from a silent fallback to ``ctx.xp``.
:func:`emulated_kernels_host` gives a simulated 1-GPU host whose GPU steps launch through it.
"""

import contextlib

from gpugraph.runtime import cuda, devices


class RecordedKernel:
    """One emulated kernel with the custom-kernel call interface; each launch is recorded."""

    def __init__(self, kernel, launches):
        self._kernel = kernel
        self._launches = launches
        self.name = kernel.name
        self.entry = kernel.entry

    def __call__(self, grid, block, args, *, stream=None, shared_mem=0):
        self._launches.append(self.name)
        self._kernel(grid, block, args, stream=stream, shared_mem=shared_mem)


class RecordingEmulator:
    """A kernel emulator (what ``EmulatedBackend(kernel_emulator=...)`` takes) that records the
    names of the kernels launched through it in ``launches``, in launch order."""

    def __init__(self, emulator):
        self._emulator = emulator
        self.launches = []

    def kernel(self, source, name):
        return RecordedKernel(self._emulator.kernel(source, name), self.launches)

    def families(self):
        """The launched kernel names without their type suffixes (``gg_softmax_f32`` ->
        ``gg_softmax``), as a set."""
        return {strip_type_suffix(name) for name in self.launches}


_TYPE_SUFFIXES = {"f32", "f64", "f16", "bf16", "i32", "i64", "u8", "i8",
                  "b8", "b16", "b32", "b64", "b128"}


def strip_type_suffix(name):
    """``gg_sparse_softmax_xent_f32_i64`` -> ``gg_sparse_softmax_xent``."""
    parts = name.split("_")
    while parts and parts[-1] in _TYPE_SUFFIXES:
        parts.pop()
    return "_".join(parts)


@contextlib.contextmanager
def emulated_kernels_host(emulator):
    """A simulated host with one GPU whose steps launch custom kernels through ``emulator``
    (the process's emulated backend gets it for the duration of the block)."""
    with devices.simulated(num_gpus=1) as inv:
        cuda.register_kernels()
        backend = cuda.get_backend(inv)
        saved = backend.kernel_emulator
        backend.kernel_emulator = emulator
        try:
            yield inv
        finally:
            backend.kernel_emulator = saved
