"""``boolean_mask``: keep the elements (or slices) of a tensor where a boolean mask is true.

Built from Where, Squeeze, GatherV2 and Reshape exactly as TensorFlow's Python builds it, so the
graph is the one TensorFlow makes for the same call.

Example:
    >>> x = tf.constant([[1, 2], [3, 4], [5, 6]])
    >>> tf.Session().run(tf.boolean_mask(x, [True, False, True])).tolist()
    [[1, 2], [5, 6]]
"""

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant_value, convert_to_tensor
from gpugraph.ops.array_ops import reshape, shape, squeeze
from gpugraph.ops.concat_split_ops import concat
from gpugraph.ops.select_ops import where
from gpugraph.ops.slicing_ops import gather


def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    """``tf.compat.v1.boolean_mask``: the slices of ``tensor`` at the true positions of ``mask``.

    ``mask``'s shape must match ``tensor``'s dimensions ``axis .. axis + mask.ndims``; those
    dimensions are flattened into one, of length ``count_nonzero(mask)``.
    """
    with ops.name_scope(name, values=[tensor, mask]):
        tensor = convert_to_tensor(tensor, name="tensor")
        mask = convert_to_tensor(mask, name="mask")
        if mask.dtype.base_dtype != dtypes.bool:
            raise TypeError(f"boolean_mask: mask must be bool, got {mask.dtype.name} ({mask.name})")
        shape_mask = mask.get_shape()
        ndims_mask = shape_mask.ndims
        shape_tensor = tensor.get_shape()
        if ndims_mask == 0:
            raise ValueError("boolean_mask: mask cannot be scalar.")
        if ndims_mask is None:
            raise ValueError("boolean_mask: number of mask dimensions must be specified, even if some "
                             "dimensions are None. E.g. shape=[None] is ok, but shape=None is not.")
        axis = 0 if axis is None else axis
        axis_value = constant_value(axis) if isinstance(axis, ops.Tensor) else axis
        if axis_value is not None:
            axis = int(axis_value)
            if shape_tensor.ndims is not None:
                try:
                    shape_tensor[axis:axis + ndims_mask].assert_is_compatible_with(shape_mask)
                except ValueError:
                    raise ValueError(f"boolean_mask: mask shape {shape_mask} does not match tensor "
                                     f"{tensor.name} of shape {shape_tensor} at axis {axis}") from None
        leading_size = apply_op("Prod", input=shape(tensor)[axis:axis + ndims_mask], reduction_indices=[0])
        tensor = reshape(tensor, concat([shape(tensor)[:axis], [leading_size],
                                         shape(tensor)[axis + ndims_mask:]], 0))
        if axis_value is not None and shape_tensor.ndims is not None:
            first_dim = shape_tensor[axis:axis + ndims_mask].num_elements()
            tensor.set_shape(tensor_shape.as_shape(shape_tensor[:axis]).concatenate([first_dim])
                             .concatenate(shape_tensor[axis + ndims_mask:]))
        mask = reshape(mask, [-1])
        indices = squeeze(where(mask), axis=[1])
        return gather(tensor, indices, axis=axis)


EXPORTS = {"": ["boolean_mask"]}
