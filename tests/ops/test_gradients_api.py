"""``gpugraph.gradients`` behaviour: None for unconnected xs, integer tensors, StopGradient and
``stop_gradients``, AddN aggregation, gating, ``grad_ys``, custom and overridden gradient functions,
errors — and the backward graph's node names and wiring against TensorFlow's for the same program."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.ops import gradients_impl


def _run(fetches, feeds=None):
    with gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        return sess.run(fetches, feeds)


@pytest.fixture(autouse=True)
def fresh_graph():
    with gg.Graph().as_default() as g:
        yield g


def test_unconnected_and_zero_gradients():
    x = gg.placeholder(gg.float32, [3], name="x")
    z = gg.placeholder(gg.float32, [2], name="z")
    y = gg.reduce_sum(x * 2.0)
    assert gg.gradients(y, [x, z])[1] is None
    dx, dz = gg.gradients(y, [x, z], unconnected_gradients="zero")
    out = _run([dx, dz], {x: [1, 2, 3]})
    np.testing.assert_array_equal(out[0], [2, 2, 2])
    np.testing.assert_array_equal(out[1], [0, 0])
    with pytest.raises(ValueError, match="unconnected_gradients"):
        gg.gradients(y, [x], unconnected_gradients="ones")


def test_integer_paths_get_no_gradient():
    i = gg.placeholder(gg.int32, [3], name="i")
    x = gg.placeholder(gg.float32, [3], name="x")
    y = gg.reduce_sum(gg.cast(i, gg.float32) * x)
    di, dx = gg.gradients(y, [i, x])
    assert di is None
    np.testing.assert_array_equal(_run(dx, {i: [1, 2, 3], x: [0, 0, 0]}), [1, 2, 3])


def test_stop_gradient_and_stop_gradients_argument():
    x = gg.placeholder(gg.float32, [], name="x")
    a = x * 3.0
    b = gg.stop_gradient(x * 5.0)
    y = a * a + b
    (dx,) = gg.gradients(y, [x])
    assert _run(dx, {x: 2.0}) == pytest.approx(36.0)  # d(9x^2)/dx
    dx_stopped, da = gg.gradients(y, [x, a], stop_gradients=[a])
    assert dx_stopped is None  # the only path to x goes through the held-constant a
    assert _run(da, {x: 2.0}) == pytest.approx(12.0)


def test_multiple_paths_sum_with_add_n_named_like_tensorflow(fresh_graph):
    x = gg.placeholder(gg.float32, [2], name="x")
    y = gg.reduce_sum(gg.exp(x) + gg.square(x) + x)
    (dx,) = gg.gradients(y, [x])
    assert dx.op.type == "AddN" and dx.op.name == "gradients/AddN"
    assert len(dx.op.inputs) == 3
    xv = np.array([0.5, -1.0], np.float32)
    np.testing.assert_allclose(_run(dx, {x: xv}), np.exp(xv) + 2 * xv + 1, rtol=1e-6)
    (dx_tree,) = gg.gradients(y, [x], aggregation_method=gg.AggregationMethod.EXPERIMENTAL_TREE)
    assert dx_tree.op.name.startswith("gradients_1/x_gradient_sum/AddN")
    np.testing.assert_allclose(_run(dx_tree, {x: xv}), np.exp(xv) + 2 * xv + 1, rtol=1e-6)
    with pytest.raises(ValueError, match="aggregation_method"):
        gg.gradients(y, [x], aggregation_method=7)


def test_multiple_ys_and_grad_ys():
    x = gg.placeholder(gg.float32, [2], name="x")
    y1, y2 = x * 2.0, x * x
    (dx,) = gg.gradients([y1, y2], [x], grad_ys=[gg.constant([1.0, 0.0]), [0.5, 2.0]])
    np.testing.assert_allclose(_run(dx, {x: [3.0, 4.0]}), [2 + 0.5 * 6, 2 * 8], rtol=1e-6)
    with pytest.raises(ValueError, match="Passed 1 grad_ys for 2 ys"):
        gg.gradients([y1, y2], [x], grad_ys=[gg.constant([1.0, 1.0])])
    c = gg.cast(x, gg.complex64)
    with pytest.raises(TypeError, match="must set grad_ys"):
        gg.gradients(c, [x])
    with pytest.raises(TypeError, match="must be real or integer"):
        gg.gradients(y1, [x], grad_ys=gg.constant([True, False]))


def test_gate_gradients_builds_tuple_like_tensorflow():
    a = gg.placeholder(gg.float32, [2, 3], name="a")
    b = gg.placeholder(gg.float32, [3, 4], name="b")
    y = gg.matmul(a, b)
    da, db = gg.gradients(y, [a, b], gate_gradients=True)
    assert da.op.name == "gradients/MatMul_grad/tuple/control_dependency"
    assert db.op.name == "gradients/MatMul_grad/tuple/control_dependency_1"
    gate = da.op.control_inputs[0]
    assert gate.name == "gradients/MatMul_grad/tuple/group_deps" and gate.type == "NoOp"
    assert [c.name for c in gate.control_inputs] == ["gradients/MatMul_grad/MatMul", "gradients/MatMul_grad/MatMul_1"]
    assert da.op.get_attr("_class") == [b"loc:@gradients/MatMul_grad/MatMul"]


def test_colocate_gradients_with_ops_and_gate_graph():
    with gg.device("/cpu:0"):
        a = gg.placeholder(gg.float32, [2], name="a")
        y = gg.reduce_sum(gg.exp(a))
    (da,) = gg.gradients(y, [a], colocate_gradients_with_ops=True)
    assert da.op.get_attr("_class") == [b"loc:@Exp"]
    b = gg.Variable([1.0, 2.0], name="b")
    opt = gg.train.GradientDescentOptimizer(1.0)
    (gb, _), = opt.compute_gradients(gg.reduce_sum(b * b), var_list=[b],
                                     gate_gradients=gg.train.Optimizer.GATE_GRAPH)
    np.testing.assert_array_equal(_run(gb), [2.0, 4.0])


def test_ref_and_resource_variables_are_differentiated_like_tensorflow():
    w = gg.Variable([[1.0, 2.0]], name="w")
    r = gg.Variable([[3.0, 4.0]], name="r", use_resource=True)
    y = gg.reduce_sum(w * r)
    dw, dr = gg.gradients(y, [w, r])
    # Ref variables are differentiated through their ref tensor (w:0 feeds w/read), resource ones
    # through the handle (ReadVariableOp's gradient passes straight through).
    assert dw.op.name.startswith("gradients/")
    out = _run([dw, dr])
    np.testing.assert_array_equal(out[0], [[3.0, 4.0]])
    np.testing.assert_array_equal(out[1], [[1.0, 2.0]])


def test_custom_gradient_registration_and_override():
    @gg.RegisterGradient("GGTestDoubleGrad")
    def _double(op, grad):
        return grad * 2.0

    with pytest.raises(KeyError, match="Registering two gradient"):
        gg.RegisterGradient("GGTestDoubleGrad")(_double)
    x = gg.placeholder(gg.float32, [2], name="x")
    y = gg.identity(x)
    # What Graph.gradient_override_map records on ops built inside it (the _gradient_op_type attr).
    y.op._set_attr("_gradient_op_type", gg.AttrValue(s=b"GGTestDoubleGrad"))
    (dx,) = gg.gradients(gg.reduce_sum(y), [x])
    np.testing.assert_array_equal(_run(dx, {x: [1.0, 1.0]}), [2.0, 2.0])


def test_not_differentiable_and_missing_gradients():
    gg.NotDifferentiable("GGTestNoGrad")
    x = gg.placeholder(gg.float32, [2], name="x")
    y = gg.identity(x)
    y.op._set_attr("_gradient_op_type", gg.AttrValue(s=b"GGTestNoGrad"))
    assert gg.gradients(gg.reduce_sum(y), [x]) == [None]
    z = gg.identity(x)
    z.op._set_attr("_gradient_op_type", gg.AttrValue(s=b"GGTestUnknownOp"))
    with pytest.raises(LookupError, match="No gradient defined for operation 'Identity_1'"):
        gg.gradients(gg.reduce_sum(z), [x])
    assert gradients_impl.get_gradient_function(gg.constant(1.0).op) is None


def test_unused_float_output_gets_zeros_like():
    x = gg.placeholder(gg.float32, [2, 3], name="x")
    parts = gg.split(x, 3, axis=1)
    (dx,) = gg.gradients(gg.reduce_sum(parts[1]), [x])
    zeros = [op for op in gg.get_default_graph().get_operations() if op.type == "ZerosLike"]
    assert len(zeros) == 2 and zeros[0].name == "gradients/zeros_like"
    np.testing.assert_array_equal(_run(dx, {x: np.ones((2, 3))}), [[0, 1, 0], [0, 1, 0]])


def test_incompatible_gradient_shape_is_reported():
    @gg.RegisterGradient("GGTestBadShapeGrad")
    def _bad(op, grad):
        return gg.constant([1.0, 2.0, 3.0])

    x = gg.placeholder(gg.float32, [2], name="x")
    y = gg.identity(x)
    y.op._set_attr("_gradient_op_type", gg.AttrValue(s=b"GGTestBadShapeGrad"))
    with pytest.raises(ValueError, match="Incompatible shapes between op input and calculated input gradient"):
        gg.gradients(gg.reduce_sum(y), [x])


def _mlp_program(tf, get_variable, gradients):
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    y = tf.placeholder(tf.float32, [None, 3], name="y")
    with tf.variable_scope("dense"):
        w = get_variable("kernel", [4, 5])
        b = get_variable("bias", [5])
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b))
    with tf.variable_scope("out"):
        w2 = get_variable("kernel", [5, 3])
    logits = tf.matmul(h, w2) + 1.0
    loss = tf.reduce_mean(tf.square(logits - y)) + tf.reduce_sum(tf.tanh(h) * tf.sigmoid(h))
    gradients(loss, [w, b, w2], gate_gradients=True)


def _gradient_nodes(graph_def):
    """(name, op, data inputs, control inputs) of the backward nodes. Control inputs are compared as
    sets without the ones that duplicate a data input: TensorFlow sorts them by name when it
    serialises and drops a control dependency on an op that is already a data input."""
    nodes = []
    for n in graph_def.node:
        if not n.name.startswith("gradients/"):
            continue
        data = tuple(i for i in n.input if not i.startswith("^"))
        sources = {i.split(":")[0] for i in data}
        control = tuple(sorted(i for i in n.input if i.startswith("^") and i[1:] not in sources))
        nodes.append((n.name, n.op, data, control))
    return sorted(nodes)


@pytest.mark.tf
def test_backward_graph_layout_matches_tensorflow():
    import tensorflow as tf
    tf1 = tf.compat.v1
    tg = tf.Graph()
    with tg.as_default():
        _mlp_program(tf1, lambda n, s: tf1.get_variable(n, s, use_resource=False), tf1.gradients)
    with gg.Graph().as_default() as g:
        _mlp_program(gg, lambda n, s: gg.get_variable(n, s), gg.gradients)
    ours = _gradient_nodes(g.as_graph_def())
    theirs = _gradient_nodes(tf1.GraphDef.FromString(tg.as_graph_def().SerializeToString()))
    assert [n[:2] for n in ours] == [n[:2] for n in theirs]
    assert ours == theirs


def test_gradient_override_map_uses_the_mapped_gradient():
    @gg.RegisterGradient("GGTestTripleGrad")
    def _triple(op, grad):
        return grad * 3.0

    with gg.Graph().as_default() as g:
        x = gg.placeholder(gg.float32, [2], name="x")
        with g.gradient_override_map({"Identity": "GGTestTripleGrad"}):
            y = gg.identity(x)
        z = gg.identity(y)  # outside the block: the normal Identity gradient
        assert y.op.get_attr("_gradient_op_type") == b"GGTestTripleGrad"
        (dx,) = gg.gradients(gg.reduce_sum(z), [x])
        with gg.Session() as sess:
            np.testing.assert_array_equal(sess.run(dx, {x: [1.0, 1.0]}), [3.0, 3.0])
