"""TensorFlow-1 TensorArrays: ``TensorArrayV3`` and its Read/Write/Gather/Scatter/Concat/Split/Size/
Close/Grad ops, and ``gpugraph.TensorArray`` (the ``tf.compat.v1.TensorArray`` API).

A TensorArray is a per-run list of tensors: ``TensorArrayV3`` creates one (its ``handle`` output
carries the Python object, its ``flow`` output a float scalar) and every other op takes the handle
and a flow. The flow does not carry data; it orders the ops (a read after the write whose flow it
takes) and it is what a ``while_loop`` carries for a TensorArray loop variable. Semantics follow
TensorFlow's kernels: fixed size unless ``dynamic_size``, each index written once, a read
clears the element when ``clear_after_read``, an unwritten element reads as zeros when the
element shape is fully known.

Example:
    >>> ta = tf.TensorArray(tf.float32, size=3)
    >>> ta = ta.write(0, 1.0).write(1, 2.0).write(2, 3.0)
    >>> tf.Session().run(ta.stack())
    array([1., 2., 3.], dtype=float32)
"""

import contextlib

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant_value, convert_to_tensor
from gpugraph.framework.registry import register_op

TensorShape = tensor_shape.TensorShape


class TensorArrayState:
    """The run-time value behind a TensorArray handle (what the kernels share)."""

    def __init__(self, name, dtype, size, dynamic_size, clear_after_read, identical_shapes, element_shape,
                 multiple_writes_aggregate=False):
        self.name = name
        self.dtype = np.dtype(dtype)
        self.values = [None] * size
        self.shapes = [None] * size               # each written element's shape (kept after clearing)
        self.written = [False] * size
        self.cleared = [False] * size
        self.dynamic_size = dynamic_size
        self.clear_after_read = clear_after_read
        self.identical_shapes = identical_shapes
        self.element_shape = element_shape        # TensorShape; refined by writes
        self.multiple_writes_aggregate = multiple_writes_aggregate
        self.closed = False
        self.grads = {}                           # source -> gradient TensorArrayState

    def __repr__(self):
        return f"<TensorArray {self.name} size={len(self.values)} dtype={self.dtype}>"

    @property
    def size(self):
        return len(self.values)

    def check_open(self, ctx):
        if self.closed:
            raise ctx.error(f"TensorArray {self.name} has already been closed.")

    def write(self, ctx, index, value):
        self.check_open(ctx)
        value = np.asarray(value)
        if value.dtype != self.dtype:
            raise ctx.error(f"TensorArray dtype is {dtypes.as_dtype(self.dtype).name} but Op is trying to "
                            f"write dtype {dtypes.as_dtype(value.dtype).name}")
        if index < 0:
            raise ctx.error(f"Tried to write to index {index} but array size is: {self.size}")
        if index >= self.size:
            if not self.dynamic_size:
                raise ctx.error(f"Tried to write to index {index} but array is not resizeable and size "
                                f"is: {self.size}")
            grow = index + 1 - self.size
            self.values.extend([None] * grow)
            self.shapes.extend([None] * grow)
            self.written.extend([False] * grow)
            self.cleared.extend([False] * grow)
        shape = TensorShape(value.shape)
        if not self.element_shape.is_compatible_with(shape):
            raise ctx.error(f"Could not write to TensorArray index {index} because the value shape is "
                            f"{_fmt(value.shape)} which is incompatible with the TensorArray's inferred "
                            f"element shape: {self.element_shape} (consider setting infer_shape=False).")
        if self.identical_shapes:
            self.element_shape = self.element_shape.merge_with(shape)
        if self.written[index]:
            if self.cleared[index]:
                raise ctx.error(f"Could not write to TensorArray index {index} because it has already been "
                                f"read and cleared.")
            if not self.multiple_writes_aggregate:
                raise ctx.error(f"Could not write to TensorArray index {index} because it has already been "
                                f"written to.")
            if self.values[index].shape != value.shape:
                raise ctx.error(f"Could not aggregate to TensorArray index {index} because the existing shape "
                                f"is {_fmt(self.values[index].shape)} but the new input shape is "
                                f"{_fmt(value.shape)}.")
            value = self.values[index] + value
        self.values[index] = value
        self.shapes[index] = value.shape
        self.written[index] = True

    def read(self, ctx, index):
        self.check_open(ctx)
        if index < 0 or index >= self.size:
            raise ctx.error(f"Tried to read from index {index} but array size is: {self.size}")
        if self.cleared[index]:
            raise ctx.error(f"Could not read index {index} twice because it was cleared after a previous "
                            f"read (perhaps try setting clear_after_read = false?)")
        if not self.written[index]:
            if self.shapes[index] is not None:  # a gradient array: zeros shaped like the forward element
                return np.zeros(self.shapes[index], self.dtype)
            if not self.element_shape.is_fully_defined():
                raise ctx.error(f"TensorArray {self.name}: Could not read from TensorArray index {index}.  "
                                f"Furthermore, the element shape is not fully defined: "
                                f"{self.element_shape}.  It is possible you are working with a resizeable "
                                f"TensorArray and stop_gradients is not allowing the gradients to be "
                                f"written.  If you set the full element_shape property on the forward "
                                f"TensorArray, the proper all-zeros tensor will be returned instead of "
                                f"incurring this error.")
            return np.zeros(self.element_shape.as_list(), self.dtype)
        value = self.values[index]
        if self.clear_after_read:
            self.values[index] = None
            self.cleared[index] = True
        return value


def _fmt(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


# -- kernels ----------------------------------------------------------------------------------------
def _index(ctx, value, what="index"):
    value = np.asarray(value)
    if value.ndim != 0:
        raise ctx.error(f"TensorArray {what} must be a scalar, got shape {_fmt(value.shape)}")
    return int(value)


def _ta(ctx, handle):
    if not isinstance(handle, TensorArrayState):
        raise ctx.error(f"expected a TensorArray handle, got {type(handle).__name__}")
    return handle


def _tensor_array_v3(ctx, size):
    size = _index(ctx, size, "size")
    if size < 0:
        raise ctx.error(f"Size should be >= 0, got {size}")
    a = ctx.attrs
    name = a["tensor_array_name"] or ctx.node_name
    state = TensorArrayState(name, a["dtype"].as_numpy_dtype, size,
                             a["dynamic_size"], a["clear_after_read"], a["identical_element_shapes"],
                             a["element_shape"])
    return state, np.float32(0)


def _read_v3(ctx, handle, index, flow):
    return _ta(ctx, handle).read(ctx, _index(ctx, index))


def _write_v3(ctx, handle, index, value, flow):
    _ta(ctx, handle).write(ctx, _index(ctx, index), value)
    return np.float32(0)


def _gather_v3(ctx, handle, indices, flow):
    ta = _ta(ctx, handle)
    indices = np.asarray(indices)
    if indices.ndim != 1:
        raise ctx.error(f"indices must be a vector, got shape {_fmt(indices.shape)}")
    values = [ta.read(ctx, int(i)) for i in indices]
    if not values:
        shape = ta.element_shape.merge_with(ctx.attrs["element_shape"])
        if not shape.is_fully_defined():
            raise ctx.error(f"TensorArray has size zero, but element shape {shape} is not fully defined. "
                            f"Currently only static shapes are supported when packing zero-size "
                            f"TensorArrays.")
        return np.zeros([0] + shape.as_list(), ta.dtype)
    first = values[0].shape
    for i, v in zip(indices, values):
        if v.shape != first:
            raise ctx.error(f"TensorArray has inconsistent shapes.  Index 0 has shape: {_fmt(first)} but "
                            f"index {int(i)} has shape: {_fmt(v.shape)}")
    return np.stack(values)


def _scatter_v3(ctx, handle, indices, value, flow):
    ta = _ta(ctx, handle)
    indices = np.asarray(indices)
    value = np.asarray(value)
    if indices.ndim != 1:
        raise ctx.error(f"indices must be a vector, got shape {_fmt(indices.shape)}")
    if value.ndim < 1 or value.shape[0] != indices.shape[0]:
        raise ctx.error(f"Expected len(indices) == values.shape[0], but saw: {indices.shape[0]} vs. "
                        f"{value.shape[0] if value.ndim else 'a scalar'}")
    for k, i in enumerate(indices):
        ta.write(ctx, int(i), value[k])
    return np.float32(0)


def _concat_v3(ctx, handle, flow):
    ta = _ta(ctx, handle)
    values = [ta.read(ctx, i) for i in range(ta.size)]
    lengths = np.array([v.shape[0] if v.ndim else 0 for v in values], np.int64)
    if not values:
        shape = ctx.attrs["element_shape_except0"]
        if not shape.is_fully_defined():
            raise ctx.error("TensorArray has size zero, but element_shape_except0 is not fully defined. "
                            "Currently only static shapes are supported when concatenating zero-size "
                            "TensorArrays.")
        return np.zeros([0] + shape.as_list(), ta.dtype), lengths
    for i, v in enumerate(values):
        if v.ndim == 0:
            raise ctx.error(f"Concat saw a scalar shape at index {i} but requires at least vectors.")
        if v.shape[1:] != values[0].shape[1:]:
            raise ctx.error(f"TensorArray has inconsistent shapes.  Index 0 has (excepting dimension 0) "
                            f"shape: {_fmt(values[0].shape[1:])} but index {i} has (excepting dimension 0) "
                            f"shape: {_fmt(v.shape[1:])}")
    return np.concatenate(values, axis=0), lengths


def _split_v3(ctx, handle, value, lengths, flow):
    ta = _ta(ctx, handle)
    value = np.asarray(value)
    lengths = np.asarray(lengths)
    if value.ndim < 1:
        raise ctx.error(f"Expected value to be at least a vector, but received shape: {_fmt(value.shape)}")
    if lengths.ndim != 1:
        raise ctx.error(f"Expected lengths to be a vector, received shape: {_fmt(lengths.shape)}")
    if int(lengths.sum()) != value.shape[0]:
        raise ctx.error(f"Expected sum of lengths to be equal to values.shape[0], but sum of lengths is "
                        f"{int(lengths.sum())} and value's shape is: {_fmt(value.shape)}")
    if not ta.dynamic_size and ta.size != len(lengths):
        raise ctx.error(f"TensorArray's size is not equal to the size of lengths ({len(lengths)} vs. "
                        f"{ta.size}), and the TensorArray is not marked as dynamically resizeable")
    start = 0
    for i, n in enumerate(lengths):
        ta.write(ctx, i, value[start:start + int(n)])
        start += int(n)
    return np.float32(0)


def _size_v3(ctx, handle, flow):
    return np.int32(_ta(ctx, handle).size)


def _close_v3(ctx, handle):
    ta = _ta(ctx, handle)
    ta.closed = True
    ta.values = [None] * ta.size
    return None


def _grad_v3(ctx, handle, flow):
    ta = _ta(ctx, handle)
    source = ctx.attrs["source"]
    grad = ta.grads.get(source)
    if grad is None:
        # Same size as the forward array when the gradient is made; it aggregates multiple writes.
        grad = TensorArrayState(f"{ta.name}@{source}", ta.dtype, ta.size, False, True,
                                ta.identical_shapes, ta.element_shape, multiple_writes_aggregate=True)
        grad.shapes = list(ta.shapes)  # TF's CopyShapesFrom: unwritten gradients read as zeros
        ta.grads[source] = grad
    return grad, np.float32(0)


# -- shape functions ------------------------------------------------------------------------------
def _scalar_input(op, i, what):
    s = op.inputs[i].shape
    if s.ndims is not None and s.ndims != 0:
        raise ValueError(f"Shape must be rank 0 but is rank {s.ndims} for '{op.name}' ({op.type}) "
                         f"input '{what}' with shape {s}")


def _handle_element_shape(handle):
    """The element shape a TensorArray handle's creator declares (TF's handle shape data):
    follows the handle back through Enter / Identity / Switch / Merge to TensorArrayV3."""
    seen = 0
    t = handle
    while t is not None and seen < 64:
        op = t.op
        if op.type == "TensorArrayV3":
            shape = op.get_attr("element_shape")
            if shape.is_fully_defined() or op.get_attr("identical_element_shapes"):
                return shape
            return TensorShape(None)
        if op.type in ("Enter", "RefEnter", "Identity", "Switch", "Merge", "Exit", "NextIteration") \
                and op.inputs:
            t = op.inputs[0]
            seen += 1
            continue
        return TensorShape(None)
    return TensorShape(None)


def _tensor_array_v3_shape(op):
    _scalar_input(op, 0, "size")
    return [TensorShape([2]), TensorShape([])]


def _read_shape(op):
    _scalar_input(op, 1, "index")
    _scalar_input(op, 2, "flow_in")
    return [_handle_element_shape(op.inputs[0])]


def _write_shape(op):
    _scalar_input(op, 1, "index")
    _scalar_input(op, 3, "flow_in")
    declared = _handle_element_shape(op.inputs[0])
    if not declared.is_compatible_with(op.inputs[2].shape):
        raise ValueError(f"'{op.name}': the value's shape {op.inputs[2].shape} is incompatible with the "
                         f"TensorArray's element shape {declared}")
    return [TensorShape([])]


def _gather_shape(op):
    indices = op.inputs[1].shape
    if indices.ndims is not None and indices.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {indices.ndims} for '{op.name}' indices")
    _scalar_input(op, 2, "flow_in")
    element = op.get_attr("element_shape")
    element = element.merge_with(_handle_element_shape(op.inputs[0])) \
        if element.is_compatible_with(_handle_element_shape(op.inputs[0])) else element
    n = indices[0].value if indices.ndims == 1 else None
    return [TensorShape([n]).concatenate(element)]


def _scatter_shape(op):
    indices = op.inputs[1].shape
    if indices.ndims is not None and indices.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {indices.ndims} for '{op.name}' indices")
    value = op.inputs[2].shape
    if value.ndims is not None and value.ndims < 1:
        raise ValueError(f"Shape must be at least rank 1 but is rank 0 for '{op.name}' value")
    _scalar_input(op, 3, "flow_in")
    return [TensorShape([])]


def _concat_shape(op):
    _scalar_input(op, 1, "flow_in")
    return [TensorShape(None), TensorShape([None])]


def _split_shape(op):
    value = op.inputs[1].shape
    if value.ndims is not None and value.ndims < 1:
        raise ValueError(f"Shape must be at least rank 1 but is rank 0 for '{op.name}' value")
    lengths = op.inputs[2].shape
    if lengths.ndims is not None and lengths.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {lengths.ndims} for '{op.name}' lengths")
    _scalar_input(op, 3, "flow_in")
    return [TensorShape([])]


def _size_shape(op):
    _scalar_input(op, 1, "flow_in")
    return [TensorShape([])]


def _grad_shape(op):
    _scalar_input(op, 1, "flow_in")
    return [TensorShape([2]), TensorShape([])]


# -- registrations ----------------------------------------------------------------------------------
register_op("TensorArrayV3", inputs=["size: int32"], outputs=["handle: resource", "flow: float"],
            attrs=["dtype: type", "element_shape: shape = { unknown_rank: true }",
                   "dynamic_size: bool = false", "clear_after_read: bool = true",
                   "identical_element_shapes: bool = false", "tensor_array_name: string = ''"],
            shape=_tensor_array_v3_shape, cpu=_tensor_array_v3, stateful=True)
register_op("TensorArrayReadV3", inputs=["handle: resource", "index: int32", "flow_in: float"],
            outputs=["value: dtype"], attrs=["dtype: type"], shape=_read_shape, cpu=_read_v3, stateful=True)
register_op("TensorArrayWriteV3", inputs=["handle: resource", "index: int32", "value: T", "flow_in: float"],
            outputs=["flow_out: float"], attrs=["T: type"], shape=_write_shape, cpu=_write_v3, stateful=True)
register_op("TensorArrayGatherV3", inputs=["handle: resource", "indices: int32", "flow_in: float"],
            outputs=["value: dtype"], attrs=["dtype: type", "element_shape: shape = { unknown_rank: true }"],
            shape=_gather_shape, cpu=_gather_v3, stateful=True)
register_op("TensorArrayScatterV3", inputs=["handle: resource", "indices: int32", "value: T", "flow_in: float"],
            outputs=["flow_out: float"], attrs=["T: type"], shape=_scatter_shape, cpu=_scatter_v3, stateful=True)
register_op("TensorArrayConcatV3", inputs=["handle: resource", "flow_in: float"],
            outputs=["value: dtype", "lengths: int64"],
            attrs=["dtype: type", "element_shape_except0: shape = { unknown_rank: true }"],
            shape=_concat_shape, cpu=_concat_v3, stateful=True)
register_op("TensorArraySplitV3", inputs=["handle: resource", "value: T", "lengths: int64", "flow_in: float"],
            outputs=["flow_out: float"], attrs=["T: type"], shape=_split_shape, cpu=_split_v3, stateful=True)
register_op("TensorArraySizeV3", inputs=["handle: resource", "flow_in: float"], outputs=["size: int32"],
            shape=_size_shape, cpu=_size_v3, stateful=True)
register_op("TensorArrayCloseV3", inputs=["handle: resource"], shape=lambda op: [], cpu=_close_v3,
            stateful=True)
register_op("TensorArrayGradV3", inputs=["handle: resource", "flow_in: float"],
            outputs=["grad_handle: resource", "flow_out: float"], attrs=["source: string"],
            shape=_grad_shape, cpu=_grad_v3, stateful=True)


# -- the API ------------------------------------------------------------------------------------------
class TensorArray:
    """``tf.compat.v1.TensorArray``: a list of tensors of one dtype that graph ops write and read.

    Writes return a new TensorArray object (same handle, new flow): always use the returned one.
    Inside ``while_loop`` a TensorArray can be a loop variable.

    Example:
        >>> ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        >>> ta = ta.unstack(tf.constant([[1.0, 2.0], [3.0, 4.0]]))
        >>> first = ta.read(0)
    """

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None, tensor_array_name=None,
                 handle=None, flow=None, infer_shape=True, element_shape=None,
                 colocate_with_first_write_call=True, name=None):
        if handle is not None and tensor_array_name:
            raise ValueError("Cannot provide both `handle` and `tensor_array_name` arguments at the same time.")
        if handle is not None and not isinstance(handle, ops.Tensor):
            raise TypeError(f"Expected `handle` to be a Tensor, but got `{handle}` of type `{type(handle)}` "
                            f"instead.")
        if handle is None and size is None:
            raise ValueError("Argument `size` must be provided if handle is not provided.")
        if handle is not None and size is not None:
            raise ValueError("Cannot provide both a `handle` and `size` arguments at the same time.")
        if handle is not None and element_shape is not None:
            raise ValueError("Cannot provide both `handle` and `element_shape` arguments at the same time.")
        if handle is not None and dynamic_size is not None:
            raise ValueError("Cannot provide both `handle` and `dynamic_size` arguments at the same time.")
        if handle is not None and clear_after_read is not None:
            raise ValueError("Cannot provide both `handle` and `clear_after_read` arguments at the same time.")
        if clear_after_read is None:
            clear_after_read = True
        self._dynamic_size = dynamic_size or False
        self._dtype = dtypes.as_dtype(dtype).base_dtype
        self._colocate_with_first_write_call = colocate_with_first_write_call
        self._colocate_with = [] if colocate_with_first_write_call else None
        self._element_shape = [tensor_shape.as_shape(element_shape)]  # shared by the flow copies
        self._infer_shape = infer_shape
        self._size = size
        with ops.name_scope(name, "TensorArray", [x for x in (handle, size, flow) if isinstance(x, ops.Tensor)]) \
                as scope:
            if handle is not None:
                self._handle = handle
                if flow is None:
                    raise ValueError("flow must not be None if handle is not None.")
                self._flow = flow
            else:
                def create():
                    return apply_op("TensorArrayV3", size=size, dtype=self._dtype,
                                    element_shape=tensor_shape.as_shape(element_shape),
                                    identical_element_shapes=bool(infer_shape),
                                    dynamic_size=bool(self._dynamic_size), clear_after_read=bool(clear_after_read),
                                    tensor_array_name=tensor_array_name or "", name=scope)
                g = ops.get_default_graph()
                if colocate_with_first_write_call:
                    with g.device(None), g.colocate_with(None, ignore_existing=True):
                        self._handle, self._flow = create()
                else:
                    self._handle, self._flow = create()

    flow = property(lambda self: self._flow, doc="The flow tensor (orders this array's ops).")
    dtype = property(lambda self: self._dtype)
    handle = property(lambda self: self._handle)
    dynamic_size = property(lambda self: self._dynamic_size)
    _implementation = property(lambda self: self)

    @property
    def element_shape(self):
        """The static shape every element has (refined by writes when ``infer_shape``)."""
        return self._element_shape[0]

    def _check_element_shape(self, shape):
        if not shape.is_compatible_with(self.element_shape):
            raise ValueError(f"Inconsistent shapes: saw {shape} but expected {self.element_shape} ")
        if self._infer_shape:
            self._element_shape[0] = self.element_shape.merge_with(shape)

    @contextlib.contextmanager
    def _maybe_colocate_with(self, value):
        if not self._colocate_with_first_write_call:
            yield
            return
        if not self._colocate_with:
            self._colocate_with.append(value)
        with ops.get_default_graph().colocate_with(self._colocate_with[0].op):
            yield

    def identity(self):
        """A TensorArray whose flow is an Identity of this one's (e.g. to add control deps)."""
        return build_ta_with_new_flow(self, apply_op("Identity", input=self._flow))

    def grad(self, source, flow=None, name=None):
        """The gradient TensorArray for ``source`` (``TensorArrayGradV3``)."""
        if flow is None:
            flow = self.flow
        with ops.name_scope(name, "TensorArrayGrad", [self._handle]):
            g = ops.get_default_graph()
            with g.colocate_with(self._handle.op):
                g_handle, _ = apply_op("TensorArrayGradV3", handle=self._handle, source=source, flow_in=flow,
                                       name=name)
                with g.control_dependencies([g_handle]):
                    flow = apply_op("Identity", input=flow, name="gradient_flow")
                result = TensorArray(dtype=self._dtype, handle=g_handle, flow=flow, infer_shape=self._infer_shape,
                                     colocate_with_first_write_call=False)
                result._element_shape = self._element_shape
                return result

    def read(self, index, name=None):
        """The element at ``index`` (``TensorArrayReadV3``)."""
        value = apply_op("TensorArrayReadV3", handle=self._handle, index=index, flow_in=self._flow,
                         dtype=self._dtype, name=name)
        if self._element_shape:
            value.set_shape(self._element_shape[0].dims)
        return value

    def write(self, index, value, name=None):
        """Writes ``value`` at ``index``; returns the TensorArray with the new flow."""
        with ops.name_scope(name, "TensorArrayWrite", _tensors(self._handle, index, value)):
            value = convert_to_tensor(value, preferred_dtype=self._dtype, name="value")
            _check_dtypes(value, self._dtype)
            self._check_element_shape(value.shape)
            with self._maybe_colocate_with(value):
                flow_out = apply_op("TensorArrayWriteV3", handle=self._handle, index=index, value=value,
                                    flow_in=self._flow, name=name)
            return build_ta_with_new_flow(self, flow_out)

    def stack(self, name=None):
        """All elements stacked along a new first dimension (a gather of ``range(size)``)."""
        from gpugraph.ops.select_ops import range as range_
        g = ops.get_default_graph()
        with g.colocate_with(self._handle.op):
            with ops.name_scope(name, "TensorArrayStack", [self._handle]):
                value = self.gather(range_(0, self.size()), name=name)
                if self.element_shape and not self._dynamic_size and self._size is not None:
                    size = constant_value(self._size) if isinstance(self._size, ops.Tensor) else self._size
                    value.set_shape([None if size is None else int(size)] + self.element_shape.dims)
                return value

    def gather(self, indices, name=None):
        """The elements at ``indices``, stacked (``TensorArrayGatherV3``)."""
        element_shape = self._element_shape[0] if self._element_shape else TensorShape(None)
        value = apply_op("TensorArrayGatherV3", handle=self._handle, indices=indices, flow_in=self._flow,
                         dtype=self._dtype, element_shape=element_shape, name=name)
        if self.element_shape:
            value.set_shape([None] + self.element_shape.dims)
        return value

    def concat(self, name=None):
        """All elements concatenated along their first dimension (``TensorArrayConcatV3``)."""
        value, _ = apply_op("TensorArrayConcatV3", handle=self._handle, flow_in=self._flow, dtype=self._dtype,
                            element_shape_except0=self.element_shape[1:], name=name)
        if self.element_shape:
            dim0 = None
            if self._infer_shape:
                size = constant_value(self.size())
                if size is not None and self.element_shape[0].value is not None:
                    dim0 = int(size) * self.element_shape[0].value
            value.set_shape([dim0] + self.element_shape.dims[1:])
        return value

    def unstack(self, value, name=None):
        """Writes ``value[i]`` at index ``i`` for every row of ``value``."""
        from gpugraph.ops.array_ops import shape as shape_of
        from gpugraph.ops.select_ops import range as range_
        with ops.name_scope(name, "TensorArrayUnstack", _tensors(self._handle, value)):
            num_elements = shape_of(value)[0]
            return self.scatter(indices=range_(0, num_elements), value=value, name=name)

    def scatter(self, indices, value, name=None):
        """Writes ``value[k]`` at ``indices[k]`` (``TensorArrayScatterV3``)."""
        with ops.name_scope(name, "TensorArrayScatter", _tensors(self._handle, value, indices)):
            value = convert_to_tensor(value, preferred_dtype=self._dtype, name="value")
            _check_dtypes(value, self._dtype)
            self._check_element_shape(value.shape[1:])
            with self._maybe_colocate_with(value):
                flow_out = apply_op("TensorArrayScatterV3", handle=self._handle, indices=indices, value=value,
                                    flow_in=self._flow, name=name)
            return build_ta_with_new_flow(self, flow_out)

    def split(self, value, lengths, name=None):
        """Splits ``value`` along its first dimension into pieces of ``lengths`` (``TensorArraySplitV3``)."""
        from gpugraph.ops.unary_ops import cast
        with ops.name_scope(name, "TensorArraySplit", _tensors(self._handle, value, lengths)):
            value = convert_to_tensor(value, dtype=self._dtype, name="value")
            with self._maybe_colocate_with(value):
                lengths_64 = cast(lengths, dtypes.int64)
                clengths = constant_value(lengths_64)
                if value.shape.dims is not None and clengths is not None:
                    if clengths.shape and clengths.max() == clengths.min():
                        self._check_element_shape(TensorShape([int(clengths[0])]).concatenate(value.shape[1:]))
                flow_out = apply_op("TensorArraySplitV3", handle=self._handle, value=value, lengths=lengths_64,
                                    flow_in=self._flow, name=name)
            return build_ta_with_new_flow(self, flow_out)

    def size(self, name=None):
        """The number of elements: the static size, or ``TensorArraySizeV3`` when dynamic."""
        if not self._dynamic_size and self._size is not None:
            return convert_to_tensor(self._size, dtype=dtypes.int32)
        return apply_op("TensorArraySizeV3", handle=self._handle, flow_in=self._flow, name=name)

    def close(self, name=None):
        """Releases the elements (``TensorArrayCloseV3``)."""
        return apply_op("TensorArrayCloseV3", handle=self._handle, name=name)


def _tensors(*values):
    return [v for v in values if isinstance(v, ops.Tensor)]


def _check_dtypes(value, dtype):
    if value.dtype.base_dtype != dtype:
        raise TypeError(f"TensorArray of dtype {dtype.name} cannot take {value.name} of dtype "
                        f"{value.dtype.name}")


def build_ta_with_new_flow(old_ta, flow):
    """A TensorArray with ``old_ta``'s handle and settings and a new ``flow``."""
    new_ta = TensorArray(dtype=old_ta.dtype, handle=old_ta.handle, flow=flow, infer_shape=old_ta._infer_shape,
                         colocate_with_first_write_call=old_ta._colocate_with_first_write_call)
    new_ta._dynamic_size = old_ta._dynamic_size
    new_ta._size = old_ta._size
    new_ta._colocate_with = old_ta._colocate_with
    new_ta._element_shape = old_ta._element_shape
    return new_ta


EXPORTS = {
    "": ["TensorArray"],
}
