"""Array ops, part 1: shapes, reshaping, expanding/squeezing, transposing and filling — and their
``tf.compat.v1`` API functions, plus the helpers the other array modules share (autopacking of lists
holding tensors, TensorShape → Tensor conversion). The rest of the family: ``pad_tile_ops`` (Tile,
BroadcastTo, ReverseV2, Pad*), ``concat_split_ops`` (ConcatV2, Pack, Unpack, Split*) and
``slicing_ops`` (Slice, StridedSlice, ``Tensor.__getitem__``, GatherV2).

Shape functions follow TensorFlow's C++ ones (``array_ops.cc``), reading shape-like inputs with
``constant_value`` / ``constant_value_as_shape`` so that, e.g., reshaping a ``[None, 28, 28]``
placeholder to ``[-1, 784]`` gives the static shape ``[None, 784]``.

Example:
    >>> x = tf.placeholder(tf.float32, [None, 28, 28])
    >>> tf.reshape(x, [-1, 784]).shape.as_list()
    [None, 784]
"""

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import (
    apply_op, constant, constant_value, constant_value_as_shape, convert_to_tensor,
    register_tensor_conversion_function)
from gpugraph.framework.registry import register_op
from gpugraph.framework.shape_fns import unchanged

TensorShape = tensor_shape.TensorShape
newaxis = None

_INDEX_TYPES = "{int32, int64} = DT_INT32"


# -- shared helpers ----------------------------------------------------------------------------
def _dims(shape):
    """A TensorShape as a list of ints/None, or None when the rank is unknown."""
    return None if shape.ndims is None else shape.as_list()


def _fmt(dims):
    return "<unknown>" if dims is None else "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _check_rank(shape, rank, what):
    if shape.ndims is not None and shape.ndims != rank:
        raise ValueError(f"{what} must be rank {rank} but is rank {shape.ndims} (shape {shape})")


def _normalize_axis(axis, rank, what="axis"):
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of range [{-rank}, {rank})")
    return axis % rank


def _int_value(tensor):
    """The Python int of a scalar (or 1-element) constant tensor, else None."""
    value = constant_value(tensor)
    if value is None or value.size != 1:
        return None
    return int(value.reshape(-1)[0])


def _contains_tensor(value):
    for v in value:
        if isinstance(v, (list, tuple)):
            if _contains_tensor(v):
                return True
        elif isinstance(v, ops.Tensor) or hasattr(v, "_as_graph_element"):
            return True
    return False


def _autopack(value, dtype=None, name="packed", cast=False):
    """TF's autopacking: a (nested) list holding Tensors becomes Pack ops over its elements.

    Python values in the list become Consts of the list's dtype (``dtype``, else the first tensor's);
    a tensor of another dtype is cast when ``cast`` (a dtype was requested), else a TypeError.

    Example:
        >>> tf.reshape(x, [tf.shape(x)[0], -1])       # the list becomes a Pack op  # doctest: +SKIP
    """
    if dtype is None:
        dtype = _nested_dtype(value)
    with ops.name_scope(name) as scope:
        elems = []
        for i, v in enumerate(value):
            if isinstance(v, (list, tuple)) and _contains_tensor(v):
                elems.append(_autopack(v, dtype, str(i), cast))
            elif isinstance(v, (list, tuple)) or not _is_graph_value(v):
                elems.append(constant(v, dtype=dtype, name=str(i)))
            else:
                t = convert_to_tensor(v)
                if t.dtype.base_dtype != dtype:
                    if not cast:
                        raise TypeError(f"Cannot convert a list containing a tensor of dtype "
                                        f"{t.dtype.name} to {dtype.name} (Tensor is: {t!r})")
                    t = apply_op("Cast", x=t, DstT=dtype, Truncate=False)
                elems.append(t)
        return apply_op("Pack", values=elems, axis=0, name=scope)


def _is_graph_value(v):
    return isinstance(v, ops.Tensor) or hasattr(v, "_as_graph_element")


def _nested_dtype(value):
    for v in value:
        if isinstance(v, (list, tuple)):
            d = _nested_dtype(v)
            if d is not None:
                return d
        elif _is_graph_value(v):
            return convert_to_tensor(v).dtype.base_dtype
    return None


class _AutoPackableMeta(type):
    def __instancecheck__(cls, value):
        return isinstance(value, (list, tuple)) and _contains_tensor(value)


class _ListWithTensors(metaclass=_AutoPackableMeta):
    """Matches exactly the lists/tuples TF autopacks (those holding a Tensor or Variable), so
    plain Python lists keep converting to Consts through the ordinary path."""


def _autopacking_conversion_function(value, dtype=None, name=None, as_ref=False):
    dtype = None if dtype is None else dtypes.as_dtype(dtype).base_dtype
    return _autopack(value, dtype, name or "packed", cast=dtype not in (None, _nested_dtype(value)))


def _tensor_shape_conversion_function(shape, dtype=None, name=None, as_ref=False):
    if not shape.is_fully_defined():
        raise ValueError(f"Cannot convert a partially known TensorShape {shape} to a Tensor.")
    dims = shape.as_list()
    if dtype is None:
        dtype = dtypes.int64 if any(d >= 2**31 for d in dims) else dtypes.int32
    return constant(dims, dtype=dtype, name=name or "shape_as_tensor")


def _dimension_conversion_function(dim, dtype=None, name=None, as_ref=False):
    if dim.value is None:
        raise ValueError("Cannot convert an unknown Dimension to a Tensor.")
    if dtype is not None and dtypes.as_dtype(dtype) not in (dtypes.int32, dtypes.int64):
        raise TypeError(f"Cannot convert Dimension {dim} to dtype {dtypes.as_dtype(dtype).name}")
    return constant(dim.value, dtype=dtype or dtypes.int32, name=name or "shape_as_tensor")


register_tensor_conversion_function(_ListWithTensors, _autopacking_conversion_function, 99)
register_tensor_conversion_function(tensor_shape.TensorShape, _tensor_shape_conversion_function, 100)
register_tensor_conversion_function(tensor_shape.Dimension, _dimension_conversion_function, 100)


def _shape_arg(value, dtype=None):
    """Converts a shape-like API argument (shape, perm, multiples, paddings, begin, …).

    Without ``dtype`` the value goes to apply_op as is: it converts it inside the op's name scope
    (lists holding tensors are autopacked into a Pack, as TF does) preferring the attr's default
    int32. With ``dtype``, lists holding tensors are packed here and others converted to it.
    """
    if dtype is None:
        return value  # apply_op converts it inside the op's name scope, preferring the attr's int32
    if isinstance(value, (list, tuple)):
        if _contains_tensor(value):
            return _autopack(value, dtype, cast=dtype not in (None, _nested_dtype(value)))
        return convert_to_tensor(value, dtype=dtype, preferred_dtype=dtypes.int32)
    return value


def _shape_tensor_dims(tensor, what="shape"):
    """The output dims a 1-D shape tensor describes (TF's MakeShapeFromShapeTensor)."""
    value = constant_value(tensor)
    if value is not None:
        bad = [int(v) for v in value.reshape(-1) if v < -1]
        if bad:
            raise ValueError(f"Invalid value in tensor used for {what}: {bad[0]}")
    return _dims(constant_value_as_shape(tensor))


# -- Shape, ShapeN, Size, Rank -----------------------------------------------------------------
def _shape_shape(op):
    return [TensorShape([t.shape.ndims]) for t in op.inputs]


def _shape_kernel(ctx, x):
    return np.array(x.shape, dtype=ctx.output_dtypes[0])


register_op("Shape", inputs=["input: T"], outputs=["output: out_type"],
            attrs=["T: type", "out_type: " + _INDEX_TYPES], shape=_shape_shape, cpu=_shape_kernel)

register_op("ShapeN", inputs=["input: N * T"], outputs=["output: N * out_type"],
            attrs=["N: int >= 1", "T: type", "out_type: " + _INDEX_TYPES], shape=_shape_shape,
            cpu=lambda ctx, *xs: [np.array(x.shape, dtype=ctx.output_dtypes[0]) for x in xs])

register_op("Size", inputs=["input: T"], outputs=["output: out_type"],
            attrs=["T: type", "out_type: " + _INDEX_TYPES], shape=lambda op: [TensorShape([])],
            cpu=lambda ctx, x: np.array(x.size, dtype=ctx.output_dtypes[0]))

register_op("Rank", inputs=["input: T"], outputs=["output: int32"], attrs=["T: type"],
            shape=lambda op: [TensorShape([])], cpu=lambda ctx, x: np.array(x.ndim, dtype=np.int32))


# -- Reshape -----------------------------------------------------------------------------------
def _reshape_shape(op):
    """TF's SetOutputShapeForReshape: infers one unknown output dim from the input's elements."""
    in_dims = _dims(op.inputs[0].shape)
    _check_rank(op.inputs[1].shape, 1, "Reshape's shape argument")
    out = _shape_tensor_dims(op.inputs[1])
    value = constant_value(op.inputs[1])
    if value is not None and np.count_nonzero(value == -1) > 1:
        raise ValueError(f"Only one dimension of the requested shape can be -1, got {value.tolist()}")
    if out is None or in_dims is None:
        return [TensorShape(out)]
    known_out, out_unknown = _product_and_unknowns(out)
    known_in, in_unknown = _product_and_unknowns(in_dims)
    if len(out_unknown) > 1 or len(in_unknown) > 1:
        return [TensorShape(out)]
    requested = _fmt([-1 if d is None else d for d in out])
    if not in_unknown and not out_unknown:
        if known_in != known_out:
            raise ValueError(f"Cannot reshape a tensor with {known_in} elements (shape {_fmt(in_dims)}) "
                             f"to shape {requested} ({known_out} elements)")
    elif not in_unknown and known_out > 0:
        if known_in % known_out:
            raise ValueError(f"Cannot reshape a tensor with {known_in} elements (shape {_fmt(in_dims)}) "
                             f"to shape {requested}: {known_in} is not divisible by the {known_out} "
                             f"elements of the known dimensions")
        out[out_unknown[0]] = known_in // known_out
    elif in_unknown and not out_unknown and known_in != 0:
        if known_out % known_in:
            raise ValueError(f"Cannot reshape a tensor of shape {_fmt(in_dims)} to shape {requested} "
                             f"({known_out} elements): {known_out} is not divisible by {known_in}")
    elif in_unknown and out_unknown and known_in == known_out:
        out[out_unknown[0]] = in_dims[in_unknown[0]]
    return [TensorShape(out)]


def _product_and_unknowns(dims):
    """(product of the known dims, indices of the unknown ones); a known 0 makes it (0, []) like
    TF's NumElements, since the element count is then 0 whatever the unknown dims are."""
    if 0 in dims:
        return 0, []
    product, unknown = 1, []
    for i, d in enumerate(dims):
        if d is None:
            unknown.append(i)
        else:
            product *= d
    return product, unknown


def _reshape_kernel(ctx, x, shape):
    # The checked target shape, kept per node for the (shape, size) it was worked out for: a
    # plan's reshapes see the same ones run after run.
    key = (shape.tobytes(), shape.dtype.str, shape.ndim, x.size)
    cached = ctx.cache.get("reshape")
    if cached is not None and cached[0] == key:
        return x.reshape(cached[1])
    sizes = _reshape_sizes(ctx, x, shape)
    ctx.cache["reshape"] = (key, sizes)
    return x.reshape(sizes)


def _reshape_sizes(ctx, x, shape):
    if shape.ndim != 1:
        raise ctx.error(f"sizes input must be 1-D, not {list(shape.shape)}")
    sizes = [int(s) for s in shape.tolist()]
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    if len(unknown) > 1:
        raise ctx.error(f"Only one input size may be -1, not both {unknown[0]} and {unknown[1]}")
    if any(s < -1 for s in sizes):
        raise ctx.error(f"Size {next(i for i, s in enumerate(sizes) if s < -1)} must be non-negative, "
                        f"not {min(sizes)}")
    product = 1
    for s in sizes:
        if s != -1:
            product *= s
    if unknown:
        if product == 0 or x.size % product:
            if product == 0 and x.size == 0:
                raise ctx.error("Reshape cannot infer the missing input size for an empty tensor "
                                "unless all specified input sizes are non-zero")
            raise ctx.error(f"Input to reshape is a tensor with {x.size} values, but the requested "
                            f"shape requires a multiple of {product}")
        sizes[unknown[0]] = x.size // product
    elif product != x.size:
        raise ctx.error(f"Input to reshape is a tensor with {x.size} values, but the requested shape "
                        f"has {product}")
    return tuple(sizes)


register_op("Reshape", inputs=["tensor: T", "shape: Tshape"], outputs=["output: T"],
            attrs=["T: type", "Tshape: " + _INDEX_TYPES], shape=_reshape_shape, cpu=_reshape_kernel,
            host_memory=("shape",))


# -- ExpandDims, Squeeze -----------------------------------------------------------------------
def _expand_dims_shape(op):
    in_dims = _dims(op.inputs[0].shape)
    dim_shape = op.inputs[1].shape
    if dim_shape.num_elements() not in (None, 1):
        raise ValueError(f"'dim' input must be a tensor with a single value, got shape {dim_shape}")
    dim = _int_value(op.inputs[1])
    if in_dims is None or dim is None:  # TF gives an unknown rank for an unknown dim too
        return [TensorShape(None)]
    rank = len(in_dims)
    if not -1 - rank <= dim <= rank:
        raise ValueError(f"Tried to expand dim index {dim} for tensor with {rank} dimensions.")
    if dim < 0:
        dim += rank + 1
    return [TensorShape(in_dims[:dim] + [1] + in_dims[dim:])]


def _expand_dims_kernel(ctx, x, dim):
    if dim.size != 1:
        raise ctx.error(f"'dim' must be a tensor with a single value, got shape {list(dim.shape)}")
    d = int(dim.reshape(-1)[0])
    if not -1 - x.ndim <= d <= x.ndim:
        raise ctx.error(f"Tried to expand dim index {d} for tensor with {x.ndim} dimensions.")
    return np.expand_dims(x, d if d >= 0 else d + x.ndim + 1)


register_op("ExpandDims", inputs=["input: T", "dim: Tdim"], outputs=["output: T"],
            attrs=["T: type", "Tdim: " + _INDEX_TYPES], shape=_expand_dims_shape,
            cpu=_expand_dims_kernel, host_memory=("dim",))


def _squeeze_axes(dims, squeeze_dims):
    """The axes to drop, per TF's Squeeze; raises ValueError(message) for a bad request."""
    rank = len(dims)
    wanted = set()
    for d in squeeze_dims:
        if not -rank <= d < rank:
            raise ValueError(f"Tried to squeeze dim index {d} for tensor with {rank} dimensions.")
        wanted.add(d % rank)
    drop = []
    for i, d in enumerate(dims):
        if wanted:
            if i in wanted:
                if d is not None and d != 1:
                    raise ValueError(f"Can not squeeze dim[{i}], expected a dimension of 1, got {d}")
                drop.append(i)
        elif d == 1:
            drop.append(i)
        elif d is None:
            return None  # unknown whether this dim will be squeezed
    return drop


def _squeeze_shape(op):
    dims = _dims(op.inputs[0].shape)
    if dims is None:
        return [TensorShape(None)]
    drop = _squeeze_axes(dims, op.get_attr("squeeze_dims"))
    if drop is None:
        return [TensorShape(None)]
    return [TensorShape([d for i, d in enumerate(dims) if i not in drop])]


def _squeeze_kernel(ctx, x):
    try:
        drop = _squeeze_axes(list(x.shape), ctx.attrs["squeeze_dims"])
    except ValueError as e:
        raise ctx.error(str(e)) from None
    return x.reshape([d for i, d in enumerate(x.shape) if i not in drop])


register_op("Squeeze", inputs=["input: T"], outputs=["output: T"],
            attrs=["T: type", "squeeze_dims: list(int) >= 0 = []"], shape=_squeeze_shape,
            cpu=_squeeze_kernel)


# -- Transpose, ConjugateTranspose -------------------------------------------------------------
def _transpose_shape(op):
    """TF's TransposeShapeFn: the rank comes from the input or from perm's length."""
    in_dims = _dims(op.inputs[0].shape)
    perm_shape = op.inputs[1].shape
    perm = constant_value(op.inputs[1])
    perm_len = perm_shape.num_elements()
    if in_dims is None and perm_len is None and perm is None:
        return [TensorShape(None)]
    rank = len(in_dims) if in_dims is not None else perm_len if perm_len is not None else perm.size
    if in_dims is None and rank < 2:
        return [op.inputs[0].shape]
    _check_rank(perm_shape, 1, "perm")
    if perm_len is not None and perm_len != rank:
        raise ValueError(f"perm must have {rank} elements for an input of rank {rank}, got {perm_len}")
    if in_dims is None:
        in_dims = [None] * rank
    if perm is None:
        return [TensorShape([None] * rank)]
    out = []
    for p in perm.reshape(-1).tolist():
        if not -rank <= p < rank:
            raise ValueError(f"perm dim {p} is out of range of input rank {rank}")
        out.append(in_dims[p])
    return [TensorShape(out)]


def _check_perm(ctx, x, perm):
    if perm.ndim != 1 or perm.size != x.ndim:
        raise ctx.error(f"transpose expects a vector of size {x.ndim}. But input(1) is a vector of "
                        f"size {perm.size}")
    axes = perm.tolist()
    seen = set()
    for d in axes:
        if not 0 <= d < x.ndim:
            raise ctx.error(f"{d} is out of range [0 .. {x.ndim})")
        if d in seen:
            raise ctx.error(f"{d} is duplicated in the input.")
        seen.add(d)
    return axes


def _conjugate_transpose_kernel(ctx, x, perm):
    y = np.transpose(x, _check_perm(ctx, x, perm))
    return np.conj(y) if y.dtype.kind == "c" else y


register_op("Transpose", inputs=["x: T", "perm: Tperm"], outputs=["y: T"],
            attrs=["T: type", "Tperm: " + _INDEX_TYPES], shape=_transpose_shape,
            cpu=lambda ctx, x, perm: np.transpose(x, _check_perm(ctx, x, perm)), host_memory=("perm",))

register_op("ConjugateTranspose", inputs=["x: T", "perm: Tperm"], outputs=["y: T"],
            attrs=["T: type", "Tperm: " + _INDEX_TYPES], shape=_transpose_shape,
            cpu=_conjugate_transpose_kernel, host_memory=("perm",))


# -- Fill, ZerosLike, OnesLike -----------------------------------------------------------------
def _fill_shape(op):
    _check_rank(op.inputs[0].shape, 1, "Fill's dims")
    _check_rank(op.inputs[1].shape, 0, "Fill's value")
    dims = constant_value(op.inputs[0])
    if dims is not None and (dims < 0).any():
        raise ValueError(f"Fill dimensions must be >= 0, got {dims.tolist()}")
    return [TensorShape(_shape_tensor_dims(op.inputs[0], "dims"))]


def _fill_kernel(ctx, dims, value):
    if dims.ndim != 1:
        raise ctx.error(f"dims must be a vector, got shape {list(dims.shape)}")
    if value.ndim != 0:
        raise ctx.error(f"value must be a scalar, got shape {list(value.shape)}")
    if (dims < 0).any():
        raise ctx.error(f"Fill dimensions must be >= 0, got {dims.tolist()}")
    return np.full(dims.tolist(), value, dtype=ctx.output_dtypes[0])


register_op("Fill", inputs=["dims: index_type", "value: T"], outputs=["output: T"],
            attrs=["T: type", "index_type: " + _INDEX_TYPES], shape=_fill_shape, cpu=_fill_kernel,
            host_memory=("dims",))


def _zero_of(np_dtype):
    return b"" if np_dtype == np.dtype(object) else np.zeros((), np_dtype)


register_op("ZerosLike", inputs=["x: T"], outputs=["y: T"], attrs=["T: type"], shape=unchanged,
            cpu=lambda ctx, x: np.full(x.shape, _zero_of(x.dtype), dtype=x.dtype))

register_op("OnesLike", inputs=["x: T"], outputs=["y: T"],
            attrs=["T: {bfloat16, half, float, double, int8, uint8, int16, uint16, int32, uint32, "
                   "int64, uint64, complex64, complex128, bool}"],
            shape=unchanged, cpu=lambda ctx, x: np.ones_like(x))


# -- API ---------------------------------------------------------------------------------------
def reshape(tensor, shape, name=None):
    """Reshapes ``tensor`` to ``shape``; one entry may be -1 and is inferred.

    Example:
        >>> tf.reshape(tf.zeros([2, 3]), [-1]).shape.as_list()
        [6]
    """
    return apply_op("Reshape", tensor=tensor, shape=_shape_arg(shape), name=name)


def shape(input, name=None, out_type=dtypes.int32):  # noqa: A002 - TF's argument name
    """The shape of ``input`` as a 1-D int tensor (a Const when the static shape is fully known).

    Example:
        >>> tf.shape(tf.placeholder(tf.float32, [None, 3]))        # a Shape op  # doctest: +SKIP
    """
    return _shape_internal(input, name, out_type)


def _shape_internal(input, name=None, out_type=None):  # noqa: A002
    """TF's shape_internal: without ``out_type`` a static shape becomes a "shape_as_tensor" Const
    (int64 only when a dim needs it); node names follow TF's."""
    with ops.name_scope(name, "Shape", [input]) as scope:
        input = convert_to_tensor(input)
        if input.shape.is_fully_defined():
            if out_type is None:
                return _tensor_shape_conversion_function(input.shape)
            return constant(input.shape.as_list(), dtype=out_type, name=scope)
        return apply_op("Shape", input=input, out_type=dtypes.as_dtype(out_type or dtypes.int32),
                        name=scope)


def shape_n(input, out_type=dtypes.int32, name=None):  # noqa: A002
    """The shapes of a list of tensors, as a list of 1-D tensors (one ShapeN op).

    Example:
        >>> a, b = tf.shape_n([tf.zeros([1, 2]), tf.zeros([3])])      # doctest: +SKIP
    """
    return apply_op("ShapeN", input=list(input), out_type=dtypes.as_dtype(out_type), name=name)


def size(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """The number of elements of ``input`` as a scalar (a Const when statically known).

    Example:
        >>> tf.Session().run(tf.size(tf.zeros([2, 3])))
        6
    """
    with ops.name_scope(name, "Size", [input]) as scope:
        input = convert_to_tensor(input)
        s = input.shape
        if s.is_fully_defined():
            return constant(s.num_elements(), dtype=out_type, name=scope)
        if s.ndims and any(d == 0 for d in s.as_list()):
            return constant(0, dtype=out_type, name=scope)
        return apply_op("Size", input=input, out_type=dtypes.as_dtype(out_type), name=scope)


def rank(input, name=None):  # noqa: A002
    """The rank of ``input`` as an int32 scalar (a Const when statically known).

    Example:
        >>> tf.Session().run(tf.rank(tf.zeros([2, 3])))
        2
    """
    with ops.name_scope(name, "Rank", [input]) as scope:
        input = convert_to_tensor(input)
        if input.shape.ndims is not None:
            return constant(input.shape.ndims, dtype=dtypes.int32, name=scope)
        return apply_op("Rank", input=input, name=scope)


def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    """Inserts a dimension of size 1 at ``axis`` (``dim`` is the deprecated alias).

    Example:
        >>> tf.expand_dims(tf.zeros([2, 3]), -1).shape.as_list()
        [2, 3, 1]
    """
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and 'dim'")
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    return apply_op("ExpandDims", input=input, dim=axis, name=name)


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    """Removes dimensions of size 1 (all of them, or those in ``axis``).

    Example:
        >>> tf.squeeze(tf.zeros([1, 2, 1]), axis=[0]).shape.as_list()
        [2, 1]
    """
    if axis is not None and squeeze_dims is not None:
        raise ValueError("Cannot specify both 'axis' and 'squeeze_dims'")
    axis = squeeze_dims if axis is None else axis
    if np.isscalar(axis):
        axis = [axis]
    return apply_op("Squeeze", input=input, squeeze_dims=[int(a) for a in (axis or [])], name=name)


def transpose(a, perm=None, name="transpose", conjugate=False):
    """Permutes the dimensions of ``a`` (reverses them when ``perm`` is None).

    Example:
        >>> tf.transpose(tf.zeros([2, 3, 4]), [0, 2, 1]).shape.as_list()
        [2, 4, 3]
    """
    with ops.name_scope(name, "transpose", [a]) as scope:
        a = convert_to_tensor(a)
        op_type = "ConjugateTranspose" if conjugate and a.dtype.is_complex else "Transpose"
        if perm is None:
            r = a.shape.ndims
            if r is None:
                rank_t = apply_op("Rank", input=a)
                start = apply_op("Sub", x=rank_t, y=np.int32(1), name="sub")
                perm = apply_op("Range", start=start, limit=np.int32(-1), delta=np.int32(-1))
            else:
                perm = np.arange(r - 1, -1, -1, dtype=np.int32)
        return apply_op(op_type, x=a, perm=_shape_arg(perm), name=scope)


def fill(dims, value, name=None):
    """A tensor of shape ``dims`` with every element ``value``.

    Example:
        >>> tf.Session().run(tf.fill([2], 7)).tolist()
        [7, 7]
    """
    return apply_op("Fill", dims=_shape_arg(dims), value=value, name=name)


def _filled(shape, dtype, value, name, default_name):
    """TF's zeros/ones: a Const when the shape is static and small (< 1000 elements), else Fill."""
    dtype = dtypes.as_dtype(dtype).base_dtype
    with ops.name_scope(name, default_name, [shape]) as scope:
        if not isinstance(shape, ops.Tensor):
            try:
                if not (isinstance(shape, (list, tuple)) and _contains_tensor(shape)) and \
                        np.prod(shape) < 1000:
                    return constant(value, dtype=dtype, shape=shape, name=scope)
            except (TypeError, ValueError):
                pass
            if isinstance(shape, (list, tuple)) and _contains_tensor(shape):
                shape = convert_to_tensor(_shape_arg(shape, dtypes.int32), dtype=dtypes.int32)
            else:
                shape = _tensor_shape_conversion_function(TensorShape(shape))
        if shape.shape.ndims == 0:
            shape = reshape(shape, [-1])
        return fill(shape, constant(value, dtype=dtype), name=scope)


def _zero_value(dtype):
    dtype = dtypes.as_dtype(dtype).base_dtype
    return False if dtype == dtypes.bool else "" if dtype == dtypes.string else 0


def zeros(shape, dtype=dtypes.float32, name=None):
    """A tensor of zeros (a Const for small static shapes, else a Fill).

    Example:
        >>> tf.zeros([2, 3], tf.int32).shape.as_list()
        [2, 3]
    """
    return _filled(shape, dtype, _zero_value(dtype), name, "zeros")


def ones(shape, dtype=dtypes.float32, name=None):
    """A tensor of ones (a Const for small static shapes, else a Fill).

    Example:
        >>> tf.Session().run(tf.ones([2], tf.int64)).tolist()
        [1, 1]
    """
    one = True if dtypes.as_dtype(dtype).base_dtype == dtypes.bool else 1
    return _filled(shape, dtype, one, name, "ones")


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    """Zeros with the shape of ``tensor`` (and its dtype unless ``dtype`` is given).

    Example:
        >>> tf.zeros_like(tf.placeholder(tf.float32, [None, 2])).shape.as_list()
        [None, 2]
    """
    with ops.name_scope(name, "zeros_like", [tensor]) as scope:
        tensor = convert_to_tensor(tensor, name="tensor")
        if optimize and tensor.shape.is_fully_defined() and tensor.dtype != dtypes.variant:
            return zeros(tensor.shape.as_list(), dtype=dtype or tensor.dtype.base_dtype, name=scope)
        if dtype is not None and dtypes.as_dtype(dtype) != tensor.dtype.base_dtype:
            return zeros(_shape_internal(tensor) if optimize else _shape_op(tensor), dtype=dtype,
                         name=scope)
        return apply_op("ZerosLike", x=tensor, name=scope)


def ones_like(tensor, dtype=None, name=None, optimize=True):
    """Ones with the shape of ``tensor`` (TF builds ``Fill(Shape(tensor), 1)``).

    Example:
        >>> tf.Session().run(tf.ones_like([[1, 2]])).tolist()
        [[1, 1]]
    """
    with ops.name_scope(name, "ones_like", [tensor]) as scope:
        tensor = convert_to_tensor(tensor, name="tensor")
        ones_shape = _shape_internal(tensor) if optimize else _shape_op(tensor)
        result = ones(ones_shape, dtype=dtype or tensor.dtype.base_dtype, name=scope)
        result.set_shape(tensor.shape)
        return result


def _shape_op(tensor):
    return apply_op("Shape", input=tensor, out_type=dtypes.int32)


EXPORTS = {
    "": ["reshape", "shape", "shape_n", "size", "rank", "expand_dims", "squeeze", "transpose",
         "fill", "zeros", "ones", "zeros_like", "ones_like", "newaxis"],
}

# The rest of the family: Pack (which autopacking above builds) is declared with the joining ops, and
# slicing_ops installs Tensor.__getitem__, so importing array_ops registers all of it.
from gpugraph.ops import concat_split_ops, pad_tile_ops, slicing_ops  # noqa: E402,F401
