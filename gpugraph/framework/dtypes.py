"""Tensor element types with TensorFlow's ``tf.DType`` API.

A ``DType`` wraps one ``DataType`` enum value (``gpugraph/protos/types.proto``,
the same numbers TensorFlow uses). Instances are interned: ``DType(1) is float32``.

Example:
    >>> from gpugraph.framework import dtypes
    >>> dtypes.as_dtype("float")
    gpugraph.float32
    >>> dtypes.float32_ref.base_dtype is dtypes.float32
    True
    >>> dtypes.as_dtype(np.int64).as_datatype_enum
    9
"""

from __future__ import annotations

import builtins

import ml_dtypes
import numpy as np

from gpugraph.protos import types_pb2

# The name of every non-reference DataType, as TensorFlow spells it.
_TYPE_TO_STRING = {
    types_pb2.DT_HALF: "float16",
    types_pb2.DT_FLOAT: "float32",
    types_pb2.DT_DOUBLE: "float64",
    types_pb2.DT_INT32: "int32",
    types_pb2.DT_UINT8: "uint8",
    types_pb2.DT_UINT16: "uint16",
    types_pb2.DT_UINT32: "uint32",
    types_pb2.DT_UINT64: "uint64",
    types_pb2.DT_INT16: "int16",
    types_pb2.DT_INT8: "int8",
    types_pb2.DT_STRING: "string",
    types_pb2.DT_COMPLEX64: "complex64",
    types_pb2.DT_COMPLEX128: "complex128",
    types_pb2.DT_INT64: "int64",
    types_pb2.DT_BOOL: "bool",
    types_pb2.DT_QINT8: "qint8",
    types_pb2.DT_QUINT8: "quint8",
    types_pb2.DT_QINT16: "qint16",
    types_pb2.DT_QUINT16: "quint16",
    types_pb2.DT_QINT32: "qint32",
    types_pb2.DT_BFLOAT16: "bfloat16",
    types_pb2.DT_FLOAT8_E5M2: "float8_e5m2",
    types_pb2.DT_FLOAT8_E4M3FN: "float8_e4m3fn",
    types_pb2.DT_FLOAT8_E4M3FNUZ: "float8_e4m3fnuz",
    types_pb2.DT_FLOAT8_E4M3B11FNUZ: "float8_e4m3b11fnuz",
    types_pb2.DT_FLOAT8_E5M2FNUZ: "float8_e5m2fnuz",
    types_pb2.DT_FLOAT4_E2M1FN: "float4_e2m1fn",
    types_pb2.DT_INT4: "int4",
    types_pb2.DT_UINT4: "uint4",
    types_pb2.DT_INT2: "int2",
    types_pb2.DT_UINT2: "uint2",
    types_pb2.DT_RESOURCE: "resource",
    types_pb2.DT_VARIANT: "variant",
}

# TensorFlow's numpy stand-ins for quantized types: structured dtypes whose
# single field names the type (numpy has no quantized scalars).
_np_qint8 = np.dtype([("qint8", np.int8)])
_np_quint8 = np.dtype([("quint8", np.uint8)])
_np_qint16 = np.dtype([("qint16", np.int16)])
_np_quint16 = np.dtype([("quint16", np.uint16)])
_np_qint32 = np.dtype([("qint32", np.int32)])



def _ml(name):
    # The newest kinds (float4_e2m1fn, int2, uint2) need ml_dtypes >= 0.5; with
    # an older one those DTypes exist but have no numpy type.
    return getattr(ml_dtypes, name, None)


# Element type -> numpy type. string/resource/variant hold Python objects.
_TF_TO_NP = {
    types_pb2.DT_HALF: np.float16,
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_STRING: object,
    types_pb2.DT_COMPLEX64: np.complex64,
    types_pb2.DT_COMPLEX128: np.complex128,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_BOOL: np.bool_,
    types_pb2.DT_QINT8: _np_qint8,
    types_pb2.DT_QUINT8: _np_quint8,
    types_pb2.DT_QINT16: _np_qint16,
    types_pb2.DT_QUINT16: _np_quint16,
    types_pb2.DT_QINT32: _np_qint32,
    types_pb2.DT_BFLOAT16: _ml("bfloat16"),
    types_pb2.DT_FLOAT8_E5M2: _ml("float8_e5m2"),
    types_pb2.DT_FLOAT8_E4M3FN: _ml("float8_e4m3fn"),
    types_pb2.DT_FLOAT8_E4M3FNUZ: _ml("float8_e4m3fnuz"),
    types_pb2.DT_FLOAT8_E4M3B11FNUZ: _ml("float8_e4m3b11fnuz"),
    types_pb2.DT_FLOAT8_E5M2FNUZ: _ml("float8_e5m2fnuz"),
    types_pb2.DT_FLOAT4_E2M1FN: _ml("float4_e2m1fn"),
    types_pb2.DT_INT4: _ml("int4"),
    types_pb2.DT_UINT4: _ml("uint4"),
    types_pb2.DT_INT2: _ml("int2"),
    types_pb2.DT_UINT2: _ml("uint2"),
    types_pb2.DT_RESOURCE: object,
    types_pb2.DT_VARIANT: object,
}
_TF_TO_NP = {enum: np_type for enum, np_type in _TF_TO_NP.items() if np_type is not None}

_REF_OFFSET = 100

_FLOATING = frozenset([
    types_pb2.DT_HALF, types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_BFLOAT16,
    types_pb2.DT_FLOAT8_E5M2, types_pb2.DT_FLOAT8_E4M3FN, types_pb2.DT_FLOAT8_E4M3FNUZ,
    types_pb2.DT_FLOAT8_E4M3B11FNUZ, types_pb2.DT_FLOAT8_E5M2FNUZ, types_pb2.DT_FLOAT4_E2M1FN,
])
_UNSIGNED = frozenset([
    types_pb2.DT_UINT8, types_pb2.DT_UINT16, types_pb2.DT_UINT32, types_pb2.DT_UINT64,
    types_pb2.DT_UINT4, types_pb2.DT_UINT2,
])
_INTEGER = _UNSIGNED | frozenset([
    types_pb2.DT_INT8, types_pb2.DT_INT16, types_pb2.DT_INT32, types_pb2.DT_INT64,
    types_pb2.DT_INT4, types_pb2.DT_INT2,
])
_COMPLEX = frozenset([types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128])
_QUANTIZED = frozenset([
    types_pb2.DT_QINT8, types_pb2.DT_QUINT8, types_pb2.DT_QINT16, types_pb2.DT_QUINT16,
    types_pb2.DT_QINT32,
])
# Types with no fixed element size (TensorFlow reports 0 for them).
_VARIABLE_SIZE = frozenset([types_pb2.DT_STRING, types_pb2.DT_RESOURCE, types_pb2.DT_VARIANT])
_NOT_NUMPY = frozenset([types_pb2.DT_RESOURCE, types_pb2.DT_VARIANT])

# "Intensity" ranges behind DType.limits (TensorFlow's dtype_range table,
# which only covers these types; float ranges are the image range [-1, 1]).
_LIMITS = {
    types_pb2.DT_BOOL: (False, True),
    types_pb2.DT_UINT8: (0, 255),
    types_pb2.DT_UINT16: (0, 65535),
    types_pb2.DT_INT8: (-128, 127),
    types_pb2.DT_INT16: (-32768, 32767),
    types_pb2.DT_INT64: (-(2**63), 2**63 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
    types_pb2.DT_INT32: (-(2**31), 2**31 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_FLOAT: (-1, 1),
    types_pb2.DT_DOUBLE: (-1, 1),
}

_INTERN_TABLE: dict[int, "DType"] = {}


class DType:
    """The element type of a tensor, e.g. ``float32`` or the reference type ``float32_ref``.

    Example:
        >>> DType(types_pb2.DT_FLOAT) is float32
        True
        >>> float32 == "float32", float32 == np.float32, float32 == "junk"
        (True, True, False)
    """

    __slots__ = ("_type_enum",)

    def __new__(cls, type_enum):
        if isinstance(type_enum, DType):
            return type_enum
        # Check the type before the table lookup: True and 1.0 hash like 1.
        if isinstance(type_enum, (int, np.integer)) and not isinstance(type_enum, (builtins.bool, np.bool_)):
            found = _INTERN_TABLE.get(int(type_enum))
            if found is not None:
                return found
            valid = _base_enum(int(type_enum)) in _TYPE_TO_STRING
        else:
            valid = False
        if not valid:
            raise TypeError("%r does not correspond to a valid DataType enum value" % (type_enum,))
        self = super().__new__(cls)
        self._type_enum = int(type_enum)
        _INTERN_TABLE[self._type_enum] = self
        return self

    # -- identity -----------------------------------------------------------

    @property
    def as_datatype_enum(self) -> int:
        """The ``DataType`` enum value (e.g. 1 for float32, 101 for float32_ref)."""
        return self._type_enum

    @property
    def name(self) -> str:
        """TensorFlow's name: ``"float32"``, ``"float32_ref"``, ``"string"``."""
        base = _TYPE_TO_STRING[_base_enum(self._type_enum)]
        return base + "_ref" if self._is_ref_dtype else base

    # -- reference types ----------------------------------------------------

    @property
    def _is_ref_dtype(self) -> bool:
        """True for the TF1 reference types (``float32_ref`` …)."""
        return self._type_enum > _REF_OFFSET

    is_ref_dtype = _is_ref_dtype

    @property
    def _as_ref(self) -> "DType":
        """The reference type for this type (itself if already one)."""
        return self if self._is_ref_dtype else DType(self._type_enum + _REF_OFFSET)

    @property
    def base_dtype(self) -> "DType":
        """The non-reference type: ``float32_ref.base_dtype is float32``."""
        return DType(self._type_enum - _REF_OFFSET) if self._is_ref_dtype else self

    @property
    def real_dtype(self) -> "DType":
        """The type of the real part: float32 for complex64, float64 for complex128, else self."""
        base = self._base()
        if base == types_pb2.DT_COMPLEX64:
            return float32
        if base == types_pb2.DT_COMPLEX128:
            return float64
        return self

    # -- numpy --------------------------------------------------------------

    @property
    def as_numpy_dtype(self):
        """The numpy type (``np.float32``, ``ml_dtypes.bfloat16``; ``object`` for string,
        resource and variant; a one-field structured dtype for quantized types)."""
        return self._numpy_type()

    def _numpy_type(self):
        try:
            return _TF_TO_NP[self._base()]
        except KeyError:
            raise TypeError("%s has no numpy type: it needs ml_dtypes >= 0.5" % self.name) from None

    @property
    def is_numpy_compatible(self) -> bool:
        """False only for resource and variant, which numpy cannot hold (and for
        the newest ml_dtypes kinds when the installed ml_dtypes lacks them)."""
        return self._base() not in _NOT_NUMPY and self._base() in _TF_TO_NP

    @property
    def size(self) -> int:
        """Bytes per element; 0 for string, resource and variant (like TensorFlow)."""
        base = self._base()
        if base in _VARIABLE_SIZE:
            return 0
        return np.dtype(self._numpy_type()).itemsize

    # -- classification -----------------------------------------------------

    @property
    def is_bool(self) -> bool:
        return self._base() == types_pb2.DT_BOOL

    @property
    def is_floating(self) -> bool:
        """True for real floating types: half, bfloat16, float, double and the float8/float4 kinds."""
        return self._base() in _FLOATING

    @property
    def is_integer(self) -> bool:
        """True for (u)int2/4/8/16/32/64; False for bool and the quantized types."""
        return self._base() in _INTEGER

    @property
    def is_complex(self) -> bool:
        return self._base() in _COMPLEX

    @property
    def is_quantized(self) -> bool:
        return self._base() in _QUANTIZED

    @property
    def is_unsigned(self) -> bool:
        """True for uint2/4/8/16/32/64 (TensorFlow counts quint8 and bool as not unsigned)."""
        return self._base() in _UNSIGNED

    # -- ranges -------------------------------------------------------------

    @property
    def min(self):
        """The smallest representable value. TypeError for bool, string, complex,
        quantized, resource and variant."""
        return self._finite_info("minimum").min

    @property
    def max(self):
        """The largest representable value (TypeError as for ``min``)."""
        return self._finite_info("maximum").max

    def _finite_info(self, what):
        base = self._base()
        if base in _FLOATING:
            return ml_dtypes.finfo(self._numpy_type())
        if base in _INTEGER:
            return ml_dtypes.iinfo(self._numpy_type())
        raise TypeError("Cannot find %s value of %s: it is not a real numeric type" % (what, self))

    @property
    def limits(self):
        """TensorFlow's image intensity limits ``(0, max)`` (the minimum clipped to 0).

        Only defined for bool, the 8-64 bit integers, float32 and float64; a
        ValueError otherwise.
        """
        try:
            _, hi = _LIMITS[self._base()]
        except KeyError:
            raise ValueError("%s does not have defined limits" % self) from None
        return 0, hi

    # -- comparison ---------------------------------------------------------

    def is_compatible_with(self, other) -> bool:
        """True if a tensor of type ``other`` converts to this type (TF1: a ref type
        converts to its base type, not the other way round).

        Example:
            >>> float32.is_compatible_with(float32_ref), float32_ref.is_compatible_with(float32)
            (True, False)
        """
        other = as_dtype(other)
        return self._type_enum in (other._type_enum, other.base_dtype._type_enum)

    def __eq__(self, other):
        if other is None:
            return False
        if not isinstance(other, DType):
            try:
                other = as_dtype(other)
            except TypeError:
                return False
        return self._type_enum == other._type_enum

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return self._type_enum

    def __repr__(self):
        return "gpugraph." + self.name

    def __str__(self):
        return "<dtype: %r>" % self.name

    def __reduce__(self):
        return as_dtype, (self.name,)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def _base(self) -> int:
        return _base_enum(self._type_enum)


def _base_enum(type_enum: int) -> int:
    return type_enum - _REF_OFFSET if type_enum > _REF_OFFSET else type_enum


# -- module constants ---------------------------------------------------------
# (`bool` shadows the builtin inside this module, as in TensorFlow; code
# below uses builtins.bool where it means Python's.)

float16 = DType(types_pb2.DT_HALF)
half = float16
float32 = DType(types_pb2.DT_FLOAT)
float64 = DType(types_pb2.DT_DOUBLE)
double = float64
bfloat16 = DType(types_pb2.DT_BFLOAT16)
int8 = DType(types_pb2.DT_INT8)
int16 = DType(types_pb2.DT_INT16)
int32 = DType(types_pb2.DT_INT32)
int64 = DType(types_pb2.DT_INT64)
uint8 = DType(types_pb2.DT_UINT8)
uint16 = DType(types_pb2.DT_UINT16)
uint32 = DType(types_pb2.DT_UINT32)
uint64 = DType(types_pb2.DT_UINT64)
bool = DType(types_pb2.DT_BOOL)  # noqa: A001  (TensorFlow's name)
string = DType(types_pb2.DT_STRING)
complex64 = DType(types_pb2.DT_COMPLEX64)
complex128 = DType(types_pb2.DT_COMPLEX128)
qint8 = DType(types_pb2.DT_QINT8)
quint8 = DType(types_pb2.DT_QUINT8)
qint16 = DType(types_pb2.DT_QINT16)
quint16 = DType(types_pb2.DT_QUINT16)
qint32 = DType(types_pb2.DT_QINT32)
resource = DType(types_pb2.DT_RESOURCE)
variant = DType(types_pb2.DT_VARIANT)
float8_e5m2 = DType(types_pb2.DT_FLOAT8_E5M2)
float8_e4m3fn = DType(types_pb2.DT_FLOAT8_E4M3FN)
float8_e4m3fnuz = DType(types_pb2.DT_FLOAT8_E4M3FNUZ)
float8_e4m3b11fnuz = DType(types_pb2.DT_FLOAT8_E4M3B11FNUZ)
float8_e5m2fnuz = DType(types_pb2.DT_FLOAT8_E5M2FNUZ)
float4_e2m1fn = DType(types_pb2.DT_FLOAT4_E2M1FN)
int4 = DType(types_pb2.DT_INT4)
uint4 = DType(types_pb2.DT_UINT4)
int2 = DType(types_pb2.DT_INT2)
uint2 = DType(types_pb2.DT_UINT2)

float16_ref = float16._as_ref
half_ref = float16_ref
float32_ref = float32._as_ref
float64_ref = float64._as_ref
double_ref = float64_ref
bfloat16_ref = bfloat16._as_ref
int8_ref = int8._as_ref
int16_ref = int16._as_ref
int32_ref = int32._as_ref
int64_ref = int64._as_ref
uint8_ref = uint8._as_ref
uint16_ref = uint16._as_ref
uint32_ref = uint32._as_ref
uint64_ref = uint64._as_ref
bool_ref = bool._as_ref
string_ref = string._as_ref
complex64_ref = complex64._as_ref
complex128_ref = complex128._as_ref
qint8_ref = qint8._as_ref
quint8_ref = quint8._as_ref
qint16_ref = qint16._as_ref
quint16_ref = quint16._as_ref
qint32_ref = qint32._as_ref
resource_ref = resource._as_ref
variant_ref = variant._as_ref
float8_e5m2_ref = float8_e5m2._as_ref
float8_e4m3fn_ref = float8_e4m3fn._as_ref
float8_e4m3fnuz_ref = float8_e4m3fnuz._as_ref
float8_e4m3b11fnuz_ref = float8_e4m3b11fnuz._as_ref
float8_e5m2fnuz_ref = float8_e5m2fnuz._as_ref
float4_e2m1fn_ref = float4_e2m1fn._as_ref
int4_ref = int4._as_ref
uint4_ref = uint4._as_ref
int2_ref = int2._as_ref
uint2_ref = uint2._as_ref

# -- lookup tables for as_dtype -------------------------------------------------

_STRING_TO_TF = {}
for _enum, _name in _TYPE_TO_STRING.items():
    _STRING_TO_TF[_name] = DType(_enum)
    _STRING_TO_TF[_name + "_ref"] = DType(_enum + _REF_OFFSET)
# TensorFlow's non-canonical aliases (also the spellings used in OpDefs).
for _alias, _dt in [("half", float16), ("float", float32), ("double", float64)]:
    _STRING_TO_TF[_alias] = _dt
    _STRING_TO_TF[_alias + "_ref"] = _dt._as_ref

# numpy scalar types (and the quantized structured dtypes) -> DType.
_NP_TO_TF = {
    np.float16: float16,
    np.float32: float32,
    np.float64: float64,
    np.int8: int8,
    np.int16: int16,
    np.int32: int32,
    np.int64: int64,
    np.uint8: uint8,
    np.uint16: uint16,
    np.uint32: uint32,
    np.uint64: uint64,
    np.complex64: complex64,
    np.complex128: complex128,
    np.object_: string,
    np.bytes_: string,
    np.str_: string,
    np.bool_: bool,
    _np_qint8: qint8,
    _np_quint8: quint8,
    _np_qint16: qint16,
    _np_quint16: quint16,
    _np_qint32: qint32,
    _ml("bfloat16"): bfloat16,
    _ml("float8_e5m2"): float8_e5m2,
    _ml("float8_e4m3fn"): float8_e4m3fn,
    _ml("float8_e4m3fnuz"): float8_e4m3fnuz,
    _ml("float8_e4m3b11fnuz"): float8_e4m3b11fnuz,
    _ml("float8_e5m2fnuz"): float8_e5m2fnuz,
    _ml("float4_e2m1fn"): float4_e2m1fn,
    _ml("int4"): int4,
    _ml("uint4"): uint4,
    _ml("int2"): int2,
    _ml("uint2"): uint2,
}

_NP_TO_TF.pop(None, None)

# Python types TensorFlow accepts (its _PYTHON_TO_TF): note that `int`, `str`
# and `bytes` are *not* accepted, exactly as in TensorFlow.
_PYTHON_TO_TF = {
    builtins.float: float32,
    builtins.bool: bool,
    builtins.object: string,
}


def _from_numpy_dtype(np_dtype: np.dtype):
    """Map a numpy dtype to a DType, or None. Handles platform aliases such as
    ``np.longlong`` (same layout as int64 but a different scalar type)."""
    found = _NP_TO_TF.get(np_dtype.type)
    if found is not None:
        return found
    if np_dtype.fields is not None:  # the quantized structured dtypes
        return _NP_TO_TF.get(np_dtype)
    if np_dtype.kind in "US" or np_dtype.kind == "T":  # str_, bytes_, StringDType
        return string
    for np_type, dt in _NP_TO_TF.items():
        if isinstance(np_type, type) and np_dtype == np.dtype(np_type):
            return dt
    return None


def as_dtype(type_value) -> DType:
    """Convert ``type_value`` to a :class:`DType`.

    Accepts a DType; a ``DataType`` enum value (int); a type name (``"float32"``,
    ``"float"``, ``"double"``, ``"half"``, ``"float32_ref"`` …); a numpy dtype,
    numpy scalar type or anything with a ``.dtype`` (arrays; str/bytes/object
    kinds become ``string``; ``ml_dtypes.bfloat16`` becomes ``bfloat16``); or
    the Python types ``float`` (float32), ``bool`` and ``object`` (string),
    as TensorFlow does.

    Example:
        >>> as_dtype("double"), as_dtype(3), as_dtype(np.dtype("S5"))
        (gpugraph.float64, gpugraph.int32, gpugraph.string)

    Raises:
        TypeError: naming ``type_value`` when it is none of these.
    """
    if isinstance(type_value, DType):
        return type_value
    if isinstance(type_value, np.dtype):
        found = _from_numpy_dtype(type_value)
        if found is not None:
            return found
    elif isinstance(type_value, str):
        found = _STRING_TO_TF.get(type_value)
        if found is not None:
            return found
    elif isinstance(type_value, (int, np.integer)) and not isinstance(type_value, (builtins.bool, np.bool_)):
        # Bools are ints in Python; `as_dtype(True)` meaning float32 would be a trap.
        found = _INTERN_TABLE.get(int(type_value))
        if found is not None:
            return found
    elif isinstance(type_value, type):
        found = _PYTHON_TO_TF.get(type_value)
        if found is not None:
            return found
        if issubclass(type_value, np.generic):
            found = _from_numpy_dtype(np.dtype(type_value))
            if found is not None:
                return found
    elif hasattr(type_value, "dtype"):
        try:
            found = _from_numpy_dtype(np.dtype(type_value.dtype))
        except TypeError:
            found = None
        if found is not None:
            return found
    raise TypeError("Cannot convert %r to a gpugraph DType" % (type_value,))


del _enum, _name, _alias, _dt

# What `from gpugraph.framework.dtypes import *` exports (the package does):
# the class, as_dtype and every type constant, nothing else.
__all__ = ["DType", "as_dtype"] + sorted(
    name for name, value in globals().items() if isinstance(value, DType) and not name.startswith("_")
)
