"""Compile-time work in plans: constant folding, shapes of statically known tensors, variables looked
up once — and the cases that must never be folded."""

import numpy as np
import pytest

import gpugraph as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def _plan(sess):
    (plan,) = sess._plans.values()
    return plan


def test_constant_arithmetic_and_static_shapes_fold_away():
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    scale = tf.constant(2.0) * tf.constant(3.0)            # constant math
    n = tf.cast(tf.shape(x)[0], tf.float32)                 # a statically known shape
    y = x * scale / n
    with tf.Session() as sess:
        out = sess.run(y, {x: np.ones((2, 3), np.float32)})
        plan = _plan(sess)
    np.testing.assert_array_equal(out, np.full((2, 3), 3.0, np.float32))
    assert [op.type for op in plan.step_ops] == ["Mul", "RealDiv"]


def test_shape_of_a_partially_known_tensor_is_computed_each_run():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = tf.shape(x)
    with tf.Session() as sess:
        assert sess.run(y, {x: np.ones((4, 3))}).tolist() == [4, 3]
        assert sess.run(y, {x: np.ones((1, 3))}).tolist() == [1, 3]
        assert [op.type for op in _plan(sess).step_ops] == ["Shape"]


def test_ops_with_control_inputs_or_state_are_not_folded():
    v = tf.Variable(0.0, name="v")
    bump = tf.assign_add(v, 1.0)
    with tf.control_dependencies([bump]):
        after = tf.identity(tf.constant(1.0) + tf.constant(1.0), name="after")
    with tf.Session() as sess:
        sess.run(v.initializer)
        sess.run(after)
        sess.run(after)
        assert sess.run(v) == 2.0  # the AssignAdd ran on each run: neither it nor its user folded


def test_random_ops_are_never_folded():
    r = tf.random_uniform([3], seed=1) + tf.constant(1.0)
    with tf.Session() as sess:
        assert not np.array_equal(sess.run(r), sess.run(r))


def test_a_constant_op_that_fails_still_fails_at_run_time_naming_the_node():
    bad = tf.math.floordiv(tf.constant([1, 2]), tf.constant([1, 0]), name="divide_by_zero")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="divide_by_zero"):
            sess.run(bad)


def test_folded_constants_are_private_to_the_session_and_read_only():
    y = tf.constant([1.0, 2.0]) * tf.constant(2.0)
    with tf.Session() as sess:
        first = sess.run(y)
        first[0] = 100.0  # the caller's copy
        assert sess.run(y).tolist() == [2.0, 4.0]


def test_noops_are_not_steps_but_their_inputs_still_run():
    a = tf.Variable(0, name="a")
    b = tf.Variable(0, name="b")
    both = tf.group(tf.assign_add(a, 1), tf.assign_add(b, 2), name="both")
    with tf.Session() as sess:
        sess.run([a.initializer, b.initializer])
        sess.run(both)
        sess.run(both)
        plan = max(sess._plans.values(), key=lambda p: len(p.step_ops))
        assert sess.run([a, b]) == [2, 4]
    assert "NoOp" not in [op.type for op in plan.step_ops]


def _held_bytes(plan):
    return sum(v.nbytes for v in plan.initial if isinstance(v, np.ndarray))


def test_large_values_are_made_when_the_plan_runs_not_kept_with_it():
    """A variable's or optimizer slot's zeros would otherwise stay in memory as long as the session."""
    w = tf.get_variable("w", shape=[2000, 1500], initializer=tf.zeros_initializer())  # 12 MB
    big = tf.reduce_sum(tf.ones([2000, 2000]) * 3.0, name="big")                   # 16 MB
    train = tf.train.AdamOptimizer().minimize(tf.reduce_sum(w * w))
    init = tf.global_variables_initializer()
    with tf.Session() as sess:
        sess.run(init)
        assert sess.run(big) == 3.0 * 2000 * 2000
        sess.run(train)
        slots = [sess.run(v) for v in tf.global_variables() if "Adam" in v.op.name and v.shape.ndims == 2]
        held = {name: _held_bytes(plan) for name, plan in
                [("init", sess._plans[next(k for k in sess._plans if init in k[2])]),
                 ("big", sess._plans[next(k for k in sess._plans if big in k[0])])]}
        big_types = [op.type for op in sess._plans[next(k for k in sess._plans if big in k[0])].step_ops]
    assert len(slots) == 2 and all(s.shape == (2000, 1500) and not s.any() for s in slots)
    assert held["big"] < 1024 and "Fill" in big_types  # ones(16 MB) is made per run, then freed
    assert held["init"] < 1024  # w's and both slots' zeros were made by the run, then freed


def test_the_folding_limit_follows_max_folded_constant_in_bytes():
    y = tf.reduce_sum(tf.ones([100, 100]) * 2.0)  # 40 KB values
    small = tf.ConfigProto(graph_options=tf.GraphOptions(
        optimizer_options=tf.OptimizerOptions(max_folded_constant_in_bytes=1000)))
    for config, folded in [(None, True), (small, False)]:
        with tf.Session(config=config) as sess:
            assert sess.run(y) == 20000.0
            assert (_plan(sess).step_ops == []) == folded


def test_inputs_of_folded_ops_are_not_kept():
    big = tf.ones([300, 300], name="ones")          # 360 KB, folded
    y = tf.reduce_sum(big * 2.0, name="y")          # folded to a scalar
    z = tf.placeholder(tf.float32, [], name="z") + y
    with tf.Session() as sess:
        assert sess.run(z, {"z:0": 1.0}) == 1.0 + 2.0 * 300 * 300
        assert _held_bytes(_plan(sess)) < 64  # only the folded scalar, not `ones` or `ones * 2`
