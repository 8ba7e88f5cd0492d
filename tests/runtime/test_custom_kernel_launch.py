"""The custom-kernel contract of the GPU backends: ``DeviceContext.custom_kernel`` (what GPU steps
reach as ``ctx.kernel(source, name)``) loads a ``kernels/`` kernel for one device; the emulated
backend runs it through the CPU build of the same source, with the checks a real launch implies
(device arrays of that GPU, contiguous, the step's stream)."""

import numpy as np
import pytest

from gpugraph.runtime import devices
from gpugraph.runtime.cuda import cpu_emulation, kernel_loader
from gpugraph.runtime.cuda.emulation import EmulatedBackend, xp

pytestmark = pytest.mark.skipif(not cpu_emulation.available(), reason="no C++ compiler for the emulation")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    return cpu_emulation.KernelEmulator(tmp_path_factory.mktemp("emulated_kernels"))


def _softmax_args(x):
    rows, cols = x.shape
    grid, block, shared, cache = kernel_loader.row_launch(rows, cols)
    return grid, block, shared, cache


def test_emulated_backend_launches_the_kernel_source_on_its_device(emulator):
    backend = EmulatedBackend(kernel_emulator=emulator)
    with devices.simulated(num_gpus=2) as inv:
        dctx = backend.context(inv.gpus[1])
        host = np.random.default_rng(0).standard_normal((37, 19)).astype(np.float32)
        x = backend.to_device(dctx, host)
        with dctx.activate():
            y = xp.empty_like(x)
        softmax = dctx.custom_kernel("softmax.cu", "gg_softmax_f32")
        grid, block, shared, cache = _softmax_args(host)
        softmax(grid, block, (x, y, 37, 19, 0, cache), stream=dctx.stream, shared_mem=shared)
        e = np.exp(host - host.max(-1, keepdims=True))
        np.testing.assert_allclose(backend.to_host(y), e / e.sum(-1, keepdims=True), rtol=1e-5)

        with pytest.raises(TypeError, match="host array"):
            softmax(grid, block, (host, y, 37, 19, 0, cache), stream=dctx.stream)
        other = backend.context(inv.gpus[0])
        with pytest.raises(TypeError, match="array of GPU"):
            softmax(grid, block, (backend.to_device(other, host), y, 37, 19, 0, cache), stream=dctx.stream)
        with pytest.raises(RuntimeError, match="stream"):
            softmax(grid, block, (x, y, 37, 19, 0, cache), stream=other.stream)
        with pytest.raises(KeyError, match="gg_no_such_kernel"):
            dctx.custom_kernel("softmax.cu", "gg_no_such_kernel")


def test_generated_sources_build_once_per_text(emulator):
    text = ('#include "common.cuh"\n'
            'extern "C" __global__ void gg_test_scale(const float* x, float* y, long long n, float a) {\n'
            '  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; '
            'i += (long long)gridDim.x * blockDim.x) y[i] = a * x[i];\n}\n')
    source = kernel_loader.KernelSource.from_text(text, "scale.cu")
    first = emulator.kernel(source, "gg_test_scale")
    assert emulator.kernel(kernel_loader.KernelSource.from_text(text, "scale.cu"), "gg_test_scale") is first
    x = np.arange(1000, dtype=np.float32)
    y = np.zeros_like(x)
    grid, block = kernel_loader.flat_launch(x.size, threads=128)
    first(grid, block, (x, y, x.size, 2.5))
    np.testing.assert_array_equal(y, 2.5 * x)


def test_without_an_emulator_there_is_no_custom_kernel():
    backend = EmulatedBackend()
    with devices.simulated(num_gpus=1) as inv:
        assert backend.context(inv.gpus[0]).custom_kernel("softmax.cu", "gg_softmax_f32") is None
