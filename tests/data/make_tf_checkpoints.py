"""Writes the small TensorFlow checkpoints that tests/train reads with gpugraph's bundle reader.

Run from anywhere with tensorflow-cpu installed (graph mode, tf.compat.v1)::

    .venv/bin/python tests/data/make_tf_checkpoints.py

Outputs, under tests/data/tf_checkpoints/ (every value deterministic, paths in `checkpoint` relative):

- ``dtypes/``      tf.compat.v1 Saver over ref variables of every dtype TF variables hold (float32,
                   float64, int8..int64, uint8, uint16, bool, half, bfloat16, complex64, complex128,
                   string) incl. scalars, an empty tensor, NaN/Inf/-0.0/subnormal bit patterns, strings
                   with long (multi-byte varint) lengths, and a 300 KiB tensor; saved at steps 1 and 2
                   with max_to_keep=1, so `checkpoint` lists one relative path.
- ``many_keys/``   raw SaveV2 of 4000 keys whose index spans two 256 KiB table blocks (hundreds of
                   restart points), plus uint32/uint64 tensors and a non-ASCII key.
- ``sharded/``     sharded Saver over two CPU devices: ``model-7.data-0000{0,1}-of-00002``.
- ``partitioned/`` a variable split by fixed_size_partitioner(2) (index entry with ``slices``).
- ``expected.npz`` the values, keyed ``"<dir>|<tensor key>"``. Strings are stored as
                   ``...#lengths`` (int64) + ``...#bytes`` (uint8); bfloat16 as ``...#bfloat16`` (uint16
                   bit patterns), because .npz holds neither object arrays (without pickle) nor bfloat16.
                   The 4000 float32 scalars of many_keys are packed as ``many_keys|*scalars#values``
                   with their names in the string tensor ``many_keys|*scalars#names``.
"""

import os
import shutil
import sys

import ml_dtypes
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_checkpoints")


def dtype_values():
    """The tensors of the ``dtypes`` checkpoint: name -> numpy array (strings as object arrays)."""
    rs = np.random.RandomState(1234)
    special = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 1e-7, 6.1e-5, 65504.0], np.float32)
    long_string = bytes(range(256)) * 3  # 768 bytes: a two-byte varint length, every byte value
    return {
        "dense/kernel": rs.standard_normal((4, 3)).astype(np.float32),
        "dense/bias": rs.standard_normal((3,)).astype(np.float32),
        "dense_1/kernel": rs.standard_normal((3, 2)).astype(np.float64),
        "global_step": np.array(2, np.int64),
        # 300 KiB, with a pattern rather than noise so expected.npz compresses well.
        "big/embedding": (np.arange(300 * 256) % 997 * 0.125 - 60).astype(np.float32).reshape(300, 256),
        "ints/int8": np.array([-128, -1, 0, 1, 127], np.int8),
        "ints/int16": np.array([-32768, -1, 0, 32767], np.int16),
        "ints/int32": np.arange(-6, 6, dtype=np.int32).reshape(3, 4),
        "ints/int64": np.array([-(2 ** 63), -1, 0, 2 ** 63 - 1], np.int64),
        "ints/uint8": np.array([0, 1, 128, 255], np.uint8),
        "ints/uint16": np.array([0, 1, 32768, 65535], np.uint16),
        "flags/bool": np.array([[True, False, True], [False, False, True]]),
        "half/special": special.astype(np.float16),
        "bf16/special": special.astype(ml_dtypes.bfloat16),
        "complex/c64": (rs.standard_normal(5) + 1j * rs.standard_normal(5)).astype(np.complex64),
        "complex/c128": (rs.standard_normal((2, 2)) + 1j * rs.standard_normal((2, 2))).astype(np.complex128),
        "scalar/float": np.array(3.25, np.float32),
        "empty/float": np.zeros((0, 3), np.float32),
        "strings/vocab": np.array([b"", b"a", "\u00fc\u00f1\u00ee".encode(), long_string, b"\x00nul\x00"],
                                  dtype=object),
        "strings/scalar": np.array(b"hello", dtype=object),
        "strings/matrix": np.array([[b"ab", b"c"], [b"", b"def"]], dtype=object),
    }


def many_key_values():
    """4000 scalar keys that differ early (little prefix sharing, so the index grows past 256 KiB)."""
    values = {"v%04d_%s" % (i, "kernel_of_a_reasonably_long_layer_name/ExponentialMovingAverage"):
              np.array(i * 0.5, np.float32) for i in range(4000)}
    values["uints/uint32"] = np.array([0, 1, 2 ** 31, 2 ** 32 - 1], np.uint32)
    values["uints/uint64"] = np.array([0, 1, 2 ** 63, 2 ** 64 - 1], np.uint64)
    values["unicode/\u00e9t\u00e9"] = np.array([1.5, 2.5], np.float64)
    return values


def _tf_dtype(value):
    if value.dtype == object:
        return tf.string
    return tf.as_dtype(value.dtype)


def _variable(name, value):
    return tf1.Variable(tf.constant(value, dtype=_tf_dtype(value)), name=name, use_resource=False)


def write_dtypes(outdir):
    values = dtype_values()
    with tf1.Graph().as_default():
        variables = [_variable(name, value) for name, value in values.items()]
        step = [v for v in variables if v.op.name == "global_step"][0]
        bump = tf1.assign(step, 2)
        saver = tf1.train.Saver(max_to_keep=1)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            # Two saves so the `checkpoint` file shows max_to_keep at work (step 1 is deleted).
            sess.run(tf1.assign(step, 1))
            saver.save(sess, "model.ckpt", global_step=1)
            sess.run(bump)
            saver.save(sess, "model.ckpt", global_step=2)
    return values


def write_many_keys(outdir):
    values = many_key_values()
    names = sorted(values)
    with tf1.Graph().as_default():
        save = tf1.raw_ops.SaveV2(prefix="model", tensor_names=names, shape_and_slices=[""] * len(names),
                                  tensors=[tf.constant(values[n]) for n in names])
        with tf1.Session() as sess:
            sess.run(save)
    return values


def write_sharded(outdir):
    values = {
        "tower0/w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "tower0/names": np.array([b"zero", b"one"], dtype=object),
        "tower1/w": np.arange(6, dtype=np.float64).reshape(2, 3) / 7,
        "tower1/count": np.array(5, np.int64),
    }
    with tf1.Graph().as_default():
        for name, value in values.items():
            with tf1.device("/cpu:%s" % name[5]):
                _variable(name, value)
        saver = tf1.train.Saver(sharded=True)
        with tf1.Session(config=tf1.ConfigProto(device_count={"CPU": 2})) as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, "model", global_step=7)
    assert os.path.exists("model-7.data-00001-of-00002"), sorted(os.listdir("."))
    return values


def write_partitioned(outdir):
    value = np.arange(20, dtype=np.float32).reshape(10, 2)
    with tf1.Graph().as_default():
        tf1.get_variable("part", initializer=tf.constant(value), partitioner=tf1.fixed_size_partitioner(2),
                         use_resource=False)
        _variable("plain", np.array([1, 2, 3], np.int32))
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, "model")
    return {"part": value, "plain": np.array([1, 2, 3], np.int32)}


def to_npz_entries(prefix, values):
    """Flattens ``values`` into arrays an .npz can hold without pickle (see the module docstring)."""
    out = {}
    # Thousands of tiny .npy members would dominate the file; pack scalar float32s into one array.
    scalars = sorted(n for n, v in values.items() if v.dtype == np.float32 and v.ndim == 0)
    if len(scalars) > 100:
        names = np.array([n.encode() for n in scalars], dtype=object)
        out.update(to_npz_entries(prefix, {"*scalars#names": names}))
        out["%s|*scalars#values" % prefix] = np.array([values[n] for n in scalars], np.float32)
        values = {n: v for n, v in values.items() if n not in set(scalars)}
    for name, value in values.items():
        key = "%s|%s" % (prefix, name)
        if value.dtype == object:
            items = [bytes(x) for x in value.reshape(-1)]
            out[key + "#lengths"] = np.array([len(x) for x in items], np.int64).reshape(value.shape)
            out[key + "#bytes"] = np.frombuffer(b"".join(items), np.uint8)
        elif value.dtype == ml_dtypes.bfloat16:
            out[key + "#bfloat16"] = value.view(np.uint16)
        else:
            out[key] = value
    return out


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    tf1.disable_eager_execution()
    expected = {}
    for name, writer in [("dtypes", write_dtypes), ("many_keys", write_many_keys),
                         ("sharded", write_sharded), ("partitioned", write_partitioned)]:
        outdir = os.path.join(OUT, name)
        os.makedirs(outdir)
        cwd = os.getcwd()
        os.chdir(outdir)  # relative save paths -> relative paths in the `checkpoint` file
        try:
            values = writer(outdir)
        finally:
            os.chdir(cwd)
        for meta in [f for f in os.listdir(outdir) if f.endswith(".meta")]:
            os.remove(os.path.join(outdir, meta))  # graphs are not what these fixtures test; keep them small
        expected.update(to_npz_entries(name, values))
    np.savez_compressed(os.path.join(OUT, "expected.npz"), **expected)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("wrote %s (%d bytes)" % (OUT, total), file=sys.stderr)


if __name__ == "__main__":
    main()
