"""Fixtures shared by the checkpoint tests: TF-written fixture files, their expected values, TensorFlow."""

import os

import ml_dtypes
import numpy as np
import pytest

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "tf_checkpoints")
FIXTURE_PREFIXES = {
    "dtypes": os.path.join(DATA, "dtypes", "model.ckpt-2"),
    "many_keys": os.path.join(DATA, "many_keys", "model"),
    "sharded": os.path.join(DATA, "sharded", "model-7"),
    "partitioned": os.path.join(DATA, "partitioned", "model"),
}


def _load_expected():
    """Undoes make_tf_checkpoints.to_npz_entries: {fixture: {tensor name: value}}."""
    raw = np.load(os.path.join(DATA, "expected.npz"))
    out = {name: {} for name in FIXTURE_PREFIXES}
    for key in raw.files:
        fixture, name = key.split("|", 1)
        if name.endswith("#bytes"):
            continue
        if name.endswith("#lengths"):
            base = name[:-len("#lengths")]
            lengths = raw[key]
            data = raw["%s|%s#bytes" % (fixture, base)].tobytes()
            ends = np.cumsum(lengths.reshape(-1)).tolist()
            items = np.empty(lengths.size, dtype=object)
            items[:] = [data[e - n:e] for e, n in zip(ends, lengths.reshape(-1).tolist())]
            out[fixture][base] = items.reshape(lengths.shape)
        elif name.endswith("#bfloat16"):
            out[fixture][name[:-len("#bfloat16")]] = raw[key].view(ml_dtypes.bfloat16)
        elif name == "*scalars#values":
            pass
        else:
            out[fixture][name] = raw[key]
    for fixture, values in out.items():
        names = values.pop("*scalars#names", None)
        if names is not None:
            scalars = raw["%s|*scalars#values" % fixture]
            for n, v in zip(names.tolist(), scalars):
                values[n.decode()] = np.array(v, np.float32)
    return out


@pytest.fixture(scope="session")
def expected():
    return _load_expected()


def assert_same(actual, want, what=""):
    """Bitwise equality (NaN payloads and -0.0 included); strings compared as bytes."""
    actual, want = np.asarray(actual), np.asarray(want)
    assert actual.shape == want.shape, what
    if want.dtype == object:
        assert actual.dtype == object, what
        assert actual.tolist() == want.tolist(), what
        return
    assert actual.dtype == want.dtype, (what, actual.dtype, want.dtype)
    assert actual.tobytes() == want.tobytes(), what


@pytest.fixture(scope="session")
def sample_tensors():
    """One tensor of every dtype the bundle format holds, with awkward values (a fresh copy per test)."""
    rs = np.random.RandomState(7)
    special = np.array([0.0, -0.0, 1.0, np.inf, -np.inf, np.nan, 1e-8, -3.5], np.float32)
    values = {
        "a/float32": rs.standard_normal((5, 7)).astype(np.float32),
        "a/float64": rs.standard_normal(11),
        "b/int8": np.arange(-128, 128, 17, dtype=np.int8),
        "b/int16": np.array([-32768, 0, 32767], np.int16),
        "b/int32": np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 12,
        "b/int64": np.array([-(2 ** 63), 0, 2 ** 63 - 1], np.int64),
        "b/uint8": np.arange(0, 256, 15, dtype=np.uint8),
        "b/uint16": np.array([0, 65535], np.uint16),
        "b/uint32": np.array([0, 2 ** 32 - 1], np.uint32),
        "b/uint64": np.array([0, 2 ** 64 - 1], np.uint64),
        "c/bool": np.array([[True, False], [False, True]]),
        "d/half": special.astype(np.float16),
        "d/bfloat16": special.astype(ml_dtypes.bfloat16),
        "e/complex64": (rs.standard_normal(4) + 1j * rs.standard_normal(4)).astype(np.complex64),
        "e/complex128": rs.standard_normal((2, 2)) + 1j * rs.standard_normal((2, 2)),
        "f/scalar": np.array(-1.5, np.float32),
        "f/empty": np.zeros((3, 0), np.int32),
        "g/strings": np.array([b"", b"x", "\u00e9".encode(), b"\x00\xff" * 100, b"tail\x00"], dtype=object),
        "g/string_scalar": np.array(b"only", dtype=object),
        "g/string_matrix": np.array([[b"a", b"bb"], [b"ccc", b""]], dtype=object),
        "g/string_empty": np.zeros((0,), dtype=object),
    }
    return values


@pytest.fixture(scope="session")
def tf():
    """TensorFlow (tensorflow-cpu), or skip. Tests build graphs explicitly and run them in Sessions, so
    they work whether or not something disabled eager execution."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow  # the test extra always installs it: a missing TF must fail, not skip
    return tensorflow


def tf_run(tf, build):
    """Runs ``build()`` (which creates ops) in a fresh graph and session; returns the fetched values."""
    with tf.Graph().as_default():
        fetches = build()
        with tf.compat.v1.Session() as sess:
            return sess.run(fetches)


@pytest.fixture(scope="session")
def run_tf(tf):
    return lambda build: tf_run(tf, build)
