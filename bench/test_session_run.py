"""Session.run of the same graph in gpugraph and in TensorFlow (tensorflow-cpu), side by side.

Graphs are built once with gpugraph's API; TensorFlow imports our GraphDef, so both run exactly the
same nodes. Targets (gpugraph / TF): MLP batch 1 <= 0.3, MLP batch 256 <= 0.9, CNN batch 32 <= 1.0.
"""

import numpy as np
import pytest

import gpugraph as gg
from conftest import register_target

register_target("mlp_784_256_256_10_b1", 0.3)
register_target("mlp_784_256_256_10_b256", 0.9)
register_target("cnn_32x32x3_b32", 1.0)


def _dense(x, n_in, n_out, rng, name, activation=True):
    with gg.variable_scope(name):
        w = gg.get_variable("kernel", initializer=rng.standard_normal((n_in, n_out)).astype(np.float32) * 0.05)
        b = gg.get_variable("bias", initializer=np.zeros(n_out, np.float32))
        y = gg.nn.bias_add(gg.matmul(x, w), b)
        return gg.nn.relu(y) if activation else y


def build_mlp():
    rng = np.random.default_rng(0)
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [None, 784], name="x")
        h = _dense(x, 784, 256, rng, "dense1")
        h = _dense(h, 256, 256, rng, "dense2")
        _dense(h, 256, 10, rng, "logits", activation=False)
        gg.global_variables_initializer()
    return g, "x:0", "logits/BiasAdd:0", "init"


def build_cnn():
    rng = np.random.default_rng(1)
    g = gg.Graph()
    with g.as_default():
        x = gg.placeholder(gg.float32, [None, 32, 32, 3], name="x")
        h = x
        for i, (c_in, c_out) in enumerate([(3, 16), (16, 32), (32, 64)]):
            with gg.variable_scope(f"conv{i}"):
                w = gg.get_variable("kernel", initializer=rng.standard_normal((3, 3, c_in, c_out)).astype(np.float32) * 0.1)
                b = gg.get_variable("bias", initializer=np.zeros(c_out, np.float32))
                h = gg.nn.relu(gg.nn.bias_add(gg.nn.conv2d(h, w, strides=[1, 1, 1, 1], padding="SAME"), b))
                h = gg.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
        flat = gg.reshape(h, [-1, 4 * 4 * 64])
        _dense(flat, 4 * 4 * 64, 10, rng, "logits", activation=False)
        gg.global_variables_initializer()
    return g, "x:0", "logits/BiasAdd:0", "init"


CASES = {
    "mlp_784_256_256_10_b1": (build_mlp, (1, 784)),
    "mlp_784_256_256_10_b256": (build_mlp, (256, 784)),
    "cnn_32x32x3_b32": (build_cnn, (32, 32, 32, 3)),
}


def _gpugraph_runner(builder, shape):
    g, x, y, init = builder()
    sess = gg.Session(graph=g)
    sess.run(g.get_operation_by_name(init))
    x_t, y_t = g.get_tensor_by_name(x), g.get_tensor_by_name(y)
    feed = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    return (lambda: sess.run(y_t, {x_t: feed})), g


def _tensorflow_runner(tf, graph, shape):
    tg = tf.Graph()
    with tg.as_default():
        tf.compat.v1.import_graph_def(
            tf.compat.v1.GraphDef.FromString(graph.as_graph_def().SerializeToString()), name="")
    sess = tf.compat.v1.Session(graph=tg)
    sess.run(tg.get_operation_by_name("init"))
    x_t, y_t = tg.get_tensor_by_name("x:0"), tg.get_tensor_by_name("logits/BiasAdd:0")
    feed = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    return lambda: sess.run(y_t, {x_t: feed})


@pytest.mark.parametrize("case", sorted(CASES))
def test_session_run_gpugraph(benchmark, case):
    builder, shape = CASES[case]
    run, _ = _gpugraph_runner(builder, shape)
    benchmark.group = case
    out = benchmark(run)
    assert out.shape == (shape[0], 10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_session_run_tensorflow(benchmark, tensorflow, case):
    builder, shape = CASES[case]
    ours, graph = _gpugraph_runner(builder, shape)
    run = _tensorflow_runner(tensorflow, graph, shape)
    benchmark.group = case
    out = benchmark(run)
    np.testing.assert_allclose(out, ours(), rtol=1e-4, atol=1e-4)  # same graph, same answer
