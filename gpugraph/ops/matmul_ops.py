"""Matrix products — MatMul, BatchMatMul, BatchMatMulV2, BatchMatMulV3, Einsum — their NumPy
kernels (``np.matmul``, i.e. BLAS for float types; ``np.einsum(optimize=True)``), shape functions,
the ``matmul``/``einsum`` API functions and the ``@`` operator.

``transpose_*`` of MatMul is a plain transpose; ``adj_*`` of the batch ops is the conjugate
transpose. BatchMatMul (v1) needs equal batch dimensions; V2 and V3 broadcast them. Half and
bfloat16 products accumulate in float32 and are rounded once.

Example:
    >>> a = tf.placeholder(tf.float32, [None, 3])
    >>> y = tf.matmul(a, tf.ones([3, 2]))            # MatMul, shape (?, 2)
    >>> z = tf.einsum("bij,bjk->bik", tf.ones([4, 2, 3]), tf.ones([4, 3, 5]))  # Einsum
"""

import re

import numpy as np

from gpugraph.framework import dtypes, ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops.unary_ops import _LOW_PRECISION, _fmt_shape, conj

TensorShape = tensor_shape.TensorShape


def _compute_dtype(dtype):
    return np.dtype(np.float32) if dtype in _LOW_PRECISION else dtype


def _product(a, b, out_dtype):
    """``a @ b`` in a precise compute type, as ``out_dtype``."""
    compute = _compute_dtype(np.dtype(out_dtype))
    result = np.matmul(a.astype(compute, copy=False), b.astype(compute, copy=False))
    return np.asarray(result).astype(out_dtype, copy=False)


def _adjoint(x):
    x = np.swapaxes(x, -1, -2)
    return np.conj(x) if x.dtype.kind == "c" else x


# -- MatMul ----------------------------------------------------------------------------------------
def _matmul_shape(op):
    a = op.inputs[0].shape.with_rank(2)
    b = op.inputs[1].shape.with_rank(2)
    ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
    rows = a.dims[1] if ta else a.dims[0]
    cols = b.dims[0] if tb else b.dims[1]
    inner_a = a.dims[0] if ta else a.dims[1]
    inner_b = b.dims[1] if tb else b.dims[0]
    if not inner_a.is_compatible_with(inner_b):
        raise ValueError(f"Dimensions must be equal, but are {inner_a} and {inner_b} for MatMul "
                         f"with input shapes {a} and {b} (transpose_a={ta}, transpose_b={tb})")
    return [TensorShape([rows, cols])]


def _matmul_kernel(ctx, a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise ctx.error(f"In[0] and In[1] must be matrices, got shapes {_fmt_shape(a.shape)} and "
                        f"{_fmt_shape(b.shape)}")
    if ctx.attrs["transpose_a"]:
        a = a.T
    if ctx.attrs["transpose_b"]:
        b = b.T
    if a.shape[1] != b.shape[0]:
        raise ctx.error(f"Matrix size-incompatible: In[0]: {_fmt_shape(a.shape)}, In[1]: "
                        f"{_fmt_shape(b.shape)}")
    return _product(a, b, a.dtype)


register_op("MatMul", inputs=["a: T", "b: T"], outputs=["product: T"],
            attrs=["transpose_a: bool = false", "transpose_b: bool = false",
                   "T: {bfloat16, half, float, double, int32, int64, uint8, uint16, uint32, uint64, "
                   "complex64, complex128}",
                   "grad_a: bool = false", "grad_b: bool = false"],
            shape=_matmul_shape, cpu=_matmul_kernel)


# -- BatchMatMul, V2, V3 ---------------------------------------------------------------------------
def _batch_matmul_shape(broadcast):
    def shape_fn(op):
        a = op.inputs[0].shape.with_rank_at_least(2)
        b = op.inputs[1].shape.with_rank_at_least(2)
        adj_x, adj_y = op.get_attr("adj_x"), op.get_attr("adj_y")
        if a.ndims is None or b.ndims is None:
            return [TensorShape(None)]
        rows = a.dims[-1 if adj_x else -2]
        cols = b.dims[-2 if adj_y else -1]
        inner_a, inner_b = a.dims[-2 if adj_x else -1], b.dims[-1 if adj_y else -2]
        if not inner_a.is_compatible_with(inner_b):
            raise ValueError(f"Dimensions must be equal, but are {inner_a} and {inner_b} for "
                             f"{op.type} with input shapes {a} and {b}")
        a_batch, b_batch = TensorShape(a.dims[:-2]), TensorShape(b.dims[:-2])
        if broadcast:
            batch = shape_fns.broadcast_shapes(a_batch, b_batch)
        else:
            batch = a_batch.merge_with(b_batch)
        return [batch.concatenate(TensorShape([rows, cols]))]
    return shape_fn


def _batch_matmul_kernel(broadcast):
    def kernel(ctx, x, y):
        if x.ndim < 2 or y.ndim < 2:
            raise ctx.error(f"In[0] and In[1] must have rank >= 2, got shapes {_fmt_shape(x.shape)} "
                            f"and {_fmt_shape(y.shape)}")
        if not broadcast:
            if x.ndim != y.ndim:
                raise ctx.error(f"In[0] and In[1] has different ndims: {_fmt_shape(x.shape)} vs. "
                                f"{_fmt_shape(y.shape)}")
            for i in range(x.ndim - 2):
                if x.shape[i] != y.shape[i]:
                    raise ctx.error(f"In[0].dim({i}) and In[1].dim({i}) must be the same: "
                                    f"{_fmt_shape(x.shape)} vs {_fmt_shape(y.shape)}")
        if ctx.attrs["adj_x"]:
            x = _adjoint(x)
        if ctx.attrs["adj_y"]:
            y = _adjoint(y)
        if x.shape[-1] != y.shape[-2]:
            raise ctx.error(f"Matrix size-incompatible: In[0]: {_fmt_shape(x.shape)}, In[1]: "
                            f"{_fmt_shape(y.shape)}")
        try:
            return _product(x, y, ctx.output_dtypes[0])
        except ValueError:
            raise ctx.error(f"In[0] and In[1] must have compatible batch dimensions: "
                            f"{_fmt_shape(x.shape)} vs. {_fmt_shape(y.shape)}") from None
    return kernel


_BATCH_ATTRS = ["adj_x: bool = false", "adj_y: bool = false", "grad_x: bool = false",
                "grad_y: bool = false"]
register_op("BatchMatMul", inputs=["x: T", "y: T"], outputs=["output: T"],
            attrs=["T: {bfloat16, half, float, double, int32, int64, complex64, complex128}",
                   *_BATCH_ATTRS],
            shape=_batch_matmul_shape(False), cpu=_batch_matmul_kernel(False))
register_op("BatchMatMulV2", inputs=["x: T", "y: T"], outputs=["output: T"],
            attrs=["T: {bfloat16, half, float, double, int16, int32, int64, uint8, uint16, uint32, "
                   "uint64, complex64, complex128}", *_BATCH_ATTRS],
            shape=_batch_matmul_shape(True), cpu=_batch_matmul_kernel(True))
_V3_IN = "{bfloat16, half, float, double, uint8, int8, int16, int32, int64, complex64, complex128}"
register_op("BatchMatMulV3", inputs=["x: Ta", "y: Tb"], outputs=["output: Tout"],
            attrs=[f"Ta: {_V3_IN}", f"Tb: {_V3_IN}",
                   "Tout: {bfloat16, half, float, double, int16, int32, int64, complex64, complex128}",
                   *_BATCH_ATTRS],
            shape=_batch_matmul_shape(True), cpu=_batch_matmul_kernel(True))


# -- Einsum ----------------------------------------------------------------------------------------
_EINSUM_RE = re.compile(r"^([a-zA-Z.]*)(?:,([a-zA-Z.]*))?->([a-zA-Z.]*)$")


def _parse_einsum(equation, num_inputs):
    """``("ij,jk->ik", 2)`` -> (["ij", "jk"], "ik"); ValueError for what TF's Einsum rejects."""
    m = _EINSUM_RE.match(equation.replace(" ", ""))
    if not m:
        raise ValueError(f"Einsum equation {equation!r} must look like 'ab,bc->ac' or 'ab->ba' (one "
                         "or two inputs, explicit output)")
    inputs = [m.group(1)] + ([m.group(2)] if m.group(2) is not None else [])
    if len(inputs) != num_inputs:
        raise ValueError(f"Expected {len(inputs)} inputs for equation {equation} but got: {num_inputs}")
    for labels in inputs + [m.group(3)]:
        periods = labels.count(".")
        if periods not in (0, 3) or (periods == 3 and "..." not in labels):
            raise ValueError(f"Expected at most one ellipsis (...) in subscript {labels!r} of "
                             f"{equation!r}")
    out = m.group(3)
    for label in out.replace("...", ""):
        if label not in "".join(inputs):
            raise ValueError(f"Einsum output subscripts for equation '{equation}' has label "
                             f"'{label}' which is not present in the input subscripts")
    return inputs, out


def _einsum_shape(op):
    equation = op.get_attr("equation").decode()
    inputs, out = _parse_einsum(equation, len(op.inputs))
    label_dims = {}
    bcast_shapes = []
    for labels, t in zip(inputs, op.inputs):
        shape = t.shape
        named = labels.replace("...", "")
        if shape.ndims is not None:
            if "..." in labels:
                shape = shape.with_rank_at_least(len(named))
            elif shape.ndims != len(named):
                raise ValueError(f"Shape must be rank {len(named)} but is rank {shape.ndims} for "
                                 f"input with subscripts {labels!r} of equation '{equation}'")
        dims = shape.as_list() if shape.ndims is not None else None
        before, _, after = labels.partition("...")
        if "..." in labels:
            bcast_shapes.append(TensorShape(None) if dims is None
                                else TensorShape(dims[len(before):len(dims) - len(after)]))
        else:
            bcast_shapes.append(TensorShape([]))
        for i, label in enumerate(before):
            _merge_label(label_dims, label, dims[i] if dims is not None else None, equation)
        for i, label in enumerate(after):
            d = dims[len(dims) - len(after) + i] if dims is not None else None
            _merge_label(label_dims, label, d, equation)
    bcast = bcast_shapes[0]
    if len(bcast_shapes) == 2:
        bcast = shape_fns.broadcast_shapes(bcast_shapes[0], bcast_shapes[1])
    if "..." in out:
        if bcast.ndims is None:
            return [TensorShape(None)]
    elif bcast.ndims not in (None, 0):
        raise ValueError(f"Einsum equation '{equation}' has no ellipsis (...) in the output but the "
                         f"inputs have a non-empty broadcasting shape {bcast}")
    before, _, after = out.partition("...")
    dims = [label_dims[c] for c in before]
    if "..." in out:
        dims += bcast.as_list()
    dims += [label_dims[c] for c in after]
    return [TensorShape(dims)]


def _merge_label(label_dims, label, dim, equation):
    known = label_dims.get(label)
    if known is not None and dim is not None and known != dim:
        raise ValueError(f"Dimensions must be equal, but are {known} and {dim} for label "
                         f"'{label}' in equation '{equation}'")
    label_dims[label] = known if known is not None else dim


def _einsum_kernel(ctx, *xs):
    spec = ctx.cache.get("einsum")
    if spec is None:
        inputs, out = _parse_einsum(ctx.attrs["equation"], len(xs))
        spec = ctx.cache["einsum"] = (inputs, out, ",".join(inputs) + "->" + out)
    inputs, _, np_equation = spec
    sizes = {}
    for labels, x in zip(inputs, xs):
        before, ellipsis, after = labels.partition("...")
        if (x.ndim < len(before) + len(after)) if ellipsis else (x.ndim != len(labels)):
            raise ctx.error(f"Input of shape {_fmt_shape(x.shape)} does not match the subscripts "
                            f"{labels!r} of equation '{ctx.attrs['equation']}'")
        named = list(zip(before, x.shape)) + list(zip(after, x.shape[x.ndim - len(after):]))
        for label, d in named:
            # TF never broadcasts named labels (NumPy would stretch a size-1 dimension).
            if sizes.setdefault(label, d) != d:
                raise ctx.error(f"Expected dimension {sizes[label]} for label '{label}' of equation "
                                f"'{ctx.attrs['equation']}' but got dimension {d} in input shaped "
                                f"{_fmt_shape(x.shape)}")
    dtype = xs[0].dtype
    compute = _compute_dtype(dtype)
    operands = [x.astype(compute, copy=False) for x in xs]
    try:
        # The contraction order depends only on the shapes: plan it once per distinct shapes.
        shapes = tuple(x.shape for x in xs)
        path = ctx.cache.get("einsum_path")
        if path is None or path[0] != shapes:
            path = ctx.cache["einsum_path"] = (shapes, np.einsum_path(np_equation, *operands,
                                                                      optimize="greedy")[0])
        result = np.einsum(np_equation, *operands, optimize=path[1])
    except ValueError as e:
        raise ctx.error(f"Einsum '{ctx.attrs['equation']}' failed for input shapes "
                        f"{[_fmt_shape(x.shape) for x in xs]}: {e}") from None
    return np.asarray(result).astype(dtype, copy=False)


register_op("Einsum", inputs=["inputs: N * T"], outputs=["output: T"],
            attrs=["equation: string", "N: int >= 1", "T: type"],
            shape=_einsum_shape, cpu=_einsum_kernel)


# -- API -------------------------------------------------------------------------------------------
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, grad_a=False, grad_b=False,
           name=None):
    """Matrix product ``a @ b`` (after the requested transposes/adjoints). Rank-2 inputs make a
    MatMul op; higher (or unknown) rank makes BatchMatMulV2, which broadcasts batch dimensions —
    exactly as TensorFlow chooses. ``output_type`` different from the inputs' dtype makes
    BatchMatMulV3. ``a_is_sparse``/``b_is_sparse`` are hints and change nothing here.

    Example:
        >>> tf.matmul([[1.0, 2.0]], [[3.0], [4.0]])            # -> [[11.0]]
        >>> tf.matmul(tf.ones([5, 2, 3]), tf.ones([3, 4])).shape.as_list()
        [5, 2, 4]
    """
    with ops.name_scope(name, "MatMul", [a, b]) as scope:
        if transpose_a and adjoint_a:
            raise ValueError(f"Only one of `transpose_a` and `adjoint_a` can be True. Received "
                             f"`transpose_a`={transpose_a}, `adjoint_a`={adjoint_a}.")
        if transpose_b and adjoint_b:
            raise ValueError(f"Only one of `transpose_b` and `adjoint_b` can be True. Received "
                             f"`transpose_b`={transpose_b}, `adjoint_b`={adjoint_b}.")
        a = convert_to_tensor(a, name="a")
        b = convert_to_tensor(b, dtype_hint=a.dtype.base_dtype, name="b")
        batched = a.shape.ndims is None or a.shape.ndims > 2 or b.shape.ndims is None or \
            b.shape.ndims > 2
        use_v3 = output_type is not None and (dtypes.as_dtype(output_type) != a.dtype.base_dtype or
                                              dtypes.as_dtype(output_type) != b.dtype.base_dtype)
        if batched:
            if transpose_a:
                a, adjoint_a = conj(a), True
            if transpose_b:
                b, adjoint_b = conj(b), True
            if use_v3:
                return apply_op("BatchMatMulV3", x=a, y=b, adj_x=adjoint_a, adj_y=adjoint_b,
                                Tout=dtypes.as_dtype(output_type), grad_x=grad_a, grad_y=grad_b,
                                name=scope)
            return apply_op("BatchMatMulV2", x=a, y=b, adj_x=adjoint_a, adj_y=adjoint_b,
                            grad_x=grad_a, grad_y=grad_b, name=scope)
        if adjoint_a:
            a, transpose_a = conj(a), True
        if adjoint_b:
            b, transpose_b = conj(b), True
        if use_v3:
            return apply_op("BatchMatMulV3", x=a, y=b, adj_x=adjoint_a or transpose_a,
                            adj_y=adjoint_b or transpose_b, Tout=dtypes.as_dtype(output_type),
                            grad_x=grad_a, grad_y=grad_b, name=scope)
        return apply_op("MatMul", a=a, b=b, transpose_a=transpose_a, transpose_b=transpose_b,
                        grad_a=grad_a, grad_b=grad_b, name=scope)


def einsum(equation, *inputs, **kwargs):
    """Einstein summation, e.g. ``"ij,jk->ik"`` (matmul), ``"bij,bjk->bik"``, ``"ii->i"`` (diagonal),
    ``"...ij,jk->...ik"`` (broadcast batch dims). Without ``->`` the output is the alphabetically
    sorted labels used once. Three or more inputs become a chain of two-input Einsum ops.

    Example:
        >>> tf.einsum("ij,jk->ik", tf.ones([2, 3]), tf.ones([3, 4])).shape.as_list()
        [2, 4]
    """
    name = kwargs.pop("name", None)
    kwargs.pop("optimize", None)
    if kwargs:
        raise TypeError(f"Invalid keyword arguments for einsum: {', '.join(kwargs)}. "
                        "Valid arguments: name, optimize, greedy.")
    with ops.name_scope(name, "einsum", list(inputs)):
        equation = _resolve_equation(equation, len(inputs))
        inputs = [convert_to_tensor(x) for x in inputs]
        if len(inputs) <= 2:
            return apply_op("Einsum", inputs=inputs, equation=equation)
        # Contract left to right, keeping only labels still needed later (or in the output). The
        # ellipsis is carried as the single label "0" so that it survives the label arithmetic.
        lhs, output = equation.replace("...", "0").split("->")
        labels = lhs.split(",")
        current, current_labels = inputs[0], labels[0]
        for i in range(1, len(inputs)):
            needed = set(output).union(*labels[i + 1:])
            merged = current_labels + "".join(c for c in labels[i] if c not in current_labels)
            keep = output if i == len(inputs) - 1 else "".join(c for c in merged if c in needed)
            step = f"{current_labels},{labels[i]}->{keep}".replace("0", "...")
            current = apply_op("Einsum", inputs=[current, inputs[i]], equation=step)
            current_labels = keep
        return current


def _resolve_equation(equation, num_inputs):
    """TF's Python-side normalisation: drop spaces, add the implicit output."""
    equation = equation.replace(" ", "")
    if not re.match(r"^([a-zA-Z.,]*)(->[a-zA-Z.]*)?$", equation):
        raise ValueError(f"Subscripts have incorrect format: {equation}")
    lhs = equation.split("->")[0]
    if len(lhs.split(",")) != num_inputs:
        raise ValueError(f'Got {num_inputs} inputs for equation "{equation}", expecting '
                         f'{len(lhs.split(","))}')
    if "->" not in equation:
        counts = {}
        for c in lhs.replace("...", "").replace(",", ""):
            counts[c] = counts.get(c, 0) + 1
        equation += "->" + ("..." if "..." in lhs else "") + \
            "".join(sorted(c for c, n in counts.items() if n == 1))
    return equation


def _override_matmul():
    def forward(x, y):
        with ops.name_scope(None, "matmul", [x, y]) as scope:
            return matmul(x, y, name=scope)

    def reflected(y, x):
        with ops.name_scope(None, "matmul", [x, y]) as scope:
            x = convert_to_tensor(x, dtype=y.dtype.base_dtype, name="x")
            return matmul(x, y, name=scope)

    ops.Tensor._override_operator("__matmul__", forward)
    ops.Tensor._override_operator("__rmatmul__", reflected)


_override_matmul()

EXPORTS = {
    "": ["matmul", "einsum"],
    "linalg": ["matmul", "einsum"],
}
