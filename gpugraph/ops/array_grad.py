"""Gradients of the array, slicing and state ops, ported from TensorFlow's ``array_grad.py`` (and
the variable-read gradients of ``resource_variable_ops.py``).

GatherV2's gradient is dense here: where TensorFlow returns IndexedSlices(values, indices,
params_shape), we return their sum into a dense tensor with UnsortedSegmentSum — the very op
TensorFlow uses when it turns those IndexedSlices into a Tensor.

Example:
    >>> y = tf.reduce_sum(tf.concat([a, b], axis=1))
    >>> da, db = tf.gradients(y, [a, b])        # Slices of the gradient at ConcatOffset offsets
"""

from gpugraph.framework import dtypes, ops
from gpugraph.framework.op_builder import apply_op, constant, constant_value
from gpugraph.ops import grad_util as gu
from gpugraph.ops.gradients_impl import RegisterGradient, not_differentiable


# -- joining and splitting ------------------------------------------------------------------------------
@RegisterGradient("Pack")
def _pack_grad(op, grad):
    with ops.name_scope("unstack") as scope:
        return apply_op("Unpack", value=grad, num=op.get_attr("N"), axis=op.get_attr("axis"), name=scope)


@RegisterGradient("Unpack")
def _unpack_grad(op, *grads):
    with ops.name_scope("stack") as scope:
        return apply_op("Pack", values=list(grads), axis=op.get_attr("axis"), name=scope)


@RegisterGradient("ConcatV2")
def _concat_v2_grad(op, grad):
    values, concat_dim = op.inputs[:-1], op.inputs[-1]
    if len(values) == 1:
        return [grad, None]
    non_neg_dim = apply_op("FloorMod", x=concat_dim, y=gu.rank(values[0]))
    if all(v.shape.is_fully_defined() for v in values):
        sizes = [gu.shape(v) for v in values]
    else:
        sizes = apply_op("ShapeN", input=list(values), out_type=dtypes.int32)
    if len(sizes) > 16:
        stacked = apply_op("Pack", values=list(sizes), axis=1)
        size_splits = gu.op("Squeeze", input=gu.op(
            "Slice", input=stacked, begin=apply_op("Pack", values=[non_neg_dim, constant(0)], axis=0),
            size=[1, -1]))
        out = apply_op("SplitV", value=grad, size_splits=size_splits, split_dim=non_neg_dim,
                       num_split=len(values))
    else:
        offsets = apply_op("ConcatOffset", concat_dim=non_neg_dim, shape=list(sizes))
        out = [gu.op("Slice", input=grad, begin=begin, size=size) for begin, size in zip(offsets, sizes)]
    return list(out) + [None]


@RegisterGradient("Split")
def _split_grad(op, *grads):
    return None, gu.concat(list(grads), op.inputs[0])


@RegisterGradient("SplitV")
def _split_v_grad(op, *grads):
    return [gu.concat(list(grads), op.inputs[2])] + [None] * (len(op.inputs) - 1)


# -- slicing -------------------------------------------------------------------------------------------
@RegisterGradient("Slice")
def _slice_grad(op, grad):
    x, begin = op.inputs[0], op.inputs[1]
    index_dtype = begin.dtype.base_dtype
    input_rank = gu.rank(x)
    slice_size = gu.shape(op.outputs[0], out_type=index_dtype)
    with ops.name_scope("stack") as scope:
        shape = apply_op("Pack", values=[input_rank, constant(1)], axis=0, name=scope)
    if index_dtype != dtypes.int32:
        shape = gu.cast(shape, index_dtype)
    before_pad = gu.reshape(begin, shape)
    after = _sub(_sub(gu.shape(x, out_type=index_dtype), slice_size), begin)
    after_pad = gu.reshape(after, shape)
    paddings = gu.concat([before_pad, after_pad], 1)
    return gu.op("Pad", input=grad, paddings=paddings), None, None


def _sub(x, y):
    with ops.name_scope("sub") as scope:
        return apply_op("Sub", x=x, y=y, name=scope)


@RegisterGradient("StridedSlice")
def _strided_slice_grad(op, grad):
    begin, end, strides = op.inputs[1], op.inputs[2], op.inputs[3]
    index = begin.dtype.base_dtype
    x = gu.shape(op.inputs[0], out_type=index)
    x_static = constant_value(x)
    args = {}
    for key, t in (("shape", x), ("begin", begin), ("end", end), ("strides", strides)):
        value = x_static if key == "shape" else constant_value(t)
        args[key] = value.tolist() if value is not None else t
    masks = {k: op.get_attr(k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                         "shrink_axis_mask")}
    return gu.op("StridedSliceGrad", dy=grad, Index=index, **args, **masks), None, None, None


@RegisterGradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, grad):
    masks = {k: op.get_attr(k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                         "shrink_axis_mask")}
    dy = apply_op("StridedSlice", input=grad, begin=op.inputs[1], end=op.inputs[2], strides=op.inputs[3],
                  **masks)
    return None, None, None, None, dy


@RegisterGradient("GatherV2")
def _gather_v2_grad(op, grad):
    params, indices, axis_t = op.inputs
    if op.get_attr("batch_dims") != 0:
        raise LookupError(f"the gradient of GatherV2 with batch_dims != 0 is not implemented (node {op.name})")
    axis = constant_value(axis_t)
    rank = params.shape.ndims
    if axis is None or rank is None:
        raise LookupError(f"the gradient of GatherV2 needs a constant axis and params of known rank "
                          f"(node {op.name})")
    axis = int(axis) % rank
    with params.graph.colocate_with(params.op):
        params_shape = gu.shape(params)
    indices_size = gu.expand_dims(gu.size(indices), 0)
    if params.shape.is_fully_defined():
        dims = params.shape.as_list()
        values_shape = dims[:axis] + [-1] + dims[axis + 1:]
        num_segments = dims[axis]
    else:
        outer = gu.strided_slice_1d(params_shape, 0, axis) if axis else None
        inner = gu.strided_slice_1d(params_shape, axis + 1, None)
        values_shape = gu.concat(([outer] if axis else []) + [[-1], inner], 0)
        with ops.name_scope("strided_slice") as scope:
            num_segments = apply_op("StridedSlice", input=params_shape, begin=constant([axis]),
                                    end=constant([axis + 1]), strides=constant([1]),
                                    shrink_axis_mask=1, name=scope)
    values = gu.reshape(grad, values_shape)
    flat_indices = gu.reshape(indices, indices_size)
    if axis:
        perm = [axis] + list(range(axis)) + list(range(axis + 1, rank))
        values = gu.transpose(values, perm)
    params_grad = gu.op("UnsortedSegmentSum", data=values, segment_ids=flat_indices,
                        num_segments=num_segments)
    if axis:
        inverse = list(range(1, axis + 1)) + [0] + list(range(axis + 1, rank))
        params_grad = gu.transpose(params_grad, inverse)
    return [params_grad, None, None]


# -- reshaping -------------------------------------------------------------------------------------------
@RegisterGradient("Reshape")
def _reshape_grad(op, grad):
    s = op.inputs[0].shape
    if s.ndims is not None and not s.is_fully_defined():
        dims = s.as_list()
        undefined = [i for i, d in enumerate(dims) if d is None]
        if len(undefined) == 1 and 0 not in dims:
            dims[undefined[0]] = -1  # a wildcard avoids a run-time Shape op
            return [gu.reshape(grad, dims), None]
    return [gu.reshape(grad, gu.shape(op.inputs[0])), None]


def _reshape_to_input(op, grad):
    return gu.reshape(grad, gu.shape(op.inputs[0]))


RegisterGradient("ExpandDims")(lambda op, grad: [_reshape_to_input(op, grad), None])
RegisterGradient("Squeeze")(lambda op, grad: _reshape_to_input(op, grad))


@RegisterGradient("Transpose")
def _transpose_grad(op, grad):
    return [gu.transpose(grad, apply_op("InvertPermutation", x=op.inputs[1])), None]


@RegisterGradient("ConjugateTranspose")
def _conjugate_transpose_grad(op, grad):
    with ops.name_scope("transpose") as scope:
        return [apply_op("ConjugateTranspose", x=grad, perm=apply_op("InvertPermutation", x=op.inputs[1]),
                         name=scope), None]


@RegisterGradient("Tile")
def _tile_grad(op, grad):
    multiples = op.inputs[1]
    input_shape = gu.shape(op.inputs[0], out_type=multiples.dtype.base_dtype)
    with ops.name_scope("stack") as scope:
        stacked = apply_op("Pack", values=[multiples, input_shape], axis=0, name=scope)
    split_shape = gu.reshape(gu.transpose(stacked, [1, 0]), [-1])
    axes = gu.range_(0, gu.size(split_shape), 2)
    input_grad = gu.reduce_sum(gu.reshape(grad, split_shape), axes)
    input_grad.set_shape(op.inputs[0].shape)
    return [input_grad, None]


@RegisterGradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    x, broadcast_shape = op.inputs
    shape_dtype = broadcast_shape.dtype.base_dtype
    input_shape = gu.shape(x, out_type=shape_dtype)
    static = constant_value(broadcast_shape)
    if static is not None:
        broadcast_shape = constant(static, dtype=shape_dtype, name="Const")
    _, axes = apply_op("BroadcastGradientArgs", s0=broadcast_shape, s1=input_shape)
    summed = gu.reduce_sum(grad, axes, keepdims=True)
    return [gu.reshape(summed, input_shape), None]


def _pad_grad(op, grad):
    x, a = op.inputs[0], op.inputs[1]
    with ops.name_scope("stack") as scope:
        size = apply_op("Pack", values=[gu.rank(x), constant(1)], axis=0, name=scope)
    if a.dtype.base_dtype != dtypes.int32:
        size = gu.cast(size, a.dtype.base_dtype)
    pad_before = gu.op("Slice", input=a, begin=constant([0, 0], dtype=a.dtype.base_dtype), size=size)
    begin = gu.reshape(pad_before, [-1])
    sizes = gu.shape(x, out_type=begin.dtype.base_dtype)
    x_grad = gu.op("Slice", input=grad, begin=begin, size=sizes)
    return (x_grad, None, None) if len(op.inputs) == 3 else (x_grad, None)


RegisterGradient("Pad")(_pad_grad)
RegisterGradient("PadV2")(_pad_grad)


@RegisterGradient("ReverseV2")
def _reverse_v2_grad(op, grad):
    return apply_op("ReverseV2", tensor=grad, axis=op.inputs[1]), None


@RegisterGradient("MirrorPad")
def _mirror_pad_grad(op, grad):
    return apply_op("MirrorPadGrad", input=grad, paddings=op.inputs[1], mode=op.get_attr("mode").decode()), None


@RegisterGradient("MirrorPadGrad")
def _mirror_pad_grad_grad(op, grad):
    return apply_op("MirrorPad", input=grad, paddings=op.inputs[1], mode=op.get_attr("mode").decode()), None


@RegisterGradient("Fill")
def _fill_grad(op, grad):
    rank = grad.shape.ndims
    axes = list(range(rank)) if rank is not None else gu.range_(0, gu.rank(grad))
    if rank is not None:
        axes = constant(axes, dtype=dtypes.int32, name="Const")
    return None, gu.reduce_sum(grad, axes)


# -- identities and variable reads --------------------------------------------------------------------------
for _t in ("Identity", "PlaceholderWithDefault", "RefIdentity", "Snapshot", "ReadVariableOp"):
    RegisterGradient(_t)(lambda op, grad: grad)
RegisterGradient("IdentityN")(lambda op, *grads: list(grads))


@RegisterGradient("PreventGradient")
def _prevent_gradient_grad(op, grad):
    raise LookupError(f"Gradient explicitly disabled. Reason: {op.get_attr('message')}")


not_differentiable(
    "Const", "ZerosLike", "OnesLike", "StopGradient", "Shape", "ShapeN", "Rank", "Size",
    "InvertPermutation", "BroadcastGradientArgs", "ConcatOffset", "OneHot", "Where",
    # state ops (TF's state_grad.py and resource_variable_ops.py)
    "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
    "AssignSubVariableOp", "IsVariableInitialized", "VarIsInitializedOp", "VariableShape",
    "ScatterAdd", "ScatterSub", "ScatterMul", "ScatterDiv", "ScatterUpdate", "ScatterNdUpdate",
    # random ops take only shapes and seeds
    "RandomUniform", "RandomStandardNormal", "TruncatedNormal", "RandomUniformInt",
    "RandomShuffle", "Multinomial")
