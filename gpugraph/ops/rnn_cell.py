"""``tf.compat.v1.nn.rnn_cell``: BasicRNNCell, BasicLSTMCell, LSTMCell, GRUCell, MultiRNNCell,
LSTMStateTuple.

The cells create their variables with TensorFlow 1's names on first call — a cell's variable
scope is ``<enclosing scope>/<cell name>`` (``rnn/basic_lstm_cell/kernel``, ``.../bias``;
``lstm_cell``; ``gru_cell/gates/kernel``, ``gru_cell/candidate/bias``) and its ops go into the
name scope where it is first called (``rnn/while/basic_lstm_cell/MatMul``) — and compute exactly
TensorFlow's equations, so checkpoints and graphs of TF1 RNN models load and match.

Example:
    >>> cell = tf.nn.rnn_cell.BasicLSTMCell(8)
    >>> outputs, state = tf.nn.dynamic_rnn(cell, inputs, dtype=tf.float32)    # doctest: +SKIP
    >>> [v.op.name for v in tf.trainable_variables()]                          # doctest: +SKIP
    ['rnn/basic_lstm_cell/kernel', 'rnn/basic_lstm_cell/bias']
"""

import collections
import logging
import re
import types

import gpugraph as gg
from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import constant_value
from gpugraph.ops import nest
from gpugraph.ops import variable_scope as vs

logger = logging.getLogger("gpugraph")

_BIAS_VARIABLE_NAME = "bias"
_WEIGHTS_VARIABLE_NAME = "kernel"


def _snake_case(name):
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _concat(prefix, suffix, static=False):
    """TF's rnn_cell_impl._concat: ``prefix + suffix`` as a shape tensor (or a static list)."""
    if isinstance(prefix, ops.Tensor):
        p = prefix
        p_static = constant_value(prefix)
        if p.shape.ndims == 0:
            p = gg.expand_dims(p, 0)
        elif p.shape.ndims != 1:
            raise ValueError(f"prefix tensor must be either a scalar or vector, but saw tensor: {p}")
    else:
        p = tensor_shape.TensorShape(prefix)
        p_static = p.as_list() if p.ndims is not None else None
        p = gg.constant(p.as_list(), dtype=dtypes.int32) if p.is_fully_defined() else None
    if isinstance(suffix, ops.Tensor):
        s = suffix
        s_static = None
        if s.shape.ndims == 0:
            s = gg.expand_dims(s, 0)
        elif s.shape.ndims != 1:
            raise ValueError(f"suffix tensor must be either a scalar or vector, but saw tensor: {s}")
    else:
        s = tensor_shape.TensorShape(suffix)
        s_static = s.as_list() if s.ndims is not None else None
        s = gg.constant(s.as_list(), dtype=dtypes.int32) if s.is_fully_defined() else None
    if static:
        shape = tensor_shape.TensorShape(p_static).concatenate(s_static)
        return shape.as_list() if shape.ndims is not None else None
    if p is None or s is None:
        raise ValueError(f"Provided a prefix or suffix of None: {prefix} and {suffix}")
    return gg.concat((p, s), 0)


def _zero_state_tensors(state_size, batch_size, dtype):
    def get_state_shape(s):
        c = _concat(batch_size, s)
        size = gg.zeros(c, dtype=dtype)
        c_static = _concat(batch_size, s, static=True)
        size.set_shape(c_static)
        return size
    return nest.map_structure(get_state_shape, state_size)


def _activation(activation):
    if activation is None:
        return gg.tanh
    if callable(activation):
        return activation
    named = {"tanh": gg.tanh, "relu": gg.nn.relu, "sigmoid": gg.sigmoid, "linear": lambda x: x}
    if activation not in named:
        raise ValueError(f"Unknown activation function: {activation!r}")
    return named[activation]


def assert_like_rnncell(cell_name, cell):
    """TypeError unless ``cell`` has output_size, state_size, zero_state and is callable."""
    conditions = [hasattr(cell, "output_size"), hasattr(cell, "state_size"),
                  hasattr(cell, "get_initial_state") or hasattr(cell, "zero_state"), callable(cell)]
    errors = ["'output_size' property is missing", "'state_size' property is missing",
              "either 'zero_state' or 'get_initial_state' method is required", "is not callable"]
    if not all(conditions):
        problems = "\n".join(f"  {e}" for c, e in zip(conditions, errors) if not c)
        raise TypeError(f"The argument {cell_name!r} ({cell}) is not an RNNCell: {problems}.")


class RNNCell:
    """The base of the v1 RNN cells: ``cell(inputs, state) -> (output, new_state)``.

    Subclasses define ``state_size``, ``output_size``, ``build(input_shape)`` (variables, made
    with ``add_weight`` on the first call) and ``call(inputs, state)``.
    """

    def __init__(self, trainable=True, name=None, dtype=None, _reuse=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")
        self.trainable = trainable
        self._name = name
        self._base_name = name or _snake_case(type(self).__name__)
        self._dtype = dtypes.as_dtype(dtype) if dtype is not None else None
        self._reuse = _reuse
        self._scope = None
        self.built = False
        self._trainable_weights = []

    @property
    def name(self):
        return self._scope.name if self._scope is not None else self._base_name

    @property
    def dtype(self):
        return self._dtype

    @property
    def state_size(self):
        raise NotImplementedError("Abstract method")

    @property
    def output_size(self):
        raise NotImplementedError("Abstract method")

    @property
    def trainable_weights(self):
        return list(self._trainable_weights)

    trainable_variables = trainable_weights
    weights = trainable_weights
    variables = trainable_weights

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, state):
        raise NotImplementedError("Abstract method")

    def add_weight(self, name, shape, dtype=None, initializer=None, partitioner=None, trainable=None):
        """A variable of this cell (``get_variable`` in the cell's variable scope)."""
        v = vs.get_variable(name, shape=shape, dtype=dtype or self._dtype, initializer=initializer,
                            partitioner=partitioner, trainable=self.trainable if trainable is None else trainable)
        if all(v is not w for w in self._trainable_weights):
            self._trainable_weights.append(v)
        return v

    add_variable = add_weight

    def _set_scope(self, scope=None):
        if self._scope is None:
            if self._reuse:
                with vs.variable_scope(scope if scope is not None else self._base_name) as captured:
                    self._scope = captured
            else:
                with vs.variable_scope(scope, default_name=self._base_name) as captured:
                    self._scope = captured

    def __call__(self, inputs, state, scope=None):
        """Runs the cell on ``inputs`` (``[batch, depth]``) and ``state``; builds variables once."""
        inputs = gg.convert_to_tensor(inputs)
        _check_rnn_cell_input_dtypes([inputs, state])
        if self._dtype is None:
            self._dtype = inputs.dtype.base_dtype
        self._set_scope(scope)
        reuse = True if self.built else self._reuse
        with vs.variable_scope(self._scope, reuse=reuse, auxiliary_name_scope=False):
            with ops.name_scope(self._scope.original_name_scope):
                if not self.built:
                    if inputs.shape.ndims is not None and inputs.shape.ndims != 2:
                        raise ValueError(f"Input 0 of layer {self._base_name} is incompatible with the "
                                         f"layer: expected ndim=2, found ndim={inputs.shape.ndims}. Full "
                                         f"shape received: {inputs.shape}")
                    self.build(inputs.shape)
                    self.built = True
                return self.call(inputs, state)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if inputs is not None:
            inputs = gg.convert_to_tensor(inputs, name="inputs")
            batch_size = inputs.shape.dims[0].value or gg.shape(inputs)[0]
            dtype = inputs.dtype
        if batch_size is None or dtype is None:
            raise ValueError(f"batch_size and dtype cannot be None while constructing initial state: "
                             f"batch_size={batch_size}, dtype={dtype}")
        return self.zero_state(batch_size, dtype)

    def zero_state(self, batch_size, dtype):
        """Zero-filled state of shape ``[batch_size] + state_size`` (nested like ``state_size``)."""
        with ops.name_scope(type(self).__name__ + "ZeroState"):
            return _zero_state_tensors(self.state_size, batch_size, dtype)


LayerRNNCell = RNNCell


def _check_rnn_cell_input_dtypes(inputs):
    for t in nest.flatten(inputs):
        dtype = dtypes.as_dtype(t.dtype).base_dtype
        if not (dtype.is_floating or dtype.is_complex):
            raise ValueError(f"RNN cell only supports floating point inputs, but saw dtype: {dtype.name}")


class BasicRNNCell(RNNCell):
    """``output = new_state = act(W * [input, state] + b)``."""

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._activation = _activation(activation)

    state_size = property(lambda self: self._num_units)
    output_size = property(lambda self: self._num_units)

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        self._kernel = self.add_weight(_WEIGHTS_VARIABLE_NAME, shape=[depth + self._num_units, self._num_units])
        self._bias = self.add_weight(_BIAS_VARIABLE_NAME, shape=[self._num_units],
                                     initializer=gg.zeros_initializer(dtype=self._dtype))

    def call(self, inputs, state):
        gate_inputs = gg.matmul(gg.concat([inputs, state], 1), self._kernel)
        gate_inputs = gg.nn.bias_add(gate_inputs, self._bias)
        output = self._activation(gate_inputs)
        return output, output


class GRUCell(RNNCell):
    """Gated recurrent unit (Cho et al. 2014) with TF1's ``gates`` and ``candidate`` variables."""

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None, bias_initializer=None,
                 name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._activation = _activation(activation)
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    state_size = property(lambda self: self._num_units)
    output_size = property(lambda self: self._num_units)

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        n = self._num_units
        self._gate_kernel = self.add_weight(f"gates/{_WEIGHTS_VARIABLE_NAME}", shape=[depth + n, 2 * n],
                                            initializer=self._kernel_initializer)
        self._gate_bias = self.add_weight(
            f"gates/{_BIAS_VARIABLE_NAME}", shape=[2 * n],
            initializer=self._bias_initializer if self._bias_initializer is not None
            else gg.constant_initializer(1.0, dtype=self._dtype))
        self._candidate_kernel = self.add_weight(f"candidate/{_WEIGHTS_VARIABLE_NAME}", shape=[depth + n, n],
                                                 initializer=self._kernel_initializer)
        self._candidate_bias = self.add_weight(
            f"candidate/{_BIAS_VARIABLE_NAME}", shape=[n],
            initializer=self._bias_initializer if self._bias_initializer is not None
            else gg.zeros_initializer(dtype=self._dtype))

    def call(self, inputs, state):
        gate_inputs = gg.matmul(gg.concat([inputs, state], 1), self._gate_kernel)
        gate_inputs = gg.nn.bias_add(gate_inputs, self._gate_bias)
        value = gg.sigmoid(gate_inputs)
        r, u = gg.split(value=value, num_or_size_splits=2, axis=1)
        r_state = r * state
        candidate = gg.matmul(gg.concat([inputs, r_state], 1), self._candidate_kernel)
        candidate = gg.nn.bias_add(candidate, self._candidate_bias)
        c = self._activation(candidate)
        new_h = u * state + (1 - u) * c
        return new_h, new_h


_LSTMStateTuple = collections.namedtuple("LSTMStateTuple", ("c", "h"))


class LSTMStateTuple(_LSTMStateTuple):
    """``(c, h)``: the cell state and the output of an LSTM."""

    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"Inconsistent internal state: {c.dtype} vs {h.dtype}")
        return c.dtype


class BasicLSTMCell(RNNCell):
    """The basic LSTM (no peepholes, no projection): ``forget_bias`` is added to the forget gate.

    Example:
        >>> cell = tf.nn.rnn_cell.BasicLSTMCell(4)
    """

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = _activation(activation)

    @property
    def state_size(self):
        return LSTMStateTuple(self._num_units, self._num_units) if self._state_is_tuple else 2 * self._num_units

    output_size = property(lambda self: self._num_units)

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        self._kernel = self.add_weight(_WEIGHTS_VARIABLE_NAME, shape=[depth + self._num_units, 4 * self._num_units])
        self._bias = self.add_weight(_BIAS_VARIABLE_NAME, shape=[4 * self._num_units],
                                     initializer=gg.zeros_initializer(dtype=self._dtype))

    def call(self, inputs, state):
        sigmoid = gg.sigmoid
        one = gg.constant(1, dtype=dtypes.int32)
        if self._state_is_tuple:
            c, h = state
        else:
            c, h = gg.split(value=state, num_or_size_splits=2, axis=one)
        gate_inputs = gg.matmul(gg.concat([inputs, h], 1), self._kernel)
        gate_inputs = gg.nn.bias_add(gate_inputs, self._bias)
        i, j, f, o = gg.split(value=gate_inputs, num_or_size_splits=4, axis=one)
        forget_bias_tensor = gg.constant(self._forget_bias, dtype=f.dtype)
        add, multiply = gg.add, gg.multiply
        new_c = add(multiply(c, sigmoid(add(f, forget_bias_tensor))), multiply(sigmoid(i), self._activation(j)))
        new_h = multiply(self._activation(new_c), sigmoid(o))
        new_state = LSTMStateTuple(new_c, new_h) if self._state_is_tuple else gg.concat([new_c, new_h], 1)
        return new_h, new_state


class LSTMCell(RNNCell):
    """The LSTM of Hochreiter & Schmidhuber with optional peepholes (``w_f_diag``…), cell clipping
    and a projection layer (``projection/kernel``)."""

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None, num_proj=None,
                 proj_clip=None, num_unit_shards=None, num_proj_shards=None, forget_bias=1.0, state_is_tuple=True,
                 activation=None, reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        self._num_units = num_units
        self._use_peepholes = use_peepholes
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = num_proj
        self._proj_clip = proj_clip
        self._num_unit_shards = num_unit_shards
        self._num_proj_shards = num_proj_shards
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = _activation(activation)
        if num_proj:
            self._state_size = LSTMStateTuple(num_units, num_proj) if state_is_tuple else num_units + num_proj
            self._output_size = num_proj
        else:
            self._state_size = LSTMStateTuple(num_units, num_units) if state_is_tuple else 2 * num_units
            self._output_size = num_units

    state_size = property(lambda self: self._state_size)
    output_size = property(lambda self: self._output_size)

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        h_depth = self._num_units if self._num_proj is None else self._num_proj
        partitioner = gg.fixed_size_partitioner(self._num_unit_shards) if self._num_unit_shards is not None else None
        self._kernel = self.add_weight(_WEIGHTS_VARIABLE_NAME, shape=[depth + h_depth, 4 * self._num_units],
                                       initializer=self._initializer, partitioner=partitioner)
        self._bias = self.add_weight(_BIAS_VARIABLE_NAME, shape=[4 * self._num_units],
                                     initializer=gg.zeros_initializer(dtype=self._dtype))
        if self._use_peepholes:
            self._w_f_diag = self.add_weight("w_f_diag", shape=[self._num_units], initializer=self._initializer)
            self._w_i_diag = self.add_weight("w_i_diag", shape=[self._num_units], initializer=self._initializer)
            self._w_o_diag = self.add_weight("w_o_diag", shape=[self._num_units], initializer=self._initializer)
        if self._num_proj is not None:
            proj_partitioner = gg.fixed_size_partitioner(self._num_proj_shards) \
                if self._num_proj_shards is not None else None
            self._proj_kernel = self.add_weight(f"projection/{_WEIGHTS_VARIABLE_NAME}",
                                                shape=[self._num_units, self._num_proj],
                                                initializer=self._initializer, partitioner=proj_partitioner)

    def call(self, inputs, state):
        num_proj = self._num_units if self._num_proj is None else self._num_proj
        sigmoid = gg.sigmoid
        if self._state_is_tuple:
            c_prev, m_prev = state
        else:
            c_prev = gg.slice(state, [0, 0], [-1, self._num_units])
            m_prev = gg.slice(state, [0, self._num_units], [-1, num_proj])
        if inputs.shape.with_rank(2).dims[1].value is None:
            raise ValueError(f"Could not infer input size from inputs.get_shape()[-1]. Received input shape: "
                             f"{inputs.shape}")
        lstm_matrix = gg.matmul(gg.concat([inputs, m_prev], 1), self._kernel)
        lstm_matrix = gg.nn.bias_add(lstm_matrix, self._bias)
        i, j, f, o = gg.split(value=lstm_matrix, num_or_size_splits=4, axis=1)
        if self._use_peepholes:
            c = sigmoid(f + self._forget_bias + self._w_f_diag * c_prev) * c_prev + \
                sigmoid(i + self._w_i_diag * c_prev) * self._activation(j)
        else:
            c = sigmoid(f + self._forget_bias) * c_prev + sigmoid(i) * self._activation(j)
        if self._cell_clip is not None:
            c = _clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = sigmoid(o + self._w_o_diag * c) * self._activation(c)
        else:
            m = sigmoid(o) * self._activation(c)
        if self._num_proj is not None:
            m = gg.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = _clip_by_value(m, -self._proj_clip, self._proj_clip)
        new_state = LSTMStateTuple(c, m) if self._state_is_tuple else gg.concat([c, m], 1)
        return m, new_state


class MultiRNNCell(RNNCell):
    """Cells stacked in layers: each cell's output is the next one's input; the state is one state
    per cell (a tuple, or all of them concatenated with ``state_is_tuple=False``).

    Layer ``i``'s variables live under ``cell_<i>/`` of the stack's scope, as in TensorFlow 1
    (``rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel``), so TF checkpoints of stacked RNNs load.

    Example:
        >>> cell = tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.BasicLSTMCell(8) for _ in range(2)])
        >>> outputs, (layer0, layer1) = tf.nn.dynamic_rnn(cell, inputs, dtype=tf.float32)  # doctest: +SKIP
    """

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not nest.is_nested(cells):
            raise TypeError(f"cells must be a list or tuple, but saw: {cells}.")
        for i, cell in enumerate(cells):
            assert_like_rnncell(f"cells[{i}]", cell)
        if len({id(cell) for cell in cells}) < len(cells):
            logger.warning("At least two cells provided to MultiRNNCell are the same object and will "
                           "share weights.")
        self._cells = list(cells)
        self._state_is_tuple = state_is_tuple
        if not state_is_tuple and any(nest.is_nested(c.state_size) for c in self._cells):
            raise ValueError("Some cells return tuples of states, but the flag state_is_tuple is not set. "
                             f"State sizes are: {[c.state_size for c in self._cells]}")

    @property
    def state_size(self):
        if self._state_is_tuple:
            return tuple(cell.state_size for cell in self._cells)
        return sum(cell.state_size for cell in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    def zero_state(self, batch_size, dtype):
        with ops.name_scope(type(self).__name__ + "ZeroState"):
            if self._state_is_tuple:
                return tuple(cell.zero_state(batch_size, dtype) for cell in self._cells)
            return super().zero_state(batch_size, dtype)  # its own name scope inside this one, as in TF

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for cell in self._cells for w in cell.trainable_weights]

    trainable_variables = trainable_weights
    weights = trainable_weights
    variables = trainable_weights

    def __call__(self, inputs, state, scope=None):
        if not self.built:
            # TensorFlow 1 names the stack's ops under the name scope of its first call, then the
            # last part of the enclosing variable scope's name, then its own: in dynamic_rnn,
            # "rnn/while/" + "rnn/" + "multi_rnn_cell/" + "cell_0/basic_lstm_cell/MatMul".
            self._first_call_name_scope = ops.get_name_scope()
        return super().__call__(inputs, state, scope=scope)

    def call(self, inputs, state):
        if self._state_is_tuple and not nest.is_nested(state):
            raise ValueError(f"Expected state to be a tuple of length {len(self.state_size)}, but "
                             f"received: {state}")
        if self._state_is_tuple and len(state) != len(self._cells):
            raise ValueError(f"Expected state to be a tuple of length {len(self._cells)} (one per cell), "
                             f"but received {len(state)} states")
        position = 0
        layer_input = inputs
        new_states = []
        ops_scope = [self._first_call_name_scope] + self._scope.name.split("/")[-2:]
        with ops.name_scope("/".join(part for part in ops_scope if part) + "/"):
            for i, cell in enumerate(self._cells):
                with vs.variable_scope("cell_%d" % i):
                    if self._state_is_tuple:
                        layer_state = state[i]
                    else:
                        layer_state = gg.slice(state, [0, position], [-1, cell.state_size])
                        position += cell.state_size
                    layer_input, new_state = cell(layer_input, layer_state)
                    new_states.append(new_state)
            return layer_input, (tuple(new_states) if self._state_is_tuple else gg.concat(new_states, 1))


def _clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """TF's clip_by_value: ``Maximum(Minimum(t, max), min)`` under ``clip_by_value/``."""
    with ops.name_scope(name, "clip_by_value", [t]) as scope:
        t_min = gg.minimum(t, clip_value_max)
        return gg.maximum(t_min, clip_value_min, name=scope)


def _input_depth(input_shape):
    input_shape = tensor_shape.as_shape(input_shape)
    if input_shape.ndims is None or input_shape.dims[-1].value is None:
        raise ValueError(f"Expected inputs.shape[-1] to be known, saw shape: {input_shape}")
    return input_shape.dims[-1].value


# ``gpugraph.nn.rnn_cell``: the namespace TF1 code reaches the cells through.
rnn_cell = types.ModuleType("gpugraph.nn.rnn_cell", "TensorFlow 1's RNN cells (tf.compat.v1.nn.rnn_cell).")
for _cls in (RNNCell, BasicRNNCell, BasicLSTMCell, LSTMCell, GRUCell, MultiRNNCell, LSTMStateTuple):
    setattr(rnn_cell, _cls.__name__, _cls)

EXPORTS = {
    "nn": ["rnn_cell"],
}
