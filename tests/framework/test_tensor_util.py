"""gpugraph.framework.tensor_util: ndarray <-> TensorProto, on its own and against TensorFlow."""

import ml_dtypes
import numpy as np
import pytest

from gpugraph.framework import dtypes, tensor_shape
from gpugraph.framework.tensor_util import MakeNdarray, ShapeMismatchError, make_ndarray, make_tensor_proto
from gpugraph.protos import tensor_pb2, types_pb2


def proto(dtype, shape, **fields):
    """A hand-built TensorProto with the given typed fields."""
    p = tensor_pb2.TensorProto(dtype=dtype)
    for d in shape:
        p.tensor_shape.dim.add(size=d)
    for name, value in fields.items():
        if isinstance(value, bytes):
            setattr(p, name, value)
        else:
            getattr(p, name).extend(value)
    return p


def assert_same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.names:
        assert a.tobytes() == b.tobytes()
    else:
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------
# make_tensor_proto: Python values


def test_python_float_is_float32_and_scalar_uses_float_val():
    p = make_tensor_proto(1.5)
    assert p.dtype == types_pb2.DT_FLOAT and list(p.float_val) == [1.5]
    assert len(p.tensor_shape.dim) == 0 and not p.tensor_content


def test_python_int_is_int32_unless_it_overflows():
    assert make_tensor_proto(3).dtype == types_pb2.DT_INT32
    big = make_tensor_proto(2**40)
    assert big.dtype == types_pb2.DT_INT64 and list(big.int64_val) == [2**40]
    assert make_tensor_proto([1, 2**40]).dtype == types_pb2.DT_INT64
    assert make_tensor_proto(2**63).dtype == types_pb2.DT_UINT64


def test_nested_lists_use_tensor_content_little_endian_row_major():
    p = make_tensor_proto([[1.0, 2.0], [3.0, 4.0]])
    assert [d.size for d in p.tensor_shape.dim] == [2, 2]
    assert p.tensor_content == np.array([1, 2, 3, 4], "<f4").tobytes()
    q = make_tensor_proto(np.arange(6, dtype=">i4").reshape(2, 3).T)  # big-endian, Fortran-order input
    assert q.tensor_content == np.arange(6, dtype="<i4").reshape(2, 3).T.copy().tobytes()


def test_bools_and_strings():
    b = make_tensor_proto([True, False])
    assert b.dtype == types_pb2.DT_BOOL and list(b.bool_val) == [True, False]
    s = make_tensor_proto([["a", b"b"], ["\u00e9", "d"]])
    assert s.dtype == types_pb2.DT_STRING
    assert list(s.string_val) == [b"a", b"b", "\u00e9".encode("utf-8"), b"d"]
    assert [d.size for d in s.tensor_shape.dim] == [2, 2]


def test_complex_values_are_interleaved_pairs():
    p = make_tensor_proto([1 + 2j, 3 - 4j])
    assert p.dtype == types_pb2.DT_COMPLEX128 and list(p.dcomplex_val) == [1, 2, 3, -4]
    q = make_tensor_proto([1 + 2j], dtype=dtypes.complex64)
    assert list(q.scomplex_val) == [1, 2]


def test_dtype_checks_name_value_and_dtype():
    with pytest.raises(TypeError, match=r"Expected int32, but got 1\.5 of type 'float'"):
        make_tensor_proto([1, 1.5], dtype=dtypes.int32)
    with pytest.raises(TypeError, match=r"Expected bool, but got 1 of type 'int'"):
        make_tensor_proto(1, dtype="bool")
    with pytest.raises(TypeError, match=r"Expected string, but got 1"):
        make_tensor_proto([1], dtype=dtypes.string)
    with pytest.raises(TypeError, match=r"Expected float32, but got 'x'"):
        make_tensor_proto("x", dtype=dtypes.float32)
    with pytest.raises(TypeError, match="resource"):
        make_tensor_proto(1, dtype=dtypes.resource)
    with pytest.raises(TypeError, match="junk"):
        make_tensor_proto(1, dtype="junk")


def test_ints_and_bools_are_accepted_where_tf_accepts_them():
    assert list(make_tensor_proto(1, dtype=dtypes.float32).float_val) == [1.0]
    assert list(make_tensor_proto(True, dtype=dtypes.int32).int_val) == [1]
    assert list(make_tensor_proto(3, dtype=dtypes.float16).half_val) == [np.float16(3).view(np.uint16)]


def test_ints_wrap_like_tensorflow():
    # TF casts after converting, so out-of-range ints wrap (NumPy 1.x behaviour).
    assert list(make_tensor_proto(300, dtype=dtypes.int8).int_val) == [44]


def test_unconvertible_values():
    with pytest.raises(ValueError, match="None values not supported"):
        make_tensor_proto(None)
    with pytest.raises(TypeError, match="1180591620717411303424"):
        make_tensor_proto(2**70)
    with pytest.raises(TypeError, match=r"\[1, 'a'\]"):
        make_tensor_proto([1, "a"])
    with pytest.raises(ValueError, match=r"\[\[1, 2\], \[3\]\] to be a dense tensor"):
        make_tensor_proto([[1, 2], [3]])


def test_quantized_python_values_are_tuples():
    p = make_tensor_proto([(1,), (2,)], dtype=dtypes.qint8)
    assert p.dtype == types_pb2.DT_QINT8 and p.tensor_content == b"\x01\x02"
    with pytest.raises(TypeError, match="qint8"):
        make_tensor_proto([1, 2], dtype=dtypes.qint8)
    q = make_tensor_proto(np.array([3], np.int32), dtype=dtypes.quint16)
    assert q.dtype == types_pb2.DT_QUINT16 and list(q.int_val) == [3]


def test_existing_proto_is_returned_and_foreign_protos_are_copied():
    p = make_tensor_proto(1.0)
    assert make_tensor_proto(p) is p

    class Foreign:
        class DESCRIPTOR:
            name = "TensorProto"

        def SerializeToString(self):
            return p.SerializeToString()

    copied = make_tensor_proto(Foreign())
    assert isinstance(copied, tensor_pb2.TensorProto) and copied == p


# ---------------------------------------------------------------------------
# make_tensor_proto: numpy input


@pytest.mark.parametrize(
    "np_dtype, enum, field",
    [
        (np.float16, types_pb2.DT_HALF, "half_val"),
        (ml_dtypes.bfloat16, types_pb2.DT_BFLOAT16, "half_val"),
        (np.float32, types_pb2.DT_FLOAT, "float_val"),
        (np.float64, types_pb2.DT_DOUBLE, "double_val"),
        (np.int8, types_pb2.DT_INT8, "int_val"),
        (np.uint8, types_pb2.DT_UINT8, "int_val"),
        (np.int16, types_pb2.DT_INT16, "int_val"),
        (np.uint16, types_pb2.DT_UINT16, "int_val"),
        (np.int32, types_pb2.DT_INT32, "int_val"),
        (np.int64, types_pb2.DT_INT64, "int64_val"),
        (np.uint32, types_pb2.DT_UINT32, "uint32_val"),
        (np.uint64, types_pb2.DT_UINT64, "uint64_val"),
        (np.bool_, types_pb2.DT_BOOL, "bool_val"),
        (np.complex64, types_pb2.DT_COMPLEX64, "scomplex_val"),
        (np.complex128, types_pb2.DT_COMPLEX128, "dcomplex_val"),
        (ml_dtypes.int4, types_pb2.DT_INT4, "int_val"),
        (ml_dtypes.uint4, types_pb2.DT_UINT4, "int_val"),
        (ml_dtypes.float8_e4m3fn, types_pb2.DT_FLOAT8_E4M3FN, "float8_val"),
        (ml_dtypes.float8_e5m2, types_pb2.DT_FLOAT8_E5M2, "float8_val"),
    ],
)
def test_numpy_scalars_round_trip_through_typed_fields(np_dtype, enum, field):
    value = np.array(1, dtype=np_dtype)
    p = make_tensor_proto(value)
    assert p.dtype == enum
    assert len(getattr(p, field)) > 0 and not p.tensor_content
    back = MakeNdarray(p)
    assert back.dtype == np.dtype(np_dtype) and back.shape == () and back == value


@pytest.mark.parametrize(
    "np_dtype",
    [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, np.int8, np.uint8, np.int16, np.uint16,
     np.int32, np.int64, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128, ml_dtypes.int4,
     ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2fnuz],
)
def test_numpy_arrays_round_trip(np_dtype):
    array = (np.arange(12).reshape(3, 4) % 5).astype(np_dtype)
    back = MakeNdarray(make_tensor_proto(array))
    assert_same(back, array)


def test_numpy_arrays_are_cast_to_the_requested_dtype():
    p = make_tensor_proto(np.array([1.7, 2.2]), dtype=dtypes.int32)
    np.testing.assert_array_equal(MakeNdarray(p), [1, 2])
    assert make_tensor_proto(np.float64(1.5)).dtype == types_pb2.DT_DOUBLE  # numpy keeps its type


def test_string_arrays():
    for array in (np.array([b"ab", b"c"]), np.array(["ab", "c"]), np.array([b"ab", "c"], dtype=object)):
        p = make_tensor_proto(array)
        assert p.dtype == types_pb2.DT_STRING and list(p.string_val) == [b"ab", b"c"]


def test_ref_dtype_is_accepted_as_its_base():
    assert make_tensor_proto([1.0, 2.0], dtype=dtypes.float32_ref).dtype == types_pb2.DT_FLOAT


# ---------------------------------------------------------------------------
# make_tensor_proto: shapes


def test_single_value_broadcasts_to_shape():
    p = make_tensor_proto(0.0, shape=[10])
    assert list(p.float_val) == [0.0] and [d.size for d in p.tensor_shape.dim] == [10]
    np.testing.assert_array_equal(MakeNdarray(p), np.zeros(10, np.float32))
    q = make_tensor_proto(7, shape=tensor_shape.TensorShape([2, 3]))
    np.testing.assert_array_equal(MakeNdarray(q), np.full((2, 3), 7, np.int32))


def test_same_size_reshapes():
    p = make_tensor_proto([1, 2, 3, 4], shape=[2, 2])
    np.testing.assert_array_equal(MakeNdarray(p), [[1, 2], [3, 4]])


def test_fewer_values_pad_with_the_last_like_tf():
    np.testing.assert_array_equal(MakeNdarray(make_tensor_proto([1, 2], shape=[4])), [1, 2, 2, 2])


def test_empty_shapes():
    p = make_tensor_proto([], shape=[0, 3])
    assert MakeNdarray(p).shape == (0, 3)
    assert MakeNdarray(make_tensor_proto([])).shape == (0,)


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(2,\).*at most 2, but got 3.*\(3,\)"):
        make_tensor_proto([1, 2, 3], shape=[2])
    with pytest.raises(ShapeMismatchError, match=r"shape \(3,\).*values of shape \(2,\)") as info:
        make_tensor_proto([1, 2], shape=[3], verify_shape=True)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    with pytest.raises(ShapeMismatchError, match=r"\(2, 2\).*\(2,\)"):
        make_tensor_proto([1, 2], shape=[2, 2], allow_broadcast=True)
    assert MakeNdarray(make_tensor_proto([5], shape=[2, 2], allow_broadcast=True)).tolist() == [[5, 5], [5, 5]]
    with pytest.raises(ValueError, match="not both"):
        make_tensor_proto(1, shape=[1], verify_shape=True, allow_broadcast=True)
    with pytest.raises(ValueError, match=r"\[None\].*fully defined"):
        make_tensor_proto(1, shape=[None])
    with pytest.raises(ValueError, match="'x'"):
        make_tensor_proto(1, shape=["x"])


# ---------------------------------------------------------------------------
# MakeNdarray: every representation


def test_tensor_content():
    p = proto(types_pb2.DT_INT32, [2, 2], tensor_content=np.arange(4, dtype="<i4").tobytes())
    result = MakeNdarray(p)
    assert_same(result, np.arange(4, dtype=np.int32).reshape(2, 2))
    result[0, 0] = 9  # writable, not a view of the proto's bytes


def test_tensor_content_for_bool_and_complex():
    b = proto(types_pb2.DT_BOOL, [3], tensor_content=b"\x01\x00\x01")
    assert MakeNdarray(b).tolist() == [True, False, True]
    c = proto(types_pb2.DT_COMPLEX64, [1], tensor_content=np.array([1 + 2j], "<c8").tobytes())
    assert MakeNdarray(c).tolist() == [1 + 2j]


def test_tensor_content_of_wrong_length():
    p = proto(types_pb2.DT_FLOAT, [3], tensor_content=b"\x00" * 8)
    with pytest.raises(ValueError, match=r"float32 and shape \[3\] needs 12 bytes.*got 8"):
        MakeNdarray(p)


def test_half_and_bfloat16_bit_patterns():
    half = proto(types_pb2.DT_HALF, [2], half_val=[0x3C00, 0xC000])  # 1.0, -2.0
    assert_same(MakeNdarray(half), np.array([1.0, -2.0], np.float16))
    bf = proto(types_pb2.DT_BFLOAT16, [2], half_val=[0x3F80, 0x4040])  # 1.0, 3.0
    assert_same(MakeNdarray(bf), np.array([1.0, 3.0], ml_dtypes.bfloat16))
    sign_extended = proto(types_pb2.DT_HALF, [1], half_val=[-16384])  # 0xC000 written as int16
    assert MakeNdarray(sign_extended).tolist() == [-2.0]


@pytest.mark.parametrize(
    "enum, field, values, np_dtype",
    [
        (types_pb2.DT_FLOAT, "float_val", [1.5, 2.5], np.float32),
        (types_pb2.DT_DOUBLE, "double_val", [1.5, 2.5], np.float64),
        (types_pb2.DT_INT32, "int_val", [1, -2], np.int32),
        (types_pb2.DT_INT16, "int_val", [1, -2], np.int16),
        (types_pb2.DT_UINT16, "int_val", [1, 65535], np.uint16),
        (types_pb2.DT_INT8, "int_val", [1, -2], np.int8),
        (types_pb2.DT_UINT8, "int_val", [1, 255], np.uint8),
        (types_pb2.DT_INT64, "int64_val", [1, -(2**40)], np.int64),
        (types_pb2.DT_UINT32, "uint32_val", [1, 2**32 - 1], np.uint32),
        (types_pb2.DT_UINT64, "uint64_val", [1, 2**64 - 1], np.uint64),
        (types_pb2.DT_BOOL, "bool_val", [True, False], np.bool_),
        (types_pb2.DT_INT4, "int_val", [-8, 7], ml_dtypes.int4),
        (types_pb2.DT_UINT4, "int_val", [0, 15], ml_dtypes.uint4),
    ],
)
def test_typed_fields(enum, field, values, np_dtype):
    expected = np.array([np_dtype(v) for v in values], dtype=np_dtype)
    assert_same(MakeNdarray(proto(enum, [2], **{field: values})), expected)


def test_quantized_from_int_val():
    for enum, name in [(types_pb2.DT_QINT8, "qint8"), (types_pb2.DT_QUINT8, "quint8"),
                       (types_pb2.DT_QINT16, "qint16"), (types_pb2.DT_QUINT16, "quint16"),
                       (types_pb2.DT_QINT32, "qint32")]:
        result = MakeNdarray(proto(enum, [3], int_val=[1, 2]))
        assert result.dtype == dtypes.as_dtype(enum).as_numpy_dtype
        assert result[name].tolist() == [1, 2, 2]


def test_complex_pairs():
    assert MakeNdarray(proto(types_pb2.DT_COMPLEX64, [2], scomplex_val=[1, 2, 3, 4])).tolist() == [1 + 2j, 3 + 4j]
    assert MakeNdarray(proto(types_pb2.DT_COMPLEX128, [1], dcomplex_val=[1, -1])).dtype == np.complex128
    with pytest.raises(ValueError, match="complex64.*odd number"):
        MakeNdarray(proto(types_pb2.DT_COMPLEX64, [1], scomplex_val=[1, 2, 3]))


def test_float8_bytes():
    raw = np.array([1.0, 2.0], ml_dtypes.float8_e4m3fn).view(np.uint8).tobytes()
    assert_same(MakeNdarray(proto(types_pb2.DT_FLOAT8_E4M3FN, [2], float8_val=raw)),
                np.array([1.0, 2.0], ml_dtypes.float8_e4m3fn))


def test_strings():
    result = MakeNdarray(proto(types_pb2.DT_STRING, [2, 2], string_val=[b"a", b"b"]))
    assert result.dtype == object and result.tolist() == [[b"a", b"b"], [b"b", b"b"]]
    assert MakeNdarray(proto(types_pb2.DT_STRING, [], string_val=[b"x"])).item() == b"x"
    assert MakeNdarray(proto(types_pb2.DT_STRING, [2])).tolist() == [b"", b""]
    with pytest.raises(ValueError, match="string"):
        MakeNdarray(proto(types_pb2.DT_STRING, [1], tensor_content=b"x"))


def test_single_value_broadcast_and_padding_and_zeros():
    assert MakeNdarray(proto(types_pb2.DT_FLOAT, [2, 3], float_val=[0.5])).tolist() == [[0.5] * 3] * 2
    assert MakeNdarray(proto(types_pb2.DT_INT64, [4], int64_val=[1, 2])).tolist() == [1, 2, 2, 2]
    zeros = MakeNdarray(proto(types_pb2.DT_DOUBLE, [2]))
    assert zeros.dtype == np.float64 and zeros.tolist() == [0.0, 0.0]
    assert MakeNdarray(proto(types_pb2.DT_FLOAT, [])).shape == ()


def test_errors_name_dtype_and_problem():
    with pytest.raises(ValueError, match=r"int32 and shape \[1\] has 2 values"):
        MakeNdarray(proto(types_pb2.DT_INT32, [1], int_val=[1, 2]))
    with pytest.raises(TypeError, match="resource"):
        MakeNdarray(proto(types_pb2.DT_RESOURCE, []))
    with pytest.raises(TypeError, match="variant"):
        MakeNdarray(proto(types_pb2.DT_VARIANT, []))
    with pytest.raises(TypeError, match="invalid dtype enum 0"):
        MakeNdarray(tensor_pb2.TensorProto())
    with pytest.raises(ValueError, match=r"float32.*\(2, \?\)"):
        MakeNdarray(proto(types_pb2.DT_FLOAT, [2, -1], float_val=[1.0]))


def test_ref_dtype_protos_read_as_base():
    assert MakeNdarray(proto(types_pb2.DT_FLOAT_REF, [1], float_val=[2.0])).tolist() == [2.0]


def test_alias():
    assert make_ndarray is MakeNdarray


# ---------------------------------------------------------------------------
# Against TensorFlow


CASES = [
    (1.5, {}),
    (3, {}),
    (2**40, {}),
    (2**63, {}),
    (True, {}),
    ("text", {}),
    (b"\x00\xff", {}),
    (["a", "bc"], {}),
    ([["a"], ["b"]], {}),
    (1 + 2j, {}),
    ([1.0, 2.0, 3.0], {}),
    ([[1, 2], [3, 4]], {}),
    ([[True, False]], {}),
    ([1, 2], {"dtype": "int64"}),
    ([1, 2], {"dtype": "float16"}),
    ([1, 2], {"dtype": "bfloat16"}),
    (1.5, {"dtype": "bfloat16"}),
    ([1, 2], {"dtype": "uint16"}),
    ([1, 2], {"dtype": "uint32"}),
    ([1, 2], {"dtype": "uint64"}),
    ([1, 2], {"dtype": "int8"}),
    ([1, 2], {"dtype": "complex64"}),
    (300, {"dtype": "int8"}),
    (0.0, {"shape": [10]}),
    (7, {"shape": [2, 3]}),
    ([1, 2], {"shape": [4]}),
    ([1, 2, 3, 4], {"shape": [2, 2]}),
    ([5], {"shape": [2, 2], "allow_broadcast": True}),
    ([], {"shape": [0, 3]}),
    ([], {}),
    ([(1,), (2,)], {"dtype": "qint8"}),
    ([(1,), (2,)], {"dtype": "quint16"}),
    (np.arange(6, dtype=np.float64).reshape(2, 3), {}),
    (np.arange(6, dtype=np.int64), {"dtype": "int32"}),
    (np.array([1.5, 2.5], dtype=ml_dtypes.bfloat16), {}),
    (np.array([1, 2], dtype=ml_dtypes.int4), {}),
    (np.array([1.0, 0.5], dtype=ml_dtypes.float8_e4m3fn), {}),
    (np.array(1.0, dtype=ml_dtypes.float8_e5m2), {}),
    (np.array([b"x", b"yy"]), {}),
    (np.array(["x", "yy"]), {}),
    (np.array([1 + 1j, 2], dtype=np.complex64), {}),
    (np.array([True, False, True]), {}),
    (np.float64(2.5), {}),
    (np.array([1, 2], np.int32), {"dtype": "qint32"}),
    (bytearray(b"ab"), {}),
]


def _tf_kwargs(kwargs):
    from tensorflow.python.framework import dtypes as tf_dtypes

    out = dict(kwargs)
    if "dtype" in out:
        out["dtype"] = tf_dtypes.as_dtype(out["dtype"])
    return out


@pytest.mark.tf
@pytest.mark.parametrize("values, kwargs", CASES, ids=[repr(c)[:40] for c in CASES])
def test_make_tensor_proto_is_byte_identical_to_tensorflow(values, kwargs):
    from tensorflow.python.framework import tensor_util as tf_tensor_util

    theirs = tf_tensor_util.make_tensor_proto(values, **_tf_kwargs(kwargs))
    ours = make_tensor_proto(values, **kwargs)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


@pytest.mark.tf
@pytest.mark.parametrize("values, kwargs", CASES, ids=[repr(c)[:40] for c in CASES])
def test_make_ndarray_matches_tensorflow(values, kwargs):
    from tensorflow.python.framework import tensor_util as tf_tensor_util

    theirs = tf_tensor_util.make_tensor_proto(values, **_tf_kwargs(kwargs))
    expected = tf_tensor_util.MakeNdarray(theirs)
    ours = MakeNdarray(tensor_pb2.TensorProto.FromString(theirs.SerializeToString()))
    assert_same(ours, expected)
    # TensorFlow's own proto class is read too (same field names).
    assert_same(MakeNdarray(theirs), expected)


@pytest.mark.tf
@pytest.mark.parametrize(
    "values, kwargs",
    [
        ([1, 1.5], {"dtype": "int32"}),
        (1, {"dtype": "bool"}),
        ("x", {"dtype": "float32"}),
        ([1], {"dtype": "string"}),
        ([1, 2], {"dtype": "qint8"}),
        (2**70, {}),
        ([1, "a"], {}),
        (1, {"dtype": "resource"}),
        ([1, 2], {"shape": [3], "verify_shape": True}),
        ([1, 2], {"shape": [2, 2], "allow_broadcast": True}),
    ],
)
def test_rejects_what_tensorflow_rejects_with_the_same_exception_type(values, kwargs):
    from tensorflow.python.framework import tensor_util as tf_tensor_util

    with pytest.raises(Exception) as theirs:
        tf_tensor_util.make_tensor_proto(values, **_tf_kwargs(kwargs))
    with pytest.raises(type(theirs.value)):
        make_tensor_proto(values, **kwargs)


@pytest.mark.tf
def test_tensorflow_reads_our_protos_in_a_const_graph():
    """A Const node whose value we wrote evaluates to the same array in TensorFlow."""
    import tensorflow as tf

    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    tf_proto = tf.make_tensor_proto(0)
    tf_proto.ParseFromString(make_tensor_proto(value).SerializeToString())
    np.testing.assert_array_equal(tf.make_ndarray(tf_proto), value)
    np.testing.assert_array_equal(tf.constant(tf.make_ndarray(tf_proto)).numpy(), value)
