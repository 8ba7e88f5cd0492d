"""The SSTable (.index) format: CRC masking, key shortening, block layout, TF byte-compatibility, corruption."""

import io
import os
import random
import struct

import google_crc32c
import pytest

from gpugraph import errors
from gpugraph.train import table

from .conftest import FIXTURE_PREFIXES


def build(entries, block_size=table.BLOCK_SIZE):
    buf = io.BytesIO()
    w = table.TableWriter(buf, block_size=block_size)
    for k, v in entries:
        w.add(k, v)
    size = w.finish()
    data = buf.getvalue()
    assert size == len(data)
    return data


def footer_handles(data):
    at = len(data) - table.FOOTER_SIZE
    meta, pos = table._decode_handle(data, at, at + 40)
    index, _ = table._decode_handle(data, pos, at + 40)
    return meta, index


def index_entries(data):
    _, index = footer_handles(data)
    contents = table._read_block(data, index, "t", "index")
    return [(k, table._decode_handle(v, 0, len(v))[0]) for k, v in table._block_entries(contents, "t", index[0])]


# ---------------------------------------------------------------------------------------- primitives

def test_crc32c_is_castagnoli_from_google_crc32c():
    assert table.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert table.crc32c(b"56789", table.crc32c(b"1234")) == google_crc32c.value(b"123456789")
    assert table.crc32c(b"") == 0


@pytest.mark.parametrize("crc", [0, 1, 0xFFFFFFFF, 0xE3069283, 0x12345678])
def test_mask_matches_formula_and_inverts(crc):
    masked = table.mask_crc(crc)
    assert masked == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert table.unmask_crc(masked) == crc
    assert masked != crc or crc not in (0, 0xE3069283)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2 ** 32 - 1, 2 ** 35, 2 ** 64 - 1])
def test_varint_round_trip(value):
    enc = table.encode_varint(value)
    assert len(enc) == max(1, (value.bit_length() + 6) // 7)
    assert table.decode_varint(enc + b"junk", 0) == (value, len(enc))


def test_varint_errors():
    with pytest.raises(ValueError, match="truncated"):
        table.decode_varint(b"\x80\x80", 0)
    with pytest.raises(ValueError, match="too long"):
        table.decode_varint(b"\x80" * 6 + b"\x01", 0, max_bytes=5)


@pytest.mark.parametrize("start, limit, want", [
    (b"abc", b"abf", b"abd"),            # first differing byte can be incremented
    (b"abcxyz", b"abfz", b"abd"),        # ... and the rest is dropped
    (b"abc1", b"abd", b"abc1"),          # 'c'+1 == 'd' is not < 'd': unchanged
    (b"ab", b"abc", b"ab"),              # a prefix: unchanged
    (b"a\xff", b"b\x00", b"a\xff"),      # 'a'+1 == 'b': unchanged
    (b"\xff\x01", b"\xff\x05", b"\xff\x02"),
    (b"", b"a", b""),
])
def test_find_shortest_separator(start, limit, want):
    got = table.find_shortest_separator(start, limit)
    assert got == want
    assert start <= got < limit


@pytest.mark.parametrize("key, want", [
    (b"abc", b"b"), (b"\xff\xffa", b"\xff\xffb"), (b"\xff\xff", b"\xff\xff"), (b"", b""),
])
def test_find_short_successor(key, want):
    assert table.find_short_successor(key) == want


def test_block_restart_points_and_prefix_compression():
    b = table.BlockBuilder(16)
    keys = [b"key%03d" % i for i in range(40)]
    for k in keys:
        b.add(k, b"v")
    contents = b.finish()
    num_restarts = struct.unpack_from("<I", contents, len(contents) - 4)[0]
    assert num_restarts == 3  # entries 0, 16, 32
    restarts = struct.unpack_from("<3I", contents, len(contents) - 16)
    assert restarts[0] == 0
    # Entry 0 is 3 varints + 6 key bytes + 1 value byte; entry 1 shares "key00": shared=5, unshared=1.
    assert contents[:10] == bytes([0, 6, 1]) + b"key000v"
    assert contents[10:15] == bytes([5, 1, 1]) + b"1v"
    assert list(table._block_entries(contents, "t", 0)) == [(k, b"v") for k in keys]


def test_index_block_restarts_at_every_key():
    data = build([(b"k%04d" % i, b"x" * 100) for i in range(200)], block_size=1024)
    _, index = footer_handles(data)
    contents = data[index[0]:index[0] + index[1]]
    num_restarts = struct.unpack_from("<I", contents, len(contents) - 4)[0]
    assert num_restarts == len(index_entries(data)) > 10


def test_empty_table_layout():
    data = build([])
    meta, index = footer_handles(data)
    # An empty block is one restart offset (0) plus the count (1): 8 bytes, then a 5-byte trailer.
    assert meta == (0, 8) and index == (13, 8)
    assert len(data) == 26 + table.FOOTER_SIZE
    assert data[-8:] == bytes.fromhex("57fb808b247547db")
    assert list(table.read_table(data, "t")) == []


def test_round_trip_many_blocks():
    rng = random.Random(5)
    keys = sorted({bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))) for _ in range(3000)})
    entries = [(k, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))) for k in keys]
    data = build(entries, block_size=4096)
    assert len(index_entries(data)) > 20
    assert list(table.read_table(data, "t")) == entries
    # Every separator lies between its block's last key and the next block's first key.
    seps = [k for k, _ in index_entries(data)]
    assert seps == sorted(seps)


def test_writer_rejects_unsorted_and_duplicate_keys():
    w = table.TableWriter(io.BytesIO())
    w.add(b"b", b"")
    for bad in (b"a", b"b"):
        with pytest.raises(ValueError, match="strictly increasing"):
            w.add(bad, b"")


# ------------------------------------------------------------------------------- TF compatibility

@pytest.mark.parametrize("fixture", ["dtypes", "many_keys", "sharded", "partitioned"])
def test_rewriting_tf_index_is_byte_identical(fixture):
    """Re-encoding the entries of an index TF wrote reproduces TF's file exactly (blocks, separators,
    restart points, trailers, footer)."""
    path = FIXTURE_PREFIXES[fixture] + ".index"
    with open(path, "rb") as f:
        original = f.read()
    assert build(table.read_table_file(path)) == original


def test_tf_many_keys_index_spans_two_blocks():
    with open(FIXTURE_PREFIXES["many_keys"] + ".index", "rb") as f:
        data = f.read()
    blocks = index_entries(data)
    assert len(blocks) == 2
    assert blocks[0][1][1] >= table.BLOCK_SIZE  # cut once the estimate reaches 256 KiB
    assert blocks[1][0] == b"w"                 # FindShortSuccessor of "v3999_..."


# --------------------------------------------------------------------------------------- corruption

def small_table():
    return build([(b"", b"header")] + [(b"key%03d" % i, b"value%d" % i) for i in range(40)], block_size=128)


def test_every_flipped_byte_is_detected():
    data = small_table()
    assert len(index_entries(data)) > 2
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x41
        with pytest.raises(errors.DataLossError, match="corrupted table t.idx: "):
            list(table.read_table(bytes(bad), "t.idx"))


def test_checksum_error_names_file_and_offset(tmp_path):
    data = bytearray(small_table())
    data[3] ^= 1  # inside the first data block, which starts at offset 0
    path = tmp_path / "x.index"
    path.write_bytes(bytes(data))
    with pytest.raises(errors.DataLossError, match=r"x\.index: block checksum mismatch at offset 0 "):
        table.read_table_file(path)


@pytest.mark.parametrize("cut", [0, 1, 47, 48, 100, -1, -8, -48])
def test_truncated_table_is_refused(cut):
    data = small_table()
    bad = data[:cut] if cut >= 0 else data[:len(data) + cut]
    with pytest.raises(errors.DataLossError) as info:
        list(table.read_table(bad, "t.idx"))
    msg = str(info.value)
    assert "t.idx" in msg
    if len(bad) < table.FOOTER_SIZE:
        assert "too short" in msg
    else:
        assert "bad magic" in msg


def test_non_zero_footer_padding_and_bad_block_type():
    data = bytearray(small_table())
    data[len(data) - 9] = 1  # last padding byte before the magic
    with pytest.raises(errors.DataLossError, match="non-zero padding"):
        list(table.read_table(bytes(data), "t"))
    # A block with a valid checksum but an unknown compression type.
    raw = bytearray(build([(b"a", b"b")]))
    meta, index = footer_handles(bytes(raw))
    first = index_entries(bytes(raw))[0][1]
    contents = bytes(raw[first[0]:first[0] + first[1]])
    raw[first[1]] = 7
    crc = table.mask_crc(table.crc32c(b"\x07", table.crc32c(contents)))
    raw[first[1] + 1:first[1] + 5] = struct.pack("<I", crc)
    with pytest.raises(errors.DataLossError, match="bad block type 7"):
        list(table.read_table(bytes(raw), "t"))


def test_missing_file_is_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        table.read_table_file(os.path.join(tmp_path, "nope.index"))
