"""Optimizer updates of one kind sharing their hyper-parameters run as one grouped step
(gpugraph/runtime/grouped_updates.py): bitwise the same as one step per update, for every
optimizer, dtype and variable kind, and only where nothing in between needs the old order."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph import errors

OPTIMIZERS = {
    "sgd": lambda: gg.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: gg.train.MomentumOptimizer(0.05, 0.9),
    "nesterov": lambda: gg.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adam": lambda: gg.train.AdamOptimizer(0.01),
    "adagrad": lambda: gg.train.AdagradOptimizer(0.1),
    "rmsprop": lambda: gg.train.RMSPropOptimizer(0.01, momentum=0.5),
}


def _mlp(optimizer, dtype=np.float32, resource=False):
    rng = np.random.default_rng(3)
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(dtype, [8, 5], name="x")
        y = gg.placeholder(gg.int32, [8], name="y")
        weights = []
        for name, shape in (("w1", (5, 7)), ("b1", (7,)), ("w2", (7, 3)), ("b2", (3,))):
            init = (rng.standard_normal(shape) * 0.5).astype(dtype)
            weights.append(gg.get_variable(name, initializer=init, use_resource=resource))
        w1, b1, w2, b2 = weights
        h = gg.nn.relu(gg.matmul(x, w1) + b1)
        logits = gg.cast(gg.matmul(h, w2) + b2, gg.float32)
        loss = gg.reduce_mean(gg.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = optimizer().minimize(loss)
        init = gg.global_variables_initializer()
    return g, train, init, weights


def _data(dtype, step):
    rng = np.random.default_rng(100 + step)
    return {"x:0": rng.standard_normal((8, 5)).astype(dtype), "y:0": rng.integers(0, 3, 8).astype(np.int32)}


def _train(monkeypatch, grouped, optimizer, dtype=np.float32, resource=False, steps=6):
    monkeypatch.setenv("GPUGRAPH_GROUPED_UPDATES", "1" if grouped else "0")
    g, train, init, weights = _mlp(optimizer, dtype, resource)
    with gg.Session(graph=g) as sess:
        sess.run(init)
        for step in range(steps):
            sess.run(train, _data(dtype, step))
        n_update_steps = _update_steps(sess, train)
        values = [sess.run(w) for w in weights] + [sess.run(v) for v in g.get_collection("variables")
                                                   if v not in weights]
    return values, n_update_steps


def _update_steps(sess, train):
    """How many plan steps of the training run are optimizer updates."""
    counts = [sum(op.type.startswith(("Apply", "ResourceApply")) for op in plan.step_ops)
              for plan in sess._plans.values() if any(op is train or train in op.control_inputs
                                                      for op in getattr(plan, "placed_ops", ()))]
    return max(counts)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype,resource", [(np.float32, False), (np.float64, False), (np.float16, False),
                                            (np.float32, True)])
def test_grouped_updates_are_bitwise_the_per_variable_updates(monkeypatch, name, dtype, resource):
    grouped, n_grouped = _train(monkeypatch, True, OPTIMIZERS[name], dtype, resource)
    single, n_single = _train(monkeypatch, False, OPTIMIZERS[name], dtype, resource)
    assert n_single == 4 and n_grouped == 1
    for a, b in zip(grouped, single):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_values_assigned_between_steps_are_picked_up(monkeypatch):
    """The grouped step reuses its flat buffers only while the variables hold what it stored:
    an Assign (or a restore) in between is seen by the next step."""
    results = []
    for grouped in (True, False):
        monkeypatch.setenv("GPUGRAPH_GROUPED_UPDATES", "1" if grouped else "0")
        g, train, init, (w1, b1, w2, b2) = _mlp(OPTIMIZERS["adam"])
        with g.as_default():
            reset = gg.assign(w2, gg.ones_like(w2) * 0.25)
        with gg.Session(graph=g) as sess:
            sess.run(init)
            for step in range(5):
                sess.run(train, _data(np.float32, step))
                if step == 2:
                    sess.run(reset)
            results.append([sess.run(v) for v in (w1, b1, w2, b2)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_fetched_variable_values_keep_their_contents(monkeypatch):
    monkeypatch.setenv("GPUGRAPH_GROUPED_UPDATES", "1")
    g, train, init, (w1, *_) = _mlp(OPTIMIZERS["sgd"])
    with gg.Session(graph=g) as sess:
        sess.run(init)
        before = sess.run(w1)
        kept = before.copy()
        sess.run(train, _data(np.float32, 0))
        np.testing.assert_array_equal(before, kept)
        assert not np.array_equal(sess.run(w1), kept)


def _apply_gd(var, delta, name=None):
    from gpugraph.framework.op_builder import apply_op
    return apply_op("ApplyGradientDescent", var=var, alpha=gg.constant(0.5), delta=delta, name=name)


def _gd_steps(sess):
    return max(sum(op.type == "ApplyGradientDescent" for op in plan.step_ops) for plan in sess._plans.values())


def _two_updates(monkeypatch, between=None, delta_b=None):
    """Variables a and b (ones), ``upd_a`` (a -= 0.5 * [1, 2, 3]), then whatever ``between(a,
    upd_a)`` builds, then ``upd_b`` (b -= 0.5 * delta_b(a, upd_a, built)). Returns (session,
    tensors) with the variables initialised."""
    monkeypatch.setenv("GPUGRAPH_GROUPED_UPDATES", "1")
    g = gg.Graph()
    with g.as_default():
        a = gg.Variable(np.ones(3, np.float32), name="a")
        b = gg.Variable(np.ones(3, np.float32), name="b")
        upd_a = _apply_gd(a, gg.constant([1.0, 2.0, 3.0]), name="upd_a")
        built = between(a, upd_a) if between else None
        upd_b = _apply_gd(b, delta_b(a, upd_a, built), name="upd_b")
        init = gg.global_variables_initializer()
    sess = gg.Session(graph=g)
    sess.run(init)
    return sess, dict(a=a, b=b, upd_a=upd_a, upd_b=upd_b, built=built)


def _read_after(a, upd_a):
    with gg.control_dependencies([upd_a]):
        return a.read_value() * 10.0


def test_a_dependency_between_updates_keeps_them_apart(monkeypatch):
    sess, t = _two_updates(monkeypatch, _read_after, lambda a, upd_a, read_a: read_a)
    sess.run([t["upd_a"].op, t["upd_b"].op])
    np.testing.assert_array_equal(sess.run(t["a"]), [0.5, 0.0, -0.5])
    np.testing.assert_array_equal(sess.run(t["b"]), 1 - 0.5 * 10 * np.array([0.5, 0.0, -0.5], np.float32))
    assert _gd_steps(sess) == 2


def test_a_read_of_a_member_variable_between_updates_keeps_them_apart(monkeypatch):
    # The read is unordered; the plan puts it after a's update, between the two updates.
    sess, t = _two_updates(monkeypatch, lambda a, upd_a: a.read_value(),
                           lambda a, upd_a, seen: gg.constant([1.0, 1.0, 1.0]))
    got = sess.run([t["built"], t["upd_a"].op, t["upd_b"].op])[0]
    np.testing.assert_array_equal(got, [0.5, 0.0, -0.5])
    assert _gd_steps(sess) == 2


def test_a_bad_gradient_is_named_by_its_own_node(monkeypatch):
    grad_b = []
    sess, t = _two_updates(monkeypatch, delta_b=lambda a, upd_a, _: grad_b.append(
        gg.placeholder(gg.float32, None, name="grad_b")) or grad_b[0])
    run = [t["upd_a"].op, t["upd_b"].op]
    sess.run(run, {grad_b[0]: np.ones(3, np.float32)})
    assert _gd_steps(sess) == 1
    with pytest.raises(errors.InvalidArgumentError, match=r"upd_b.*\[3\] \[4\]"):
        sess.run(run, {grad_b[0]: np.ones(4, np.float32)})
    # Nothing was half-applied: the failing step stored no new values.
    np.testing.assert_array_equal(sess.run(t["a"]), [0.5, 0.0, -0.5])
