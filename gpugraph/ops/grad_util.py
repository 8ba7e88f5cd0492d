"""Small op builders for gradient functions, naming nodes the way TensorFlow's Python wrappers do.

TensorFlow's op wrappers open a name scope per op and convert Python arguments to Consts named
after the input (``Sum/reduction_indices``, ``Reshape/shape``); ``array_ops.shape`` of a fully known
shape is a Const named ``Shape``. Building gradient graphs through these helpers gives node names
like TensorFlow's (``gradients/add_grad/Sum/reduction_indices``) and keeps the gradient modules
independent of the forward modules' Python signatures: they depend only on the registered ops.

Example:
    >>> from gpugraph.ops import grad_util as gu
    >>> s = gu.reduce_sum(x, [0], keepdims=True)          # Sum + Sum/reduction_indices  # doctest: +SKIP
"""

import numpy as np

from gpugraph.framework import dtypes, ops, registry
from gpugraph.framework.op_builder import _is_tensorish, apply_op, constant, convert_to_tensor


def op(op_type, name=None, **kwargs):
    """``apply_op`` with TF's naming: Python-valued inputs become ``<op>/<input name>`` Consts."""
    spec = registry.get_op_spec(op_type)
    python_inputs = [a for a in spec.inputs if a.name in kwargs and not a.is_list
                     and not _is_tensorish(kwargs[a.name])]
    if not python_inputs:
        return apply_op(op_type, name=name or op_type, **kwargs)
    g = ops.get_default_graph()
    with g.name_scope(name or op_type) as scope:
        for arg in python_inputs:
            dtype = arg.type
            if dtype is None and arg.type_attr:
                dtype = kwargs.get(arg.type_attr)
                if dtype is None:  # take it from another input of the same type attr
                    for other in spec.inputs:
                        v = kwargs.get(other.name)
                        if other.type_attr == arg.type_attr and _is_tensorish(v):
                            dtype = convert_to_tensor(v).dtype.base_dtype
                            break
                attr = spec.attrs[arg.type_attr]
                if dtype is None and attr.has_default:  # e.g. Tshape = DT_INT32 for an empty []
                    dtype = attr.default
            kwargs[arg.name] = constant(kwargs[arg.name], dtype=dtype, name=arg.name)
        return apply_op(op_type, name=scope, **kwargs)


def shape(x, out_type=dtypes.int32, name="Shape"):
    """``array_ops.shape``: a Const when the static shape is fully known, else a Shape op."""
    s = x.shape
    if s.is_fully_defined():
        return constant(s.as_list(), dtype=out_type, name=name)
    return apply_op("Shape", input=x, out_type=out_type, name=name)


def static_shape_or_tensor(x, out_type=dtypes.int32, name="Shape"):
    """The static shape as a list when fully known (no op), else a Shape op."""
    s = x.shape
    return s.as_list() if s.is_fully_defined() else apply_op("Shape", input=x, out_type=out_type, name=name)


def reshape(x, new_shape, name="Reshape"):
    return op("Reshape", tensor=x, shape=new_shape, name=name)


def reduce_sum(x, axes, keepdims=False, name="Sum"):
    return op("Sum", input=x, reduction_indices=axes, keep_dims=keepdims, name=name)


def tile(x, multiples, name="Tile"):
    return op("Tile", input=x, multiples=multiples, name=name)


def conj(x):
    """``math_ops.conj``: the input itself for real dtypes (no op), Conj for complex."""
    return apply_op("Conj", input=x) if x.dtype.is_complex else x


def zeros_like(x, name="zeros_like"):
    """``array_ops.zeros_like``: a Const for a small fully known shape, else a ZerosLike op."""
    s = x.shape
    dtype = x.dtype.base_dtype
    if s.is_fully_defined() and s.num_elements() < 1000 and dtype != dtypes.variant:
        return constant(np.zeros(s.as_list(), dtype=dtype.as_numpy_dtype), dtype=dtype, name=name)
    return apply_op("ZerosLike", x=x, name=name)


def ones_like(x, name="ones_like"):
    """``array_ops.ones_like``: a Const for a small fully known shape, else Shape + Fill (no data
    dependency on ``x``, so gradients never flow back through it)."""
    s = x.shape
    dtype = x.dtype.base_dtype
    if s.is_fully_defined() and s.num_elements() < 1000:
        return constant(np.ones(s.as_list(), dtype=dtype.as_numpy_dtype), dtype=dtype, name=name)
    with ops.name_scope(name) as scope:
        dims = shape(x)
        one = constant(1, dtype=dtype, name="Const")
        return apply_op("Fill", dims=dims, value=one, name=scope)


def scalar(value, dtype, name="Const"):
    return constant(value, dtype=dtype, name=name)


def binary(op_type, x, y, name=None):
    """A binary op whose Python operand takes the other operand's dtype."""
    if not _is_tensorish(y):
        y = constant(y, dtype=convert_to_tensor(x).dtype.base_dtype, name="y")
    elif not _is_tensorish(x):
        x = constant(x, dtype=convert_to_tensor(y).dtype.base_dtype, name="x")
    return apply_op(op_type, x=x, y=y, name=name or op_type)


def mul(x, y, name="Mul"):
    return binary("Mul", x, y, name)


def neg(x, name="Neg"):
    return apply_op("Neg", x=x, name=name)


def cast(x, dtype, name="Cast"):
    dtype = dtypes.as_dtype(dtype)
    if x.dtype.base_dtype == dtype:
        return x
    return apply_op("Cast", x=x, DstT=dtype, name=name)


def expand_dims(x, axis, name="ExpandDims"):
    return op("ExpandDims", input=x, dim=axis, name=name)


def where_v2(condition, x, y, name="SelectV2"):
    return apply_op("SelectV2", condition=condition, t=x, e=y, name=name)


def select(condition, x, y, name="Select"):
    return apply_op("Select", condition=condition, t=x, e=y, name=name)


def transpose(x, perm, name="transpose"):
    """``array_ops.transpose`` (a name scope ``transpose`` around the Transpose op)."""
    with ops.name_scope(name) as scope:
        return op("Transpose", x=x, perm=perm, name=scope)


def rank(x, name="Rank"):
    if x.shape.ndims is not None:
        return constant(x.shape.ndims, dtype=dtypes.int32, name=name)
    return apply_op("Rank", input=x, name=name)


def size(x, out_type=dtypes.int32, name="Size"):
    if x.shape.is_fully_defined():
        return constant(x.shape.num_elements(), dtype=out_type, name=name)
    return apply_op("Size", input=x, out_type=out_type, name=name)


def range_(start, limit, delta=1, name="range"):
    """``math_ops.range`` with int32 Consts for Python bounds."""
    with ops.name_scope(name) as scope:
        dtype = next((convert_to_tensor(v).dtype.base_dtype for v in (start, limit, delta)
                      if _is_tensorish(v)), dtypes.int32)
        start = start if _is_tensorish(start) else constant(start, dtype=dtype, name="start")
        limit = limit if _is_tensorish(limit) else constant(limit, dtype=dtype, name="limit")
        delta = delta if _is_tensorish(delta) else constant(delta, dtype=dtype, name="delta")
        return apply_op("Range", start=start, limit=limit, delta=delta, name=scope)


def concat(values, axis, name="concat"):
    """``array_ops.concat``; Python lists among ``values`` become int32 Consts."""
    if len(values) == 1:
        return apply_op("Identity", input=values[0], name=name)
    with ops.name_scope(name) as scope:
        tensors = [v if _is_tensorish(v) else constant(v, dtype=dtypes.int32) for v in values]
        return op("ConcatV2", values=tensors, axis=axis, name=scope)


def strided_slice_1d(x, begin, end, name="strided_slice"):
    """``x[begin:end]`` of a 1-D tensor (end None = to the end), as TF's ``__getitem__`` builds it."""
    with ops.name_scope(name) as scope:
        end_mask = 1 if end is None else 0
        b = constant([begin], dtype=dtypes.int32, name="stack")
        e = constant([0 if end is None else end], dtype=dtypes.int32, name="stack_1")
        s = constant([1], dtype=dtypes.int32, name="stack_2")
        return apply_op("StridedSlice", input=x, begin=b, end=e, strides=s, end_mask=end_mask, name=scope)
