"""Graph plumbing ops: Const, Placeholder, PlaceholderWithDefault, Identity, IdentityN, NoOp,
StopGradient — and their API functions.

Example:
    >>> x = tf.placeholder(tf.float32, shape=[None, 3], name="x")
    >>> y = tf.identity(x, name="y")
    >>> tf.Session().run(y, {x: [[1, 2, 3]]}).tolist()
    [[1.0, 2.0, 3.0]]
"""

from gpugraph.framework import dtypes, ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant, convert_to_tensor  # noqa: F401
from gpugraph.framework.registry import register_op


def _const_shape(op):
    return [tensor_shape.TensorShape(op._attrs["value"].tensor.tensor_shape)]


def _const_kernel(ctx):
    # Consts are pre-loaded into the plan at compile time; this runs only if a plan asks directly.
    from gpugraph.framework import tensor_util
    return tensor_util.MakeNdarray(ctx.op._attrs["value"].tensor)


register_op("Const", outputs=["output: dtype"], attrs=["value: tensor", "dtype: type"],
            shape=_const_shape, cpu=_const_kernel)


def _placeholder_kernel(ctx):
    raise ctx.error(f"You must feed a value for placeholder tensor '{ctx.node_name}'")


register_op("Placeholder", outputs=["output: dtype"],
            attrs=["dtype: type", "shape: shape = { unknown_rank: true }"],
            shape=lambda op: [op.get_attr("shape")], cpu=_placeholder_kernel)


def _placeholder_with_default_shape(op):
    return [op.get_attr("shape")]


register_op("PlaceholderWithDefault", inputs=["input: dtype"], outputs=["output: dtype"],
            attrs=["dtype: type", "shape: shape"],
            shape=_placeholder_with_default_shape, cpu=lambda ctx, x: x)

register_op("Identity", inputs=["input: T"], outputs=["output: T"], attrs=["T: type"],
            shape=shape_fns.unchanged, cpu=lambda ctx, x: x)

register_op("StopGradient", inputs=["input: T"], outputs=["output: T"], attrs=["T: type"],
            shape=shape_fns.unchanged, cpu=lambda ctx, x: x)

register_op("IdentityN", inputs=["input: T"], outputs=["output: T"], attrs=["T: list(type) >= 1"],
            shape=lambda op: [t.shape for t in op.inputs], cpu=lambda ctx, *xs: list(xs))

register_op("NoOp", shape=shape_fns.no_outputs, cpu=lambda ctx: None)


# -- API ----------------------------------------------------------------------------------------
def placeholder(dtype, shape=None, name=None):
    """``tf.compat.v1.placeholder``: a tensor whose value must be fed to ``Session.run``.

    Example:
        >>> x = tf.placeholder(tf.float32, [None, 784], name="images")
    """
    shape = tensor_shape.TensorShape(shape) if shape is not None else tensor_shape.TensorShape(None)
    return apply_op("Placeholder", dtype=dtypes.as_dtype(dtype), shape=shape, name=name)


def placeholder_with_default(input, shape, name=None):  # noqa: A002 - TF's argument name
    """A placeholder that yields ``input`` when it is not fed."""
    value = convert_to_tensor(input)
    return apply_op("PlaceholderWithDefault", input=value, dtype=value.dtype.base_dtype,
                    shape=tensor_shape.TensorShape(shape), name=name)


def identity(input, name=None):  # noqa: A002
    """Returns a tensor with the same value as ``input``."""
    if hasattr(input, "_as_graph_element") and hasattr(input, "read_value"):
        input = input.value()
    return apply_op("Identity", input=input, name=name)


def identity_n(input, name=None):  # noqa: A002
    return apply_op("IdentityN", input=list(input), name=name)


def stop_gradient(input, name=None):  # noqa: A002
    """Passes ``input`` through; gradients do not flow back through it."""
    return apply_op("StopGradient", input=input, name=name)


def no_op(name=None):
    """An op that does nothing; useful as a control-dependency target."""
    return apply_op("NoOp", name=name)


def group(*inputs, **kwargs):
    """A NoOp that runs after every op in ``inputs`` (``tf.group``).

    Example:
        >>> train_op = tf.group(update_a, update_b, name="train")     # doctest: +SKIP
    """
    name = kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"group: unknown keyword arguments {sorted(kwargs)}")
    deps = []
    for x in _flatten(inputs):
        if x is None:
            continue
        if hasattr(x, "_as_graph_element_for_control"):
            x = x._as_graph_element_for_control()
        deps.append(ops._as_operation(x))
    g = ops.get_default_graph()
    with ops.name_scope(name, "group_deps", deps) as scope:
        if not deps:
            return no_op(name=scope)
        # As TensorFlow: one NoOp per device of the inputs (placed there), joined by the result.
        by_device = {}
        for op in deps:
            by_device.setdefault(op.device, []).append(op)
        if len(by_device) == 1:
            ((device, ops_on_device),) = by_device.items()
            return _group_on_device(g, device, ops_on_device, scope)
        per_device = [_group_on_device(g, d, by_device[d], None) for d in sorted(by_device)]
        with g.control_dependencies(per_device):
            return no_op(name=scope)


def _group_on_device(g, device, deps, name):
    with g.control_dependencies(deps), g.device(device):
        return no_op(name=name)


def tuple_(tensors, name=None, control_inputs=None):
    """``tf.tuple``: each output is an input, available only after all inputs are computed."""
    tensors = [convert_to_tensor(t) if t is not None else None for t in tensors]
    with ops.name_scope(name, "tuple", [t for t in tensors if t is not None]) as scope:
        gate = group(*[t for t in tensors if t is not None], *(control_inputs or []), name=scope + "group_deps" if scope else None)
        out = []
        for t in tensors:
            if t is None:
                out.append(None)
                continue
            with ops.control_dependencies([gate]):
                out.append(identity(t))
        return out


def _flatten(items):
    for x in items:
        if isinstance(x, (list, tuple, set)):
            yield from _flatten(x)
        elif isinstance(x, dict):
            yield from _flatten(list(x.values()))
        else:
            yield x


EXPORTS = {
    "": ["placeholder", "placeholder_with_default", "identity", "identity_n", "stop_gradient", "no_op",
         "group", "tuple=tuple_"],
}
