"""dynamic_rnn and the v1 RNN cells: TensorFlow 1's variable names and graph layout, TensorFlow's
numbers (the exported GraphDef runs in TensorFlow), a NumPy reference LSTM, and argument errors.
MultiRNNCell's graphs are compared node for node with those TensorFlow's own cells build."""

import numpy as np
import pytest

import gpugraph as gg
from conformance import Case, check, ph, tf_v1_control_flow
from state_graph_compare import _tf_ref_variables
from gpugraph.ops import nest

rng = np.random.default_rng(17)
X = rng.standard_normal((3, 5, 4)).astype(np.float32)
LENGTHS = np.array([5, 2, 0], np.int32)


def _fixed_values():
    """Assigns deterministic values to every variable (random initializers differ between runtimes)."""
    assigns = []
    for k, v in enumerate(gg.global_variables()):
        shape = v.shape.as_list()
        value = np.sin(np.arange(np.prod(shape)) * 0.37 + k).reshape(shape).astype(np.float32) * 0.5
        assigns.append(gg.assign(v, value))
    gg.group(*assigns, name="init_values")


def _rnn_case(make_cell, time_major=False, initial_state=False, lengths=True):
    def build():
        x = ph("x", np.float32, [None, 5, 4])
        seq = ph("lengths", np.int32, [None]) if lengths else None
        inputs = gg.transpose(x, [1, 0, 2]) if time_major else x
        cell = make_cell()
        init = None
        if initial_state:
            init = cell.zero_state(gg.shape(x)[0], gg.float32)
            init = nest.map_structure(lambda s: s + 0.25, init)
        out, state = gg.nn.dynamic_rnn(cell, inputs, sequence_length=seq, initial_state=init,
                                       dtype=None if init is not None else gg.float32, time_major=time_major)
        _fixed_values()
        return [out] + nest.flatten(state)
    return build


FEEDS = {"x": X, "lengths": LENGTHS}
CASES = [
    Case("dynamic_rnn_basic_lstm", _rnn_case(lambda: gg.nn.rnn_cell.BasicLSTMCell(6)), feeds=FEEDS,
         init=["init_values"], rtol=1e-5, atol=1e-6),
    Case("dynamic_rnn_lstm_peepholes_projection_clip",
         _rnn_case(lambda: gg.nn.rnn_cell.LSTMCell(5, use_peepholes=True, num_proj=3, cell_clip=0.8, proj_clip=0.5)),
         feeds=FEEDS, init=["init_values"], rtol=1e-5, atol=1e-6),
    Case("dynamic_rnn_gru_time_major_initial_state",
         _rnn_case(lambda: gg.nn.rnn_cell.GRUCell(4), time_major=True, initial_state=True), feeds=FEEDS,
         init=["init_values"], rtol=1e-5, atol=1e-6),
    Case("dynamic_rnn_basic_rnn_without_lengths",
         _rnn_case(lambda: gg.nn.rnn_cell.BasicRNNCell(3, activation="relu"), lengths=False),
         feeds={"x": X}, init=["init_values"], rtol=1e-5, atol=1e-6),
    Case("dynamic_rnn_lstm_concatenated_state",
         _rnn_case(lambda: gg.nn.rnn_cell.BasicLSTMCell(2, state_is_tuple=False, forget_bias=0.5)), feeds=FEEDS,
         init=["init_values"], rtol=1e-5, atol=1e-6),
    Case("dynamic_rnn_multi_rnn_cell_lstm_gru",
         _rnn_case(lambda: gg.nn.rnn_cell.MultiRNNCell([gg.nn.rnn_cell.BasicLSTMCell(5), gg.nn.rnn_cell.GRUCell(3)])),
         feeds=FEEDS, init=["init_values"], rtol=1e-5, atol=1e-6),
    Case("dynamic_rnn_multi_rnn_cell_concatenated_state_initial_state",
         _rnn_case(lambda: gg.nn.rnn_cell.MultiRNNCell(
             [gg.nn.rnn_cell.BasicRNNCell(3), gg.nn.rnn_cell.LSTMCell(4, num_proj=2, state_is_tuple=False)],
             state_is_tuple=False), time_major=True, initial_state=True),
         feeds=FEEDS, init=["init_values"], rtol=1e-5, atol=1e-6),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_basic_lstm_matches_a_numpy_reference():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None, 5, 4], name="x")
        seq = gg.placeholder(gg.int32, [None], name="lengths")
        out, state = gg.nn.dynamic_rnn(gg.nn.rnn_cell.BasicLSTMCell(6), x, sequence_length=seq, dtype=gg.float32)
        kernel, bias = gg.trainable_variables()
        assert [kernel.op.name, bias.op.name] == ["rnn/basic_lstm_cell/kernel", "rnn/basic_lstm_cell/bias"]
        assert kernel.shape.as_list() == [10, 24] and bias.shape.as_list() == [24]
        assert out.shape.as_list() == [None, 5, 6] and state.c.shape.as_list() == [None, 6]
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            sess.run(gg.assign(bias, rng.standard_normal(24).astype(np.float32)))
            w, b = sess.run([kernel, bias])
            got_out, got_c, got_h = sess.run([out, state.c, state.h], {x: X, seq: LENGTHS})
    c = np.zeros((3, 6), np.float32)
    h = np.zeros((3, 6), np.float32)
    want = np.zeros((3, 5, 6), np.float32)
    for t in range(5):
        gates = np.concatenate([X[:, t], h], 1) @ w + b
        i, j, f, o = np.split(gates, 4, axis=1)
        new_c = c * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j)
        new_h = np.tanh(new_c) * _sigmoid(o)
        alive = (t < LENGTHS)[:, None]
        c, h = np.where(alive, new_c, c), np.where(alive, new_h, h)
        want[:, t] = np.where(alive, new_h, 0.0)
    np.testing.assert_allclose(got_out, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_c, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h, h, rtol=1e-5, atol=1e-6)


def test_variable_names_and_layout():
    with gg.Graph().as_default() as g:
        x = gg.placeholder(gg.float32, [2, 5, 4])
        gg.nn.dynamic_rnn(gg.nn.rnn_cell.GRUCell(3), x, dtype=gg.float32, scope="enc")
        gg.nn.dynamic_rnn(gg.nn.rnn_cell.LSTMCell(3, num_proj=2, use_peepholes=True), x, dtype=gg.float32)
        names = [v.op.name for v in gg.global_variables()]
        assert names == ["enc/gru_cell/gates/kernel", "enc/gru_cell/gates/bias", "enc/gru_cell/candidate/kernel",
                         "enc/gru_cell/candidate/bias", "rnn/lstm_cell/kernel", "rnn/lstm_cell/bias",
                         "rnn/lstm_cell/w_f_diag", "rnn/lstm_cell/w_i_diag", "rnn/lstm_cell/w_o_diag",
                         "rnn/lstm_cell/projection/kernel"]
        ops = {op.name: op.type for op in g.get_operations()}
        assert ops["enc/while/gru_cell/MatMul/Enter"] == "Enter"
        assert ops["rnn/while/TensorArrayReadV3"] == "TensorArrayReadV3"
        assert ops["rnn/while/LoopCond"] == "LoopCond" and ops["rnn/transpose_1"] == "Transpose"
        frames = {op.get_attr("frame_name") for op in g.get_operations() if op.type == "Enter"}
        assert frames == {b"enc/while/while_context", b"rnn/while/while_context"}


def test_a_cell_called_twice_reuses_its_variables():
    with gg.Graph().as_default():
        cell = gg.nn.rnn_cell.BasicLSTMCell(3)
        x = gg.placeholder(gg.float32, [2, 4, 3])
        gg.nn.dynamic_rnn(cell, x, dtype=gg.float32)
        gg.nn.dynamic_rnn(cell, x, dtype=gg.float32, scope="again")
        assert len(gg.global_variables()) == 2 and len(cell.trainable_weights) == 2


def test_argument_errors():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [2, 4, 3])
        cell = gg.nn.rnn_cell.BasicLSTMCell(3)
        with pytest.raises(ValueError, match="you must give a dtype"):
            gg.nn.dynamic_rnn(cell, x)
        with pytest.raises(ValueError, match="sequence_length must be a vector"):
            gg.nn.dynamic_rnn(cell, x, sequence_length=[[1, 2]], dtype=gg.float32)
        with pytest.raises(TypeError, match="is not an RNNCell"):
            gg.nn.dynamic_rnn(object(), x, dtype=gg.float32)
        with pytest.raises(ValueError, match="depth of inputs"):
            gg.nn.dynamic_rnn(cell, gg.placeholder(gg.float32, [2, 4, None]), dtype=gg.float32)
        with pytest.raises(ValueError, match="only supports floating point inputs"):
            gg.nn.rnn_cell.GRUCell(2)(gg.constant([[1, 2]]), gg.constant([[1, 2]]))


def test_sequence_length_shape_is_checked_at_run_time():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [2, 4, 3], name="x")
        seq = gg.placeholder(gg.int32, [None], name="seq")
        out, _ = gg.nn.dynamic_rnn(gg.nn.rnn_cell.BasicRNNCell(2), x, sequence_length=seq, dtype=gg.float32)
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            from gpugraph import errors
            with pytest.raises(errors.InvalidArgumentError, match="Expected shape for Tensor rnn/sequence_length:0"):
                sess.run(out, {x: np.ones((2, 4, 3)), seq: [1, 2, 3]})


# -- MultiRNNCell -------------------------------------------------------------------------------------
def _tf_rnn_cell():
    """TF's own v1 cells: TensorFlow 2.16+ serves them from ``tf_keras``, which ``make test`` installs."""
    from tf_keras.api._v1.keras.__internal__.legacy import rnn_cell
    return rnn_cell


def _multi_rnn_graph(m, rnn_cell, how):
    """A graph using MultiRNNCell in one of several ways, built with module ``m`` (gpugraph or
    tf.compat.v1) and its cells ``rnn_cell``: every node's (name, type), and the variable names."""
    with m.Graph().as_default() as g:
        x = m.placeholder(m.float32, [None, 5, 4], name="x")
        tuple_state = how != "concatenated"
        cell = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(3, state_is_tuple=tuple_state), rnn_cell.GRUCell(2)],
                                     state_is_tuple=tuple_state)
        if how in ("dynamic_rnn", "concatenated"):
            m.nn.dynamic_rnn(cell, x, dtype=m.float32)
        elif how == "scoped_dynamic_rnn":
            with m.variable_scope("outer"), m.variable_scope("inner"):
                m.nn.dynamic_rnn(cell, x, dtype=m.float32, scope="enc")
        else:  # called directly, twice, in name and variable scopes
            state = cell.zero_state(2, m.float32)
            with m.name_scope("ns"), m.variable_scope("vs"):
                cell(x[:, 0], state)
            cell(x[:, 1], state)
        # Initializers are left out: TensorFlow 2's defaults (stateless random ops) differ from TF1's.
        nodes = sorted((op.name, op.type) for op in g.get_operations() if "/Initializer/" not in op.name)
        return nodes, [v.op.name for v in m.global_variables()]


@pytest.mark.tf
@pytest.mark.parametrize("how", ["dynamic_rnn", "concatenated", "scoped_dynamic_rnn", "called_twice"])
def test_multi_rnn_cell_builds_tensorflows_graph_node_for_node(how):
    ours = _multi_rnn_graph(gg, gg.nn.rnn_cell, how)
    import tensorflow as tf
    with tf_v1_control_flow() as tf1, _tf_ref_variables(tf):
        theirs = _multi_rnn_graph(tf1, _tf_rnn_cell(), how)
    assert ours[1] == theirs[1]
    assert ours[0] == theirs[0], (sorted(set(ours[0]) - set(theirs[0]))[:8], sorted(set(theirs[0]) - set(ours[0]))[:8])


def test_multi_rnn_cell_variables_states_and_errors():
    with gg.Graph().as_default():
        cells = [gg.nn.rnn_cell.BasicLSTMCell(4), gg.nn.rnn_cell.GRUCell(3)]
        cell = gg.nn.rnn_cell.MultiRNNCell(cells)
        assert cell.state_size == (gg.nn.rnn_cell.LSTMStateTuple(4, 4), 3) and cell.output_size == 3
        x = gg.placeholder(gg.float32, [None, 5, 2])
        out, (lstm_state, gru_state) = gg.nn.dynamic_rnn(cell, x, dtype=gg.float32)
        assert out.shape.as_list() == [None, 5, 3] and lstm_state.c.shape.as_list() == [None, 4]
        assert gru_state.shape.as_list() == [None, 3]
        assert [v.op.name for v in cell.trainable_weights] == [
            "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel", "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias",
            "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel", "rnn/multi_rnn_cell/cell_1/gru_cell/gates/bias",
            "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/kernel", "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/bias"]
        concat = gg.nn.rnn_cell.MultiRNNCell([gg.nn.rnn_cell.GRUCell(2), gg.nn.rnn_cell.BasicRNNCell(3)],
                                             state_is_tuple=False)
        assert concat.state_size == 5
        with pytest.raises(ValueError, match="at least one cell"):
            gg.nn.rnn_cell.MultiRNNCell([])
        with pytest.raises(TypeError, match="cells must be a list or tuple"):
            gg.nn.rnn_cell.MultiRNNCell(gg.nn.rnn_cell.GRUCell(2))
        with pytest.raises(TypeError, match=r"cells\[1\].*is not an RNNCell"):
            gg.nn.rnn_cell.MultiRNNCell([gg.nn.rnn_cell.GRUCell(2), "not a cell"])
        with pytest.raises(ValueError, match="state_is_tuple is not set"):
            gg.nn.rnn_cell.MultiRNNCell([gg.nn.rnn_cell.BasicLSTMCell(2)], state_is_tuple=False)
        with pytest.raises(ValueError, match="one per cell"):
            cell(gg.zeros([2, 2]), (cells[0].zero_state(2, gg.float32),))


def test_a_stack_of_two_layers_matches_a_numpy_reference():
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None, 5, 4], name="x")
        seq = gg.placeholder(gg.int32, [None], name="lengths")
        cell = gg.nn.rnn_cell.MultiRNNCell([gg.nn.rnn_cell.BasicRNNCell(3), gg.nn.rnn_cell.BasicRNNCell(2)])
        out, (s0, s1) = gg.nn.dynamic_rnn(cell, x, sequence_length=seq, dtype=gg.float32)
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            k0, b0, k1, b1 = sess.run(gg.trainable_variables())
            got_out, got_s0, got_s1 = sess.run([out, s0, s1], {x: X, seq: LENGTHS})
    h0, h1 = np.zeros((3, 3), np.float32), np.zeros((3, 2), np.float32)
    want = np.zeros((3, 5, 2), np.float32)
    for t in range(5):
        new0 = np.tanh(np.concatenate([X[:, t], h0], 1) @ k0 + b0)
        new1 = np.tanh(np.concatenate([new0, h1], 1) @ k1 + b1)
        alive = (t < LENGTHS)[:, None]
        h0, h1 = np.where(alive, new0, h0), np.where(alive, new1, h1)
        want[:, t] = np.where(alive, new1, 0.0)
    np.testing.assert_allclose(got_out, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_s0, h0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_s1, h1, rtol=1e-5, atol=1e-6)
