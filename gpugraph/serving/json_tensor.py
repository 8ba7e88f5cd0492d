"""TF Serving's JSON conventions for ``:predict``: request bodies to NumPy arrays, output arrays to
response bodies — the same rules, and as far as possible the same messages, as TF Serving's
``json_tensor.cc``.

- Row format: ``{"instances": [...]}`` — a plain list when the signature has one input, else (or
  optionally) a list of objects with one key per input; every instance of an input has the same
  shape, and the instances are stacked along a new first (batch) dimension. The response is
  ``{"predictions": [...]}``: one value per instance for a single output, else one object per
  instance with a key per output.
- Columnar format: ``{"inputs": value}`` for a single input, or ``{"inputs": {name: value, ...}}``;
  the response is ``{"outputs": value}`` or ``{"outputs": {name: value, ...}}``.
- ``{"b64": "..."}`` is a base64-encoded bytes value of a string input; outputs whose key ends in
  ``_bytes`` are written that way (other string outputs as JSON strings).
- Numbers are checked against the input's dtype without silent loss: integers for integer inputs
  (in range), numbers representable in the float type for float inputs, ``true``/``false`` for
  bool. ``NaN``, ``Infinity`` and ``-Infinity`` are accepted and written as those tokens.
- Floats are written as TF Serving writes them: the shortest of ``%g`` and ``%.9g`` (``%.17g`` for
  double) that reads back to the same value, with ``.0`` added to whole numbers.

Example:
    >>> doc = parse_body(b'{"instances": [[1, 2]]}')
    >>> arrays, fmt = arrays_from_request(doc, signature)                    # doctest: +SKIP
    >>> render_response({"y": np.array([[0.5, 3.0]], np.float32)}, "row")
    b'{"predictions": [[0.5, 3.0]]}'
"""

import base64
import binascii
import json

import ml_dtypes
import numpy as np

try:  # ~10x faster on number-heavy bodies; json (which also reads NaN/Infinity) stays the reference
    import orjson as _orjson
except ImportError:  # the serve extra installs it; without it everything works, only slower
    _orjson = None

from gpugraph.framework import dtypes

ROW = "row"
COLUMNAR = "columnar"
_B64 = "b64"
_BYTES_SUFFIX = "_bytes"
# TensorFlow's short type names (DataTypeString), used in messages as TF Serving does.
_TF_TYPE_NAME = {"float32": "float", "float64": "double", "float16": "half"}


class RequestError(Exception):
    """A request that cannot be served; ``status`` is the HTTP code, the message the ``error`` text."""

    status = 400

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


def type_name(dtype):
    return _TF_TYPE_NAME.get(dtype.name, dtype.name)


def _json_text(value, limit=80):
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _json_type(value):
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64), str)


# -- request ------------------------------------------------------------------------------------
def parse_body(body):
    """The request's JSON object; RequestError for an empty, malformed or non-object body."""
    if not body:
        raise RequestError("JSON Parse error: The document is empty")
    doc = _fast_loads(body)
    if doc is not None:
        if not isinstance(doc, dict):
            raise RequestError(f"JSON Value: {_json_text(doc)} Is not object")
        return doc
    try:
        doc = json.loads(body)
    except UnicodeDecodeError as e:
        raise RequestError(f"JSON Parse error: the body is not UTF-8 ({e})") from None
    except json.JSONDecodeError as e:
        raise RequestError(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except RecursionError:
        raise RequestError("JSON Parse error: the document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise RequestError(f"JSON Value: {_json_text(doc)} Is not object")
    return doc


def _fast_loads(body):
    """orjson's parse, or None when it is not installed or declines (NaN/Infinity tokens, integers past
    64 bits, malformed input): then ``json`` parses, or explains what is wrong."""
    if _orjson is None:
        return None
    try:
        return _orjson.loads(body)
    except _orjson.JSONDecodeError:
        return None


def signature_name_of(doc, default):
    name = doc.get("signature_name", default)
    if not isinstance(name, str):
        raise RequestError(f"JSON Value: {_json_text(doc)} not formatted correctly. 'signature_name' key must be "
                           f"a string value.")
    return name or default


def _leaves(value):
    """Leaf values of nested lists, in order (for error messages only)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        else:
            yield v


def _type_error(value, dtype):
    return RequestError(f"JSON Value: {_json_text(value)} Type: {_json_type(value)} is not of expected type: "
                        f"{type_name(dtype)}")


def _first_bad_leaf(value, accept):
    for leaf in _leaves(value):
        if not accept(leaf):
            return leaf
    return None


def _ragged_error(value, where):
    return RequestError(f"{where}: the nested lists are ragged (lists at the same level have different lengths, "
                        f"so they do not form a dense tensor): {_json_text(value)}")


def _strings_to_array(value, dtype, where):
    try:
        arr = np.array(value, dtype=object)
    except ValueError:
        raise _ragged_error(value, where) from None
    flat = arr.reshape(-1)
    out = np.empty(flat.shape, dtype=object)
    for i, v in enumerate(flat):
        if isinstance(v, str):
            out[i] = v.encode("utf-8")
        elif _is_b64(v):
            try:
                out[i] = base64.b64decode(v[_B64], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"{where}: Unable to base64 decode {_json_text(v)}") from None
        elif isinstance(v, list):  # NumPy keeps ragged lists as list objects in an object array
            raise _ragged_error(value, where)
        elif isinstance(v, dict):
            raise RequestError(f"{where}: JSON Value: {_json_text(v)} not formatted correctly for base64 data "
                               f"(expected an object with the one key \"b64\" holding a string)")
        else:
            raise RequestError(f"{where}: {_type_error(v, dtype)}")
    return out.reshape(arr.shape)


def to_array(value, dtype, where):
    """``value`` (nested JSON lists / scalars) as an array of ``dtype``; RequestError naming ``where``
    and the offending value when it is ragged or a value does not fit the dtype."""
    if dtype == dtypes.string:
        return _strings_to_array(value, dtype, where)
    try:
        arr = np.asarray(value)
    except (ValueError, OverflowError):
        if isinstance(value, list) and any(isinstance(v, list) for v in _shallow(value)):
            raise _ragged_error(value, where) from None
        bad = _first_bad_leaf(value, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        raise RequestError(f"{where}: {_type_error(bad, dtype)}") from None
    np_dtype = np.dtype(dtype.as_numpy_dtype)
    kind = arr.dtype.kind
    if arr.size == 0 and kind == "f":
        return arr.astype(np_dtype)
    if np_dtype.kind == "b":
        if kind != "b":
            bad = _first_bad_leaf(value, lambda v: isinstance(v, bool))
            raise RequestError(f"{where}: {_type_error(bad, dtype)}")
        return arr
    if kind not in "iuf" or kind == "b":
        if kind == "O" and isinstance(value, list) and _is_ragged(value):
            raise _ragged_error(value, where)
        bad = _first_bad_leaf(value, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        raise RequestError(f"{where}: {_type_error(bad, dtype)}")
    if np_dtype.kind in "iu":
        if kind == "f":
            bad = _first_bad_leaf(value, lambda v: not isinstance(v, float))
            raise RequestError(f"{where}: {_type_error(bad, dtype)}")
        info = np.iinfo(np_dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            bad = _first_bad_leaf(value, lambda v: info.min <= v <= info.max)
            raise RequestError(f"{where}: {_type_error(bad, dtype)} (out of range [{info.min}, {info.max}])")
        return arr.astype(np_dtype)
    if np_dtype.kind == "f" or dtype in (dtypes.bfloat16, dtypes.float16):
        return _to_float(arr, value, dtype, np_dtype, where)
    raise RequestError(f"{where}: Conversion of JSON values to type {type_name(dtype)} is not supported")


def _shallow(value):
    return value if isinstance(value, list) else []


def _is_ragged(value):
    if not isinstance(value, list):
        return False
    kinds = {isinstance(v, list) for v in value}
    if len(kinds) > 1:
        return True
    if kinds == {True}:
        if len({len(v) for v in value}) > 1:
            return True
        return any(_is_ragged(v) for v in value)
    return False


def _to_float(arr, value, dtype, np_dtype, where):
    """TF Serving's IsLosslessDecimal: integers up to 2**digits - 1, finite values within range."""
    finfo = ml_dtypes.finfo(np_dtype)  # NumPy's finfo does not know bfloat16
    if arr.dtype.kind in "iu":
        limit = (1 << finfo.nmant + 1) - 1
        if arr.size and np.abs(arr.astype(np.float64)).max() > limit:
            bad = _first_bad_leaf(value, lambda v: abs(v) <= limit)
            raise RequestError(f"{where}: Cannot convert JSON value: {_json_text(bad)} to {type_name(dtype)} without "
                               f"loss of precision.")
    elif arr.size:
        finite = arr[np.isfinite(arr)]
        if finite.size and np.abs(finite).max() > float(finfo.max):
            bad = _first_bad_leaf(value, lambda v: not np.isfinite(v) or abs(v) <= float(finfo.max))
            raise RequestError(f"{where}: Cannot convert JSON value: {_json_text(bad)} to {type_name(dtype)} without "
                               f"loss of precision.")
    return arr.astype(np_dtype)


def check_shape(arr, spec, signature_name):
    """RequestError when ``arr`` cannot feed ``spec`` (rank or a known dimension differs)."""
    if spec.shape is None:
        return
    if arr.ndim != len(spec.shape) or any(d is not None and d != s for d, s in zip(spec.shape, arr.shape)):
        want = "[" + ",".join("-1" if d is None else str(d) for d in spec.shape) + "]"
        got = "[" + ",".join(str(s) for s in arr.shape) + "]"
        raise RequestError(f"input '{spec.key}' of signature '{signature_name}' has shape {got}, but the signature "
                           f"expects {want} (dtype {type_name(spec.dtype)}; -1 is any size)")


def arrays_from_request(doc, signature):
    """Parses the tensors of a predict request for ``signature`` (see module doc).

    Returns ``(arrays by input key, format, rows)``: ``format`` is ROW or COLUMNAR, ``rows`` the
    number of instances for ROW (None for COLUMNAR).
    """
    specs = signature.inputs_by_key
    names = ", ".join(sorted(specs)) or "(none)"
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise RequestError("JSON Value: request not formatted correctly expecting only one of 'inputs' or "
                           "'instances' keys to exist")
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise RequestError("Excepting 'instances' to be an list/array")
        if not instances:
            raise RequestError("No values in 'instances' array")
        return _row_arrays(instances, signature, specs, names), ROW, len(instances)
    if has_inputs:
        return _columnar_arrays(doc["inputs"], signature, specs, names), COLUMNAR, None
    raise RequestError("Missing 'inputs' or 'instances' key")


def _row_arrays(instances, signature, specs, names):
    def is_object(v):
        return isinstance(v, dict) and not _is_b64(v)

    if not specs:
        raise RequestError(f"signature '{signature.name}' has no inputs: send {{\"inputs\": {{}}}} (columnar format)")
    objects = is_object(instances[0])
    if not objects and len(specs) > 1:
        raise RequestError(f"instances is a plain list, but expecting list of objects as multiple input tensors "
                           f"required as per tensorinfo_map (signature '{signature.name}' has inputs: {names})")
    arrays = {}
    if objects:
        for i, inst in enumerate(instances):
            if not is_object(inst):
                raise RequestError(f"Expecting object but got list at item {i} of input list")
            unknown = sorted(set(inst) - set(specs))
            if unknown:
                raise RequestError(f"Failed to process element: {i} key: {unknown[0]} of 'instances' list. Error: "
                                   f"JSON object: does not have named input: {unknown[0]} (signature "
                                   f"'{signature.name}' has inputs: {names})")
            missing = sorted(set(specs) - set(inst))
            if missing:
                raise RequestError(f"Failed to process element: {i} of 'instances' list. JSON object keys must be "
                                   f"equal to: {','.join(sorted(specs))} (missing input: {missing[0]})")
        for key, spec in specs.items():
            arrays[key] = to_array([inst[key] for inst in instances], spec.dtype,
                                   f"Failed to process 'instances' for input '{key}'")
    else:
        (key, spec), = specs.items()
        for i, inst in enumerate(instances):
            if is_object(inst):
                raise RequestError(f"Expecting value/list but got object at item {i} of input list")
        arrays[key] = to_array(instances, spec.dtype, f"Failed to process 'instances' for input '{key}'")
    for key, arr in arrays.items():
        check_shape(arr, specs[key], signature.name)
    return arrays


def _columnar_arrays(value, signature, specs, names):
    arrays = {}
    if not isinstance(value, dict) or _is_b64(value):
        if len(specs) != 1:
            raise RequestError(f"inputs is a plain value/list, but expecting an object as multiple input tensors "
                               f"required as per tensorinfo_map (signature '{signature.name}' has inputs: {names})")
        (key, spec), = specs.items()
        arrays[key] = to_array(value, spec.dtype, f"input '{key}'")
    else:
        unknown = sorted(set(value) - set(specs))
        if unknown:
            raise RequestError(f"input '{unknown[0]}' in 'inputs' object is not an input of signature "
                               f"'{signature.name}' (its inputs: {names})")
        for key, spec in specs.items():
            if key not in value:
                raise RequestError(f"Missing named input: {key} in 'inputs' object (signature '{signature.name}' "
                                   f"has inputs: {names})")
            arrays[key] = to_array(value[key], spec.dtype, f"input '{key}'")
    for key, arr in arrays.items():
        check_shape(arr, specs[key], signature.name)
    return arrays


# -- response -----------------------------------------------------------------------------------
def _decimal_tokens(flat, np_type, max_digits):
    """TF Serving's WriteDecimal for each value of a 1-D float array."""
    values = flat.astype(np.float64).tolist()
    tokens = ["%g" % v for v in values]
    back = np.array(tokens, dtype=np.float64).astype(np_type)
    finite = np.isfinite(flat)
    redo = np.flatnonzero(finite & (back != flat.astype(np_type)))
    for i in redo.tolist():
        tokens[i] = "%.*g" % (max_digits, values[i])
    for i, t in enumerate(tokens):
        if "." not in t and "e" not in t and "n" not in t:  # 'inf'/'nan' handled below
            tokens[i] = t + ".0"
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            v = values[i]
            tokens[i] = "NaN" if v != v else ("-Infinity" if v < 0 else "Infinity")
    return tokens


def _tokens(arr, as_bytes):
    flat = arr.reshape(-1)
    kind = arr.dtype.kind
    if arr.dtype == np.float64:
        return _decimal_tokens(flat, np.float64, 17)
    if kind == "f" or arr.dtype.name == "bfloat16":
        return _decimal_tokens(flat.astype(np.float32), np.float32, 9)
    if kind in "iu":
        return [str(v) for v in flat.tolist()]
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "OSU":
        out = []
        for v in flat.tolist():
            if isinstance(v, str):
                v = v.encode("utf-8")
            if not as_bytes:
                try:
                    out.append(json.dumps(v.decode("utf-8"), ensure_ascii=False))
                    continue
                except UnicodeDecodeError:
                    pass  # not text: write it as bytes, the only lossless choice in JSON
            out.append('{"b64": "%s"}' % base64.b64encode(v).decode("ascii"))
        return out
    raise RequestError(f"Failed to write JSON value for tensor type: {arr.dtype}", status=500)


def _nest(tokens, shape):
    if not shape:
        return tokens[0]
    if len(shape) == 1:
        return "[" + ", ".join(tokens) + "]"
    step = len(tokens) // shape[0] if shape[0] else 0
    return "[" + ", ".join(_nest(tokens[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])) + "]"


def render_value(arr, as_bytes=False):
    """One tensor as JSON text (nested lists, or a scalar)."""
    arr = np.asarray(arr)
    return _nest(_tokens(arr, as_bytes), arr.shape)


def render_response(outputs, fmt):
    """The response body (bytes) for ``outputs`` (key → array) in the request's format."""
    keys = sorted(outputs)
    arrays = {k: np.asarray(outputs[k]) for k in keys}
    if fmt == COLUMNAR:
        if len(keys) == 1:
            body = render_value(arrays[keys[0]], keys[0].endswith(_BYTES_SUFFIX))
        else:
            body = "{" + ", ".join(f"{json.dumps(k)}: {render_value(arrays[k], k.endswith(_BYTES_SUFFIX))}"
                                   for k in keys) + "}"
        return ('{"outputs": ' + body + "}").encode("utf-8")
    batch = None
    for k in keys:
        shape = arrays[k].shape
        if not shape:
            raise RequestError(f"Tensor name: {k} has no shape information (a scalar output cannot be split into "
                               f"instances; use the columnar 'inputs' format)")
        if batch is not None and shape[0] != batch:
            raise RequestError(f"Tensor name: {k} has inconsistent batch size: {shape[0]} expecting: {batch}")
        batch = shape[0]
    rows = {k: [_nest(t, arrays[k].shape[1:]) for t in _split_rows(_tokens(arrays[k], k.endswith(_BYTES_SUFFIX)),
                                                                      arrays[k].shape[0])] for k in keys}
    if len(keys) == 1:
        items = rows[keys[0]]
    else:
        items = ["{" + ", ".join(f"{json.dumps(k)}: {rows[k][i]}" for k in keys) + "}" for i in range(batch)]
    return ('{"predictions": [' + ", ".join(items) + "]}").encode("utf-8")


def _split_rows(tokens, n):
    step = len(tokens) // n if n else 0
    return [tokens[i * step:(i + 1) * step] for i in range(n)]


def render_error(message):
    return json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
