"""Conversion between Python attr values and ``AttrValue`` protos, and OpSpec → ``OpDef``.

Operations keep their attrs as ``AttrValue`` protos (exactly what a NodeDef carries, so import and
export are lossless, unknown attrs included). Python values come from here:

    >>> from gpugraph.framework import attrs, dtypes
    >>> av = attrs.to_attr_value("type", dtypes.float32)
    >>> attrs.from_attr_value(av)
    gpugraph.float32
"""

import numpy as np

from gpugraph.framework import dtypes, tensor_shape
from gpugraph.protos import attr_value_pb2, op_def_pb2


def _shape_proto(value):
    if isinstance(value, tensor_shape.TensorShape):
        return value.as_proto()
    if hasattr(value, "dim") and hasattr(value, "unknown_rank"):
        return value
    return tensor_shape.as_shape(value).as_proto()


def _tensor_proto(value):
    from gpugraph.framework import tensor_util
    if hasattr(value, "tensor_content") and hasattr(value, "dtype"):
        return value
    return tensor_util.make_tensor_proto(value)


def _to_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"expected a string, got {value!r}")


def to_attr_value(attr_type, value):
    """Builds an AttrValue of TF attr type ``attr_type`` ("int", "list(float)", "type", …)."""
    av = attr_value_pb2.AttrValue()
    if isinstance(value, attr_value_pb2.AttrValue):
        av.CopyFrom(value)
        return av
    if attr_type.startswith("list("):
        inner = attr_type[5:-1]
        lst = av.list
        values = list(value) if value is not None else []
        if inner == "int":
            lst.i.extend(int(v) for v in values)
        elif inner == "float":
            lst.f.extend(float(v) for v in values)
        elif inner == "bool":
            lst.b.extend(bool(v) for v in values)
        elif inner == "string":
            lst.s.extend(_to_bytes(v) for v in values)
        elif inner == "type":
            lst.type.extend(dtypes.as_dtype(v).as_datatype_enum for v in values)
        elif inner == "shape":
            for v in values:
                lst.shape.add().CopyFrom(_shape_proto(v))
        elif inner == "tensor":
            for v in values:
                lst.tensor.add().CopyFrom(_tensor_proto(v))
        elif inner == "func":
            for v in values:
                lst.func.add().CopyFrom(v)
        else:
            raise ValueError(f"unsupported attr type {attr_type!r}")
        if not values:
            av.list.SetInParent()
        return av
    if attr_type == "int":
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"expected an int, got {value!r}")
        av.i = int(value)
    elif attr_type == "float":
        av.f = float(value)
    elif attr_type == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"expected a bool, got {value!r}")
        av.b = bool(value)
    elif attr_type == "string":
        av.s = _to_bytes(value)
    elif attr_type == "type":
        av.type = dtypes.as_dtype(value).as_datatype_enum
    elif attr_type == "shape":
        av.shape.CopyFrom(_shape_proto(value))
    elif attr_type == "tensor":
        av.tensor.CopyFrom(_tensor_proto(value))
    elif attr_type == "func":
        av.func.CopyFrom(value)
    else:
        raise ValueError(f"unsupported attr type {attr_type!r}")
    return av


def from_attr_value(av):
    """The Python value of an AttrValue, as ``Operation.get_attr`` returns it (strings as bytes)."""
    which = av.WhichOneof("value")
    if which == "list":
        lst = av.list
        if lst.s:
            return list(lst.s)
        if lst.i:
            return list(lst.i)
        if lst.f:
            return list(lst.f)
        if lst.b:
            return list(lst.b)
        if lst.type:
            return [dtypes.as_dtype(t) for t in lst.type]
        if lst.shape:
            return [tensor_shape.TensorShape(s) for s in lst.shape]
        if lst.tensor:
            from gpugraph.framework import tensor_util
            return [tensor_util.MakeNdarray(t) for t in lst.tensor]
        if lst.func:
            return list(lst.func)
        return []
    if which == "s":
        return av.s
    if which == "i":
        return av.i
    if which == "f":
        return av.f
    if which == "b":
        return av.b
    if which == "type":
        return dtypes.as_dtype(av.type)
    if which == "shape":
        return tensor_shape.TensorShape(av.shape)
    if which == "tensor":
        from gpugraph.framework import tensor_util
        return tensor_util.MakeNdarray(av.tensor)
    if which == "func":
        return av.func
    if which == "placeholder":
        return av.placeholder
    return None


def kernel_attr_value(av):
    """Like :func:`from_attr_value`, but strings decoded to ``str`` — what kernels receive."""
    value = from_attr_value(av)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8", "replace") for v in value]
    return value


def op_spec_to_op_def(spec):
    """Builds TensorFlow's ``OpDef`` for a registered :class:`OpSpec`."""
    op_def = op_def_pb2.OpDef(name=spec.name)
    for args, target in ((spec.inputs, op_def.input_arg), (spec.outputs, op_def.output_arg)):
        for arg in args:
            a = target.add(name=arg.name)
            if arg.type is not None:
                a.type = arg.type.as_datatype_enum
            if arg.type_attr:
                a.type_attr = arg.type_attr
            if arg.number_attr:
                a.number_attr = arg.number_attr
            if arg.type_list_attr:
                a.type_list_attr = arg.type_list_attr
            a.is_ref = arg.is_ref
    for attr in spec.attrs.values():
        a = op_def.attr.add(name=attr.name, type=attr.type)
        if attr.has_default:
            a.default_value.CopyFrom(to_attr_value(attr.type, attr.default))
        if attr.minimum is not None:
            a.has_minimum = True
            a.minimum = attr.minimum
        if attr.allowed is not None:
            if attr.type in ("type", "list(type)"):
                a.allowed_values.list.type.extend(t.as_datatype_enum for t in attr.allowed)
            else:
                a.allowed_values.list.s.extend(s.encode() for s in attr.allowed)
    op_def.is_stateful = spec.is_stateful
    op_def.is_commutative = spec.is_commutative
    op_def.is_aggregate = spec.is_aggregate
    op_def.allows_uninitialized_input = spec.allows_uninitialized_input
    return op_def
