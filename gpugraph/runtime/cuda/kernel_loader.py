"""Custom CUDA kernels (``kernels/*.cu``): sources, a compile cache on disk, lazy per-device loading.

A kernel file is compiled once per (source, options, architecture) with NVRTC and kept as CUBIN
(or PTX, for a GPU newer than the compiler) in a cache directory — ``$GPUGRAPH_KERNEL_CACHE``, by
default ``~/.cache/gpugraph/kernels`` — written atomically (temporary file + ``os.replace``), so
concurrent processes never see half a file. A module is loaded into a device the first time one
of its functions is asked for there. :func:`warm_up` precompiles every kernel for a list of
architectures without a GPU (e.g. when building a container image).

Example:
    >>> from gpugraph.runtime.cuda import kernel_loader
    >>> kernel_loader.warm_up(["sm_80", "sm_90"])                # no GPU needed  # doctest: +SKIP
    >>> softmax = kernel_loader.get_kernel("softmax.cu", "gg_softmax_f32", device=0)  # doctest: +SKIP
    >>> softmax((blocks,), (32, 8), (x, y, rows, cols, 0, 0), stream=stream)  # doctest: +SKIP

Each kernel's C signature is parsed from its ``extern "C" __global__`` line
(:func:`entry_points`); launches convert Python numbers to exactly those parameter types.
"""

import hashlib
import os
import sys
import re
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gpugraph.runtime.cuda import nvrtc

# Op codes of the kernels' runtime switches; they mirror the #defines in kernels/*.cuh and *.cu
# (tests/kernels checks that both agree).
REDUCE_OPS = {"sum": 0, "mean": 1, "max": 2, "min": 3, "prod": 4}
ACTIVATIONS = {"identity": 0, "relu": 1, "relu6": 2, "sigmoid": 3, "tanh": 4, "elu": 5, "selu": 6,
               "leaky_relu": 7, "softplus": 8}
UNARY_OPS = {"neg": 0, "abs": 1, "square": 2, "sqrt": 3, "rsqrt": 4, "exp": 5, "log": 6,
             "log1p": 7, "tanh": 8, "sigmoid": 9, "relu": 10, "relu6": 11, "elu": 12, "selu": 13,
             "softplus": 14, "leaky_relu": 15}
BINARY_OPS = {"add": 0, "sub": 1, "mul": 2, "div": 3, "maximum": 4, "minimum": 5,
              "squared_difference": 6}
BROADCAST_KINDS = {"full": 0, "scalar": 1, "row": 2, "col": 3}

# The architectures CI compiles for and warm_up() targets by default: Ampere and Hopper.
DEFAULT_ARCHES = ("sm_80", "sm_90")
DEFAULT_OPTIONS = ("-std=c++17",)

_CACHE_VERSION = b"gpugraph-kernel-cache-1"


# -- sources --------------------------------------------------------------------------------------
def kernel_dir():
    """The directory of the ``.cu`` sources: ``$GPUGRAPH_KERNEL_DIR``, else ``kernels/`` at the
    repository root (next to the ``gpugraph`` package), else ``<prefix>/share/gpugraph/kernels``
    where a non-editable install puts them."""
    env = os.environ.get("GPUGRAPH_KERNEL_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "kernels", here.parents[2] / "kernels",
                      Path(sys.prefix) / "share" / "gpugraph" / "kernels"):
        if candidate.is_dir():
            return candidate
    return here.parents[3] / "kernels"


def kernel_files():
    """The names of every kernel source file (``["argmax.cu", ...]``), sorted."""
    return sorted(p.name for p in kernel_dir().glob("*.cu"))


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"[ \t]*$', re.M)


def expand_includes(text, name="kernel.cu", directory=None, _seen=None):
    """``text`` with its local ``#include "..."`` lines replaced by the files (from ``directory``,
    default :func:`kernel_dir`), each at most once, with ``#line`` markers so that compiler
    messages name the original files. The result is self-contained: its hash covers everything
    the compiler sees, which keeps the cache key honest when a header changes."""
    directory = Path(directory) if directory is not None else kernel_dir()
    seen = set() if _seen is None else _seen
    out, pos, line = [], 0, 1
    for m in _INCLUDE.finditer(text):
        out.append(text[pos:m.start()])
        line += text.count("\n", pos, m.end())
        header = m.group(1)
        if header not in seen:
            seen.add(header)
            path = directory / header
            if not path.is_file():
                raise FileNotFoundError(f"{name}: included file {header!r} not found in {directory}")
            body = expand_includes(path.read_text(), header, directory, seen)
            out.append(f'#line 1 "{header}"\n{body}\n#line {line + 1} "{name}"')
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


@dataclass(frozen=True)
class KernelSource:
    """A compilable translation unit: ``name`` (for messages and cache files), the full ``text``
    with includes expanded, and its ``sha256``."""
    name: str
    text: str
    sha256: str

    @classmethod
    def from_text(cls, text, name="generated.cu", directory=None):
        full = expand_includes(text, name, directory)
        return cls(name, full, hashlib.sha256(full.encode()).hexdigest())

    def entry_points(self):
        return entry_points(self.text)


_SOURCES = {}


def kernel_source(filename):
    """The :class:`KernelSource` of ``kernels/<filename>`` (re-read when it or a header changes)."""
    path = kernel_dir() / filename
    if not path.is_file():
        raise FileNotFoundError(f"no kernel source {filename!r} in {kernel_dir()} (have: "
                                f"{', '.join(kernel_files())})")
    headers = sorted(path.parent.glob("*.cuh"))
    stamp = (path.stat().st_mtime_ns, *(h.stat().st_mtime_ns for h in headers))
    cached = _SOURCES.get(path)
    if cached is None or cached[0] != stamp:
        cached = _SOURCES[path] = (stamp, KernelSource.from_text(path.read_text(), filename,
                                                                 path.parent))
    return cached[1]


_ENTRY = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\(([^)]*)\)\s+)?'
                    r'([A-Za-z_]\w*)\s*\(([^)]*)\)')


@dataclass(frozen=True)
class EntryPoint:
    """An ``extern "C" __global__`` kernel: its name, the ``__launch_bounds__`` maximum block
    size (or None) and its parameters as ``(c_type, name)`` pairs."""
    name: str
    max_threads: object
    params: tuple

    def scalar_kinds(self):
        """Per parameter: ``"pointer"`` or the C scalar type (``"int"``, ``"long long"``, ...)."""
        return tuple("pointer" if "*" in t else t for t, _ in self.params)


def entry_points(text):
    """``{name: EntryPoint}`` for every ``extern "C" __global__`` function in CUDA source text."""
    result = {}
    for m in _ENTRY.finditer(text):
        bounds, name, params = m.groups()
        parsed = []
        for p in filter(None, (s.strip() for s in params.split(","))):
            p = p.replace("__restrict__", " ")
            pm = re.match(r"(.*?)([A-Za-z_]\w*)\s*$", p)
            ctype = " ".join(pm.group(1).replace("*", " * ").split()).replace(" *", "*")
            parsed.append((ctype.replace("const ", ""), pm.group(2)))
        max_threads = int(bounds.split(",")[0]) if bounds else None
        result[name] = EntryPoint(name, max_threads, tuple(parsed))
    return result


# -- the compile cache ------------------------------------------------------------------------------
def cache_dir():
    """``$GPUGRAPH_KERNEL_CACHE`` or ``~/.cache/gpugraph/kernels``."""
    env = os.environ.get("GPUGRAPH_KERNEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "gpugraph" / "kernels"


@dataclass(frozen=True)
class CompiledKernel:
    """One compiled translation unit: ``binary`` (CUBIN or PTX bytes), its ``kind`` (``"cubin"``
    or ``"ptx"``), the cache ``path`` (None when the cache could not be written), the cache
    ``key`` and whether it came from the cache (``hit``)."""
    source_name: str
    arch: str
    kind: str
    binary: bytes
    path: object
    key: str
    hit: bool


def cache_key(source, arch, options=DEFAULT_OPTIONS):
    """The hex digest naming a compiled ``source`` (a :class:`KernelSource`) for ``arch`` with
    ``options``: it covers the NVRTC version, the expanded source text, the options and the
    architecture."""
    h = hashlib.sha256(_CACHE_VERSION)
    for part in (".".join(map(str, nvrtc.version())), arch, "\0".join(options), source.sha256):
        h.update(b"\0" + part.encode())
    return h.hexdigest()


def _atomic_write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def compile_cached(source, arch, options=DEFAULT_OPTIONS, directory=None):
    """``source`` (a :class:`KernelSource` or a file name in ``kernels/``) compiled for ``arch``
    (``"sm_90"`` → CUBIN, ``"compute_90"`` → PTX), from the cache when present.

    Raises :class:`~gpugraph.runtime.cuda.nvrtc.NvrtcError` with the compiler log on errors.
    """
    if isinstance(source, str):
        source = kernel_source(source)
    options = tuple(options)
    kind = "cubin" if arch.startswith("sm_") else "ptx"
    key = cache_key(source, arch, options)
    stem = Path(source.name).stem
    path = Path(directory) if directory is not None else cache_dir()
    path = path / f"{stem}.{arch}.{key[:32]}.{kind}"
    try:
        data = path.read_bytes()
        if data:
            return CompiledKernel(source.name, arch, kind, data, path, key, True)
    except OSError:
        pass
    out = nvrtc.compile(source.text, arch=arch, options=options, name=source.name)
    data = out.cubin if kind == "cubin" else out.ptx
    try:
        _atomic_write(path, data)
    except OSError as e:
        warnings.warn(f"gpugraph: could not write the kernel cache file {path}: {e}", stacklevel=2)
        path = None
    return CompiledKernel(source.name, arch, kind, data, path, key, False)


def supported_arches(arches=DEFAULT_ARCHES):
    """The subset of ``arches`` (``"sm_80"``...) that this NVRTC compiles for."""
    have = set(nvrtc.supported_archs())
    return [a for a in arches if int(a.split("_")[1]) in have]


def warm_up(arches=DEFAULT_ARCHES, files=None, options=DEFAULT_OPTIONS, directory=None,
            workers=None):
    """Compiles every kernel file (or ``files``) for every architecture in ``arches`` into the
    cache. Needs NVRTC, no GPU. Returns the :class:`CompiledKernel` list.

    Example:
        >>> [k.hit for k in warm_up(["sm_90"], files=["softmax.cu"])]     # doctest: +SKIP
        [False]
    """
    files = kernel_files() if files is None else list(files)
    jobs = [(f, a) for f in files for a in arches]
    workers = workers or min(len(jobs), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(workers) as pool:  # NVRTC is thread-safe and releases the GIL
        return list(pool.map(lambda job: compile_cached(job[0], job[1], options, directory), jobs))


def arch_for(compute_capability):
    """The target for a device of ``compute_capability`` (e.g. ``"90"`` or 90): ``sm_XX`` when
    NVRTC knows that architecture, else PTX for the newest one it knows below it (the driver
    compiles that PTX for the device)."""
    cc = int(compute_capability)
    have = sorted(nvrtc.supported_archs())
    if cc in have:
        return f"sm_{cc}"
    lower = [a for a in have if a <= cc]
    if not lower:
        raise nvrtc.NvrtcError(f"NVRTC {nvrtc.version()} cannot compile for compute capability "
                               f"{cc} (it supports {have})")
    return f"compute_{lower[-1]}"


# -- launch geometry: how the kernels want to be called ----------------------------------------------
def flat_launch(n, threads=256, max_blocks=8192):
    """(grid, block) for the 1-D grid-stride kernels over ``n`` elements."""
    blocks = max(1, min(max_blocks, -(-int(n) // threads)))
    return (blocks,), (threads,)


SHARED_MEMORY_BYTES = 48 * 1024  # dynamic shared memory every architecture gives without opt-in


def row_launch(rows, cols, acc_bytes=4, max_blocks=1 << 20):
    """``(grid, block, shared_mem, cache_row)`` for the kernels that give each row a group of
    threads (softmax, layernorm, reduce, argmax, xent): several short rows per warp, a warp per
    row up to 1024 columns, a block per row beyond (caching the row in shared memory when
    ``cols * acc_bytes`` fits)."""
    rows, cols = int(rows), int(cols)
    if cols <= 16:
        bx = 1 << max(0, (cols - 1).bit_length())  # a power of two >= cols
        block = (bx, 256 // bx)
    elif cols <= 1024:
        block = (32, 8)
    else:
        block = (256 if cols <= 4096 else 1024, 1)
    grid = (max(1, min(max_blocks, -(-rows // block[1]))),)
    cache = block[1] == 1 and cols * acc_bytes <= SHARED_MEMORY_BYTES
    return grid, block, (cols * acc_bytes if cache else 0), int(cache)


def reduce_launch(rows, red, acc_bytes=4, target_blocks=256):
    """``(grid, block, chunks)`` for gg_reduce_*: :func:`row_launch`'s shape, and when a few
    long rows would leave the GPU idle (a full reduction is one row), each row split into
    ``chunks`` pieces over ``blockIdx.y`` so that about ``target_blocks`` blocks run; then
    gg_reduce_finish_* (launched with ``row_launch(rows, chunks)``) combines the pieces."""
    grid, block, _, _ = row_launch(rows, red, acc_bytes)
    per_chunk = 8 * block[0]  # at least 8 elements per thread per chunk
    chunks = 1
    if grid[0] < target_blocks and red > per_chunk:
        chunks = max(1, min(65535, target_blocks // grid[0], -(-int(red) // per_chunk)))
    return (grid[0], chunks), block, chunks


@dataclass(frozen=True)
class ReduceView:
    """How gg_reduce_* sees a reduction: ``geom`` (int64 array to upload), ``rows`` (outputs),
    ``red`` (elements reduced per output), and ``cols_form``: ``(outer, red, inner)`` when the
    reduced axes form one block in memory order with kept axes on both sides of it (inner > 1),
    which gg_reduce_cols_* handles with coalesced loads; None otherwise."""
    geom: object
    rows: int
    red: int
    cols_form: object


def _coalesce(dims):
    """Merges adjacent (size, stride) pairs that are contiguous with each other; drops size 1."""
    out = []
    for size, stride in dims:
        if size == 1:
            continue
        if out and out[-1][1] == stride * size:
            out[-1] = (out[-1][0] * size, stride)
        else:
            out.append((size, stride))
    return out


def reduce_view(shape, axes, strides=None):
    """The :class:`ReduceView` of reducing ``axes`` of an array of ``shape`` with element
    ``strides`` (default: C-contiguous). Example: ``reduce_view((4, 5, 6), (0, 2)).rows == 5``."""
    import numpy as np
    shape = tuple(int(d) for d in shape)
    if strides is None:
        strides, acc = [], 1
        for d in reversed(shape):
            strides.append(acc)
            acc *= d
        strides = strides[::-1]
    axes = {a % len(shape) for a in axes} if shape else set()
    kept = _coalesce([(shape[i], strides[i]) for i in range(len(shape)) if i not in axes])
    red = _coalesce([(shape[i], strides[i]) for i in range(len(shape)) if i in axes])
    if len(kept) > 8 or len(red) > 8:
        raise ValueError(f"reduction of shape {shape} over {sorted(axes)} needs more than 8 kept "
                         "or reduced dimension groups")
    rows = int(np.prod([d for d, _ in kept], dtype=np.int64))
    n_red = int(np.prod([d for d, _ in red], dtype=np.int64))
    if any(d == 0 for d in shape):  # empty input: nothing to address
        kept, red = [(rows, 0)] if rows else [], [(n_red, 0)] if n_red else []
    geom = np.array([len(kept), len(red)] + [d for d, _ in kept] + [s for _, s in kept]
                    + [d for d, _ in red] + [s for _, s in red], dtype=np.int64)
    cols_form = None
    if len(red) == 1 and red[0][1] > 1 and 1 <= len(kept) <= 2 and kept[-1][1] == 1:
        inner = kept[-1][0]
        if red[0][1] == inner and (len(kept) == 1 or kept[0][1] == inner * red[0][0]):
            cols_form = (kept[0][0] if len(kept) == 2 else 1, red[0][0], inner)
    return ReduceView(geom, rows, n_red, cols_form)


# -- loading into devices (CuPy) ------------------------------------------------------------------------
_NUMPY_SCALARS = {"int": "int32", "unsigned": "uint32", "unsigned int": "uint32",
                  "long long": "int64", "unsigned long long": "uint64", "float": "float32",
                  "double": "float64"}


class Kernel:
    """A kernel function loaded in one device. Calling it launches it there, on the given stream,
    with the arguments converted to the C parameter types (None for a pointer: a null pointer):
    ``kernel(grid, block, args, stream=stream, shared_mem=0)``."""

    def __init__(self, function, entry, device, device_type):
        import numpy as np
        self._null = np.uint64(0)
        self.function = function
        self.entry = entry
        self.device = device
        self._device_type = device_type  # cupy.cuda.Device
        self._converters = tuple(
            None if kind == "pointer" else getattr(np, _NUMPY_SCALARS[kind])
            for kind in entry.scalar_kinds())

    @property
    def name(self):
        return self.entry.name

    def __call__(self, grid, block, args, *, stream, shared_mem=0):
        if len(args) != len(self._converters):
            raise TypeError(f"{self.name} takes {len(self._converters)} arguments "
                            f"({', '.join(t + ' ' + n for t, n in self.entry.params)}), got "
                            f"{len(args)}")
        converted = tuple((self._null if a is None else a) if conv is None else conv(a)
                          for conv, a in zip(self._converters, args))
        # Every launch names its device and stream. A Device object per call: its context stack
        # is per object, and one Kernel may launch from several threads.
        with self._device_type(self.device), stream:
            self.function(tuple(grid), tuple(block), converted, shared_mem=shared_mem)


class KernelLoader:
    """Loads compiled kernel modules into devices lazily and keeps them: one module per
    (device, source, options). Compiles through :mod:`nvrtc` and the on-disk cache, for the
    device's architecture, and loads the CUBIN with ``cupy.RawModule(path=...)``. When no
    libnvrtc can be loaded from Python, when it is of a newer CUDA major version than the driver,
    or when the driver rejects the image, it falls back to ``cupy.RawModule(code=...,
    backend="nvrtc")`` (CuPy's own NVRTC and kernel cache)."""

    def __init__(self, options=DEFAULT_OPTIONS, directory=None):
        self.options = tuple(options)
        self.directory = directory
        self._modules = {}
        self._kernels = {}
        self._lock = threading.Lock()

    def _cupy(self):
        import cupy
        return cupy

    def _device_arch(self, device):
        cupy = self._cupy()
        return arch_for(cupy.cuda.Device(device).compute_capability)

    def _own_nvrtc_usable(self, cupy):
        """Whether our NVRTC's output loads here: it must exist and be no newer (major version)
        than the driver, which does not load CUBIN/PTX of a newer CUDA major version."""
        if not nvrtc.available():
            return False
        try:
            driver_major = cupy.cuda.runtime.driverGetVersion() // 1000
        except Exception:  # noqa: BLE001 - an unknown driver: let CuPy compile
            return False
        return nvrtc.version()[0] <= driver_major

    def _load_module(self, source, device):
        cupy = self._cupy()
        with cupy.cuda.Device(device):
            if self._own_nvrtc_usable(cupy):
                compiled = compile_cached(source, self._device_arch(device), self.options,
                                          self.directory)
                first = next(iter(source.entry_points()))
                try:
                    if compiled.path is not None:
                        mod = cupy.RawModule(path=str(compiled.path))
                        mod.get_function(first)  # loads the image now: errors surface here
                        return mod
                    with tempfile.NamedTemporaryFile(suffix="." + compiled.kind) as f:
                        f.write(compiled.binary)
                        f.flush()
                        mod = cupy.RawModule(path=f.name)
                        mod.get_function(first)
                        return mod
                except Exception as e:  # noqa: BLE001 - e.g. a driver that rejects the image
                    warnings.warn(f"gpugraph: loading the compiled {source.name} failed ({e}); "
                                  "compiling it with CuPy's NVRTC instead", stacklevel=3)
            # CuPy's own NVRTC (matching its CUDA version) and CuPy's kernel cache.
            return cupy.RawModule(code=source.text, options=self.options, backend="nvrtc")

    def module(self, source, device=0):
        """The module of ``source`` (file name or :class:`KernelSource`) loaded in ``device``."""
        if isinstance(source, str):
            source = kernel_source(source)
        key = (device, source.sha256)
        mod = self._modules.get(key)
        if mod is None:
            with self._lock:
                mod = self._modules.get(key)
                if mod is None:
                    mod = self._modules[key] = self._load_module(source, device)
        return mod

    def kernel(self, source, name, device=0):
        """The :class:`Kernel` ``name`` of ``source`` in ``device``."""
        if isinstance(source, str):
            source = kernel_source(source)
        key = (device, source.sha256, name)
        k = self._kernels.get(key)
        if k is None:
            entries = source.entry_points()
            if name not in entries:
                raise KeyError(f"{source.name} has no kernel {name!r} (it has: "
                               f"{', '.join(sorted(entries))})")
            mod = self.module(source, device)
            device_type = self._cupy().cuda.Device
            with device_type(device):
                k = Kernel(mod.get_function(name), entries[name], device, device_type)
            self._kernels[key] = k
        return k


_DEFAULT_LOADER = None


def default_loader():
    """The process-wide :class:`KernelLoader`."""
    global _DEFAULT_LOADER
    if _DEFAULT_LOADER is None:
        _DEFAULT_LOADER = KernelLoader()
    return _DEFAULT_LOADER


def get_kernel(source, name, device=0):
    """``default_loader().kernel(source, name, device)``."""
    return default_loader().kernel(source, name, device)
