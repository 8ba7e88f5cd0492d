"""One training step (forward, backward, Adam update) of a 64-128-10 MLP at batch 64, in gpugraph and in
TensorFlow (tensorflow-cpu) running the very same GraphDef we built. Target (gpugraph / TF): <= 0.5.

Both sides start from the same initial values and take the same number of steps (warm-up included),
so after the timed runs the weights still agree — checked at the end of the TensorFlow benchmark.
"""

import numpy as np

import gpugraph as gg
from conftest import register_target

GROUP = "train_step_adam_mlp_64_128_10_b64"
register_target(GROUP, 0.5)


def build():
    rng = np.random.default_rng(0)
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [64, 64], name="x")
        y = gg.placeholder(gg.int64, [64], name="y")
        with gg.variable_scope("dense1"):
            w1 = gg.get_variable("kernel", initializer=rng.standard_normal((64, 128)).astype(np.float32) * 0.1)
            b1 = gg.get_variable("bias", initializer=np.zeros(128, np.float32))
        with gg.variable_scope("dense2"):
            w2 = gg.get_variable("kernel", initializer=rng.standard_normal((128, 10)).astype(np.float32) * 0.1)
            b2 = gg.get_variable("bias", initializer=np.zeros(10, np.float32))
        h = gg.nn.relu(gg.nn.bias_add(gg.matmul(x, w1), b1))
        logits = gg.nn.bias_add(gg.matmul(h, w2), b2)
        loss = gg.losses.sparse_softmax_cross_entropy(y, logits)
        train = gg.train.AdamOptimizer(1e-3).minimize(loss, global_step=gg.train.get_or_create_global_step())
        gg.global_variables_initializer()
    return g, train.name


def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((64, 64)).astype(np.float32), rng.integers(0, 10, 64).astype(np.int64)


def test_train_step_gpugraph(benchmark):
    g, train = build()
    sess = gg.Session(graph=g)
    sess.run("init")
    xv, yv = data()
    step = sess.make_callable(g.get_operation_by_name(train), [g.get_tensor_by_name("x:0"),
                                                                g.get_tensor_by_name("y:0")])
    benchmark.group = GROUP
    benchmark(step, xv, yv)
    assert sess.run("global_step:0") > 1


def test_train_step_tensorflow(benchmark, tensorflow):
    tf = tensorflow
    g, train = build()
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(g.as_graph_def().SerializeToString()), name="")
    sess = tf.compat.v1.Session(graph=tg)
    sess.run("init")
    xv, yv = data()
    step = sess.make_callable(tg.get_operation_by_name(train), [tg.get_tensor_by_name("x:0"),
                                                                 tg.get_tensor_by_name("y:0")])
    benchmark.group = GROUP
    benchmark(step, xv, yv)
    steps = int(sess.run("global_step:0"))
    # Same graph, same number of steps from the same start: the weights agree.
    ours = gg.Session(graph=g)
    ours.run("init")
    for _ in range(steps):
        ours.run(train, {"x:0": xv, "y:0": yv})
    np.testing.assert_allclose(ours.run("dense1/kernel:0"), sess.run("dense1/kernel:0"), rtol=1e-4, atol=1e-5)
