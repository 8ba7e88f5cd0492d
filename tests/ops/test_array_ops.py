"""Conformance and bad-input tests for gpugraph/ops/array_ops.py (shapes, reshape, transpose, fill,
tile, pad, …). Cases run in gpugraph and, from the exported GraphDef, in TensorFlow."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework import registry
from gpugraph.framework.op_builder import apply_op
from conformance import Case, build_graph, check, ph

rng = np.random.default_rng(7)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def i32(*shape, dtype=np.int32):
    return rng.integers(-50, 50, size=shape).astype(dtype)


def strings(*shape):
    return np.array([f"s{i}".encode() for i in range(int(np.prod(shape)))], dtype=object).reshape(shape)


CASES = [
    # Reshape: -1 inferred, int64 shapes, strings, bools, shapes computed in the graph.
    Case("reshape_minus_one_partial", lambda: gg.reshape(ph("x", gg.float32, [None, 28, 28]), [-1, 784]),
         feeds={"x": f32(3, 28, 28)}),
    Case("reshape_int64_shape", lambda: gg.reshape(ph("x", gg.int64, [2, 3, 4]),
                                                   gg.constant([4, -1, 2], gg.int64)),
         feeds={"x": i32(2, 3, 4, dtype=np.int64)}),
    Case("reshape_string", lambda: gg.reshape(ph("x", gg.string, [2, 3]), [3, 1, 2]),
         feeds={"x": strings(2, 3)}),
    Case("reshape_bool_to_scalar", lambda: gg.reshape(ph("x", gg.bool, [1, 1]), []),
         feeds={"x": np.array([[True]])}),
    Case("reshape_fed_shape", lambda: gg.reshape(ph("x", gg.float32, [None, 6]), ph("s", gg.int32, [3])),
         feeds={"x": f32(2, 6), "s": np.array([3, -1, 2], np.int32)}),
    Case("reshape_dynamic_batch", lambda: (lambda x: gg.reshape(x, [gg.shape(x)[0], -1]))(
        ph("x", gg.float32, [None, 2, 3])), feeds={"x": f32(4, 2, 3)}),
    # Shape, ShapeN, Size, Rank (ops only when the static shape is not fully known).
    Case("shape_partial_int64", lambda: [gg.shape(ph("x", gg.float32, [None, 3]), out_type=gg.int64),
                                         gg.shape(ph("y", gg.string, None))],
         feeds={"x": f32(5, 3), "y": strings(2, 1, 2)}),
    Case("shape_n", lambda: gg.shape_n([ph("x", gg.int32, [None, 2]), ph("y", gg.int32, None)],
                                       out_type=gg.int64),
         feeds={"x": i32(3, 2), "y": i32(4)}),
    Case("size_and_rank_unknown", lambda: [gg.size(ph("x", gg.bool, None), out_type=gg.int64),
                                           gg.size(ph("y", gg.float32, [None, 2])),
                                           gg.rank(ph("z", gg.int64, None))],
         feeds={"x": np.ones((2, 3), bool), "y": f32(0, 2), "z": i32(1, 2, 3, dtype=np.int64)}),
    # ExpandDims, Squeeze.
    Case("expand_dims_negative", lambda: [gg.expand_dims(ph("x", gg.float32, [2, None]), -1),
                                          gg.expand_dims(ph("y", gg.int64, [2, 3]), axis=-3),
                                          gg.expand_dims(ph("z", gg.string, []), dim=0)],
         feeds={"x": f32(2, 5), "y": i32(2, 3, dtype=np.int64), "z": np.array(b"q", dtype=object)}),
    Case("expand_dims_int64_axis", lambda: gg.expand_dims(ph("x", gg.bool, [2, 2]),
                                                          gg.constant(1, gg.int64)),
         feeds={"x": np.array([[True, False], [False, True]])}),
    Case("squeeze_axes", lambda: [gg.squeeze(ph("x", gg.float32, [1, 3, None, 1]), axis=[0, -1]),
                                  gg.squeeze(ph("y", gg.int32, [1, 2, 1])),
                                  gg.squeeze(ph("z", gg.string, [1, None]), squeeze_dims=0)],
         feeds={"x": f32(1, 3, 1, 1), "y": i32(1, 2, 1), "z": strings(1, 3)}),
    # Transpose, ConjugateTranspose.
    Case("transpose_perm_and_default", lambda: [
        gg.transpose(ph("x", gg.float32, [2, 3, 4]), [2, 0, 1]),
        gg.transpose(ph("y", gg.int64, [None, 3, 5])),
        gg.transpose(ph("z", gg.string, [2, 3]), gg.constant([1, 0], gg.int64))],
        feeds={"x": f32(2, 3, 4), "y": i32(2, 3, 5, dtype=np.int64), "z": strings(2, 3)}),
    Case("transpose_fed_perm", lambda: gg.transpose(ph("x", gg.bool, [2, 3, 4]), ph("p", gg.int32, [3])),
         feeds={"x": rng.random((2, 3, 4)) > 0.5, "p": np.array([1, 2, 0], np.int32)}),
    Case("conjugate_transpose", lambda: gg.transpose(ph("x", gg.complex64, [2, 3]), conjugate=True),
         feeds={"x": (f32(2, 3) + 1j * f32(2, 3)).astype(np.complex64)}),
    # Fill, zeros/ones (Const when small and static, Fill otherwise), ZerosLike, OnesLike.
    Case("fill_fed_dims", lambda: [gg.fill(ph("d", gg.int64, [2]), "ab"),
                                   gg.fill([2, 3], ph("v", gg.float32, []))],
         feeds={"d": np.array([2, 3], np.int64), "v": np.float32(2.5)}),
    Case("zeros_ones_large_and_dynamic", lambda: (lambda x: [
        gg.zeros([40, 30], gg.int32), gg.ones([1000], gg.bool), gg.zeros(gg.shape(x), gg.int64),
        gg.ones([gg.shape(x)[0], 2]), gg.zeros(5, gg.string),
        gg.zeros([gg.shape(x, out_type=gg.int64)[0], 2], gg.int32)])(ph("x", gg.float32, [None, 3])),
        feeds={"x": f32(4, 3)}),
    Case("zeros_like_ones_like", lambda: (lambda x, s: [
        gg.zeros_like(x), gg.zeros_like(x, dtype=gg.int32), gg.ones_like(x), gg.ones_like(x, gg.bool),
        gg.zeros_like(s), gg.zeros_like(gg.constant([[1, 2]], gg.int64))])(
        ph("x", gg.float32, [None, 3]), ph("s", gg.string, [None])),
        feeds={"x": f32(2, 3), "s": strings(3)}),
    Case("ones_like_op", lambda: [apply_op("OnesLike", x=ph("x", gg.int64, [None, 2])),
                                  apply_op("OnesLike", x=ph("b", gg.bool, [3]))],
         feeds={"x": i32(3, 2, dtype=np.int64), "b": np.array([True, False, True])}),
    # Tile, BroadcastTo, ReverseV2.
    Case("tile_fed_multiples", lambda: gg.tile(ph("x", gg.float32, [2, 3]), ph("m", gg.int32, [2])),
         feeds={"x": f32(2, 3), "m": np.array([2, 3], np.int32)}),
    Case("tile_int64_multiples_string_bool", lambda: [
        gg.tile(ph("x", gg.string, [None, 2]), gg.constant([1, 3], gg.int64)),
        gg.tile(ph("b", gg.bool, [2, 1, 2]), [2, 4, 1])],
        feeds={"x": strings(3, 2), "b": rng.random((2, 1, 2)) > 0.5}),
    Case("broadcast_to", lambda: [gg.broadcast_to(ph("x", gg.int32, [3, 1]), [2, 3, 4]),
                                  gg.broadcast_to(ph("y", gg.float32, None), gg.constant([2, 2], gg.int64))],
         feeds={"x": i32(3, 1), "y": f32(2, 1)}),
    Case("reverse_axes", lambda: [gg.reverse(ph("x", gg.int64, [2, 3, 4]), [0, -1]),
                                  gg.reverse(ph("s", gg.string, [3]), gg.constant([0], gg.int64))],
         feeds={"x": i32(2, 3, 4, dtype=np.int64), "s": strings(3)}),
    # Pad, PadV2, MirrorPad.
    Case("pad_constant", lambda: [gg.pad(ph("x", gg.float32, [None, 3]), [[1, 2], [0, 1]]),
                                  gg.pad(ph("s", gg.string, [2]), gg.constant([[1, 1]], gg.int64)),
                                  gg.pad(ph("b", gg.bool, [1, 2]), [[0, 1], [1, 0]])],
         feeds={"x": f32(2, 3), "s": strings(2), "b": np.array([[True, True]])}),
    Case("pad_v2_constant_value", lambda: [
        gg.pad(ph("x", gg.int32, [2, 3]), [[1, 0], [2, 2]], constant_values=-7),
        gg.pad(ph("y", gg.float32, [2]), ph("p", gg.int32, [1, 2]), constant_values=1.5),
        gg.pad(ph("s", gg.string, [1]), [[1, 1]], constant_values="pad")],
        feeds={"x": i32(2, 3), "y": f32(2), "p": np.array([[2, 1]], np.int32), "s": strings(1)}),
    Case("mirror_pad_reflect", lambda: gg.pad(ph("x", gg.float32, [3, 4]), [[2, 1], [3, 3]], "REFLECT"),
         feeds={"x": f32(3, 4)}),
    Case("mirror_pad_symmetric", lambda: [
        gg.pad(ph("x", gg.int64, [3, None]), gg.constant([[3, 0], [1, 2]], gg.int64), "symmetric"),
        gg.pad(ph("s", gg.string, [2, 2]), [[1, 2], [2, 0]], "SYMMETRIC")],
        feeds={"x": i32(3, 2, dtype=np.int64), "s": strings(2, 2)}),
    # Empty tensors, scalars and the less common dtypes.
    Case("empty_tile_reshape_pad", lambda: [
        gg.tile(ph("x", gg.int32, [2, 3]), [0, 2]), gg.reshape(ph("e", gg.int32, [None, 3]), [3, 0]),
        gg.pad(ph("p", gg.float32, [0, 2]), [[1, 1], [0, 0]]),
        gg.pad(ph("q", gg.float32, [0, 2]), [[0, 0], [1, 1]], "SYMMETRIC"), gg.fill([0, 3], True)],
        feeds={"x": i32(2, 3), "e": np.zeros((0, 3), np.int32), "p": np.zeros((0, 2), np.float32),
               "q": np.zeros((0, 2), np.float32)}),
    Case("scalar_inputs", lambda: [
        gg.squeeze(ph("x", gg.float32, [])), gg.transpose(ph("y", gg.float32, []), []),
        gg.expand_dims(ph("z", gg.float32, []), -1), gg.broadcast_to(ph("c", gg.float32, []), [2, 2]),
        gg.reverse(ph("d", gg.float32, [2]), gg.constant([], gg.int32)),
        gg.tile(ph("e", gg.float32, []), gg.constant([], gg.int32))],
        feeds={**{k: np.float32(2) for k in "xyzce"}, "d": f32(2)}),
    Case("half_bfloat16_uint_dtypes", lambda: [
        gg.transpose(ph("h", gg.float16, [2, 3])),
        gg.pad(ph("b", gg.bfloat16, [2]), [[1, 1]], constant_values=3.0),
        gg.tile(ph("c", gg.int8, [2]), [2]), gg.reverse(ph("d", gg.uint16, [3]), [0]),
        gg.zeros_like(ph("z", gg.bool, [None]))],
        feeds={"h": f32(2, 3).astype(np.float16), "b": f32(2).astype(gg.bfloat16.as_numpy_dtype),
               "c": np.array([-1, 2], np.int8), "d": np.array([1, 2, 3], np.uint16), "z": np.array([True])}),
]

if registry.lookup("Range") is not None and registry.lookup("Sub") is not None:
    CASES.append(Case("transpose_unknown_rank_default_perm",
                      lambda: gg.transpose(ph("x", gg.float32, None)), feeds={"x": f32(2, 3, 4)}))


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- static shapes -----------------------------------------------------------------------------
def _static(fn):
    g = gg.Graph()
    with g.as_default():
        out = fn()
    return out.shape.as_list() if out.shape.ndims is not None else None


@pytest.mark.parametrize("fn, expected", [
    (lambda: gg.reshape(ph("x", gg.float32, [None, 28, 28]), [-1, 784]), [None, 784]),
    (lambda: gg.reshape(ph("x", gg.float32, [None, 4]), [2, -1, 2]), [2, None, 2]),
    (lambda: gg.reshape(ph("x", gg.float32, [3, 4]), [-1, 6]), [2, 6]),
    (lambda: gg.reshape(ph("x", gg.float32, [None, 2]), gg.shape(ph("y", gg.float32, [None, 1, 2]))),
     [None, 1, 2]),
    (lambda: gg.reshape(ph("x", gg.float32, None), ph("s", gg.int32, [3])), [None, None, None]),
    (lambda: gg.tile(ph("x", gg.float32, [2, None]), ph("m", gg.int32, [2])), [None, None]),
    (lambda: gg.tile(ph("x", gg.float32, [2, 1]), [3, 5]), [6, 5]),
    (lambda: gg.pad(ph("x", gg.float32, [None, 3]), [[1, 1], [2, 0]]), [None, 5]),
    (lambda: gg.pad(ph("x", gg.float32, [4, 3]), ph("p", gg.int32, [2, 2])), [None, None]),
    (lambda: gg.expand_dims(ph("x", gg.float32, [2, 3]), -2), [2, 1, 3]),
    (lambda: gg.squeeze(ph("x", gg.float32, [1, None, 1])), None),
    (lambda: gg.squeeze(ph("x", gg.float32, [1, None, 1]), [0]), [None, 1]),
    (lambda: gg.transpose(ph("x", gg.float32, [1, 2, None]), [2, 0, 1]), [None, 1, 2]),
    (lambda: gg.transpose(ph("x", gg.float32, [1, 2, 3]), ph("p", gg.int32, [3])), [None, None, None]),
    (lambda: gg.fill(gg.stack([ph("n", gg.int32, []), 4]), 1.0), [None, 4]),
    (lambda: gg.broadcast_to(ph("x", gg.float32, [3, 1]), ph("s", gg.int32, [3])), [None, 3, None]),
    (lambda: gg.ones_like(ph("x", gg.float32, [None, 3])), [None, 3]),
    (lambda: gg.shape(ph("x", gg.float32, None)), [None]),
])
def test_static_shape(fn, expected):
    assert _static(fn) == expected


def _p(m, shape, dtype=None):
    return m.placeholder(dtype or m.float32, shape)


# Built identically with tf.compat.v1 and gpugraph (same API): the static shapes must be equal.
SAME_AS_TF = {
    "reshape_partial": lambda m: m.reshape(_p(m, [None, 4]), [2, -1, 2]),
    "reshape_unknown_rank_in": lambda m: m.reshape(_p(m, None), [3, -1]),
    "reshape_one_unknown_each": lambda m: m.reshape(_p(m, [None, 6]), [-1, 3, 2]),
    "reshape_shape_of": lambda m: m.reshape(_p(m, [None, 2]), m.shape(_p(m, [None, 1, 2]))),
    "reshape_fed_shape": lambda m: m.reshape(_p(m, [4]), _p(m, [2], m.int32)),
    "reshape_pack": lambda m: m.reshape(_p(m, [None, 2, 3]), [m.shape(_p(m, [None]))[0], -1]),
    "reshape_zero_elements": lambda m: m.reshape(_p(m, [None, 0]), [-1, 5]),
    "reshape_zero_to_zero": lambda m: m.reshape(_p(m, [None, 0]), [-1, 0]),
    "reshape_out_known": lambda m: m.reshape(_p(m, [None, 3]), [6, 2]),
    "expand_dims_fed_axis": lambda m: m.expand_dims(_p(m, [2, 3]), _p(m, [], m.int32)),
    "expand_dims_unknown_rank": lambda m: m.expand_dims(_p(m, None), 0),
    "squeeze_unknown_dim": lambda m: m.squeeze(_p(m, [1, None, 3])),
    "squeeze_named_unknown_dim": lambda m: m.squeeze(_p(m, [1, None, 3]), [1]),
    "squeeze_unknown_rank": lambda m: m.squeeze(_p(m, None), [1]),
    "transpose_unknown_rank_const_perm": lambda m: m.transpose(_p(m, None), [1, 0, 2]),
    "transpose_fed_perm": lambda m: m.transpose(_p(m, None), _p(m, [3], m.int32)),
    "transpose_negative_perm": lambda m: m.transpose(_p(m, [1, 2, 3]), [-1, 0, 1]),
    "fill_pack": lambda m: m.fill(m.stack([_p(m, [], m.int32), 3]), 1.0),
    "fill_fed_dims": lambda m: m.fill(_p(m, [3], m.int32), 1.0),
    "fill_shape_of": lambda m: m.fill(m.shape(_p(m, [None, 5])), 0),
    "zeros_dynamic": lambda m: m.zeros([m.shape(_p(m, [None]))[0], 4]),
    "ones_shape_of": lambda m: m.ones(m.shape(_p(m, [2, None]))),
    "zeros_like_dtype": lambda m: m.zeros_like(_p(m, [None, 2]), dtype=m.int32),
    "tile_partial_multiples": lambda m: m.tile(_p(m, [2, 3]), [_p(m, [], m.int32), 2]),
    "tile_unknown_rank": lambda m: m.tile(_p(m, None), [1, 2]),
    "tile_fed_multiples": lambda m: m.tile(_p(m, None), _p(m, [3], m.int32)),
    "tile_unknown_dim_times_one": lambda m: m.tile(_p(m, [None, 1]), [1, 4]),
    "broadcast_fed_shape": lambda m: m.broadcast_to(_p(m, [1, 3]), _p(m, [3], m.int32)),
    "broadcast_partial_shape": lambda m: m.broadcast_to(_p(m, [5, 1]), [m.shape(_p(m, [None]))[0], 5, 4]),
    "pad_fed_paddings": lambda m: m.pad(_p(m, [None, 3]), _p(m, [2, 2], m.int32)),
    "pad_unknown_rank": lambda m: m.pad(_p(m, None), [[1, 2], [3, 4]]),
    "pad_v2_unknown": lambda m: m.pad(_p(m, None), _p(m, [None, 2], m.int32), constant_values=2.0),
    "mirror_pad_unknown_rank": lambda m: m.pad(_p(m, None), [[1, 2]], "REFLECT"),
    "mirror_pad_fed": lambda m: m.pad(_p(m, [3, None]), _p(m, [2, 2], m.int32), "SYMMETRIC"),
    "shape_n_unknown_rank": lambda m: m.shape_n([_p(m, [None, 2]), _p(m, None)])[1],
}


@pytest.mark.tf
@pytest.mark.parametrize("name", sorted(SAME_AS_TF))
def test_static_shape_matches_tensorflow(name):
    import tensorflow as tf
    shapes = []
    for m, graph in ((tf.compat.v1, tf.Graph()), (gg, gg.Graph())):
        with graph.as_default():
            t = SAME_AS_TF[name](m)
        shapes.append(None if t.shape.ndims is None else t.shape.as_list())
    assert shapes[1] == shapes[0], f"ours {shapes[1]}, TensorFlow's {shapes[0]}"


def test_api_node_choice():
    g = gg.Graph()
    with g.as_default():
        x = ph("x", gg.float32, [2, 3])
        assert gg.shape(x).op.type == "Const" and gg.shape(x).op.name.startswith("Shape")
        assert gg.size(x).op.type == "Const" and gg.rank(x).op.type == "Const"
        assert gg.zeros([2, 3]).op.type == "Const" and gg.zeros([2, 3]).op.name.startswith("zeros")
        big = gg.ones([100, 100])
        assert big.op.type == "Fill" and big.op.name.startswith("ones")
        assert gg.pad(x, [[1, 1], [0, 0]]).op.type == "Pad"
        assert gg.pad(x, [[1, 1], [0, 0]], constant_values=2.0).op.type == "PadV2"
        assert gg.transpose(x).op.name.startswith("transpose")
        assert gg.reshape(x, [-1]).op.name.startswith("Reshape")
        u = ph("u", gg.float32, [None, 3])
        assert gg.shape(u).op.type == "Shape" and gg.zeros_like(u).op.type == "ZerosLike"
        assert gg.ones_like(u).op.type == "Fill"
        assert gg.zeros_like(x).op.type == "Const"


# -- bad input -----------------------------------------------------------------------------------
def _build(fn):
    g = gg.Graph()
    with g.as_default():
        return fn()


def test_reshape_incompatible_counts_at_build_time():
    with pytest.raises(ValueError) as e:
        _build(lambda: gg.reshape(gg.zeros([2, 3]), [4, 2]))
    msg = str(e.value)
    assert "6 elements" in msg and "8 elements" in msg and "[2,3]" in msg and "[4,2]" in msg
    assert "Reshape" in msg


def test_reshape_not_divisible_and_two_unknowns():
    with pytest.raises(ValueError, match="7 elements"):
        _build(lambda: gg.reshape(ph("x", gg.float32, [7]), [-1, 2]))
    with pytest.raises(ValueError, match="Only one dimension"):
        _build(lambda: gg.reshape(ph("x", gg.float32, [8]), [-1, -1]))


def _run(fn, feeds):
    g = gg.Graph()
    with g.as_default():
        out = fn()
        with gg.Session() as sess:
            return sess.run(out, {g.get_tensor_by_name(k + ":0"): v for k, v in feeds.items()})


def test_reshape_runtime_mismatch_names_node():
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"Reshape.*5 values.*has 4"):
        _run(lambda: gg.reshape(ph("x", gg.float32, [None]), [2, 2]), {"x": np.zeros(5, np.float32)})


def test_squeeze_non_one_dim():
    with pytest.raises(ValueError, match=r"Can not squeeze dim\[1\], expected a dimension of 1, got 3"):
        _build(lambda: gg.squeeze(ph("x", gg.float32, [1, 3]), axis=[1]))
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"Squeeze.*Can not squeeze dim\[0\]"):
        _run(lambda: gg.squeeze(ph("x", gg.float32, [None, 2]), [0]), {"x": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match="Tried to squeeze dim index 2"):
        _build(lambda: gg.squeeze(ph("x", gg.float32, [1, 1]), axis=2))


def test_expand_dims_bad_axis():
    with pytest.raises(ValueError, match="Tried to expand dim index 3 for tensor with 2 dimensions"):
        _build(lambda: gg.expand_dims(ph("x", gg.float32, [1, 3]), 3))
    with pytest.raises(ValueError, match="Must specify an axis"):
        _build(lambda: gg.expand_dims(ph("x", gg.float32, [1, 3])))


def test_transpose_bad_perm():
    with pytest.raises(ValueError, match="perm"):
        _build(lambda: gg.transpose(ph("x", gg.float32, [1, 3]), [0, 1, 2]))
    with pytest.raises(gg.errors.InvalidArgumentError, match="duplicated"):
        _run(lambda: gg.transpose(ph("x", gg.float32, [1, 3]), ph("p", gg.int32, [2])),
             {"x": np.zeros((1, 3), np.float32), "p": np.array([0, 0], np.int32)})


def test_pad_errors():
    with pytest.raises(ValueError, match="non-negative"):
        _build(lambda: gg.pad(ph("x", gg.float32, [2]), [[-1, 0]]))
    with pytest.raises(ValueError, match="rank"):
        _build(lambda: gg.pad(ph("x", gg.float32, [2, 2]), [[1, 0]]))
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"MirrorPad.*less than the dimension size"):
        _run(lambda: gg.pad(ph("x", gg.float32, [None]), [[3, 0]], "REFLECT"), {"x": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="mode"):
        _build(lambda: gg.pad(ph("x", gg.float32, [2]), [[1, 0]], "WRAP"))


def test_tile_and_fill_errors():
    with pytest.raises(ValueError, match="multiples"):
        _build(lambda: gg.tile(ph("x", gg.float32, [2, 2]), [1, 2, 3]))
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"Fill.*>= 0"):
        _run(lambda: gg.fill(ph("d", gg.int32, [2]), 1.0), {"d": np.array([2, -1], np.int32)})
    with pytest.raises(ValueError, match="Incompatible shapes"):
        _build(lambda: gg.broadcast_to(ph("x", gg.float32, [3]), [2, 4]))


def test_partially_known_shape_to_tensor():
    with pytest.raises(ValueError, match="partially known TensorShape"):
        _build(lambda: gg.reshape(ph("x", gg.float32, [2, 3]), gg.TensorShape([None, 6])))
    g, (out,) = build_graph(Case("ts", lambda: [gg.reshape(ph("x", gg.float32, [2, 3]),
                                                            gg.TensorShape([3, 2]))]))
    assert out.shape.as_list() == [3, 2]
