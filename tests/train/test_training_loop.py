"""The resume loop: train, ``saver.save(sess, 'my-model', global_step=step)`` every N steps; a fresh
process does ``import_meta_graph`` + ``restore`` + ``get_collection('train_op')[0]`` and continues.

- gpugraph resuming gpugraph: final weights bitwise equal to an uninterrupted run;
- TensorFlow resuming our files: matches to 1e-5;
- gpugraph resuming TensorFlow's training checkpoints (tests/data/make_tf_training.py) matches
  TensorFlow's own continued run to 1e-5.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import gpugraph as gg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import resume_program as prog  # noqa: E402

TF_DATA = os.path.join(os.path.dirname(HERE), "data", "tf_training")
HALF, SAVE_EVERY = 6, 2


def _uninterrupted(optimizer):
    g, train_op, loss, _ = prog.build(optimizer)
    with gg.Session(graph=g) as sess:
        sess.run("init")
        losses = prog.run_steps(sess, train_op, 0, 2 * HALF, loss=loss)
        return prog.state(sess, g), losses


def _first_half(optimizer, directory):
    g, train_op, loss, saver = prog.build(optimizer)
    with gg.Session(graph=g) as sess:
        sess.run("init")
        prog.run_steps(sess, train_op, 0, HALF, saver=saver, prefix=os.path.join(directory, "my-model"),
                       every=SAVE_EVERY)
    return gg.train.latest_checkpoint(directory)


@pytest.mark.parametrize("optimizer", sorted(prog.OPTIMIZERS))
def test_resume_in_fresh_process_is_bitwise_equal(tmp_path, optimizer):
    full, losses = _uninterrupted(optimizer)
    assert losses[-1] < losses[0]
    latest = _first_half(optimizer, str(tmp_path))
    assert latest == os.path.join(str(tmp_path), f"my-model-{HALF}")
    assert gg.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths[0].endswith("my-model-2")
    out = tmp_path / "resumed.npz"
    subprocess.run([sys.executable, os.path.join(HERE, "resume_program.py"), str(tmp_path), str(HALF), str(out)],
                   check=True, capture_output=True)
    resumed = np.load(out)
    assert sorted(k.replace("|", "/") for k in resumed.files) == sorted(full)
    for name, value in full.items():
        assert resumed[name.replace("/", "|")].tobytes() == value.tobytes(), name


@pytest.mark.tf
@pytest.mark.parametrize("optimizer", sorted(prog.OPTIMIZERS))
def test_tensorflow_resumes_our_checkpoint(tmp_path, tf, optimizer):
    full, _ = _uninterrupted(optimizer)
    latest = _first_half(optimizer, str(tmp_path))
    tf1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        saver = tf1.train.import_meta_graph(latest + ".meta")
        train_op = tf1.get_collection("train_op")[0]
        with tf1.Session(graph=g) as sess:
            saver.restore(sess, tf1.train.latest_checkpoint(str(tmp_path)))
            assert sess.run("global_step:0") == HALF
            for step in range(HALF, 2 * HALF):
                xv, yv = prog.batch(step)
                sess.run(train_op, {"x:0": xv, "y:0": yv})
            theirs = {v.op.name: sess.run(v) for v in tf1.global_variables()}
    assert sorted(theirs) == sorted(full)
    for name, value in full.items():
        np.testing.assert_allclose(theirs[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_we_resume_tensorflow_training_checkpoint(optimizer):
    directory = os.path.join(TF_DATA, optimizer)
    expected = np.load(os.path.join(directory, "expected.npz"))
    prefix = gg.train.latest_checkpoint(directory)
    g = gg.Graph()
    with g.as_default():
        saver = gg.train.import_meta_graph(prefix + ".meta")
        train_op = gg.get_collection("train_op")[0]
        loss = g.get_tensor_by_name("sparse_softmax_cross_entropy_loss/value:0")
        with gg.Session(graph=g) as sess:
            saver.restore(sess, prefix)
            start = int(sess.run("global_step:0"))
            losses = prog.run_steps(sess, train_op, start, start + len(expected["__losses"]), loss=loss)
            ours = prog.state(sess, g)
    np.testing.assert_allclose(losses, expected["__losses"], rtol=1e-5)
    names = [k for k in expected.files if k != "__losses"]
    assert sorted(n.replace("|", "/") for n in names) == sorted(ours)
    for key in names:
        np.testing.assert_allclose(ours[key.replace("|", "/")], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
