"""LevelDB-style sorted string tables (SSTables), as TensorFlow writes a checkpoint's ``.index`` file.

This is a byte-for-byte port of ``tensorflow/core/lib/io/{table_builder,block_builder,format,table}.cc``
with the options a tensor bundle uses: no compression, 256 KiB data blocks, a restart point every
16 keys in data blocks and at every key in the index block, no filter block, an empty metaindex block.

File layout::

    [data block][trailer] ... [metaindex block][trailer] [index block][trailer] [footer: 48 bytes]

A block is a run of prefix-compressed entries followed by its restart offsets; its 5-byte trailer is a
type byte (0 = uncompressed) and the masked CRC-32C of the contents plus that type byte. The index block
maps a separator key (>= the last key of a data block, < the first key of the next one) to that
block's handle (varint64 offset, varint64 size). The footer holds the metaindex and index handles,
zero padding to 40 bytes, and the magic number.

Example:
    >>> import io
    >>> buf = io.BytesIO()
    >>> w = TableWriter(buf)
    >>> w.add(b"a", b"1"); w.add(b"b", b"2")
    >>> _ = w.finish()
    >>> list(read_table(buf.getvalue(), name="<memory>"))
    [(b'a', b'1'), (b'b', b'2')]
"""

import struct

import google_crc32c

from gpugraph import errors

BLOCK_SIZE = 256 * 1024          # TF's table::Options::block_size for bundles
RESTART_INTERVAL = 16            # data blocks; the index block restarts at every key
BLOCK_TRAILER_SIZE = 5           # 1 type byte + fixed32 masked crc
FOOTER_SIZE = 48                 # 2 * BlockHandle::kMaxEncodedLength (2 * 20) + 8-byte magic
TABLE_MAGIC = 0xDB4775248B80FB57
_HANDLES_SIZE = FOOTER_SIZE - 8
_NO_COMPRESSION = 0
_SNAPPY_COMPRESSION = 1
_MASK_DELTA = 0xA282EAD8


# --------------------------------------------------------------------------------------- CRC-32C

def crc32c(data, crc=0):
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc`` (0 starts a new one)."""
    return google_crc32c.extend(crc, data)


def mask_crc(crc):
    """TF/LevelDB's masked CRC: storing a CRC of data that itself contains CRCs weakens it; rotating and
    adding a constant avoids that. Mask(c) = rot_right(c, 15) + 0xa282ead8 (mod 2**32)."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked):
    """Inverse of :func:`mask_crc`."""
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------- varints

def encode_varint(value):
    """LEB128 varint as LevelDB's PutVarint32/64 writes it."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf, pos, limit=None, max_bytes=10):
    """Decodes one varint from ``buf[pos:limit]``; returns ``(value, next_pos)``.

    Raises ValueError (the caller adds the file name) when the varint runs past ``limit`` or is longer
    than ``max_bytes`` (5 for varint32, 10 for varint64).
    """
    if limit is None:
        limit = len(buf)
    result = 0
    shift = 0
    for i in range(max_bytes):
        if pos >= limit:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise ValueError("varint too long")


# ------------------------------------------------------------------ key shortening (bytewise order)

def find_shortest_separator(start, limit):
    """BytewiseComparator::FindShortestSeparator: a short key k with start <= k < limit.

    Only shortens when the first differing byte of ``start`` can be incremented and stay below
    ``limit``'s byte; otherwise returns ``start`` unchanged (as TF does).
    """
    min_length = min(len(start), len(limit))
    diff = 0
    while diff < min_length and start[diff] == limit[diff]:
        diff += 1
    if diff >= min_length:
        return start  # one is a prefix of the other: do not shorten
    byte = start[diff]
    if byte < 0xFF and byte + 1 < limit[diff]:
        return start[:diff] + bytes([byte + 1])
    return start


def find_short_successor(key):
    """BytewiseComparator::FindShortSuccessor: a short key >= ``key`` (for the last index entry)."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key  # a run of 0xff: leave it alone


# ----------------------------------------------------------------------------------------- writer

class BlockBuilder:
    """Builds one block: prefix-compressed entries, then fixed32 restart offsets and their count."""

    def __init__(self, restart_interval=RESTART_INTERVAL):
        self._interval = restart_interval
        self.reset()

    def reset(self):
        self._buf = bytearray()
        self._restarts = [0]  # the first entry is always a restart point
        self._counter = 0
        self._last_key = b""
        self._finished = False

    def empty(self):
        return not self._buf

    def current_size_estimate(self):
        """Size of the block if finished now; the writer cuts data blocks on this (as TF does)."""
        return len(self._buf) + 4 * len(self._restarts) + 4

    def add(self, key, value):
        shared = 0
        if self._counter < self._interval:
            last = self._last_key
            n = min(len(last), len(key))
            while shared < n and last[shared] == key[shared]:
                shared += 1
        else:
            self._restarts.append(len(self._buf))
            self._counter = 0
        self._buf += encode_varint(shared)
        self._buf += encode_varint(len(key) - shared)
        self._buf += encode_varint(len(value))
        self._buf += key[shared:]
        self._buf += value
        self._last_key = key
        self._counter += 1

    def finish(self):
        self._buf += struct.pack("<%dI" % len(self._restarts), *self._restarts)
        self._buf += struct.pack("<I", len(self._restarts))
        self._finished = True
        return bytes(self._buf)


def _encode_handle(offset, size):
    return encode_varint(offset) + encode_varint(size)


class TableWriter:
    """Writes a table to a binary file object. Keys (bytes) must be added in strictly ascending order.

    Example:
        >>> import io
        >>> w = TableWriter(io.BytesIO())
        >>> w.add(b"", b"header"); w.add(b"w", b"entry")
        >>> w.finish()  # bytes written
        111
    """

    def __init__(self, fileobj, block_size=BLOCK_SIZE):
        self._f = fileobj
        self._block_size = block_size
        self._offset = 0
        self._data = BlockBuilder(RESTART_INTERVAL)
        self._index = BlockBuilder(1)
        self._last_key = None
        self._pending_handle = None  # handle of the last flushed data block, awaiting its index key
        self._closed = False

    def add(self, key, value):
        if self._closed:
            raise ValueError("TableWriter.add after finish")
        key, value = bytes(key), bytes(value)
        if self._last_key is not None and key <= self._last_key:
            raise ValueError("table keys must be strictly increasing: %r after %r" % (key, self._last_key))
        if self._pending_handle is not None:
            # The separator only needs to be >= the flushed block's last key and < this key.
            sep = find_shortest_separator(self._last_key, key)
            self._index.add(sep, _encode_handle(*self._pending_handle))
            self._pending_handle = None
        self._last_key = key
        self._data.add(key, value)
        if self._data.current_size_estimate() >= self._block_size:
            self._flush()

    def _flush(self):
        if self._data.empty():
            return
        self._pending_handle = self._write_block(self._data)

    def _write_block(self, builder):
        contents = builder.finish()
        builder.reset()
        handle = (self._offset, len(contents))
        type_byte = bytes([_NO_COMPRESSION])
        crc = mask_crc(crc32c(type_byte, crc32c(contents)))
        self._f.write(contents)
        self._f.write(type_byte + struct.pack("<I", crc))
        self._offset += len(contents) + BLOCK_TRAILER_SIZE
        return handle

    def finish(self):
        """Writes the last data block, the metaindex and index blocks and the footer; returns the size."""
        self._flush()
        self._closed = True
        metaindex_handle = self._write_block(BlockBuilder(RESTART_INTERVAL))
        if self._pending_handle is not None:
            self._index.add(find_short_successor(self._last_key), _encode_handle(*self._pending_handle))
            self._pending_handle = None
        index_handle = self._write_block(self._index)
        footer = _encode_handle(*metaindex_handle) + _encode_handle(*index_handle)
        footer = footer.ljust(_HANDLES_SIZE, b"\0")
        footer += struct.pack("<II", TABLE_MAGIC & 0xFFFFFFFF, TABLE_MAGIC >> 32)
        self._f.write(footer)
        self._offset += len(footer)
        return self._offset


# ----------------------------------------------------------------------------------------- reader

def _corrupt(name, what):
    return errors.DataLossError(None, None, "corrupted table %s: %s" % (name, what))


def _read_block(data, handle, name, what):
    """Returns the contents of the block at ``handle`` after checking bounds and its CRC."""
    offset, size = handle
    end = offset + size + BLOCK_TRAILER_SIZE
    if end > len(data) - FOOTER_SIZE:
        raise _corrupt(name, "%s block [%d, %d) runs past the end of the data (file too short or bad handle)"
                       % (what, offset, end))
    contents = data[offset:offset + size]
    type_byte = data[offset + size]
    stored = struct.unpack_from("<I", data, offset + size + 1)[0]
    actual = crc32c(bytes([type_byte]), crc32c(contents))
    if unmask_crc(stored) != actual:
        raise _corrupt(name, "block checksum mismatch at offset %d (%s block)" % (offset, what))
    if type_byte == _SNAPPY_COMPRESSION:
        raise _corrupt(name, "snappy-compressed block at offset %d is not supported" % offset)
    if type_byte != _NO_COMPRESSION:
        raise _corrupt(name, "bad block type %d at offset %d" % (type_byte, offset))
    return contents


def _block_entries(contents, name, offset):
    """Yields ``(key, value)`` from one block's contents (checksum already verified)."""
    size = len(contents)
    if size < 4:
        raise _corrupt(name, "block at offset %d is too short" % offset)
    num_restarts = struct.unpack_from("<I", contents, size - 4)[0]
    if num_restarts == 0 or num_restarts > (size - 4) // 4:
        raise _corrupt(name, "bad restart count %d in block at offset %d" % (num_restarts, offset))
    limit = size - 4 * (num_restarts + 1)
    restarts = set(struct.unpack_from("<%dI" % num_restarts, contents, limit))
    pos = 0
    key = b""
    try:
        while pos < limit:
            entry_pos = pos
            shared, pos = decode_varint(contents, pos, limit, 5)
            unshared, pos = decode_varint(contents, pos, limit, 5)
            vlen, pos = decode_varint(contents, pos, limit, 5)
            if shared > len(key) or pos + unshared + vlen > limit:
                raise ValueError("entry out of bounds")
            if entry_pos in restarts and shared:
                raise ValueError("restart point with a shared prefix")
            key = key[:shared] + contents[pos:pos + unshared]
            pos += unshared
            yield key, contents[pos:pos + vlen]
            pos += vlen
    except ValueError as e:
        raise _corrupt(name, "bad entry in block at offset %d: %s" % (offset, e)) from None


def _decode_handle(buf, pos, limit):
    offset, pos = decode_varint(buf, pos, limit)
    size, pos = decode_varint(buf, pos, limit)
    return (offset, size), pos


def read_table(data, name):
    """Yields every ``(key, value)`` of a table held in ``data`` (bytes), verifying every block.

    ``name`` (the file name) goes into every error. Raises ``errors.DataLossError`` for a file that is
    too short, has a bad magic number or footer, a block checksum mismatch, a malformed block, blocks
    that do not tile the file, or keys out of order.
    """
    if len(data) < FOOTER_SIZE:
        raise _corrupt(name, "file is too short to be a table (%d bytes, the footer alone is %d)"
                       % (len(data), FOOTER_SIZE))
    footer_at = len(data) - FOOTER_SIZE
    lo, hi = struct.unpack_from("<II", data, footer_at + _HANDLES_SIZE)
    if (hi << 32) | lo != TABLE_MAGIC:
        raise _corrupt(name, "bad magic number 0x%016x (not a table, or truncated)" % ((hi << 32) | lo))
    try:
        meta_handle, pos = _decode_handle(data, footer_at, footer_at + _HANDLES_SIZE)
        index_handle, pos = _decode_handle(data, pos, footer_at + _HANDLES_SIZE)
    except ValueError as e:
        raise _corrupt(name, "bad footer: %s" % e) from None
    # TF never writes non-zero padding; checking it means no footer byte can change unnoticed.
    if any(data[pos:footer_at + _HANDLES_SIZE]):
        raise _corrupt(name, "bad footer: non-zero padding")

    # Verified even though unused: every byte of the file is then covered by a checksum.
    meta = _read_block(data, meta_handle, name, "metaindex")
    if list(_block_entries(meta, name, meta_handle[0])):
        raise _corrupt(name, "metaindex block is not empty (not a TensorFlow bundle index)")
    index = _read_block(data, index_handle, name, "index")

    expected_offset = 0
    prev_key = None
    for sep, handle_bytes in _block_entries(index, name, index_handle[0]):
        try:
            handle, end = _decode_handle(handle_bytes, 0, len(handle_bytes))
        except ValueError as e:
            raise _corrupt(name, "bad block handle in index: %s" % e) from None
        if end != len(handle_bytes) or handle[0] != expected_offset:
            raise _corrupt(name, "index entry points at offset %d, expected the next block at %d"
                           % (handle[0], expected_offset))
        contents = _read_block(data, handle, name, "data")
        for key, value in _block_entries(contents, name, handle[0]):
            if (prev_key is not None and key <= prev_key) or key > sep:
                raise _corrupt(name, "keys out of order in block at offset %d" % handle[0])
            prev_key = key
            yield key, value
        expected_offset = handle[0] + handle[1] + BLOCK_TRAILER_SIZE
    if expected_offset != meta_handle[0] or meta_handle[0] + len(meta) + BLOCK_TRAILER_SIZE != index_handle[0] \
            or index_handle[0] + len(index) + BLOCK_TRAILER_SIZE != footer_at:
        raise _corrupt(name, "blocks do not tile the file (bad footer or index handles)")


def read_table_file(path):
    """Reads and verifies a whole table file; returns its ``(key, value)`` pairs as a list.

    Example:
        >>> entries = read_table_file("/tmp/model.ckpt-10.index")  # doctest: +SKIP
        >>> entries[0][0]   # doctest: +SKIP
        b''
    """
    with open(path, "rb") as f:
        data = f.read()
    return list(read_table(data, str(path)))
