"""Conformance cases for the TensorArray ops (TensorArrayV3 and Read/Write/Gather/Scatter/Concat/Split/
Size/Close/GradV3) through ``gpugraph.TensorArray``, and the kernels' errors (TensorFlow's messages)."""

import numpy as np
import pytest

import gpugraph as gg
from conformance import Case, check, ph
from gpugraph import errors

rng = np.random.default_rng(5)


def _write_read_stack(dtype):
    def build():
        x = ph("x", dtype, [None, 2])
        ta = gg.TensorArray(dtype, size=3, name="arr", clear_after_read=False)
        ta = ta.write(0, x[0]).write(2, x[1] * 2).write(1, x[2])
        read = ta.read(1)
        return [ta.stack(), read] if dtype != np.int64 else [ta.stack()]
    return build


def _scatter_gather():
    x = ph("x", np.int32, [4, 3])
    ta = gg.TensorArray(gg.int32, size=6, clear_after_read=False)
    ta = ta.scatter([5, 0, 2, 3], x)
    return [ta.gather([3, 0]), ta.gather([5, 5, 2]), ta.read(0)]


def _split_concat():
    x = ph("x", np.float64, [6, 2])
    ta = gg.TensorArray(gg.float64, size=3, infer_shape=False)
    ta = ta.split(x, [1, 3, 2])
    value, lengths = gg.get_default_graph().get_operation_by_name(ta.concat().op.name).outputs
    return [value, lengths, ta.size()]


def _dynamic_size():
    x = ph("x", np.float16, [3])
    ta = gg.TensorArray(gg.float16, size=0, dynamic_size=True)
    ta = ta.write(4, x).write(1, x + 1)
    return [ta.size(), ta.read(4), ta.read(1)]


def _unwritten_reads_zeros():
    ta = gg.TensorArray(gg.float32, size=3, element_shape=[2, 2])
    ta = ta.write(0, gg.ones([2, 2]))
    return ta.stack()


def _close_after_read():
    x = ph("x", np.float32, [2])
    ta = gg.TensorArray(gg.float32, size=1).write(0, x)
    value = ta.read(0)
    with gg.control_dependencies([value]):
        closed = ta.close()
    with gg.control_dependencies([closed]):
        return gg.identity(value, name="out")


def _grad_array_aggregates():
    x = ph("x", np.float32, [3])
    ta = gg.TensorArray(gg.float32, size=2, element_shape=[3]).write(0, x).write(1, x * 2)
    grad = ta.grad("gradients")
    grad = grad.write(0, x).write(0, x * 10.0).write(1, x)
    return [grad.read(0), grad.read(1), ta.read(1)]


def _in_a_loop():
    x = ph("x", np.float32, [None, 3])
    n = gg.shape(x)[0]
    inputs = gg.TensorArray(gg.float32, size=n).unstack(x)
    out = gg.TensorArray(gg.float32, size=n)

    def body(t, acc, out):
        acc = acc + inputs.read(t)
        return t + 1, acc, out.write(t, acc)
    _, total, out = gg.while_loop(lambda t, *_: t < n, body, [0, gg.zeros([3]), out])
    return [out.stack(), total]


CASES = [
    Case("write_read_stack_float32", _write_read_stack(np.float32),
         feeds={"x": rng.standard_normal((3, 2)).astype(np.float32)}),
    Case("write_read_stack_int64", _write_read_stack(np.int64), feeds={"x": np.arange(6, dtype=np.int64).reshape(3, 2)}),
    Case("scatter_gather_int32", _scatter_gather, feeds={"x": np.arange(12, dtype=np.int32).reshape(4, 3)}),
    Case("split_concat_float64", _split_concat, feeds={"x": rng.standard_normal((6, 2))}),
    Case("dynamic_size_half", _dynamic_size, feeds={"x": np.array([1, 2, 3], np.float16)}),
    Case("unwritten_elements_read_as_zeros", _unwritten_reads_zeros),
    Case("close_after_read", _close_after_read, feeds={"x": np.array([4, 5], np.float32)}),
    Case("grad_array_aggregates_writes", _grad_array_aggregates, feeds={"x": np.array([1, 2, 3], np.float32)}),
    Case("cumulative_sum_in_a_loop", _in_a_loop, feeds={"x": rng.standard_normal((5, 3)).astype(np.float32)}),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


@pytest.fixture
def graph():
    with gg.Graph().as_default() as g:
        yield g


def _run(fetch, feeds=None):
    with gg.Session() as sess:
        return sess.run(fetch, feeds)


def test_layout_and_static_shapes(graph):
    ta = gg.TensorArray(gg.float32, size=4, element_shape=[None, 3], tensor_array_name="mine")
    assert ta.handle.op.type == "TensorArrayV3" and ta.handle.op.name == "TensorArray"
    assert ta.handle.shape.as_list() == [2] and ta.flow.shape.as_list() == []
    assert ta.handle.op.get_attr("tensor_array_name") == b"mine"
    w = ta.write(0, gg.ones([2, 3]))
    assert w.flow.op.name == "TensorArrayWrite/TensorArrayWriteV3" and w.handle is ta.handle
    assert ta.element_shape.as_list() == [2, 3]  # refined by the write (infer_shape)
    assert w.read(0).shape.as_list() == [2, 3]
    assert w.stack().shape.as_list() == [4, 2, 3]
    assert w.gather([0, 1]).shape.as_list() == [2, 2, 3]
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        w.write(1, gg.ones([5, 3]))
    with pytest.raises(TypeError, match="TensorArray of dtype float32 cannot take .* int32"):
        w.write(1, gg.constant([[1, 2, 3]]))


def test_constructor_checks(graph):
    with pytest.raises(ValueError, match="`size` must be provided"):
        gg.TensorArray(gg.float32)
    ta = gg.TensorArray(gg.float32, size=2)
    with pytest.raises(ValueError, match="flow must not be None"):
        gg.TensorArray(gg.float32, handle=ta.handle)
    with pytest.raises(ValueError, match="both a `handle` and `size`"):
        gg.TensorArray(gg.float32, size=2, handle=ta.handle, flow=ta.flow)


def test_kernel_errors_match_tensorflow(graph):
    x = gg.placeholder(gg.float32, [2], name="x")
    ta = gg.TensorArray(gg.float32, size=2)
    once = ta.write(0, x)
    twice = once.write(0, x)
    with pytest.raises(errors.InvalidArgumentError, match="already been written to"):
        _run(twice.flow, {x: [1, 2]})
    out_of_range = ta.write(5, x)
    with pytest.raises(errors.InvalidArgumentError, match="Tried to write to index 5 but array is not resizeable "
                                                          "and size is: 2"):
        _run(out_of_range.flow, {x: [1, 2]})
    first = once.read(0)
    with gg.control_dependencies([first]):
        second = once.read(0)
    with pytest.raises(errors.InvalidArgumentError, match="Could not read index 0 twice because it was cleared"):
        _run(second, {x: [1, 2]})
    unknown = gg.TensorArray(gg.float32, size=2, infer_shape=False).write(0, x)
    with pytest.raises(errors.InvalidArgumentError, match="Could not read from TensorArray index 1"):
        _run(unknown.read(1), {x: [1, 2]})
    ragged = gg.TensorArray(gg.float32, size=2, infer_shape=False).write(0, x).write(1, gg.ones([3]))
    with pytest.raises(errors.InvalidArgumentError, match="TensorArray has inconsistent shapes"):
        _run(ragged.stack(), {x: [1, 2]})
    bad_split = gg.TensorArray(gg.float32, size=2).split(gg.ones([4]), [1, 2])
    with pytest.raises(errors.InvalidArgumentError, match="sum of lengths"):
        _run(bad_split.flow)


def test_size_zero_stack_needs_a_full_element_shape(graph):
    empty = gg.TensorArray(gg.float32, size=0, element_shape=[2])
    assert _run(empty.stack()).shape == (0, 2)
    unknown = gg.TensorArray(gg.float32, size=0)
    with pytest.raises(errors.InvalidArgumentError, match="TensorArray has size zero"):
        _run(unknown.stack())
