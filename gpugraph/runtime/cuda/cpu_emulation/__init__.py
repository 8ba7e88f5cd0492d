"""The CPU emulation of the CUDA kernels: the same ``.cu`` sources built as C++ against
``cuda_emulation.h`` (grids, blocks, threads as fibers, shared memory, barriers, warp shuffles) and
called via ctypes — so a kernel's logic runs, and is tested, on a host without a GPU.

Each kernel source becomes one translation unit: the emulation header, the ``.cu`` file itself
(unchanged), then one generated C launcher per ``extern "C" __global__`` entry point::

    extern "C" int gg_emu_launch_<name>(grid xyz, block xyz, shared bytes, order, <kernel params>)

All units plus emulation_driver.cpp are compiled in parallel with g++ and linked into one shared
library, which :class:`EmulatedKernels` loads. ``launch(name, grid, block, *args)`` takes NumPy
arrays for pointer parameters (their buffers are what the kernel reads and writes) and Python
numbers for scalars, converted to the parameter's C type.

:class:`KernelEmulator` is what the emulated GPU backend launches custom kernels with: one library
per kernel source (a ``kernels/`` file or a generated fused kernel), built on first use into a
cache directory and loaded once, behind the same call interface as a CuPy kernel
(:class:`gpugraph.runtime.cuda.kernel_loader.Kernel`).

Example:
    >>> emu = KernelEmulator()                                     # doctest: +SKIP
    >>> k = emu.kernel("softmax.cu", "gg_softmax_f32")              # doctest: +SKIP
    >>> k((blocks,), (32, 8), (x, y, rows, cols, 0, 0), stream=s)  # doctest: +SKIP
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gpugraph.runtime.cuda import kernel_loader

HERE = Path(__file__).resolve().parent
HEADER = HERE / "cuda_emulation.h"
DRIVER = HERE / "emulation_driver.cpp"

_CTYPES = {"int": ctypes.c_int, "unsigned": ctypes.c_uint, "unsigned int": ctypes.c_uint,
           "long long": ctypes.c_longlong, "unsigned long long": ctypes.c_ulonglong,
           "float": ctypes.c_float, "double": ctypes.c_double}
CXXFLAGS = ["-std=c++17", "-O2", "-fPIC", "-fno-strict-aliasing", "-Wall", "-Wno-unused-function",
            "-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unknown-pragmas"]


class EmulationError(RuntimeError):
    """A launch the emulator rejected or aborted (bad launch shape, deadlock, bad shuffle mask)."""


def compiler():
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise RuntimeError("the CPU emulation of the CUDA kernels needs a C++17 compiler (g++)")
    return cxx


def launcher_unit(cu_path, entries):
    """The C++ translation unit for one kernel source: header, source, launchers."""
    lines = ['#include "cuda_emulation.h"', f'#include "{cu_path}"', ""]
    for e in entries.values():
        params = ", ".join(f"{t} {n}" for t, n in e.params)
        args = ", ".join(n for _, n in e.params)
        lines.append(
            f'extern "C" int gg_emu_launch_{e.name}(unsigned gx, unsigned gy, unsigned gz, '
            f"unsigned bx, unsigned by, unsigned bz, size_t shared_bytes, int order"
            f"{', ' + params if params else ''}) {{\n"
            f"  return gg_emu::launch(gx, gy, gz, bx, by, bz, shared_bytes, order, {e.max_threads or 0}u, "
            f"[&] {{ {e.name}({args}); }});\n}}")
    return "\n".join(lines) + "\n"


def _run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"C++ build of the kernel emulation failed: {' '.join(map(str, cmd))}\n"
                           f"{proc.stdout}{proc.stderr}")


def build(sources, build_dir, jobs=None):
    """Compiles ``sources`` (paths of .cu files) and the driver into ``build_dir``/libggemu-*.so.

    Returns ``(library path, {entry name: EntryPoint})``. The library name hashes every input, so
    an unchanged build is reused.
    """
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [Path(s).resolve() for s in sources]
    digest = hashlib.sha256()
    for path in [HEADER, DRIVER, *sources, *sorted(kernel_loader.kernel_dir().glob("*.cuh"))]:
        digest.update(path.read_bytes())
    lib_path = build_dir / f"libggemu-{digest.hexdigest()[:16]}.so"
    units, all_entries = [], {}
    for src in sources:
        entries = kernel_loader.entry_points(src.read_text())
        duplicate = set(entries) & set(all_entries)
        if duplicate:
            raise ValueError(f"{src.name}: kernel names defined twice: {sorted(duplicate)}")
        all_entries.update(entries)
        unit = build_dir / f"emu_{src.stem}.cpp"
        text = launcher_unit(src, entries)
        if not unit.exists() or unit.read_text() != text:
            unit.write_text(text)
        units.append(unit)
    if lib_path.exists():
        return lib_path, all_entries
    cxx = compiler()
    include = ["-I", str(HERE), "-I", str(kernel_loader.kernel_dir())]
    # Per-process object and temporary names: two processes building the same library at once
    # each finish their own and the last rename wins (both are the same bytes).
    objects = [build_dir / f"{u.stem}.{os.getpid()}.o" for u in [*units, DRIVER]]
    cmds = [[cxx, *CXXFLAGS, *include, "-c", str(u), "-o", str(o)]
            for u, o in zip([*units, DRIVER], objects)]
    with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        list(pool.map(_run, cmds))
    tmp = lib_path.with_name(f"{lib_path.stem}.{os.getpid()}.tmp.so")
    _run([cxx, "-shared", "-o", str(tmp), *map(str, objects), "-lm"])
    os.replace(tmp, lib_path)
    for o in objects:
        o.unlink(missing_ok=True)
    return lib_path, all_entries


class EmulatedKernels:
    """The built library: ``launch(name, grid, block, *args, shared=0, order=0)``."""

    def __init__(self, lib_path, entries):
        self.lib = ctypes.CDLL(str(lib_path))
        self.lib.gg_emu_last_error.restype = ctypes.c_char_p
        self.entries = entries
        self._fns = {}

    def _function(self, name):
        fn = self._fns.get(name)
        if fn is None:
            e = self.entries[name]
            fn = getattr(self.lib, f"gg_emu_launch_{name}")
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_uint] * 6 + [ctypes.c_size_t, ctypes.c_int] + [
                ctypes.c_void_p if kind == "pointer" else _CTYPES[kind] for kind in e.scalar_kinds()]
            self._fns[name] = fn
        return fn

    def launch(self, name, grid, block, *args, shared=0, order=0):
        e = self.entries[name]
        if len(args) != len(e.params):
            raise TypeError(f"{name} takes {len(e.params)} arguments "
                            f"({', '.join(t + ' ' + n for t, n in e.params)}), got {len(args)}")
        grid = tuple(grid) + (1,) * (3 - len(grid))
        block = tuple(block) + (1,) * (3 - len(block))
        converted = []
        for kind, a in zip(e.scalar_kinds(), args):
            if kind == "pointer":
                if a is None:
                    converted.append(None)
                else:
                    if not (isinstance(a, np.ndarray) and (a.flags.c_contiguous or a.size == 0)):
                        raise TypeError(f"{name}: pointer arguments must be C-contiguous arrays")
                    converted.append(a.ctypes.data)
            else:
                converted.append(a)
        rc = self._function(name)(*grid, *block, shared, order, *converted)
        if rc:
            raise EmulationError(f"{name}: {self.lib.gg_emu_last_error().decode()}")


def available():
    """Whether a C++17 compiler is there to build the emulation."""
    return bool(os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++"))


class EmulatedKernel:
    """One emulated kernel with :class:`kernel_loader.Kernel`'s call interface:
    ``kernel(grid, block, args, stream=stream, shared_mem=0)``. Device arrays of the emulated
    backend (NumPy subclasses) are passed as their buffers, which the kernel reads and writes."""

    def __init__(self, kernels, name):
        self._kernels = kernels
        self.name = name
        self.entry = kernels.entries[name]

    def __call__(self, grid, block, args, *, stream=None, shared_mem=0):
        self._kernels.launch(self.name, grid, block, *args, shared=shared_mem)


class KernelEmulator:
    """Builds and loads the CPU emulation of kernel sources lazily, one library per source,
    cached in ``directory`` (default ``<kernel cache>/cpu-emulation``) under a name that hashes
    the source, the emulator and the headers; thread-safe."""

    def __init__(self, directory=None):
        self.directory = Path(directory) if directory else kernel_loader.cache_dir() / "cpu-emulation"
        self._libraries = {}
        self._kernels = {}
        self._lock = threading.Lock()

    def library(self, source):
        """The loaded :class:`EmulatedKernels` of ``source`` (a file name in ``kernels/`` or a
        :class:`kernel_loader.KernelSource`)."""
        if isinstance(source, str):
            source = kernel_loader.kernel_source(source)
        lib = self._libraries.get(source.sha256)
        if lib is None:
            with self._lock:
                lib = self._libraries.get(source.sha256)
                if lib is None:
                    build_dir = self.directory / source.sha256[:16]
                    build_dir.mkdir(parents=True, exist_ok=True)
                    cu = build_dir / "source.cu"
                    if not cu.exists():
                        with tempfile.NamedTemporaryFile("w", dir=build_dir, suffix=".cu", delete=False) as f:
                            f.write(source.text)
                        os.replace(f.name, cu)
                    lib = self._libraries[source.sha256] = EmulatedKernels(*build([cu], build_dir))
        return lib

    def kernel(self, source, name):
        """The :class:`EmulatedKernel` ``name`` of ``source``."""
        key = (source if isinstance(source, str) else source.sha256, name)
        k = self._kernels.get(key)
        if k is None:
            lib = self.library(source)
            if name not in lib.entries:
                label = source if isinstance(source, str) else source.name
                raise KeyError(f"{label} has no kernel {name!r} (it has: {', '.join(sorted(lib.entries))})")
            k = self._kernels[key] = EmulatedKernel(lib, name)
        return k
