"""gpugraph.framework.tensor_shape: Dimension and TensorShape with TF1 behaviour."""

import pickle

import numpy as np
import pytest

from gpugraph.framework import tensor_shape
from gpugraph.framework.tensor_shape import Dimension, TensorShape
from gpugraph.protos import tensor_shape_pb2

# ---------------------------------------------------------------------------
# Dimension


def test_dimension_basics():
    d = Dimension(3)
    assert d.value == 3 and int(d) == 3 and [0, 1, 2, 3][d] == 3
    assert repr(d) == "Dimension(3)" and str(d) == "3"
    assert repr(Dimension(None)) == "Dimension(None)" and str(Dimension(None)) == "?"
    assert Dimension(Dimension(4)).value == 4
    assert Dimension(np.int64(5)).value == 5
    assert bool(Dimension(0)) is False and bool(Dimension(None)) is False and bool(Dimension(2))


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (3.0, TypeError), ("3", TypeError), ([1], TypeError)])
def test_dimension_rejects(bad, exc):
    with pytest.raises(exc, match=repr(bad) if exc is TypeError else "-1"):
        Dimension(bad)


def test_dimension_equality_is_none_when_unknown():
    assert (Dimension(3) == 3) is True
    assert (Dimension(3) == Dimension(4)) is False
    assert (Dimension(3) == None) is None  # noqa: E711  (TF semantics)
    assert (Dimension(None) == Dimension(None)) is None
    assert (Dimension(None) != 3) is None
    assert (Dimension(3) != 4) is True
    assert (Dimension(3) == "junk") is False


def test_dimension_ordering():
    assert Dimension(3) < 4 and Dimension(3) <= 3 and Dimension(5) > 4 and Dimension(5) >= 5
    assert (Dimension(None) < 4) is None and (Dimension(3) >= Dimension(None)) is None


def test_dimension_arithmetic():
    assert (Dimension(3) + 1).value == 4
    assert (1 + Dimension(3)).value == 4
    assert (Dimension(7) - 2).value == 5 and (10 - Dimension(3)).value == 7
    assert (Dimension(3) * Dimension(4)).value == 12 and (2 * Dimension(3)).value == 6
    assert (Dimension(7) // 2).value == 3 and (7 // Dimension(2)).value == 3
    assert (Dimension(7) % 4).value == 3 and (7 % Dimension(4)).value == 3
    for result in (Dimension(None) + 1, 2 * Dimension(None), Dimension(3) - None, Dimension(None) // 2,
                   Dimension(None) % 2):
        assert result.value is None
    with pytest.raises(TypeError, match="//"):
        Dimension(4) / 2
    with pytest.raises(TypeError, match="//"):
        4 / Dimension(2)
    with pytest.raises(ValueError, match="-1"):
        Dimension(1) - 2


def test_dimension_merge_and_compat():
    assert Dimension(None).merge_with(4).value == 4
    assert Dimension(4).merge_with(None).value == 4
    assert Dimension(None).merge_with(None).value is None
    assert Dimension(3).is_compatible_with(None) and not Dimension(3).is_compatible_with(4)
    with pytest.raises(ValueError, match="Dimensions 3 and 4 are not compatible"):
        Dimension(3).merge_with(4)
    with pytest.raises(ValueError, match="3 and 4"):
        Dimension(3).assert_is_compatible_with(Dimension(4))


def test_dimension_pickles_and_is_unhashable_like_tf():
    assert pickle.loads(pickle.dumps(Dimension(3))).value == 3
    with pytest.raises(TypeError):
        hash(Dimension(3))


def test_dimension_helpers():
    assert tensor_shape.dimension_value(Dimension(3)) == 3
    assert tensor_shape.dimension_value(5) == 5 and tensor_shape.dimension_value(None) is None
    assert tensor_shape.dimension_at_index(TensorShape(None), 4).value is None
    assert tensor_shape.dimension_at_index(TensorShape([1, 2]), 1).value == 2
    assert tensor_shape.as_dimension(3).value == 3


# ---------------------------------------------------------------------------
# TensorShape construction


def test_construct_from_many_things():
    assert TensorShape([2, None, Dimension(3)]).as_list() == [2, None, 3]
    assert TensorShape((1,)).as_list() == [1]
    assert TensorShape(7).as_list() == [7]
    assert TensorShape(np.array([2, 3])).as_list() == [2, 3]
    assert TensorShape(x for x in [4, 5]).as_list() == [4, 5]
    assert TensorShape(TensorShape([1])).as_list() == [1]
    assert TensorShape(None).rank is None
    assert TensorShape([]).rank == 0


def test_construct_from_proto():
    proto = tensor_shape_pb2.TensorShapeProto()
    proto.dim.add(size=3)
    proto.dim.add(size=-1)
    assert TensorShape(proto).as_list() == [3, None]
    assert TensorShape(tensor_shape_pb2.TensorShapeProto(unknown_rank=True)).rank is None
    assert TensorShape(tensor_shape_pb2.TensorShapeProto()).as_list() == []


def test_construct_errors_name_the_value():
    with pytest.raises(TypeError, match="'a'"):
        TensorShape([1, "a"])
    with pytest.raises(ValueError, match="-2"):
        TensorShape([-2])
    with pytest.raises(TypeError, match="1.5"):
        TensorShape(1.5)


# ---------------------------------------------------------------------------
# Access


def test_v1_indexing_and_iteration():
    s = TensorShape([2, None, 4])
    assert isinstance(s[0], Dimension) and s[0].value == 2
    assert s[-1].value == 4 and s[1].value is None
    assert isinstance(s[1:], TensorShape) and s[1:].as_list() == [None, 4]
    assert [d.value for d in s] == [2, None, 4]
    assert all(isinstance(d, Dimension) for d in s)
    assert len(s) == 3 and s.rank == 3 and s.ndims == 3
    assert [d.value for d in s.dims] == [2, None, 4]
    with pytest.raises(IndexError):
        s[3]


def test_unknown_rank_access():
    s = TensorShape(None)
    assert s.dims is None and s.ndims is None
    assert s[5].value is None
    assert s[1:3].as_list() == [None, None]
    assert s[1:].rank is None and s[-2:].rank is None
    with pytest.raises(ValueError, match="Steps"):
        s[::2]
    with pytest.raises(ValueError, match="unknown rank"):
        len(s)
    with pytest.raises(ValueError, match="unknown rank"):
        iter(s)
    with pytest.raises(ValueError, match="as_list"):
        s.as_list()
    assert not s and TensorShape([])


def test_num_elements_and_fully_defined():
    assert TensorShape([2, 3]).num_elements() == 6
    assert TensorShape([]).num_elements() == 1
    assert TensorShape([2, None]).num_elements() is None
    assert TensorShape(None).num_elements() is None
    assert TensorShape([2, 0]).is_fully_defined()
    TensorShape([1]).assert_is_fully_defined()
    with pytest.raises(ValueError, match=r"\(2, \?\)"):
        TensorShape([2, None]).assert_is_fully_defined()


# ---------------------------------------------------------------------------
# Combining


def test_merge_with():
    assert TensorShape([None, 2]).merge_with([3, None]).as_list() == [3, 2]
    assert TensorShape(None).merge_with([1]).as_list() == [1]
    assert TensorShape([1]).merge_with(None).as_list() == [1]
    with pytest.raises(ValueError, match=r"Shapes \(2,\) and \(3,\) are not compatible"):
        TensorShape([2]).merge_with([3])
    with pytest.raises(ValueError, match=r"\(2,\) and \(2, 3\)"):
        TensorShape([2]).merge_with([2, 3])


def test_compatibility():
    s = TensorShape([32, None])
    assert s.is_compatible_with([32, 7]) and s.is_compatible_with(None)
    assert s.is_compatible_with(TensorShape([None, None]))
    assert not s.is_compatible_with([32]) and not s.is_compatible_with([64, None])
    s.assert_is_compatible_with([None, 3])
    with pytest.raises(ValueError, match=r"\(32, \?\) and \(1,\) are incompatible"):
        s.assert_is_compatible_with([1])


def test_most_specific_compatible_shape():
    assert TensorShape([2, 1]).most_specific_compatible_shape([5, 1]).as_list() == [None, 1]
    assert TensorShape([1, 2]).most_specific_compatible_shape([1, 2]).as_list() == [1, 2]
    assert TensorShape([1]).most_specific_compatible_shape([1, 2]).rank is None
    assert TensorShape(None).most_specific_compatible_shape([1]).rank is None


def test_concatenate():
    assert TensorShape([1]).concatenate([2, None]).as_list() == [1, 2, None]
    assert (TensorShape([1]) + [3]).as_list() == [1, 3]
    assert ([3] + TensorShape([1])).as_list() == [3, 1]
    assert TensorShape([1]).concatenate(None).rank is None


def test_rank_checks():
    s = TensorShape([1, 2])
    assert s.with_rank(2) is not None and TensorShape(None).with_rank(3).as_list() == [None] * 3
    assert s.with_rank_at_least(1) is s and s.with_rank_at_most(2) is s
    s.assert_has_rank(2)
    TensorShape(None).assert_has_rank(5)
    s.assert_same_rank([3, 4])
    with pytest.raises(ValueError, match=r"\(1, 2\) must have rank 3"):
        s.with_rank(3)
    with pytest.raises(ValueError, match="at least 3"):
        s.with_rank_at_least(3)
    with pytest.raises(ValueError, match="at most 1"):
        s.with_rank_at_most(1)
    with pytest.raises(ValueError, match="rank 1"):
        s.assert_has_rank(1)
    with pytest.raises(ValueError, match="same rank"):
        s.assert_same_rank([1])


# ---------------------------------------------------------------------------
# Protos, equality, printing


def test_as_proto():
    proto = TensorShape([2, None]).as_proto()
    assert isinstance(proto, tensor_shape_pb2.TensorShapeProto)
    assert [d.size for d in proto.dim] == [2, -1] and not proto.unknown_rank
    assert TensorShape(None).as_proto().unknown_rank
    assert len(TensorShape([]).as_proto().dim) == 0
    assert TensorShape(TensorShape([5, None]).as_proto()) == TensorShape([5, None])


def test_equality_and_hash():
    assert TensorShape([1, 2]) == [1, 2]
    assert TensorShape([1, None]) == TensorShape([1, None])
    assert TensorShape(None) == TensorShape(None)
    assert TensorShape([1, None]) != TensorShape([1, 2])
    assert TensorShape(None) != TensorShape([1])
    assert TensorShape([1]) != "junk" and not (TensorShape([1]) == [1.5])
    assert len({TensorShape([1, None]), TensorShape([1, None])}) == 1


def test_repr_and_str():
    assert repr(TensorShape([2, None])) == "TensorShape([Dimension(2), Dimension(None)])"
    assert repr(TensorShape(None)) == "TensorShape(None)"
    assert str(TensorShape([2, None])) == "(2, ?)"
    assert str(TensorShape([3])) == "(3,)"
    assert str(TensorShape([])) == "()"
    assert str(TensorShape(None)) == "<unknown>"


def test_pickle():
    for s in (TensorShape([1, None]), TensorShape(None), TensorShape([])):
        assert pickle.loads(pickle.dumps(s)) == s


def test_module_functions():
    assert tensor_shape.as_shape([1]) == TensorShape([1])
    s = TensorShape([1])
    assert tensor_shape.as_shape(s) is s
    assert tensor_shape.unknown_shape().rank is None
    assert tensor_shape.unknown_shape(rank=2).as_list() == [None, None]
    assert tensor_shape.unknown_shape(ndims=1).as_list() == [None]
    with pytest.raises(TypeError, match="bogus"):
        tensor_shape.unknown_shape(bogus=1)
    assert tensor_shape.scalar().as_list() == []
    assert tensor_shape.vector(3).as_list() == [3]
    assert tensor_shape.matrix(2, None).as_list() == [2, None]


# ---------------------------------------------------------------------------
# Against TensorFlow in V1 mode


@pytest.fixture
def tf_v1_shapes():
    from tensorflow.python.framework import tensor_shape as tf_shape

    saved = tf_shape._TENSORSHAPE_V2_OVERRIDE
    tf_shape._TENSORSHAPE_V2_OVERRIDE = False
    try:
        yield tf_shape
    finally:
        tf_shape._TENSORSHAPE_V2_OVERRIDE = saved


SHAPES = [None, [], [3], [2, None], [None, None], [1, 2, 3], [0, 4]]


@pytest.mark.tf
def test_matches_tensorflow_v1(tf_v1_shapes):
    tfs = tf_v1_shapes
    for a in SHAPES:
        ours, theirs = TensorShape(a), tfs.TensorShape(a)
        assert repr(ours) == repr(theirs)
        assert str(ours) == str(theirs)
        assert ours.rank == theirs.rank and ours.num_elements() == theirs.num_elements()
        assert ours.is_fully_defined() == theirs.is_fully_defined()
        assert ours.as_proto().SerializeToString() == theirs.as_proto().SerializeToString()
        if a is not None:
            assert repr(list(ours)) == repr(list(theirs))
            assert repr(ours[0:1]) == repr(theirs[0:1])
        for b in SHAPES:
            assert ours.is_compatible_with(b) == theirs.is_compatible_with(b), (a, b)
            assert (ours == TensorShape(b)) == (theirs == tfs.TensorShape(b)), (a, b)
            assert repr(ours.most_specific_compatible_shape(b)) == repr(
                theirs.most_specific_compatible_shape(b)
            )
            assert repr(ours.concatenate(b)) == repr(theirs.concatenate(b))
            try:
                expected = repr(theirs.merge_with(b))
            except ValueError as exc:
                with pytest.raises(ValueError) as info:
                    ours.merge_with(b)
                assert str(info.value) == str(exc)
            else:
                assert repr(ours.merge_with(b)) == expected


@pytest.mark.tf
def test_dimension_matches_tensorflow(tf_v1_shapes):
    D = tf_v1_shapes.Dimension
    values = [None, 0, 3, 7]
    ops = ["__eq__", "__ne__", "__add__", "__mul__", "__floordiv__", "__mod__", "__lt__", "__ge__"]
    for a in values:
        for b in values:
            for op in ops:
                if op in ("__floordiv__", "__mod__") and b == 0:
                    continue
                ours = getattr(Dimension(a), op)(Dimension(b))
                theirs = getattr(D(a), op)(D(b))
                assert repr(ours) == repr(theirs), (a, op, b)
