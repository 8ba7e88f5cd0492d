"""Conformance cases for the v1 control-flow ops (Switch, Merge, Enter, Exit, NextIteration, LoopCond,
ControlTrigger, their Ref variants, RefIdentity, Assert) and the while_loop / cond / case builders:
graphs built here run in gpugraph's control-flow executor and, from the exported GraphDef, in
TensorFlow; the builders lay out the same nodes as TensorFlow's v1 control flow."""


import numpy as np
import pytest

import gpugraph as gg
from conformance import Case, check, ph, tf_v1_control_flow
from gpugraph import errors
from gpugraph.ops import control_flow_context as cfc
from gpugraph.ops import control_flow_ops as cfo
from gpugraph.ops.while_context import WhileContext

rng = np.random.default_rng(23)


# -- cases ------------------------------------------------------------------------------------------
def _switch_merge(dtype, pred_value):
    def build():
        x = ph("x", dtype, [None, 3])
        p = gg.placeholder_with_default(pred_value, [], name="p")
        f, t = cfo.switch(x, p)
        out, index = cfo.merge([f + gg.ones_like(f), t * gg.ones_like(t) * 3])
        return [out, index]
    return build


def _merge_three():
    x = ph("x", np.int64, [4])
    p = ph("p", np.bool_, [])
    live_if_p = cfo.switch(x, p)[1]
    live_if_not_p = cfo.switch(x * 2, p)[0]
    never = cfo.switch(x - 1, gg.logical_and(p, gg.logical_not(p)))[1]
    # Exactly one live input: index 1 when p, else 2; the never-live one is first.
    out, index = cfo.merge([never, live_if_p, live_if_not_p])
    return [out, index]


def _while_counter(dtype):
    def build():
        n = ph("n", np.int32, [])
        x = ph("x", dtype, [2, 2])
        i, acc = gg.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a + x), [gg.constant(0), gg.zeros_like(x)])
        return [i, acc]
    return build


def _while_max_iterations():
    x = ph("x", np.float64, [None])
    return gg.while_loop(lambda v: gg.reduce_sum(v) < 1e9, lambda v: v * 2.0 + 1.0, [x], maximum_iterations=4)


def _cond_half():
    x = ph("x", np.float16, [3])
    return gg.cond(gg.reduce_sum(x) > 0, lambda: x * 2, lambda: x - 1, name="branch")


def _nested_cond_in_while():
    x = ph("x", np.float32, [2])
    n = ph("n", np.int32, [])

    def body(k, s):
        step = gg.cond(gg.equal(gg.floormod(k, 2), 0), lambda: gg.cast(k, gg.float32) * x, lambda: -x)
        return k + 1, s + step
    return gg.while_loop(lambda k, s: k < n, body, [0, gg.zeros_like(x)])[1]


def _ref_switch_merge(pred):
    def build():
        v = gg.Variable(np.array([1.5, -2.0], np.float32), name="v")
        gg.global_variables_initializer()
        f, t = cfo.ref_switch(v._ref(), gg.constant(pred))
        out, index = cfo.merge([f, t])
        assert out.op.type == "RefMerge" and out.dtype._is_ref_dtype
        return [gg.identity(out) * 2.0, index]
    return build


def _ref_loop():
    """A loop that carries a ref variable itself (RefEnter → RefMerge → RefSwitch → RefIdentity →
    RefNextIteration, RefExit), counting to 3 with an ordinary int32 loop variable."""
    v = gg.Variable(np.array([[1.0, 2.0]], np.float32), name="v")
    gg.global_variables_initializer()
    frame = "refloop/while_context"
    with gg.name_scope("refloop"):
        ei = cfo.enter(gg.constant(0), frame, use_input_shape=False)
        ev = cfo.enter(v._ref(), frame, use_input_shape=False)
        three = cfo.enter(gg.constant(3), frame, is_constant=True)
        mi, _ = cfo.merge([ei, ei])
        mv, _ = cfo.merge([ev, ev])
        c = cfo.loop_cond(gg.less(mi, three))
        si = cfo.switch_ref_or_tensor(mi, c)
        sv = cfo.switch_ref_or_tensor(mv, c)
        bi = cfo.identity_ref_or_tensor(si[1])
        bv = cfo.identity_ref_or_tensor(sv[1])
        with gg.control_dependencies([bi]):
            one = gg.constant(1)
        cfc.update_input(mi.op, 1, cfo.next_iteration(bi + one))
        cfc.update_input(mv.op, 1, cfo.next_iteration(bv))
        xi, xv = cfo.exit(si[0]), cfo.exit(sv[0])
    types = {op.type for op in gg.get_default_graph().get_operations()}
    assert {"RefEnter", "RefMerge", "RefSwitch", "RefIdentity", "RefNextIteration", "RefExit"} <= types
    return [xi, gg.identity(xv) + gg.cast(xi, gg.float32)]


def _control_trigger():
    x = ph("x", np.int32, [None])
    trigger = cfo.control_trigger(name="trigger")
    with gg.control_dependencies([trigger]):
        return gg.identity(x * 2, name="y")


def _assert_passes():
    x = ph("x", np.float32, [3])
    a = gg.Assert(gg.reduce_all(x > 0), ["x must be positive:", x], summarize=5, name="positive")
    b = gg.Assert(gg.constant(True), ["int32 data stays unguarded", gg.constant([1, 2])], name="plain")
    with gg.control_dependencies([a, b]):
        return gg.identity(x, name="checked")


def _case_default():
    x = ph("x", np.int32, [])
    return gg.case([(x < 0, lambda: gg.constant(-1)), (gg.equal(x, 0), lambda: gg.constant(0))],
                   default=lambda: gg.constant(1))


def _case_exclusive_no_default():
    x = ph("x", np.float32, [])
    return gg.case([(x < 0, lambda: x * -1.0), (x >= 0, lambda: x * 2.0)], exclusive=True)


CASES = [
    Case("switch_merge_float32_true", _switch_merge(np.float32, True),
         feeds={"x": rng.standard_normal((2, 3)).astype(np.float32)}),
    Case("switch_merge_int32_false", _switch_merge(np.int32, False),
         feeds={"x": np.arange(6, dtype=np.int32).reshape(2, 3)}),
    Case("merge_three_inputs_int64_true", _merge_three,
         feeds={"x": np.array([1, -2, 3, 4], np.int64), "p": True}),
    Case("merge_three_inputs_int64_false", _merge_three,
         feeds={"x": np.array([1, -2, 3, 4], np.int64), "p": False}),
    Case("while_counter_float32", _while_counter(np.float32),
         feeds={"n": np.int32(4), "x": rng.standard_normal((2, 2)).astype(np.float32)}),
    Case("while_counter_int64_zero_trips", _while_counter(np.int64),
         feeds={"n": np.int32(0), "x": np.array([[1, 2], [3, 4]], np.int64)}),
    Case("while_maximum_iterations_float64", _while_max_iterations,
         feeds={"x": np.array([0.5, -1.0, 2.0])}),
    Case("cond_half_true", _cond_half, feeds={"x": np.array([1, 2, -0.5], np.float16)}),
    Case("cond_half_false", _cond_half, feeds={"x": np.array([-1, 2, -5], np.float16)}),
    Case("cond_nested_in_while", _nested_cond_in_while,
         feeds={"x": np.array([0.5, -1.5], np.float32), "n": np.int32(5)}),
    Case("ref_switch_merge_true", _ref_switch_merge(True), init=["init"]),
    Case("ref_switch_merge_false", _ref_switch_merge(False), init=["init"]),
    Case("ref_loop_variable", _ref_loop, init=["init"]),
    Case("control_trigger", _control_trigger, feeds={"x": np.array([1, 2, 3], np.int32)}),
    Case("assert_passes", _assert_passes, feeds={"x": np.array([1, 2, 3], np.float32)}),
    Case("case_default_negative", _case_default, feeds={"x": np.int32(-5)}),
    Case("case_default_zero", _case_default, feeds={"x": np.int32(0)}),
    Case("case_default_positive", _case_default, feeds={"x": np.int32(9)}),
    Case("case_exclusive", _case_exclusive_no_default, feeds={"x": np.float32(-2.5)}),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_conformance(case):
    check(case)


# -- TensorFlow's layout ----------------------------------------------------------------------------
def _layout(graph_def):
    """Per node: name, op, inputs (control inputs as a set) and the control-flow attrs."""
    out = {}
    for nd in graph_def.node:
        attrs = {k: nd.attr[k].SerializeToString(deterministic=True) for k in
                 ("frame_name", "is_constant", "parallel_iterations", "T", "dtype", "_class", "N")
                 if k in nd.attr}
        data = tuple(i for i in nd.input if not i.startswith("^"))
        control = frozenset(i for i in nd.input if i.startswith("^"))
        out[nd.name] = (nd.op, data, control, attrs)
    return out


def _program(tf):
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    i, acc = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * 2.0 + x), [0, tf.zeros_like(x)],
                           parallel_iterations=3)
    y = tf.cond(tf.reduce_sum(acc) > 0, lambda: acc * 2.0, lambda: x - 1.0)
    capped = tf.while_loop(lambda j: j < 100, lambda j: j + 1, [tf.constant(0)], maximum_iterations=n)

    def outer(a, total):
        inner = tf.while_loop(lambda b, t: b < a, lambda b, t: (b + 1, t + tf.cast(b, tf.float32) * x),
                              [0, tf.zeros_like(x)])[1]
        pick = tf.cond(a > 1, lambda: inner, lambda: -inner)
        return a + 1, total + pick
    nested = tf.while_loop(lambda a, t: a < n, outer, [0, tf.zeros_like(x)])[1]
    z = tf.case([(n < 2, lambda: x), (n < 5, lambda: x * 2.0)], default=lambda: x * 3.0, name="pick")
    external = tf.identity(x, name="external")

    def gated(k):
        with tf.control_dependencies([external]):
            return k + 1
    gated_k = tf.while_loop(lambda k: k < n, gated, [0], name="gated")
    return [i, acc, y, capped, nested, z, gated_k]


@pytest.mark.tf
def test_builders_lay_out_tensorflows_nodes_and_contexts():
    with tf_v1_control_flow() as tf1:
        import tensorflow as tf
        with tf.Graph().as_default() as tg:
            _program(tf1)
            theirs_mg = tf1.train.export_meta_graph()
    with gg.Graph().as_default() as g:
        _program(gg)
        ours_mg = gg.train.export_meta_graph()
    theirs = _layout(tg.as_graph_def())
    ours = _layout(g.as_graph_def())
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name] == theirs[name], name
    from gpugraph.protos import control_flow_pb2
    for key, cls in [("while_context", control_flow_pb2.WhileContextDef),
                     ("cond_context", control_flow_pb2.CondContextDef)]:
        a = [cls.FromString(v) for v in ours_mg.collection_def[key].bytes_list.value]
        b = [cls.FromString(v) for v in theirs_mg.collection_def[key].bytes_list.value]
        assert a == b, key


def test_contexts_round_trip_through_protos():
    with gg.Graph().as_default() as g:
        outs = _program(gg)
        whiles = g.get_collection("while_context")
        conds = g.get_collection("cond_context")
        assert [c.name for c in whiles] == ["while/while_context", "while_1/while_context", "while_2/while_context",
                                            "gated/while_context"]
        # case's second cond is nested in the first one's false branch: only top-level contexts are listed
        assert [c.name for c in conds] == ["cond/cond_text", "cond/cond_text_1", "pick/cond/cond_text",
                                           "pick/cond/cond_text_1"]
        assert [c.name for c in conds[3]._nested_contexts] == ["pick/cond/cond/cond_text",
                                                                "pick/cond/cond/cond_text_1"]
        nested = whiles[2]
        assert [c.name for c in nested._nested_contexts] == ["while_2/while/while_context",
                                                           "while_2/cond/cond_text", "while_2/cond/cond_text_1"]
        proto = nested.to_proto()
        assert proto.nested_contexts[0].while_ctxt.context_name == "while_2/while/while_context"
        assert whiles[1].to_proto().maximum_iterations_name == "n:0"
        rebuilt = WhileContext.from_proto(proto)
        assert rebuilt.to_proto() == proto
        assert rebuilt.pivot is nested.pivot and rebuilt.loop_exits == nested.loop_exits
        cond_proto = conds[0].to_proto()
        again = cfc.CondContext.from_proto(cond_proto)
        assert again.to_proto() == cond_proto and again.branch == 1
        assert bytes(conds[1]) == conds[1].to_proto().SerializeToString(deterministic=True)
        with gg.Session() as sess:
            got = sess.run(outs, {"x:0": np.ones((1, 2), np.float32), "n:0": 3})
        assert got[0] == 3 and got[3] == 3


# -- builder behaviour and bad input --------------------------------------------------------------
@pytest.fixture
def graph():
    with gg.Graph().as_default() as g:
        yield g


def test_while_loop_structures_and_return_same_structure(graph):
    pair = {"a": gg.constant(1.0), "b": (gg.constant(2), gg.constant([1, 2]))}
    out = gg.while_loop(lambda d: d["b"][0] < 5,
                        lambda d: [{"a": d["a"] * 2.0, "b": (d["b"][0] + 1, d["b"][1] * 2)}],
                        [pair], return_same_structure=True)
    assert isinstance(out, list) and set(out[0]) == {"a", "b"}
    single = gg.while_loop(lambda v: v < 10, lambda v: v + 3, [gg.constant(1)])
    assert isinstance(single, gg.Tensor)
    with gg.Session() as sess:
        got, s = sess.run([out, single])
    assert got[0]["a"] == 8.0 and got[0]["b"][0] == 5 and got[0]["b"][1].tolist() == [8, 16] and s == 10


def test_shape_invariants(graph):
    m0 = gg.ones([2, 2])
    with pytest.raises(ValueError, match="enters the loop with shape \\(2, 2\\), but has shape"):
        gg.while_loop(lambda i, m: i < 3, lambda i, m: (i + 1, gg.concat([m, m], 0)), [0, m0])
    i, m = gg.while_loop(lambda i, m: i < 3, lambda i, m: (i + 1, gg.concat([m, m], 0)), [0, m0],
                         shape_invariants=[gg.TensorShape([]), gg.TensorShape([None, 2])])
    assert m.shape.as_list() == [None, 2]
    with pytest.raises(ValueError, match="not compatible with the initial shape"):
        gg.while_loop(lambda m: True, lambda m: m, [m0], shape_invariants=[gg.TensorShape([3, 2])])
    with gg.Session() as sess:
        assert sess.run(m).shape == (16, 2)


def test_while_loop_bad_arguments(graph):
    with pytest.raises(TypeError, match="'cond' must be callable"):
        gg.while_loop(1, lambda i: i, [0])
    with pytest.raises(TypeError, match="parallel_iterations"):
        gg.while_loop(lambda i: i < 2, lambda i: i + 1, [0], parallel_iterations=0)
    with pytest.raises(ValueError, match="'maximum_iterations' must be a scalar"):
        gg.while_loop(lambda i: i < 2, lambda i: i + 1, [0], maximum_iterations=[1, 2])
    with pytest.raises(ValueError, match="Number of inputs and outputs of 'body' must match|same number"):
        gg.while_loop(lambda i, j: i < 2, lambda i, j: [i + 1], [0, 1])
    with pytest.raises(TypeError, match="dtype float32 for the loop variable .* of dtype int32"):
        gg.while_loop(lambda i: i < 2, lambda i: gg.cast(i, gg.float32), [0])
    with pytest.raises(TypeError, match="cond must return a boolean"):
        gg.while_loop(lambda i: i + 1, lambda i: i + 1, [0])


def test_cond_arguments_and_errors(graph):
    x = gg.constant([1.0, 2.0])
    with pytest.raises(TypeError, match="'pred' must not be a Python bool"):
        gg.cond(True, lambda: x, lambda: x)
    with pytest.raises(TypeError, match="'true_fn' and 'fn1' may not be set simultaneously"):
        gg.cond(x[0] > 0, lambda: x, lambda: x, fn1=lambda: x)
    with pytest.raises(ValueError, match="must have the same type"):
        gg.cond(x[0] > 0, lambda: x, lambda: gg.constant([1, 2]))
    with pytest.raises(TypeError, match="boolean tensor"):
        gg.cond(x[0], lambda: x, lambda: x)
    with pytest.raises(ValueError, match="Incompatible return values"):
        gg.cond(x[0] > 0, lambda: [x, x], lambda: [x])
    old = gg.cond(x[0] > 0, fn1=lambda: x * 2.0, fn2=lambda: x, strict=True)
    lone = gg.cond(x[0] > 0, lambda: [x], lambda: [x * 3.0])
    kept = gg.cond(x[0] > 0, lambda: [x], lambda: [x * 3.0], strict=True)
    op_branch = gg.cond(x[0] > 0, lambda: gg.no_op(), lambda: gg.no_op())
    assert isinstance(lone, gg.Tensor) and isinstance(kept, list) and op_branch.op.type == "Merge"
    with gg.Session() as sess:
        assert sess.run(old).tolist() == [2.0, 4.0] and sess.run(kept)[0].tolist() == [1.0, 2.0]


def test_case_errors(graph):
    x = gg.constant(1)
    with pytest.raises(TypeError, match="must be a list, tuple, or dict"):
        gg.case(x, default=lambda: x)
    with pytest.raises(TypeError, match="pred must be Tensor of type bool"):
        gg.case([(x, lambda: x)], default=lambda: x)
    with pytest.raises(TypeError, match="2-tuple"):
        gg.case([(x > 0,)], default=lambda: x)


def test_case_without_default_asserts_a_predicate_holds(graph):
    x = gg.placeholder(gg.int32, [], name="x")
    y = gg.case([(x < 0, lambda: x * 10), (gg.equal(x, 0), lambda: x - 1)])
    both = gg.case([(x < 5, lambda: x), (x > -5, lambda: -x)], default=lambda: x * 0, exclusive=True)
    with gg.Session() as sess:
        assert sess.run(y, {x: -2}) == -20 and sess.run(y, {x: 0}) == -1
        with pytest.raises(errors.InvalidArgumentError, match="None of conditions evaluated as True"):
            sess.run(y, {x: 3})
        with pytest.raises(errors.InvalidArgumentError, match="more than 1 conditions"):
            sess.run(both, {x: 0})
        assert sess.run(both, {x: 9}) == -9


def test_assert_fails_with_data(graph):
    x = gg.placeholder(gg.float32, [3], name="x")
    check_op = gg.Assert(gg.reduce_all(x > 0), ["x must be positive:", x], summarize=2, name="positive")
    with gg.control_dependencies([check_op]):
        y = gg.identity(x)
    with gg.Session() as sess:
        with pytest.raises(errors.InvalidArgumentError, match=r"assertion failed: \[x must be positive:\] "
                                                              r"\[1 -2\.\.\.\]"):
            sess.run(y, {x: [1, -2, 3]})


def test_op_shape_checks(graph):
    x = gg.constant([1.0, 2.0])
    with pytest.raises(ValueError, match="Shape must be rank 0"):
        cfo.switch(x, gg.constant([True, False]))
    with pytest.raises(ValueError, match="Shape must be rank 0"):
        cfo.loop_cond(gg.constant([True]))
    with pytest.raises(ValueError, match="At least one of the merge inputs is None"):
        cfo.merge([x, None])
    a, _ = cfo.merge([x, gg.constant([[1.0, 2.0]])])
    b, _ = cfo.merge([gg.constant([1.0, 2.0, 3.0]), x])
    assert a.shape.ndims is None and b.shape.as_list() == [None]
    e = cfo.enter(x, "f", use_input_shape=False)
    c = cfo.enter(x, "f", is_constant=True, use_input_shape=False)
    assert e.shape.ndims is None and c.shape.as_list() == [2]


def test_fetching_a_dead_branch_is_an_error(graph):
    x = gg.placeholder(gg.float32, [2], name="x")
    f, t = cfo.switch(x, gg.constant(False))
    with gg.Session() as sess:
        assert sess.run(f, {x: [1, 2]}).tolist() == [1.0, 2.0]
        with pytest.raises(errors.InvalidArgumentError, match="does not have value.*Switch:1"):
            sess.run(t, {x: [1, 2]})


def test_wrong_feed_dtype_into_a_loop_variable_is_named(graph):
    n = gg.placeholder(gg.int32, [], name="trips")
    i = gg.while_loop(lambda i: i < n, lambda i: i + 1, [gg.constant(0)])
    with gg.Session() as sess:
        with pytest.raises(TypeError, match="placeholder 'trips'.*int32"):
            sess.run(i, {n: 2.5})
        with pytest.raises(TypeError, match="placeholder 'trips'"):
            sess.run(i, {n: "three"})
        assert sess.run(i, {n: 4}) == 4


def test_variables_created_in_a_loop_body_live_outside_it(graph):
    def body(i, acc):
        # As in TensorFlow, the initial value must not be a tensor made inside the loop: an initializer.
        w = gg.get_variable("w", shape=[2], initializer=gg.constant_initializer([1.0, 2.0]))
        return i + 1, acc + w
    _, acc = gg.while_loop(lambda i, a: i < 3, body, [0, gg.zeros([2])])
    w = gg.global_variables()[0]
    assert w.op.name == "w" and getattr(w.op, "_control_flow_context", None) is None
    enter = [op for op in graph.get_operations() if op.type == "Enter" and op.get_attr("is_constant")]
    assert [op.name for op in enter] == ["while/add_1/Enter"] and enter[0].inputs[0] is w.value()
    with gg.Session() as sess:
        sess.run(gg.global_variables_initializer())
        assert sess.run(acc).tolist() == [3.0, 6.0]


def test_external_control_dependency_enters_the_loop_as_data(graph):
    v = gg.Variable(0.0, name="counter")
    bump = gg.assign_add(v, 1.0)

    def body(i):
        with gg.control_dependencies([bump]):
            return i + 1
    i = gg.while_loop(lambda i: i < 3, body, [0])
    const = graph.get_operation_by_name("while/add/y")
    # The pivot (while/Identity) and an Identity of the external op brought in through an Enter.
    pivot, brought_in = sorted(const.control_inputs, key=lambda op: op.name)
    assert pivot.name == "while/Identity" and brought_in.inputs[0].op.type == "RefEnter"  # a ref output
    assert brought_in.inputs[0].op.inputs[0].op is bump.op
    with gg.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(i) == 3
        assert sess.run(v) == 1.0  # the external op runs once, before the loop


def test_contexts_of_an_imported_meta_graph_are_rebuilt_on_demand():
    import pathlib
    meta = pathlib.Path(__file__).parent.parent / "data" / "tf_control_flow" / "loops" / "model.meta"
    with gg.Graph().as_default() as g:
        gg.train.import_meta_graph(str(meta), import_scope="tower")
        assert all(isinstance(c, bytes) for c in g.get_collection("while_context"))  # kept serialized
        exit_op = g.get_operation_by_name("tower/nested/Exit_1")
        assert cfc.op_context(exit_op) is None
        assert cfc.restore_contexts(g) == 6 and cfc.restore_contexts(g) == 0
        ctxt = cfc.op_context(exit_op)
        assert isinstance(ctxt, WhileContext) and ctxt.name == "tower/nested/while_context"
        cond_switch = g.get_operation_by_name("tower/nested/cond/mul/Switch")
        assert cfc.op_context(cond_switch).outer_context is ctxt and cfc.IsCondSwitch(cond_switch)
        inner = cfc.op_context(g.get_operation_by_name("tower/outer/inner/Exit"))
        assert inner.outer_context.name == "tower/outer/while_context"
        assert inner.to_proto().context_name == "tower/outer/inner/while_context"
        mg = gg.train.export_meta_graph()  # still exports the collection unchanged
    assert len(mg.collection_def["while_context"].bytes_list.value) == 6
