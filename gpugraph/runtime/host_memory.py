"""Host memory for NumPy kernels: keep freed buffers in the process instead of handing them back
to the operating system after every step.

A plan's intermediates are NumPy arrays of a few megabytes that are freed as soon as their last
reader has run and allocated again on the next run. glibc's malloc serves allocations above its
mmap threshold with fresh ``mmap`` pages and trims the heap top whenever enough is free, so each
run pays a page fault for every 4 KiB it writes — for a small CNN that is more time than the
convolutions' arithmetic. :func:`tune` raises both thresholds once per process (``mallopt``), so
those buffers are reused from the heap; a process keeps up to :data:`TRIM_THRESHOLD_BYTES` of
freed memory for reuse. It changes the allocator of the whole process, as loading tcmalloc or
jemalloc would, and is done when the first session is created; ``GPUGRAPH_MALLOC_TUNING=0`` leaves
malloc alone. Other C libraries (musl, macOS) are left alone.

Example:
    >>> from gpugraph.runtime import host_memory
    >>> host_memory.tune() in (True, False)
    True
"""

import ctypes
import logging
import os
import sys
import threading

logger = logging.getLogger("gpugraph")

ENV_VAR = "GPUGRAPH_MALLOC_TUNING"
# Arrays below this come from the heap (so are reused); glibc's own default caps its adaptive
# threshold at 32 MiB on 64-bit systems.
MMAP_THRESHOLD_BYTES = 64 << 20
# Free memory at the heap top is returned to the OS only beyond this.
TRIM_THRESHOLD_BYTES = 512 << 20

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_result = None


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl does not)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def tune():
    """Sets glibc's mmap and trim thresholds once per process. Returns whether they are set (False
    when turned off, or not glibc)."""
    global _result
    if _result is not None:
        return _result
    with _lock:
        if _result is None:
            _result = _apply()
    return _result


def _apply():
    if os.environ.get(ENV_VAR, "1") == "0":
        return False
    mallopt = _glibc()
    if mallopt is None:
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    if not ok:
        logger.debug("gpugraph: mallopt refused the mmap/trim thresholds; malloc left as it was")
    return ok
