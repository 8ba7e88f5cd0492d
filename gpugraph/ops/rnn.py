"""``tf.compat.v1.nn.dynamic_rnn``: an RNN cell unrolled by a v1 ``while_loop`` over time, in
TensorFlow's graph layout (``rnn/transpose``, ``rnn/TensorArray`` for outputs and inputs, the
``rnn/while`` loop with ``maximum_iterations`` = the number of time steps, ``Select`` nodes that
keep the state and zero the output past each sequence's length, ``rnn/transpose_1``).

Example:
    >>> x = tf.placeholder(tf.float32, [None, 7, 3])
    >>> lengths = tf.placeholder(tf.int32, [None])
    >>> cell = tf.nn.rnn_cell.BasicLSTMCell(5)
    >>> outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
    >>> outputs.shape.as_list(), state.h.shape.as_list()
    ([None, 7, 5], [None, 5])
"""

import gpugraph as gg
from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import constant_value
from gpugraph.ops import control_flow_context as cfc
from gpugraph.ops import nest
from gpugraph.ops import rnn_cell as rnn_cell_impl
from gpugraph.ops import variable_scope as vs
from gpugraph.ops.control_flow_v1 import Assert, while_loop
from gpugraph.ops.tensor_array_ops import TensorArray


def _transpose_batch_time(x):
    """Swaps the first two dimensions (keeping the static shape); rank < 2 is returned as is."""
    x_static_shape = x.shape
    if x_static_shape.ndims is not None and x_static_shape.ndims < 2:
        return x
    x_rank = gg.rank(x)
    x_t = gg.transpose(x, gg.concat(([1, 0], gg.range(2, x_rank)), axis=0))
    x_t.set_shape(tensor_shape.TensorShape([x_static_shape.dims[1].value, x_static_shape.dims[0].value])
                  .concatenate(x_static_shape[2:]))
    return x_t


def _best_effort_input_batch_size(flat_input):
    """The static batch size of time-major inputs when known, else ``tf.shape(input)[1]``."""
    for input_ in flat_input:
        shape = input_.shape
        if shape.ndims is None:
            continue
        if shape.ndims < 2:
            raise ValueError(f"Expected input tensor {input_} to have rank at least 2")
        batch_size = shape.dims[1].value
        if batch_size is not None:
            return batch_size
    return gg.shape(flat_input[0])[1]


def _infer_state_dtype(explicit_dtype, state):
    if explicit_dtype is not None:
        return explicit_dtype
    if nest.is_nested(state):
        inferred = [element.dtype for element in nest.flatten(state)]
        if not inferred:
            raise ValueError(f"Unable to infer dtype from empty state: {state}")
        if not all(x == inferred[0] for x in inferred):
            raise ValueError(f"State has tensors of different inferred_dtypes. Unable to infer a single "
                             f"representative dtype: {inferred}")
        return inferred[0]
    return state.dtype


def _maybe_tensor_shape_from_tensor(shape):
    if isinstance(shape, ops.Tensor):
        return tensor_shape.as_shape(constant_value(shape))
    return shape


def _should_cache():
    """Read variables once per step (TF caches them outside while loops)."""
    ctxt = cfc.get_control_flow_context(ops.get_default_graph())
    while ctxt is not None:
        if ctxt.IsWhileContext():
            return False
        ctxt = ctxt.outer_context
    return True


def _rnn_step(time, sequence_length, min_sequence_length, max_sequence_length, zero_output, state,
              call_cell, state_size, skip_conditionals=False):
    """One step: past a sequence's end its output is zero and its state is carried over."""
    from gpugraph.ops.control_flow_v1 import cond
    flat_state = nest.flatten(state)
    flat_zero_output = nest.flatten(zero_output)
    copy_cond = time >= sequence_length

    def _copy_one_through(output, new_output):
        if isinstance(output, TensorArray):
            return new_output
        if output.shape.ndims == 0:
            return new_output
        with ops.get_default_graph().colocate_with(new_output.op):
            return gg.where(copy_cond, output, new_output)

    def _copy_some_through(flat_new_output, flat_new_state):
        flat_new_output = [_copy_one_through(z, n) for z, n in zip(flat_zero_output, flat_new_output)]
        flat_new_state = [_copy_one_through(s, n) for s, n in zip(flat_state, flat_new_state)]
        return flat_new_output + flat_new_state

    def _maybe_copy_some_through():
        new_output, new_state = call_cell()
        nest.assert_same_structure(zero_output, new_output)
        nest.assert_same_structure(state, new_state)
        flat_new_state = nest.flatten(new_state)
        flat_new_output = nest.flatten(new_output)
        return cond(time < min_sequence_length, lambda: flat_new_output + flat_new_state,
                    lambda: _copy_some_through(flat_new_output, flat_new_state))

    if skip_conditionals:
        new_output, new_state = call_cell()
        nest.assert_same_structure(zero_output, new_output)
        nest.assert_same_structure(state, new_state)
        final_output_and_state = _copy_some_through(nest.flatten(new_output), nest.flatten(new_state))
    else:
        final_output_and_state = cond(time >= max_sequence_length, lambda: flat_zero_output + flat_state,
                                      _maybe_copy_some_through)
    if len(final_output_and_state) != len(flat_zero_output) + len(flat_state):
        raise ValueError("Internal error: state and output were not concatenated correctly.")
    final_output = final_output_and_state[:len(flat_zero_output)]
    final_state = final_output_and_state[len(flat_zero_output):]
    for output, flat_output in zip(final_output, flat_zero_output):
        output.set_shape(flat_output.shape)
    for substate, flat_substate in zip(final_state, flat_state):
        if not isinstance(substate, TensorArray):
            substate.set_shape(flat_substate.shape)
    return (nest.pack_sequence_as(zero_output, final_output), nest.pack_sequence_as(state, final_state))


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None, parallel_iterations=None,
                swap_memory=False, time_major=False, scope=None):
    """Runs ``cell`` over the time dimension of ``inputs`` (``tf.compat.v1.nn.dynamic_rnn``).

    ``inputs``: ``[batch, time, ...]`` (or ``[time, batch, ...]`` with ``time_major``), possibly a
    nested structure. ``sequence_length`` (``[batch]`` int): steps past a sequence's length output
    zeros and keep the state. Without ``initial_state`` the cell's zero state of ``dtype`` is used.
    Returns ``(outputs, final_state)``; variables live under ``scope`` (default ``rnn``).

    Example:
        >>> outputs, state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
    """
    rnn_cell_impl.assert_like_rnncell("cell", cell)
    with vs.variable_scope(scope or "rnn") as varscope:
        if _should_cache() and varscope.caching_device is None:
            varscope.set_caching_device(lambda op: op.device)
        flat_input = nest.flatten(inputs)
        if not time_major:
            flat_input = [gg.convert_to_tensor(input_) for input_ in flat_input]
            flat_input = tuple(_transpose_batch_time(input_) for input_ in flat_input)
        parallel_iterations = parallel_iterations or 32
        if sequence_length is not None:
            sequence_length = gg.cast(sequence_length, dtypes.int32)
            if sequence_length.shape.ndims not in (None, 1):
                raise ValueError(f"sequence_length must be a vector of length batch_size, but saw shape: "
                                 f"{sequence_length.shape}")
            sequence_length = gg.identity(sequence_length, name="sequence_length")
        batch_size = _best_effort_input_batch_size(flat_input)
        if initial_state is not None:
            state = initial_state
        else:
            if not dtype:
                raise ValueError("If there is no initial_state, you must give a dtype.")
            if getattr(cell, "get_initial_state", None) is not None:
                state = cell.get_initial_state(inputs=None, batch_size=batch_size, dtype=dtype)
            else:
                state = cell.zero_state(batch_size, dtype)

        def _assert_has_shape(x, shape):
            x_shape = gg.shape(x)
            packed_shape = gg.stack(shape)
            return Assert(gg.reduce_all(gg.equal(x_shape, packed_shape)),
                          ["Expected shape for Tensor %s is " % x.name, packed_shape, " but saw shape: ", x_shape])

        if sequence_length is not None:
            with ops.control_dependencies([_assert_has_shape(sequence_length, [batch_size])]):
                sequence_length = gg.identity(sequence_length, name="CheckSeqLen")
        inputs = nest.pack_sequence_as(inputs, flat_input)
        outputs, final_state = _dynamic_rnn_loop(cell, inputs, state, parallel_iterations=parallel_iterations,
                                                 swap_memory=swap_memory, sequence_length=sequence_length,
                                                 dtype=dtype)
        if not time_major:
            outputs = nest.map_structure(_transpose_batch_time, outputs)
        return outputs, final_state


def _dynamic_rnn_loop(cell, inputs, initial_state, parallel_iterations, swap_memory, sequence_length=None,
                      dtype=None):
    state = initial_state
    state_size = cell.state_size
    flat_input = nest.flatten(inputs)
    flat_output_size = nest.flatten(cell.output_size)
    input_shape = gg.shape(flat_input[0])
    time_steps = input_shape[0]
    batch_size = _best_effort_input_batch_size(flat_input)
    inputs_got_shape = tuple(input_.shape.with_rank_at_least(3) for input_ in flat_input)
    const_time_steps, const_batch_size = inputs_got_shape[0].as_list()[:2]
    for i, shape in enumerate(inputs_got_shape):
        if not shape[2:].is_fully_defined():
            raise ValueError(f"Input size (depth of inputs) must be accessible via shape inference, but saw "
                             f"value None for input {flat_input[i]}.")
        if const_time_steps != shape.dims[0].value:
            raise ValueError("Time steps is not the same for all the elements in the input in a batch.")
        if const_batch_size != shape.dims[1].value:
            raise ValueError("Batch_size is not the same for all the elements in the input.")

    def _create_zero_arrays(size):
        size = rnn_cell_impl._concat(batch_size, size)
        return gg.zeros(gg.stack(size), _infer_state_dtype(dtype, state))

    flat_zero_output = tuple(_create_zero_arrays(output) for output in flat_output_size)
    zero_output = nest.pack_sequence_as(cell.output_size, flat_zero_output)
    if sequence_length is not None:
        min_sequence_length = gg.reduce_min(sequence_length)
        max_sequence_length = gg.reduce_max(sequence_length)
    else:
        max_sequence_length = time_steps
    time = gg.constant(0, dtype=dtypes.int32, name="time")
    with ops.name_scope("dynamic_rnn") as scope:
        base_name = scope

    def _create_ta(name, element_shape, dtype_):
        return TensorArray(dtype=dtype_, size=time_steps, element_shape=element_shape,
                           tensor_array_name=base_name + name)

    output_ta = tuple(
        _create_ta("output_%d" % i,
                   element_shape=tensor_shape.TensorShape([const_batch_size]).concatenate(
                       _maybe_tensor_shape_from_tensor(out_size)),
                   dtype_=_infer_state_dtype(dtype, state))
        for i, out_size in enumerate(flat_output_size))
    input_ta = tuple(_create_ta("input_%d" % i, element_shape=flat_input_i.shape[1:], dtype_=flat_input_i.dtype)
                     for i, flat_input_i in enumerate(flat_input))
    input_ta = tuple(ta.unstack(input_) for ta, input_ in zip(input_ta, flat_input))

    def _time_step(time, output_ta_t, state):
        input_t = tuple(ta.read(time) for ta in input_ta)
        for input_, shape in zip(input_t, inputs_got_shape):
            input_.set_shape(shape[1:])
        input_t = nest.pack_sequence_as(inputs, input_t)
        call_cell = lambda: cell(input_t, state)  # noqa: E731
        if sequence_length is not None:
            output, new_state = _rnn_step(time=time, sequence_length=sequence_length,
                                          min_sequence_length=min_sequence_length,
                                          max_sequence_length=max_sequence_length, zero_output=zero_output,
                                          state=state, call_cell=call_cell, state_size=state_size,
                                          skip_conditionals=True)
        else:
            output, new_state = call_cell()
        output = nest.flatten(output)
        output_ta_t = tuple(ta.write(time, out) for ta, out in zip(output_ta_t, output))
        return time + 1, output_ta_t, new_state

    loop_bound = gg.minimum(time_steps, gg.maximum(1, max_sequence_length))
    _, output_final_ta, final_state = while_loop(
        cond=lambda time, *_: time < loop_bound, body=_time_step, loop_vars=(time, output_ta, state),
        parallel_iterations=parallel_iterations, maximum_iterations=time_steps, swap_memory=swap_memory)
    final_outputs = tuple(ta.stack() for ta in output_final_ta)
    for output, output_size in zip(final_outputs, flat_output_size):
        shape = rnn_cell_impl._concat([const_time_steps, const_batch_size], output_size, static=True)
        output.set_shape(shape)
    final_outputs = nest.pack_sequence_as(cell.output_size, final_outputs)
    return final_outputs, final_state


EXPORTS = {
    "nn": ["dynamic_rnn"],
}
