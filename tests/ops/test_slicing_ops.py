"""Conformance and bad-input tests for gpugraph/ops/slicing_ops.py: Slice, StridedSlice (and
``Tensor.__getitem__``), GatherV2, ConcatV2, Pack, Unpack, Split, SplitV."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework import registry
from conformance import Case, check, ph

rng = np.random.default_rng(11)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def ints(*shape, dtype=np.int32):
    return rng.integers(-50, 50, size=shape).astype(dtype)


def strings(*shape):
    return np.array([f"s{i}".encode() for i in range(int(np.prod(shape)))], dtype=object).reshape(shape)


def _getitem_cases():
    x = lambda: ph("x", gg.float32, [None, 4, 5])  # noqa: E731
    feeds = {"x": f32(6, 4, 5)}
    specs = {
        "neg_step_ellipsis_newaxis": lambda t: t[::-2, ..., 1:, None],
        "shrink_first_and_last": lambda t: t[1, ..., -1],
        "negative_index": lambda t: t[-1],
        "newaxis_front_and_middle": lambda t: t[None, :, None, ::3],
        "clamped_out_of_range": lambda t: t[-100:100, 3:100, -100:-2],
        "reverse_all": lambda t: t[::-1, ::-1, ::-1],
        "negative_stride_bounds": lambda t: t[5:1:-1, -1:-5:-2, 10:-10:-3],
        "empty_ranges": lambda t: t[3:1, 2:2],
        "ellipsis_only": lambda t: t[...],
        "ellipsis_middle_shrink": lambda t: t[0, ..., 2],
        "newaxis_after_ellipsis": lambda t: t[..., None, 1],
    }
    return [Case(f"getitem_{name}", (lambda fn: lambda: fn(x()))(fn), feeds=feeds)
            for name, fn in specs.items()]


CASES = _getitem_cases() + [
    # StridedSlice with explicit masks, int64 and int16 indices, other dtypes.
    Case("strided_slice_masks_int64", lambda: gg.strided_slice(
        ph("x", gg.int64, [5, 6, 7]), gg.constant([1, 0, -1, 2], gg.int64),
        gg.constant([4, 0, 0, 0], gg.int64),
        gg.constant([2, 1, 1, -1], gg.int64), begin_mask=0b0010, end_mask=0b1010, new_axis_mask=0b0100,
        shrink_axis_mask=0), feeds={"x": ints(5, 6, 7, dtype=np.int64)}),
    Case("strided_slice_ellipsis_shrink_int16", lambda: gg.strided_slice(
        ph("x", gg.bool, [2, 3, 4]), gg.constant([0, 1], gg.int16), gg.constant([0, 2], gg.int16),
        gg.constant([1, 1], gg.int16), ellipsis_mask=1, shrink_axis_mask=2),
        feeds={"x": rng.random((2, 3, 4)) > 0.5}),
    Case("strided_slice_default_strides_strings", lambda: gg.strided_slice(
        ph("x", gg.string, [4, 3]), [1, 0], [3, -1]), feeds={"x": strings(4, 3)}),
    Case("strided_slice_fed_bounds", lambda: gg.strided_slice(
        ph("x", gg.int32, [6, 5]), ph("b", gg.int32, [2]), ph("e", gg.int32, [2]), [2, -1], end_mask=2),
        feeds={"x": ints(6, 5), "b": np.array([1, 3], np.int32), "e": np.array([100, 0], np.int32)}),
    # Slice.
    Case("slice_minus_one_size", lambda: [gg.slice(ph("x", gg.float32, [None, 5]), [1, 2], [-1, 2]),
                                          gg.slice(ph("y", gg.int64, [4, 3]), gg.constant([0, 1], gg.int64),
                                                   gg.constant([2, -1], gg.int64))],
         feeds={"x": f32(4, 5), "y": ints(4, 3, dtype=np.int64)}),
    Case("slice_strings_fed_begin",
         lambda: gg.slice(ph("s", gg.string, [3, 4]), ph("b", gg.int32, [2]), [2, 2]),
         feeds={"s": strings(3, 4), "b": np.array([1, 2], np.int32)}),
    # GatherV2.
    Case("gather_axis1", lambda: gg.gather(ph("p", gg.float32, [3, 5, 2]), [[4, 0], [1, 1]], axis=1),
         feeds={"p": f32(3, 5, 2)}),
    Case("gather_batch_dims1", lambda: gg.gather(ph("p", gg.float32, [2, 4, 3]), ph("i", gg.int64, [2, 5]),
                                                 axis=1, batch_dims=1),
         feeds={"p": f32(2, 4, 3), "i": rng.integers(0, 4, (2, 5)).astype(np.int64)}),
    Case("gather_batch_dims_axis2", lambda: gg.gather(ph("p", gg.int32, [2, 3, 4]), ph("i", gg.int32, [2, 2]),
                                                      axis=2, batch_dims=-1),
         feeds={"p": ints(2, 3, 4), "i": np.array([[3, 0], [1, 2]], np.int32)}),
    Case("gather_negative_axis_scalar_index", lambda: [
        gg.gather(ph("p", gg.int64, [3, 4]), 2, axis=-1),
        gg.gather(ph("q", gg.bool, [None, 2]), gg.constant([1, 0, 1], gg.int64),
                  axis=gg.constant(-1, gg.int64))],
        feeds={"p": ints(3, 4, dtype=np.int64), "q": rng.random((3, 2)) > 0.5}),
    Case("gather_strings_default_axis", lambda: gg.gather(ph("s", gg.string, [4, 2]), [3, 3, 0]),
         feeds={"s": strings(4, 2)}),
    # ConcatV2.
    Case("concat_negative_axis", lambda: gg.concat(
        [ph("a", gg.float32, [None, 2, 1]), ph("b", gg.float32, [3, None, 4]), ph("c", gg.float32, None)],
        -1),
        feeds={"a": f32(3, 2, 1), "b": f32(3, 2, 4), "c": f32(3, 2, 2)}),
    Case("concat_int64_axis_strings_bools", lambda: [
        gg.concat([ph("s", gg.string, [2]), ph("t", gg.string, [None])], gg.constant(0, gg.int64)),
        gg.concat([ph("b", gg.bool, [1, 2]), ph("c", gg.bool, [1, 2])], axis=0),
        gg.concat([ph("i", gg.int64, [2, 2]), ph("j", gg.int64, [2, 1])], 1),
        gg.concat([ph("k", gg.int32, [2])], 0)],
        feeds={"s": strings(2), "t": strings(3), "b": np.array([[True, False]]),
               "c": np.array([[False, False]]),
               "i": ints(2, 2, dtype=np.int64), "j": ints(2, 1, dtype=np.int64), "k": ints(2)}),
    # Pack, Unpack.
    Case("stack_axes", lambda: [gg.stack([ph("a", gg.float32, [2, 3]), ph("b", gg.float32, [None, 3])],
                                         axis=1),
                                gg.stack([ph("c", gg.int64, [2]), ph("d", gg.int64, [2])], axis=-1),
                                gg.stack([ph("s", gg.string, []), "lit"]),
                                gg.stack([ph("e", gg.int32, []), 5, ph("f", gg.int32, [])])],
         feeds={"a": f32(2, 3), "b": f32(2, 3), "c": ints(2, dtype=np.int64), "d": ints(2, dtype=np.int64),
                "s": np.array(b"v", dtype=object), "e": np.int32(1), "f": np.int32(2)}),
    Case("unstack_negative_axis", lambda: gg.unstack(ph("x", gg.int64, [2, 3]), axis=-1),
         feeds={"x": ints(2, 3, dtype=np.int64)}),
    Case("unstack_strings_bools", lambda: gg.unstack(ph("s", gg.string, [None, 2]), num=2, axis=1) +
         gg.unstack(ph("b", gg.bool, [2, 1])),
         feeds={"s": strings(3, 2), "b": np.array([[True], [False]])}),
    # Split, SplitV.
    Case("split_num_axis1", lambda: gg.split(ph("x", gg.float32, [None, 6]), 3, axis=1),
         feeds={"x": f32(2, 6)}),
    Case("split_v_minus_one", lambda: gg.split(ph("x", gg.int32, [7, 2]), [2, -1, 1]),
         feeds={"x": ints(7, 2)}),
    Case("split_v_int64_negative_axis", lambda: gg.split(
        ph("x", gg.string, [2, 5]), gg.constant([1, 4], gg.int64), axis=-1), feeds={"x": strings(2, 5)}),
    Case("split_v_unknown_dim", lambda: gg.split(ph("x", gg.bool, [None, 2]), [1, -1, 0]),
         feeds={"x": rng.random((4, 2)) > 0.5}),
    # Empty tensors and the less common dtypes.
    Case("empty_gather_split_unstack", lambda: [
        gg.gather(ph("p", gg.float32, [0, 3]), ph("i", gg.int32, [0])),
        gg.gather(ph("q", gg.float32, [2, 3, 0]), ph("j", gg.int32, [2, 4]), axis=1, batch_dims=1),
        gg.concat([ph("x", gg.float32, [0, 2]), ph("y", gg.float32, [3, 2])], 0)] +
        gg.split(ph("z", gg.float32, [0, 4]), 2, axis=1) + gg.split(ph("w", gg.float32, [3]), [0, 3]) +
        gg.unstack(ph("u", gg.float32, [0, 3]), num=0),
        feeds={"p": np.zeros((0, 3), np.float32), "i": np.zeros(0, np.int32),
               "q": np.zeros((2, 3, 0), np.float32),
               "j": np.zeros((2, 4), np.int32), "x": np.zeros((0, 2), np.float32), "y": f32(3, 2),
               "z": np.zeros((0, 4), np.float32), "w": f32(3), "u": np.zeros((0, 3), np.float32)}),
    Case("empty_slices", lambda: [
        ph("x", gg.float32, [0, 3])[:, 1], ph("y", gg.float32, [3, 0])[::-1], ph("z", gg.float32, [3])[2:0],
        ph("w", gg.float32, [4])[-1:-5:-1], gg.slice(ph("v", gg.float32, [3, 2]), [3, 0], [-1, 2])],
        feeds={"x": np.zeros((0, 3), np.float32), "y": np.zeros((3, 0), np.float32), "z": f32(3), "w": f32(4),
               "v": f32(3, 2)}),
    Case("complex_uint8_half", lambda: [
        gg.gather(ph("c", gg.complex128, [3]), [2, 0]),
        gg.concat([ph("a", gg.uint8, [2]), ph("b", gg.uint8, [1])], 0),
        ph("h", gg.float16, [4, 2])[::-3, 1], gg.stack([ph("s", gg.float16, [2])] * 2, axis=1)],
        feeds={"c": np.array([1 + 2j, 3, 4j]), "a": np.array([1, 2], np.uint8), "b": np.array([3], np.uint8),
               "h": f32(4, 2).astype(np.float16), "s": f32(2).astype(np.float16)}),
]

if registry.lookup("AddV2") is not None and hasattr(gg.Tensor, "__add__"):
    CASES.append(Case("getitem_tensor_index", lambda: (lambda x, i: [x[i], x[1:, i], x[i:]])(
        ph("x", gg.float32, [4, 3]), ph("i", gg.int32, [])), feeds={"x": f32(4, 3), "i": np.int32(-2)}))
    CASES.append(Case("getitem_int64_tensor_bounds", lambda: (lambda x, i: x[i:, ::2])(
        ph("x", gg.int32, [5, 4]), ph("i", gg.int64, [])), feeds={"x": ints(5, 4), "i": np.int64(2)}))


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- StridedSlice against TensorFlow's own __getitem__: static shapes, errors, values -----------------
def _random_spec(rank, r):
    """A random slice spec: ints, slices (any bounds/steps, out-of-range ones too), ..., None."""
    spec, used_ellipsis = [], False
    for _ in range(r.integers(0, rank + 2)):
        kind = r.choice(["int", "slice", "slice", "slice", "ellipsis", "newaxis"])
        if kind == "int":
            spec.append(int(r.integers(-4, 4)))
        elif kind == "ellipsis" and not used_ellipsis:
            spec.append(Ellipsis)
            used_ellipsis = True
        elif kind == "newaxis":
            spec.append(None)
        else:
            pick = lambda lo, hi: None if r.random() < 0.3 else int(r.integers(lo, hi))  # noqa: E731
            step = None if r.random() < 0.3 else int(r.choice([-3, -2, -1, 1, 2, 3]))
            spec.append(slice(pick(-7, 7), pick(-7, 7), step))
    return tuple(spec)


@pytest.mark.tf
def test_getitem_matches_tensorflow_fuzz():
    import tensorflow as tf
    r = np.random.default_rng(1234)
    shapes = [(4,), (3, 5), (2, 3, 4), (5, 1, 3, 2)]
    tg, gg_graph = tf.Graph(), gg.Graph()
    tf_out, gg_out, feeds_tf, feeds_gg = [], [], {}, {}
    for _ in range(40):
        for shape in shapes:
            spec = _random_spec(len(shape), r)
            value = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
            build_failed = False
            # Fully known shape first; then leading dims unknown (run only if the spec is valid).
            for static in (list(shape), [None] * (len(shape) - 1) + [shape[-1]]):
                with tg.as_default():
                    tx = tf.compat.v1.placeholder(tf.int32, static)
                    try:
                        ty = tx[spec]
                    except (ValueError, TypeError, IndexError) as e:
                        ty = e
                with gg_graph.as_default():
                    gx = gg.placeholder(gg.int32, static)
                    try:
                        gy = gx[spec]
                    except (ValueError, TypeError, IndexError) as e:
                        gy = e
                where = f"shape {static} spec {spec}"
                assert isinstance(ty, Exception) == isinstance(gy, Exception), \
                    f"{where}: TF {ty!r} vs ours {gy!r}"
                if isinstance(ty, Exception):
                    build_failed = True
                    continue
                ts = None if ty.shape.rank is None else ty.shape.as_list()
                gs = None if gy.shape.ndims is None else gy.shape.as_list()
                assert ts == gs, f"{where}: static shape TF {ts} vs ours {gs}"
                if not build_failed:
                    tf_out.append(ty)
                    gg_out.append((gy, where))
                    feeds_tf[tx], feeds_gg[gx] = value, value
    with tf.compat.v1.Session(graph=tg) as sess:
        theirs = sess.run(tf_out, feeds_tf)
    with gg.Session(graph=gg_graph) as sess:
        ours = sess.run([g for g, _ in gg_out], feeds_gg)
    assert len(ours) > 150
    for (_, where), a, b in zip(gg_out, ours, theirs):
        assert a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)


@pytest.mark.tf
def test_strided_slice_random_masks_match_tensorflow():
    """Every mask combination (shrink with begin/end masks, new axes around an ellipsis, …)."""
    import tensorflow as tf
    r = np.random.default_rng(99)
    tg, gg_graph = tf.Graph(), gg.Graph()
    pairs, feeds_tf, feeds_gg = [], {}, {}
    for k in range(300):
        shape = tuple(int(d) for d in r.integers(1, 5, size=r.integers(1, 5)))
        n = int(r.integers(1, 6))
        begin, end = r.integers(-6, 6, n).tolist(), r.integers(-6, 6, n).tolist()
        strides = r.choice([-3, -2, -1, 1, 2, 3], n).tolist()
        masks = {m: int(r.integers(0, 2 ** n)) for m in ("begin_mask", "end_mask", "new_axis_mask",
                                                         "shrink_axis_mask")}
        masks["ellipsis_mask"] = 0 if r.random() < 0.5 else 1 << int(r.integers(0, n))
        static = list(shape) if k % 2 else [None] + list(shape[1:])
        results = []
        for mod, g, ph_fn in ((tf, tg, tf.compat.v1.placeholder), (gg, gg_graph, gg.placeholder)):
            with g.as_default():
                x = ph_fn(mod.int32, static)
                try:
                    results.append((x, mod.strided_slice(x, begin, end, strides, **masks)))
                except (ValueError, TypeError) as e:
                    results.append((x, e))
        (tx, ty), (gx, gy) = results
        where = f"shape {static} begin {begin} end {end} strides {strides} {masks}"
        assert isinstance(ty, Exception) == isinstance(gy, Exception), f"{where}: TF {ty!r} vs ours {gy!r}"
        if isinstance(ty, Exception):
            continue
        ts = None if ty.shape.rank is None else ty.shape.as_list()
        assert ts == (None if gy.shape.ndims is None else gy.shape.as_list()), f"{where}: {ts} vs {gy.shape}"
        if k % 2:  # fully known shape: valid at run time too
            value = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
            pairs.append((ty, gy, where))
            feeds_tf[tx], feeds_gg[gx] = value, value
    with tf.compat.v1.Session(graph=tg) as sess:
        theirs = sess.run([p[0] for p in pairs], feeds_tf)
    with gg.Session(graph=gg_graph) as sess:
        ours = sess.run([p[1] for p in pairs], feeds_gg)
    assert len(pairs) > 60
    for (_, _, where), a, b in zip(pairs, ours, theirs):
        assert a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)


# -- static shapes -------------------------------------------------------------------------------
def _static(fn):
    g = gg.Graph()
    with g.as_default():
        out = fn()
    return [None if t.shape.ndims is None else t.shape.as_list()
            for t in (out if isinstance(out, list) else [out])]


@pytest.mark.parametrize("fn, expected", [
    (lambda: ph("x", gg.float32, [None, 4, 5])[::-2, ..., 1:, None], [[None, 4, 4, 1]]),
    (lambda: ph("x", gg.float32, [6, 4, 5])[::-2, ..., 1:, None], [[3, 4, 4, 1]]),
    (lambda: ph("x", gg.float32, [6, 4])[10:], [[0, 4]]),
    (lambda: gg.strided_slice(ph("x", gg.float32, [6, 4]), ph("b", gg.int32, [2]), [3, 4], [1, 1]),
     [[None, None]]),
    (lambda: gg.strided_slice(ph("x", gg.float32, [6, 4]), ph("b", gg.int32, [2]), [0, 0], [1, -1],
                              begin_mask=2, end_mask=3, shrink_axis_mask=1), [[4]]),
    (lambda: gg.slice(ph("x", gg.float32, [None, 5]), [1, 2], [-1, 2]), [[None, 2]]),
    (lambda: gg.slice(ph("x", gg.float32, [4, 5]), ph("b", gg.int32, [2]), [2, -1]), [[2, None]]),
    (lambda: gg.concat([ph("a", gg.float32, [None, 2]), ph("b", gg.float32, [3, 5])], 1), [[3, 7]]),
    (lambda: gg.concat([ph("a", gg.float32, [2, 2]), ph("b", gg.float32, None)], 0), [[None, 2]]),
    (lambda: gg.concat([ph("a", gg.float32, [2, 2]), ph("b", gg.float32, [2, 2])], ph("ax", gg.int32, [])),
     [[None, None]]),
    (lambda: gg.stack([ph("a", gg.float32, [None, 3]), ph("b", gg.float32, [2, None])], axis=-1),
     [[2, 3, 2]]),
    (lambda: gg.gather(ph("p", gg.float32, [2, 7, 3]), ph("i", gg.int32, [2, 5]), axis=1, batch_dims=1),
     [[2, 5, 3]]),
    (lambda: gg.gather(ph("p", gg.float32, [2, 7, 3]), ph("i", gg.int32, [4]), axis=ph("a", gg.int32, [])),
     [[None, None, None]]),
    (lambda: gg.split(ph("x", gg.float32, [None, 6]), [2, -1], axis=1), [[None, 2], [None, 4]]),
    (lambda: gg.split(ph("x", gg.float32, [5, 6]), ph("s", gg.int32, [2])), [[None, 6], [None, 6]]),
    (lambda: gg.split(ph("x", gg.float32, [4, 6]), 2, axis=ph("a", gg.int32, [])), [[None, None]] * 2),
    (lambda: gg.unstack(ph("x", gg.float32, [None, 2]), axis=1), [[None], [None]]),
])
def test_static_shape(fn, expected):
    assert _static(fn) == expected


def _p(m, shape, dtype=None):
    return m.placeholder(dtype or m.float32, shape)


# Built identically with tf.compat.v1 and gpugraph (same API): the static shapes must be equal.
SAME_AS_TF = {
    "concat_fed_axis": lambda m: m.concat([_p(m, [2, 3]), _p(m, None)], _p(m, [], m.int32)),
    "concat_unknown_ranks": lambda m: m.concat([_p(m, None), _p(m, None)], 0),
    "concat_partial": lambda m: m.concat([_p(m, [None, 3]), _p(m, [2, None]), _p(m, [4, 3])], 0),
    "stack_unknown_rank": lambda m: m.stack([_p(m, None), _p(m, [2])], axis=1),
    "split_unknown_rank": lambda m: m.split(_p(m, None), 2, axis=1)[0],
    "split_negative_axis": lambda m: m.split(_p(m, [4, None, 6]), 3, axis=-1)[1],
    "split_v_fed_sizes": lambda m: m.split(_p(m, [4, 6]), _p(m, [2], m.int32), num=2, axis=1)[1],
    "split_v_unknown_rank": lambda m: m.split(_p(m, None), [1, 3])[1],
    "slice_partial_begin": lambda m: m.slice(_p(m, [5, 6]), [_p(m, [], m.int32), 1], [-1, -1]),
    "slice_partial_size": lambda m: m.slice(_p(m, [5, 6]), [0, 1], [_p(m, [], m.int32), -1]),
    "slice_unknown_rank": lambda m: m.slice(_p(m, None), [0, 1], [2, 3]),
    "slice_fed": lambda m: m.slice(_p(m, [5, 6]), _p(m, [2], m.int32), _p(m, [2], m.int32)),
    "gather_unknown_indices_rank": lambda m: m.gather(_p(m, [3, 4]), _p(m, None, m.int32), axis=1),
    "gather_unknown_params": lambda m: m.gather(_p(m, None), _p(m, [2], m.int32)),
    "gather_fed_axis": lambda m: m.gather(_p(m, [3, 4, 5]), _p(m, [3, 2], m.int32), axis=_p(m, [], m.int32),
                                          batch_dims=1),
    "gather_negative_batch_dims": lambda m: m.gather(_p(m, [3, 4, 5]), _p(m, [3, 2], m.int32), axis=2,
                                                     batch_dims=-1),
    "unstack_partial": lambda m: m.unstack(_p(m, [None, 3, 2]), axis=1)[0],
    "strided_slice_fed_strides": lambda m: m.strided_slice(_p(m, [4, 5]), [0, 0], [2, 2],
                                                           _p(m, [2], m.int32)),
    "strided_slice_fed_begin_masked": lambda m: m.strided_slice(_p(m, [4, 5]), _p(m, [2], m.int32), [2, 2],
                                                                [1, -1], end_mask=3),
    "getitem_unknown_rank": lambda m: _p(m, None)[1:, 0],
    "getitem_tensor_index": lambda m: _p(m, [4, 5])[_p(m, [], m.int32)],
    "getitem_tensor_bound": lambda m: _p(m, [4, 5])[_p(m, [], m.int32):, ::2],
}
# Values of StridedSlices of shape vectors (tf.shape(x)[1:]) need op_builder's constant_value hooks.
SHAPE_SLICES = {
    "zeros_of_shape_slice": lambda m: m.zeros(m.shape(_p(m, [None, 3, 4]))[1:]),
    "fill_of_shape_stride": lambda m: m.fill(m.shape(_p(m, [None, 3, 4]))[::2], 1.0),
    "reshape_shape_element": lambda m: m.reshape(_p(m, [None]), [m.shape(_p(m, [None, 2, 3]))[1], -1]),
    "reshape_concat_of_slice": lambda m: m.reshape(
        _p(m, [None, 12]), m.concat([m.shape(_p(m, [None, 3, 4]))[:1], [3, 4]], 0)),
}


def _tf_and_our_static_shapes(build):
    import tensorflow as tf
    shapes = []
    for m, graph in ((tf.compat.v1, tf.Graph()), (gg, gg.Graph())):
        with graph.as_default():
            t = build(m)
        shapes.append(None if t.shape.ndims is None else t.shape.as_list())
    return shapes


@pytest.mark.tf
@pytest.mark.parametrize("name", sorted(SAME_AS_TF))
def test_static_shape_matches_tensorflow(name):
    theirs, ours = _tf_and_our_static_shapes(SAME_AS_TF[name])
    assert ours == theirs


def _core_evaluates_shape_slices():
    g = gg.Graph()
    with g.as_default():
        return gg.zeros(gg.shape(ph("x", gg.float32, [None, 3]))[1:]).shape.as_list() == [3]


@pytest.mark.tf
@pytest.mark.skipif(not _core_evaluates_shape_slices(),
                    reason="op_builder.constant_value(_as_shape) does not call the StridedSlice hooks")
@pytest.mark.parametrize("name", sorted(SHAPE_SLICES))
def test_shape_slice_static_shape_matches_tensorflow(name):
    theirs, ours = _tf_and_our_static_shapes(SHAPE_SLICES[name])
    assert ours == theirs


def test_strided_slice_constant_hooks():
    from gpugraph.ops import slicing_ops
    g = gg.Graph()
    with g.as_default():
        x = ph("x", gg.float32, [None, 3, 4])
        s = gg.shape(x)
        assert slicing_ops.strided_slice_as_shape(s[1:].op).as_list() == [3, 4]
        assert slicing_ops.strided_slice_as_shape(s[::-1].op).as_list() == [4, 3, None]
        assert slicing_ops.strided_slice_constant_value(s[-1].op) == 4
        assert slicing_ops.strided_slice_constant_value(s[0].op) is None
        c = gg.constant(np.arange(12).reshape(3, 4))
        np.testing.assert_array_equal(slicing_ops.strided_slice_constant_value(c[1:, ::-2].op),
                                      np.arange(12).reshape(3, 4)[1:, ::-2])


def test_getitem_node_names_and_masks():
    g = gg.Graph()
    with g.as_default():
        y = ph("x", gg.float32, [6, 4, 5])[::-2, ..., 1:, None]
        op = y.op
        assert op.type == "StridedSlice" and op.name == "strided_slice"
        assert [t.op.name for t in op.inputs[1:]] == ["strided_slice/stack", "strided_slice/stack_1",
                                                      "strided_slice/stack_2"]
        assert (op.get_attr("begin_mask"), op.get_attr("end_mask"), op.get_attr("ellipsis_mask"),
                op.get_attr("new_axis_mask"), op.get_attr("shrink_axis_mask")) == \
            (0b0001, 0b0101, 0b0010, 0b1000, 0)
        assert gg.concat([y], 0).op.type == "Identity"
        assert gg.stack([1, 2]).op.type == "Const"


# -- bad input -----------------------------------------------------------------------------------
def _build(fn):
    g = gg.Graph()
    with g.as_default():
        return fn()


def _run(fn, feeds):
    g = gg.Graph()
    with g.as_default():
        out = fn()
        with gg.Session() as sess:
            return sess.run(out, {g.get_tensor_by_name(k + ":0"): v for k, v in feeds.items()})


def test_concat_rank_mismatch():
    with pytest.raises(ValueError, match=r"ConcatV2.*equal rank, but are 2 and 3"):
        _build(lambda: gg.concat([ph("a", gg.float32, [2, 2]), ph("b", gg.float32, [2, 2, 1])], 0))
    with pytest.raises(ValueError, match="Dimension 1 in both shapes must be equal, but are 2 and 3"):
        _build(lambda: gg.concat([ph("a", gg.float32, [2, 2]), ph("b", gg.float32, [2, 3])], 0))
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"ConcatV2.*Dimension 1 in both shapes"):
        _run(lambda: gg.concat([ph("a", gg.float32, [2, None]), ph("b", gg.float32, [2, None])], 0),
             {"a": np.zeros((2, 2), np.float32), "b": np.zeros((2, 3), np.float32)})


def test_gather_index_out_of_range_names_node_and_index():
    with pytest.raises(gg.errors.InvalidArgumentError) as e:
        _run(lambda: gg.gather(ph("p", gg.float32, [5, 2]), ph("i", gg.int32, [2, 2]), name="lookup"),
             {"p": np.zeros((5, 2), np.float32), "i": np.array([[0, 1], [7, 2]], np.int32)})
    msg = str(e.value)
    assert "lookup" in msg and "indices[1,0] = 7 is not in [0, 5)" in msg


def test_strided_slice_errors():
    with pytest.raises(ValueError, match="slice index 5 of dimension 0 out of bounds"):
        _build(lambda: ph("x", gg.float32, [3])[5])
    with pytest.raises(ValueError, match="Index out of range using input dim 1"):
        _build(lambda: ph("x", gg.float32, [3])[0, 1])
    with pytest.raises(ValueError, match="strides\\[0\\] must be non-zero"):
        _build(lambda: ph("x", gg.float32, [3])[::0])
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"strided_slice.*out of bounds"):
        _run(lambda: ph("x", gg.float32, [None])[-4], {"x": np.zeros(3, np.float32)})
    with pytest.raises(TypeError, match="valid indices"):
        _build(lambda: ph("x", gg.float32, [3])[1.5])


def test_split_slice_stack_errors():
    with pytest.raises(ValueError, match="evenly divide"):
        _build(lambda: gg.split(ph("x", gg.float32, [5]), 2))
    with pytest.raises(ValueError, match="can't split axis of size 5"):
        _build(lambda: gg.split(ph("x", gg.float32, [5]), [2, 2]))
    with pytest.raises(gg.errors.InvalidArgumentError, match=r"Slice.*Expected size\[0\] in \[0, 2\]"):
        _run(lambda: gg.slice(ph("x", gg.float32, [None]), [1], [3]), {"x": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="Cannot infer argument `num`"):
        _build(lambda: gg.unstack(ph("x", gg.float32, [None, 2])))
    with pytest.raises(ValueError, match="Shapes of all inputs must match"):
        _build(lambda: gg.stack([ph("a", gg.float32, [2]), ph("b", gg.float32, [3])]))
    with pytest.raises(ValueError, match="batch_dims"):
        _build(lambda: gg.gather(ph("p", gg.float32, [2, 3]), ph("i", gg.int32, [2, 2]), axis=1,
                                 batch_dims=2))
