"""Fixtures of the kernel tests: the sample fused kernels and the CPU-emulation build of every
kernel, made once per test session."""

from pathlib import Path

import pytest

from gpugraph.runtime.cuda import cpu_emulation, kernel_loader

import cuda_launch
import fused_cases

HERE = Path(__file__).resolve().parent
# Every kernel test runs in the CPU emulation; on a host with a GPU (and CuPy) on the GPU as well.
BACKENDS = ["emulation"] + (["cuda"] if cuda_launch.gpu_available() else [])


@pytest.fixture(scope="session")
def fused():
    """Every sample fused kernel: [(case id, dtype, FusedKernel)]."""
    return fused_cases.kernels()


@pytest.fixture(scope="session")
def fused_file(tmp_path_factory, fused):
    path = tmp_path_factory.mktemp("fused") / "fused_samples.cu"
    path.write_text("\n".join(k.source for _, _, k in fused))
    return path


def _sources(fused_file):
    sources = [kernel_loader.kernel_dir() / f for f in kernel_loader.kernel_files()]
    return sources + [fused_file, HERE / "emulator_selftest.cu"]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory, fused_file):
    """kernels/*.cu, the sample fused kernels and the emulator self-test kernels, built for the
    CPU emulation and loaded (an :class:`cpu_emulation.EmulatedKernels`)."""
    lib, entries = cpu_emulation.build(_sources(fused_file), tmp_path_factory.mktemp("emulation"))
    return cpu_emulation.EmulatedKernels(lib, entries)


@pytest.fixture(scope="session", params=BACKENDS)
def emu(request, tmp_path_factory, fused_file):
    """What the kernel tests launch kernels with: the CPU emulation, and the GPU when present
    (both offer ``launch(name, grid, block, *args, shared=0, order=0)``)."""
    if request.param == "emulation":
        return request.getfixturevalue("emulator")
    sources = [kernel_loader.KernelSource.from_text(p.read_text(), p.name) for p in _sources(fused_file)]
    return cuda_launch.CudaKernels(sources, tmp_path_factory.mktemp("kernel_cache"))
