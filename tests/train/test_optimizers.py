"""The ``tf.compat.v1.train`` optimizers: N steps in gpugraph against TensorFlow running our exported
graph from the same initial values; slot names and update-op layout against TensorFlow's for the
same Python program; the Optimizer API; global step helpers and learning-rate schedules."""

import numpy as np
import pytest

import gpugraph as gg

rng = np.random.default_rng(17)
W1 = rng.standard_normal((6, 8)).astype(np.float32) * 0.4
W2 = rng.standard_normal((8, 3)).astype(np.float32) * 0.4
X = rng.standard_normal((12, 6)).astype(np.float32)
Y = rng.integers(0, 3, 12).astype(np.int64)
STEPS = 6

OPTIMIZERS = {
    "gd": lambda t: t.train.GradientDescentOptimizer(0.2),
    "momentum": lambda t: t.train.MomentumOptimizer(0.1, 0.9),
    "nesterov": lambda t: t.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "adam": lambda t: t.train.AdamOptimizer(0.02),
    "adagrad": lambda t: t.train.AdagradOptimizer(0.3, initial_accumulator_value=0.2),
    "rmsprop": lambda t: t.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5),
    "rmsprop_centered": lambda t: t.train.RMSPropOptimizer(0.01, momentum=0.3, centered=True, epsilon=1e-6),
}


def _mlp(resource, make_optimizer):
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [None, 6], name="x")
        y = gg.placeholder(gg.int64, [None], name="y")
        with gg.variable_scope("dense1"):
            w1 = gg.get_variable("kernel", initializer=W1, use_resource=resource)
            b1 = gg.get_variable("bias", initializer=np.zeros(8, np.float32), use_resource=resource)
        with gg.variable_scope("dense2"):
            w2 = gg.get_variable("kernel", initializer=W2, use_resource=resource)
        logits = gg.matmul(gg.nn.relu(gg.nn.bias_add(gg.matmul(x, w1), b1)), w2)
        loss = gg.losses.sparse_softmax_cross_entropy(y, logits)
        opt = make_optimizer(gg)
        train = opt.minimize(loss, global_step=gg.train.get_or_create_global_step())
        gg.global_variables_initializer()
    return g, opt, train, loss


def _state_names(g):
    return [v.op.name for v in g.get_collection(gg.GraphKeys.GLOBAL_VARIABLES)]


def _read_all(run, names, resource):
    return {n: run(n + ("/Read/ReadVariableOp:0" if resource and n != "global_step" else ":0")) for n in names}


@pytest.mark.tf
@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
@pytest.mark.parametrize("which", sorted(OPTIMIZERS))
def test_steps_match_tensorflow_on_our_graph(tf, which, resource):
    g, opt, train, loss = _mlp(resource, OPTIMIZERS[which])
    names = _state_names(g)
    feeds = {"x:0": X, "y:0": Y}
    with gg.Session(graph=g) as sess:
        sess.run("init")
        losses = [sess.run([train, loss], feeds)[1] for _ in range(STEPS)]
        ours = _read_all(lambda t: sess.run(t), names, resource)
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(g.as_graph_def().SerializeToString()), name="")
    with tf.compat.v1.Session(graph=tg) as sess:
        sess.run("init")
        tf_losses = [sess.run([train.name, loss.name], feeds)[1] for _ in range(STEPS)]
        theirs = _read_all(lambda t: sess.run(t), names, resource)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, tf_losses, rtol=1e-5)
    assert ours["global_step"] == STEPS
    for name in names:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, atol=1e-6, err_msg=name)


def _program(t, tf_get_variable, make_optimizer):
    x = t.placeholder(t.float32, [None, 6], name="x")
    y = t.placeholder(t.int64, [None], name="y")
    with t.variable_scope("dense1"):
        w1 = tf_get_variable("kernel", [6, 8])
        b1 = tf_get_variable("bias", [8])
    with t.variable_scope("dense2"):
        w2 = tf_get_variable("kernel", [8, 3])
    logits = t.matmul(t.nn.relu(t.nn.bias_add(t.matmul(x, w1), b1)), w2)
    loss = t.losses.sparse_softmax_cross_entropy(y, logits)
    step = tf_get_variable("global_step", [], t.int64, collections=[t.GraphKeys.GLOBAL_VARIABLES,
                                                                     t.GraphKeys.GLOBAL_STEP], trainable=False)
    opt = make_optimizer(t)
    return opt, opt.minimize(loss, global_step=step)


def _optimizer_nodes(graph_def, opt_name):
    """The optimizer's part of a graph: its scope, slot and non-slot variables (name, op, inputs)."""
    keep = []
    for n in graph_def.node:
        if n.name.startswith(opt_name + "/") or n.name == opt_name or f"/{opt_name}" in n.name \
                or n.name.startswith("beta") or "/read" in n.name and "/" + opt_name in n.name:
            if "/Initializer/" in n.name:
                continue  # initializer internals belong to init_ops
            data = tuple(i for i in n.input if not i.startswith("^"))
            control = tuple(sorted(i for i in n.input if i.startswith("^")))
            keep.append((n.name, n.op, data, control))
    return sorted(keep)


@pytest.mark.tf
@pytest.mark.parametrize("which", sorted(OPTIMIZERS))
def test_slot_names_and_update_layout_match_tensorflow(tf, which):
    tf1 = tf.compat.v1
    tg = tf.Graph()
    with tg.as_default():
        tf_opt, tf_train = _program(tf1, lambda n, s, d=tf.float32, **kw: tf1.get_variable(
            n, s, d, use_resource=False, **kw), OPTIMIZERS[which])
        tf_names = sorted(v.op.name for v in tf1.global_variables())
        tf_slots = tf_opt.get_slot_names()
        tf_opt_vars = [v.op.name for v in tf_opt.variables()]
    with gg.Graph().as_default() as g:
        opt, train = _program(gg, lambda n, s, d=gg.float32, **kw: gg.get_variable(n, s, d, **kw),
                              OPTIMIZERS[which])
        names = sorted(v.op.name for v in gg.global_variables())
        assert opt.get_slot_names() == tf_slots
        assert [v.op.name for v in opt.variables()] == tf_opt_vars
        assert g.get_collection(gg.GraphKeys.TRAIN_OP) == [train]
    assert names == tf_names
    assert train.name == tf_train.name and train.type == tf_train.type
    name = opt.get_name()
    ours = _optimizer_nodes(g.as_graph_def(), name)
    theirs = _optimizer_nodes(tf1.GraphDef.FromString(tg.as_graph_def().SerializeToString()), name)
    assert ours == theirs


def test_optimizer_api():
    g, opt, train, _ = _mlp(False, OPTIMIZERS["adam"])
    with g.as_default():
        w1 = g.get_collection(gg.GraphKeys.TRAINABLE_VARIABLES)[0]
        assert opt.get_slot_names() == ["m", "v"]
        assert opt.get_slot(w1, "m").op.name == "dense1/kernel/Adam"
        assert opt.get_slot(w1, "v").op.name == "dense1/kernel/Adam_1"
        assert opt.get_slot(w1, "nope") is None
        assert [v.op.name for v in opt.variables()][:2] == ["beta1_power", "beta2_power"]
        assert opt.get_slot(w1, "m").op.get_attr("_class") == [b"loc:@dense1/kernel"]
        assert train.type == "AssignAdd" and train.name == "Adam"
        # As in TF, the increment's Const input carries the dependency on the update group.
        assert train.inputs[1].op.name == "Adam/value"
        assert [c.name for c in train.inputs[1].op.control_inputs] == ["Adam/update"]


def test_compute_and_apply_gradients_pieces():
    with gg.Graph().as_default():
        a = gg.Variable(2.0, name="a")
        b = gg.Variable(3.0, name="b")
        unused = gg.Variable(1.0, name="unused")
        loss = a * a + 3.0 * b
        opt = gg.train.GradientDescentOptimizer(lambda: 0.5)
        gv = opt.compute_gradients(loss)
        assert [v for _, v in gv] == [a, b, unused] and gv[2][0] is None
        gv2 = opt.compute_gradients(loss, var_list=[b], gate_gradients=gg.train.Optimizer.GATE_GRAPH,
                                    grad_loss=gg.constant(2.0))
        step = opt.apply_gradients(gv, name="step")
        assert step.name == "step" and step.type == "NoOp"
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            assert sess.run(gv2[0][0]) == pytest.approx(6.0)
            sess.run(step)
            assert sess.run([a, b, unused]) == pytest.approx([0.0, 1.5, 1.0])
        with pytest.raises(ValueError, match="No gradients provided for any variable"):
            opt.minimize(gg.constant(1.0) * 2.0, var_list=[a])
        with pytest.raises(ValueError, match="No variables provided"):
            opt.apply_gradients([])
        with pytest.raises(ValueError, match="gate_gradients must be one of"):
            opt.compute_gradients(loss, gate_gradients=5)
        with pytest.raises(ValueError, match="Invalid type int32"):
            opt.compute_gradients(gg.constant(1) * 2)
        with pytest.raises(ValueError, match="initial_accumulator_value must be positive"):
            gg.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)


def test_global_step_helpers():
    with gg.Graph().as_default() as g:
        assert gg.train.get_global_step() is None
        step = gg.train.get_or_create_global_step()
        assert step.op.name == "global_step" and step.dtype.base_dtype == gg.int64
        assert gg.train.get_global_step() is step and gg.train.get_or_create_global_step() is step
        assert g.get_collection(gg.GraphKeys.GLOBAL_STEP) == [step]
        with pytest.raises(ValueError, match="already exists"):
            gg.train.create_global_step()
        with gg.Session() as sess:
            sess.run(step.initializer)
            assert gg.train.global_step(sess, step) == 0
    with gg.Graph().as_default() as g:
        gg.Variable(0, name="global_step", dtype=gg.int64)  # found by name when the collection is empty
        assert gg.train.get_global_step().name == "global_step:0"
    with gg.Graph().as_default():
        gg.Variable(1.5, name="global_step")
        with pytest.raises(TypeError, match="does not have integer type"):
            gg.train.get_global_step()


def _schedules(t, step):
    return [
        t.train.exponential_decay(0.1, step, 10, 0.5),
        t.train.exponential_decay(0.1, step, 10, 0.5, staircase=True),
        t.train.piecewise_constant(step, [5, 15], [1.0, 0.5, 0.1]),
        t.train.inverse_time_decay(0.2, step, 4, 0.5, staircase=True),
        t.train.natural_exp_decay(0.2, step, 4, 0.3),
        t.train.polynomial_decay(0.1, step, 20, end_learning_rate=0.01, power=0.5),
        t.train.polynomial_decay(0.1, step, 8, end_learning_rate=0.01, cycle=True),
    ]


@pytest.mark.tf
def test_learning_rate_schedules_match_tensorflow(tf):
    steps = [0, 1, 5, 6, 14, 15, 16, 25, 40]
    tg = tf.Graph()
    with tg.as_default():
        t_step = tf.compat.v1.placeholder(tf.int64, [], name="step")
        t_out = _schedules(tf.compat.v1, t_step)
    with gg.Graph().as_default() as g:
        step = gg.placeholder(gg.int64, [], name="step")
        out = _schedules(gg, step)
    with gg.Session(graph=g) as sess, tf.compat.v1.Session(graph=tg) as tsess:
        for s in steps:
            ours = sess.run(out, {step: s})
            theirs = tsess.run(t_out, {t_step: s})
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=f"step {s}")
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match="global_step is required"):
            gg.train.exponential_decay(0.1, None, 10, 0.5)
        with pytest.raises(ValueError, match="1 less than"):
            gg.train.piecewise_constant(gg.constant(1), [1, 2], [0.1])
        with pytest.raises(ValueError, match="same dtype as x"):
            gg.train.piecewise_constant(gg.constant(1, gg.int64), [1.5], [0.1, 0.2])


def test_decayed_learning_rate_drives_the_optimizer():
    with gg.Graph().as_default():
        w = gg.Variable(0.0, name="w")
        step = gg.train.get_or_create_global_step()
        lr = gg.train.piecewise_constant(step, [2], [1.0, 0.1])
        train = gg.train.GradientDescentOptimizer(lr).minimize(-w, global_step=step)
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            for _ in range(4):
                sess.run(train)
            assert sess.run(w) == pytest.approx(1.0 + 1.0 + 1.0 + 0.1)


@pytest.mark.tf
def test_cnn_training_matches_tensorflow(tf):
    """Conv2D, FusedBatchNorm, MaxPool, AvgPool, depthwise conv, dense layer, Momentum: 4 steps."""
    rs = np.random.RandomState(5)
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [4, 8, 8, 3], name="x")
        y = gg.placeholder(gg.int64, [4], name="y")
        w1 = gg.Variable(rs.standard_normal((3, 3, 3, 6)).astype(np.float32) * 0.3, name="conv1")
        h = gg.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME")
        h, _, _ = gg.nn.fused_batch_norm(h, gg.Variable(np.ones(6, np.float32), name="gamma"),
                                         gg.Variable(np.zeros(6, np.float32), name="beta"))
        h = gg.nn.max_pool(gg.nn.relu(h), [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
        dw = gg.Variable(rs.standard_normal((3, 3, 6, 2)).astype(np.float32) * 0.3, name="depthwise")
        h = gg.nn.avg_pool(gg.nn.depthwise_conv2d(h, dw, [1, 1, 1, 1], "SAME"), [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
        wd = gg.Variable(rs.standard_normal((2 * 2 * 12, 5)).astype(np.float32) * 0.3, name="dense")
        logits = gg.matmul(gg.reshape(h, [4, -1]), wd)
        loss = gg.losses.sparse_softmax_cross_entropy(y, logits)
        train = gg.train.MomentumOptimizer(0.05, 0.9).minimize(loss)
        gg.global_variables_initializer()
    feeds = {"x:0": rs.standard_normal((4, 8, 8, 3)).astype(np.float32), "y:0": np.array([0, 3, 4, 1])}
    names = _state_names(g)
    with gg.Session(graph=g) as sess:
        sess.run("init")
        for _ in range(4):
            sess.run(train, feeds)
        ours = {n: sess.run(n + ":0") for n in names}
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(g.as_graph_def().SerializeToString()), name="")
    with tf.compat.v1.Session(graph=tg) as sess:
        sess.run("init")
        for _ in range(4):
            sess.run(train.name, feeds)
        for n in names:
            np.testing.assert_allclose(ours[n], sess.run(n + ":0"), rtol=1e-4, atol=1e-5, err_msg=n)
