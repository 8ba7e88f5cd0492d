"""The op conformance harness: one case = a small graph built with gpugraph's API.

``check(case)`` runs the case's graph in a gpugraph Session and then — the same GraphDef, exported
with ``as_graph_def()`` — in real TensorFlow (tensorflow-cpu), and compares values, dtypes and shapes.
That proves at once: the API builds the right TF op, our NodeDef is one TensorFlow accepts, the NumPy
kernel agrees with TensorFlow, and static shape inference agrees with the computed shape.

Example (in a test module)::

    CASES = [
        Case("relu_negative_values", lambda: tf.nn.relu(ph("x", np.float32, [2, 3])),
             feeds={"x": rng.standard_normal((2, 3)).astype(np.float32)}),
    ]

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
    def test_case(case):
        check(case)
"""

import contextlib

import numpy as np

import gpugraph as gg


class Case:
    """A conformance case.

    build: a function called inside a fresh gpugraph Graph, returning a Tensor or a list of Tensors.
    feeds: placeholder name -> NumPy value.
    init: names of ops to run first (e.g. "init" for a variables initializer) in both frameworks.
    compare: "values" (default), or "shape_dtype" for random ops; ``check_values(ours, theirs)`` may
        add custom assertions for those.
    """

    def __init__(self, name, build, feeds=None, init=(), rtol=1e-5, atol=1e-6, compare="values",
                 check_values=None, runs=1):
        self.name = name
        self.build = build
        self.feeds = feeds or {}
        self.init = list(init)
        self.rtol = rtol
        self.atol = atol
        self.compare = compare
        self.check_values = check_values
        self.runs = runs

    def __repr__(self):
        return self.name


def ph(name, dtype, shape):
    """A placeholder (shorthand for cases)."""
    return gg.placeholder(dtype, shape, name=name)


def build_graph(case):
    g = gg.Graph()
    with g.as_default():
        out = case.build()
    fetches = list(out) if isinstance(out, (list, tuple)) else [out]
    return g, fetches


def op_types(case):
    g, _ = build_graph(case)
    return {op.type for op in g.get_operations()}


def run_gpugraph(g, fetches, case):
    with gg.Session(graph=g) as sess:
        for name in case.init:
            sess.run(g.get_operation_by_name(name))
        feed = {g.get_tensor_by_name(k if ":" in k else k + ":0"): v for k, v in case.feeds.items()}
        results = None
        for _ in range(case.runs):
            results = sess.run(fetches, feed)
        return results


def run_tensorflow(graph_def_bytes, fetch_names, case):
    import tensorflow as tf
    g = tf.Graph()
    with g.as_default():
        gd = tf.compat.v1.GraphDef.FromString(graph_def_bytes)
        tf.compat.v1.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=g) as sess:
        for name in case.init:
            sess.run(g.get_operation_by_name(name))
        feed = {(k if ":" in k else k + ":0"): v for k, v in case.feeds.items()}
        results = None
        for _ in range(case.runs):
            results = sess.run(fetch_names, feed)
        return results


def _as_array(v):
    if isinstance(v, bytes):  # a scalar string fetch (both runtimes return bytes)
        return np.asarray(v, dtype=object)
    return np.asarray(v)


def check(case, against_tf=True):
    """Runs ``case`` in gpugraph and (by default) TensorFlow, asserting they agree."""
    g, fetches = build_graph(case)
    ours = run_gpugraph(g, fetches, case)
    for t, value in zip(fetches, ours):
        value = _as_array(value)
        assert value.dtype == np.dtype(t.dtype.base_dtype.as_numpy_dtype) or \
            (t.dtype.base_dtype == gg.string and value.dtype == object), \
            f"{case.name}: {t.name} computed dtype {value.dtype}, declared {t.dtype.name}"
        assert t.shape.is_compatible_with(value.shape), \
            f"{case.name}: {t.name} computed shape {value.shape}, static shape {t.shape}"
    if not against_tf:
        return ours
    theirs = run_tensorflow(g.as_graph_def().SerializeToString(), [t.name for t in fetches], case)
    for t, a, b in zip(fetches, ours, theirs):
        a, b = _as_array(a), _as_array(b)
        assert a.shape == b.shape, f"{case.name}: {t.name} shape {a.shape} != TensorFlow's {b.shape}"
        assert a.dtype == b.dtype, f"{case.name}: {t.name} dtype {a.dtype} != TensorFlow's {b.dtype}"
        if case.compare == "values":
            if a.dtype == object or a.dtype.kind in "biu":
                np.testing.assert_array_equal(a, b, err_msg=f"{case.name}: {t.name}")
            else:
                np.testing.assert_allclose(a.astype(np.float64) if a.dtype.kind != "c" else a,
                                           b.astype(np.float64) if b.dtype.kind != "c" else b,
                                           rtol=case.rtol, atol=case.atol, err_msg=f"{case.name}: {t.name}")
    if case.check_values is not None:
        case.check_values(ours, theirs)
    return ours


@contextlib.contextmanager
def tf_v1_control_flow():
    """TensorFlow with v1 control flow (Switch/Merge/Enter/Exit, not While/If functions) for the
    duration of a ``with`` block; yields ``tf.compat.v1``."""
    import tensorflow as tf
    tf1 = tf.compat.v1
    was_v2 = tf1.control_flow_v2_enabled()
    tf1.disable_control_flow_v2()
    try:
        yield tf1
    finally:
        if was_v2:
            tf1.enable_control_flow_v2()
