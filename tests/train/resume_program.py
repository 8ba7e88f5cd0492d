"""The training program of test_training_loop.py, importable and runnable as a script.

``python resume_program.py <checkpoint_dir> <steps> <out.npz>`` is the "fresh process" of the resume
loop: it imports the latest checkpoint's meta graph, restores it, takes ``get_collection('train_op')[0]``
and trains ``steps`` more steps, then writes every global variable to ``out.npz``.
"""

import os
import sys

import numpy as np

import gpugraph as gg

OPTIMIZERS = {"gd": lambda: gg.train.GradientDescentOptimizer(0.1), "adam": lambda: gg.train.AdamOptimizer(0.01)}


def batch(step):
    """The batch of a training step (the same function as tests/data/make_tf_training.py)."""
    rs = np.random.RandomState(1000 + step)
    return rs.standard_normal((64, 8)).astype(np.float32), rs.randint(0, 3, 64).astype(np.int64)


def build(optimizer):
    """The MLP of make_tf_training.py, built with gpugraph; returns (graph, train_op, loss, saver)."""
    g = gg.Graph()
    with g.as_default():
        gg.set_random_seed(3)
        x = gg.placeholder(gg.float32, [64, 8], name="x")
        y = gg.placeholder(gg.int64, [64], name="y")
        with gg.variable_scope("dense1"):
            h = gg.nn.relu(gg.nn.bias_add(gg.matmul(x, gg.get_variable("kernel", [8, 16])),
                                          gg.get_variable("bias", [16], initializer=gg.zeros_initializer())))
        with gg.variable_scope("dense2"):
            logits = gg.matmul(h, gg.get_variable("kernel", [16, 3]))
        loss = gg.losses.sparse_softmax_cross_entropy(y, logits)
        train_op = OPTIMIZERS[optimizer]().minimize(loss, global_step=gg.train.get_or_create_global_step())
        gg.global_variables_initializer()
        saver = gg.train.Saver(max_to_keep=10)
    return g, train_op, loss, saver


def run_steps(sess, train_op, start, stop, loss=None, saver=None, prefix=None, every=None):
    """Trains steps [start, stop); saves ``prefix-<step>`` every ``every`` steps when a saver is given."""
    losses = []
    for step in range(start, stop):
        xv, yv = batch(step)
        fetches = [train_op, loss] if loss is not None else train_op
        out = sess.run(fetches, {"x:0": xv, "y:0": yv})
        if loss is not None:
            losses.append(out[1])
        if saver is not None and (step + 1) % every == 0:
            saver.save(sess, prefix, global_step=step + 1)
    return losses


def state(sess, graph):
    """Every global variable's value, by op name."""
    return {v.op.name: np.asarray(sess.run(v.name)) for v in graph.get_collection(gg.GraphKeys.GLOBAL_VARIABLES)}


def resume(checkpoint_dir, steps):
    """import_meta_graph + restore + train_op from the collection; trains ``steps`` more steps."""
    prefix = gg.train.latest_checkpoint(checkpoint_dir)
    g = gg.Graph()
    with g.as_default():
        saver = gg.train.import_meta_graph(prefix + ".meta")
        train_op = gg.get_collection("train_op")[0]
        with gg.Session(graph=g) as sess:
            saver.restore(sess, prefix)
            start = int(sess.run("global_step:0"))
            run_steps(sess, train_op, start, start + steps)
            return state(sess, g)


if __name__ == "__main__":
    directory, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    values = resume(directory, n)
    np.savez(out, **{k.replace("/", "|"): v for k, v in values.items()})
    print("resumed", len(values), "variables from", os.path.basename(gg.train.latest_checkpoint(directory)))
