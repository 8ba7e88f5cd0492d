"""Plans skip steps whose outputs nothing reads and whose ops have no other effect (stateless, no
variables or resources): ops in a run only because a control edge orders something after them."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.runtime import devices


def _step_names(sess):
    return {op.name for plan in sess._plans.values() for op in plan.step_ops}


def test_values_only_ordered_by_control_edges_are_not_computed():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [2, 3], name="x")
        unused = gg.square(gg.matmul(x, gg.ones([3, 4]), name="unused_matmul"), name="unused_square")
        with gg.control_dependencies([unused]):
            y = gg.identity(x * 2.0, name="y")
    with gg.Session(graph=g) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: np.ones((2, 3), np.float32)}), 2 * np.ones((2, 3)))
        names = _step_names(sess)
    assert "unused_matmul" not in names and "unused_square" not in names  # the chain goes too
    assert "mul" in names


def test_fetched_and_consumed_values_are_computed():
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [3], name="x")
        a = gg.square(x, name="a")
        with gg.control_dependencies([a]):
            b = gg.identity(x, name="b")
    with gg.Session(graph=g) as sess:
        got_a, _ = sess.run([a, b], {x: np.arange(3, dtype=np.float32)})
        assert "a" in _step_names(sess)
    np.testing.assert_array_equal(got_a, [0, 1, 4])


def test_ops_with_effects_run_even_when_nothing_reads_them():
    g = gg.Graph()
    with g.as_default():
        v = gg.Variable(np.zeros(2, np.float32), name="v")
        rand = gg.random_uniform([2], seed=1, name="rand")          # advances the random stream
        assign = gg.assign_add(v, [1.0, 1.0], name="bump")          # writes a variable
        with gg.control_dependencies([rand, assign]):
            done = gg.no_op(name="done")
        init = gg.global_variables_initializer()
    with gg.Session(graph=g) as sess:
        sess.run(init)
        sess.run(done)
        sess.run(done)
        assert {"rand/RandomUniform", "bump"} <= _step_names(sess)
        np.testing.assert_array_equal(sess.run(v), [2.0, 2.0])


def test_a_failing_op_that_nothing_needs_does_not_fail_the_run():
    """As in TensorFlow (whose optimizer removes it too): only what the run needs can fail it."""
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [None], name="x")
        bad = gg.reshape(x, [5], name="bad")   # wrong for a 3-element feed
        with gg.control_dependencies([bad]):
            y = gg.identity(x + 1.0)
    with gg.Session(graph=g) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: np.zeros(3, np.float32)}), [1, 1, 1])


@pytest.mark.parametrize("gpus", [0, 1])
def test_an_op_run_as_a_target_runs_even_if_nothing_reads_it(gpus):
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0" if gpus else "/cpu:0"):
        x = gg.placeholder(gg.float32, [None], name="x")
        bad = gg.reshape(x * 2.0, [5], name="bad")
    with devices.simulated(num_gpus=gpus), gg.Session(graph=g) as sess:
        with pytest.raises(gg.errors.InvalidArgumentError, match="bad"):
            sess.run(bad.op, {x: np.zeros(3, np.float32)})
        sess.run(bad.op, {x: np.zeros(5, np.float32)})
        assert "bad" in _step_names(sess)
