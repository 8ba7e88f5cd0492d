"""``gpugraph.layers`` (tf.compat.v1.layers): variable names/shapes and outputs against TensorFlow's,
reuse semantics, dropout, and argument errors.

The reference is TensorFlow's own legacy layers (``tf.compat.v1.layers``), which TensorFlow 2.16+
serves from the ``tf_keras`` package.
"""

import numpy as np
import pytest

import gpugraph as gg

# -- the TensorFlow reference -------------------------------------------------------------------------


def _tf():
    import tensorflow as tf
    return tf


def _tf_layers():
    """TF's own ``tf.compat.v1.layers``: TensorFlow 2.16+ serves them from the ``tf_keras`` package,
    which ``make test`` installs beside tensorflow-cpu."""
    from tf_keras.api._v1.keras.__internal__.legacy import layers
    return layers


def _run_ours(build, feeds):
    """Builds ``build()`` in a fresh gpugraph graph; returns (outputs, {var name: value}, var shapes)."""
    with gg.Graph().as_default():
        placeholders = [gg.placeholder(gg.float32, shape=list(v.shape)) for v in feeds]
        out = build(gg.layers, gg, *placeholders)
        variables = gg.trainable_variables()
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            values = sess.run(out, dict(zip(placeholders, feeds)))
            weights = dict(zip([v.name for v in variables], sess.run(variables)))
    return values, weights


def _run_tf(build, feeds, weights):
    """Builds the same layers in TF, assigns ``weights`` by name and runs them on ``feeds``."""
    tf = _tf()
    with tf.Graph().as_default():
        placeholders = [tf.compat.v1.placeholder(tf.float32, shape=v.shape) for v in feeds]
        out = build(_tf_layers(), tf, *placeholders)
        variables = tf.compat.v1.trainable_variables()
        assert sorted(v.name for v in variables) == sorted(weights)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run([tf.compat.v1.assign(v, weights[v.name]) for v in variables])
            return sess.run(out, dict(zip(placeholders, feeds)))


def _variable_specs(build, framework, layers, shapes):
    v1 = framework if framework is gg else framework.compat.v1
    with framework.Graph().as_default():
        inputs = [v1.placeholder(framework.float32, shape=s) for s in shapes]
        build(layers, framework, *inputs)
        return [(v.name, v.shape.as_list()) for v in v1.trainable_variables()]


def _rng(seed=0):
    return np.random.default_rng(seed)


# -- (1) variable names and shapes ----------------------------------------------------------------------
def _stack(L, F, x, img):
    h = L.dense(x, 7, activation=F.nn.relu)
    h = L.dense(h, 3)
    h = L.dense(h, 3, name="logits")
    c = L.conv2d(img, 4, 3)
    c = L.conv2d(c, 5, (2, 3), strides=2, padding="same")
    c = L.max_pooling2d(c, 2, 2, padding="same")
    c = L.conv2d(c, 2, 1, name="proj")
    return h, L.flatten(c)


@pytest.mark.tf
def test_variable_names_and_shapes_match_tensorflow():
    tf = _tf()
    shapes = [[None, 5], [2, 9, 9, 3]]
    ours = _variable_specs(_stack, gg, gg.layers, shapes)
    theirs = _variable_specs(_stack, tf, _tf_layers(), shapes)
    assert ours == theirs
    assert [n for n, _ in ours] == [
        "dense/kernel:0", "dense/bias:0", "dense_1/kernel:0", "dense_1/bias:0", "logits/kernel:0",
        "logits/bias:0", "conv2d/kernel:0", "conv2d/bias:0", "conv2d_1/kernel:0", "conv2d_1/bias:0",
        "proj/kernel:0", "proj/bias:0"]


# -- (2) outputs with the same weights ------------------------------------------------------------------
OUTPUT_CASES = {
    "dense_2d_relu": (lambda L, F, x: L.dense(x, 6, activation=F.nn.relu), [(4, 5)]),
    "dense_3d": (lambda L, F, x: L.dense(x, 3), [(2, 4, 5)]),
    "dense_4d_relu_no_bias": (lambda L, F, x: L.dense(x, 3, activation=F.nn.relu, use_bias=False),
                              [(2, 3, 2, 5)]),
    "conv2d_valid": (lambda L, F, x: L.conv2d(x, 4, 3, activation=F.nn.relu), [(2, 7, 8, 3)]),
    "conv2d_same_stride2": (lambda L, F, x: L.conv2d(x, 5, (3, 2), strides=2, padding="same"),
                            [(2, 9, 8, 3)]),
    "conv2d_valid_stride2": (lambda L, F, x: L.conv2d(x, 2, 3, strides=(2, 2), padding="VALID"),
                             [(1, 9, 10, 4)]),
    "max_pool_valid": (lambda L, F, x: L.max_pooling2d(x, 3, 2), [(2, 9, 8, 3)]),
    "max_pool_same": (lambda L, F, x: L.max_pooling2d(x, (2, 3), (2, 2), padding="same"),
                      [(2, 7, 8, 3)]),
    "avg_pool_valid": (lambda L, F, x: L.average_pooling2d(x, 2, 2), [(2, 8, 8, 3)]),
    "avg_pool_same": (lambda L, F, x: L.average_pooling2d(x, 3, 2, padding="same"), [(2, 7, 9, 2)]),
    "flatten": (lambda L, F, x: L.flatten(x), [(3, 2, 4, 5)]),
    "dropout_eval": (lambda L, F, x: L.dropout(x, 0.4, training=False), [(3, 5)]),
    "mlp": (lambda L, F, x: L.dense(L.dropout(L.flatten(L.max_pooling2d(
        L.conv2d(x, 3, 3, padding="same", activation=F.nn.relu), 2, 2)), 0.3), 4), [(2, 6, 6, 2)]),
}


@pytest.mark.tf
@pytest.mark.parametrize("case", sorted(OUTPUT_CASES))
def test_outputs_match_tensorflow(case):
    build, shapes = OUTPUT_CASES[case]
    feeds = [_rng(1).standard_normal(s).astype(np.float32) for s in shapes]
    ours, weights = _run_ours(build, feeds)
    theirs = _run_tf(build, feeds, weights)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_dense_3d_keeps_static_and_dynamic_shapes():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None, None, 4])
        y = gg.layers.dense(x, 3)
        assert y.shape.as_list() == [None, None, 3]
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            assert sess.run(y, {x: np.ones([2, 5, 4], np.float32)}).shape == (2, 5, 3)


def test_conv2d_channels_first_equals_channels_last():
    img = _rng(2).standard_normal((2, 7, 6, 3)).astype(np.float32)
    with gg.Graph().as_default():
        last = gg.layers.conv2d(img, 4, 3, strides=2, padding="same")
        first = gg.layers.conv2d(np.transpose(img, (0, 3, 1, 2)), 4, 3, strides=2, padding="same",
                                 data_format="channels_first", name="conv2d", reuse=True)
        pooled = gg.layers.max_pooling2d(first, 2, 1, data_format="channels_first")
        pooled_last = gg.layers.max_pooling2d(last, 2, 1)
        flat = gg.layers.flatten(first, data_format="channels_first")
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            a, b, p, q, f = sess.run([last, first, pooled, pooled_last, flat])
    np.testing.assert_allclose(np.transpose(b, (0, 2, 3, 1)), a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.transpose(p, (0, 2, 3, 1)), q, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f, a.reshape(2, -1), rtol=1e-5, atol=1e-6)


def test_initializers_and_trainable():
    with gg.Graph().as_default():
        gg.layers.dense(gg.zeros([2, 3]), 4, kernel_initializer=gg.ones_initializer(),
                        bias_initializer=gg.constant_initializer(0.5), trainable=False)
        assert gg.trainable_variables() == []
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            k, b = sess.run(gg.global_variables())
    np.testing.assert_array_equal(k, np.ones([3, 4], np.float32))
    np.testing.assert_array_equal(b, np.full([4], 0.5, np.float32))


def test_regularizers_add_losses():
    with gg.Graph().as_default():
        y = gg.layers.dense(gg.ones([2, 3]), 4, kernel_initializer=gg.ones_initializer(),
                            kernel_regularizer=lambda w: gg.reduce_sum(w),
                            activity_regularizer=lambda t: gg.reduce_sum(t))
        losses = gg.get_collection(gg.GraphKeys.REGULARIZATION_LOSSES)
        assert len(losses) == 2
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            values = sess.run(losses)
    # kernel: 12 ones; activity: sum(outputs) / batch = (2 * 4 * 3) / 2.
    assert values == [12.0, 12.0]
    assert y.shape.as_list() == [2, 4]


# -- dropout in training --------------------------------------------------------------------------------
def _dropout_values(training_value, seed=7, noise_shape=None, rate=0.25, runs=1):
    x = np.ones([200, 50], np.float32)
    with gg.Graph().as_default():
        gg.set_random_seed(3)
        training = gg.placeholder(gg.bool, []) if training_value is not None else True
        y = gg.layers.dropout(x, rate=rate, noise_shape=noise_shape, seed=seed, training=training)
        feed = {training: training_value} if training_value is not None else None
        with gg.Session() as sess:
            return y, [sess.run(y, feed) for _ in range(runs)]


def test_dropout_training_scales_and_drops():
    y, (values,) = _dropout_values(None)
    assert y.shape.as_list() == [200, 50]
    kept = values != 0
    np.testing.assert_allclose(values[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02          # 10k draws: std of the mean ~0.004
    assert abs(values.mean() - 1.0) < 0.03


def test_dropout_is_deterministic_with_seeds():
    _, first = _dropout_values(None, runs=2)
    _, again = _dropout_values(None, runs=2)
    np.testing.assert_array_equal(first[0], again[0])      # same graph seeds → same sequence
    np.testing.assert_array_equal(first[1], again[1])
    assert (first[0] != first[1]).any()                    # successive runs draw fresh masks
    _, other = _dropout_values(None, seed=8)
    assert (other[0] != first[0]).any()


def test_dropout_noise_shape_broadcasts_mask():
    _, (values,) = _dropout_values(None, noise_shape=[1, 50])
    assert (values == values[:1]).all()                   # one mask row for every example
    _, (values,) = _dropout_values(None, noise_shape=[None, 1])
    assert (values == values[:, :1]).all()


def test_dropout_training_tensor_uses_cond():
    _, (on,) = _dropout_values(True)
    _, (off,) = _dropout_values(False)
    assert (on == 0).any()
    np.testing.assert_array_equal(off, np.ones([200, 50], np.float32))


def test_dropout_errors():
    with gg.Graph().as_default():
        x = gg.ones([2, 3])
        with pytest.raises(TypeError, match="training"):
            gg.layers.dropout(x, training=gg.placeholder(gg.float32, []))
        with pytest.raises(TypeError, match="training"):
            gg.layers.dropout(x, training="yes")
        with pytest.raises(ValueError, match="rate"):
            gg.layers.dropout(x, rate=1.5, training=False)
        with pytest.raises(ValueError, match=r"range \[0, 1\)"):
            gg.layers.dropout(x, rate=1.0, training=True)
        gg.layers.dropout(x, rate=1.0, training=False)     # TF accepts rate=1 outside training
        with pytest.raises(ValueError, match="floating point"):
            gg.layers.dropout(gg.ones([2], gg.int32), training=True)


def test_dropout_static_training_and_zero_rate():
    with gg.Graph().as_default():
        x = gg.ones([4, 5])
        folded = gg.layers.dropout(x, 0.5, training=gg.constant(True), seed=1)
        kept = gg.layers.dropout(x, 0.0, training=True)
        assert folded.op.type != "Merge"                  # a constant predicate needs no cond
        with gg.Session() as sess:
            f, k = sess.run([folded, kept])
    assert set(np.unique(f)) <= {0.0, 2.0}
    np.testing.assert_array_equal(k, np.ones([4, 5], np.float32))


# -- (3) reuse and errors -----------------------------------------------------------------------------
def test_reuse_shares_variables():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None, 3])
        a = gg.layers.dense(x, 4, name="fc")
        b = gg.layers.dense(x, 4, name="fc", reuse=True)
        c = gg.layers.dense(x, 4)
        d = gg.layers.dense(x, 4, reuse=True)              # no name: reuses the plain "dense" scope
        with gg.variable_scope("outer"):
            gg.layers.conv2d(gg.zeros([1, 4, 4, 2]), 3, 2)
        with gg.variable_scope("outer", reuse=True):
            gg.layers.conv2d(gg.zeros([1, 4, 4, 2]), 3, 2, name="conv2d")
        names = [v.name for v in gg.trainable_variables()]
        assert names == ["fc/kernel:0", "fc/bias:0", "dense/kernel:0", "dense/bias:0",
                         "outer/conv2d/kernel:0", "outer/conv2d/bias:0"]
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            feed = {x: np.arange(6, dtype=np.float32).reshape(2, 3)}
            va, vb, vc, vd = sess.run([a, b, c, d], feed)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(vc, vd)


def test_reuse_errors():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None, 3])
        gg.layers.dense(x, 4, name="fc")
        with pytest.raises(ValueError, match="fc/kernel already exists"):
            gg.layers.dense(x, 4, name="fc")
        with pytest.raises(ValueError, match="missing/kernel does not exist"):
            gg.layers.dense(x, 4, name="missing", reuse=True)
        with pytest.raises(ValueError, match="shape"):
            gg.layers.dense(gg.placeholder(gg.float32, [None, 5]), 4, name="fc", reuse=True)


def test_argument_errors():
    with gg.Graph().as_default():
        with pytest.raises(ValueError, match="last dimension"):
            gg.layers.dense(gg.placeholder(gg.float32, [2, None]), 3)
        with pytest.raises(ValueError, match="min_ndim=2"):
            gg.layers.dense(gg.zeros([3]), 3)
        with pytest.raises(ValueError, match="units"):
            gg.layers.dense(gg.zeros([2, 3]), 0)
        img = gg.zeros([1, 5, 5, 2])
        with pytest.raises(ValueError, match="padding"):
            gg.layers.conv2d(img, 2, 3, padding="full")
        with pytest.raises(ValueError, match="kernel_size"):
            gg.layers.conv2d(img, 2, (3, 3, 3))
        with pytest.raises(ValueError, match="dilation_rate"):
            gg.layers.conv2d(img, 2, 3, strides=2, dilation_rate=2)
        with pytest.raises(ValueError, match="ndim=4"):
            gg.layers.conv2d(gg.zeros([5, 5, 2]), 2, 3)
        with pytest.raises(ValueError, match="data_format"):
            gg.layers.max_pooling2d(img, 2, 2, data_format="NHWC")
        with pytest.raises(ValueError, match="channel dimension"):
            gg.layers.conv2d(gg.placeholder(gg.float32, [1, 5, 5, None]), 2, 3)


def test_exported_namespace():
    import inspect
    from gpugraph.ops import layers_v1
    assert gg.layers.dense is layers_v1.dense and gg.layers.flatten is layers_v1.flatten
    params = inspect.signature(gg.layers.conv2d).parameters
    assert list(params)[:7] == ["inputs", "filters", "kernel_size", "strides", "padding",
                                "data_format", "dilation_rate"]
    assert params["padding"].default == "valid" and params["strides"].default == (1, 1)
    assert list(inspect.signature(gg.layers.dropout).parameters) == [
        "inputs", "rate", "noise_shape", "seed", "training", "name"]
