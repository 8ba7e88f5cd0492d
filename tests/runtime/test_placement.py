"""The placer's decisions on simulated 0-, 1- and 2-GPU hosts, the remap warning and the strict
policy, log_device_placement, and plans with device boundaries run on the emulated GPU backend."""

import logging

import numpy as np
import pytest

import gpugraph as tf
from gpugraph.framework.op_builder import apply_op
from gpugraph.runtime import cuda, devices, placement
from gpugraph.runtime.cuda.emulation import DeviceArray

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"
GPU0 = "/job:localhost/replica:0/task:0/device:GPU:0"
GPU1 = "/job:localhost/replica:0/task:0/device:GPU:1"


@pytest.fixture(autouse=True)
def fresh_graph(monkeypatch):
    monkeypatch.delenv("GPUGRAPH_PLACEMENT", raising=False)
    tf.reset_default_graph()
    cuda.register_kernels()
    yield


def place(num_gpus, graph=None, policy="remap", soft=False):
    """{op name: PlacementDecision} for the whole graph on a simulated host."""
    with devices.simulated(num_gpus=num_gpus) as inv:
        placer = placement.Placer(graph or tf.get_default_graph(), inv, soft, policy)
        return {d.op_name: d for d in placer.place()}


def warnings_of(caplog):
    return [r for r in caplog.records if r.name == "gpugraph" and r.levelno >= logging.WARNING]


# -- one op, each kind of request ---------------------------------------------------------------
def test_empty_device_goes_to_gpu0_when_there_is_one():
    tf.nn.relu(tf.constant([1.0, -1.0]), name="r")
    assert place(1)["r"].assigned == GPU0
    assert place(1)["r"].reason == "default: a GPU kernel exists"
    assert place(0)["r"].assigned == CPU
    assert place(0)["r"].reason.startswith("default:")


def test_cpu_request_is_honoured():
    with tf.device("/cpu:0"):
        tf.nn.relu(tf.constant([1.0]), name="r")
    for n in (0, 1):
        d = place(n)["r"]
        assert (d.requested, d.assigned, d.reason) == ("/device:CPU:0", CPU, "requested")


def test_gpu0_request():
    with tf.device("/gpu:0"):
        tf.nn.relu(tf.constant([1.0]), name="r")
    assert place(1)["r"].assigned == GPU0 and place(1)["r"].reason == "requested"
    cpu_host = place(0)["r"]
    assert cpu_host.assigned == CPU
    assert "no GPU" in cpu_host.reason and "remapped to CPU:0" in cpu_host.reason


def test_gpu3_is_remapped_modulo_the_gpu_count():
    with tf.device("/device:GPU:3"):
        tf.nn.relu(tf.constant([1.0]), name="r")
    assert place(1)["r"].assigned == GPU0
    assert "lacks (1 GPU(s))" in place(1)["r"].reason
    assert place(2)["r"].assigned == GPU1  # 3 mod 2
    assert place(0)["r"].assigned == CPU


def test_job_replica_task_are_ignored():
    with tf.device("/job:worker/replica:0/task:1/device:GPU:1"):
        tf.nn.relu(tf.constant([1.0]), name="r")
    assert place(2)["r"].assigned == GPU1 and place(2)["r"].reason == "requested"
    assert place(1)["r"].assigned == GPU0
    assert place(0)["r"].assigned == CPU
    with tf.device("/job:ps"):
        tf.nn.relu(tf.constant([1.0]), name="j")
    assert "job/replica/task ignored" in place(1)["j"].reason


def test_op_without_a_gpu_kernel_falls_back_to_cpu(caplog):
    caplog.set_level(logging.INFO, logger="gpugraph")
    placement._FALLBACK_LOGGED.discard("Where")
    x = tf.placeholder(tf.bool, [3], name="x")
    with tf.device("/gpu:0"):
        tf.where(x, name="w")  # Where (coordinates of true elements) has no GPU kernel
    d = place(1)["w"]
    assert d.assigned == CPU
    assert "no GPU kernel for Where" in d.reason and "fell back to CPU:0" in d.reason
    assert sum("no GPU kernel for Where" in r.getMessage() for r in caplog.records) == 1
    place(1)  # logged once per op type
    assert sum("no GPU kernel for Where" in r.getMessage() for r in caplog.records) == 1


def test_dtype_the_gpu_kernel_lacks_falls_back_to_cpu():
    a = tf.constant(np.ones((2, 2)), dtype=tf.bfloat16)
    tf.matmul(a, a, name="mm")
    tf.matmul(tf.ones([2, 2]), tf.ones([2, 2]), name="mm32")
    decisions = place(1)
    assert decisions["mm"].assigned == CPU and "does not support bfloat16" in decisions["mm"].reason
    assert decisions["mm32"].assigned == GPU0


def test_declared_kernel_dtypes():
    assert placement.supported_dtypes("RealDiv", "GPU") == frozenset(
        [tf.float16, tf.float32, tf.float64, tf.complex64, tf.complex128])
    assert placement.supported_dtypes("Relu", "GPU") == placement.CUPY_DTYPES
    assert placement.supported_dtypes("Relu", "CPU") is None


# -- colocation --------------------------------------------------------------------------------------
def test_colocation_group_is_placed_together():
    with tf.device("/cpu:0"):
        a = tf.constant([1.0, 2.0], name="a")
    with tf.colocate_with(a.op):
        tf.nn.relu(a, name="member")
    decisions = place(1)
    assert decisions["member"].assigned == CPU
    assert decisions["member"].reason.startswith("colocated with a")


def test_group_member_without_gpu_kernel_takes_the_group_to_cpu():
    x = tf.placeholder(tf.bool, [3], name="x")
    anchor = tf.logical_not(x, name="anchor")
    with tf.colocate_with(anchor.op):
        tf.where(anchor, name="no_gpu_kernel")
    decisions = place(1)
    assert decisions["anchor"].assigned == CPU
    assert "no GPU kernel for Where" in decisions["anchor"].reason


def test_ref_inputs_colocate_with_their_variable():
    with tf.device("/cpu:0"):
        v = tf.Variable([1.0, 2.0], name="v")
    # Built without colocate_with: only the ref edge ties the update to the variable.
    apply_op("ApplyGradientDescent", var=v._ref(), alpha=0.1, delta=[1.0, 1.0], name="sgd")
    decisions = place(1)
    assert decisions["v"].assigned == CPU
    assert decisions["sgd"].assigned == CPU and "colocated with v" in decisions["sgd"].reason
    assert decisions["v/read"].assigned == CPU


def test_resource_variables_colocate_with_their_handle():
    with tf.device("/cpu:0"):
        h = apply_op("VarHandleOp", dtype=tf.float32, shape=tf.TensorShape([2]), shared_name="r",
                     name="handle")
    apply_op("ReadVariableOp", resource=h, dtype=tf.float32, name="read")
    assert place(1)["read"].assigned == CPU


def test_clear_devices_graph_uses_the_default_device():
    with tf.device("/device:GPU:3"):
        tf.nn.relu(tf.constant([1.0]), name="r")
    meta = tf.train.export_meta_graph(clear_devices=True)
    g = tf.Graph()
    with g.as_default():
        tf.train.import_meta_graph(meta)
    assert all(op.device == "" for op in g.get_operations())
    assert {d.assigned for d in place(1, g).values()} == {GPU0}
    assert {d.assigned for d in place(0, g).values()} == {CPU}


# -- running placed graphs on a CPU-only host ---------------------------------------------------------
def _placed_graph():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    with tf.device("/gpu:0"):
        w = tf.Variable([[1.0], [2.0]], name="w")
        y = tf.matmul(x, w, name="y")
    with tf.device("/device:GPU:3"):
        z = tf.nn.relu(y - 3.0, name="z")
    with tf.device("/job:worker/replica:0/task:1/device:GPU:1"):
        out = tf.reduce_sum(z, name="out")
    return x, w, out


def test_gpu_placed_graph_runs_on_a_cpu_host_with_one_warning(caplog):
    x, w, out = _placed_graph()
    caplog.set_level(logging.INFO, logger="gpugraph")
    with devices.simulated(num_gpus=0):
        with tf.Session() as sess:
            sess.run(w.initializer)
            value = sess.run(out, {x: [[1.0, 1.0], [2.0, 2.0]]})
            sess.run(out, {x: [[1.0, 1.0]]})
    assert value == np.float32(3.0)  # relu([0, 3]) summed
    warned = warnings_of(caplog)
    assert len(warned) == 1
    message = warned[0].getMessage()
    assert "/device:GPU:0 -> /device:CPU:0" in message and "/device:GPU:3 -> /device:CPU:0" in message
    assert "/job:worker/replica:0/task:1/device:GPU:1 -> /device:CPU:0" in message
    assert "y" in message and "z" in message and "out" in message


def test_soft_placement_remaps_quietly(caplog):
    x, w, out = _placed_graph()
    caplog.set_level(logging.INFO, logger="gpugraph")
    with devices.simulated(num_gpus=0):
        with tf.Session(config=tf.ConfigProto(allow_soft_placement=True)) as sess:
            sess.run(w.initializer)
            sess.run(out, {x: [[1.0, 1.0]]})
    assert not warnings_of(caplog)
    assert any("remapped" in r.getMessage() for r in caplog.records)


def test_strict_policy_names_the_node_and_the_device(monkeypatch):
    x, w, out = _placed_graph()
    with devices.simulated(num_gpus=0):
        with tf.Session(placement_policy="strict") as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"operation w.*'/device:GPU:0'"):
                sess.run(w.initializer)
        monkeypatch.setenv("GPUGRAPH_PLACEMENT", "strict")
        with tf.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match="Could not satisfy explicit device"):
                sess.run(out, {x: [[1.0, 1.0]]})
        # strict is TensorFlow's behaviour: allow_soft_placement still remaps.
        with tf.Session(config=tf.ConfigProto(allow_soft_placement=True)) as sess:
            sess.run(w.initializer)
            assert sess.run(out, {x: [[1.0, 1.0]]}) == np.float32(0.0)


def test_strict_policy_with_a_gpu_and_no_kernel():
    x = tf.placeholder(tf.bool, [3], name="x")
    with tf.device("/gpu:0"):
        tf.where(x, name="w")
    with pytest.raises(tf.errors.InvalidArgumentError, match="operation w.*no GPU kernel for Where"):
        place(1, policy="strict")


def test_bad_policy_is_rejected(monkeypatch):
    with pytest.raises(ValueError, match="placement_policy"):
        tf.Session(placement_policy="lenient")
    monkeypatch.setenv("GPUGRAPH_PLACEMENT", "nope")
    with pytest.raises(ValueError, match="GPUGRAPH_PLACEMENT"):
        tf.Session()


def test_log_device_placement_prints_tensorflow_lines(capsys):
    x = tf.placeholder(tf.float32, [2], name="x")
    with tf.device("/cpu:0"):
        y = tf.nn.relu(x, name="y")
    tf.nn.relu(y, name="z")
    with devices.simulated(num_gpus=1):
        with tf.Session(config=tf.ConfigProto(log_device_placement=True)) as sess:
            sess.run("z:0", {x: [1.0, -1.0]})
            sess.run("z:0", {x: [2.0, -1.0]})  # already placed: printed once
    lines = capsys.readouterr().out.splitlines()
    assert f"y: (Relu): {CPU}  # requested" in lines
    assert f"z: (Relu): {GPU0}  # default: a GPU kernel exists" in lines
    assert sum(line.startswith("z: (Relu)") for line in lines) == 1


def test_session_placement_returns_decisions_as_data():
    x = tf.placeholder(tf.float32, [2], name="x")
    y = tf.nn.relu(x, name="y")
    tf.nn.relu(tf.constant([1.0]), name="unrelated")
    with devices.simulated(num_gpus=1):
        with tf.Session() as sess:
            planned = sess.placement(y, {x: None})
            everything = sess.placement()
    assert [(d.op_name, d.op_type, d.assigned) for d in planned] == [("y", "Relu", GPU0)]
    assert {d.op_name for d in everything} == {"x", "y", "Const", "unrelated"}
    assert str(planned[0]) == f"y: (Relu): {GPU0}  # default: a GPU kernel exists"


# -- plans with device boundaries, on the emulated GPU backend ------------------------------------------
def test_variables_live_on_the_gpu_and_training_steps_run_there():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.Variable([[1.0], [2.0]], name="w")
    loss = tf.reduce_sum(tf.matmul(x, w))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    feed = {x: [[1.0, 1.0]]}
    with devices.simulated(num_gpus=1):
        with tf.Session() as sess:
            sess.run(w.initializer)
            sess.run(train, feed)
            assert isinstance(sess._state.variables()["w"], DeviceArray)
            on_gpu = {d.op_type for d in sess.placement(train, feed) if d.assigned == GPU0}
            value = sess.run(w)
    assert {"MatMul", "ApplyGradientDescent", "VariableV2"} <= on_gpu
    assert type(value) is np.ndarray
    np.testing.assert_allclose(value, [[0.5], [1.5]])


def test_cpu_op_reading_a_gpu_value_gets_a_copy_step():
    x = tf.placeholder(tf.float32, [4], name="x")
    positive = tf.greater(x, 0.0, name="positive")   # GPU
    coords = tf.where(positive, name="coords")          # CPU: no GPU kernel
    count = tf.reduce_sum(tf.cast(coords, tf.int32))    # GPU again
    with devices.simulated(num_gpus=1):
        with tf.Session() as sess:
            value = sess.run(count, {x: [1.0, -1.0, 2.0, 3.0]})
            plan = next(iter(sess._plans.values()))
    assert value == 0 + 2 + 3
    assert "(copying its input from /device:GPU:0 to the host)" in plan.step_notes
    assert "(copying its input from /device:CPU:0 to /device:GPU:0)" in plan.step_notes


def test_host_memory_inputs_stay_on_the_host():
    x = tf.placeholder(tf.float32, [None, 6], name="x")
    y = tf.reshape(x, [tf.shape(x)[0], 2, 3])   # Shape (host output) -> StridedSlice -> Pack -> shape
    s = tf.reduce_sum(y, axis=[1, 2])           # reduction_indices: a host-memory Const
    with devices.simulated(num_gpus=1):
        with tf.Session() as sess:
            value = sess.run(s, {x: np.ones((2, 6), np.float32)})
            notes = next(iter(sess._plans.values())).step_notes
    np.testing.assert_array_equal(value, [6.0, 6.0])
    # Only the feed goes up and the result comes down: Shape's output is a host value, the int32
    # shape arithmetic after it stays on the host, the axes are a host constant.
    assert notes.count("(copying its input from /device:CPU:0 to /device:GPU:0)") == 1
    assert notes.count("(copying its fetched value from /device:GPU:0 to the host)") == 1
    assert sum("copying" in (n or "") for n in notes) == 2


def test_values_cross_between_two_gpus():
    x = tf.placeholder(tf.float32, [3], name="x")
    with tf.device("/gpu:0"):
        a = tf.exp(x, name="a")
    with tf.device("/gpu:1"):
        b = tf.multiply(a, 2.0, name="b")
    with devices.simulated(num_gpus=2):
        with tf.Session() as sess:
            value = sess.run(b, {x: [0.0, 1.0, 2.0]})
            decisions = {d.op_name: d.assigned for d in sess.placement(b, {x: None})}
    np.testing.assert_allclose(value, 2 * np.exp([0.0, 1.0, 2.0]), rtol=1e-6)
    assert decisions == {"a": GPU0, "b/y": GPU1, "b": GPU1}


def test_errors_on_gpu_steps_name_node_and_device():
    a = tf.placeholder(tf.float32, [None, None], name="a")
    b = tf.placeholder(tf.float32, [None, None], name="b")
    y = tf.matmul(a, b, name="mm")
    with devices.simulated(num_gpus=1):
        with tf.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"node 'mm' \(MatMul\) on /device:GPU:0"):
                sess.run(y, {a: np.ones((2, 3)), b: np.ones((2, 3))})


def test_host_constants_feeding_a_gpu_op_are_uploaded_once_each():
    with tf.device("/cpu:0"):
        a = tf.constant([1.0, 2.0], name="a")
        b = tf.constant([10.0, 20.0], name="b")
    with tf.device("/gpu:1"):
        c = tf.add(a, b, name="c")
    with devices.simulated(num_gpus=2):
        with tf.Session() as sess:
            np.testing.assert_array_equal(sess.run(c), [11.0, 22.0])
            np.testing.assert_array_equal(sess.run([c, a])[0], [11.0, 22.0])  # a second plan
            assert len(sess._device_placement.const_cache) == 2


def test_placement_of_a_control_flow_plan_says_it_runs_on_the_cpu():
    """v1 control-flow plans run every op on the CPU; placement() says so, with the placer's choice."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        with tf.device("/gpu:0"):
            _, y = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), [0, x])
    with devices.simulated(num_gpus=1), tf.Session(graph=g) as sess:
        assert sess.run(y, {x: 1.5}) == 12.0
        decisions = sess.placement(y, {x: None})
    assert decisions and all(d.assigned.endswith("CPU:0") for d in decisions)
    moved = [d for d in decisions if "v1 control flow runs on the CPU" in d.reason]
    assert moved and all("GPU:0" in d.reason for d in moved)
