"""Writes TensorFlow training checkpoints that gpugraph resumes in tests/train/test_training_loop.py.

Run from anywhere with tensorflow-cpu installed (TF1 graph mode with ref variables)::

    .venv/bin/python tests/data/make_tf_training.py

For each optimizer (``gd``: GradientDescentOptimizer(0.1); ``adam``: AdamOptimizer(0.01)) a small
MLP (x[64, 8] -> dense1 16 relu -> dense2 3, sparse softmax cross entropy) is trained for
``SAVE_STEP`` steps on the deterministic batches of ``batch(step)`` and saved with
``Saver.save(sess, "<dir>/model", global_step=step)`` (meta graph included; ``train_op`` in the
TRAIN_OP collection as TF's optimizer puts it). TensorFlow then continues ``CONTINUE_STEPS`` more
steps; ``expected.npz`` holds every global variable after that (``/`` in names written as ``|``)
and the losses of the continued steps under ``__losses``.

Outputs under tests/data/tf_training/{gd,adam}/ (paths in ``checkpoint`` are relative).
"""

import os
import shutil

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_training")
SAVE_STEP = 5
CONTINUE_STEPS = 4
OPTIMIZERS = {"gd": lambda: tf1.train.GradientDescentOptimizer(0.1), "adam": lambda: tf1.train.AdamOptimizer(0.01)}


def batch(step):
    """The training batch of a step: the same in TensorFlow and in gpugraph."""
    rs = np.random.RandomState(1000 + step)
    return rs.standard_normal((64, 8)).astype(np.float32), rs.randint(0, 3, 64).astype(np.int64)


def build(make_optimizer):
    tf1.set_random_seed(3)
    x = tf1.placeholder(tf.float32, [64, 8], name="x")
    y = tf1.placeholder(tf.int64, [64], name="y")
    with tf1.variable_scope("dense1"):
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, tf1.get_variable("kernel", [8, 16])),
                                      tf1.get_variable("bias", [16], initializer=tf1.zeros_initializer())))
    with tf1.variable_scope("dense2"):
        logits = tf.matmul(h, tf1.get_variable("kernel", [16, 3]))
    loss = tf1.losses.sparse_softmax_cross_entropy(y, logits)
    step = tf1.train.get_or_create_global_step()
    make_optimizer().minimize(loss, global_step=step)
    return loss


def write(name):
    out = os.path.join(OUT, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    g = tf.Graph()
    with g.as_default():
        loss = build(OPTIMIZERS[name])
        train_op = tf1.get_collection(tf1.GraphKeys.TRAIN_OP)[0]
        saver = tf1.train.Saver()
        with tf1.Session(graph=g) as sess:
            sess.run(tf1.global_variables_initializer())
            for step in range(SAVE_STEP):
                xv, yv = batch(step)
                sess.run(train_op, {"x:0": xv, "y:0": yv})
            saver.save(sess, os.path.join(out, "model"), global_step=SAVE_STEP)
            losses = []
            for step in range(SAVE_STEP, SAVE_STEP + CONTINUE_STEPS):
                xv, yv = batch(step)
                losses.append(sess.run([train_op, loss], {"x:0": xv, "y:0": yv})[1])
            values = {v.op.name.replace("/", "|"): sess.run(v) for v in tf1.global_variables()}
    # Relative paths in the state file, so the directory can move.
    with open(os.path.join(out, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "model-{SAVE_STEP}"\nall_model_checkpoint_paths: "model-{SAVE_STEP}"\n')
    np.savez(os.path.join(out, "expected.npz"), __losses=np.array(losses), **values)


if __name__ == "__main__":
    tf1.disable_v2_behavior()
    for optimizer in OPTIMIZERS:
        write(optimizer)
    print("wrote", OUT)
