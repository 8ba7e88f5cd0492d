"""Gradients through cond / case (Switch and Merge gradients) and TensorArrays: the same values as
TensorFlow computes from our exported gradient graphs, TensorFlow's node layout, training a model with
a cond; the stack ops the gradients of while loops use (tests/ops/test_while_loop_grad.py)."""


import numpy as np
import pytest

import gpugraph as gg
from conformance import Case, check, ph, tf_v1_control_flow
from gpugraph import errors
from gpugraph.ops import control_flow_grad, gradients_impl, stack_ops

rng = np.random.default_rng(31)


def _cond_grads():
    x = ph("x", np.float32, [3])
    p = ph("p", np.bool_, [])
    w = gg.constant([1.0, -2.0, 0.5])
    y = gg.cond(p, lambda: x * w, lambda: gg.square(x) - w)
    loss = gg.reduce_sum(y * y)
    return gg.gradients(loss, [x])


def _case_grads():
    x = ph("x", np.float64, [2])
    k = ph("k", np.int32, [])
    y = gg.case([(k < 1, lambda: gg.tanh(x)), (k < 2, lambda: x * x * x)], default=lambda: gg.exp(x))
    return gg.gradients(gg.reduce_sum(y), [x])


def _nested_cond_grads():
    x = ph("x", np.float32, [2])
    a = ph("a", np.bool_, [])
    b = ph("b", np.bool_, [])
    y = gg.cond(a, lambda: gg.cond(b, lambda: x * 3.0, lambda: gg.tanh(x)), lambda: x - 1.0)
    return gg.gradients(gg.reduce_sum(y * x), [x])


def _tensor_array_grads():
    x = ph("x", np.float32, [4, 2])
    ta = gg.TensorArray(gg.float32, size=4).unstack(x * 2.0)
    picked = ta.gather([3, 1])
    loss = gg.reduce_sum(picked * picked) + gg.reduce_sum(ta.read(0))
    split = gg.TensorArray(gg.float32, size=2, infer_shape=False).split(gg.reshape(x, [8]), [3, 5])
    loss2 = gg.reduce_sum(split.concat() * gg.range(8.0))
    return gg.gradients(loss, [x]) + gg.gradients(loss2, [x])


def _stack_push_pop():
    x = ph("x", np.float32, [None])
    s = stack_ops.stack_v2(-1, gg.float32, stack_name="history")
    first = stack_ops.stack_push_v2(s, x)
    with gg.control_dependencies([first]):
        second = stack_ops.stack_push_v2(s, x * 2.0, swap_memory=True)
    with gg.control_dependencies([second]):
        top = stack_ops.stack_pop_v2(s, gg.float32)
    with gg.control_dependencies([top]):
        bottom = stack_ops.stack_pop_v2(s, gg.float32)
    return [top, bottom, first]


def _train_with_cond():
    x = ph("x", np.float32, [None, 2])
    w = gg.Variable(np.array([[0.5], [-1.0]], np.float32), name="w")
    gg.global_variables_initializer()
    z = gg.matmul(x, w)
    y = gg.cond(gg.reduce_mean(z) > 0, lambda: gg.square(z), lambda: gg.abs(z) * 3.0)
    train = gg.train.GradientDescentOptimizer(0.05).minimize(gg.reduce_mean(y))
    with gg.control_dependencies([train]):
        return gg.identity(w.read_value(), name="w_after")


CASES = [
    Case("cond_gradient_true", _cond_grads, feeds={"x": np.array([1, 2, 3], np.float32), "p": True}),
    Case("cond_gradient_false", _cond_grads, feeds={"x": np.array([1, 2, 3], np.float32), "p": False}),
    Case("case_gradient_middle", _case_grads, feeds={"x": np.array([0.5, -1.5]), "k": np.int32(1)}),
    Case("case_gradient_default", _case_grads, feeds={"x": np.array([0.5, -1.5]), "k": np.int32(7)}),
    Case("nested_cond_gradient", _nested_cond_grads,
         feeds={"x": np.array([0.3, -2.0], np.float32), "a": True, "b": False}),
    Case("tensor_array_gradients", _tensor_array_grads, feeds={"x": rng.standard_normal((4, 2)).astype(np.float32)}),
    Case("stack_push_pop_lifo", _stack_push_pop, feeds={"x": np.array([1.5, -2.0], np.float32)}),
    Case("train_through_cond_three_steps", _train_with_cond, init=["init"], runs=3,
         feeds={"x": rng.standard_normal((5, 2)).astype(np.float32)}),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)



def _grad_nodes(graph_def):
    return sorted((n.name, n.op, tuple(n.input)) for n in graph_def.node if n.name.startswith("gradients"))


def _cond_program(tf):
    x = tf.placeholder(tf.float32, [3], name="x")
    p = tf.placeholder(tf.bool, [], name="p")
    y = tf.cond(p, lambda: x * 2.0, lambda: tf.square(x))
    return tf.gradients(tf.reduce_sum(y), [x])


@pytest.mark.tf
def test_cond_gradient_layout_matches_tensorflow():
    with tf_v1_control_flow() as tf1:
        import tensorflow as tf
        with tf.Graph().as_default() as tg:
            _cond_program(tf1)
    with gg.Graph().as_default() as g:
        _cond_program(gg)
    theirs = {n[0]: n for n in _grad_nodes(tg.as_graph_def())}
    ours = {n[0]: n for n in _grad_nodes(g.as_graph_def())}
    if hasattr(gradients_impl, "_update_pending_and_enqueue_ready"):
        # gradients_impl with the control-flow integration makes TF's guarded zeros too.
        assert ours == theirs
        return
    shared = sorted(set(ours) & set(theirs))
    assert "gradients/cond/mul/Switch_grad/cond_grad" in shared and "gradients/cond/Merge_grad/cond_grad" in shared
    for name in shared:
        if theirs[name][1] != "Merge":   # Merges differ only in the name of their zeros input
            assert ours[name] == theirs[name], name
    # Without the integration gradients() makes those zeros with ZerosLike; TF's guarded zeros
    # (control_flow_state.ZerosLike) are zeros_like_outside_loop, tested below.
    extra = {n.split("/")[1].split("_")[0] for n in theirs if n not in ours}
    assert extra == {"Identity", "Switch", "Shape", "zeros"}, extra


@pytest.mark.tf
def test_zeros_like_outside_loop_builds_tensorflows_nodes():
    from tensorflow.python.ops import control_flow_state
    with tf_v1_control_flow() as tf1:
        import tensorflow as tf
        with tf.Graph().as_default() as tg:
            x = tf1.placeholder(tf.float32, [None, 3], name="x")
            tf1.cond(tf1.placeholder(tf.bool, [], name="p"), lambda: x * 2.0, lambda: x)
            switch = tg.get_operation_by_name("cond/mul/Switch")
            before = {n.name for n in tg.as_graph_def().node}
            with tf.name_scope("grads"):
                theirs_value = control_flow_state.ZerosLike(switch, 0)
            theirs = [n for n in tg.as_graph_def().node if n.name not in before]
    with gg.Graph().as_default() as g:
        x = gg.placeholder(gg.float32, [None, 3], name="x")
        gg.cond(gg.placeholder(gg.bool, [], name="p"), lambda: x * 2.0, lambda: x)
        switch = g.get_operation_by_name("cond/mul/Switch")
        before = {n.name for n in g.as_graph_def().node}
        with gg.name_scope("grads"):
            ours_value = control_flow_grad.zeros_like_outside_loop(switch, 0)
        ours = [n for n in g.as_graph_def().node if n.name not in before]
        plain = control_flow_grad.zeros_like_outside_loop(g.get_operation_by_name("cond/Switch"), 1)
        assert plain.op.type == "ZerosLike"
        with gg.Session() as sess:
            assert sess.run(ours_value, {"x:0": np.ones((2, 3)), "p:0": False}).shape == (2, 3)
    key = lambda n: (n.name, n.op, tuple(n.input))  # noqa: E731
    assert sorted(map(key, ours)) == sorted(map(key, theirs))
    assert ours_value.name == theirs_value.name


def test_tensor_array_gradient_needs_a_gradients_scope_name():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [2])
        ta = gg.TensorArray(gg.float32, size=1).write(0, x)
        with pytest.raises(ValueError, match="start with gradients"):
            gg.gradients(gg.reduce_sum(ta.read(0)), [x], name="backprop")


def test_stack_errors():
    with gg.Graph().as_default():
        s = stack_ops.stack_v2(1, gg.float32)
        one = stack_ops.stack_push_v2(s, gg.constant(1.0))
        with gg.control_dependencies([one]):
            two = stack_ops.stack_push_v2(s, gg.constant(2.0))
        empty = stack_ops.stack_pop_v2(stack_ops.stack_v2(-1, gg.int32), gg.int32)
        with gg.Session() as sess:
            with pytest.raises(errors.InvalidArgumentError, match="overflowed its max_size \\(1\\)"):
                sess.run(two)
            with pytest.raises(errors.InvalidArgumentError, match="is empty"):
                sess.run(empty)
