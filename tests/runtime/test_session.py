"""Session.run: fetch structures, feeds and their checks, plan caching, errors naming nodes."""

import collections

import numpy as np
import pytest

import gpugraph as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def test_nested_fetch_structures():
    a = tf.constant(1.0, name="a")
    b = tf.constant([2, 3], name="b")
    Pair = collections.namedtuple("Pair", "x y")
    with tf.Session() as sess:
        out = sess.run({"a": a, "pair": Pair(a, [b, (a,)]), "op": b.op, "name": "a:0"})
    assert out["a"] == 1.0
    assert isinstance(out["pair"], Pair)
    assert out["pair"].y[0].tolist() == [2, 3]
    assert isinstance(out["pair"].y[1], tuple)
    assert out["op"] is None
    assert out["name"] == 1.0


def test_fetch_by_operation_name_runs_it_and_returns_none():
    a = tf.constant(1.0, name="a")
    with tf.Session() as sess:
        assert sess.run("a") is None
        assert sess.run([a, a]) == [1.0, 1.0]


def test_feed_by_name_and_by_tensor():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y = x * 2.0 if hasattr(tf.Tensor, "__mul__") else tf.identity(x)
    with tf.Session() as sess:
        r1 = sess.run(y, {"x:0": [[1, 2]]})
        r2 = sess.run(y, {x: np.array([[1, 2]], np.float64)})
    np.testing.assert_array_equal(r1, r2)
    assert r1.dtype == np.float32


def test_missing_feed_names_the_placeholder():
    x = tf.placeholder(tf.float32, [None, 3], name="images")
    y = tf.identity(x)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="images.*float32"):
            sess.run(y)


def test_wrong_feed_shape_names_placeholder_and_both_shapes():
    x = tf.placeholder(tf.float32, [None, 3], name="images")
    y = tf.identity(x)
    with tf.Session() as sess:
        with pytest.raises(ValueError, match=r"images.*\(2, 4\).*\(\?, 3\)"):
            sess.run(y, {x: np.zeros((2, 4), np.float32)})


def test_wrong_feed_dtype_names_placeholder_and_both_dtypes():
    x = tf.placeholder(tf.int32, [2], name="ids")
    y = tf.identity(x)
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="ids.*int32.*float64"):
            sess.run(y, {x: np.array([1.5, 2.0])})
        with pytest.raises(TypeError, match="ids"):
            sess.run(y, {x: ["a", "b"]})
        assert sess.run(y, {x: [1, 2]}).dtype == np.int32


def test_python_int_that_overflows_is_rejected():
    x = tf.placeholder(tf.int32, [], name="n")
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="does not fit"):
            sess.run(tf.identity(x), {x: 2 ** 40})


def test_string_feeds_and_fetches():
    s = tf.placeholder(tf.string, [None], name="s")
    with tf.Session() as sess:
        out = sess.run(tf.identity(s), {s: ["a", b"b"]})
    assert out.tolist() == [b"a", b"b"]


def test_placeholder_with_default():
    x = tf.placeholder_with_default(tf.constant([1.0, 2.0]), [None], name="x")
    y = tf.identity(x)
    with tf.Session() as sess:
        assert sess.run(y).tolist() == [1.0, 2.0]
        assert sess.run(y, {x: [5.0]}).tolist() == [5.0]


def test_plans_are_cached_per_signature():
    x = tf.placeholder(tf.float32, [2], name="x")
    y = tf.identity(x)
    with tf.Session() as sess:
        sess.run(y, {x: [1, 2]})
        sess.run(y, {x: [3, 4]})
        assert len(sess._plans) == 1
        sess.run([y, x], {x: [3, 4]})
        assert len(sess._plans) == 2


def test_adding_ops_does_not_invalidate_plans_but_mutation_does():
    x = tf.placeholder(tf.float32, [2], name="x")
    y = tf.identity(x)
    with tf.Session() as sess:
        sess.run(y, {x: [1, 2]})
        plan = next(iter(sess._plans.values()))
        tf.constant(3.0)
        sess.run(y, {x: [1, 2]})
        assert next(iter(sess._plans.values())) is plan
        y.op._set_device("/cpu:0")
        sess.run(y, {x: [1, 2]})
        assert next(iter(sess._plans.values())) is not plan


def test_fetched_constants_are_private_copies():
    c = tf.constant([1.0, 2.0])
    with tf.Session() as sess:
        first = sess.run(c)
        first[0] = 100.0
        assert sess.run(c).tolist() == [1.0, 2.0]


def test_make_callable():
    x = tf.placeholder(tf.float32, [None], name="x")
    y = tf.identity(x)
    with tf.Session() as sess:
        f = sess.make_callable([y], [x])
        assert f(np.array([1.0, 2.0], np.float32))[0].tolist() == [1.0, 2.0]
        with pytest.raises(TypeError, match="1 feed values"):
            f()


def test_closed_session_refuses_to_run():
    sess = tf.Session()
    sess.close()
    with pytest.raises(RuntimeError, match="closed"):
        sess.run(tf.constant(1.0))


def test_default_session_and_eval():
    c = tf.constant(4.0)
    with tf.Session():
        assert c.eval() == 4.0
        c.op.run()
    with pytest.raises(ValueError, match="No default session"):
        c.eval()


def test_interactive_session_is_default_until_closed():
    sess = tf.InteractiveSession()
    assert tf.get_default_session() is sess
    sess.close()
    assert tf.get_default_session() is None


def test_bad_fetch_types():
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="invalid type"):
            sess.run(3)
        with pytest.raises(ValueError, match="nope:0"):
            sess.run("nope:0")


def test_intermediates_are_freed_after_last_use():
    x = tf.placeholder(tf.float32, [2], name="x")
    a = tf.identity(tf.identity(x))
    b = tf.identity_n([a, a])
    with tf.Session() as sess:
        sess.run(b, {x: [1, 2]})
        plan = next(iter(sess._plans.values()))
    freed = {s for step in plan.steps for s in step[4]}
    assert freed, "some intermediate slot must be released before the run ends"
    assert not freed & set(plan.fetch_slots)
