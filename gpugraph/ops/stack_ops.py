"""TensorFlow's stack ops (``StackV2``, ``StackPushV2``, ``StackPopV2``): per-run LIFO stacks. The
gradient of a v1 while loop pushes the forward values it needs in every iteration and pops them
in reverse order in the backward loop.

Example:
    >>> s = stack_v2(-1, tf.float32)
    >>> pushed = stack_push_v2(s, tf.constant([1.0, 2.0]))
    >>> with tf.control_dependencies([pushed]):
    ...     popped = stack_pop_v2(s, tf.float32)
"""

import numpy as np

from gpugraph.framework import dtypes, tensor_shape
from gpugraph.framework.op_builder import apply_op
from gpugraph.framework.registry import register_op

TensorShape = tensor_shape.TensorShape


class Stack:
    """The run-time value behind a stack handle."""

    __slots__ = ("name", "dtype", "max_size", "items")

    def __init__(self, name, dtype, max_size):
        self.name = name
        self.dtype = np.dtype(dtype)
        self.max_size = max_size
        self.items = []

    def __repr__(self):
        return f"<Stack {self.name} depth={len(self.items)}>"


def _stack(ctx, handle):
    if not isinstance(handle, Stack):
        raise ctx.error(f"expected a stack handle, got {type(handle).__name__}")
    return handle


def _stack_v2_kernel(ctx, max_size):
    max_size = np.asarray(max_size)
    if max_size.ndim != 0:
        raise ctx.error(f"max_size must be a scalar, got shape {list(max_size.shape)}")
    return Stack(ctx.attrs["stack_name"] or ctx.node_name, ctx.attrs["elem_type"].as_numpy_dtype, int(max_size))


def _push_kernel(ctx, handle, elem):
    stack = _stack(ctx, handle)
    elem = np.asarray(elem)
    if elem.dtype != stack.dtype:
        raise ctx.error(f"Stack[{stack.name}] holds {dtypes.as_dtype(stack.dtype).name} elements, but the pushed "
                        f"value is {dtypes.as_dtype(elem.dtype).name}")
    if 0 <= stack.max_size <= len(stack.items):
        raise ctx.error(f"Stack[{stack.name}] overflowed its max_size ({stack.max_size})")
    stack.items.append(elem)
    return elem


def _pop_kernel(ctx, handle):
    stack = _stack(ctx, handle)
    if not stack.items:
        raise ctx.error(f"Stack[{stack.name}] is empty.")
    return stack.items.pop()


def _scalar_input_shape(op):
    s = op.inputs[0].shape
    if s.ndims is not None and s.ndims != 0:
        raise ValueError(f"Shape must be rank 0 but is rank {s.ndims} for '{op.name}' max_size")
    return [TensorShape([2])]


register_op("StackV2", inputs=["max_size: int32"], outputs=["handle: resource"],
            attrs=["elem_type: type", "stack_name: string = ''"], shape=_scalar_input_shape,
            cpu=_stack_v2_kernel, stateful=True)
register_op("StackPushV2", inputs=["handle: resource", "elem: T"], outputs=["output: T"],
            attrs=["T: type", "swap_memory: bool = false"], shape=lambda op: [op.inputs[1].shape],
            cpu=_push_kernel, stateful=True)
register_op("StackPopV2", inputs=["handle: resource"], outputs=["elem: elem_type"], attrs=["elem_type: type"],
            shape=lambda op: [TensorShape(None)], cpu=_pop_kernel, stateful=True)


def stack_v2(max_size, elem_type, stack_name="", name=None):
    """A new stack of ``elem_type`` elements (``max_size`` < 0: unbounded)."""
    return apply_op("StackV2", max_size=max_size, elem_type=dtypes.as_dtype(elem_type), stack_name=stack_name,
                    name=name)


def stack_push_v2(handle, elem, swap_memory=False, name=None):
    """Pushes ``elem``; returns it."""
    return apply_op("StackPushV2", handle=handle, elem=elem, swap_memory=swap_memory, name=name)


def stack_pop_v2(handle, elem_type, name=None):
    """Pops the last pushed element."""
    return apply_op("StackPopV2", handle=handle, elem_type=dtypes.as_dtype(elem_type), name=name)


EXPORTS = {}
