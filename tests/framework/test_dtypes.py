"""gpugraph.framework.dtypes: the DType API, checked on its own and against TensorFlow."""

import copy
import pickle

import ml_dtypes
import numpy as np
import pytest

from gpugraph.framework import dtypes
from gpugraph.protos import types_pb2

ALL_ENUMS = [v for v in types_pb2.DataType.values() if v != types_pb2.DT_INVALID]
BASE_ENUMS = [v for v in ALL_ENUMS if v < 100]


# ---------------------------------------------------------------------------
# Construction, identity, names.


def test_dtype_is_interned():
    assert dtypes.DType(types_pb2.DT_FLOAT) is dtypes.float32
    assert dtypes.DType(dtypes.float32) is dtypes.float32
    assert dtypes.DType(np.int32(101)) is dtypes.float32_ref


@pytest.mark.parametrize("bad", [0, 99, 34, 200, -1, True, "float32", 1.0, None])
def test_dtype_constructor_rejects_invalid_enum(bad):
    with pytest.raises(TypeError, match="valid DataType"):
        dtypes.DType(bad)


def test_every_enum_has_a_dtype_and_round_trips_by_name():
    for enum in ALL_ENUMS:
        dt = dtypes.as_dtype(enum)
        assert dt.as_datatype_enum == enum
        assert dtypes.as_dtype(dt.name) is dt
        # Every type is also a module constant under its name.
        assert getattr(dtypes, dt.name) is dt


def test_names_and_aliases():
    assert dtypes.float32.name == "float32"
    assert dtypes.float32_ref.name == "float32_ref"
    assert dtypes.half is dtypes.float16 and dtypes.double is dtypes.float64
    assert dtypes.half_ref is dtypes.float16_ref and dtypes.double_ref is dtypes.float64_ref
    assert dtypes.string.name == "string"
    assert dtypes.bfloat16.name == "bfloat16"


def test_repr_and_str():
    assert repr(dtypes.float32) == "gpugraph.float32"
    assert repr(dtypes.int64_ref) == "gpugraph.int64_ref"
    assert str(dtypes.float32) == "<dtype: 'float32'>"


def test_pickle_and_copy_keep_identity():
    for dt in (dtypes.float32, dtypes.float32_ref, dtypes.string, dtypes.qint8):
        assert pickle.loads(pickle.dumps(dt)) is dt
        assert copy.copy(dt) is dt and copy.deepcopy(dt) is dt


def test_star_export_is_limited_to_dtypes():
    assert "np" not in dtypes.__all__ and "builtins" not in dtypes.__all__
    assert {"DType", "as_dtype", "float32", "float32_ref", "bool", "half"} <= set(dtypes.__all__)


# ---------------------------------------------------------------------------
# Reference types.


def test_ref_types():
    assert dtypes.float32_ref._is_ref_dtype and dtypes.float32_ref.is_ref_dtype
    assert not dtypes.float32._is_ref_dtype
    assert dtypes.float32._as_ref is dtypes.float32_ref
    assert dtypes.float32_ref._as_ref is dtypes.float32_ref
    assert dtypes.float32_ref.base_dtype is dtypes.float32
    assert dtypes.float32.base_dtype is dtypes.float32
    assert dtypes.float32_ref.as_datatype_enum == 101
    assert dtypes.complex64_ref.real_dtype is dtypes.float32
    assert dtypes.complex128.real_dtype is dtypes.float64
    assert dtypes.int32_ref.real_dtype is dtypes.int32_ref


def test_is_compatible_with():
    assert dtypes.float32.is_compatible_with(dtypes.float32_ref)
    assert not dtypes.float32_ref.is_compatible_with(dtypes.float32)
    assert dtypes.float32.is_compatible_with("float32")
    assert not dtypes.float32.is_compatible_with(dtypes.int32)
    with pytest.raises(TypeError, match="junk"):
        dtypes.float32.is_compatible_with("junk")


# ---------------------------------------------------------------------------
# Equality and hashing.


def test_eq_accepts_anything_as_dtype_accepts():
    assert dtypes.float32 == "float32"
    assert dtypes.float32 == "float"
    assert dtypes.float32 == np.float32
    assert dtypes.float32 == np.dtype("float32")
    assert dtypes.float32 == 1
    assert dtypes.string == object
    assert dtypes.float32 != dtypes.float32_ref


@pytest.mark.parametrize("junk", [None, "junk", [1], {}, 3.5, object(), "float33"])
def test_eq_with_junk_is_false_not_an_error(junk):
    assert not (dtypes.float32 == junk)
    assert dtypes.float32 != junk


def test_hash_is_consistent_with_eq():
    assert len({dtypes.float32, dtypes.as_dtype("float"), dtypes.DType(1)}) == 1
    assert hash(dtypes.float32) == hash(dtypes.as_dtype(np.float32))
    assert dtypes.float32 in {dtypes.float32: 1}


# ---------------------------------------------------------------------------
# as_dtype.


@pytest.mark.parametrize(
    "value, expected",
    [
        ("float32", "float32"),
        ("float", "float32"),
        ("double", "float64"),
        ("half", "float16"),
        ("float_ref", "float32_ref"),
        ("double_ref", "float64_ref"),
        ("half_ref", "float16_ref"),
        ("int32", "int32"),
        ("string", "string"),
        ("float32_ref", "float32_ref"),
        ("bfloat16", "bfloat16"),
        (1, "float32"),
        (101, "float32_ref"),
        (np.int64(3), "int32"),
        (np.float32, "float32"),
        (np.float64, "float64"),
        (np.int8, "int8"),
        (np.uint64, "uint64"),
        (np.bool_, "bool"),
        (np.complex64, "complex64"),
        (np.dtype("float16"), "float16"),
        (np.dtype("<i8"), "int64"),
        (np.dtype("S5"), "string"),
        (np.dtype("U3"), "string"),
        (np.dtype(object), "string"),
        (np.object_, "string"),
        (np.bytes_, "string"),
        (np.str_, "string"),
        (np.longlong, "int64"),
        (np.ulonglong, "uint64"),
        (np.intc, "int32"),
        (np.dtypes.StringDType(), "string"),
        (ml_dtypes.bfloat16, "bfloat16"),
        (np.dtype(ml_dtypes.bfloat16), "bfloat16"),
        (ml_dtypes.int4, "int4"),
        (ml_dtypes.float8_e4m3fn, "float8_e4m3fn"),
        (np.dtype([("qint8", np.int8)]), "qint8"),
        (np.dtype([("quint16", np.uint16)]), "quint16"),
        (np.zeros(2, np.float32), "float32"),
        (np.array([b"a"]), "string"),
        (np.array(["a"]), "string"),
        (float, "float32"),
        (bool, "bool"),
        (object, "string"),
    ],
)
def test_as_dtype(value, expected):
    assert dtypes.as_dtype(value) is getattr(dtypes, expected)


def test_as_dtype_returns_dtype_unchanged():
    assert dtypes.as_dtype(dtypes.qint8_ref) is dtypes.qint8_ref


@pytest.mark.parametrize(
    "bad", ["junk", "Float32", 0, 99, 1000, -5, True, int, str, bytes, complex, None, [1], 2.0,
            np.dtype("V4"), np.dtype("M8[s]")]
)
def test_as_dtype_rejects_and_names_the_value(bad):
    with pytest.raises(TypeError) as info:
        dtypes.as_dtype(bad)
    assert repr(bad) in str(info.value)


# ---------------------------------------------------------------------------
# Properties (checked exhaustively against TensorFlow below).


def test_numpy_types():
    assert dtypes.float32.as_numpy_dtype is np.float32
    assert dtypes.bfloat16.as_numpy_dtype is ml_dtypes.bfloat16
    assert dtypes.string.as_numpy_dtype is object
    assert dtypes.resource.as_numpy_dtype is object
    assert dtypes.variant.as_numpy_dtype is object
    assert dtypes.float32_ref.as_numpy_dtype is np.float32
    assert dtypes.qint8.as_numpy_dtype == np.dtype([("qint8", np.int8)])
    assert not dtypes.resource.is_numpy_compatible and dtypes.string.is_numpy_compatible


def test_kinds_missing_from_an_old_ml_dtypes_fail_clearly(monkeypatch):
    monkeypatch.delitem(dtypes._TF_TO_NP, types_pb2.DT_INT2)
    assert not dtypes.int2.is_numpy_compatible
    with pytest.raises(TypeError, match="int2 has no numpy type: it needs ml_dtypes >= 0.5"):
        dtypes.int2.as_numpy_dtype
    with pytest.raises(TypeError, match="int2"):
        dtypes.int2.max
    assert dtypes._ml("no_such_kind") is None


def test_sizes_and_classification():
    assert dtypes.float64.size == 8 and dtypes.bool.size == 1 and dtypes.string.size == 0
    assert dtypes.complex128.size == 16 and dtypes.int4.size == 1
    assert dtypes.bfloat16.is_floating and not dtypes.int32.is_floating
    assert dtypes.uint8.is_integer and dtypes.uint8.is_unsigned
    assert not dtypes.bool.is_integer and dtypes.bool.is_bool
    assert dtypes.qint8.is_quantized and not dtypes.qint8.is_integer
    assert not dtypes.quint8.is_unsigned
    assert dtypes.complex64_ref.is_complex


def test_min_max_limits():
    assert dtypes.int8.min == -128 and dtypes.int8.max == 127
    assert dtypes.uint64.max == 2**64 - 1
    assert dtypes.float32.max == np.finfo(np.float32).max
    assert dtypes.float16_ref.min == np.finfo(np.float16).min
    assert dtypes.int32.limits == (0, 2**31 - 1)
    assert dtypes.float32.limits == (0, 1)
    for bad in (dtypes.bool, dtypes.string, dtypes.complex64, dtypes.qint8, dtypes.resource):
        with pytest.raises(TypeError, match=bad.name):
            bad.min
        with pytest.raises(TypeError, match=bad.name):
            bad.max
    with pytest.raises(ValueError, match="bfloat16"):
        dtypes.bfloat16.limits


# ---------------------------------------------------------------------------
# Against TensorFlow.


@pytest.mark.tf
def test_properties_match_tensorflow_for_every_enum():
    from tensorflow.python.framework import dtypes as tf_dtypes

    props = ["name", "size", "is_bool", "is_complex", "is_floating", "is_integer",
             "is_numpy_compatible", "is_quantized", "is_unsigned", "_is_ref_dtype"]
    for enum in ALL_ENUMS:
        ours, theirs = dtypes.as_dtype(enum), tf_dtypes.as_dtype(enum)
        for p in props:
            assert getattr(ours, p) == getattr(theirs, p), (ours, p)
        assert ours.base_dtype.as_datatype_enum == theirs.base_dtype.as_datatype_enum
        assert ours.real_dtype.as_datatype_enum == theirs.real_dtype.as_datatype_enum
        assert ours._as_ref.as_datatype_enum == theirs._as_ref.as_datatype_enum
        assert hash(ours) == hash(theirs)
        assert str(ours) == str(theirs)
        if ours.is_numpy_compatible:
            # (TF itself mixes `object` and `np.object_` for string; same dtype.)
            assert np.dtype(ours.as_numpy_dtype) == np.dtype(theirs.as_numpy_dtype), ours
        for p in ("min", "max", "limits"):
            try:
                expected = getattr(theirs, p)
            except (TypeError, ValueError) as exc:
                with pytest.raises(type(exc)):
                    getattr(ours, p)
            except KeyError:  # TF's resource/variant limits: a bare KeyError
                with pytest.raises(ValueError):
                    getattr(ours, p)
            else:
                assert getattr(ours, p) == expected, (ours, p)


@pytest.mark.tf
def test_as_dtype_matches_tensorflow():
    from tensorflow.python.framework import dtypes as tf_dtypes

    values = [
        "float", "double", "half", "float_ref", "int64_ref", "bfloat16", "qint32", "resource",
        np.float16, np.int16, np.uint32, np.complex128, np.bool_, np.object_, np.bytes_, np.str_,
        np.longlong, np.intc, np.dtype("S3"), np.dtype("U2"), ml_dtypes.bfloat16, ml_dtypes.uint4,
        np.dtype([("quint8", np.uint8)]), float, bool, object, np.ones(3), np.array([b"x"]),
    ] + [tf_dtypes.as_dtype(e).name for e in ALL_ENUMS]
    for value in values:
        assert dtypes.as_dtype(value).as_datatype_enum == tf_dtypes.as_dtype(value).as_datatype_enum, value
    for value in ["junk", int, str, bytes, complex, 0, 99, None]:
        with pytest.raises(TypeError):
            tf_dtypes.as_dtype(value)
        with pytest.raises(TypeError):
            dtypes.as_dtype(value)
