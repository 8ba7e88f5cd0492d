"""V2 checkpoints ("tensor bundles"), byte-compatible with TensorFlow's ``tensor_bundle.cc``.

A bundle with prefix ``P`` is two kinds of files:

- ``P.data-SSSSS-of-NNNNN``: tensors' bytes packed back to back (alignment 1), in the order added.
  Numeric tensors are raw little-endian row-major bytes. A string tensor is a varint64 length per
  element, the masked CRC-32C of those lengths (each taken as a little-endian uint32), then the bytes.
- ``P.index``: a table (see :mod:`gpugraph.train.table`) whose key ``""`` holds a BundleHeaderProto and
  every other key, in bytewise order, a BundleEntryProto: dtype, shape, shard, offset, size and the
  masked CRC-32C of the tensor's bytes (for strings: of the lengths, their CRC and the bytes).

Writers use temporary files, fsync them and rename them into place, the index last, so a crash while
writing leaves an older checkpoint with the same prefix readable. (Two files cannot be renamed at once:
a crash exactly between the two renames pairs the old index with the new data, which the checksums
refuse; it never yields wrong values.) Readers verify every checksum.

Example:
    >>> import numpy as np, tempfile, os
    >>> prefix = os.path.join(tempfile.mkdtemp(), "model.ckpt-1")
    >>> with BundleWriter(prefix) as w:
    ...     w.add("dense/kernel", np.ones((2, 3), np.float32))
    ...     w.add("vocab", np.array([b"a", b"bc"], dtype=object))
    >>> with BundleReader(prefix) as r:
    ...     r.keys(), r.read("dense/kernel").shape, r.read("vocab").tolist()
    (['dense/kernel', 'vocab'], (2, 3), [b'a', b'bc'])
"""

import os
import re
import struct
import threading

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes
from gpugraph.protos import tensor_bundle_pb2
from gpugraph.train import table
from gpugraph.util import fileio

__all__ = ["BundleWriter", "BundleReader", "TensorNotFoundError", "data_filename", "index_filename",
           "check_prefix"]

BUNDLE_VERSION = 1         # kTensorBundleVersion: what TF writes as the header's producer
BUNDLE_MIN_CONSUMER = 0    # kTensorBundleMinConsumer
BUNDLE_MIN_PRODUCER = 0    # kTensorBundleMinProducer: oldest bundle we (and TF) read
_HEADER_KEY = b""
_CHUNK = 1 << 22           # read/write/CRC granularity: 4 MiB stays in cache between copy and CRC
_UINT32_MAX = 0xFFFFFFFF
_FILE_SUFFIX = re.compile(r"(\.index|\.meta|\.data-\d{5,}-of-\d{5,})$")


class TensorNotFoundError(errors.NotFoundError, KeyError):
    """A key is not in the checkpoint. Both ``errors.NotFoundError`` (as TF raises) and ``KeyError``."""

    def __init__(self, key, prefix):
        super().__init__(None, None, "Key %s not found in checkpoint %s" % (key, prefix))
        self.key = key


class _NoCheckpointError(errors.NotFoundError, FileNotFoundError):
    """No ``.index`` file at the prefix: both ``errors.NotFoundError`` and ``FileNotFoundError``."""


class _Unsupported(errors.UnimplementedError, NotImplementedError):
    """A bundle feature we do not read (slices, resource/variant tensors, big-endian bundles)."""


def _fspath(prefix):
    prefix = os.fspath(prefix)
    return prefix.decode() if isinstance(prefix, bytes) else prefix


def check_prefix(prefix):
    """Returns ``prefix`` as a str; raises ValueError when it names one of a checkpoint's files.

    Example:
        >>> check_prefix("/ckpt/m-10.index")
        Traceback (most recent call last):
        ...
        ValueError: '/ckpt/m-10.index' is a checkpoint file, not a checkpoint prefix; pass the prefix '/ckpt/m-10'
    """
    prefix = _fspath(prefix)
    m = _FILE_SUFFIX.search(prefix)
    if m:
        raise ValueError("%r is a checkpoint file, not a checkpoint prefix; pass the prefix %r"
                         % (prefix, prefix[:m.start()]))
    return prefix


def data_filename(prefix, shard_id=0, num_shards=1):
    """``"%s.data-%05d-of-%05d"``, the name TF gives a bundle's data shard."""
    return "%s.data-%05d-of-%05d" % (prefix, shard_id, num_shards)


def index_filename(prefix):
    return prefix + ".index"


def _key_bytes(key):
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def _key_str(key):
    return key.decode("utf-8", "surrogateescape")


def _crc_of(buf, crc=0):
    """CRC-32C over a uint8 ndarray, a chunk at a time (google_crc32c only takes bytes objects)."""
    for start in range(0, buf.size, _CHUNK):
        crc = table.crc32c(buf[start:start + _CHUNK].tobytes(), crc)
    return crc


def _as_tensor(value):
    """Returns ``(DType, C-contiguous little-endian ndarray)``; strings become object arrays of bytes."""
    arr = np.asarray(value)
    if arr.dtype.kind in "SU" and not isinstance(value, np.ndarray):
        # numpy's fixed-width "S" type drops trailing NUL bytes; keep the caller's own bytes objects.
        arr = np.asarray(value, dtype=object)
    if arr.dtype.kind in "OSU":
        flat = [x.encode("utf-8") if isinstance(x, str) else x for x in arr.reshape(-1).tolist()]
        if not all(isinstance(x, (bytes, bytearray, memoryview)) for x in flat):
            raise TypeError("string tensors need str or bytes elements, got %r"
                            % next(type(x) for x in flat if not isinstance(x, (bytes, bytearray, memoryview))))
        out = np.empty(len(flat), dtype=object)
        out[:] = [bytes(x) for x in flat]
        return dtypes.string, out.reshape(arr.shape)
    dtype = dtypes.as_dtype(arr.dtype)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
    return dtype, arr if arr.flags.c_contiguous else arr.copy(order="C")


class BundleWriter:
    """Writes a single-shard V2 checkpoint at ``prefix``: ``prefix.index`` + ``prefix.data-00000-of-00001``.

    Tensors are written to the data file as they are added (so memory stays flat), in ``add`` order;
    add them in sorted key order, as TF's SaveV2 does, to get files byte-identical to TF's. Nothing is
    visible at ``prefix`` until :meth:`finish` renames the files into place.

    Example:
        >>> import numpy as np, tempfile, os
        >>> w = BundleWriter(os.path.join(tempfile.mkdtemp(), "ckpt"))
        >>> w.add("w", np.zeros(3, np.float16))
        >>> w.finish()
    """

    def __init__(self, prefix):
        self._prefix = check_prefix(prefix)
        directory = os.path.dirname(self._prefix)
        if directory:
            os.makedirs(directory, exist_ok=True)  # TF's BundleWriter creates the directory too
        self._data_path = data_filename(self._prefix)
        # Same temporary names as TF (".tempstate<random>"), so either's leftovers are recognisable.
        suffix = ".tempstate%d" % int.from_bytes(os.urandom(8), "little")
        self._tmp_data = self._data_path + suffix
        self._tmp_index = index_filename(self._prefix) + suffix
        self._data = open(self._tmp_data, "wb")
        self._offset = 0
        self._entries = {}
        self._done = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    def add(self, key, value):
        """Appends one tensor. ``value``: an ndarray (any numeric dtype, bool, float16, bfloat16,
        complex) or an array/list of bytes or str (a string tensor). ``key`` must be new and not ``""``."""
        if self._done:
            raise ValueError("BundleWriter(%r).add after finish/abort" % self._prefix)
        kb = _key_bytes(key)
        if kb == _HEADER_KEY:
            raise ValueError("the empty key is reserved for the bundle header")
        if kb in self._entries:
            raise ValueError("duplicate key %r in bundle %s" % (key, self._prefix))
        dtype, arr = _as_tensor(value)
        entry = tensor_bundle_pb2.BundleEntryProto()
        entry.dtype = dtype.as_datatype_enum
        entry.shape.SetInParent()  # TF writes an empty shape message for scalars; so must we
        for d in arr.shape:
            entry.shape.dim.add().size = d
        entry.offset = self._offset
        if dtype != dtypes.string and arr.dtype == object:
            raise TypeError("cannot save tensor %r of dtype %s" % (key, dtype.name))
        try:
            if dtype == dtypes.string:
                size, crc = self._write_strings(arr.reshape(-1))
            else:
                size, crc = self._write_bytes(arr.reshape(-1).view(np.uint8))
        except BaseException:
            # A partial write (disk full, interrupt) leaves offsets unknowable: give the bundle up.
            self.abort()
            raise
        entry.size = size
        entry.crc32c = table.mask_crc(crc)
        self._offset += size
        self._entries[kb] = entry

    def _write_bytes(self, buf):
        crc = 0
        for start in range(0, buf.size, _CHUNK):
            chunk = buf[start:start + _CHUNK].tobytes()
            crc = table.crc32c(chunk, crc)
            self._data.write(chunk)
        return buf.size, crc

    def _write_strings(self, items):
        # Layout and CRC exactly as TF's WriteStringTensor: the CRC runs over each length as a uint32
        # (uint64 when it does not fit), not over the varint bytes.
        lengths = [len(x) for x in items]
        varints = b"".join(table.encode_varint(n) for n in lengths)
        if all(n <= _UINT32_MAX for n in lengths):
            crc = table.crc32c(np.asarray(lengths, "<u4").tobytes())
        else:
            crc = 0
            for n in lengths:
                crc = table.crc32c(struct.pack("<I" if n <= _UINT32_MAX else "<Q", n), crc)
        length_crc = struct.pack("<I", table.mask_crc(crc))
        payload = b"".join(items)
        crc = table.crc32c(payload, table.crc32c(length_crc, crc))
        self._data.write(varints)
        self._data.write(length_crc)
        self._data.write(payload)
        return len(varints) + 4 + len(payload), crc

    def finish(self):
        """Writes the index, fsyncs, then renames data and index into place (index last)."""
        if self._done:
            raise ValueError("BundleWriter(%r).finish called twice or after abort" % self._prefix)
        self._done = True
        try:
            self._data.flush()
            os.fsync(self._data.fileno())
            self._data.close()
            header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
            header.endianness = tensor_bundle_pb2.BundleHeaderProto.LITTLE
            header.version.producer = BUNDLE_VERSION
            header.version.min_consumer = BUNDLE_MIN_CONSUMER
            with open(self._tmp_index, "wb") as f:
                writer = table.TableWriter(f)
                writer.add(_HEADER_KEY, header.SerializeToString())
                for key in sorted(self._entries):
                    writer.add(key, self._entries[key].SerializeToString())
                writer.finish()
                f.flush()
                os.fsync(f.fileno())
            os.replace(self._tmp_data, self._data_path)
            os.replace(self._tmp_index, index_filename(self._prefix))
            fileio.fsync_path(os.path.dirname(self._prefix))  # the renames too
        except BaseException:
            self._remove_temps()
            raise

    def abort(self):
        """Discards everything written so far; nothing at the prefix changes."""
        if not self._done:
            self._done = True
            self._remove_temps()

    def _remove_temps(self):
        self._data.close()
        for path in (self._tmp_data, self._tmp_index):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def __del__(self):
        if not getattr(self, "_done", True):
            self.abort()


def _read_at(f, buf, offset, lock):
    """Fills the uint8 array ``buf`` from file ``f`` at ``offset``, straight into ``buf`` (no bytes
    object in between); returns the bytes read (fewer only at end of file). ``os.preadv`` reads at an
    offset without moving the file position, so threads can share a reader; where it is missing
    (Windows) ``lock`` guards seek + readinto."""
    done = 0
    while done < buf.size:
        chunk = buf[done:done + _CHUNK]
        if hasattr(os, "preadv"):
            n = os.preadv(f.fileno(), [chunk], offset + done)
        else:
            with lock:
                f.seek(offset + done)
                n = f.readinto(chunk)
        if not n:
            break
        done += n
    return done


class BundleReader:
    """Reads a V2 checkpoint (any number of shards) at ``prefix``, verifying every checksum.

    Raises ``errors.NotFoundError`` when ``prefix.index`` does not exist, ``errors.DataLossError`` for
    corruption (naming the file and what failed), ``TensorNotFoundError`` for an unknown key.

    Example:
        >>> r = BundleReader("/tmp/train/model.ckpt-1000")        # doctest: +SKIP
        >>> r.dtype_and_shape("dense/kernel")                       # doctest: +SKIP
        (gpugraph.float32, (784, 10))
        >>> r.read("dense/kernel").sum()                            # doctest: +SKIP
    """

    def __init__(self, prefix):
        self._prefix = check_prefix(prefix)
        self._index_path = index_filename(self._prefix)
        try:
            with open(self._index_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise _NoCheckpointError(None, None, "Unsuccessful checkpoint read: %s not found (is %r the prefix "
                                     "of a V2 checkpoint?)" % (self._index_path, self._prefix)) from None
        items = iter(table.read_table(data, self._index_path))
        key, value = next(items, (None, None))
        if key != _HEADER_KEY:
            raise self._corrupt("no bundle header (first key is %r, expected the empty key)" % key)
        self._header = self._parse(tensor_bundle_pb2.BundleHeaderProto, value, "the bundle header")
        self._check_header()
        self._entries = {}
        for key, value in items:
            self._entries[key] = self._parse(tensor_bundle_pb2.BundleEntryProto, value, "entry %r" % key)
        self._files = {}
        self._lock = threading.Lock()

    # --------------------------------------------------------------------------------- structure

    def _corrupt(self, what, path=None):
        return errors.DataLossError(None, None, "%s: %s" % (path or self._index_path, what))

    def _parse(self, cls, value, what):
        msg = cls()
        try:
            msg.ParseFromString(value)
        except Exception as e:  # DecodeError; checksums passed, so the writer was broken
            raise self._corrupt("cannot parse %s: %s" % (what, e)) from None
        return msg

    def _check_header(self):
        h = self._header
        if h.endianness != tensor_bundle_pb2.BundleHeaderProto.LITTLE:
            raise _Unsupported(None, None, "%s: big-endian bundles are not supported" % self._index_path)
        v = h.version
        if (v.producer < BUNDLE_MIN_PRODUCER or v.min_consumer > BUNDLE_VERSION
                or BUNDLE_VERSION in v.bad_consumers):
            raise self._corrupt("bundle version (producer %d, min_consumer %d, bad_consumers %s) cannot be read "
                                "by this reader (version %d)" % (v.producer, v.min_consumer,
                                                                 list(v.bad_consumers), BUNDLE_VERSION))
        if h.num_shards < 1:
            raise self._corrupt("bad num_shards %d in the bundle header" % h.num_shards)

    @property
    def prefix(self):
        return self._prefix

    @property
    def num_shards(self):
        return self._header.num_shards

    def keys(self):
        """Tensor names in bytewise order. The per-slice keys of partitioned variables (which start
        with a NUL byte) are left out, as TF's ``get_variable_to_shape_map`` does."""
        return [_key_str(k) for k in self._entries if not k.startswith(b"\0")]

    def __contains__(self, key):
        kb = _key_bytes(key)
        return kb != _HEADER_KEY and not kb.startswith(b"\0") and kb in self._entries

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return sum(1 for k in self._entries if not k.startswith(b"\0"))

    def raw_entries(self):
        """``(key bytes, BundleEntryProto)`` for every index entry after the header, slice keys included."""
        return list(self._entries.items())

    def entry(self, key):
        """The raw BundleEntryProto of ``key`` (raises TensorNotFoundError)."""
        kb = _key_bytes(key)
        entry = self._entries.get(kb) if kb != _HEADER_KEY else None
        if entry is None:
            raise TensorNotFoundError(_key_str(kb), self._prefix)
        return entry

    def dtype_and_shape(self, key):
        """``(DType, shape tuple)`` of ``key``, from the index alone (no data file read)."""
        entry = self.entry(key)
        return self._dtype(key, entry), tuple(d.size for d in entry.shape.dim)

    def _dtype(self, key, entry):
        try:
            return dtypes.as_dtype(entry.dtype)
        except (TypeError, ValueError, KeyError):
            raise self._corrupt("tensor %r has unknown dtype enum %d" % (key, entry.dtype)) from None

    # ------------------------------------------------------------------------------------- reads

    def read(self, key, out=None):
        """Returns the tensor ``key`` as a numpy array (strings: object array of bytes).

        ``out``, if given, is a C-contiguous array of the right dtype and shape to read into (e.g. pinned
        host memory for a device upload); it is returned. Every checksum is verified before returning.
        """
        entry = self.entry(key)
        key = _key_str(_key_bytes(key))
        if len(entry.slices):
            raise _Unsupported(None, None, "tensor %r in checkpoint %s is a partitioned variable stored as %d "
                               "slices; reading sliced tensors is not supported" % (key, self._prefix,
                                                                                     len(entry.slices)))
        dtype = self._dtype(key, entry)
        shape = tuple(d.size for d in entry.shape.dim)
        if any(d < 0 for d in shape):
            raise self._corrupt("tensor %r has a negative dimension in shape %s" % (key, list(shape)))
        if dtype == dtypes.string:
            if out is not None:
                raise TypeError("read(out=...) is for numeric tensors; %r is a string tensor" % key)
            return self._read_strings(key, entry, shape)
        try:
            np_dtype = np.dtype(dtype.as_numpy_dtype)
        except TypeError:
            np_dtype = np.dtype(object)
        if np_dtype == object:
            raise _Unsupported(None, None, "tensor %r in checkpoint %s has dtype %s, which cannot be read"
                               % (key, self._prefix, dtype.name))
        nbytes = int(np.prod(shape, dtype=np.int64)) * np_dtype.itemsize
        if entry.size != nbytes:
            raise self._corrupt("tensor %r: entry size %d does not match its shape %s of %s (%d bytes)"
                                % (key, entry.size, list(shape), dtype.name, nbytes))
        if out is None:
            out = np.empty(shape, np_dtype)
        elif out.dtype != np_dtype or out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("read(%r, out=...): need a writable C-contiguous %s array of shape %s, got %s %s"
                             % (key, np_dtype, shape, out.dtype, out.shape))
        buf = out.reshape(-1).view(np.uint8)
        path, f = self._data_file(key, entry)
        got = _read_at(f, buf, entry.offset, self._lock)
        if got != nbytes:
            raise self._truncated(key, entry, path)
        crc = _crc_of(buf)
        if crc != table.unmask_crc(entry.crc32c):
            raise self._checksum_mismatch(key, path, entry, crc)
        return out

    def _read_strings(self, key, entry, shape):
        path, f = self._data_file(key, entry)
        raw = np.empty(entry.size, np.uint8)
        if _read_at(f, raw, entry.offset, self._lock) != entry.size:
            raise self._truncated(key, entry, path)
        n = int(np.prod(shape, dtype=np.int64))
        try:
            lengths, pos = _decode_varints(raw, n)
        except ValueError as e:
            raise self._corrupt("bad string lengths of tensor %r: %s" % (key, e), path) from None
        if pos + 4 > raw.size:
            raise self._corrupt("string tensor %r is shorter than its lengths and their checksum" % key, path)
        if np.all(lengths <= _UINT32_MAX):
            crc = table.crc32c(lengths.astype("<u4").tobytes())
        else:
            crc = 0
            for v in lengths.tolist():
                crc = table.crc32c(struct.pack("<I" if v <= _UINT32_MAX else "<Q", v), crc)
        stored = int(raw[pos:pos + 4].view("<u4")[0])
        if table.unmask_crc(stored) != crc:
            raise self._corrupt("checksum mismatch for the string lengths of tensor %r" % key, path)
        payload = raw[pos + 4:]
        if int(lengths.sum()) != payload.size:
            raise self._corrupt("string tensor %r: lengths add up to %d bytes but the entry holds %d"
                                % (key, int(lengths.sum()), payload.size), path)
        data = payload.tobytes()
        crc = table.crc32c(data, table.crc32c(raw[pos:pos + 4].tobytes(), crc))
        if crc != table.unmask_crc(entry.crc32c):
            raise self._checksum_mismatch(key, path, entry, crc)
        ends = np.cumsum(lengths).tolist()
        out = np.empty(n, dtype=object)
        out[:] = [data[e - l:e] for e, l in zip(ends, lengths.tolist())]
        return out.reshape(shape)

    def _checksum_mismatch(self, key, path, entry, crc):
        return errors.DataLossError(None, None, "checksum mismatch for tensor %r in %s (index says crc32c 0x%08x, "
                                    "data has 0x%08x)" % (key, path, table.unmask_crc(entry.crc32c), crc))

    def _truncated(self, key, entry, path):
        size = os.fstat(self._files[entry.shard_id].fileno()).st_size
        return errors.DataLossError(None, None, "%s is too short: tensor %r needs bytes [%d, %d) but the file has "
                                    "%d bytes" % (path, key, entry.offset, entry.offset + entry.size, size))

    def _data_file(self, key, entry):
        shard = entry.shard_id
        if not 0 <= shard < self._header.num_shards:
            raise self._corrupt("tensor %r is in shard %d but the bundle has %d shards"
                                % (key, shard, self._header.num_shards))
        path = data_filename(self._prefix, shard, self._header.num_shards)
        with self._lock:
            f = self._files.get(shard)
            if f is None:
                try:
                    f = self._files[shard] = open(path, "rb", buffering=0)
                except FileNotFoundError:
                    raise errors.DataLossError(None, None, "data file %s of checkpoint %s is missing (needed for "
                                               "tensor %r)" % (path, self._prefix, key)) from None
        return path, f

    def close(self):
        """Closes the data files (reopened on the next read)."""
        with self._lock:
            files, self._files = self._files, {}
        for f in files.values():
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_files", None):
            self.close()


def _decode_varints(buf, n):
    """Decodes ``n`` varint64s from the start of the uint8 array ``buf`` (vectorised: string tensors can
    have millions of elements). Returns ``(uint64 lengths, bytes consumed)``."""
    if n == 0:
        return np.zeros(0, np.uint64), 0
    head = buf[:10 * n]
    ends = np.flatnonzero(head < 0x80)[:n]
    if ends.size < n:
        raise ValueError("ran out of data after %d of %d lengths" % (ends.size, n))
    starts = np.empty(n, np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    if np.any(ends - starts >= 10):
        raise ValueError("varint too long")
    used = int(ends[-1]) + 1
    group = np.repeat(np.arange(n), ends - starts + 1)
    shift = (np.arange(used) - starts[group]).astype(np.uint64) * np.uint64(7)
    parts = (head[:used] & 0x7F).astype(np.uint64) << shift
    return np.add.reduceat(parts, starts), used
