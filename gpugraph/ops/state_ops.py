"""Variable state ops: ref variables (``VariableV2``, ``Assign``, ``AssignAdd``, ``AssignSub``,
``IsVariableInitialized``) and resource variables (``VarHandleOp``, ``ReadVariableOp``,
``AssignVariableOp``, ``AssignAddVariableOp``, ``AssignSubVariableOp``, ``VarIsInitializedOp``,
``DestroyResourceOp``) — and the ``tf.compat.v1.assign*`` API functions.

A ref variable's value lives in a :class:`~gpugraph.runtime.state.RefCell` of the Session; the
``VariableV2`` kernel returns the cell, ops declared with a ``Ref(T)`` input receive the cell itself
and every other consumer receives the value current when it runs (the plan dereferences). Writers
always *replace* the cell's array, never mutate it, so a value read earlier in a run (a snapshot such
as ``w/read``) keeps the old contents.

Example:
    >>> v = tf.Variable([1.0, 2.0], name="w")
    >>> inc = tf.assign_add(v, [10.0, 10.0])
    >>> with tf.Session() as sess:
    ...     sess.run(v.initializer)
    ...     sess.run(inc).tolist()
    [11.0, 12.0]
"""

import numpy as np

from gpugraph import errors
from gpugraph.framework import ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.runtime.state import ResourceHandle

TensorShape = tensor_shape.TensorShape


def _fmt_shape(shape):
    """A shape as TensorFlow's kernels print it: ``[2,3]``."""
    return "[" + ",".join(str(d) for d in shape) + "]"


def _static_dims(shape):
    """A TensorShape as a tuple when fully defined, else None (what a cell records)."""
    return tuple(shape.as_list()) if shape.is_fully_defined() else None


def _merge_both_inputs(op):
    """TF's MergeBothInputsShapeFn: both inputs must have compatible shapes; output is the merge."""
    a, b = op.inputs[0].shape, op.inputs[1].shape
    if not a.is_compatible_with(b):
        if a.ndims is not None and b.ndims is not None and a.ndims != b.ndims:
            raise ValueError(f"Shapes must be equal rank, but are {a.ndims} and {b.ndims} "
                             f"(shapes {a} and {b})")
        raise ValueError(f"Shapes {a} and {b} are incompatible: the variable and the value must "
                         f"have the same shape")
    return [a.merge_with(b)]


# -- ref variables ------------------------------------------------------------------------------
def _variable_v2_kernel(ctx):
    cell = ctx.cache.get("cell")
    if cell is None:
        attrs = ctx.attrs
        # TF keys a variable by shared_name, falling back to the node name.
        cell = ctx.state.ref_cell(attrs["shared_name"] or ctx.node_name, ctx.output_dtypes[0],
                                  _static_dims(attrs["shape"]))
        ctx.cache["cell"] = cell
    return cell


register_op("VariableV2", outputs=["ref: Ref(dtype)"],
            attrs=["shape: shape", "dtype: type", "container: string = ''",
                   "shared_name: string = ''"],
            shape=lambda op: [op.get_attr("shape")], cpu=_variable_v2_kernel, stateful=True)


def _assign_shape(op):
    if op.get_attr("validate_shape"):
        return _merge_both_inputs(op)
    return [op.inputs[1].shape]


def _assign_kernel(ctx, cell, value):
    if ctx.attrs["validate_shape"]:
        # An uninitialized variable has the shape of its VariableV2 node (as in TF's kernel).
        lhs = cell.value.shape if cell.value is not None else cell.shape
        if lhs is not None and tuple(lhs) != value.shape:
            raise ctx.error(f"Assign requires shapes of both tensors to match. lhs shape= "
                            f"{_fmt_shape(lhs)} rhs shape= {_fmt_shape(value.shape)} "
                            f"(variable '{cell.name}')")
    cell.assign(value)
    return cell


register_op("Assign", inputs=["ref: Ref(T)", "value: T"], outputs=["output_ref: Ref(T)"],
            attrs=["T: type", "validate_shape: bool = true", "use_locking: bool = true"],
            shape=_assign_shape, cpu=_assign_kernel, allows_uninitialized_input=True)


def _update_kernel(ufunc):
    def kernel(ctx, cell, value):
        old = cell.read()  # FailedPreconditionError naming the variable when uninitialized
        if old.shape != value.shape:
            raise ctx.error(f"Cannot update variable '{cell.name}' with shape {_fmt_shape(old.shape)} "
                            f"using a Tensor with shape {_fmt_shape(value.shape)}, shapes must be equal.")
        new = ufunc(old, value)
        if new.dtype != old.dtype:
            new = new.astype(old.dtype)
        cell.assign(new)  # a new array: snapshots taken before keep the old value
        return cell
    return kernel


for _name, _ufunc in (("AssignAdd", np.add), ("AssignSub", np.subtract)):
    register_op(_name, inputs=["ref: Ref(T)", "value: T"], outputs=["output_ref: Ref(T)"],
                attrs=["T: numbertype", "use_locking: bool = false"],
                shape=_merge_both_inputs, cpu=_update_kernel(_ufunc))


register_op("IsVariableInitialized", inputs=["ref: Ref(dtype)"], outputs=["is_initialized: bool"],
            attrs=["dtype: type"], shape=shape_fns.scalar,
            cpu=lambda ctx, cell: np.array(cell.value is not None),
            allows_uninitialized_input=True)


# -- resource variables -------------------------------------------------------------------------
def _var_handle_kernel(ctx):
    handle = ctx.cache.get("handle")
    if handle is None:
        attrs = ctx.attrs
        handle = ResourceHandle(attrs["container"], attrs["shared_name"] or ctx.node_name,
                                np.dtype(attrs["dtype"].as_numpy_dtype), _static_dims(attrs["shape"]))
        ctx.cache["handle"] = handle
    return handle


register_op("VarHandleOp", outputs=["resource: resource"],
            attrs=["container: string = ''", "shared_name: string = ''", "debug_name: string = ''",
                   "dtype: type", "shape: shape", "allowed_devices: list(string) = []"],
            shape=shape_fns.scalar, cpu=_var_handle_kernel, stateful=True)


def _as_handle(ctx, value):
    if isinstance(value, ResourceHandle):
        return value
    if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        item = value.reshape(-1)[0]
        if isinstance(item, ResourceHandle):
            return item
    raise ctx.error(f"expected a resource handle (the output of a VarHandleOp), got {type(value).__name__}")


def _existing_cell(ctx, handle):
    if not ctx.state.has_resource(handle):
        raise ctx.error(f"Could not find variable {handle.name}. This could mean that the variable has "
                        f"been deleted. In TF1, it can also mean the variable is uninitialized.",
                        errors.FailedPreconditionError)
    return ctx.state.resource_cell(handle)


def _handle_value_shape(op):
    """ReadVariableOp's shape: the VarHandleOp's declared shape when the handle comes from one."""
    producer = op.inputs[0].op
    if producer.type == "VarHandleOp":
        return [producer.get_attr("shape")]
    return [TensorShape(None)]


def _read_variable_kernel(ctx, handle):
    handle = _as_handle(ctx, handle)
    value = _existing_cell(ctx, handle).value
    if value.dtype != ctx.output_dtypes[0]:
        raise ctx.error(f"Trying to read variable {handle.name} with wrong dtype. Expected "
                        f"{np.dtype(ctx.output_dtypes[0]).name} got {value.dtype.name}")
    return value


register_op("ReadVariableOp", inputs=["resource: resource"], outputs=["value: dtype"],
            attrs=["dtype: type"], shape=_handle_value_shape, cpu=_read_variable_kernel,
            stateful=True)


def _assign_variable_kernel(ctx, handle, value):
    handle = _as_handle(ctx, handle)
    cell = ctx.state.resource_cell(handle)
    old = cell.value
    if old is not None:
        if old.dtype != value.dtype:
            raise ctx.error(f"Trying to assign variable {handle.name} with wrong dtype. Expected "
                            f"{old.dtype.name} got {value.dtype.name}")
        if ctx.attrs["validate_shape"] and old.shape != value.shape:
            raise ctx.error(f"Trying to assign to variable {handle.name} with tensor with wrong shape. "
                            f"Expected {_fmt_shape(old.shape)} got {_fmt_shape(value.shape)}")
    cell.assign(value)


register_op("AssignVariableOp", inputs=["resource: resource", "value: dtype"],
            attrs=["dtype: type", "validate_shape: bool = false"],
            shape=shape_fns.no_outputs, cpu=_assign_variable_kernel, stateful=True)


def _update_variable_kernel(ufunc):
    def kernel(ctx, handle, value):
        handle = _as_handle(ctx, handle)
        cell = _existing_cell(ctx, handle)
        old = cell.value
        if old.shape != value.shape:
            raise ctx.error(f"Cannot update variable {handle.name} with shape {_fmt_shape(old.shape)} "
                            f"using a Tensor with shape {_fmt_shape(value.shape)}, shapes must be equal.")
        new = ufunc(old, value)
        if new.dtype != old.dtype:
            new = new.astype(old.dtype)
        cell.assign(new)
    return kernel


for _name, _ufunc in (("AssignAddVariableOp", np.add), ("AssignSubVariableOp", np.subtract)):
    register_op(_name, inputs=["resource: resource", "value: dtype"], attrs=["dtype: type"],
                shape=shape_fns.no_outputs, cpu=_update_variable_kernel(_ufunc), stateful=True)


register_op("VarIsInitializedOp", inputs=["resource: resource"], outputs=["is_initialized: bool"],
            shape=shape_fns.scalar,
            cpu=lambda ctx, h: np.array(ctx.state.has_resource(_as_handle(ctx, h))), stateful=True)


def _destroy_resource_kernel(ctx, handle):
    handle = _as_handle(ctx, handle)
    ctx.state.delete_resource(handle, ignore_lookup_error=ctx.attrs["ignore_lookup_error"])


register_op("DestroyResourceOp", inputs=["resource: resource"],
            attrs=["ignore_lookup_error: bool = true"], shape=shape_fns.no_outputs,
            cpu=_destroy_resource_kernel, stateful=True)


# -- API ----------------------------------------------------------------------------------------
def _is_ref(x):
    """A ref tensor or a RefVariable (whose dtype is a ``_ref`` type, as in TF1)."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and dtype._is_ref_dtype


def _ref_tensor(ref):
    """A Variable's ref tensor (``as_ref`` conversion) or the ref Tensor itself."""
    if isinstance(ref, ops.Tensor):
        return ref
    return convert_to_tensor(ref, as_ref=True)


def _apply_ref_update(op_type, ref, value, name, **attrs):
    """Builds ``op_type(ref, value)`` as TensorFlow's op wrapper does: inside ``name_scope(name)``
    (so a converted value is named ``<op>/value``), colocated with the variable."""
    g = ops.get_default_graph()
    with g.name_scope(name or op_type) as scope:
        value = convert_to_tensor(value, dtype=ref.dtype.base_dtype, name="value")
        with g.colocate_with(ref.op):
            return apply_op(op_type, ref=ref, value=value, name=scope, **attrs)


def _drop_none(**attrs):
    return {k: v for k, v in attrs.items() if v is not None}


def variable_op_v2(shape, dtype, name="Variable", container="", shared_name=""):
    """A ``VariableV2`` node: the ref tensor of a new, uninitialized variable."""
    return apply_op("VariableV2", shape=tensor_shape.as_shape(shape), dtype=dtype, name=name,
                    container=container, shared_name=shared_name)


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """``tf.compat.v1.assign``: stores ``value`` in the variable ``ref``; returns the ref tensor
    that holds the new value once the assignment has run.

    Example:
        >>> v = tf.Variable(0.0)
        >>> a = tf.assign(v, 3.0)
    """
    if _is_ref(ref):
        ref = _ref_tensor(ref)
        return _apply_ref_update("Assign", ref, value, name,
                                 **_drop_none(validate_shape=validate_shape, use_locking=use_locking))
    return ref.assign(value, name=name)


def assign_add(ref, value, use_locking=None, name=None):
    """``tf.compat.v1.assign_add``: ``ref += value``; returns the updated ref.

    Example:
        >>> step = tf.Variable(0, name="step")
        >>> inc = tf.assign_add(step, 1)
    """
    if _is_ref(ref):
        return _apply_ref_update("AssignAdd", _ref_tensor(ref), value, name,
                                 **_drop_none(use_locking=use_locking))
    return ref.assign_add(value)


def assign_sub(ref, value, use_locking=None, name=None):
    """``tf.compat.v1.assign_sub``: ``ref -= value``; returns the updated ref.

    Example:
        >>> v = tf.Variable(5.0)
        >>> dec = tf.assign_sub(v, 1.0)
    """
    if _is_ref(ref):
        return _apply_ref_update("AssignSub", _ref_tensor(ref), value, name,
                                 **_drop_none(use_locking=use_locking))
    return ref.assign_sub(value)


def is_variable_initialized(ref, name=None):
    """A bool scalar: has ``ref`` (a ref tensor or Variable) been initialized in this Session?"""
    if _is_ref(ref):
        ref = _ref_tensor(ref)
        with ops.get_default_graph().colocate_with(ref.op):
            return apply_op("IsVariableInitialized", ref=ref, dtype=ref.dtype.base_dtype, name=name)
    return ref.is_initialized(name=name)


EXPORTS = {"": ["assign", "assign_add", "assign_sub"]}
