"""Writes the TensorFlow SavedModels (and expected outputs) that the SavedModel, serving and CLI tests
load with gpugraph.

Run with tensorflow-cpu installed (graph mode, tf.compat.v1, deterministic values)::

    .venv/bin/python tests/data/make_tf_saved_models.py

Outputs, under tests/data/tf_saved_models/:

- ``mlp/``      ``simple_save`` of a small MLP (8-16-16-4, ref variables): input ``x`` float32 [-1, 8],
                outputs ``logits`` and ``probs`` (softmax), signature ``serving_default``.
- ``multi/``    ``SavedModelBuilder``, tags {serve}, resource variables, several signatures:
                ``serving_default`` (``x`` float32 [-1, 3] → ``y`` = x * scale + 1, one output),
                ``bytes`` (``text_bytes`` string [-1] → ``echo_bytes`` and ``plain``, both the input),
                ``ints`` (``k`` int32 [-1, 2] → ``k3`` = 3k), ``asset`` (→ ``asset_path``, a string
                variable set by the main op from the asset tensor ``vocab.txt``), ``two_inputs``
                (``a``, ``b`` float32 [-1, 2] → ``sum``, ``diff``).
- ``legacy/``   two meta graphs: tags {serve, gpu} with a ``legacy_init_op`` collection (sets ``counter`` to
                42) and signature ``serving_default`` (``x`` → ``x + counter``); tags {train}, no signature.
- ``unsupported.pbtxt``  a GraphDef (text) using ``UnicodeScript``, an op gpugraph does not implement.
- ``expected.npz``  ``<model>|<signature>|<key>`` for the feeds and the outputs TensorFlow computed.
"""

import os
import shutil

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_saved_models")


def _dense(x, n_in, n_out, rs, name, activation=True):
    with tf1.variable_scope(name):
        w = tf1.get_variable("kernel", initializer=(rs.standard_normal((n_in, n_out)) * 0.5).astype(np.float32),
                             use_resource=False)
        b = tf1.get_variable("bias", initializer=(rs.standard_normal(n_out) * 0.1).astype(np.float32),
                             use_resource=False)
        y = tf.nn.bias_add(tf.matmul(x, w), b)
        return tf.nn.relu(y) if activation else y


def write_mlp(expected):
    rs = np.random.RandomState(0)
    x_value = rs.standard_normal((5, 8)).astype(np.float32)
    with tf1.Graph().as_default():
        x = tf1.placeholder(tf.float32, [None, 8], name="x")
        h = _dense(x, 8, 16, rs, "dense1")
        h = _dense(h, 16, 16, rs, "dense2")
        logits = tf.identity(_dense(h, 16, 4, rs, "logits", activation=False), name="logits_out")
        probs = tf.nn.softmax(logits, name="probs")
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            out = sess.run({"logits": logits, "probs": probs}, {x: x_value})
            tf1.saved_model.simple_save(sess, os.path.join(OUT, "mlp"), inputs={"x": x},
                                        outputs={"logits": logits, "probs": probs})
    expected["mlp|serving_default|x"] = x_value
    for k, v in out.items():
        expected["mlp|serving_default|" + k] = v


def write_multi(expected):
    rs = np.random.RandomState(1)
    vocab = os.path.join(OUT, "_vocab_src", "vocab.txt")
    os.makedirs(os.path.dirname(vocab), exist_ok=True)
    with open(vocab, "w") as f:
        f.write("alpha\nbeta\ngamma\n")
    feeds = {
        "serving_default": {"x": rs.standard_normal((4, 3)).astype(np.float32)},
        "bytes": {"text_bytes": np.array([b"hello", b"\x00\xff\xfebinary", "caf\u00e9".encode()], dtype=object)},
        "ints": {"k": np.array([[1, -2], [30000, 7]], np.int32)},
        "asset": {},
        "two_inputs": {"a": rs.standard_normal((3, 2)).astype(np.float32),
                       "b": rs.standard_normal((3, 2)).astype(np.float32)},
    }
    with tf1.Graph().as_default() as g:
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        scale = tf1.get_variable("scale", initializer=np.array([0.5, -2.0, 3.0], np.float32), use_resource=True)
        y = tf.add(x * scale, 1.0, name="y")
        text = tf1.placeholder(tf.string, [None], name="text")
        echo = tf.identity(text, name="echo")
        plain = tf.identity(text, name="plain")
        k = tf1.placeholder(tf.int32, [None, 2], name="k")
        k3 = tf.multiply(k, 3, name="k3")
        a = tf1.placeholder(tf.float32, [None, 2], name="a")
        b = tf1.placeholder(tf.float32, [None, 2], name="b")
        asset = tf.constant(vocab, name="vocab_file")
        tf1.add_to_collection(tf1.GraphKeys.ASSET_FILEPATHS, asset)
        asset_var = tf1.get_variable("asset_path", initializer=tf.constant(b""), use_resource=False,
                                     trainable=False)
        main_op = tf.group(tf1.assign(asset_var, asset), name="main_op")
        info = tf1.saved_model.utils.build_tensor_info
        sig = tf1.saved_model.signature_def_utils.build_signature_def
        predict = tf1.saved_model.signature_constants.PREDICT_METHOD_NAME
        signatures = {
            "serving_default": sig({"x": info(x)}, {"y": info(y)}, predict),
            "bytes": sig({"text_bytes": info(text)}, {"echo_bytes": info(echo), "plain": info(plain)}, predict),
            "ints": sig({"k": info(k)}, {"k3": info(k3)}, predict),
            "asset": sig({}, {"asset_path": info(asset_var.value())}, predict),
            "two_inputs": sig({"a": info(a), "b": info(b)}, {"sum": info(tf.add(a, b, name="sum")),
                                                            "diff": info(tf.subtract(a, b, name="diff"))}, predict),
        }
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            builder = tf1.saved_model.Builder(os.path.join(OUT, "multi"))
            builder.add_meta_graph_and_variables(
                sess, [tf1.saved_model.tag_constants.SERVING], signature_def_map=signatures,
                assets_collection=g.get_collection(tf1.GraphKeys.ASSET_FILEPATHS), main_op=main_op)
            builder.save()
    shutil.rmtree(os.path.dirname(vocab))
    # Expected outputs: TensorFlow loading the written model (so the asset path is the shipped one).
    with tf1.Session(graph=tf.Graph()) as sess:
        mg = tf1.saved_model.loader.load(sess, ["serve"], os.path.join(OUT, "multi"))
        for name, feed in feeds.items():
            if name == "asset":
                continue  # its output is this machine's absolute path; the tests compute it
            s = mg.signature_def[name]
            fetches = {key: t.name for key, t in s.outputs.items()}
            out = sess.run(fetches, {s.inputs[key].name: v for key, v in feed.items()})
            for key, v in feed.items():
                expected[f"multi|{name}|{key}"] = v
            for key, v in out.items():
                expected[f"multi|{name}|{key}"] = v


def write_legacy(expected):
    x_value = np.array([1.0, 2.5, -4.0], np.float32)
    with tf1.Graph().as_default():
        x = tf1.placeholder(tf.float32, [None], name="x")
        counter = tf1.get_variable("counter", initializer=np.float32(0.0), use_resource=False)
        y = tf.add(x, counter, name="y")
        tf1.add_to_collection("legacy_init_op", tf.group(tf1.assign(counter, 42.0), name="legacy_init"))
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            builder = tf1.saved_model.Builder(os.path.join(OUT, "legacy"))
            sig = tf1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(sess, ["serve", "gpu"], signature_def_map={"serving_default": sig})
            builder.add_meta_graph(["train"])
            builder.save()
    expected["legacy|serving_default|x"] = x_value
    expected["legacy|serving_default|y"] = x_value + 42.0


def write_unsupported():
    with tf1.Graph().as_default() as g:
        codepoints = tf1.placeholder(tf.int32, [None], name="codepoints")
        scripts = tf.strings.unicode_script(codepoints, name="scripts")
        tf.identity(scripts + 1, name="out")
        tf1.train.write_graph(g.as_graph_def(), OUT, "unsupported.pbtxt", as_text=True)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    expected = {}
    write_mlp(expected)
    write_multi(expected)
    write_legacy(expected)
    write_unsupported()
    # Strings go in as fixed-width bytes so np.load needs no pickle.
    np.savez(os.path.join(OUT, "expected.npz"),
             **{k: (v.astype(bytes) if v.dtype == object else v) for k, v in expected.items()})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
