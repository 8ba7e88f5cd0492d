"""The control-flow executor: dead-tensor propagation, frames and iterations (nested loops, conds in
loops, loops in untaken branches, loop invariants), parallel_iterations, the errors for graphs that
cannot run, and control-flow graphs on a (simulated) GPU host."""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph import errors
from gpugraph.ops import control_flow_context as cfc
from gpugraph.ops import control_flow_ops as cfo
from gpugraph.runtime import control_flow_executor as cfe
from gpugraph.runtime import control_flow_propagator as cfp
from gpugraph.runtime import cuda, devices


@pytest.fixture(autouse=True)
def graph():
    with gg.Graph().as_default() as g:
        yield g


def _run(fetches, feeds=None):
    with gg.Session() as sess:
        return sess.run(fetches, feeds)


# -- dead tensors -------------------------------------------------------------------------------------
def test_switch_kills_one_branch_and_merge_forwards_the_live_one():
    x = gg.placeholder(gg.float32, [2], name="x")
    p = gg.placeholder(gg.bool, [], name="p")
    f, t = cfo.switch(x, p)
    dead_or_live = gg.sqrt(t) * 2.0          # runs only when p is true
    out, index = cfo.merge([f - 1.0, dead_or_live])
    assert _run([out, index], {x: [4, 9], p: True})[0].tolist() == [4.0, 6.0]
    assert _run([out, index], {x: [4, 9], p: False}) [1] == 0
    with pytest.raises(errors.InvalidArgumentError, match="does not have value.*mul:0 is dead"):
        _run(dead_or_live, {x: [4, 9], p: False})


def test_dead_control_input_makes_a_node_dead_and_control_trigger_is_never_dead():
    x = gg.placeholder(gg.float32, [2], name="x")
    f, t = cfo.switch(x, gg.constant(False))
    marker = gg.identity(t, name="marker")   # dead
    with gg.control_dependencies([marker]):
        gated = gg.identity(x, name="gated")
        trigger = cfo.control_trigger()
    with gg.control_dependencies([trigger]):
        after_trigger = gg.identity(x, name="after_trigger")
    with pytest.raises(errors.InvalidArgumentError, match="'gated:0' is dead|gated:0 is dead"):
        _run(gated, {x: [1, 2]})
    assert _run(after_trigger, {x: [1, 2]}).tolist() == [1.0, 2.0]


def test_merge_of_only_dead_inputs_is_dead_and_waits_for_its_control_inputs():
    x = gg.placeholder(gg.float32, [], name="x")
    _, t1 = cfo.switch(x, gg.constant(False))
    _, t2 = cfo.switch(x * 2.0, gg.constant(False))
    dead, _ = cfo.merge([t1, t2])
    with pytest.raises(errors.InvalidArgumentError, match="Merge:0 is dead"):
        _run(dead, {x: 1.0})
    v = gg.Variable(0.0, name="v")
    chain = x
    for _ in range(20):        # the assignment is ready long after the Merge's data input
        chain = chain + 1.0
    slow = gg.assign(v, chain)
    f, _ = cfo.switch(x, gg.constant(False))
    with gg.control_dependencies([slow]):
        waits, _ = cfo.merge([f, t2], name="waits")
    with gg.control_dependencies([waits]):
        reads = gg.identity(waits) + v.read_value()
    with gg.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(reads, {x: 1.0}) == 22.0  # the Merge ran after the assignment


# -- frames and iterations ------------------------------------------------------------------------------
def test_nested_loops_and_cond_in_loop():
    n = gg.placeholder(gg.int32, [], name="n")

    def outer(a, total):
        inner = gg.while_loop(lambda b, t: b < a, lambda b, t: (b + 1, t + b), [0, 0])[1]
        bonus = gg.cond(gg.equal(gg.floormod(a, 2), 0), lambda: inner * 10, lambda: -inner)
        return a + 1, total + bonus
    out = gg.while_loop(lambda a, t: a < n, outer, [0, 0])[1]
    want = 0
    for a in range(6):
        inner = sum(range(a))
        want += inner * 10 if a % 2 == 0 else -inner
    assert _run(out, {n: 6}) == want
    assert _run(out, {n: 0}) == 0


@pytest.mark.parametrize("take_loop_branch", [True, False])
def test_loop_inside_a_cond_branch(take_loop_branch):
    p = gg.placeholder(gg.bool, [], name="p")
    x = gg.placeholder(gg.float32, [], name="x")

    def looping():
        return gg.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * 2.0), [0, x])[1]
    y = gg.cond(p, looping, lambda: x - 1.0)
    assert _run(y, {p: take_loop_branch, x: 3.0}) == (48.0 if take_loop_branch else 2.0)


def test_dead_exits_reach_the_parent_frame_dead():
    """A loop fed by a dead tensor runs no iteration; its Exit delivers a dead value (TF's dead_exits)."""
    x = gg.placeholder(gg.float32, [], name="x")
    _, t = cfo.switch(x, gg.constant(False))
    looped = gg.while_loop(lambda v: v < 100.0, lambda v: v * 2.0, [t])
    f, _ = cfo.switch(x, gg.constant(False))
    out, index = cfo.merge([looped, f + 0.5])
    assert _run([out, index], {x: 1.0}) == [1.5, 1]
    with pytest.raises(errors.InvalidArgumentError, match="does not have value"):
        _run(looped, {x: 1.0})


def test_loop_invariant_arriving_late_reaches_every_iteration(monkeypatch):
    seen = []
    original = cfp.Run._add_loop_invariant

    def spy(self, frame, node, value):
        seen.append((node.name, frame.iteration_count))
        return original(self, frame, node, value)
    monkeypatch.setattr(cfp.Run, "_add_loop_invariant", spy)
    x = gg.placeholder(gg.float32, [], name="x")
    slow = x
    for _ in range(30):          # a long chain: the invariant is ready only after several iterations
        slow = slow + 1.0
    _, acc = gg.while_loop(lambda i, a: i < 5, lambda i, a: (i + 1, a + slow), [0, 0.0])
    assert _run(acc, {x: 0.0}) == 150.0
    late = [count for name, count in seen if name.startswith("while/add_1/Enter")]
    assert late and late[0] > 0, seen


@pytest.mark.parametrize("parallel", [1, 4])
def test_parallel_iterations_bounds_live_iterations(monkeypatch, parallel):
    peak = {}
    original = cfp.Run._increment_iteration

    def spy(self, frame):
        it = original(self, frame)
        name = frame.info.name
        peak[name] = max(peak.get(name, 0), frame.num_outstanding_iterations)
        return it
    monkeypatch.setattr(cfp.Run, "_increment_iteration", spy)
    x = gg.placeholder(gg.float32, [3], name="x")

    def body(i, v):  # the counter can run ahead of the long value chain
        for _ in range(6):
            v = gg.tanh(v) + 0.5
        return i + 1, v
    i, v = gg.while_loop(lambda i, v: i < 12, body, [0, x], parallel_iterations=parallel)
    got = _run([i, v], {x: [0.1, 0.2, 0.3]})
    want = np.array([0.1, 0.2, 0.3], np.float32)
    for _ in range(12 * 6):
        want = np.tanh(want) + np.float32(0.5)
    assert got[0] == 12
    np.testing.assert_allclose(got[1], want, rtol=1e-6)
    assert peak["while/while_context"] <= parallel
    if parallel > 1:
        assert peak["while/while_context"] > 1  # iterations did overlap


def test_stateful_ops_run_once_per_iteration():
    v = gg.Variable(0.0, name="v")
    n = gg.placeholder(gg.int32, [], name="n")

    def body(i):
        with gg.control_dependencies([gg.assign_add(v, 1.5)]):
            return i + 1
    i = gg.while_loop(lambda i: i < n, body, [0])
    with gg.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(i, {n: 4}) == 4
        assert sess.run(v) == 6.0
        sess.run(i, {n: 2})
        assert sess.run(v) == 9.0


def test_a_loop_stops_at_maximum_iterations_like_tensorflow():
    limit = gg.placeholder(gg.int32, [], name="limit")
    forever = gg.while_loop(lambda v: gg.constant(True), lambda v: v + 1, [gg.constant(0)],
                            maximum_iterations=limit)
    assert _run(forever, {limit: 7}) == 7
    assert _run(forever, {limit: 0}) == 0


def test_kernel_errors_inside_a_loop_name_the_node():
    x = gg.placeholder(gg.float32, [None], name="x")

    def body(i, v):
        return i + 1, gg.reshape(v, [2, -1])[0]
    out = gg.while_loop(lambda i, v: i < 3, body, [0, x], shape_invariants=[gg.TensorShape([]),
                                                                            gg.TensorShape([None])])[1]
    with pytest.raises(errors.InvalidArgumentError, match="while/Reshape"):
        _run(out, {x: np.ones(6, np.float32)})


# -- graphs that cannot run ---------------------------------------------------------------------------
def test_a_merge_that_can_never_fire_is_named():
    x = gg.placeholder(gg.float32, [], name="x")
    m, _ = cfo.merge([x, x], name="stuck")
    y = gg.add(m, 1.0, name="feedback")
    cfc.update_input(m.op, 1, y)   # a cycle without NextIteration
    with pytest.raises(errors.InvalidArgumentError, match="Merge node 'stuck' \\(Merge\\) can never fire.*feedback"):
        _run(y, {x: 1.0})


def test_inputs_from_different_frames_are_reported():
    x = gg.placeholder(gg.float32, [], name="x")
    e = cfo.enter(x, "f/while_context", use_input_shape=False)
    m, _ = cfo.merge([e, e])
    bad = gg.add(m, x, name="mixes_frames")   # x was not brought in through an Enter
    with pytest.raises(errors.InvalidArgumentError, match="'mixes_frames' has inputs from different frames"):
        _run(bad, {x: 1.0})


def test_two_loops_in_one_frame_and_frame_ops_outside_loops_are_reported():
    a = gg.while_loop(lambda i: i < 2, lambda i: i + 1, [0], name="one")
    b = gg.while_loop(lambda i: i < 2, lambda i: i + 1, [0], name="two")
    enter = gg.get_default_graph().get_operation_by_name("two/Enter")
    enter._set_attr("frame_name", gg.AttrValue(s=b"one/while_context"))
    with pytest.raises(errors.InvalidArgumentError, match="more than one LoopCond node"):
        _run([a, b])
    stray = cfo.exit(gg.constant(1.0), name="stray_exit")
    with pytest.raises(errors.InvalidArgumentError, match="Exit node 'stray_exit' is not inside any while loop"):
        _run(stray)
    nxt = cfo.next_iteration(gg.constant(1.0), name="stray_next")
    with pytest.raises(errors.InvalidArgumentError, match="NextIteration node 'stray_next' is not inside"):
        _run(gg.identity(nxt))


def test_fetching_inside_a_loop_frame_is_refused():
    gg.while_loop(lambda i: i < 2, lambda i: i + 1, [0])
    body = gg.get_default_graph().get_tensor_by_name("while/add:0")
    with pytest.raises(errors.InvalidArgumentError, match="cannot fetch while/add:0: it is computed inside"):
        _run(body)
    with pytest.raises(errors.InvalidArgumentError, match="cannot run while/add as a target"):
        _run(body.op)


def test_unfed_placeholder_and_plan_reuse():
    n = gg.placeholder(gg.int32, [], name="n")
    i = gg.while_loop(lambda i: i < n, lambda i: i + 1, [0])
    with gg.Session() as sess:
        with pytest.raises(errors.InvalidArgumentError, match="You must feed a value for placeholder tensor 'n'"):
            sess.run(i)
        assert [sess.run(i, {n: k}) for k in (3, 1, 5)] == [3, 1, 5]
        assert len(sess._plans) == 1 and isinstance(next(iter(sess._plans.values())), cfe.ControlFlowPlan)


def test_graphs_without_control_flow_keep_the_flat_plan():
    x = gg.placeholder(gg.float32, [], name="x")
    y = x * 2.0
    gg.while_loop(lambda i: i < 2, lambda i: i + 1, [0])  # elsewhere in the graph
    with gg.Session() as sess:
        assert sess.run(y, {x: 2.0}) == 4.0
        assert not isinstance(next(iter(sess._plans.values())), cfe.ControlFlowPlan)


# -- GPU hosts -------------------------------------------------------------------------------------------
def test_control_flow_graphs_run_on_the_cpu_of_a_gpu_host():
    cuda.register_kernels()
    v = gg.Variable(np.array([1.0, 2.0], np.float32), name="v")
    double = gg.assign(v, v * 2.0)
    n = gg.placeholder(gg.int32, [], name="n")
    out = gg.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s + v), [0, gg.zeros([2])])[1]
    with devices.simulated(num_gpus=1):
        with gg.Session() as sess:
            sess.run(v.initializer)
            sess.run(double)   # a flat plan on the (emulated) GPU: v may now live there
            got = sess.run(out, {n: 3})
    assert isinstance(got, np.ndarray) and got.tolist() == [6.0, 12.0]
