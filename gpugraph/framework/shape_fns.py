"""Reusable shape functions for op declarations (each takes the Operation, returns output shapes).

Example:
    >>> register_op("Relu", ..., shape=shape_fns.unchanged)                # doctest: +SKIP
"""

from gpugraph.framework import tensor_shape
from gpugraph.framework.op_builder import constant_value, constant_value_as_shape  # noqa: F401

TensorShape = tensor_shape.TensorShape


def unknown(op):
    """Every output has an unknown shape."""
    return [TensorShape(None) for _ in op.outputs]


def unchanged(op):
    """Every output has the shape of input 0."""
    return [op.inputs[0].shape for _ in op.outputs]


def scalar(op):
    return [TensorShape([]) for _ in op.outputs]


def no_outputs(op):
    return []


def broadcast_shapes(a, b):
    """NumPy broadcasting of two partial shapes; ValueError naming both when incompatible."""
    if a.ndims is None or b.ndims is None:
        return TensorShape(None)
    da, db = a.as_list(), b.as_list()
    n = max(len(da), len(db))
    da = [1] * (n - len(da)) + da
    db = [1] * (n - len(db)) + db
    out = []
    for x, y in zip(da, db):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None:
            out.append(y)  # y is a known size other than 1, so the result must be y
        elif y is None:
            out.append(x)
        elif x == y:
            out.append(x)
        else:
            raise ValueError(f"Dimensions must be equal, but are {x} and {y} for shapes {a} and {b}")
    return TensorShape(out)


def broadcast_binary(op):
    """Output shape of a broadcasting binary op (Add, Mul, Less, …)."""
    return [broadcast_shapes(op.inputs[0].shape, op.inputs[1].shape)]


def normalize_axis(axis, rank, what="axis"):
    if rank is None:
        return axis
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank if rank else 0
