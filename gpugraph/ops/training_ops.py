"""Optimizer update ops with TensorFlow's OpDefs: ApplyGradientDescent, ApplyMomentum, ApplyAdam,
ApplyAdagrad, ApplyRMSProp, ApplyCenteredRMSProp (ref variables) and their ``Resource*`` forms.

Each kernel is the formula of TensorFlow's CPU functor in ``training_ops.cc``, evaluated in the
variable's dtype and in the same order (e.g. Adam's ``alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``
then ``m += (g - m) * (1 - beta1)``), so a step here matches TensorFlow's to float rounding.
Variables are never mutated in place: each slot's cell receives a new array, so a value fetched
earlier in the same run keeps its contents.

Example:
    >>> from gpugraph.framework.op_builder import apply_op
    >>> step = apply_op("ApplyGradientDescent", var=w, alpha=0.1, delta=grad)   # doctest: +SKIP
"""

import math

import ml_dtypes
import numpy as np

from gpugraph import errors
from gpugraph.framework import tensor_shape
from gpugraph.framework.registry import register_op
from gpugraph.runtime.state import RefCell, ResourceHandle

TensorShape = tensor_shape.TensorShape
_HALF_TYPES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def _fmt(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


# -- the update formulas: (slot values..., scalars..., grad) -> new slot values --------------------
def _gradient_descent(ctx, var, alpha, delta):
    return [var - delta * alpha]


def _momentum(ctx, var, accum, lr, momentum, grad):
    accum = accum * momentum + grad
    if ctx.attrs["use_nesterov"]:
        var = var - (grad * lr + accum * momentum * lr)
    else:
        var = var - lr * accum
    return [var, accum]


def _adam(ctx, var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad):
    one = var.dtype.type(1)
    alpha = lr * np.sqrt(one - beta2_power) / (one - beta1_power)
    if var.dtype.kind != "f":  # integer or complex variables: the plain expressions
        m = m + (grad - m) * (one - beta1)
        v = v + (np.square(grad) - v) * (one - beta2)
        num = (grad * (one - beta1) + beta1 * m) * alpha if ctx.attrs["use_nesterov"] else m * alpha
        return [var - num / (np.sqrt(v) + epsilon), m, v]
    # Float: the same operations in the same order, in place on fresh buffers (fewer temporaries).
    # (The GPU kernels run this formula on device arrays too: only operators and ufuncs here.)
    m_t = np.subtract(grad, m)
    m_t *= one - beta1
    m_t += m                       # m + (grad - m) * (1 - beta1)
    v_t = np.square(grad)
    v_t -= v
    v_t *= one - beta2
    v_t += v                       # v + (grad^2 - v) * (1 - beta2)
    denom = np.sqrt(v_t)
    denom += epsilon
    if ctx.attrs["use_nesterov"]:
        num = grad * (one - beta1)
        num += beta1 * m_t
        num *= alpha
    else:
        num = m_t * alpha
    num /= denom
    np.subtract(var, num, out=num)
    return [num, m_t, v_t]


def _adagrad(ctx, var, accum, lr, grad):
    if ctx.attrs["update_slots"]:
        accum = accum + np.square(grad)
    var = var - grad * lr * (var.dtype.type(1) / np.sqrt(accum))
    return [var, accum]


def _rms_prop(ctx, var, ms, mom, lr, rho, momentum, epsilon, grad):
    ms = ms + (np.square(grad) - ms) * (var.dtype.type(1) - rho)
    mom = mom * momentum + (grad * lr) / np.sqrt(ms + epsilon)
    return [var - mom, ms, mom]


def _centered_rms_prop(ctx, var, mg, ms, mom, lr, rho, momentum, epsilon, grad):
    one_minus_rho = var.dtype.type(1) - rho
    ms = ms + (np.square(grad) - ms) * one_minus_rho
    mg = mg + (grad - mg) * one_minus_rho
    denom = (ms - np.square(mg)) + epsilon
    mom = mom * momentum + (grad * lr) / np.sqrt(denom)
    return [var - mom, mg, ms, mom]


# -- kernels -----------------------------------------------------------------------------------------
def _check_update(ctx, slot_names, slots, scalars, scalar_names, grad):
    """The shape checks of TensorFlow's apply kernels, naming the node and both shapes."""
    shape = slots[0].shape
    for name, value in zip(slot_names[1:], slots[1:]):
        if value.shape != shape:
            raise ctx.error(f"{slot_names[0]} and {name} do not have the same shape{_fmt(shape)} "
                            f"{_fmt(value.shape)}")
    for name, s in zip(scalar_names, scalars):
        if s.ndim != 0:
            raise ctx.error(f"{name} is not a scalar: {_fmt(s.shape)}")
    if grad.shape != shape:
        raise ctx.error(f"{slot_names[0]} and grad do not have the same shape{_fmt(shape)} {_fmt(grad.shape)}")


def _compute_update(ctx, formula, slots, scalars, grad):
    """``formula(ctx, *slots, *scalars, grad)`` in the compute dtype: 16-bit floats compute in
    float32 and are rounded once when stored; the scalars stay 0-d arrays of the variable's dtype
    (what the op's type constraint feeds)."""
    store = slots[0].dtype
    if store in _HALF_TYPES:
        slots = [v.astype(np.float32) for v in slots]
        new = formula(ctx, *slots, *[s.astype(np.float32) for s in scalars], grad.astype(np.float32))
        return [v.astype(store) for v in new]
    return formula(ctx, *slots, *scalars, grad)


def _run_update(ctx, formula, slot_names, slots, rest, scalar_names, grad_index):
    """Checks shapes, then ``formula(ctx, *slots, *scalars, grad)`` in the compute dtype."""
    rest = list(rest)
    grad = rest.pop(grad_index)
    _check_update(ctx, slot_names, slots, rest, scalar_names, grad)
    return _compute_update(ctx, formula, slots, rest, grad)


def _slot_cells(ctx, slot_names, inputs, resource):
    """``(cells, values)`` of an update's variable and slots: ``inputs`` are their RefCells (a
    FailedPreconditionError names an uninitialized one) or, with ``resource``, their handles (whose
    variables must hold the op's dtype)."""
    if not resource:
        return inputs, [c.read() for c in inputs]
    cells = [_resource_cell(ctx, h) for h in inputs]
    values = [c.value for c in cells]
    dtype = ctx.attrs["T"].as_numpy_dtype
    for name, value in zip(slot_names, values):
        if value.dtype != dtype:
            raise ctx.error(f"{name} has dtype {value.dtype.name}, the op expects {np.dtype(dtype).name}")
    return cells, values


def _ref_kernel(formula, slot_names, scalar_names, grad_index):
    n = len(slot_names)

    def kernel(ctx, *args):
        cells, slots = _slot_cells(ctx, slot_names, args[:n], False)
        new = _run_update(ctx, formula, slot_names, slots, args[n:], scalar_names, grad_index)
        for cell, value in zip(cells, new):
            cell.assign(value)
        return cells[0]
    return kernel


def _resource_cell(ctx, handle):
    if isinstance(handle, np.ndarray) and handle.dtype == object and handle.size == 1:
        handle = handle.reshape(-1)[0]
    if not isinstance(handle, ResourceHandle):
        raise ctx.error(f"expected a resource handle, got {type(handle).__name__}")
    if not ctx.state.has_resource(handle):
        raise ctx.error(f"Could not find variable {handle.name}. This could mean that the variable has "
                        f"been deleted. In TF1, it can also mean the variable is uninitialized.",
                        errors.FailedPreconditionError)
    return ctx.state.resource_cell(handle)


def _resource_kernel(formula, slot_names, scalar_names, grad_index):
    n = len(slot_names)

    def kernel(ctx, *args):
        cells, slots = _slot_cells(ctx, slot_names, args[:n], True)
        new = _run_update(ctx, formula, slot_names, slots, args[n:], scalar_names, grad_index)
        for cell, value in zip(cells, new):
            cell.assign(value)
    return kernel


# -- shape functions -----------------------------------------------------------------------------------
def _shape_fn(n_slots, scalar_names, grad_index, resource):
    def shape(op):
        if resource:
            s = TensorShape(None)
            for t in op.inputs[:n_slots]:
                producer = t.op
                if producer.type == "VarHandleOp":
                    s = s.merge_with(producer.get_attr("shape"))
        else:
            s = op.inputs[0].shape
            for t in op.inputs[1:n_slots]:
                if not s.is_compatible_with(t.shape):
                    raise ValueError(f"{op.type}: slot shapes {s} and {t.shape} differ")
                s = s.merge_with(t.shape)
        rest = list(op.inputs[n_slots:])
        grad = rest.pop(grad_index).shape
        for name, t in zip(scalar_names, rest):
            if t.shape.ndims is not None and t.shape.ndims != 0:
                raise ValueError(f"{op.type}: {name} must be a scalar, got shape {t.shape}")
        if not s.is_compatible_with(grad):
            raise ValueError(f"{op.type}: var and grad do not have the same shape: {s} vs. {grad}")
        return [] if resource else [s.merge_with(grad)]
    return shape


# -- grouped updates --------------------------------------------------------------------------------
_GROUPABLE = {}  # op type -> (formula, slot names, scalar names, grad index, resource)


def groupable_update(op_type):
    """Whether plans may run several ``op_type`` updates as one grouped step
    (:func:`grouped_update_kernel`)."""
    return op_type in _GROUPABLE


def update_arity(op_type):
    """``(number of slot inputs, number of other inputs, index of grad among the others)``."""
    _, slots, scalars, grad_index, _ = _GROUPABLE[op_type]
    return len(slots), len(scalars) + 1, grad_index


def grouped_update_kernel(op_type, member_contexts):
    """One kernel running several updates of one kind that share their scalar inputs (learning
    rate, betas, epsilon...) as a single update over all their variables at once — the
    multi-tensor form of the optimizer step.

    Its inputs are the members' inputs one member after the other; it returns the members'
    outputs. Each slot (var, m, v, ...) of all members is laid out in one flat array, so the
    update's dozen elementwise passes run once over every variable instead of once per variable;
    the new values are stored as read-only views of the flat results. When the variables still
    hold the views the previous step stored, the flat arrays are reused as they are, so steady-state
    training does not even gather them. The arithmetic per element is the ungrouped kernel's, in
    the same order: results are bitwise the same. ``member_contexts`` name each member's node in
    errors.
    """
    formula, slot_names, scalar_names, grad_index, resource = _GROUPABLE[op_type]
    n_slots = len(slot_names)
    per_member = n_slots + len(scalar_names) + 1
    members = tuple(member_contexts)

    grad_at = n_slots + grad_index

    def kernel(ctx, *args):
        all_cells, grads, shapes = [], [], []
        slot_values = [[] for _ in range(n_slots)]
        first = args[:per_member]
        # The scalars are the same for every member (that is what grouped them): read them once.
        scalars = [x.read() if isinstance(x, RefCell) else x for x in first[n_slots:]]
        scalars.pop(grad_index)
        for j, mctx in enumerate(members):
            base = j * per_member
            cells, values = _slot_cells(mctx, slot_names, args[base:base + n_slots], resource)
            grad = args[base + grad_at]
            if isinstance(grad, RefCell):
                grad = grad.read()
            shape = values[0].shape
            if grad.shape != shape or any(v.shape != shape for v in values[1:]) or \
                    (j == 0 and any(x.ndim for x in scalars)):
                _check_update(mctx, slot_names, values, scalars, scalar_names, grad)  # raises
            all_cells.extend(cells)
            for k, value in enumerate(values):
                slot_values[k].append(value)
            grads.append(grad.reshape(-1))
            shapes.append(shape)

        cached = ctx.cache.get("grouped_update")
        if cached is not None and all(c.value is v for c, v in zip(all_cells, cached[0])):
            flats = cached[1]
        else:
            flats = [np.concatenate([v.reshape(-1) for v in vs]) for vs in slot_values]
        new = _compute_update(ctx, formula, flats, scalars, np.concatenate(grads))

        layout = ctx.cache.get("grouped_layout")
        if layout is None or layout[0] != shapes:
            bounds, start = [], 0
            for shape in shapes:
                end = start + math.prod(shape)
                bounds.append((start, end, shape))
                start = end
            layout = ctx.cache["grouped_layout"] = (shapes, bounds)
        bounds = layout[1]
        stored = [None] * len(all_cells)
        for k, flat in enumerate(new):
            for j, (start, end, shape) in enumerate(bounds):
                view = flat[start:end].reshape(shape)
                view.setflags(write=False)  # stored as RefCell.assign stores, without a copy
                i = j * n_slots + k
                all_cells[i].value = stored[i] = view
        ctx.cache["grouped_update"] = (stored, new)
        if resource:
            return None
        return [all_cells[j * n_slots] for j in range(len(members))]
    return kernel


# name, slots, non-slot inputs in TF's order, index of the gradient among them, formula, attrs
_APPLY_OPS = [
    ("GradientDescent", ["var"], ["alpha", "delta"], 1, _gradient_descent, []),
    # TF's ApplyMomentum takes (var, accum, lr, grad, momentum): momentum after the gradient.
    ("Momentum", ["var", "accum"], ["lr", "grad", "momentum"], 1, _momentum, ["use_nesterov: bool = false"]),
    ("Adam", ["var", "m", "v"],
     ["beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon", "grad"], 6, _adam,
     ["use_nesterov: bool = false"]),
    ("Adagrad", ["var", "accum"], ["lr", "grad"], 1, _adagrad, ["update_slots: bool = true"]),
    ("RMSProp", ["var", "ms", "mom"], ["lr", "rho", "momentum", "epsilon", "grad"], 4, _rms_prop, []),
    ("CenteredRMSProp", ["var", "mg", "ms", "mom"], ["lr", "rho", "momentum", "epsilon", "grad"], 4,
     _centered_rms_prop, []),
]

for _name, _slots, _others, _gi, _formula, _extra in _APPLY_OPS:
    _scalar_names = [a for i, a in enumerate(_others) if i != _gi]
    _inputs = [f"{a}: T" for a in _others]
    _attrs = ["T: numbertype", "use_locking: bool = false"] + _extra
    _n = len(_slots)
    register_op(f"Apply{_name}", inputs=[f"{s}: Ref(T)" for s in _slots] + _inputs, outputs=["out: Ref(T)"],
                attrs=_attrs, shape=_shape_fn(_n, _scalar_names, _gi, False),
                cpu=_ref_kernel(_formula, _slots, _scalar_names, _gi))
    register_op(f"ResourceApply{_name}", inputs=[f"{s}: resource" for s in _slots] + _inputs,
                attrs=_attrs, shape=_shape_fn(_n, _scalar_names, _gi, True),
                cpu=_resource_kernel(_formula, _slots, _scalar_names, _gi), stateful=True)
    _GROUPABLE[f"Apply{_name}"] = (_formula, _slots, _scalar_names, _gi, False)
    _GROUPABLE[f"ResourceApply{_name}"] = (_formula, _slots, _scalar_names, _gi, True)
