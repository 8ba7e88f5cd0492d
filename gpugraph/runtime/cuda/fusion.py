"""Fused elementwise kernels: CUDA source for a chain of elementwise ops, built from NumPy-like
expression pieces.

The planner describes a chain such as ``relu(x * a + b)`` with :class:`Expr` objects (inputs,
constants, Python operators and the functions below, or :func:`from_op` with TensorFlow op names);
:func:`build` turns it into one ``extern "C"`` kernel on the skeleton of ``kernels/elementwise.cuh``:
a grid-stride loop with 16-byte vector loads where aligned, each input read once per element
through an accessor that broadcasts it against the output viewed as ``[n / cols, cols]``:

============  ================================  ==========================
kind          input shape                       element read for output i
============  ================================  ==========================
``"full"``    the output's                      ``x[i]``
``"scalar"``  one value                         ``x[0]``
``"row"``     ``[cols]`` (last axis)            ``x[i % cols]``
``"col"``     ``[n / cols, 1]``                 ``x[i / cols]``
============  ================================  ==========================

Semantics are those of the unfused graph: every op is the device twin of its NumPy kernel
(``elementwise.cuh``), and for half/bfloat16 each intermediate is rounded to the dtype exactly
where the unfused op's output tensor would be (the math itself runs in float32).

Example:
    >>> from gpugraph.runtime.cuda import fusion as F
    >>> x, a, b = F.input(0), F.input(1, "scalar"), F.input(2, "row")
    >>> k = F.build(F.relu(x * a + b))
    >>> k.name.startswith("gg_fused_"), k.inputs
    (True, (('full', 'float32'), ('scalar', 'float32'), ('row', 'float32')))
    >>> # launch: kernel(grid, block, (x, a, b, out, n, cols), stream=s) with n = out.size,
    >>> # cols = out.shape[-1]; see kernel_loader.KernelLoader.kernel(k.kernel_source(), k.name)
"""

import hashlib
import math
from dataclasses import dataclass

import numpy as np

KINDS = ("full", "scalar", "row", "col")
_ACCESSOR = {"full": "Full", "scalar": "Scalar", "row": "Row", "col": "Col"}
# storage C type and compute C type per dtype name
_C_TYPES = {"float32": ("float", "float"), "float64": ("double", "double"),
            "float16": ("gg_half", "float"), "bfloat16": ("gg_bf16", "float")}

# op name -> (arity, C expression template over operands {0}, {1}, TensorFlow op type)
_OPS = {
    "add": (2, "{0} + {1}", "AddV2"),
    "sub": (2, "{0} - {1}", "Sub"),
    "mul": (2, "{0} * {1}", "Mul"),
    "div": (2, "{0} / {1}", "RealDiv"),
    "maximum": (2, "gg_maximum({0}, {1})", "Maximum"),
    "minimum": (2, "gg_minimum({0}, {1})", "Minimum"),
    "squared_difference": (2, "gg_squared_difference({0}, {1})", "SquaredDifference"),
    "neg": (1, "-{0}", "Neg"),
    "abs": (1, "gg_abs({0})", "Abs"),
    "square": (1, "{0} * {0}", "Square"),
    "sqrt": (1, "gg_sqrt({0})", "Sqrt"),
    "rsqrt": (1, "gg_rsqrt({0})", "Rsqrt"),
    "exp": (1, "gg_exp({0})", "Exp"),
    "log": (1, "gg_log({0})", "Log"),
    "log1p": (1, "gg_log1p({0})", "Log1p"),
    "tanh": (1, "gg_tanh({0})", "Tanh"),
    "sigmoid": (1, "gg_sigmoid({0})", "Sigmoid"),
    "relu": (1, "gg_relu({0})", "Relu"),
    "relu6": (1, "gg_relu6({0})", "Relu6"),
    "elu": (1, "gg_elu({0})", "Elu"),
    "selu": (1, "gg_selu({0})", "Selu"),
    "softplus": (1, "gg_softplus({0})", "Softplus"),
    "leaky_relu": (1, "gg_leaky_relu({0}, {alpha})", "LeakyRelu"),
}

# TensorFlow op type -> fusion op, for the planner: the ops a fused chain may contain.
TF_OPS = {tf: name for name, (_, _, tf) in _OPS.items()}
TF_OPS.update({"Add": "add", "BiasAdd": "add", "Div": "div"})


def _dtype_name(dtype):
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    name = {"float": "float32", "double": "float64", "half": "float16"}.get(name, name)
    if name not in _C_TYPES:
        raise TypeError(f"fused elementwise kernels support {sorted(_C_TYPES)}, not {dtype!r}")
    return name


class Expr:
    """A node of an elementwise expression: an input, a constant or an op over other nodes.
    Supports ``+ - * /``, unary ``-`` and Python numbers as operands (cast to the other
    operand's dtype, like NumPy's scalars)."""

    __slots__ = ("op", "args", "dtype", "attrs")

    def __init__(self, op, args, dtype, attrs=()):
        self.op = op
        self.args = tuple(args)
        self.dtype = dtype
        self.attrs = tuple(attrs)

    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("sub", self, other)

    def __rsub__(self, other):
        return _binary("sub", other, self)

    def __mul__(self, other):
        return _binary("mul", self, other)

    def __rmul__(self, other):
        return _binary("mul", other, self)

    def __truediv__(self, other):
        return _binary("div", self, other)

    def __rtruediv__(self, other):
        return _binary("div", other, self)

    def __neg__(self):
        return apply("neg", self)

    @property
    def tf_op(self):
        """The TensorFlow op type this node computes (None for inputs and constants)."""
        return _OPS[self.op][2] if self.op in _OPS else None

    def __repr__(self):
        if self.op == "input":
            index, kind = self.attrs
            return f"x{index}" if kind == "full" else f"x{index}[{kind}]"
        if self.op == "const":
            return repr(self.attrs[0])
        extra = "".join(f", {k}={v!r}" for k, v in self.attrs)
        return f"{self.op}({', '.join(map(repr, self.args))}{extra})"


def input(index, kind="full", dtype="float32"):  # noqa: A001 (mirrors the kernel's inputs)
    """Input ``index`` (kernel argument order) broadcast as ``kind`` (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"input kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"input index must be a non-negative int, got {index!r}")
    return Expr("input", (), _dtype_name(dtype), (index, kind))


def const(value, dtype="float32"):
    """A constant of ``dtype`` (``value`` is rounded to it, as ``np.asarray(value, dtype)``)."""
    return Expr("const", (), _dtype_name(dtype), (float(value),))


def _as_expr(value, like):
    if isinstance(value, Expr):
        return value
    if isinstance(value, (int, float, np.number)):
        return const(value, like.dtype)
    raise TypeError(f"cannot use {type(value).__name__} {value!r} in a fused elementwise expression")


def _binary(op, a, b):
    if not isinstance(a, Expr):
        a = _as_expr(a, b)
    b = _as_expr(b, a)
    return apply(op, a, b)


def apply(op, *args, **attrs):
    """The node ``op(*args)`` (op names: see ``OP_NAMES``); dtypes must agree, as in TensorFlow."""
    if op not in _OPS:
        raise ValueError(f"unknown fused elementwise op {op!r} (known: {', '.join(sorted(_OPS))})")
    arity = _OPS[op][0]
    if len(args) != arity:
        raise TypeError(f"{op} takes {arity} operand(s), got {len(args)}")
    first = next((a for a in args if isinstance(a, Expr)), None)
    if first is None:
        raise TypeError(f"{op} needs at least one Expr operand")
    args = [_as_expr(a, first) for a in args]
    dtypes = {a.dtype for a in args}
    if len(dtypes) != 1:
        raise TypeError(f"{op}: operands have different dtypes {sorted(dtypes)}; a fused chain "
                        "has one dtype (insert no Cast inside it)")
    if op == "leaky_relu":
        attrs = {"alpha": float(attrs.get("alpha", 0.2))}
    elif attrs:
        raise TypeError(f"{op} takes no attributes, got {sorted(attrs)}")
    return Expr(op, args, first.dtype, sorted(attrs.items()))


OP_NAMES = tuple(sorted(_OPS))


def _unary(op):
    def fn(x):
        return apply(op, x)
    fn.__name__ = op
    fn.__doc__ = f"``{_OPS[op][2]}`` of an expression."
    return fn


relu, relu6, sigmoid, tanh = _unary("relu"), _unary("relu6"), _unary("sigmoid"), _unary("tanh")
exp, log, log1p, sqrt, rsqrt = (_unary("exp"), _unary("log"), _unary("log1p"), _unary("sqrt"),
                                _unary("rsqrt"))
abs, square, neg = _unary("abs"), _unary("square"), _unary("neg")  # noqa: A001
elu, selu, softplus = _unary("elu"), _unary("selu"), _unary("softplus")


def leaky_relu(x, alpha=0.2):
    """``LeakyRelu``: ``x if x > 0 else alpha * x``."""
    return apply("leaky_relu", x, alpha=alpha)


def maximum(a, b):
    """``Maximum`` (NaN-propagating, like ``np.maximum``)."""
    return _binary("maximum", a, b)


def minimum(a, b):
    """``Minimum`` (NaN-propagating, like ``np.minimum``)."""
    return _binary("minimum", a, b)


def squared_difference(a, b):
    """``SquaredDifference``: ``(a - b) ** 2``."""
    return _binary("squared_difference", a, b)


def from_op(op_type, *args, **attrs):
    """The node for TensorFlow op ``op_type`` (``"Relu"``, ``"AddV2"``, ``"BiasAdd"``...) over
    ``args``; attrs as the op's (``alpha`` for LeakyRelu; others are ignored)."""
    if op_type not in TF_OPS:
        raise ValueError(f"{op_type} cannot be fused (fusible: {', '.join(sorted(TF_OPS))})")
    op = TF_OPS[op_type]
    return apply(op, *args, **({"alpha": attrs["alpha"]} if op == "leaky_relu" and "alpha" in attrs
                               else {}))


# -- code generation -------------------------------------------------------------------------------
def _literal(value, dtype, acc):
    """A C literal of ``value`` as the compute type sees it (rounded to ``dtype`` first)."""
    stored = float(np.asarray(value, dtype=np.dtype(dtype) if dtype != "bfloat16" else _bf16()))
    return _acc_literal(stored, acc)


def _acc_literal(value, acc):
    if math.isnan(value):
        return f"gg_limits<{acc}>::nan()"
    if math.isinf(value):
        return f"gg_limits<{acc}>::{'highest' if value > 0 else 'lowest'}()"
    return float.hex(value) + ("f" if acc == "float" else "")


def _bf16():
    import ml_dtypes
    return ml_dtypes.bfloat16


@dataclass(frozen=True)
class FusedKernel:
    """A generated kernel: its ``name``, CUDA ``source`` (including ``elementwise.cuh``), the
    ``inputs`` as (kind, dtype) in argument order, the output ``dtype`` and the ``expression``.

    Kernel arguments: the inputs' pointers in order, the output pointer, ``n`` (output size) and
    ``cols`` (the output's last dimension; used by row/col inputs)."""
    name: str
    source: str
    inputs: tuple
    dtype: str
    expression: str

    def kernel_source(self):
        """The :class:`~gpugraph.runtime.cuda.kernel_loader.KernelSource` to compile or load."""
        from gpugraph.runtime.cuda import kernel_loader
        return kernel_loader.KernelSource.from_text(self.source, f"{self.name}.cu")


def build(expr, name=None):
    """Generates the fused kernel computing ``expr``. Inputs must be numbered 0..k-1; an input
    used several times is read once. Common subexpressions (the same node object) are computed
    once. ``name`` defaults to ``gg_fused_`` + a hash of the expression, so equal chains share a
    name, a source and a compile-cache entry."""
    if not isinstance(expr, Expr):
        raise TypeError(f"build() takes an Expr, got {type(expr).__name__}")
    dtype = expr.dtype
    storage, acc = _C_TYPES[dtype]
    round16 = dtype in ("float16", "bfloat16")
    inputs, lines, names = {}, [], {}

    def emit(node):
        key = id(node)
        if key in names:
            return names[key]
        if node.op == "input":
            index, kind = node.attrs
            if index in inputs and inputs[index] != (kind, node.dtype):
                raise ValueError(f"input {index} is used as {inputs[index]} and as "
                                 f"{(kind, node.dtype)}")
            inputs[index] = (kind, node.dtype)
            names[key] = f"v{index}"
            return names[key]
        if node.op == "const":
            names[key] = _literal(node.attrs[0], node.dtype, acc)
            return names[key]
        operands = [emit(a) for a in node.args]
        template = _OPS[node.op][1]
        attrs = dict(node.attrs)
        if "alpha" in attrs:  # LeakyRelu's alpha in the compute type, as nn_ops does
            acc_np = np.float32 if acc == "float" else np.float64
            attrs["alpha"] = _acc_literal(float(acc_np(attrs["alpha"])), acc)
        value = template.format(*operands, **attrs)
        if round16:
            value = f"gg_round<{storage}>({value})"
        name_ = f"t{len(lines)}"
        lines.append(f"    const {acc} {name_} = {value};  // {node.op}")
        names[key] = name_
        return name_

    result = emit(expr)
    if sorted(inputs) != list(range(len(inputs))):
        raise ValueError(f"fused inputs must be numbered 0..k-1, got {sorted(inputs)}")
    order = [inputs[i] for i in range(len(inputs))]
    body_params = ", ".join(f"{acc} v{i}" for i in range(len(order)))
    body = "\n".join(lines + [f"    return {result};"])
    description = repr(expr)
    digest = hashlib.sha256(f"{dtype}|{order}|{body}".encode()).hexdigest()[:16]
    name = name or f"gg_fused_{digest}"
    params = ", ".join(f"const {storage}* in{i}" for i in range(len(order)))
    accessors = ", ".join(f"gg_ew::{_ACCESSOR[kind]}<{storage}>{{in{i}}}"
                          for i, (kind, _) in enumerate(order))
    source = (
        f"// Generated by gpugraph.runtime.cuda.fusion: {description.replace(chr(10), ' ')}\n"
        f'#include "elementwise.cuh"\n\n'
        f'extern "C" __global__ void __launch_bounds__(1024) {name}('
        f"{params}{', ' if params else ''}{storage}* out, long long n, long long cols) {{\n"
        f"  gg_ew::run(out, n, cols, [] ({body_params}) -> {acc} {{\n{body}\n  }}"
        f"{', ' if accessors else ''}{accessors});\n}}\n")
    return FusedKernel(name, source, tuple(order), dtype, description)
