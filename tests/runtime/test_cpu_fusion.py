"""NumPy plans run a layer's BiasAdd (and Relu) in place on its Conv2D / MatMul output
(gpugraph/runtime/cpu_fusion.py): bitwise the same values, fewer steps, and the original checks."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph import errors

rng = np.random.default_rng(11)


def _layer(kind, dtype=np.float32, data_format="NHWC", relu=True, bias_len=None):
    g = gg.Graph()
    with g.as_default():
        if kind == "conv":
            shape = [2, 6, 5, 3] if data_format == "NHWC" else [2, 3, 6, 5]
            x = gg.placeholder(dtype, shape, name="x")
            w = gg.constant(rng.standard_normal((3, 3, 3, 4)).astype(dtype))
            y = gg.nn.conv2d(x, w, [1, 1, 1, 1], "SAME", data_format=data_format)
            channels = 4
        else:
            shape = [5, 7]
            x = gg.placeholder(dtype, shape, name="x")
            y = gg.matmul(x, gg.constant(rng.standard_normal((7, 4)).astype(dtype)))
            channels = 4
        b = gg.placeholder(dtype, [None], name="b")
        y = gg.nn.bias_add(y, b, data_format=data_format, name="bias_add")
        if relu:
            y = gg.nn.relu(y, name="relu")
    feed = {"x:0": rng.standard_normal(shape).astype(dtype),
            "b:0": rng.standard_normal(bias_len or channels).astype(dtype)}
    return g, y, feed


def _run(monkeypatch, fused, graph, fetches, feed):
    monkeypatch.setenv("GPUGRAPH_FUSION", "1" if fused else "0")
    with gg.Session(graph=graph) as sess:
        out = sess.run(fetches, feed)
        types = [op.type for plan in sess._plans.values() for op in plan.step_ops]
    return out, types


@pytest.mark.parametrize("kind,relu,dtype", [("conv", True, np.float32), ("conv", False, np.float64),
                                             ("matmul", True, np.float64), ("matmul", False, np.float32)])
def test_bias_and_relu_run_in_the_producer_step_with_the_same_values(monkeypatch, kind, relu, dtype):
    g, y, feed = _layer(kind, dtype, relu=relu)
    fused, fused_types = _run(monkeypatch, True, g, y, feed)
    plain, plain_types = _run(monkeypatch, False, g, y, feed)
    np.testing.assert_array_equal(fused, plain)
    assert fused.dtype == plain.dtype == dtype
    producer = "Conv2D" if kind == "conv" else "MatMul"
    assert producer in plain_types and producer not in fused_types  # one step, named by its last op
    assert len(fused_types) == len(plain_types) - (2 if relu else 1)


def test_a_fetched_intermediate_is_not_fused_away(monkeypatch):
    g, y, feed = _layer("conv")
    biased = g.get_tensor_by_name("bias_add:0")
    (got_y, got_b), types = _run(monkeypatch, True, g, [y, biased], feed)
    assert "Conv2D" not in types and "BiasAdd" in types and "Relu" in types  # the ReLU stays apart
    np.testing.assert_array_equal(got_y, np.maximum(got_b, 0))
    conv = g.get_operation_by_name("Conv2D").outputs[0]
    (got_y, got_conv), types = _run(monkeypatch, True, g, [y, conv], feed)
    assert {"Conv2D", "BiasAdd", "Relu"} <= set(types)
    np.testing.assert_array_equal(got_y, np.maximum(got_conv + feed["b:0"], 0))


@pytest.mark.parametrize("dtype,data_format", [(np.float16, "NHWC"), (np.float32, "NCHW")])
def test_other_dtypes_and_layouts_are_left_alone(monkeypatch, dtype, data_format):
    g, y, feed = _layer("conv", dtype, data_format=data_format)
    _, types = _run(monkeypatch, True, g, y, feed)
    assert "Conv2D" in types and "BiasAdd" in types


def test_a_bias_of_the_wrong_length_is_reported_by_the_bias_add(monkeypatch):
    g, y, feed = _layer("matmul", bias_len=3)
    monkeypatch.setenv("GPUGRAPH_FUSION", "1")
    with gg.Session(graph=g) as sess:
        with pytest.raises(errors.InvalidArgumentError, match="bias_add.*as many biases"):
            sess.run(y, feed)
