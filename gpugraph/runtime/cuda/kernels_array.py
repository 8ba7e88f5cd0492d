"""GPU kernels for graph plumbing and array ops (Identity, Shape, Reshape, Transpose, Concat, Pack,
Unpack, Split, Slice, StridedSlice, Gather, Tile, Pad, Fill, Select, …) and for the variable and
optimizer ops, so that a variable and everything colocated with it can live on a GPU.

Ops whose NumPy kernel only reads metadata and slices (Reshape, Squeeze, Slice, StridedSlice) use
that very kernel: their host-memory arguments arrive as NumPy arrays and ``x.reshape`` / ``x[...]``
are the same calls on a CuPy array. Shape, Size, Rank and the is-initialized ops return host values
(``host_outputs``): only metadata, no device round trip for the shape arguments that read them.

GatherV2 and the Adam, Momentum and GradientDescent updates launch their ``kernels/`` kernel
(gather.cu, optim.cu) through :mod:`custom_kernels` where it applies, and compute with ``ctx.xp``
otherwise.
"""

import numpy as np

from gpugraph.framework import dtypes
from gpugraph.framework.registry import get_op_spec
from gpugraph.ops import array_ops, pad_tile_ops, state_ops, training_ops
from gpugraph.runtime.cuda import custom_kernels
from gpugraph.runtime.cuda.kernels_math import gpu_kernel
from gpugraph.runtime.placement import CUPY_DTYPES

_WITH_RESOURCE = sorted(CUPY_DTYPES | {dtypes.resource}, key=lambda d: d.name)


def _cpu_kernel(op_type):
    return get_op_spec(op_type).kernels["CPU"]


# -- plumbing: device-agnostic kernels ----------------------------------------------------------------
for _op in ("Identity", "StopGradient", "PlaceholderWithDefault"):
    gpu_kernel(_op)(lambda ctx, x: x)
gpu_kernel("IdentityN")(lambda ctx, *xs: list(xs))
gpu_kernel("NoOp")(lambda ctx: None)
# Const values are uploaded once when the plan is compiled; Placeholders are fed from the host.
gpu_kernel("Const")(lambda ctx: ctx.xp.asarray(_cpu_kernel("Const")(ctx)))
gpu_kernel("Placeholder")(_cpu_kernel("Placeholder"))
for _op in ("Reshape", "Squeeze", "Slice", "StridedSlice"):
    gpu_kernel(_op)(_cpu_kernel(_op))


@gpu_kernel("Shape", "Size", "Rank", "ShapeN", host_outputs=True)
def _shape_like(ctx, *xs):
    out = ctx.output_dtypes
    if ctx.op_type == "Shape":
        return np.array(xs[0].shape, dtype=out[0])
    if ctx.op_type == "Size":
        return np.array(xs[0].size, dtype=out[0])
    if ctx.op_type == "Rank":
        return np.array(xs[0].ndim, dtype=out[0])
    return [np.array(x.shape, dtype=dt) for x, dt in zip(xs, out)]


# -- array ops ------------------------------------------------------------------------------------
@gpu_kernel("ExpandDims")
def _expand_dims(ctx, x, dim):
    if dim.size != 1:
        raise ctx.error(f"'dim' must be a tensor with a single value, got shape {list(dim.shape)}")
    d = int(dim.reshape(-1)[0])
    if not -1 - x.ndim <= d <= x.ndim:
        raise ctx.error(f"Tried to expand dim index {d} for tensor with {x.ndim} dimensions.")
    return ctx.xp.expand_dims(x, d if d >= 0 else d + x.ndim + 1)


@gpu_kernel("Transpose")
def _transpose(ctx, x, perm):
    return ctx.xp.transpose(x, array_ops._check_perm(ctx, x, perm))


@gpu_kernel("ConjugateTranspose")
def _conjugate_transpose(ctx, x, perm):
    y = ctx.xp.transpose(x, array_ops._check_perm(ctx, x, perm))
    return ctx.xp.conj(y) if y.dtype.kind == "c" else y


@gpu_kernel("Fill")
def _fill(ctx, dims, value):  # dims on the host, value a 0-d device array
    if dims.ndim != 1 or value.ndim != 0 or (dims < 0).any():
        raise ctx.error(f"Fill needs a vector of non-negative dims and a scalar value, got dims "
                        f"{dims.tolist()} and a value of shape {list(value.shape)}")
    out = ctx.xp.empty(dims.tolist(), dtype=ctx.output_dtypes[0])
    out[...] = value
    return out


gpu_kernel("ZerosLike")(lambda ctx, x: ctx.xp.zeros(x.shape, x.dtype))
gpu_kernel("OnesLike")(lambda ctx, x: ctx.xp.ones(x.shape, x.dtype))


@gpu_kernel("ConcatV2")
def _concat(ctx, *args):
    values, axis = args[:-1], args[-1]
    rank = values[0].ndim
    a = int(axis)
    if rank == 0 or not -rank <= a < rank:
        raise ctx.error(f"ConcatOp : Expected concatenating dimensions in the range [{-rank}, {rank}), "
                        f"but got {a}")
    a %= rank
    s0 = values[0].shape
    for i, v in enumerate(values[1:], 1):
        if v.ndim != rank or any(j != a and v.shape[j] != s0[j] for j in range(rank)):
            raise ctx.error(f"ConcatOp : Dimensions of inputs should match: shape[0] = {list(s0)} vs. "
                            f"shape[{i}] = {list(v.shape)}")
    return ctx.xp.concatenate(values, axis=a)


@gpu_kernel("Pack")
def _pack(ctx, *values):
    s0 = values[0].shape
    for i, v in enumerate(values[1:], 1):
        if v.shape != s0:
            raise ctx.error(f"Shapes of all inputs must match: values[0].shape = {list(s0)} != "
                            f"values[{i}].shape = {list(v.shape)}")
    rank, axis = len(s0) + 1, ctx.attrs["axis"]
    if not -rank <= axis < rank:
        raise ctx.error(f"axis = {axis} not in [{-rank}, {rank})")
    return ctx.xp.stack(values, axis=axis % rank)


@gpu_kernel("Unpack")
def _unpack(ctx, x):
    num, axis = ctx.attrs["num"], ctx.attrs["axis"]
    if not -x.ndim <= axis < x.ndim or x.shape[axis % x.ndim] != num:
        raise ctx.error(f"Input shape axis {axis} must equal {num}, got shape {list(x.shape)}")
    moved = ctx.xp.moveaxis(x, axis % x.ndim, 0)
    return [moved[i] for i in range(num)]


@gpu_kernel("Split")
def _split(ctx, split_dim, x):
    num, d = ctx.attrs["num_split"], int(split_dim)
    if not -x.ndim <= d < x.ndim or x.shape[d % x.ndim] % num:
        raise ctx.error(f"Number of ways to split should evenly divide the split dimension, but got "
                        f"split_dim {d} of shape {list(x.shape)} and num_split {num}")
    return ctx.xp.split(x, num, axis=d % x.ndim)


@gpu_kernel("Tile")
def _tile(ctx, x, multiples):
    if multiples.ndim != 1 or multiples.size != x.ndim or (multiples < 0).any():
        raise ctx.error(f"Expected multiples argument to be a non-negative vector of length {x.ndim}, "
                        f"got {multiples.tolist()}")
    return ctx.xp.tile(x, multiples.tolist()) if x.ndim else x.copy()


@gpu_kernel("BroadcastTo")
def _broadcast_to(ctx, x, shape):
    try:
        return ctx.xp.broadcast_to(x, tuple(shape.tolist()))
    except ValueError:
        raise ctx.error(f"Incompatible shapes: {list(x.shape)} vs. {shape.tolist()}") from None


@gpu_kernel("ReverseV2")
def _reverse(ctx, x, axis):
    axes = []
    for a in axis.reshape(-1).tolist():
        if not -x.ndim <= a < x.ndim or a % x.ndim in axes:
            raise ctx.error(f"'axis' {axis.tolist()} is out of range or repeats for rank {x.ndim}")
        axes.append(a % x.ndim)
    return ctx.xp.flip(x, axis=tuple(axes)) if axes else x


@gpu_kernel("Pad", "PadV2")
def _pad(ctx, x, paddings, constant_values=None):  # paddings and constant_values are host memory
    widths = pad_tile_ops._check_paddings(ctx, x, paddings)
    value = 0 if constant_values is None else constant_values[()]
    out = ctx.xp.full([d + a + b for d, (a, b) in zip(x.shape, widths)], value, dtype=x.dtype)
    out[tuple(slice(a, a + d) for d, (a, _) in zip(x.shape, widths))] = x
    return out


@gpu_kernel("GatherV2")
def _gather(ctx, params, indices, axis):
    """Indices are not range-checked (that needs a device sync; TF's GPU kernel does not either:
    out-of-range indices give zeros there, and with the custom kernel)."""
    xp = ctx.xp
    if axis.size != 1:
        raise ctx.error(f"axis must be scalar, got shape {list(axis.shape)}")
    a = int(axis.reshape(-1)[0])
    if not -params.ndim <= a < params.ndim:
        raise ctx.error(f"Expected axis in the range [{-params.ndim}, {params.ndim}), but got {a}")
    a %= params.ndim
    bd = ctx.attrs["batch_dims"]
    bd = bd + indices.ndim if bd < 0 else bd
    if not 0 <= bd <= indices.ndim or bd >= params.ndim or bd > a or \
            params.shape[:bd] != indices.shape[:bd]:
        raise ctx.error(f"batch_dims ({ctx.attrs['batch_dims']}) must be in [-{indices.ndim}, "
                        f"{indices.ndim}], less than rank(params) and at most axis ({a}), with matching "
                        f"batch shapes: params {list(params.shape)}, indices {list(indices.shape)}")
    out = custom_kernels.gather(ctx, params, indices, a, bd)
    if out is not None:
        return out
    if bd == 0:
        return xp.take(params, indices, axis=a)
    n = params.shape[a]
    batch, outer, inner = params.shape[:bd], params.shape[bd:a], params.shape[a + 1:]
    nb, ni = int(np.prod(batch)), int(np.prod(indices.shape[bd:]))
    p = params.reshape(nb, int(np.prod(outer)), n, int(np.prod(inner))).transpose(0, 2, 1, 3)
    r = p[xp.arange(nb)[:, None], indices.reshape(nb, ni)]
    return r.transpose(0, 2, 1, 3).reshape(batch + outer + indices.shape[bd:] + inner)


@gpu_kernel("Select")
def _select(ctx, cond, t, e):
    if t.shape != e.shape:
        raise ctx.error(f"'then' and 'else' must have the same size.  but received: {list(t.shape)} vs. "
                        f"{list(e.shape)}")
    if cond.ndim == 0 or cond.shape == t.shape:
        return ctx.xp.where(cond, t, e)
    if cond.ndim == 1 and t.ndim > 1 and cond.shape[0] == t.shape[0]:
        return ctx.xp.where(cond.reshape((-1,) + (1,) * (t.ndim - 1)), t, e)
    raise ctx.error(f"'then' and 'cond' must have the same size.  but received: {list(t.shape)} vs. "
                    f"{list(cond.shape)}")


@gpu_kernel("SelectV2")
def _select_v2(ctx, cond, t, e):
    try:
        return ctx.xp.where(cond, t, e)
    except ValueError:
        raise ctx.error(f"condition {list(cond.shape)}, then {list(t.shape)} and else {list(e.shape)} "
                        f"must be broadcastable") from None


# -- variables: values stay on the device -------------------------------------------------------------
# Cells hold CuPy arrays as they are (``RefCell.assign`` would freeze a NumPy array). Writers replace
# the array, never mutate it, so values read earlier in a run keep their contents — as on the CPU.
gpu_kernel("VariableV2")(_cpu_kernel("VariableV2"))
gpu_kernel("VarHandleOp", dtypes=_WITH_RESOURCE)(_cpu_kernel("VarHandleOp"))
gpu_kernel("DestroyResourceOp", dtypes=_WITH_RESOURCE)(_cpu_kernel("DestroyResourceOp"))


@gpu_kernel("Assign")
def _assign(ctx, cell, value):
    if ctx.attrs["validate_shape"]:
        lhs = cell.value.shape if cell.value is not None else cell.shape
        if lhs is not None and tuple(lhs) != value.shape:
            raise ctx.error(f"Assign requires shapes of both tensors to match. lhs shape= {list(lhs)} "
                            f"rhs shape= {list(value.shape)} (variable '{cell.name}')")
    cell.value = value
    return cell


def _update(name):
    def kernel(ctx, cell, value):
        old = cell.read()
        if old.shape != value.shape:
            raise ctx.error(f"Cannot update variable '{cell.name}' with shape {list(old.shape)} using a "
                            f"Tensor with shape {list(value.shape)}, shapes must be equal.")
        cell.value = getattr(ctx.xp, name)(old, value).astype(old.dtype, copy=False)
        return cell
    return kernel


gpu_kernel("AssignAdd")(_update("add"))
gpu_kernel("AssignSub")(_update("subtract"))
gpu_kernel("IsVariableInitialized", host_outputs=True)(_cpu_kernel("IsVariableInitialized"))
gpu_kernel("VarIsInitializedOp", dtypes=_WITH_RESOURCE, host_outputs=True)(_cpu_kernel("VarIsInitializedOp"))


@gpu_kernel("ReadVariableOp", dtypes=_WITH_RESOURCE)
def _read_variable(ctx, handle):
    handle = state_ops._as_handle(ctx, handle)
    value = state_ops._existing_cell(ctx, handle).value
    if value.dtype != ctx.output_dtypes[0]:
        raise ctx.error(f"Trying to read variable {handle.name} with wrong dtype. Expected "
                        f"{np.dtype(ctx.output_dtypes[0]).name} got {value.dtype.name}")
    return value


@gpu_kernel("AssignVariableOp", dtypes=_WITH_RESOURCE)
def _assign_variable(ctx, handle, value):
    handle = state_ops._as_handle(ctx, handle)
    cell = ctx.state.resource_cell(handle)
    old = cell.value
    if old is not None and (old.dtype != value.dtype or
                            (ctx.attrs["validate_shape"] and old.shape != value.shape)):
        raise ctx.error(f"Trying to assign variable {handle.name} of dtype {old.dtype.name} and shape "
                        f"{list(old.shape)} with a tensor of dtype {value.dtype.name} and shape "
                        f"{list(value.shape)}")
    cell.value = value


def _update_variable(name):
    def kernel(ctx, handle, value):
        handle = state_ops._as_handle(ctx, handle)
        cell = state_ops._existing_cell(ctx, handle)
        old = cell.value
        if old.shape != value.shape:
            raise ctx.error(f"Cannot update variable {handle.name} with shape {list(old.shape)} using a "
                            f"Tensor with shape {list(value.shape)}, shapes must be equal.")
        cell.value = getattr(ctx.xp, name)(old, value).astype(old.dtype, copy=False)
    return kernel


gpu_kernel("AssignAddVariableOp", dtypes=_WITH_RESOURCE)(_update_variable("add"))
gpu_kernel("AssignSubVariableOp", dtypes=_WITH_RESOURCE)(_update_variable("subtract"))


# -- optimizers: the NumPy kernels' formulas, evaluated on device arrays ----------------------------------
# The formulas use only arithmetic operators and NumPy ufuncs (np.sqrt, np.square), which CuPy arrays
# dispatch to CuPy's own (``__array_ufunc__``). Scalars stay 0-d device arrays in the compute dtype.
_F16 = np.dtype(np.float16)


def _gpu_update(name, formula, slot_names, scalar_names, grad_index, resource):
    n = len(slot_names)

    def kernel(ctx, *args):
        if resource:
            cells = [training_ops._resource_cell(ctx, h) for h in args[:n]]
        else:
            cells = args[:n]
        slots = [c.read() for c in cells]
        rest = list(args[n:])
        grad = rest.pop(grad_index)
        shape = slots[0].shape
        if any(s.shape != shape for s in slots[1:]) or grad.shape != shape or any(s.ndim for s in rest):
            raise ctx.error(f"{slot_names[0]}, its slots and grad must have the same shape, and "
                            f"{', '.join(scalar_names)} must be scalars: {[list(s.shape) for s in slots]}, "
                            f"grad {list(grad.shape)}")
        new = custom_kernels.apply_update(ctx, name, slots, args[n:], grad_index)
        if new is None:
            store = slots[0].dtype
            compute = np.float32 if store == _F16 else store
            slots = [s.astype(compute, copy=False) for s in slots]
            new = formula(ctx, *slots, *[s.astype(compute) for s in rest], grad.astype(compute, copy=False))
            new = [value.astype(store, copy=False) for value in new]
        for cell, value in zip(cells, new):
            cell.value = value
        return None if resource else cells[0]
    return kernel


for _name, _slots, _others, _gi, _formula, _extra in training_ops._APPLY_OPS:
    _scalars = [a for i, a in enumerate(_others) if i != _gi]
    gpu_kernel(f"Apply{_name}", dtypes=[d for d in CUPY_DTYPES if d.is_floating])(
        _gpu_update(_name, _formula, _slots, _scalars, _gi, False))
    gpu_kernel(f"ResourceApply{_name}",
               dtypes=[d for d in CUPY_DTYPES if d.is_floating] + [dtypes.resource])(
        _gpu_update(_name, _formula, _slots, _scalars, _gi, True))
