"""Writes GraphDefs with TensorFlow (tensorflow-cpu) for the interop tests, with inputs and outputs.

Run from the repository root:  .venv/bin/python tests/data/make_tf_graphs.py
Outputs (committed): tests/data/tf_graphs/frozen_cnn.pb and frozen_cnn.npz (input, expected output).
"""

import pathlib

import numpy as np
import tensorflow as tf

OUT = pathlib.Path(__file__).parent / "tf_graphs"


def frozen_cnn():
    """A small frozen CNN: conv, depthwise conv, relu6, leaky relu, mean, slice, squeeze, concat."""
    tf1 = tf.compat.v1
    g = tf.Graph()
    rng = np.random.default_rng(7)
    with g.as_default():
        images = tf1.placeholder(tf.float32, [None, 9, 11, 3], name="images")
        w1 = tf1.Variable(rng.standard_normal((3, 3, 3, 8)).astype(np.float32) * 0.3, name="conv1/kernel")
        b1 = tf1.Variable(rng.standard_normal(8).astype(np.float32) * 0.1, name="conv1/bias")
        x = tf.nn.conv2d(images, w1, strides=[1, 2, 2, 1], padding="SAME", name="conv1/Conv2D")
        x = tf.nn.bias_add(x, b1, name="conv1/BiasAdd")
        x = tf.nn.relu6(x, name="conv1/Relu6")
        dw = tf1.Variable(rng.standard_normal((3, 3, 8, 2)).astype(np.float32) * 0.3, name="dw/depthwise_kernel")
        x = tf.nn.depthwise_conv2d(x, dw, strides=[1, 1, 1, 1], padding="VALID", name="dw/depthwise")
        x = tf.nn.leaky_relu(x, alpha=0.1, name="dw/LeakyRelu")
        pooled = tf.reduce_mean(x, axis=[1, 2], keepdims=True, name="gap")
        squeezed = tf.squeeze(pooled, axis=[1, 2], name="squeeze")
        first = tf.slice(squeezed, [0, 0], [-1, 4], name="slice_first")
        last = tf.slice(squeezed, [0, 12], [-1, 4], name="slice_last")
        tf.concat([first, last, squeezed], axis=1, name="logits")
        init = tf1.global_variables_initializer()
        with tf1.Session(graph=g) as sess:
            sess.run(init)
            frozen = tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["logits"])
            feed = rng.standard_normal((2, 9, 11, 3)).astype(np.float32)
            expected = sess.run("logits:0", {images: feed})
    (OUT / "frozen_cnn.pb").write_bytes(frozen.SerializeToString())
    np.savez(OUT / "frozen_cnn.npz", images=feed, logits=expected)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    frozen_cnn()
    print("wrote", sorted(p.name for p in OUT.iterdir()))
