"""NVRTC through ctypes: compile CUDA C++ to PTX and CUBIN without a GPU, a driver or CuPy.

NVRTC is the runtime compiler CuPy itself uses; the ``nvidia-cuda-nvrtc`` wheel ships it (the
``test`` extra installs it), and so does every CUDA toolkit. Compiling needs no device, so CI checks
every kernel with it, and :func:`gpugraph.runtime.cuda.kernel_loader.warm_up` fills the on-disk
kernel cache with it ahead of time.

Example:
    >>> from gpugraph.runtime.cuda import nvrtc
    >>> out = nvrtc.compile('extern "C" __global__ void k(float* x) { x[0] = 1.f; }',
    ...                     arch="sm_90")                                   # doctest: +SKIP
    >>> b".entry k" in out.ptx, len(out.cubin) > 0                          # doctest: +SKIP
    (True, True)

The library is found, in this order: ``$GPUGRAPH_NVRTC_LIBRARY`` (a path), the NVIDIA wheels on
``sys.path`` (``nvidia/cu13/lib``, ``nvidia/cuda_nvrtc/lib``), ``$CUDA_PATH``/``$CUDA_HOME``,
``/usr/local/cuda``, then the system's library search path.
"""

import ctypes
import ctypes.util
import glob
import os
import re
import sys
import threading
from dataclasses import dataclass

_LOCK = threading.Lock()
_LIB = None

_NVRTC_SUCCESS = 0


class NvrtcError(RuntimeError):
    """A failed NVRTC call; for compile errors ``log`` holds the compiler's messages."""

    def __init__(self, message, log="", name="", options=()):
        super().__init__(message + (f"\n{log}" if log else ""))
        self.log = log
        self.name = name
        self.options = tuple(options)


class NvrtcUnavailable(NvrtcError):
    """No loadable libnvrtc was found."""


@dataclass(frozen=True)
class Compiled:
    """The result of one compile: PTX text, the CUBIN (``b""`` for a virtual ``compute_XX``
    target) and the compiler log (warnings)."""
    ptx: bytes
    cubin: bytes
    log: str
    arch: str
    options: tuple


def _candidates():
    env = os.environ.get("GPUGRAPH_NVRTC_LIBRARY")
    if env:
        yield env
    patterns = ("nvidia/cu*/lib/libnvrtc.so*", "nvidia/cuda_nvrtc/lib/libnvrtc.so*",
                "nvidia/cu*/bin/nvrtc64_*.dll", "nvidia/cuda_nvrtc/bin/nvrtc64_*.dll")
    for base in sys.path:
        if not base or not os.path.isdir(os.path.join(base, "nvidia")):
            continue
        for pattern in patterns:
            # libnvrtc.so.13 before libnvrtc-builtins: the builtins library is not the API
            for path in sorted(glob.glob(os.path.join(base, pattern)), reverse=True):
                if "builtins" not in os.path.basename(path):
                    yield path
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root:
            for path in sorted(glob.glob(os.path.join(root, "lib*", "libnvrtc.so*")), reverse=True):
                if "builtins" not in os.path.basename(path):
                    yield path
    found = ctypes.util.find_library("nvrtc")
    if found:
        yield found
    yield "libnvrtc.so"


def library():
    """The loaded libnvrtc (``ctypes.CDLL``); :class:`NvrtcUnavailable` when there is none."""
    global _LIB
    if _LIB is not None:
        return _LIB
    with _LOCK:
        if _LIB is None:
            tried = []
            for path in _candidates():
                try:
                    lib = ctypes.CDLL(path)
                    lib.nvrtcVersion  # noqa: B018  (an API symbol, not some other libnvrtc*)
                except (OSError, AttributeError) as e:
                    tried.append(f"{path}: {e}")
                    continue
                _declare(lib)
                lib.gpugraph_path = path
                _LIB = lib
                break
            else:
                raise NvrtcUnavailable("libnvrtc was not found; install the nvidia-cuda-nvrtc wheel "
                                       "(pip install nvidia-cuda-nvrtc) or a CUDA toolkit, or set "
                                       "GPUGRAPH_NVRTC_LIBRARY. Tried:\n  " + "\n  ".join(tried))
    return _LIB


def _declare(lib):
    p, c_int, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    sig = {
        "nvrtcVersion": [ctypes.POINTER(c_int), ctypes.POINTER(c_int)],
        "nvrtcGetNumSupportedArchs": [ctypes.POINTER(c_int)],
        "nvrtcGetSupportedArchs": [ctypes.POINTER(c_int)],
        "nvrtcCreateProgram": [ctypes.POINTER(p), ctypes.c_char_p, ctypes.c_char_p, c_int,
                               ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)],
        "nvrtcDestroyProgram": [ctypes.POINTER(p)],
        "nvrtcCompileProgram": [p, c_int, ctypes.POINTER(ctypes.c_char_p)],
        "nvrtcGetProgramLogSize": [p, ctypes.POINTER(size)],
        "nvrtcGetProgramLog": [p, ctypes.c_char_p],
        "nvrtcGetPTXSize": [p, ctypes.POINTER(size)],
        "nvrtcGetPTX": [p, ctypes.c_char_p],
        "nvrtcGetCUBINSize": [p, ctypes.POINTER(size)],
        "nvrtcGetCUBIN": [p, ctypes.c_char_p],
        "nvrtcGetErrorString": [c_int],
    }
    for name, argtypes in sig.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_char_p if name == "nvrtcGetErrorString" else c_int


def _check(lib, status, what):
    if status != _NVRTC_SUCCESS:
        raise NvrtcError(f"{what} failed: {lib.nvrtcGetErrorString(status).decode()} ({status})")


def available():
    """Whether a libnvrtc can be loaded."""
    try:
        library()
        return True
    except NvrtcUnavailable:
        return False


def version():
    """NVRTC's ``(major, minor)`` version."""
    lib = library()
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(lib, lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
    return major.value, minor.value


def supported_archs():
    """The compute capabilities this NVRTC compiles for, as ints (``[75, 80, ..., 90, ...]``)."""
    lib = library()
    n = ctypes.c_int()
    _check(lib, lib.nvrtcGetNumSupportedArchs(ctypes.byref(n)), "nvrtcGetNumSupportedArchs")
    archs = (ctypes.c_int * n.value)()
    _check(lib, lib.nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs")
    return list(archs)


def _get(lib, prog, size_fn, get_fn):
    size = ctypes.c_size_t()
    _check(lib, size_fn(prog, ctypes.byref(size)), size_fn.__name__)
    buf = ctypes.create_string_buffer(size.value)
    _check(lib, get_fn(prog, buf), get_fn.__name__)
    return buf.raw[:size.value]


def compile(source, arch="sm_90", options=(), name="kernel.cu"):  # noqa: A001 (NVRTC's verb)
    """Compiles CUDA C++ ``source`` for ``arch`` (``"sm_90"``: PTX and CUBIN; ``"compute_90"``:
    PTX only). ``options`` are extra NVRTC flags (``-std=c++17`` is added unless a ``-std`` is
    given). Raises :class:`NvrtcError` with the compiler log on errors.
    """
    lib = library()
    opts = [f"--gpu-architecture={arch}", *options]
    if not any(o.startswith(("-std", "--std")) for o in opts):
        opts.append("-std=c++17")
    src = source.encode() if isinstance(source, str) else source
    prog = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), src, name.encode(), 0, None, None),
           "nvrtcCreateProgram")
    try:
        encoded = [o.encode() for o in opts]
        argv = (ctypes.c_char_p * len(encoded))(*encoded)
        status = lib.nvrtcCompileProgram(prog, len(encoded), argv)
        log = _get(lib, prog, lib.nvrtcGetProgramLogSize, lib.nvrtcGetProgramLog)
        log = log.rstrip(b"\0").decode(errors="replace").strip()
        if status != _NVRTC_SUCCESS:
            raise NvrtcError(f"NVRTC could not compile {name} for {arch} "
                             f"({lib.nvrtcGetErrorString(status).decode()}; options {opts})",
                             log=log, name=name, options=opts)
        ptx = _get(lib, prog, lib.nvrtcGetPTXSize, lib.nvrtcGetPTX).rstrip(b"\0")
        cubin = b""
        if arch.startswith("sm_"):
            cubin = _get(lib, prog, lib.nvrtcGetCUBINSize, lib.nvrtcGetCUBIN)
        return Compiled(ptx=ptx, cubin=cubin, log=log, arch=arch, options=tuple(opts))
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def ptx_entries(ptx):
    """The kernel (``.entry``) names defined in PTX text."""
    text = ptx.decode() if isinstance(ptx, bytes) else ptx
    return re.findall(r"^\s*\.(?:visible\s+)?\.entry\s+([A-Za-z_$][\w$]*)", text, re.M)
