"""Builds the CUDA kernels as C++ for the CPU emulation (cuda_emulation.h) and calls them via ctypes.

Each kernel source becomes one translation unit: the emulation header, the ``.cu`` file itself
(unchanged), then one generated C launcher per ``extern "C" __global__`` entry point::

    extern "C" int gg_emu_launch_<name>(grid xyz, block xyz, shared bytes, order, <kernel params>)

All units plus emulation_driver.cpp are compiled in parallel with g++ and linked into one shared
library, which :class:`EmulatedKernels` loads. ``launch(name, grid, block, *args)`` takes NumPy
arrays for pointer parameters (their buffers are what the kernel reads and writes) and Python
numbers for scalars, converted to the parameter's C type.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
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
        unit.write_text(launcher_unit(src, entries))
        units.append(unit)
    if lib_path.exists():
        return lib_path, all_entries
    cxx = compiler()
    include = ["-I", str(HERE), "-I", str(kernel_loader.kernel_dir())]
    objects = [build_dir / (u.stem + ".o") for u in [*units, DRIVER]]
    cmds = [[cxx, *CXXFLAGS, *include, "-c", str(u), "-o", str(o)]
            for u, o in zip([*units, DRIVER], objects)]
    with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        list(pool.map(_run, cmds))
    tmp = lib_path.with_suffix(".tmp.so")
    _run([cxx, "-shared", "-o", str(tmp), *map(str, objects), "-lm"])
    os.replace(tmp, lib_path)
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
                    if not (isinstance(a, np.ndarray) and a.flags.c_contiguous):
                        raise TypeError(f"{name}: pointer arguments must be C-contiguous arrays")
                    converted.append(a.ctypes.data)
            else:
                converted.append(a)
        rc = self._function(name)(*grid, *block, shared, order, *converted)
        if rc:
            raise EmulationError(f"{name}: {self.lib.gg_emu_last_error().decode()}")
