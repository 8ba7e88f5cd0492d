"""The op registry: every op is declared once, in TensorFlow's own signature language.

A declaration is pure data plus pure functions: the TF op name, input/output args, attrs with
defaults and allowed values (written exactly as in TensorFlow's ``REGISTER_OP``), a shape function,
and kernels per device kind. Writing the signature in TF's syntax keeps our NodeDefs and OpDefs
identical to TensorFlow's, so graphs move between the two without translation.

Example:
    >>> from gpugraph.framework.registry import register_op, get_op_spec
    >>> register_op(
    ...     "MyRelu",
    ...     inputs=["features: T"], outputs=["activations: T"],
    ...     attrs=["T: {float, double}"],
    ...     shape=lambda op: [op.inputs[0].shape],
    ...     cpu=lambda ctx, x: np.maximum(x, 0))              # doctest: +SKIP
    >>> get_op_spec("MyRelu").attrs["T"].allowed              # doctest: +SKIP

Kernels are called as ``kernel(ctx, *input_values)`` and return one value for a single output, or a
sequence with one entry per output tensor. ``ctx`` is a :class:`gpugraph.runtime.context.KernelContext`
(attrs as Python values, the session's resources, static output dtypes).
"""

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from gpugraph.framework import dtypes

NO_DEFAULT = object()

# Type-set aliases used by TensorFlow op registrations.
_TYPE_SET_ALIASES = {
    "numbertype": ["float", "double", "int32", "uint8", "int16", "int8", "complex64", "int64", "qint8",
                   "quint8", "qint32", "bfloat16", "qint16", "quint16", "uint16", "complex128", "half",
                   "uint32", "uint64"],
    "realnumbertype": ["float", "double", "int32", "uint8", "int16", "int8", "int64", "bfloat16", "uint16",
                       "half", "uint32", "uint64"],
    "quantizedtype": ["qint8", "quint8", "qint32", "qint16", "quint16"],
    "floatingtype": ["half", "bfloat16", "float", "double"],
    "complextype": ["complex64", "complex128"],
    "alltypes": None,
}

_TF_TYPE_NAMES = {
    "float": "float32", "double": "float64", "half": "float16", "int32": "int32", "uint8": "uint8",
    "int16": "int16", "int8": "int8", "string": "string", "complex64": "complex64", "int64": "int64",
    "bool": "bool", "qint8": "qint8", "quint8": "quint8", "qint32": "qint32", "bfloat16": "bfloat16",
    "qint16": "qint16", "quint16": "quint16", "uint16": "uint16", "complex128": "complex128",
    "resource": "resource", "variant": "variant", "uint32": "uint32", "uint64": "uint64",
}


def _parse_type_name(text):
    text = text.strip()
    if text.startswith("DT_"):
        return dtypes.as_dtype(getattr(_types_pb2(), text))
    if text not in _TF_TYPE_NAMES:
        raise ValueError(f"unknown TensorFlow type name {text!r}")
    return dtypes.as_dtype(_TF_TYPE_NAMES[text])


def _types_pb2():
    from gpugraph.protos import types_pb2
    return types_pb2


@dataclass
class ArgSpec:
    """One input or output argument: ``name: [N *] (T | type | Ref(T))``."""
    name: str
    type: Optional[object] = None          # a fixed DType
    type_attr: Optional[str] = None        # e.g. "T"
    number_attr: Optional[str] = None      # e.g. "N" in "values: N * T"
    type_list_attr: Optional[str] = None   # e.g. "T" where T: list(type)
    is_ref: bool = False

    @property
    def is_list(self):
        return self.number_attr is not None or self.type_list_attr is not None


@dataclass
class AttrSpec:
    """One attr: ``name: type [= default]``; type is TF's ("int", "list(type)", "{float, double}" …)."""
    name: str
    type: str
    default: object = NO_DEFAULT
    allowed: Optional[list] = None        # DTypes for type attrs, strings for string attrs
    minimum: Optional[int] = None

    @property
    def has_default(self):
        return self.default is not NO_DEFAULT


@dataclass
class OpSpec:
    """Everything known about one op type. See the module docstring."""
    name: str
    inputs: list
    outputs: list
    attrs: dict
    shape_fn: Optional[Callable] = None
    kernels: dict = field(default_factory=dict)
    grad: Optional[Callable] = None
    is_stateful: bool = False
    host_memory_inputs: frozenset = frozenset()
    allows_uninitialized_input: bool = False
    is_commutative: bool = False
    is_aggregate: bool = False
    _op_def: object = None
    _signature_attr_names: object = None
    _default_attr_values: object = None
    _required_attr_names: object = None

    def signature_attr_names(self):
        """Names of the attrs that decide arg dtypes and counts (``T``, ``N``, ``out_type`` …)."""
        if self._signature_attr_names is None:
            names = []
            for arg in self.inputs + self.outputs:
                for n in (arg.type_attr, arg.number_attr, arg.type_list_attr):
                    if n and n not in names:
                        names.append(n)
            self._signature_attr_names = tuple(names)
        return self._signature_attr_names

    def default_attr_values(self):
        """AttrValue protos of the attrs that have defaults, built once. Shared by every node that
        takes a default, so they must never be modified in place."""
        if self._default_attr_values is None:
            from gpugraph.framework import attrs as attr_lib
            self._default_attr_values = {k: attr_lib.to_attr_value(a.type, a.default)
                                         for k, a in self.attrs.items() if a.has_default}
        return self._default_attr_values

    def required_attr_names(self):
        """Names of the attrs a NodeDef must carry (those without a default), computed once."""
        if self._required_attr_names is None:
            self._required_attr_names = tuple(k for k, a in self.attrs.items() if not a.has_default)
        return self._required_attr_names

    def kernel_for(self, device_kind):
        return self.kernels.get(device_kind)

    def output_dtypes(self, attr_values):
        """The output dtypes given the node's attrs as Python values (``{"T": DType, "N": 3}``)."""
        return _arg_dtypes(self.outputs, attr_values, self.name)

    def input_dtypes(self, attr_values):
        return _arg_dtypes(self.inputs, attr_values, self.name)

    def op_def(self):
        """This op as an ``OpDef`` proto (what ``stripped_op_list`` carries)."""
        if self._op_def is None:
            from gpugraph.framework import attrs as attr_lib
            self._op_def = attr_lib.op_spec_to_op_def(self)
        return self._op_def


def _arg_dtypes(args, attr_values, op_name):
    result = []
    for arg in args:
        if arg.type_list_attr is not None:
            types = list(attr_values[arg.type_list_attr])
        else:
            base = arg.type if arg.type is not None else attr_values.get(arg.type_attr)
            if base is None:
                raise ValueError(f"op {op_name}: attr {arg.type_attr!r} for arg {arg.name!r} is not set")
            base = dtypes.as_dtype(base)
            count = int(attr_values[arg.number_attr]) if arg.number_attr is not None else 1
            types = [base] * count
        if arg.is_ref:
            types = [t._as_ref for t in types]
        result.extend(types)
    return result


_ARG_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.+?)\s*$")


def parse_arg(text, attrs):
    """Parses ``"x: T"``, ``"values: N * T"``, ``"ref: Ref(T)"``, ``"shape: int32"``, ``"out: Tout"``."""
    m = _ARG_RE.match(text)
    if not m:
        raise ValueError(f"bad arg spec {text!r}")
    name, rest = m.group(1), m.group(2)
    arg = ArgSpec(name=name)
    ref = re.match(r"^Ref\((.+)\)$", rest)
    if ref:
        arg.is_ref = True
        rest = ref.group(1).strip()
    if "*" in rest:
        number, rest = (s.strip() for s in rest.split("*", 1))
        arg.number_attr = number
    if rest in attrs:
        if attrs[rest].type == "list(type)":
            arg.type_list_attr = rest
        else:
            arg.type_attr = rest
    else:
        arg.type = _parse_type_name(rest)
    return arg


_ATTR_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.+?)\s*(?:=\s*(.+?))?\s*$")


def parse_attr(text):
    """Parses TF attr declarations such as ``"T: {float, double} = DT_FLOAT"``, ``"N: int >= 1"``,
    ``"padding: {'SAME', 'VALID'}"``, ``"strides: list(int) = [1, 1, 1, 1]"``."""
    # A default may itself contain "=" only inside quotes; split on the first top-level " = ".
    name_type, default_text = _split_default(text)
    m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.+?)\s*$", name_type)
    if not m:
        raise ValueError(f"bad attr spec {text!r}")
    name, type_text = m.group(1), m.group(2)
    attr = AttrSpec(name=name, type="")
    minimum = re.match(r"^(.+?)\s*>=\s*(-?\d+)$", type_text)
    if minimum:
        type_text, attr.minimum = minimum.group(1).strip(), int(minimum.group(2))
    if type_text.startswith("{"):
        members = [s.strip() for s in type_text.strip("{}").split(",") if s.strip()]
        if members and members[0][0] in "'\"":
            attr.type = "string"
            attr.allowed = [s.strip("'\"") for s in members]
        else:
            attr.type = "type"
            attr.allowed = _expand_types(members)
    elif type_text in _TYPE_SET_ALIASES:
        attr.type = "type"
        attr.allowed = _expand_types([type_text])
    elif type_text.startswith("list(") and type_text[5:-1].strip().startswith("{"):
        attr.type = "list(type)"
        attr.allowed = _expand_types([s.strip() for s in type_text[5:-1].strip().strip("{}").split(",")])
    elif type_text.startswith("list(") and type_text[5:-1].strip() in _TYPE_SET_ALIASES:
        attr.type = "list(type)"
        attr.allowed = _expand_types([type_text[5:-1].strip()])
    else:
        attr.type = type_text
    if default_text is not None:
        attr.default = _parse_default(attr.type, default_text)
    return attr


def _split_default(text):
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "=" and (i + 1 >= len(text) or text[i + 1] != "=") and text[i - 1] not in "<>!=":
            return text[:i], text[i + 1:].strip()
    return text, None


def _expand_types(names):
    out = []
    for n in names:
        if n in _TYPE_SET_ALIASES:
            members = _TYPE_SET_ALIASES[n]
            if members is None:
                return None
            out.extend(_parse_type_name(m) for m in members)
        else:
            out.append(_parse_type_name(n))
    return out


def _parse_scalar(kind, text):
    text = text.strip()
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"bad bool default {text!r}")
        return text == "true"
    if kind == "string":
        return text.strip("'\"").encode()
    if kind == "type":
        return _parse_type_name(text)
    if kind == "shape":
        from gpugraph.framework import tensor_shape
        if text.replace(" ", "") == "{unknown_rank:true}":
            return tensor_shape.TensorShape(None)
        dims = [d.strip() for d in text.strip("[]").split(",") if d.strip()]
        return tensor_shape.TensorShape([None if int(d) < 0 else int(d) for d in dims])
    raise ValueError(f"defaults of attr type {kind!r} are not supported")


def _parse_default(kind, text):
    if kind.startswith("list("):
        inner = kind[5:-1]
        body = text.strip()
        if not (body.startswith("[") and body.endswith("]")):
            raise ValueError(f"bad list default {text!r}")
        items = [s for s in _split_list(body[1:-1]) if s.strip()]
        return [_parse_scalar(inner, s) for s in items]
    return _parse_scalar(kind, text)


def _split_list(body):
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch in "[{"
        depth -= ch in "]}"
        cur += ch
    items.append(cur)
    return items


_REGISTRY = {}


def register_op(name, *, inputs=(), outputs=(), attrs=(), shape=None, cpu=None, grad=None,
                stateful=False, host_memory=(), allows_uninitialized_input=False,
                commutative=False, aggregate=False):
    """Declares an op. ``attrs`` are TF attr strings; ``inputs``/``outputs`` TF arg strings.

    ``shape(op)`` returns a list of TensorShape (one per output); ``cpu(ctx, *inputs)`` is the NumPy
    kernel; ``host_memory`` names inputs a device kernel needs on the host (shapes, axes).
    Returns the :class:`OpSpec`.
    """
    if name in _REGISTRY:
        raise ValueError(f"op {name!r} is already registered")
    attr_specs = {}
    for text in attrs:
        a = parse_attr(text)
        attr_specs[a.name] = a
    spec = OpSpec(
        name=name,
        inputs=[parse_arg(t, attr_specs) for t in inputs],
        outputs=[parse_arg(t, attr_specs) for t in outputs],
        attrs=attr_specs,
        shape_fn=shape,
        grad=grad,
        is_stateful=stateful,
        host_memory_inputs=frozenset(host_memory),
        allows_uninitialized_input=allows_uninitialized_input,
        is_commutative=commutative,
        is_aggregate=aggregate,
    )
    if cpu is not None:
        spec.kernels["CPU"] = cpu
    _REGISTRY[name] = spec
    return spec


def register_kernel(op_name, device_kind, fn):
    """Adds a kernel for another device kind (e.g. "GPU") to an already declared op."""
    get_op_spec(op_name).kernels[device_kind] = fn


def register_gradient(op_name):
    """Decorator: ``@register_gradient("Relu") def _relu_grad(op, grad): ...``."""
    def deco(fn):
        get_op_spec(op_name).grad = fn
        return fn
    return deco


def get_op_spec(name):
    """The :class:`OpSpec` for an op type; ``KeyError`` listing close names when unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"op type {name!r} is not registered in gpugraph") from None


def lookup(name):
    return _REGISTRY.get(name)


def registered_ops():
    """A sorted list of every registered op type name."""
    return sorted(_REGISTRY)
