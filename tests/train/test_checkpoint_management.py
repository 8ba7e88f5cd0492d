"""The `checkpoint` state file: format, relative paths, latest_checkpoint, TF interoperability."""

import os

import numpy as np
import pytest

from gpugraph.train import checkpoint_management as cm
from gpugraph.train.bundle import BundleWriter, data_filename

from .conftest import DATA


def make_ckpt(prefix):
    with BundleWriter(prefix) as w:
        w.add("v", np.ones(2, np.float32))
    return str(prefix)


def test_round_trip_absolute(tmp_path):
    d = str(tmp_path)
    paths = [os.path.join(d, "m-1"), os.path.join(d, "m-2")]
    cm.update_checkpoint_state(d, paths[1], paths)
    with open(os.path.join(d, "checkpoint")) as f:
        assert f.read() == ('model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n'
                            'all_model_checkpoint_paths: "%s"\n' % (paths[1], paths[0], paths[1]))
    state = cm.get_checkpoint_state(d)
    assert state.model_checkpoint_path == paths[1]
    assert list(state.all_model_checkpoint_paths) == paths
    assert [n for n in os.listdir(d)] == ["checkpoint"]  # the temp file was renamed, not left behind


def test_model_path_is_appended_when_not_last(tmp_path):
    d = str(tmp_path)
    cm.update_checkpoint_state(d, os.path.join(d, "m-3"), [os.path.join(d, "m-1")])
    assert cm.get_checkpoint_state(d).all_model_checkpoint_paths[-1] == os.path.join(d, "m-3")
    cm.update_checkpoint_state(d, os.path.join(d, "m-4"))
    assert list(cm.get_checkpoint_state(d).all_model_checkpoint_paths) == [os.path.join(d, "m-4")]


def test_save_relative_paths(tmp_path):
    d = str(tmp_path)
    cm.update_checkpoint_state(d, os.path.join(d, "m-2"), [os.path.join(d, "m-1"), "m-2"],
                               save_relative_paths=True)
    with open(os.path.join(d, "checkpoint")) as f:
        assert f.read() == ('model_checkpoint_path: "m-2"\nall_model_checkpoint_paths: "m-1"\n'
                            'all_model_checkpoint_paths: "m-2"\n')
    state = cm.get_checkpoint_state(d)  # relative paths are resolved against the directory
    assert state.model_checkpoint_path == os.path.join(d, "m-2")
    assert list(state.all_model_checkpoint_paths) == [os.path.join(d, "m-1"), os.path.join(d, "m-2")]
    # The directory can move: paths follow it.
    moved = str(tmp_path.parent / (tmp_path.name + "_moved"))
    os.rename(d, moved)
    assert cm.get_checkpoint_state(moved).model_checkpoint_path == os.path.join(moved, "m-2")


def test_relative_save_dir_rewrites_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("train")
    cm.update_checkpoint_state("train", "train/m-2", ["train/m-1", "train/m-2"])
    with open("train/checkpoint") as f:
        assert f.read() == ('model_checkpoint_path: "m-2"\nall_model_checkpoint_paths: "m-1"\n'
                            'all_model_checkpoint_paths: "m-2"\n')
    assert cm.get_checkpoint_state("train").model_checkpoint_path == os.path.join("train", "m-2")
    make_ckpt("train/m-2")
    assert cm.latest_checkpoint("train") == os.path.join("train", "m-2")


def test_timestamps_round_trip_and_mismatch(tmp_path):
    d = str(tmp_path)
    cm.update_checkpoint_state(d, "m-2", ["m-1", "m-2"], all_model_checkpoint_timestamps=[10.5, 20.25],
                               last_preserved_timestamp=5.0)
    state = cm.get_checkpoint_state(d)
    assert list(state.all_model_checkpoint_timestamps) == [10.5, 20.25]
    assert state.last_preserved_timestamp == 5.0
    with pytest.raises(ValueError, match="timestamps"):
        cm.update_checkpoint_state(d, "m-3", ["m-1", "m-2"], all_model_checkpoint_timestamps=[1.0])


def test_latest_checkpoint_needs_the_index(tmp_path):
    d = str(tmp_path)
    assert cm.latest_checkpoint(d) is None                 # no state file
    prefix = os.path.join(d, "model.ckpt-7")
    cm.update_checkpoint_state(d, prefix)
    assert cm.latest_checkpoint(d) is None                 # no model.ckpt-7.index
    make_ckpt(prefix)
    assert cm.latest_checkpoint(d) == prefix
    os.remove(data_filename(prefix))
    assert cm.latest_checkpoint(d) == prefix               # like TF: only the .index is looked for
    os.remove(prefix + ".index")
    assert cm.latest_checkpoint(d) is None


def test_latest_filename(tmp_path):
    d = str(tmp_path)
    prefix = make_ckpt(os.path.join(d, "a-1"))
    cm.update_checkpoint_state(d, prefix, latest_filename="other_state")
    assert os.listdir(d).count("checkpoint") == 0
    assert cm.latest_checkpoint(d) is None
    assert cm.latest_checkpoint(d, latest_filename="other_state") == prefix


def test_bad_state_files(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "checkpoint")
    with open(path, "w") as f:
        f.write("this is { not a CheckpointState")
    assert cm.get_checkpoint_state(d) is None
    assert cm.latest_checkpoint(d) is None
    with open(path, "w") as f:
        f.write('all_model_checkpoint_paths: "m-1"\n')
    with pytest.raises(ValueError, match="Invalid checkpoint state"):
        cm.get_checkpoint_state(d)
    with pytest.raises(RuntimeError, match="conflicts"):
        cm.update_checkpoint_state(d, path)


def test_unknown_fields_are_skipped(tmp_path):
    # A newer writer may add fields (FORMATS.md section 0): they are skipped, the known ones still read.
    d = str(tmp_path)
    with open(os.path.join(d, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "m"\nfuture_field: 3\nfuture_message { x: "y" }\n')
    assert cm.get_checkpoint_state(d).model_checkpoint_path == os.path.join(d, "m")


def test_checkpoint_exists_mtimes_and_remove(tmp_path):
    d = str(tmp_path)
    p1, p10 = make_ckpt(os.path.join(d, "m-1")), make_ckpt(os.path.join(d, "m-10"))
    with open(p1 + ".meta", "wb") as f:
        f.write(b"meta")
    os.utime(p1 + ".index", (1_000_000_000, 1_000_000_000))
    assert cm.checkpoint_exists(p1) and not cm.checkpoint_exists(os.path.join(d, "m-2"))
    assert cm.get_checkpoint_mtimes([p1, os.path.join(d, "missing"), p10])[0] == 1_000_000_000.0
    assert len(cm.get_checkpoint_mtimes([p1, os.path.join(d, "missing"), p10])) == 2
    cm.remove_checkpoint(p1)
    assert sorted(os.listdir(d)) == ["m-10.data-00000-of-00001", "m-10.index"]  # m-10 untouched
    cm.remove_checkpoint(os.path.join(d, "never-existed"))
    with pytest.raises(ValueError, match="V2"):
        cm.remove_checkpoint(p10, checkpoint_format_version=1)


def test_reads_tf_written_state_files():
    for name, model in [("dtypes", "model.ckpt-2"), ("sharded", "model-7"), ("partitioned", "model")]:
        d = os.path.join(DATA, name)
        state = cm.get_checkpoint_state(d)
        assert state.model_checkpoint_path == os.path.join(d, model)
        assert list(state.all_model_checkpoint_paths) == [os.path.join(d, model)]
        assert cm.latest_checkpoint(d) == os.path.join(d, model)
    assert cm.latest_checkpoint(os.path.join(DATA, "many_keys")) is None  # raw SaveV2 writes no state file


@pytest.mark.tf
def test_tf_reads_our_state_files(tmp_path, tf):
    d = str(tmp_path)
    p1, p2 = make_ckpt(os.path.join(d, "m-1")), make_ckpt(os.path.join(d, "m-2"))
    for relative in (False, True):
        cm.update_checkpoint_state(d, p2, [p1, p2], save_relative_paths=relative,
                                   all_model_checkpoint_timestamps=[1.5, 2.5], last_preserved_timestamp=0.5)
        state = tf.compat.v1.train.get_checkpoint_state(d)
        assert state.model_checkpoint_path == p2
        assert list(state.all_model_checkpoint_paths) == [p1, p2]
        assert list(state.all_model_checkpoint_timestamps) == [1.5, 2.5]
        assert state.last_preserved_timestamp == 0.5
        assert tf.train.latest_checkpoint(d) == p2


@pytest.mark.tf
def test_we_read_tf_state_files(tmp_path, tf):
    d = str(tmp_path)
    p1, p2 = make_ckpt(os.path.join(d, "m-1")), make_ckpt(os.path.join(d, "m-2"))
    tf.compat.v1.train.update_checkpoint_state(d, p2, [p1, p2], all_model_checkpoint_timestamps=[3.0, 4.0],
                                               last_preserved_timestamp=1.0)
    state = cm.get_checkpoint_state(d)
    assert (state.model_checkpoint_path, list(state.all_model_checkpoint_paths)) == (p2, [p1, p2])
    assert list(state.all_model_checkpoint_timestamps) == [3.0, 4.0] and state.last_preserved_timestamp == 1.0
    assert cm.latest_checkpoint(d) == p2
    with open(os.path.join(d, "checkpoint")) as f:
        tf_text = f.read()
    cm.update_checkpoint_state(d, p2, [p1, p2], all_model_checkpoint_timestamps=[3.0, 4.0],
                               last_preserved_timestamp=1.0)
    with open(os.path.join(d, "checkpoint")) as f:
        assert f.read() == tf_text  # identical text
    # Relative paths in a TF-written file (TF's save_relative_paths) resolve the same way.
    from tensorflow.python.checkpoint import checkpoint_management as tf_cm
    tf_cm.update_checkpoint_state_internal(d, p2, [p1, p2], save_relative_paths=True)
    with open(os.path.join(d, "checkpoint")) as f:
        assert '"m-2"' in f.read()
    assert cm.latest_checkpoint(d) == p2
    assert cm.get_checkpoint_state(d) == tf_state_as_ours(tf.compat.v1.train.get_checkpoint_state(d))


def tf_state_as_ours(tf_state):
    return cm.CheckpointState.FromString(tf_state.SerializeToString())
