"""Determinism on the CPU: the same graph, inputs and seeds give bitwise-identical training steps —
across sessions, across graphs rebuilt from the same code, and across a fresh Python process."""

import os
import subprocess
import sys

import numpy as np

import gpugraph as gg

STEPS = 5


def _build(seed=42):
    g = gg.Graph()
    with g.as_default():
        gg.set_random_seed(seed)
        x = gg.placeholder(gg.float32, [None, 10], name="x")
        y = gg.placeholder(gg.int64, [None], name="y")
        noisy = x + gg.random_normal(gg.shape(x), stddev=0.1)  # an op-seeded RNG on every step
        with gg.variable_scope("hidden"):
            h = gg.nn.relu(gg.nn.bias_add(gg.matmul(noisy, gg.get_variable("kernel", [10, 16])),
                                          gg.get_variable("bias", [16], initializer=gg.zeros_initializer())))
        with gg.variable_scope("logits"):
            logits = gg.matmul(h, gg.get_variable("kernel", [16, 4]))
        loss = gg.losses.sparse_softmax_cross_entropy(y, logits) + 1e-3 * gg.nn.l2_loss(
            g.get_tensor_by_name("hidden/kernel:0"))
        train = gg.train.AdamOptimizer(0.01).minimize(loss, global_step=gg.train.get_or_create_global_step())
        gg.global_variables_initializer()
    return g, train, loss


def _data(step):
    rs = np.random.RandomState(step)
    return rs.standard_normal((8, 10)).astype(np.float32), rs.randint(0, 4, 8).astype(np.int64)


def _train(g, train, loss):
    with gg.Session(graph=g) as sess:
        sess.run("init")
        losses = []
        for step in range(STEPS):
            xv, yv = _data(step)
            losses.append(sess.run([train, loss], {"x:0": xv, "y:0": yv})[1])
        state = {v.op.name: sess.run(v.name) for v in g.get_collection(gg.GraphKeys.GLOBAL_VARIABLES)}
    return np.array(losses), state


def _assert_bitwise(a, b):
    (la, sa), (lb, sb) = a, b
    assert la.tobytes() == lb.tobytes()
    assert sorted(sa) == sorted(sb)
    for name in sa:
        assert np.asarray(sa[name]).tobytes() == np.asarray(sb[name]).tobytes(), name


def test_same_graph_two_sessions_bitwise_equal():
    g, train, loss = _build()
    _assert_bitwise(_train(g, train, loss), _train(g, train, loss))


def test_rebuilt_graph_bitwise_equal_and_seed_matters():
    first = _train(*_build())
    _assert_bitwise(first, _train(*_build()))
    other = _train(*_build(seed=7))
    assert other[0].tobytes() != first[0].tobytes()


def test_fresh_process_bitwise_equal(tmp_path):
    out = tmp_path / "state.npz"
    code = (f"import sys, numpy as np; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            f"import test_determinism as t; losses, state = t._train(*t._build()); "
            f"np.savez({str(out)!r}, __losses=losses, **{{k.replace('/', '|'): v for k, v in state.items()}})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    saved = np.load(out)
    theirs = (saved["__losses"], {k.replace("|", "/"): saved[k] for k in saved.files if k != "__losses"})
    _assert_bitwise(_train(*_build()), theirs)
