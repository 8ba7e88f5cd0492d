"""The data path of the SaveV2 / RestoreV2 kernels: V2 bundles written and read without extra copies,
with the CPU cores busy in parallel.

Files are byte for byte those of :class:`gpugraph.train.bundle.BundleWriter` and every checksum is
verified as :class:`~gpugraph.train.bundle.BundleReader` does; the difference is speed. Numeric tensors
go straight from their arrays into the file (``os.pwrite`` of the array's own buffer) and come straight
from the file into fresh arrays (``os.preadv``); their CRC-32C is computed on the arrays in place by
the native ``crc32c_extend`` that ships with ``google_crc32c`` (called through ctypes, so the GIL is
released), and the writes, reads and checksums of different tensors run on a small thread pool.
String tensors and small saves take the reference path (BundleWriter / BundleReader).

Durability: data and index are written to temporary files, fsynced, and renamed into place, the
index last, so a save is on disk when it returns and a killed process (or a power loss) leaves the
previous checkpoint intact. On Linux each written chunk's writeback is started at once
(``sync_file_range``), so the disk works while later chunks are still being copied (and the
checksums computed), the final fsync waits only for the tail, and no save piles up dirty pages for
the kernel to throttle. :func:`set_sync(False) <set_sync>` (or ``GPUGRAPH_CHECKPOINT_SYNC=0``)
trades that for speed, as TensorFlow does (it never fsyncs): renames first, fsync in the background
right after — a power loss can then cost the newest checkpoint (its checksums fail; older ones are
intact), never silently wrong values.

Example:
    >>> write_bundle("/tmp/ckpt/m", ["w"], [np.ones((1024, 1024), np.float32)])   # doctest: +SKIP
    >>> read_tensors(BundleReader("/tmp/ckpt/m"), ["w"])[0].shape                  # doctest: +SKIP
    (1024, 1024)
"""

import atexit
import contextlib
import ctypes
import os
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes
from gpugraph.protos import tensor_bundle_pb2
from gpugraph.train import bundle, table
from gpugraph.util.fileio import fsync_path

_FAST_MIN_BYTES = 1 << 20        # below this, thread hand-offs cost more than they save
_CHUNK = 4 << 20                 # write/read granularity for the pool
_MAX_READ = 1 << 30              # single tensors above this take the reference path
_sync = os.environ.get("GPUGRAPH_CHECKPOINT_SYNC", "1") not in ("", "0")


def set_sync(enabled):
    """True (default): fsync data and index before renaming them into place (a save is durable when
    it returns). False: renames first, fsync in the background right after."""
    global _sync
    _sync = bool(enabled)


def sync_enabled():
    return _sync


# -- CRC-32C on arrays in place ------------------------------------------------------------------
def _load_native_crc():
    try:
        from google_crc32c import _crc32c
        fn = ctypes.CDLL(_crc32c.__file__).crc32c_extend  # resolved in the bundled libcrc32c
    except (ImportError, OSError, AttributeError):
        return None
    fn.restype = ctypes.c_uint32
    fn.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t]
    probe = np.frombuffer(b"123456789" * 7, np.uint8)
    if fn(0, probe.ctypes.data, probe.size) != table.crc32c(probe.tobytes()):
        return None
    return fn


_native_crc = _load_native_crc()


def crc_of_array(flat):
    """CRC-32C of a C-contiguous uint8 array (no copy, GIL released when the native code is there)."""
    if _native_crc is not None:
        return _native_crc(0, flat.ctypes.data, flat.size) if flat.size else 0
    crc = 0
    for start in range(0, flat.size, 1 << 22):
        crc = table.crc32c(flat[start:start + (1 << 22)].tobytes(), crc)
    return crc


_pool = None
_pool_lock = threading.Lock()


def _executor():
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)),
                                           thread_name_prefix="gpugraph-ckpt")
    return _pool


# -- background durability ----------------------------------------------------------------------
_background = queue.Queue()
_worker = None
_worker_lock = threading.Lock()


def _background_loop():
    while True:
        task = _background.get()
        try:
            task()
        except Exception:  # noqa: BLE001 - a failed flush or deletion must not kill the worker
            pass
        finally:
            _background.task_done()


def run_later(task):
    """Runs ``task()`` on the checkpoint background thread (in submission order)."""
    global _worker
    if _worker is None:
        with _worker_lock:
            if _worker is None:
                _worker = threading.Thread(target=_background_loop, name="gpugraph-ckpt-io", daemon=True)
                _worker.start()
    _background.put(task)


def flush_later(paths):
    """Makes ``paths`` durable on the background thread."""
    paths = list(paths)
    run_later(lambda: [fsync_path(p) for p in paths])


def wait_for_pending_flushes():
    """Blocks until every background flush and deletion queued so far is done (also at exit)."""
    if _worker is not None:
        _background.join()


atexit.register(wait_for_pending_flushes)


# -- writing -------------------------------------------------------------------------------------
def _numeric(value):
    """``(DType, C-contiguous little-endian ndarray)`` or None for strings/objects."""
    arr = np.asarray(value)
    if arr.dtype.kind in "OSUV":
        return None
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    return dtypes.as_dtype(arr.dtype), arr


def use_fast_path(values):
    """Whether :func:`write_bundle` will take the parallel path for these values."""
    total = 0
    for v in values:
        arr = np.asarray(v)
        if arr.dtype.kind in "OSUV":
            return False
        total += arr.nbytes
    return total >= _FAST_MIN_BYTES


def write_bundle(prefix, names, values):
    """Writes tensors ``values`` under keys ``names`` as the single-shard bundle ``prefix``.

    Raises ValueError for a duplicate or empty key and TypeError for a value that is not a tensor,
    like BundleWriter.add; OSError from the file system. Nothing appears at ``prefix`` on failure.
    """
    prefix = bundle.check_prefix(prefix)
    if not use_fast_path(values):
        with bundle.BundleWriter(prefix) as writer:
            for name, value in zip(names, values):
                writer.add(name, value)
        return
    keys, prepared, offset = set(), [], 0
    for name, value in zip(names, values):
        kb = name.encode("utf-8") if isinstance(name, str) else bytes(name)
        if not kb:
            raise ValueError("the empty key is reserved for the bundle header")
        if kb in keys:
            raise ValueError("duplicate key %r in bundle %s" % (name, prefix))
        keys.add(kb)
        dtype, arr = _numeric(value)
        prepared.append((kb, dtype, arr, offset))
        offset += arr.nbytes
    directory = os.path.dirname(prefix)
    if directory:
        os.makedirs(directory, exist_ok=True)
    data_path = bundle.data_filename(prefix)
    index_path = bundle.index_filename(prefix)
    suffix = ".tempstate%d" % int.from_bytes(os.urandom(8), "little")
    tmp_data, tmp_index = data_path + suffix, index_path + suffix
    fd = os.open(tmp_data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        try:
            # Reserving the extents up front makes the page-cache writes much cheaper (ext4, xfs).
            os.posix_fallocate(fd, 0, offset)
        except (OSError, AttributeError):
            pass
        pool = _executor()
        writes, crcs = [], []
        flats = [arr.reshape(-1).view(np.uint8) for _, _, arr, _ in prepared]
        for flat, (_, _, _, off) in zip(flats, prepared):
            for start in range(0, flat.size, _CHUNK):
                writes.append(pool.submit(_pwrite_all, fd, flat[start:start + _CHUNK], off + start))
        # Checksums after the writes in the queue: they use the CPU while the disk catches up, and
        # the fsync below waits for the disk, not for them.
        crcs = [pool.submit(crc_of_array, flat) for flat in flats]
        for w in writes:
            w.result()
        if _sync:
            os.fsync(fd)
        os.close(fd)
        fd = None
        entries = {}
        for (kb, dtype, arr, off), crc in zip(prepared, crcs):
            entry = tensor_bundle_pb2.BundleEntryProto()
            entry.dtype = dtype.as_datatype_enum
            entry.shape.SetInParent()  # TF writes an empty shape message for scalars
            for d in arr.shape:
                entry.shape.dim.add().size = d
            entry.offset = off
            entry.size = arr.nbytes
            entry.crc32c = table.mask_crc(crc.result())
            entries[kb] = entry
        _write_index(tmp_index, entries)
        os.replace(tmp_data, data_path)
        os.replace(tmp_index, index_path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        for path in (tmp_data, tmp_index):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        raise
    if _sync:
        fsync_path(directory or ".")  # makes the renames durable too
    else:
        flush_later([data_path, index_path, directory or "."])


def _pwrite_all(fd, buf, offset):
    """Writes all of ``buf`` at ``offset``, then starts its writeback."""
    view = memoryview(buf)
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)
    _start_writeback(fd, offset, done)


def _load_sync_file_range():
    """Linux's ``sync_file_range`` (not in the os module), or None elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _load_sync_file_range() if sys.platform.startswith("linux") else None
_SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd, offset, nbytes):
    """Starts writing a just-written range to disk without waiting for it, so the disk works while
    the next chunks are copied into the page cache and the final fsync finds little left to do.
    A hint: where it is missing or fails, the fsync does all the work, as before."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)


def _write_index(path, entries):
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
    header.endianness = tensor_bundle_pb2.BundleHeaderProto.LITTLE
    header.version.producer = bundle.BUNDLE_VERSION
    header.version.min_consumer = bundle.BUNDLE_MIN_CONSUMER
    with open(path, "wb") as f:
        writer = table.TableWriter(f)
        writer.add(b"", header.SerializeToString())
        for key in sorted(entries):
            writer.add(key, entries[key].SerializeToString())
        writer.finish()
        if _sync:
            f.flush()
            os.fsync(f.fileno())


# -- reading -------------------------------------------------------------------------------------
def _fast_readable(reader, name):
    entry = reader.entry(name)
    if len(entry.slices) or entry.dtype == dtypes.string.as_datatype_enum or entry.size > _MAX_READ:
        return None
    try:
        np_dtype = np.dtype(dtypes.as_dtype(entry.dtype).as_numpy_dtype)
    except (TypeError, ValueError, KeyError):
        return None
    if np_dtype == object:
        return None
    return entry, np_dtype


_progress_callbacks = []


@contextlib.contextmanager
def progress_callback(fn):
    """Within the block, every checkpoint tensor read reports its size: ``fn(nbytes)`` (possibly
    from pool threads). Used for progress bars of long restores.

    Example:
        >>> with progress_callback(bar.advance):                                  # doctest: +SKIP
        ...     saver.restore(sess, prefix)
    """
    _progress_callbacks.append(fn)
    try:
        yield
    finally:
        _progress_callbacks.remove(fn)


def _report(nbytes):
    for fn in list(_progress_callbacks):
        fn(nbytes)


def _read_reported(reader, name):
    value = reader.read(name)
    if _progress_callbacks:
        _report(reader.entry(name).size)
    return value


def read_tensors(reader, names):
    """The tensors ``names`` of an open BundleReader, each verified against its checksum.

    Large numeric tensors are read straight into fresh arrays on the thread pool; strings and
    small reads go through ``reader.read``. Raises what BundleReader raises.
    """
    plans = [_fast_readable(reader, n) for n in names]
    total = sum(p[0].size for p in plans if p is not None)
    if total < _FAST_MIN_BYTES:
        return [_read_reported(reader, n) for n in names]
    pool = _executor()
    out, pending = [None] * len(names), []
    files = {}
    try:
        for i, (name, plan) in enumerate(zip(names, plans)):
            if plan is None:
                out[i] = _read_reported(reader, name)
                continue
            entry, np_dtype = plan
            shape = tuple(d.size for d in entry.shape.dim)
            if any(d < 0 for d in shape):
                raise errors.DataLossError(None, None, "%s: tensor %r has a negative dimension in shape %s"
                                           % (bundle.index_filename(reader.prefix), name, list(shape)))
            nbytes = int(np.prod(shape, dtype=np.int64)) * np_dtype.itemsize
            if entry.size != nbytes:
                raise errors.DataLossError(None, None, "%s: tensor %r: entry size %d does not match its shape "
                                           "%s of %s (%d bytes)" % (bundle.index_filename(reader.prefix), name,
                                                                    entry.size, list(shape), np_dtype, nbytes))
            path = bundle.data_filename(reader.prefix, entry.shard_id, reader.num_shards)
            if not 0 <= entry.shard_id < reader.num_shards:
                raise errors.DataLossError(None, None, "%s: tensor %r is in shard %d but the bundle has %d shards"
                                           % (bundle.index_filename(reader.prefix), name, entry.shard_id,
                                              reader.num_shards))
            fd = files.get(path)
            if fd is None:
                try:
                    fd = files[path] = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    raise errors.DataLossError(None, None, "data file %s of checkpoint %s is missing (needed "
                                               "for tensor %r)" % (path, reader.prefix, name)) from None
            arr = np.empty(shape, np_dtype)
            out[i] = arr
            pending.append(pool.submit(_read_and_check, fd, path, name, entry, arr.reshape(-1).view(np.uint8)))
        for p in pending:
            p.result()
    finally:
        for p in pending:
            p.cancel()
        for p in pending:
            if not p.cancelled():
                try:
                    p.result()
                except BaseException:  # noqa: BLE001 - the first error is already propagating
                    pass
        for fd in files.values():
            os.close(fd)
    return out


def _read_and_check(fd, path, name, entry, buf):
    done = 0
    while done < buf.size:
        n = os.preadv(fd, [buf[done:done + _CHUNK]], entry.offset + done)
        if not n:
            size = os.fstat(fd).st_size
            raise errors.DataLossError(None, None, "%s is too short: tensor %r needs bytes [%d, %d) but the file "
                                       "has %d bytes" % (path, name, entry.offset, entry.offset + entry.size, size))
        done += n
    crc = crc_of_array(buf)
    if crc != table.unmask_crc(entry.crc32c):
        raise errors.DataLossError(None, None, "checksum mismatch for tensor %r in %s (index says crc32c 0x%08x, "
                                   "data has 0x%08x)" % (name, path, table.unmask_crc(entry.crc32c), crc))
    _report(entry.size)
