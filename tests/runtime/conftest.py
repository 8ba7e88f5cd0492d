"""Fixtures shared by the runtime tests."""

import pytest

from gpugraph.runtime.cuda import cpu_emulation


@pytest.fixture(scope="session")
def kernel_emulator(tmp_path_factory):
    """The CPU build of ``kernels/*.cu`` (built on first use of each source into a directory kept
    for the test session); skips where no C++ compiler is there to build it."""
    if not cpu_emulation.available():
        pytest.skip("no C++ compiler for the CPU emulation of the CUDA kernels")
    return cpu_emulation.KernelEmulator(tmp_path_factory.mktemp("emulated_kernels"))
