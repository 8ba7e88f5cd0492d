"""Checkpoint I/O ops (SaveV2, RestoreV2, MergeV2Checkpoints) and the file-name string ops
(StringJoin, ShardedFilename, ShardedFilespec, StaticRegexFullMatch): conformance with TensorFlow,
the fast data path against the reference bundle writer/reader, and the error messages."""

import atexit
import glob
import os
import shutil
import tempfile

import ml_dtypes
import numpy as np
import pytest

import gpugraph as gg
from gpugraph import errors
from gpugraph.ops import io_bundle, io_ops
from gpugraph.train.bundle import BundleReader, BundleWriter

from conformance import Case, check, ph

TMP = tempfile.mkdtemp(prefix="gpugraph_io_ops_")
atexit.register(shutil.rmtree, TMP, True)
FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "tf_checkpoints",
                       "dtypes", "model.ckpt-2")


def _values():
    rs = np.random.RandomState(3)
    return {
        "a/float32": rs.standard_normal((2, 3)).astype(np.float32),
        "a/float64": rs.standard_normal(4),
        "b/int32": np.arange(-3, 3, dtype=np.int32),
        "b/int64": np.array([-(2 ** 63), 2 ** 63 - 1], np.int64),
        "b/uint8": np.array([0, 255], np.uint8),
        "c/bool": np.array([[True, False]]),
        "d/half": np.array([0.5, -0.0, np.inf], np.float16),
        "d/bfloat16": np.array([1.5, -2.0], ml_dtypes.bfloat16),
        "e/complex64": np.array([1 + 2j, -3j], np.complex64),
        "f/scalar": np.array(2.5, np.float32),
        "g/strings": np.array([b"", b"ab", b"\x00\xff"], dtype=object),
    }


def _save_then_restore(directory, values, restore_order):
    prefix = gg.constant(os.path.join(TMP, directory, "model"), name="prefix")
    names = sorted(values)
    save = io_ops.save_v2(prefix, names, [""] * len(names), [gg.constant(values[n]) for n in names])
    with gg.control_dependencies([save]):
        return io_ops.restore_v2(prefix, restore_order, [""] * len(restore_order),
                                 [gg.as_dtype(values[n].dtype if values[n].dtype != object else "string")
                                  for n in restore_order])


def _case_all_dtypes():
    values = _values()
    return _save_then_restore("all_dtypes", values, sorted(values, reverse=True))


def _case_big_tensors():
    # Over 1 MiB in total: the parallel fast path writes and reads these.
    rs = np.random.RandomState(4)
    values = {"big/w": rs.standard_normal((512, 600)).astype(np.float32),
              "big/b": rs.standard_normal(700).astype(np.float64),
              "small/s": np.array([b"x"], dtype=object)}
    return _save_then_restore("big", values, ["small/s", "big/b", "big/w"])


def _case_restore_tensorflow_fixture():
    names = ["bf16/special", "big/embedding", "strings/vocab", "ints/int8", "scalar/float"]
    dtypes = [gg.bfloat16, gg.float32, gg.string, gg.int8, gg.float32]
    return io_ops.restore_v2(FIXTURE, names, [""] * len(names), dtypes)


def _case_sharded_merge():
    # Two single-shard checkpoints named like a sharded Saver's, merged into one two-shard bundle.
    base = gg.constant(os.path.join(TMP, "merge", "model"), name="base")
    tmp_prefix = io_ops.string_join([base, "_temp/part"])
    num_shards = gg.constant(2, name="num_shards")
    parts, saves = [], []
    for shard, (name, value) in enumerate([("x", np.arange(6, dtype=np.int32)),
                                           ("y", np.array([[1.5, 2.5]], np.float64))]):
        part = io_ops.sharded_filename(tmp_prefix, shard, num_shards)
        parts.append(part)
        saves.append(io_ops.save_v2(part, [name], [""], [gg.constant(value)]))
    with gg.control_dependencies(saves):
        merge = io_ops.merge_v2_checkpoints(parts, base)
    with gg.control_dependencies([merge]):
        return io_ops.restore_v2(base, ["y", "x"], ["", ""], [gg.float64, gg.int32])


def _vec(scalar_string):
    # Sessions fetch a scalar string as bytes, which the harness would read as a NumPy "S" array.
    return gg.reshape(scalar_string, [1])


CASES = [
    Case("save_v2_restore_v2_every_dtype", _case_all_dtypes),
    Case("save_v2_restore_v2_large_tensors_fast_path", _case_big_tensors),
    Case("restore_v2_tensorflow_written_checkpoint", _case_restore_tensorflow_fixture),
    Case("merge_v2_checkpoints_two_shards", _case_sharded_merge),
    Case("string_join_broadcast_scalar_and_vector_with_separator",
         lambda: io_ops.string_join([ph("a", gg.string, [3]), "-mid-", ph("b", gg.string, [3])], separator="/"),
         feeds={"a": np.array([b"x", b"", b"\xc3\xa9"], dtype=object),
                "b": np.array([b"1", b"22", b""], dtype=object)}),
    Case("string_join_scalars", lambda: _vec(io_ops.string_join(["ckpt", ph("s", gg.string, [])])),
         feeds={"s": np.array(b"_temp/part", dtype=object)}),
    Case("string_join_matrix", lambda: io_ops.string_join([ph("m", gg.string, [2, 2]), "!"]),
         feeds={"m": np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object)}),
    Case("sharded_filename", lambda: [_vec(io_ops.sharded_filename(ph("base", gg.string, []), 3, 12)),
                                      _vec(io_ops.sharded_filename("m", ph("shard", gg.int32, []), 100000))],
         feeds={"base": np.array(b"/ckpt/model_temp/part", dtype=object), "shard": np.int32(7)}),
    Case("sharded_filespec", lambda: _vec(io_ops.sharded_filespec(ph("base", gg.string, []), 4)),
         feeds={"base": np.array(b"/ckpt/model", dtype=object)}),
    Case("static_regex_full_match", lambda: io_ops.static_regex_full_match(ph("s", gg.string, [2, 2]), "^s3://.*"),
         feeds={"s": np.array([[b"s3://bucket/x", b"/local/s3://"], [b"s3:/", b"s3://"]], dtype=object)}),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def _run(build, feeds=None):
    with gg.Graph().as_default() as g:
        out = build()
        with gg.Session(graph=g) as sess:
            return sess.run(out, feeds)


# -- fast data path == reference bundle writer/reader -------------------------------------------
def _big_values():
    rs = np.random.RandomState(5)
    return {"w": rs.standard_normal((300, 1000)).astype(np.float32),
            "b": rs.standard_normal(5000).astype(np.float16),
            "t": (rs.standard_normal(40000) > 0),
            "c": (rs.standard_normal((100, 300)) + 1j).astype(np.complex128),
            "z": np.zeros((0, 7), np.int64),
            "s": np.array(3, np.int8)}


def _files(prefix):
    return {os.path.basename(p): open(p, "rb").read() for p in glob.glob(prefix + ".*")}


@pytest.mark.parametrize("sync", [False, True])
def test_fast_writer_is_byte_identical_to_bundle_writer(tmp_path, sync):
    values = _big_values()
    names = ["w", "b", "t", "c", "z", "s"]  # not sorted: data in add order, index in key order
    assert io_bundle.use_fast_path([values[n] for n in names])
    with BundleWriter(str(tmp_path / "ref")) as w:
        for n in names:
            w.add(n, values[n])
    old = io_bundle.sync_enabled()
    io_bundle.set_sync(sync)
    try:
        io_bundle.write_bundle(str(tmp_path / "fast"), names, [values[n] for n in names])
    finally:
        io_bundle.set_sync(old)
    io_bundle.wait_for_pending_flushes()
    ref, fast = _files(str(tmp_path / "ref")), _files(str(tmp_path / "fast"))
    assert {k.replace("ref", "fast") for k in ref} == set(fast)
    for name, data in ref.items():
        assert fast[name.replace("ref", "fast")] == data, name
    assert not glob.glob(str(tmp_path / "*tempstate*"))


@pytest.mark.parametrize("sync", [True, False])
def test_saves_start_writeback_of_every_written_range(tmp_path, monkeypatch, sync):
    """Each chunk written is handed to the kernel's writeback right away (so the final fsync has
    little left, and no save piles up dirty pages that the kernel then throttles); together the
    ranges cover the whole data file."""
    calls = []
    monkeypatch.setattr(io_bundle, "_sync_file_range",
                        lambda fd, offset, nbytes, flags: calls.append((offset, nbytes, flags)) or 0)
    values = _big_values()
    old = io_bundle.sync_enabled()
    io_bundle.set_sync(sync)
    try:
        io_bundle.write_bundle(str(tmp_path / "fast"), sorted(values), [values[n] for n in sorted(values)])
    finally:
        io_bundle.set_sync(old)
    io_bundle.wait_for_pending_flushes()
    size = os.path.getsize(str(tmp_path / "fast.data-00000-of-00001"))
    covered = np.zeros(size, bool)
    for offset, nbytes, flags in calls:
        assert flags == io_bundle._SYNC_FILE_RANGE_WRITE
        covered[offset:offset + nbytes] = True
    assert covered.all()


def test_fast_reader_matches_and_verifies_checksums(tmp_path):
    values = _big_values()
    prefix = str(tmp_path / "m")
    io_bundle.write_bundle(prefix, sorted(values), [values[n] for n in sorted(values)])
    with BundleReader(prefix) as reader:
        got = io_bundle.read_tensors(reader, sorted(values))
    for name, arr in zip(sorted(values), got):
        assert arr.dtype == values[name].dtype and arr.tobytes() == values[name].tobytes(), name
    # Flip one byte inside tensor "w": the fast path must notice, naming tensor and file.
    with BundleReader(prefix) as reader:
        entry = reader.entry("w")
    path = prefix + ".data-00000-of-00001"
    with open(path, "r+b") as f:
        f.seek(entry.offset + 12345)
        byte = f.read(1)
        f.seek(entry.offset + 12345)
        f.write(bytes([byte[0] ^ 1]))
    with BundleReader(prefix) as reader, pytest.raises(errors.DataLossError, match=r"checksum mismatch for tensor 'w'"):
        io_bundle.read_tensors(reader, ["w", "b"])


def test_fast_reader_reports_truncated_data(tmp_path):
    values = _big_values()
    prefix = str(tmp_path / "m")
    io_bundle.write_bundle(prefix, ["w"], [values["w"]])
    path = prefix + ".data-00000-of-00001"
    os.truncate(path, os.path.getsize(path) - 10)
    with BundleReader(prefix) as reader, pytest.raises(errors.DataLossError, match="too short"):
        io_bundle.read_tensors(reader, ["w"])


def test_native_crc_matches_google_crc32c():
    from gpugraph.train import table
    data = np.random.RandomState(0).bytes(3 << 20)
    arr = np.frombuffer(data, np.uint8)
    assert io_bundle.crc_of_array(arr) == table.crc32c(data)


# -- errors -------------------------------------------------------------------------------------
def test_restore_missing_key_names_tensor_and_checkpoint(tmp_path):
    prefix = str(tmp_path / "m")
    _run(lambda: io_ops.save_v2(prefix, ["present"], [""], [gg.constant(1.0)]))
    with pytest.raises(errors.NotFoundError) as e:
        _run(lambda: io_ops.restore_v2(prefix, ["present", "absent/kernel"], ["", ""], [gg.float32, gg.float32]))
    assert "absent/kernel" in str(e.value) and prefix in str(e.value)


def test_restore_dtype_mismatch_names_tensor_and_both_dtypes(tmp_path):
    prefix = str(tmp_path / "m")
    _run(lambda: io_ops.save_v2(prefix, ["w"], [""], [gg.constant([1.0, 2.0])]))
    with pytest.raises(errors.InvalidArgumentError) as e:
        _run(lambda: io_ops.restore_v2(prefix, ["w"], [""], [gg.int64]))
    msg = str(e.value)
    assert "'w'" in msg and "float32" in msg and "int64" in msg and prefix in msg


def test_restore_missing_checkpoint_is_not_found(tmp_path):
    with pytest.raises(errors.NotFoundError, match="not found"):
        _run(lambda: io_ops.restore_v2(str(tmp_path / "nothing"), ["w"], [""], [gg.float32]))


def test_restore_of_a_file_name_asks_for_the_prefix(tmp_path):
    prefix = str(tmp_path / "m")
    _run(lambda: io_ops.save_v2(prefix, ["w"], [""], [gg.constant(1.0)]))
    with pytest.raises(errors.InvalidArgumentError, match="pass the prefix"):
        _run(lambda: io_ops.restore_v2(prefix + ".index", ["w"], [""], [gg.float32]))


@pytest.mark.parametrize("op", ["save", "restore"])
def test_slices_are_unimplemented_and_name_the_tensor(tmp_path, op):
    prefix = str(tmp_path / "m")
    _run(lambda: io_ops.save_v2(prefix, ["part"], [""], [gg.constant([1.0, 2.0])]))
    if op == "save":
        build = lambda: io_ops.save_v2(prefix, ["part"], ["4 0,2"], [gg.constant([1.0, 2.0])])  # noqa: E731
    else:
        build = lambda: io_ops.restore_v2(prefix, ["part"], ["4 0,2"], [gg.float32])  # noqa: E731
    with pytest.raises(errors.UnimplementedError, match=r"'part'.*slice"):
        _run(build)


def test_save_duplicate_key_is_an_error_and_leaves_nothing(tmp_path):
    prefix = str(tmp_path / "m")
    with pytest.raises(errors.InvalidArgumentError, match="duplicate key 'w'"):
        _run(lambda: io_ops.save_v2(prefix, ["w", "w"], ["", ""], [gg.constant(1.0), gg.constant(2.0)]))
    assert not os.listdir(tmp_path)


def test_build_time_shape_errors():
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match="tensor_names must be a vector of 1"):
            io_ops.restore_v2("p", ["a", "b"], [""], [gg.float32])
        with pytest.raises(ValueError, match="prefix must be a scalar"):
            io_ops.restore_v2(["p", "q"], ["a"], [""], [gg.float32])
        with pytest.raises(ValueError, match="same shape"):
            io_ops.string_join([gg.constant(["a", "b"]), gg.constant(["a", "b", "c"])])


def test_save_with_mismatched_names_fails_at_build_time(tmp_path):
    # SaveV2's shape function checks the names against the tensors when the graph is built.
    with pytest.raises(ValueError, match="tensor_names must be a vector of 2"):
        _run(lambda: io_ops.save_v2(str(tmp_path / "m"), ["a"], ["", ""], [gg.constant(1.0), gg.constant(2.0)]))


def test_string_join_runtime_shape_mismatch():
    with pytest.raises(errors.InvalidArgumentError, match="Input shapes do not match"):
        _run(lambda: io_ops.string_join([ph("a", gg.string, None), ph("b", gg.string, None)]),
             feeds={"a:0": np.array([b"x", b"y"], dtype=object), "b:0": np.array([b"x"], dtype=object)})


def test_merge_missing_source_fails_unless_allowed(tmp_path):
    prefix = str(tmp_path / "a")
    _run(lambda: io_ops.save_v2(prefix, ["w"], [""], [gg.constant(1.0)]))
    missing = str(tmp_path / "missing")
    with pytest.raises(errors.NotFoundError, match="missing"):
        _run(lambda: io_ops.merge_v2_checkpoints([prefix, missing], str(tmp_path / "out")))
    _run(lambda: io_ops.merge_v2_checkpoints([prefix, missing], str(tmp_path / "out"), allow_missing_files=True))
    with BundleReader(str(tmp_path / "out")) as r:
        assert r.keys() == ["w"] and r.num_shards == 1


def test_op_names_follow_tensorflow_wrappers():
    with gg.Graph().as_default() as g:
        io_ops.save_v2("p", ["a"], [""], [gg.constant(1.0, name="v")])
        io_ops.restore_v2("p", ["a"], [""], [gg.float32])
        io_ops.merge_v2_checkpoints([gg.constant("x"), gg.constant("y")], "p")
        names = {op.name for op in g.get_operations()}
    assert {"SaveV2", "SaveV2/prefix", "SaveV2/tensor_names", "SaveV2/shape_and_slices", "RestoreV2",
            "RestoreV2/tensor_names", "MergeV2Checkpoints/checkpoint_prefixes", "MergeV2Checkpoints"} <= names


@pytest.mark.parametrize("big", [False, True], ids=["small_reads", "pooled_reads"])
def test_progress_callback_reports_every_restored_byte(tmp_path, big):
    from gpugraph.train import bundle
    shape = (1024, 1024) if big else (4, 4)  # 4 MiB takes the thread-pool path, 64 B the simple one
    with gg.Graph().as_default():
        a = gg.Variable(np.ones(shape, np.float32), name="a")
        b = gg.Variable(np.array([b"x", b"yz"], dtype=object), name="b")
        saver = gg.train.Saver([a, b])
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "m"))
            reported = []
            with io_bundle.progress_callback(reported.append):
                saver.restore(sess, prefix)
    with bundle.BundleReader(prefix) as reader:
        expected = sum(e.size for _, e in reader.raw_entries())
    assert sum(reported) == expected and len(reported) == 2
