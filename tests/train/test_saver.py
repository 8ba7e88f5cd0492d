"""tf.compat.v1.train.Saver in gpugraph: the save/restore graph, bitwise round trips of every dtype,
sharding, retention (also across processes), crash safety and the error messages. Interop with
TensorFlow is in tests/interop/test_tf_meta_graphs.py."""

import glob
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import gpugraph as gg
import gpugraph.train
from gpugraph import errors
from gpugraph.ops import io_bundle
from gpugraph.train import checkpoint_management as cm
from gpugraph.train import saver as saver_lib

from .conftest import FIXTURE_PREFIXES, assert_same

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _settle():
    io_bundle.wait_for_pending_flushes()  # background fsyncs and retention deletions


def _files(directory, pattern="*"):
    _settle()
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(str(directory), pattern)))


def _simple_graph(resource=False):
    g = gg.Graph()
    with g.as_default():
        w = gg.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w", use_resource=resource)
        b = gg.Variable(np.array([1, 2], np.int64), name="b")
    return g, w, b


# -- the graph ------------------------------------------------------------------------------------
def test_save_graph_has_tensorflow_names():
    g, w, b = _simple_graph()
    with g.as_default():
        saver = gg.train.Saver()
        second = gg.train.Saver([w], name="mine")
    d = saver.as_saver_def()
    assert (d.filename_tensor_name, d.save_tensor_name, d.restore_op_name) == (
        "save/Const:0", "save/control_dependency:0", "save/restore_all")
    assert (d.max_to_keep, d.keep_checkpoint_every_n_hours, d.version, d.sharded) == (5, 10000.0, 2, False)
    names = [op.name for op in g.get_operations() if op.name.startswith("save/")]
    assert names == ["save/filename/input", "save/filename", "save/Const", "save/SaveV2/tensor_names",
                     "save/SaveV2/shape_and_slices", "save/SaveV2", "save/control_dependency",
                     "save/RestoreV2/tensor_names", "save/RestoreV2/shape_and_slices", "save/RestoreV2",
                     "save/Assign", "save/Assign_1", "save/restore_all"]
    assert g.get_operation_by_name("save/RestoreV2").device == "/device:CPU:0"
    assert g.get_operation_by_name("save/control_dependency").get_attr("_class") == [b"loc:@save/Const"]
    assert second.as_saver_def().restore_op_name == "mine/restore_all"
    keys = g.get_operation_by_name("save/SaveV2/tensor_names").get_attr("value")
    assert keys.tolist() == [b"b", b"w"]  # sorted checkpoint keys: the variables' op names


def test_resource_variables_restore_through_assign_variable_op():
    g, w, b = _simple_graph(resource=True)
    with g.as_default():
        gg.train.Saver()
    types = {op.name: op.type for op in g.get_operations()}
    assert types["save/AssignVariableOp"] == "AssignVariableOp" and types["save/Identity"] == "Identity"
    assert types["save/Assign"] == "Assign"  # b is still a ref variable


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("resource", [False, True])
def test_every_dtype_round_trips_bitwise(tmp_path, sample_tensors, resource):
    g = gg.Graph()
    with g.as_default():
        variables = {name: gg.Variable(gg.constant(value, dtype=gg.string if value.dtype == object else None),
                                       name=name, use_resource=resource)
                     for name, value in sample_tensors.items()}
        saver = gg.train.Saver()
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "model"), global_step=3)
            for v in variables.values():  # overwrite everything, then restore
                sess.run(v.initializer)
            zeros = [v.assign(gg.zeros_like(v.value())) for v in variables.values()
                     if v.dtype.base_dtype != gg.string]
            sess.run(zeros)
            saver.restore(sess, prefix)
            got = sess.run({n: v.value() for n, v in variables.items()})
    assert prefix == str(tmp_path / "model-3")
    for name, value in sample_tensors.items():
        assert_same(np.asarray(got[name], dtype=object) if value.dtype == object else np.asarray(got[name]),
                    value, name)


def test_big_variables_round_trip_through_the_fast_path(tmp_path):
    rs = np.random.RandomState(0)
    values = {"big/a": rs.standard_normal((512, 1024)).astype(np.float32),
              "big/b": rs.standard_normal((300, 300)).astype(np.float64),
              "small": np.array(7, np.int32)}
    g = gg.Graph()
    with g.as_default():
        vs = [gg.Variable(v, name=n) for n, v in values.items()]
        saver = gg.train.Saver()
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "m"))
            sess.run([v.assign(gg.zeros_like(v.value())) for v in vs])
            saver.restore(sess, prefix)
            for v, (n, want) in zip(vs, values.items()):
                assert sess.run(v.value()).tobytes() == want.tobytes(), n
    with gg.train.NewCheckpointReader(prefix) as reader:
        assert reader.get_tensor("big/a").tobytes() == values["big/a"].tobytes()


def test_var_list_dict_renames_checkpoint_keys(tmp_path):
    g, w, b = _simple_graph()
    with g.as_default():
        saver = gg.train.Saver({"model/kernel": w})
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "m"), write_meta_graph=False)
    assert gg.train.list_variables(prefix) == [("model/kernel", [2, 3])]
    assert not os.path.exists(prefix + ".meta")


def test_restore_tensorflow_written_checkpoint(expected):
    values = expected["dtypes"]
    names = ["dense/kernel", "bf16/special", "strings/vocab", "global_step", "complex/c128"]
    g = gg.Graph()
    with g.as_default():
        variables = {n: gg.Variable(gg.zeros_like(gg.constant(values[n])) if values[n].dtype != object
                                    else gg.constant([b""] * len(values[n])), name=n) for n in names}
        saver = gg.train.Saver(list(variables.values()))
        with gg.Session() as sess:
            saver.restore(sess, FIXTURE_PREFIXES["dtypes"])
            for n, v in variables.items():
                got = sess.run(v.value())
                assert_same(np.asarray(got, dtype=object) if values[n].dtype == object else np.asarray(got),
                            values[n], n)


def test_sharded_saver_writes_one_data_file_per_device(tmp_path):
    g = gg.Graph()
    with g.as_default():
        with gg.device("/cpu:0"):
            a = gg.Variable([1.0, 2.0], name="a")
        with gg.device("/job:worker/task:1/device:GPU:1"):
            b = gg.Variable([3, 4], name="b", use_resource=True)
        saver = gg.train.Saver(sharded=True)
        ops_ = {op.type for op in g.get_operations()}
        assert {"StaticRegexFullMatch", "Select", "StringJoin", "ShardedFilename", "Pack",
                "MergeV2Checkpoints"} <= ops_
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "model"), global_step=1)
            sess.run([a.assign([0.0, 0.0]), b.assign([0, 0])])
            saver.restore(sess, prefix)
            assert sess.run(a.value()).tolist() == [1.0, 2.0] and sess.run(b.value()).tolist() == [3, 4]
    assert saver.as_saver_def().save_tensor_name == "save/Identity:0"
    assert _files(tmp_path, "model-1*") == ["model-1.data-00000-of-00002", "model-1.data-00001-of-00002",
                                            "model-1.index", "model-1.meta"]
    assert not glob.glob(str(tmp_path / "model-1_temp*"))


# -- checkpoint state and retention ---------------------------------------------------------------
def _saver_and_session(tmp_path, **kwargs):
    g, w, b = _simple_graph()
    with g.as_default():
        saver = gg.train.Saver(**kwargs)
    sess = gg.Session(graph=g)
    sess.run([w.initializer, b.initializer])
    return saver, sess


def test_max_to_keep_deletes_the_oldest(tmp_path):
    saver, sess = _saver_and_session(tmp_path, max_to_keep=2)
    for step in range(1, 5):
        saver.save(sess, str(tmp_path / "model"), global_step=step)
    assert saver.last_checkpoints == [str(tmp_path / "model-3"), str(tmp_path / "model-4")]
    assert _files(tmp_path, "model-*.index") == ["model-3.index", "model-4.index"]
    assert _files(tmp_path, "model-*.meta") == ["model-3.meta", "model-4.meta"]
    state = cm.get_checkpoint_state(str(tmp_path))
    assert list(state.all_model_checkpoint_paths) == saver.last_checkpoints
    assert cm.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model-4")
    assert len(state.all_model_checkpoint_timestamps) == 2


def test_max_to_keep_zero_keeps_every_file_and_records_the_latest(tmp_path):
    saver, sess = _saver_and_session(tmp_path, max_to_keep=0)
    for step in range(3):
        saver.save(sess, str(tmp_path / "model"), global_step=step)
    assert _files(tmp_path, "model-*.index") == ["model-0.index", "model-1.index", "model-2.index"]
    assert list(cm.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths) == [str(tmp_path / "model-2")]


def test_keep_checkpoint_every_n_hours(tmp_path, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(saver_lib.time, "time", lambda: clock[0])
    saver, sess = _saver_and_session(tmp_path, max_to_keep=1, keep_checkpoint_every_n_hours=1.0)
    for step in range(6):  # one save every 25 minutes
        clock[0] += 25 * 60
        saver.save(sess, str(tmp_path / "model"), global_step=step)
    # Kept by age: the first checkpoint more than an hour after the Saver was built (step 2, at 75 min),
    # then the first one an hour after that (step 4, at 125 min); plus the newest.
    assert _files(tmp_path, "model-*.index") == ["model-2.index", "model-4.index", "model-5.index"]


def test_set_and_recover_last_checkpoints(tmp_path):
    saver, sess = _saver_and_session(tmp_path, max_to_keep=2)
    paths = [saver.save(sess, str(tmp_path / "model"), global_step=s, write_state=False) for s in range(3)]
    assert saver.last_checkpoints == []
    other, _ = _saver_and_session(tmp_path, max_to_keep=2)
    other.recover_last_checkpoints(paths + [str(tmp_path / "never-saved")])
    assert other.last_checkpoints == paths
    other.set_last_checkpoints(paths[:1])
    assert other.last_checkpoints == paths[:1]
    other.set_last_checkpoints_with_time([(paths[2], 5.0)])
    assert other.last_checkpoints == paths[2:]


_CHILD_SAVE = textwrap.dedent("""
    import sys
    import numpy as np
    import gpugraph as gg, gpugraph.train
    directory, first, last, max_to_keep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    w = gg.Variable(np.zeros(4, np.float32), name="w")
    saver = gg.train.Saver(max_to_keep=max_to_keep)
    with gg.Session() as sess:
        sess.run(w.initializer)
        for step in range(first, last):
            sess.run(w.assign(np.full(4, step, np.float32)))
            saver.save(sess, directory + "/model", global_step=step)
""")


def _child(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", _CHILD_SAVE, *map(str, args)], env=env, check=True,
                          capture_output=True, timeout=120, **kwargs)


def test_retention_continues_in_a_new_process(tmp_path):
    _child([tmp_path, 0, 3, 2])
    assert _files(tmp_path, "model-*.index") == ["model-1.index", "model-2.index"]
    _child([tmp_path, 3, 5, 2])  # a new Saver picks up the state file: model-1 and model-2 go
    assert _files(tmp_path, "model-*.index") == ["model-3.index", "model-4.index"]
    state = cm.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["model-3", "model-4"]


_CHILD_LOOP = textwrap.dedent("""
    import sys
    import numpy as np
    import gpugraph as gg, gpugraph.train
    directory = sys.argv[1]
    ws = [gg.Variable(np.zeros((1024, 1024), np.float32), name="w%d" % i) for i in range(8)]
    step_v = gg.Variable(0, name="step")
    saver = gg.train.Saver(max_to_keep=3)
    with gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        step = 0
        while True:
            step += 1
            sess.run([w.assign(np.full((1024, 1024), step, np.float32)) for w in ws] + [step_v.assign(step)])
            saver.save(sess, directory + "/model", global_step=step)
            print(step, flush=True)
""")


def test_sigkill_during_save_leaves_the_previous_checkpoints_valid(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", _CHILD_LOOP, str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        # Wait until a few checkpoints exist, then for a save in progress (a big temporary data file).
        while len(glob.glob(str(tmp_path / "model-*.index"))) < 2:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.time() < deadline, "the child never saved"
            time.sleep(0.01)
        while not any(os.path.getsize(p) > (1 << 20) for p in glob.glob(str(tmp_path / "*.tempstate*"))
                      if os.path.exists(p)):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.time() < deadline, "never caught a save in progress"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    latest = cm.latest_checkpoint(str(tmp_path))
    state = cm.get_checkpoint_state(str(tmp_path))
    assert latest is not None and latest == state.all_model_checkpoint_paths[-1]
    for prefix in state.all_model_checkpoint_paths:
        step = int(prefix.rsplit("-", 1)[1])
        g = gg.Graph()
        with g.as_default():
            saver = gg.train.import_meta_graph(prefix + ".meta")
            with gg.Session() as sess:
                saver.restore(sess, prefix)
                assert sess.run("step:0") == step
                for i in range(8):
                    assert (sess.run(f"w{i}:0") == step).all()


# -- options --------------------------------------------------------------------------------------
def test_global_step_from_a_variable_and_padding(tmp_path):
    g, w, b = _simple_graph()
    with g.as_default():
        step = gg.Variable(42, name="global_step")
        saver = gg.train.Saver([w], pad_step_number=True, save_relative_paths=True)
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "m"), global_step=step, latest_filename="state")
    assert prefix == str(tmp_path / "m-00000042")
    assert 'model_checkpoint_path: "m-00000042"' in (tmp_path / "state").read_text()
    assert cm.latest_checkpoint(str(tmp_path), "state") == prefix


def test_sync_mode_fsyncs_before_returning(tmp_path):
    saver, sess = _saver_and_session(tmp_path, max_to_keep=1)
    assert io_bundle.sync_enabled(), "durable saves are the default"
    old = io_bundle.sync_enabled()
    io_bundle.set_sync(True)
    try:
        saver.save(sess, str(tmp_path / "model"), global_step=1)
        saver.save(sess, str(tmp_path / "model"), global_step=2)
        # The new checkpoint is complete when save returns; the dropped one goes in the background.
        assert cm.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model-2")
        assert os.path.exists(str(tmp_path / "model-2.index"))
        io_bundle.wait_for_pending_flushes()
        assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "model-*.index"))) == ["model-2.index"]
    finally:
        io_bundle.set_sync(old)


def test_a_prefix_saved_again_while_its_deletion_is_queued_survives(tmp_path, monkeypatch):
    """Retention drops model-1 and queues its deletion; saving model-1 again right away must wait for
    that deletion, not be deleted by it afterwards."""
    saver, sess = _saver_and_session(tmp_path, max_to_keep=1)
    gate = threading.Event()
    real_remove = cm.remove_checkpoint

    def slow_remove(*args, **kwargs):
        gate.wait(5)  # held until the second save of model-1 has started
        return real_remove(*args, **kwargs)
    monkeypatch.setattr(cm, "remove_checkpoint", slow_remove)
    saver.save(sess, str(tmp_path / "model"), global_step=1)
    saver.save(sess, str(tmp_path / "model"), global_step=2)   # queues the deletion of model-1
    releaser = threading.Timer(0.2, gate.set)
    releaser.start()
    saver.save(sess, str(tmp_path / "model"), global_step=1)   # waits for it, then writes model-1
    releaser.join()
    io_bundle.wait_for_pending_flushes()
    assert os.path.exists(str(tmp_path / "model-1.index"))
    assert os.path.exists(str(tmp_path / "model-1.data-00000-of-00001"))
    assert cm.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model-1")


def test_defer_build_and_empty_savers(tmp_path):
    g, w, b = _simple_graph()
    with g.as_default():
        deferred = gg.train.Saver(defer_build=True)
        with pytest.raises(RuntimeError, match="build"):
            deferred.save(gg.Session(graph=g), str(tmp_path / "m"))
        deferred.build()
        assert deferred.as_saver_def().restore_op_name == "save/restore_all"
        with pytest.raises(ValueError, match="cannot be deferred"):
            gg.train.Saver([w], defer_build=True)
    with gg.Graph().as_default() as empty:
        with pytest.raises(ValueError, match="No variables to save"):
            gg.train.Saver()
        saver = gg.train.Saver(allow_empty=True)
        assert saver.save(gg.Session(graph=empty), str(tmp_path / "e"), write_meta_graph=False) is None
        saver.restore(gg.Session(graph=empty), str(tmp_path / "nothing"))  # an empty Saver restores nothing


def test_to_proto_and_from_proto_with_scopes():
    g = gg.Graph()
    with g.as_default(), gg.name_scope("tower"):
        gg.Variable(1.0, name="v")
        saver = gg.train.Saver()
    assert saver.as_saver_def().restore_op_name == "tower/save/restore_all"
    assert saver.to_proto(export_scope="tower").restore_op_name == "save/restore_all"
    assert saver.to_proto(export_scope="other") is None
    rebuilt = gg.train.Saver.from_proto(saver.to_proto(export_scope="tower"), import_scope="tower")
    assert rebuilt.as_saver_def() == saver.as_saver_def()


# -- errors ---------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    saver, sess = _saver_and_session(tmp_path)
    prefix = saver.save(sess, str(tmp_path / "model"), global_step=1)
    return saver, sess, prefix


def test_restore_path_errors(saved, tmp_path):
    saver, sess, prefix = saved
    with pytest.raises(ValueError, match="None"):
        saver.restore(sess, None)
    with pytest.raises(ValueError, match="not a valid checkpoint.*missing-7"):
        saver.restore(sess, str(tmp_path / "missing-7"))
    for suffix in (".index", ".meta", ".data-00000-of-00001"):
        with pytest.raises(ValueError, match="pass the prefix '%s'" % prefix):
            saver.restore(sess, prefix + suffix)
    with pytest.raises(ValueError, match="is a directory.*model-1"):
        saver.restore(sess, str(tmp_path))


def test_save_argument_errors(saved, tmp_path):
    saver, sess, prefix = saved
    with pytest.raises(ValueError, match="path components"):
        saver.save(sess, str(tmp_path / "m"), latest_filename="sub/checkpoint")
    with pytest.raises(ValueError, match="save_path is None"):
        saver.save(sess, None)
    with pytest.raises(ValueError, match="pass the prefix"):
        saver.save(sess, str(tmp_path / "m.index"))
    with pytest.raises(TypeError, match="Session"):
        saver.save(object(), str(tmp_path / "m"))


def test_restore_names_a_missing_variable(saved, tmp_path):
    _, _, prefix = saved
    g, w, b = _simple_graph()
    with g.as_default():
        extra = gg.Variable(1.0, name="dense/new_bias")
        saver = gg.train.Saver()
        with gg.Session() as sess:
            with pytest.raises(errors.NotFoundError) as e:
                saver.restore(sess, prefix)
            # Nothing was assigned: the check runs before the restore op.
            assert not sess.run(gg.is_variable_initialized(w))
    assert "dense/new_bias" in str(e.value) and prefix in str(e.value)
    assert extra.name == "dense/new_bias:0"


@pytest.mark.parametrize("resource", [False, True])
def test_restore_names_shape_and_dtype_mismatches(saved, resource):
    _, _, prefix = saved
    g = gg.Graph()
    with g.as_default():
        gg.Variable(np.zeros((3, 2), np.float32), name="w", use_resource=resource)
        gg.Variable(np.zeros(2, np.int32), name="b", use_resource=resource)
        saver = gg.train.Saver()
        with gg.Session() as sess, pytest.raises(errors.InvalidArgumentError) as e:
            saver.restore(sess, prefix)
    msg = str(e.value)
    assert "'w'" in msg and "[3,2]" in msg and "[2,3]" in msg
    assert "'b'" in msg and "int32" in msg and "int64" in msg


def test_duplicate_and_bad_var_lists():
    g, w, b = _simple_graph()
    with g.as_default():
        with pytest.raises(ValueError, match="two names"):
            gg.train.Saver({"a": w, "b": w})
        with pytest.raises(TypeError, match="not a variable|Not a variable"):
            gg.train.Saver({"c": gg.constant(1.0)})
        with pytest.raises(TypeError, match="dict or a list"):
            gg.train.Saver(w)
