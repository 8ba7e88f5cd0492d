"""Builds the same Python code with gpugraph and with real TensorFlow (``tf.compat.v1``, graph mode,
ref variables) and compares the resulting graphs node by node: names, op types, inputs (data and
control), devices and attrs (Const values by content).

The code under test is written once as ``build(tf)``: gpugraph and ``tf.compat.v1`` share the API.

Example::

    def build(tf):
        with tf.variable_scope("dense"):
            tf.get_variable("kernel", [3, 4])

    assert_same_graph(build)
"""

import contextlib

import numpy as np

import gpugraph as gg

# Attrs TensorFlow's Python layer adds for its own bookkeeping; not part of the graph's meaning.
_IGNORED_ATTRS = {"_has_manual_control_dependencies"}


@contextlib.contextmanager
def _tf_ref_variables(tf):
    """Makes tf.compat.v1 build ref variables (TF1 behaviour) without disabling eager globally."""
    from tensorflow.python.ops import resource_variables_toggle as toggle
    was_enabled = toggle.resource_variables_enabled()
    tf.compat.v1.disable_resource_variables()
    try:
        yield
    finally:
        if was_enabled:
            tf.compat.v1.enable_resource_variables()


def build_tf_graph(build):
    import tensorflow as tf
    g = tf.Graph()
    with _tf_ref_variables(tf), g.as_default():
        result = build(tf.compat.v1)
    return g, result


def build_gg_graph(build):
    g = gg.Graph()
    with g.as_default():
        result = build(gg)
    return g, result


def _node_table(graph_def):
    import tensorflow as tf
    table = {}
    for n in graph_def.node:
        attrs = {}
        for key, av in n.attr.items():
            if key in _IGNORED_ATTRS:
                continue
            if av.WhichOneof("value") == "tensor":
                value = tf.make_ndarray(av.tensor)
                attrs[key] = ("tensor", value.dtype.str, value.shape, value.tobytes()
                              if value.dtype != object else tuple(value.reshape(-1).tolist()))
            else:
                attrs[key] = av.SerializeToString(deterministic=True)
        table[n.name] = {"op": n.op, "input": list(n.input), "device": n.device, "attr": attrs}
    return table


def assert_same_graph(build, compare_attrs=True, compare_inputs=True):
    """Asserts gpugraph builds exactly TensorFlow's nodes for ``build``; returns both graphs."""
    import tensorflow as tf
    ours, _ = build_gg_graph(build)
    theirs, _ = build_tf_graph(build)
    a = _node_table(tf.compat.v1.GraphDef.FromString(ours.as_graph_def().SerializeToString()))
    b = _node_table(theirs.as_graph_def())
    missing, extra = sorted(set(b) - set(a)), sorted(set(a) - set(b))
    assert not missing and not extra, f"node names differ: TF only {missing}; gpugraph only {extra}"
    for name in b:
        assert a[name]["op"] == b[name]["op"], f"{name}: op {a[name]['op']} != TF's {b[name]['op']}"
        if compare_inputs:
            assert sorted(a[name]["input"]) == sorted(b[name]["input"]), \
                f"{name}: inputs {a[name]['input']} != TF's {b[name]['input']}"
            data_a = [i for i in a[name]["input"] if not i.startswith("^")]
            data_b = [i for i in b[name]["input"] if not i.startswith("^")]
            assert data_a == data_b, f"{name}: data inputs {data_a} != TF's {data_b}"
        assert a[name]["device"] == b[name]["device"], f"{name}: device {a[name]['device']!r} != TF's"
        if compare_attrs:
            assert sorted(a[name]["attr"]) == sorted(b[name]["attr"]), \
                f"{name}: attrs {sorted(a[name]['attr'])} != TF's {sorted(b[name]['attr'])}"
            for key, value in b[name]["attr"].items():
                mine = a[name]["attr"][key]
                if isinstance(value, tuple):
                    assert mine[:3] == value[:3] and (mine[3] == value[3]), \
                        f"{name}: Const {key} differs: {mine[:3]} vs TF's {value[:3]}"
                else:
                    assert mine == value, f"{name}: attr {key} differs from TF's"
    return ours, theirs


def node_names_and_types(graph):
    return sorted((op.name, op.type) for op in graph.get_operations())


def values_equal(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b))
