"""ndarray <-> TensorProto: the one place where tensor values meet protobuf.

``make_tensor_proto`` follows ``tf.make_tensor_proto`` exactly, so the protos
it builds are byte-identical to TensorFlow's: Python floats become float32,
Python ints int32 (int64/uint64 when they do not fit), multi-element numeric
arrays go into ``tensor_content`` (raw little-endian, row-major) and scalars,
broadcasts and the types TF never packs (bool, complex, uint16, int4…) into the
typed ``*_val`` fields. ``MakeNdarray`` reads every representation TensorFlow
(or anything else) may have written, including a single value broadcast to the
whole shape and short value lists padded with their last value.

Example:
    >>> proto = make_tensor_proto([[1.0, 2.0], [3.0, 4.0]])
    >>> proto.dtype, len(proto.tensor_content)
    (1, 16)
    >>> MakeNdarray(make_tensor_proto(0.5, shape=[3]))
    array([0.5, 0.5, 0.5], dtype=float32)
"""

from __future__ import annotations

import numbers

import numpy as np

from gpugraph.framework import dtypes, tensor_shape
from gpugraph.protos import tensor_pb2, types_pb2

__all__ = ["make_tensor_proto", "MakeNdarray", "make_ndarray", "ShapeMismatchError"]


class ShapeMismatchError(TypeError, ValueError):
    """``verify_shape``/``allow_broadcast`` found values of the wrong shape.

    TensorFlow raises TypeError here; it is also a ValueError, because that is
    what a shape mismatch is, and code may catch either.
    """


# Types whose multi-element values TensorFlow packs into tensor_content. The
# rest (bool, complex, uint16, string, int4/uint4/int2/uint2…) use *_val fields.
_TENSOR_CONTENT_TYPES = frozenset(
    dtypes.as_dtype(e)
    for e in (
        types_pb2.DT_HALF, types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_INT32,
        types_pb2.DT_UINT8, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_INT64,
        types_pb2.DT_QINT8, types_pb2.DT_QUINT8, types_pb2.DT_QINT16, types_pb2.DT_QUINT16,
        types_pb2.DT_QINT32, types_pb2.DT_UINT32, types_pb2.DT_UINT64, types_pb2.DT_BFLOAT16,
        types_pb2.DT_FLOAT8_E5M2, types_pb2.DT_FLOAT8_E4M3FN, types_pb2.DT_FLOAT8_E4M3FNUZ,
        types_pb2.DT_FLOAT8_E4M3B11FNUZ, types_pb2.DT_FLOAT8_E5M2FNUZ, types_pb2.DT_FLOAT4_E2M1FN,
    )
)

_QUANTIZED = frozenset([dtypes.qint8, dtypes.quint8, dtypes.qint16, dtypes.quint16, dtypes.qint32])
_FLOAT8_KINDS = frozenset([
    dtypes.float8_e5m2, dtypes.float8_e4m3fn, dtypes.float8_e4m3fnuz, dtypes.float8_e4m3b11fnuz,
    dtypes.float8_e5m2fnuz, dtypes.float4_e2m1fn,
])
_SMALL_INTS = frozenset([dtypes.int4, dtypes.uint4, dtypes.int2, dtypes.uint2])
_INT_VAL_TYPES = frozenset([dtypes.int32, dtypes.int16, dtypes.int8, dtypes.uint16, dtypes.uint8])
_MAX_PROTO_BYTES = 1 << 31


# ---------------------------------------------------------------------------
# make_tensor_proto


def make_tensor_proto(values, dtype=None, shape=None, verify_shape=False, allow_broadcast=False):
    """Build a ``TensorProto`` from a Python value or numpy array (``tf.make_tensor_proto``).

    Args:
        values: a scalar, (nested) list/tuple, numpy array or array-like, or a
            TensorProto (returned as is).
        dtype: optional target type. Python values are checked against it
            (TypeError naming the value and the type); numpy arrays are cast.
        shape: optional target shape. A single value fills the whole shape;
            fewer values than elements are padded with the last one when read.
        verify_shape: require the values to have exactly ``shape``.
        allow_broadcast: allow a single value (scalar or shape ``[1]``) to fill
            ``shape``, and nothing else that differs in size.

    Example:
        >>> make_tensor_proto(7, dtype="int64").int64_val
        [7]
        >>> make_tensor_proto(["a", b"b"]).string_val
        [b'a', b'b']
    """
    if allow_broadcast and verify_shape:
        raise ValueError("allow_broadcast and verify_shape are not both allowed")
    if isinstance(values, tensor_pb2.TensorProto):
        return values
    if _is_foreign_tensor_proto(values):
        # e.g. TensorFlow's own TensorProto: same wire format, other package.
        return tensor_pb2.TensorProto.FromString(values.SerializeToString())

    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    is_quantized = dtype is not None and dtype.base_dtype in _QUANTIZED

    nparray = _to_ndarray(values, dtype, shape, is_quantized)
    try:
        numpy_dtype = dtypes.as_dtype(nparray.dtype)
    except TypeError:
        raise TypeError("Unsupported element type %s of %s" % (nparray.dtype, _short(values))) from None
    if is_quantized:
        numpy_dtype = dtype
    if dtype is not None and dtype.base_dtype != numpy_dtype.base_dtype:
        raise TypeError(
            "dtype %s is not compatible with %s of dtype %s" % (dtype.name, _short(values), nparray.dtype)
        )

    shape, shape_size, is_same_size = _check_shape(nparray, shape, verify_shape, allow_broadcast)

    proto = tensor_pb2.TensorProto(
        dtype=numpy_dtype.as_datatype_enum, tensor_shape=tensor_shape.as_shape(shape).as_proto()
    )
    if is_same_size and numpy_dtype in _TENSOR_CONTENT_TYPES and shape_size > 1:
        if nparray.nbytes >= _MAX_PROTO_BYTES:
            raise ValueError(
                "Cannot create a TensorProto whose content is larger than 2GB (%d bytes of %s)"
                % (nparray.nbytes, numpy_dtype.name)
            )
        proto.tensor_content = _little_endian(nparray).tobytes()
        return proto

    if numpy_dtype == dtypes.string and not isinstance(values, np.ndarray):
        proto.string_val.extend(_as_bytes(v, values) for v in _flatten(values))
        return proto

    _append_values(proto, numpy_dtype, nparray.ravel(), values)
    return proto


def _to_ndarray(values, dtype, shape, is_quantized):
    """Python/numpy ``values`` as an ndarray, with TensorFlow's conversions and checks."""
    np_dtype = dtype.as_numpy_dtype if dtype is not None and dtype.is_numpy_compatible else None
    if _is_array_like(values):
        values = np.asarray(values)
    if isinstance(values, (np.ndarray, np.generic)):
        # numpy input is cast without value checks, as in TensorFlow.
        return np.asarray(values.astype(np_dtype) if np_dtype is not None else values)

    if values is None:
        raise ValueError("None values not supported.")
    if shape is not None and _product(_shape_list(shape)) == 0:
        return _narrow_default(np.empty(_shape_list(shape), dtype=np_dtype), dtype)
    _assert_compatible(values, dtype)
    try:
        if np_dtype is not None and np.issubdtype(np.dtype(np_dtype), np.number):
            # TF converts, then casts, so out-of-range ints wrap as in NumPy 1.x.
            nparray = np.array(values).astype(np_dtype)
        else:
            nparray = np.array(values, dtype=np_dtype)
    except OverflowError:
        raise TypeError(
            "Cannot convert %s to a tensor of type %s: a value is out of range"
            % (_short(values), dtype.name if dtype is not None else "int64")
        ) from None
    except ValueError as exc:
        dense = _dense_dimensions(values)
        raise ValueError(
            "Expected %s to be a dense tensor with shape %s, but it is not (%s)" % (_short(values), dense, exc)
        ) from None
    if list(nparray.shape) != _dense_dimensions(values) and not is_quantized:
        raise ValueError(
            "Expected %s to be a dense tensor with shape %s, but got shape %s"
            % (_short(values), _dense_dimensions(values), list(nparray.shape))
        )
    return _narrow_default(nparray, dtype)


def _narrow_default(nparray, dtype):
    """Without a dtype, Python floats become float32 and Python ints int32 when they fit."""
    if dtype is None:
        if nparray.dtype == np.float64:
            return nparray.astype(np.float32)
        if nparray.dtype == np.int64:
            narrowed = nparray.astype(np.int32)
            if np.array_equal(narrowed, nparray):
                return narrowed
    return nparray


def _check_shape(nparray, shape, verify_shape, allow_broadcast):
    """Returns (shape, number of elements, whether the values fill it exactly)."""
    if shape is None:
        return list(nparray.shape), nparray.size, True
    shape = _shape_list(shape)
    shape_size = _product(shape)
    if allow_broadcast:
        if nparray.shape not in ((1,), ()) and nparray.size != shape_size:
            raise ShapeMismatchError(
                "Expected a tensor of shape %s (or a single value to broadcast), but got values of shape %s"
                % (tuple(shape), nparray.shape)
            )
    else:
        if verify_shape and nparray.shape != tuple(shape):
            raise ShapeMismatchError(
                "Expected a tensor of shape %s, but got values of shape %s" % (tuple(shape), nparray.shape)
            )
        if nparray.size > shape_size:
            raise ValueError(
                "Too many elements provided for shape %s: takes at most %d, but got %d (values of shape %s)"
                % (tuple(shape), shape_size, nparray.size, nparray.shape)
            )
    return shape, shape_size, shape_size == nparray.size


def _shape_list(shape):
    try:
        dims = tensor_shape.as_shape(shape).as_list()
    except (TypeError, ValueError) as exc:
        raise ValueError("Invalid shape %r: %s" % (shape, exc)) from None
    if any(d is None for d in dims):
        raise ValueError("Shape %r must be fully defined to build a TensorProto" % (shape,))
    return dims


def _append_values(proto, dtype, flat, values):
    """Store the flattened values in the typed field TensorFlow uses for ``dtype``."""
    base = dtype.base_dtype
    if base in (dtypes.float16, dtypes.bfloat16):
        proto.half_val.extend(flat.astype(base.as_numpy_dtype).view(np.uint16).tolist())
    elif base in _FLOAT8_KINDS:
        proto.float8_val += flat.astype(base.as_numpy_dtype).view(np.uint8).tobytes()
    elif base == dtypes.float32:
        proto.float_val.extend(flat.tolist())
    elif base == dtypes.float64:
        proto.double_val.extend(flat.tolist())
    elif base in _INT_VAL_TYPES:
        proto.int_val.extend(flat.tolist())
    elif base in _SMALL_INTS:
        proto.int_val.extend(flat.astype(np.int8).tolist())
    elif base in _QUANTIZED:
        field = flat.dtype.names[0] if flat.dtype.names else None
        proto.int_val.extend((flat[field] if field else flat).astype(np.int64).tolist())
    elif base == dtypes.int64:
        proto.int64_val.extend(flat.tolist())
    elif base == dtypes.uint32:
        proto.uint32_val.extend(flat.tolist())
    elif base == dtypes.uint64:
        proto.uint64_val.extend(flat.tolist())
    elif base == dtypes.complex64:
        proto.scomplex_val.extend(flat.astype(np.complex64).view(np.float32).tolist())
    elif base == dtypes.complex128:
        proto.dcomplex_val.extend(flat.astype(np.complex128).view(np.float64).tolist())
    elif base == dtypes.bool:
        proto.bool_val.extend(flat.tolist())
    elif base == dtypes.string:
        proto.string_val.extend(_as_bytes(v, values) for v in flat.tolist())
    else:
        raise TypeError("Element type %s is not supported in a TensorProto" % dtype.name)


# -- value checks (TensorFlow's _AssertCompatible) ------------------------------------


def _is_int(v):
    return isinstance(v, (numbers.Integral, tensor_shape.Dimension)) or (
        isinstance(v, np.ndarray) and issubclass(v.dtype.type, np.integer)
    )


def _is_real(v):
    return isinstance(v, numbers.Real) or (
        isinstance(v, np.ndarray) and issubclass(v.dtype.type, (np.integer, np.floating))
    )


def _is_complex(v):
    return isinstance(v, numbers.Complex) or (isinstance(v, np.ndarray) and issubclass(v.dtype.type, np.number))


def _is_str(v):
    return isinstance(v, (bytes, str)) or (isinstance(v, np.ndarray) and issubclass(v.dtype.type, (np.bytes_, np.str_)))


def _is_bool(v):
    return isinstance(v, (bool, np.bool_)) or (isinstance(v, np.ndarray) and v.dtype == np.bool_)


def _assert_compatible(values, dtype):
    """TypeError naming the first element of ``values`` that ``dtype`` cannot hold."""
    if dtype is None:
        return
    base = dtype.base_dtype
    if base in _QUANTIZED:
        # TensorFlow's odd rule: quantized Python values are tuples, e.g. [(1,), (2,)].
        bad = _first_bad_quantized(values)
    else:
        if base.is_bool:
            ok = _is_bool
        elif base.is_integer:
            ok = _is_int
        elif base.is_floating:
            ok = _is_real
        elif base.is_complex:
            ok = _is_complex
        elif base == dtypes.string:
            ok = _is_str
        else:
            return
        bad = next((v for v in _flatten(values) if not ok(v)), _NOTHING)
    if bad is not _NOTHING:
        raise TypeError("Expected %s, but got %r of type '%s'" % (base.name, bad, type(bad).__name__))


_NOTHING = object()


def _first_bad_quantized(values):
    if isinstance(values, tuple):
        return next((v for v in _flatten(values) if not _is_int(v)), _NOTHING)
    if not isinstance(values, list):
        return values
    for v in values:
        bad = _first_bad_quantized(v)
        if bad is not _NOTHING:
            return bad
    return _NOTHING


# -- small helpers ---------------------------------------------------------------------


def _is_foreign_tensor_proto(value):
    descriptor = getattr(value, "DESCRIPTOR", None)
    return getattr(descriptor, "name", None) == "TensorProto" and hasattr(value, "SerializeToString")


def _is_array_like(obj):
    # As TensorFlow: __array__, __array_interface__ or the buffer protocol
    # (bytes excepted, they are a string value; a bytearray becomes uint8).
    if callable(getattr(obj, "__array__", None)) or isinstance(getattr(obj, "__array_interface__", None), dict):
        return True
    if isinstance(obj, (bytes, str)):
        return False
    try:
        memoryview(obj)
    except TypeError:
        return False
    return True


def _dense_dimensions(values):
    if not isinstance(values, (list, tuple)):
        return []
    if not values:
        return [0]
    return [len(values)] + _dense_dimensions(values[0])


def _flatten(values):
    if isinstance(values, (list, tuple)):
        for inner in values:
            yield from _flatten(inner)
    else:
        yield values


def _as_bytes(value, whole):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(
        "Failed to convert elements of %s to a string tensor: %r of type %s is not bytes or str"
        % (_short(whole), value, type(value).__name__)
    )


def _product(dims):
    result = 1
    for d in dims:
        result *= int(d)
    return result


def _little_endian(array):
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array)


def _short(values, limit=200):
    """A repr for error messages that stays readable for big inputs."""
    text = repr(values)
    return text if len(text) <= limit else text[:limit] + "...>"


# ---------------------------------------------------------------------------
# MakeNdarray


def MakeNdarray(tensor):  # noqa: N802  (TensorFlow's name)
    """The numpy array a ``TensorProto`` holds (``tf.make_ndarray``).

    Reads ``tensor_content`` and every typed field (``half_val`` holds half or
    bfloat16 bit patterns; ``int_val`` the 8/16/32-bit and quantized ints).
    A single value fills the whole shape, a short list is padded with its last
    value, no values mean zeros. Strings come back as an object array of bytes.

    Example:
        >>> p = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32)
        >>> _ = p.tensor_shape.dim.add(size=4)
        >>> p.int_val.extend([1, 2])
        >>> MakeNdarray(p)
        array([1, 2, 2, 2], dtype=int32)

    Raises:
        TypeError: for a dtype that has no numpy value (resource, variant, invalid).
        ValueError: naming the dtype and shape when the stored values do not fit.
    """
    try:
        dtype = dtypes.as_dtype(tensor.dtype)
    except TypeError:
        raise TypeError("TensorProto has invalid dtype enum %d" % tensor.dtype) from None
    base = dtype.base_dtype
    if not base.is_numpy_compatible:
        raise TypeError("Cannot make an ndarray from a TensorProto of dtype %s" % dtype.name)
    shape = _proto_shape(tensor, dtype)
    num_elements = _product(shape)
    np_dtype = np.dtype(base.as_numpy_dtype)

    if tensor.tensor_content:
        return _from_content(tensor.tensor_content, base, np_dtype, shape, num_elements)

    if base == dtypes.string:
        values = list(tensor.string_val)
        _check_count(len(values), num_elements, base, shape)
        if not values:
            values = [b""]
        values.extend([values[-1]] * (num_elements - len(values)))
        result = np.empty(num_elements, dtype=object)
        result[:] = values[:num_elements]
        return result.reshape(shape)

    values = _typed_values(tensor, base, np_dtype)
    _check_count(values.size, num_elements, base, shape)
    if values.size == 0:
        return np.zeros(shape, np_dtype)
    if values.size < num_elements:
        values = np.concatenate([values, np.repeat(values[-1:], num_elements - values.size)])
    return values.reshape(shape)


make_ndarray = MakeNdarray


def _proto_shape(tensor, dtype):
    proto = tensor.tensor_shape
    if proto.unknown_rank or any(d.size < 0 for d in proto.dim):
        raise ValueError(
            "Cannot make an ndarray from a TensorProto of dtype %s with a not fully defined shape %s"
            % (dtype.name, tensor_shape.TensorShape(proto) if not proto.unknown_rank else "<unknown>")
        )
    return [int(d.size) for d in proto.dim]


def _from_content(content, base, np_dtype, shape, num_elements):
    if base == dtypes.string:
        raise ValueError("A TensorProto of dtype string cannot use tensor_content (shape %s)" % shape)
    expected = num_elements * np_dtype.itemsize
    if len(content) != expected:
        raise ValueError(
            "TensorProto of dtype %s and shape %s needs %d bytes of tensor_content, got %d"
            % (base.name, shape, expected, len(content))
        )
    return np.frombuffer(content, dtype=np_dtype.newbyteorder("<")).astype(np_dtype).reshape(shape)


def _typed_values(tensor, base, np_dtype):
    """The flat values of ``tensor``'s typed field for ``base``, as ``np_dtype``."""
    if base in (dtypes.float16, dtypes.bfloat16):
        # The bit patterns, one per int32 (mask in case a writer sign-extended).
        bits = np.array(tensor.half_val, dtype=np.int64) & 0xFFFF
        return bits.astype(np.uint16).view(np_dtype)
    if base in _FLOAT8_KINDS:
        return np.frombuffer(tensor.float8_val, dtype=np.uint8).copy().view(np_dtype)
    if base == dtypes.float32:
        return np.array(tensor.float_val, dtype=np.float32)
    if base == dtypes.float64:
        return np.array(tensor.double_val, dtype=np.float64)
    if base in _INT_VAL_TYPES or base in _SMALL_INTS:
        return np.array(tensor.int_val, dtype=np.int64).astype(np_dtype)
    if base in _QUANTIZED:
        field = np_dtype.names[0]
        result = np.zeros(len(tensor.int_val), dtype=np_dtype)
        result[field] = np.array(tensor.int_val, dtype=np.int64).astype(np_dtype.fields[field][0])
        return result
    if base == dtypes.int64:
        return np.array(tensor.int64_val, dtype=np.int64)
    if base == dtypes.uint32:
        return np.array(tensor.uint32_val, dtype=np.uint32)
    if base == dtypes.uint64:
        return np.array(tensor.uint64_val, dtype=np.uint64)
    if base in (dtypes.complex64, dtypes.complex128):
        pairs = tensor.scomplex_val if base == dtypes.complex64 else tensor.dcomplex_val
        part = np.float32 if base == dtypes.complex64 else np.float64
        if len(pairs) % 2:
            raise ValueError(
                "TensorProto of dtype %s has an odd number (%d) of real/imaginary parts"
                % (base.name, len(pairs))
            )
        return np.array(pairs, dtype=part).view(np_dtype)
    if base == dtypes.bool:
        return np.array(tensor.bool_val, dtype=np.bool_)
    raise TypeError("Unsupported TensorProto dtype %s" % base.name)


def _check_count(count, num_elements, base, shape):
    if count > num_elements:
        raise ValueError(
            "TensorProto of dtype %s and shape %s has %d values, more than its %d elements"
            % (base.name, shape, count, num_elements)
        )
