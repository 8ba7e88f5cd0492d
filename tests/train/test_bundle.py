"""V2 bundles: round trips, TF-written fixtures, TF reading ours, byte identity with SaveV2, corruption,
truncation, crash atomicity."""

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import ml_dtypes
import numpy as np
import pytest

import gpugraph
from gpugraph import errors
from gpugraph.framework import dtypes
from gpugraph.train import checkpoint_management as cm
from gpugraph.train.bundle import BundleReader, BundleWriter, TensorNotFoundError, data_filename

from .conftest import FIXTURE_PREFIXES, assert_same


def write(prefix, tensors):
    with BundleWriter(prefix) as w:
        for name in sorted(tensors):
            w.add(name, tensors[name])
    return str(prefix)


def read_all(prefix):
    with BundleReader(prefix) as r:
        return {k: r.read(k) for k in r.keys()}


# ------------------------------------------------------------------------------------ round trips

def test_round_trip_every_dtype(tmp_path, sample_tensors):
    prefix = write(tmp_path / "m", sample_tensors)
    assert sorted(os.listdir(tmp_path)) == ["m.data-00000-of-00001", "m.index"]
    with BundleReader(prefix) as r:
        assert r.keys() == sorted(sample_tensors)
        assert len(r) == len(sample_tensors) and "a/float32" in r and "zzz" not in r and "" not in r
        for name, value in sample_tensors.items():
            assert_same(r.read(name), value, name)
            dtype, shape = r.dtype_and_shape(name)
            assert shape == value.shape
            assert dtype == (dtypes.string if value.dtype == object else dtypes.as_dtype(value.dtype))
    assert r.dtype_and_shape("d/bfloat16")[0] == dtypes.bfloat16
    assert r.dtype_and_shape("d/half")[0] == dtypes.float16


def test_inputs_are_normalised(tmp_path):
    f_order = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    big_endian = np.arange(5, dtype=">i4")
    strided = np.arange(20, dtype=np.float64)[::3]
    with BundleWriter(tmp_path / "m") as w:
        w.add("big_endian", big_endian)
        w.add("f_order", f_order)
        w.add("list_of_str", ["a", "\u00e9\u00e9", ""])
        w.add("py_bytes", b"x\x00")          # trailing NUL kept (numpy's "S" type would drop it)
        w.add("strided", strided)
        w.add(b"bytes_key", np.int32(4))
    r = BundleReader(tmp_path / "m")
    assert_same(r.read("big_endian"), np.arange(5, dtype=np.int32))
    assert_same(r.read("f_order"), np.ascontiguousarray(f_order))
    assert r.read("list_of_str").tolist() == [b"a", "\u00e9\u00e9".encode(), b""]
    assert r.read("py_bytes")[()] == b"x\x00"
    assert_same(r.read("strided"), strided.copy())
    assert r.read("bytes_key") == 4 and "bytes_key" in r
    r.close()


def test_data_layout_is_packed_in_add_order(tmp_path):
    with BundleWriter(tmp_path / "m") as w:
        w.add("z", np.array([1, 2], np.int16))
        w.add("a", np.array([b"hi"], dtype=object))
    with open(data_filename(str(tmp_path / "m")), "rb") as f:
        data = f.read()
    # int16 [1, 2] little-endian, then varint len 2, masked crc of the uint32 length, the bytes.
    assert data[:4] == b"\x01\x00\x02\x00"
    assert data[4] == 2 and data[9:] == b"hi" and len(data) == 11
    r = BundleReader(tmp_path / "m")
    assert (r.entry("z").offset, r.entry("z").size, r.entry("a").offset, r.entry("a").size) == (0, 4, 4, 7)


def test_read_into_preallocated_buffer(tmp_path):
    value = np.arange(1000, dtype=np.float32).reshape(10, 100)
    prefix = write(tmp_path / "m", {"w": value, "s": np.array([b"a"], dtype=object)})
    r = BundleReader(prefix)
    out = np.empty((10, 100), np.float32)
    assert r.read("w", out=out) is out
    assert_same(out, value)
    for bad in (np.empty((100, 10), np.float32), np.empty((10, 100), np.float64),
                np.empty((100, 10), np.float32).T):
        with pytest.raises(ValueError, match="C-contiguous float32 array of shape"):
            r.read("w", out=bad)
    with pytest.raises(TypeError, match="string tensor"):
        r.read("s", out=out)


def test_overwrite_same_prefix_and_empty_bundle(tmp_path):
    write(tmp_path / "m", {"x": np.ones(3)})
    write(tmp_path / "m", {"y": np.zeros(2, np.int8)})
    assert list(read_all(tmp_path / "m")) == ["y"]
    write(tmp_path / "e", {})
    assert BundleReader(tmp_path / "e").keys() == []
    assert os.path.getsize(data_filename(str(tmp_path / "e"))) == 0


def test_failed_write_aborts_the_bundle(tmp_path, monkeypatch):
    w = BundleWriter(tmp_path / "m")
    w.add("a", np.ones(4))

    def disk_full(data):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(w._data, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        w.add("b", np.ones(4))
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="after finish/abort"):
        w.add("c", np.ones(4))


def test_writer_errors_and_abort(tmp_path):
    w = BundleWriter(tmp_path / "sub" / "dir" / "m")  # directories are created, as TF does
    with pytest.raises(ValueError, match="reserved"):
        w.add("", np.ones(1))
    w.add("a", np.ones(1))
    with pytest.raises(ValueError, match="duplicate key"):
        w.add("a", np.ones(1))
    with pytest.raises(TypeError, match="str or bytes"):
        w.add("objs", np.array([1, None], dtype=object))
    w.abort()
    assert os.listdir(tmp_path / "sub" / "dir") == []  # no temp files, nothing at the prefix
    with pytest.raises(ValueError, match="after finish"):
        w.add("b", np.ones(1))
    with pytest.raises(RuntimeError):
        with BundleWriter(tmp_path / "m2") as w2:
            w2.add("a", np.ones(1))
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["sub"]
    w3 = BundleWriter(tmp_path / "m3")
    w3.finish()
    with pytest.raises(ValueError, match="twice"):
        w3.finish()


@pytest.mark.parametrize("suffix", [".index", ".meta", ".data-00000-of-00001", ".data-00003-of-00010"])
def test_file_name_instead_of_prefix(tmp_path, suffix):
    prefix = str(tmp_path / "model.ckpt-5")
    for cls in (BundleReader, BundleWriter):
        with pytest.raises(ValueError) as info:
            cls(prefix + suffix)
        assert "pass the prefix %r" % prefix in str(info.value)


def test_missing_checkpoint_and_missing_key(tmp_path):
    with pytest.raises(errors.NotFoundError, match=r"m\.index not found") as info:
        BundleReader(tmp_path / "m")
    assert isinstance(info.value, FileNotFoundError)
    prefix = write(tmp_path / "m", {"dense/kernel": np.ones(2)})
    r = BundleReader(prefix)
    for call in (lambda: r.read("dense/bias"), lambda: r.dtype_and_shape("dense/bias"), lambda: r.read("")):
        with pytest.raises(TensorNotFoundError) as info:
            call()
        assert isinstance(info.value, KeyError) and isinstance(info.value, errors.NotFoundError)
        assert prefix in str(info.value)
    assert "dense/bias" in str(pytest.raises(KeyError, r.read, "dense/bias").value)


def test_missing_data_file_names_file_and_tensor(tmp_path):
    prefix = write(tmp_path / "m", {"w": np.ones(2)})
    os.remove(data_filename(prefix))
    r = BundleReader(prefix)  # the index alone still lists variables, as in TF
    assert r.dtype_and_shape("w") == (dtypes.float64, (2,))
    with pytest.raises(errors.DataLossError, match=r"m\.data-00000-of-00001 of checkpoint .* is missing .*'w'"):
        r.read("w")


def test_large_tensor_chunks(tmp_path):
    # Bigger than the 4 MiB I/O chunk, not a multiple of it.
    value = np.arange((1 << 20) + 12345, dtype=np.float64)
    prefix = write(tmp_path / "m", {"big": value})
    assert_same(BundleReader(prefix).read("big"), value)


def test_reads_without_preadv_and_from_threads(tmp_path, monkeypatch, sample_tensors):
    from concurrent.futures import ThreadPoolExecutor
    big = {"big%d" % i: np.full((1 << 20) + i, i, np.float32) for i in range(4)}
    prefix = write(tmp_path / "m", dict(sample_tensors, **big))
    names = sorted(big) * 4 + sorted(sample_tensors)
    for no_preadv in (False, True):
        if no_preadv:
            monkeypatch.delattr(os, "preadv")  # as on Windows: seek + readinto under the reader's lock
        with BundleReader(prefix) as r, ThreadPoolExecutor(8) as pool:
            for name, got in zip(names, pool.map(r.read, names)):
                assert_same(got, big[name] if name in big else sample_tensors[name], name)


# ------------------------------------------------------------------------------ TF-written fixtures

@pytest.mark.parametrize("fixture", ["dtypes", "many_keys", "sharded"])
def test_reads_tf_fixtures(fixture, expected):
    want = expected[fixture]
    with BundleReader(FIXTURE_PREFIXES[fixture]) as r:
        assert sorted(r.keys()) == sorted(want)
        for name, value in want.items():
            assert_same(r.read(name), value, name)


def test_tf_fixture_dtypes_and_shapes(expected):
    r = BundleReader(FIXTURE_PREFIXES["dtypes"])
    assert r.dtype_and_shape("bf16/special") == (dtypes.bfloat16, (10,))
    assert r.dtype_and_shape("half/special") == (dtypes.float16, (10,))
    assert r.dtype_and_shape("strings/scalar") == (dtypes.string, ())
    assert r.dtype_and_shape("empty/float") == (dtypes.float32, (0, 3))
    assert r.read("big/embedding").nbytes > 256 * 1024


def test_tf_sharded_fixture_uses_both_shards():
    r = BundleReader(FIXTURE_PREFIXES["sharded"])
    assert r.num_shards == 2
    assert {r.entry(k).shard_id for k in r.keys()} == {0, 1}


def test_partitioned_variable_is_listed_but_refused():
    r = BundleReader(FIXTURE_PREFIXES["partitioned"])
    assert r.keys() == ["part", "plain"]  # the per-slice keys are hidden
    assert len(r.raw_entries()) == 4
    assert r.dtype_and_shape("part") == (dtypes.float32, (10, 2))
    with pytest.raises(NotImplementedError, match="'part' .* partitioned variable stored as 2 slices") as info:
        r.read("part")
    assert isinstance(info.value, errors.UnimplementedError)
    assert_same(r.read("plain"), np.array([1, 2, 3], np.int32))


# ------------------------------------------------------------------------------------ corruption

def _flip_and_check(path, prefix, positions, expect_name):
    """Flips a byte at each position of ``path``; reading everything must fail with DataLossError
    naming ``expect_name``: never a wrong value, never another exception type."""
    with open(path, "rb") as f:
        original = f.read()
    try:
        for pos in positions:
            bad = bytearray(original)
            bad[pos] ^= 0x5A
            with open(path, "wb") as f:
                f.write(bad)
            with pytest.raises(errors.DataLossError) as info:
                read_all(prefix)
            assert expect_name in str(info.value), (pos, str(info.value))
    finally:
        with open(path, "wb") as f:
            f.write(original)


def test_every_flipped_byte_is_refused(tmp_path, sample_tensors):
    prefix = write(tmp_path / "m", sample_tensors)
    index, data = prefix + ".index", data_filename(prefix)
    _flip_and_check(index, prefix, range(os.path.getsize(index)), index)
    _flip_and_check(data, prefix, range(os.path.getsize(data)), data)
    assert read_all(prefix).keys() == sample_tensors.keys()


def test_checksum_message_names_tensor_and_file(tmp_path):
    prefix = write(tmp_path / "m", {"dense/kernel": np.ones((4, 4), np.float32)})
    path = data_filename(prefix)
    with open(path, "r+b") as f:
        f.seek(17)
        f.write(b"\x01")
    with pytest.raises(errors.DataLossError,
                       match=r"checksum mismatch for tensor 'dense/kernel' in .*m\.data-00000-of-00001"):
        BundleReader(prefix).read("dense/kernel")


def test_flipped_bytes_in_tf_fixture_are_refused(tmp_path, expected):
    import shutil
    for name in os.listdir(os.path.dirname(FIXTURE_PREFIXES["dtypes"])):
        shutil.copy(os.path.join(os.path.dirname(FIXTURE_PREFIXES["dtypes"]), name), tmp_path)
    prefix = str(tmp_path / "model.ckpt-2")
    index, data = prefix + ".index", data_filename(prefix)
    _flip_and_check(index, prefix, range(0, os.path.getsize(index), 3), index)
    _flip_and_check(data, prefix, range(0, os.path.getsize(data), 1009), data)


@pytest.mark.parametrize("which", ["index", "data"])
def test_truncated_files_are_refused(tmp_path, sample_tensors, which):
    prefix = write(tmp_path / "m", sample_tensors)
    path = prefix + ".index" if which == "index" else data_filename(prefix)
    with open(path, "rb") as f:
        original = f.read()
    for size in sorted({0, 1, 10, 47, 48, 49, len(original) // 2, len(original) - 5, len(original) - 1}):
        with open(path, "wb") as f:
            f.write(original[:size])
        with pytest.raises(errors.DataLossError) as info:
            read_all(prefix)
        msg = str(info.value)
        assert path in msg
        assert ("too short" in msg or "bad magic" in msg), msg


# ------------------------------------------------------------------------------------ atomicity

_CHILD = textwrap.dedent("""
    import sys, time, numpy as np
    from gpugraph.train.bundle import BundleWriter
    w = BundleWriter(sys.argv[1])
    for i in range(400):                    # ~400 MiB if never killed
        w.add("t%03d" % i, np.full(1 << 18, i, np.float32))
        time.sleep(0.01)
    w.finish()
""")


def test_sigkill_while_writing_keeps_previous_checkpoint(tmp_path):
    prefix = str(tmp_path / "model.ckpt")
    old = {"t000": np.full(1 << 18, -1, np.float32), "step": np.array(1, np.int64)}
    write(prefix, old)
    cm.update_checkpoint_state(str(tmp_path), prefix)
    # The child must import the same gpugraph as this process.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(gpugraph.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root] + [p for p in sys.path if p]))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, prefix], env=env, cwd=str(tmp_path))
    try:
        deadline = time.time() + 60
        pattern = data_filename(prefix) + ".tempstate*"
        while not any(os.path.getsize(p) > (1 << 20) for p in glob.glob(pattern)):
            assert child.poll() is None, "writer exited early"
            assert time.time() < deadline, "writer never started"
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert glob.glob(pattern)  # killed mid-write: the temporary file is the only trace
    assert cm.latest_checkpoint(str(tmp_path)) == prefix
    got = read_all(prefix)
    assert got.keys() == old.keys()
    for k in old:
        assert_same(got[k], old[k], k)


# ------------------------------------------------------------------------------ TF compatibility

def _tf_dtype(tf, value):
    return tf.string if value.dtype == object else tf.as_dtype(value.dtype)


@pytest.mark.tf
def test_tensorflow_reads_our_files(tmp_path, tf, run_tf, sample_tensors):
    prefix = write(tmp_path / "ours", sample_tensors)
    reader = tf.train.load_checkpoint(prefix)
    assert sorted(reader.get_variable_to_shape_map()) == sorted(sample_tensors)
    for name, value in sample_tensors.items():
        got = reader.get_tensor(name)
        assert reader.get_variable_to_dtype_map()[name] == _tf_dtype(tf, value)
        assert_same(np.asarray(got, dtype=object) if value.dtype == object else np.asarray(got), value, name)
    names = sorted(sample_tensors)
    restored = run_tf(lambda: tf.raw_ops.RestoreV2(
        prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
        dtypes=[_tf_dtype(tf, sample_tensors[n]) for n in names]))
    for name, got in zip(names, restored):
        want = sample_tensors[name]
        assert_same(np.asarray(got, dtype=object) if want.dtype == object else got, want, name)


def _tf_save(tf, run_tf, prefix, tensors):
    names = sorted(tensors)
    run_tf(lambda: tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[n], dtype=_tf_dtype(tf, tensors[n])) for n in names]))


@pytest.mark.tf
def test_byte_identical_to_tf_savev2(tmp_path, tf, run_tf, sample_tensors):
    """The strongest check: for the same tensors, our .index and .data equal SaveV2's byte for byte."""
    tensors = dict(sample_tensors)
    tensors["h/large"] = np.linspace(-1, 1, 300_000).astype(np.float32)
    for i in range(3500):  # an index of two 256 KiB blocks, restart points every 16 keys
        tensors["layer_%04d/%s" % (i, "kernel/Adam_1" * 4)] = np.array([i, -i], np.int32)
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    write(ours, tensors)
    _tf_save(tf, run_tf, theirs, tensors)
    for suffix in (".index", ".data-00000-of-00001"):
        with open(ours + suffix, "rb") as a, open(theirs + suffix, "rb") as b:
            mine, tfs = a.read(), b.read()
        assert len(mine) == len(tfs), suffix
        assert mine == tfs, suffix
    assert os.path.getsize(ours + ".index") > 256 * 1024


@pytest.mark.tf
def test_reads_fresh_tf_checkpoint(tmp_path, tf, run_tf, sample_tensors):
    prefix = str(tmp_path / "tf")
    _tf_save(tf, run_tf, prefix, sample_tensors)
    got = read_all(prefix)
    for name, value in sample_tensors.items():
        assert_same(got[name], value, name)


@pytest.mark.tf
def test_reads_tf_sharded_saver(tmp_path, tf):
    """A sharded tf.compat.v1 Saver over two CPU devices (one data file per device) merged by
    MergeV2Checkpoints."""
    tf1 = tf.compat.v1
    values = {"a": np.arange(6, dtype=np.float32), "b": np.array([b"x", b"yz"], dtype=object),
              "c": np.eye(3), "d": np.array(7, np.int64)}
    with tf.Graph().as_default():
        for i, (name, value) in enumerate(sorted(values.items())):
            with tf1.device("/cpu:%d" % (i % 2)):
                tf1.Variable(tf.constant(value, dtype=_tf_dtype(tf, value)), name=name, use_resource=False)
        saver = tf1.train.Saver(sharded=True)
        with tf1.Session(config=tf1.ConfigProto(device_count={"CPU": 2})) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "model"), global_step=3)
    assert os.path.exists(prefix + ".data-00001-of-00002")
    assert cm.latest_checkpoint(str(tmp_path)) == prefix
    r = BundleReader(prefix)
    assert r.num_shards == 2
    for name, value in values.items():
        assert_same(r.read(name), value, name)


# --------------------------------------------------------- crafted indexes (valid checksums, bad content)

def _craft(prefix, header=None, entries=(), data=b"", first_key=b""):
    """Writes a bundle whose index holds exactly ``entries`` ((key, BundleEntryProto or bytes) pairs)."""
    import io

    from gpugraph.protos import tensor_bundle_pb2
    from gpugraph.train import table
    if header is None:
        header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
        header.version.producer = 1
    buf = io.BytesIO()
    w = table.TableWriter(buf)
    if first_key is not None:
        w.add(first_key, header.SerializeToString())
    for key, entry in sorted(entries, key=lambda e: e[0]):
        w.add(key, entry if isinstance(entry, bytes) else entry.SerializeToString())
    w.finish()
    with open(prefix + ".index", "wb") as f:
        f.write(buf.getvalue())
    with open(data_filename(prefix), "wb") as f:
        f.write(data)
    return prefix


def _entry(dtype=1, shape=(), offset=0, size=0, crc=None, shard_id=0, payload=b""):
    from gpugraph.protos import tensor_bundle_pb2
    from gpugraph.train import table
    e = tensor_bundle_pb2.BundleEntryProto(dtype=dtype, offset=offset, size=size, shard_id=shard_id)
    for d in shape:
        e.shape.dim.add().size = d
    e.crc32c = table.mask_crc(table.crc32c(payload)) if crc is None else crc
    return e


def test_crafted_header_problems(tmp_path):
    from gpugraph.protos import tensor_bundle_pb2
    p = str(tmp_path / "m")
    big = tensor_bundle_pb2.BundleHeaderProto(num_shards=1, endianness=tensor_bundle_pb2.BundleHeaderProto.BIG)
    with pytest.raises(NotImplementedError, match="big-endian"):
        BundleReader(_craft(p, header=big))
    newer = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
    newer.version.producer, newer.version.min_consumer = 5, 2
    with pytest.raises(errors.DataLossError, match="min_consumer 2.*cannot be read"):
        BundleReader(_craft(p, header=newer))
    banned = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
    banned.version.bad_consumers.append(1)
    with pytest.raises(errors.DataLossError, match="bad_consumers"):
        BundleReader(_craft(p, header=banned))
    with pytest.raises(errors.DataLossError, match="num_shards 0"):
        BundleReader(_craft(p, header=tensor_bundle_pb2.BundleHeaderProto()))
    with pytest.raises(errors.DataLossError, match="no bundle header"):
        BundleReader(_craft(p, first_key=None, entries=[(b"a", _entry())]))
    with pytest.raises(errors.DataLossError, match="cannot parse entry b'a'"):
        BundleReader(_craft(p, entries=[(b"a", b"\xff\xff\xff")]))


def test_crafted_entry_problems(tmp_path):
    p = str(tmp_path / "m")
    payload = np.arange(4, dtype=np.float32).tobytes()
    r = BundleReader(_craft(p, data=payload, entries=[
        (b"bad_dtype", _entry(dtype=999, shape=(4,), size=16, payload=payload)),
        (b"bad_shard", _entry(shape=(4,), size=16, shard_id=1, payload=payload)),
        (b"bad_size", _entry(shape=(3,), size=16, payload=payload)),
        (b"negative", _entry(shape=(-1,), size=16, payload=payload)),
        (b"ok", _entry(shape=(4,), size=16, payload=payload)),
        (b"resource", _entry(dtype=20, shape=(1,), size=1)),
    ]))
    assert_same(r.read("ok"), np.arange(4, dtype=np.float32))
    with pytest.raises(errors.DataLossError, match="'bad_dtype' has unknown dtype enum 999"):
        r.read("bad_dtype")
    with pytest.raises(errors.DataLossError, match="'bad_shard' is in shard 1 but the bundle has 1 shards"):
        r.read("bad_shard")
    with pytest.raises(errors.DataLossError, match="'bad_size': entry size 16 does not match its shape"):
        r.read("bad_size")
    with pytest.raises(errors.DataLossError, match="negative dimension"):
        r.read("negative")
    with pytest.raises(NotImplementedError, match="'resource' .* has dtype resource"):
        r.read("resource")
    assert list(r) == r.keys() and len(r) == 6


def test_crafted_string_problems(tmp_path):
    from gpugraph.train import table
    p = str(tmp_path / "m")
    lengths_crc = table.crc32c(np.array([2, 3], "<u4").tobytes())
    good = b"\x02\x03" + np.array([table.mask_crc(lengths_crc)], "<u4").tobytes() + b"abcde"
    crc = table.mask_crc(table.crc32c(good[2:], lengths_crc))

    def entry(shape, data, size=None):
        return _entry(dtype=7, shape=shape, size=len(data) if size is None else size, crc=crc)
    r = BundleReader(_craft(p, data=good, entries=[
        (b"ok", entry((2,), good)),
        (b"too_few_bytes", entry((2,), good, size=3)),
        (b"too_many_elements", entry((3,), good)),
        (b"lengths_too_long", entry((1,), good)),
    ]))
    assert r.read("ok").tolist() == [b"ab", b"cde"]
    with pytest.raises(errors.DataLossError, match="'too_few_bytes' is shorter than its lengths"):
        r.read("too_few_bytes")
    with pytest.raises(errors.DataLossError, match="string lengths of tensor 'too_many_elements'"):
        r.read("too_many_elements")
    with pytest.raises(errors.DataLossError, match="string lengths of tensor 'lengths_too_long'"):
        r.read("lengths_too_long")


def test_vectorised_varint_decoding():
    from gpugraph.train import bundle, table
    values = [0, 1, 127, 128, 300, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, 2 ** 63 - 1]
    buf = np.frombuffer(b"".join(table.encode_varint(v) for v in values) + b"\x99rest", np.uint8)
    got, used = bundle._decode_varints(buf, len(values))
    assert got.tolist() == values and used == len(buf) - 5
    with pytest.raises(ValueError, match="ran out"):
        bundle._decode_varints(np.frombuffer(b"\x80\x80", np.uint8), 1)
    with pytest.raises(ValueError, match="too long"):
        bundle._decode_varints(np.frombuffer(b"\x80" * 10 + b"\x01\x01", np.uint8), 2)
