"""Every CUDA kernel compiles with NVRTC for the supported architectures (sm_80, sm_90), without a
GPU: each kernel file and each generated fused-elementwise kernel, to PTX and CUBIN, with every
declared ``extern "C"`` entry point present. Also the kernel loader's compile cache and its lazy
per-device loading (against a stand-in for CuPy).

NVRTC comes from the ``nvidia-cuda-nvrtc`` wheel of the ``test`` extra; these tests run on CI
machines that have no GPU and no CUDA toolkit.
"""

import os
import re
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gpugraph.runtime.cuda import fusion
from gpugraph.runtime.cuda import kernel_loader as kl
from gpugraph.runtime.cuda import nvrtc

ARCHES = kl.DEFAULT_ARCHES
FLOATS = ("f32", "f64", "f16", "bf16")


def _names(pattern, *suffix_lists):
    names = [pattern]
    for suffixes in suffix_lists:
        names = [n.replace("{}", s, 1) for n in names for s in suffixes]
    return names


# The kernels each file must provide: the op families the CuPy backend calls.
REQUIRED = {
    "elementwise.cu": _names("gg_ew_unary_{}", FLOATS) + _names("gg_ew_binary_{}", FLOATS),
    "bias_act.cu": _names("gg_bias_act_{}", FLOATS),
    "softmax.cu": _names("gg_softmax_{}", FLOATS),
    "reduce.cu": [n for p in ("gg_reduce_{}", "gg_reduce_cols_{}", "gg_reduce_finish_{}")
                  for n in _names(p, FLOATS + ("i32", "i64"))],
    "layernorm.cu": _names("gg_moments_{}", FLOATS) + _names("gg_layernorm_{}", FLOATS),
    "conv.cu": _names("gg_im2col_nhwc_{}", ("b16", "b32", "b64"))
    + _names("gg_depthwise_conv2d_nhwc_{}", FLOATS),
    "pool.cu": _names("gg_max_pool_nhwc_{}", FLOATS + ("i32", "i64", "u8", "i8"))
    + _names("gg_avg_pool_nhwc_{}", FLOATS),
    "gather.cu": _names("gg_gather_{}_{}", ("b8", "b16", "b32", "b64", "b128"), ("i32", "i64")),
    "argmax.cu": _names("gg_argmax_{}", FLOATS + ("i32", "i64", "u8"))
    + _names("gg_argmax_inner_{}", FLOATS + ("i32", "i64", "u8")),
    "xent.cu": _names("gg_softmax_xent_{}", FLOATS)
    + _names("gg_sparse_softmax_xent_{}_{}", FLOATS, ("i32", "i64")),
    "optim.cu": _names("gg_apply_adam_{}", FLOATS) + _names("gg_apply_momentum_{}", FLOATS)
    + _names("gg_apply_gradient_descent_{}", FLOATS),
}


def _compile(job):
    name, source, arch = job
    try:
        return job, nvrtc.compile(source.text, arch=arch, name=source.name)
    except nvrtc.NvrtcError as e:
        return job, e


@pytest.fixture(scope="module")
def compiled(fused):
    """{(name, arch): Compiled or NvrtcError} for every kernel file and fused sample kernel,
    compiled in parallel (NVRTC is thread-safe and releases the GIL)."""
    sources = [(f, kl.kernel_source(f)) for f in kl.kernel_files()]
    sources += [(k.name, k.kernel_source()) for _, _, k in fused]
    selftest = Path(__file__).with_name("emulator_selftest.cu")  # runs on GPUs too (cuda_launch)
    sources.append((selftest.name, kl.KernelSource.from_text(selftest.read_text(), selftest.name)))
    jobs = [(name, src, arch) for name, src in sources for arch in ARCHES]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return {(job[0], job[2]): (job[1], out) for job, out in pool.map(_compile, jobs)}


def _check(compiled, name, arch):
    source, out = compiled[name, arch]
    if isinstance(out, nvrtc.NvrtcError):
        pytest.fail(f"{name} does not compile for {arch}:\n{out.log}")
    assert "warning" not in out.log.lower(), f"{name} ({arch}) compiles with warnings:\n{out.log}"
    declared = set(source.entry_points())
    in_ptx = set(nvrtc.ptx_entries(out.ptx))
    assert declared, f"{name} declares no extern \"C\" __global__ kernel"
    assert declared == in_ptx, (f"{name} ({arch}): declared but not in the PTX: "
                                f"{sorted(declared - in_ptx)}; in the PTX but not declared "
                                f"(mangled or generated?): {sorted(in_ptx - declared)}")
    target = arch.split("_")[1]
    assert re.search(rf"^\.target\s+sm_{target}\b", out.ptx.decode(), re.M)
    assert out.cubin[:4] == b"\x7fELF", f"{name} ({arch}): no CUBIN"
    for entry in declared:
        assert entry.encode() in out.cubin, f"{name} ({arch}): {entry} missing from the CUBIN"
    return declared


def test_nvrtc_supports_the_target_architectures():
    have = nvrtc.supported_archs()
    assert {80, 90} <= set(have), f"NVRTC {nvrtc.version()} supports {have}"


def test_every_kernel_file_is_checked():
    assert sorted(REQUIRED) == kl.kernel_files()


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("filename", sorted(REQUIRED))
def test_kernel_file_compiles(compiled, filename, arch):
    declared = _check(compiled, filename, arch)
    missing = set(REQUIRED[filename]) - declared
    assert not missing, f"{filename} lacks the kernels {sorted(missing)}"


@pytest.mark.parametrize("arch", ARCHES)
def test_fused_kernels_compile(compiled, fused, arch):
    for case, dtype, kernel in fused:
        assert _check(compiled, kernel.name, arch) == {kernel.name}, (case, dtype)


@pytest.mark.parametrize("arch", ARCHES)
def test_emulator_selftest_kernels_compile(compiled, arch):
    assert "selftest_collectives" in _check(compiled, "emulator_selftest.cu", arch)


def test_compile_errors_carry_the_nvrtc_log():
    src = 'extern "C" __global__ void broken(float* x) { x[0] = undefined_name; }'
    with pytest.raises(nvrtc.NvrtcError) as info:
        nvrtc.compile(src, arch="sm_80", name="broken.cu")
    assert "undefined_name" in info.value.log and "broken.cu(1)" in info.value.log
    assert "undefined_name" in str(info.value)


def test_op_codes_match_the_kernel_sources():
    text = "\n".join(kl.kernel_source(f).text for f in kl.kernel_files())
    defines = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define (GG_\w+) (\d+)\s*$", text, re.M)}
    for prefix, table in (("GG_REDUCE_", kl.REDUCE_OPS), ("GG_ACT_", kl.ACTIVATIONS),
                          ("GG_UNARY_", kl.UNARY_OPS), ("GG_BINARY_", kl.BINARY_OPS),
                          ("GG_BCAST_", kl.BROADCAST_KINDS)):
        in_source = {k[len(prefix):].lower(): v for k, v in defines.items()
                     if k.startswith(prefix) and k != "GG_REDUCE_MAX_RANK"}
        assert in_source == table, prefix


# -- sources ---------------------------------------------------------------------------------------------
def test_includes_are_expanded_once_with_line_markers():
    text = kl.kernel_source("softmax.cu").text
    assert '#include "' not in text
    assert text.count("#define GPUGRAPH_KERNELS_COMMON_CUH") == 1  # via elementwise.cuh, once
    assert '#line 1 "elementwise.cuh"' in text and '#line 1 "common.cuh"' in text


def test_entry_point_signatures():
    src = ('extern "C" __global__ void __launch_bounds__(256) k(const float* __restrict__ x, '
           'gg_half* y, long long n, int flag, double alpha) {}\n'
           'extern "C" __global__ void plain(unsigned long long* bad) {}\n__global__ void not_c() {}')
    entries = kl.entry_points(src)
    assert sorted(entries) == ["k", "plain"]
    assert entries["k"].max_threads == 256
    assert entries["k"].params == (("float*", "x"), ("gg_half*", "y"), ("long long", "n"),
                                   ("int", "flag"), ("double", "alpha"))
    assert entries["k"].scalar_kinds() == ("pointer", "pointer", "long long", "int", "double")
    assert entries["plain"].max_threads is None


def test_fused_kernel_source_is_deterministic():
    def chain():
        return fusion.relu(fusion.input(0) * fusion.input(1, "scalar") + fusion.input(2, "row"))
    a, b = fusion.build(chain()), fusion.build(chain())
    assert a == b and a.name in a.source
    assert fusion.build(fusion.relu6(fusion.input(0))).name != a.name
    with pytest.raises(TypeError, match="different dtypes"):
        fusion.input(0, dtype="float32") + fusion.input(1, dtype="float16")
    with pytest.raises(ValueError, match="numbered 0..k-1"):
        fusion.build(fusion.input(0) + fusion.input(2))
    assert fusion.from_op("BiasAdd", fusion.input(0), fusion.input(1, "row")).op == "add"
    with pytest.raises(ValueError, match="cannot be fused"):
        fusion.from_op("MatMul", fusion.input(0), fusion.input(1))


# -- the compile cache -----------------------------------------------------------------------------------
SMALL_FILES = ["gather.cu", "conv.cu"]


def test_warm_up_fills_the_cache_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUGRAPH_KERNEL_CACHE", str(tmp_path / "cache"))
    assert kl.cache_dir() == tmp_path / "cache"
    first = kl.warm_up(["sm_90"], files=SMALL_FILES)
    assert [k.hit for k in first] == [False, False]
    for k in first:
        assert k.path.parent == tmp_path / "cache" and k.path.suffix == ".cubin"
        assert k.path.read_bytes() == k.binary and k.binary[:4] == b"\x7fELF"
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temp files
    second = kl.warm_up(["sm_90"], files=SMALL_FILES)
    assert [k.hit for k in second] == [True, True]
    assert [k.binary for k in second] == [k.binary for k in first]


def test_cache_key_covers_source_options_and_arch(tmp_path):
    src = kl.kernel_source("gather.cu")
    other = kl.KernelSource.from_text(src.text + "\n// changed\n", "gather.cu")
    keys = {kl.cache_key(src, "sm_90"), kl.cache_key(src, "sm_80"),
            kl.cache_key(src, "sm_90", ("-std=c++17", "-lineinfo")), kl.cache_key(other, "sm_90")}
    assert len(keys) == 4
    ptx = kl.compile_cached(src, "compute_90", directory=tmp_path)
    assert ptx.kind == "ptx" and ptx.path.suffix == ".ptx" and b".entry gg_gather_b32_i32" in ptx.binary


def test_empty_cache_file_is_recompiled(tmp_path):
    first = kl.compile_cached("gather.cu", "sm_80", directory=tmp_path)
    first.path.write_bytes(b"")  # e.g. a disk that filled up
    again = kl.compile_cached("gather.cu", "sm_80", directory=tmp_path)
    assert not again.hit and again.path.read_bytes() == first.binary


def test_arch_for_device():
    assert kl.arch_for(90) == "sm_90" and kl.arch_for("80") == "sm_80"
    newest = max(nvrtc.supported_archs())
    assert kl.arch_for(newest + 1) == f"compute_{newest}"  # a GPU newer than the compiler: PTX
    with pytest.raises(nvrtc.NvrtcError):
        kl.arch_for(30)


# -- lazy per-device loading, against a stand-in for CuPy ---------------------------------------------------
class FakeCupy:
    """The few CuPy names the loader uses, recording what happens."""

    def __init__(self):
        self.loaded, self.launches, self.current = [], [], None
        fake = self

        class Device:
            def __init__(self, index):
                self.index = index
                self.compute_capability = "90" if index == 0 else "80"

            def __enter__(self):
                fake.current = self.index

            def __exit__(self, *exc):
                fake.current = None

        class RawModule:
            def __init__(self, path=None, code=None, options=(), backend=None):
                fake.loaded.append((fake.current, path))
                self.path = path

            def get_function(self, name):
                def launch(grid, block, args, shared_mem=0):
                    fake.launches.append((name, grid, block, args, shared_mem, fake.stream_active,
                                          fake.current))
                return launch

        runtime = type("runtime", (), {"driverGetVersion": staticmethod(lambda: 13000)})
        self.cuda = type("cuda", (), {"Device": Device, "runtime": runtime})
        self.RawModule = RawModule
        self.stream_active = None


class FakeStream:
    """A stream as a context manager (what ``with stream:`` makes current)."""

    def __init__(self, fake, name):
        self.fake, self.name = fake, name

    def __enter__(self):
        self.fake.stream_active = self.name

    def __exit__(self, *exc):
        self.fake.stream_active = None


def test_loader_loads_once_per_device_and_converts_arguments(tmp_path):
    fake = FakeCupy()

    class Loader(kl.KernelLoader):
        def _cupy(self):
            return fake

    loader = Loader(directory=tmp_path)
    k0 = loader.kernel("gather.cu", "gg_gather_b32_i32", device=0)
    assert loader.kernel("gather.cu", "gg_gather_b32_i32", device=0) is k0
    loader.kernel("gather.cu", "gg_gather_b64_i64", device=0)
    assert len(fake.loaded) == 1 and fake.loaded[0][0] == 0  # one module per (device, source)
    assert ".sm_90." in fake.loaded[0][1]  # compiled for device 0's architecture, from the cache
    loader.kernel("gather.cu", "gg_gather_b32_i32", device=1)
    assert len(fake.loaded) == 2 and ".sm_80." in fake.loaded[1][1]

    params, indices, out, bad = object(), object(), object(), object()
    k0((4,), (256,), (params, indices, out, 1, 2, 3, 4, 5, bad), stream=FakeStream(fake, "s0"))
    name, grid, block, args, shared, stream, device = fake.launches[-1]
    assert (name, grid, block, shared, stream, device) == ("gg_gather_b32_i32", (4,), (256,), 0, "s0", 0)
    assert args[:3] == (params, indices, out) and args[-1] is bad
    assert all(type(a) is np.int64 for a in args[3:8])
    k1 = loader.kernel("gather.cu", "gg_gather_b32_i32", device=1)
    k1((1,), (32,), (params, None, out, 1, 1, 1, 1, 1, None), stream=FakeStream(fake, "s1"))
    *_, args, _, stream, device = fake.launches[-1]
    assert (stream, device) == ("s1", 1) and args[1] == 0 and type(args[1]) is np.uint64  # null
    with pytest.raises(TypeError, match="takes 9 arguments"):
        k0((1,), (1,), (1, 2), stream=FakeStream(fake, "s0"))
    with pytest.raises(KeyError, match="gg_gather_b8_i32"):
        loader.kernel("gather.cu", "no_such_kernel", device=0)
