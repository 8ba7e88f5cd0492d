"""The device inventory: CPU:0 plus CuPy's GPUs, detected once; one log line when there is no GPU;
the simulated() and GPUGRAPH_VISIBLE_DEVICES overrides; the session config's device filters."""

import logging
import sys
import types

import pytest

import gpugraph as tf
from gpugraph.runtime import devices

CPU_NAME = "/job:localhost/replica:0/task:0/device:CPU:0"


@pytest.fixture(autouse=True)
def fresh_detection(monkeypatch):
    """Each test detects anew; the process's real inventory is restored afterwards."""
    monkeypatch.delenv("GPUGRAPH_VISIBLE_DEVICES", raising=False)
    devices._reset_for_tests()
    tf.reset_default_graph()
    yield
    devices._reset_for_tests()


class FakeCUDARuntimeError(RuntimeError):
    pass


FakeCUDARuntimeError.__name__ = "CUDARuntimeError"


def fake_cupy(count=None, error=None):
    """A stand-in ``cupy`` module: ``count`` GPUs, or getDeviceCount raising ``error``."""
    def get_count():
        if error is not None:
            raise error
        return count

    def props(i):
        return {"name": f"Fake GPU {i}".encode(), "totalGlobalMem": (i + 1) << 30}
    runtime = types.SimpleNamespace(getDeviceCount=get_count, getDeviceProperties=props,
                                    CUDARuntimeError=FakeCUDARuntimeError)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


def gpugraph_records(caplog):
    return [r for r in caplog.records if r.name == "gpugraph"]


def test_cpu_device_comes_first_with_tensorflow_names():
    listed = devices.list_devices()
    cpu = listed[0]
    assert cpu.name == CPU_NAME and cpu.device_type == "CPU" and cpu.short_name == "/device:CPU:0"
    assert cpu.memory_limit_bytes > 0
    assert all(d.device_type == "GPU" for d in listed[1:])


def test_missing_cupy_logs_exactly_one_line(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cupy", None)  # ``import cupy`` raises ImportError
    caplog.set_level(logging.INFO, logger="gpugraph")
    inv = devices.inventory()
    devices.inventory()
    tf.Session().list_devices()
    assert [d.name for d in inv.devices] == [CPU_NAME]
    records = gpugraph_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    message = records[0].getMessage()
    assert "CuPy is not installed" in message and "NumPy" in message
    assert "\n" not in message


def test_cuda_runtime_error_logs_exactly_one_line(monkeypatch, caplog):
    error = FakeCUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(error=error))
    caplog.set_level(logging.INFO, logger="gpugraph")
    assert devices.inventory().num_gpus == 0
    assert devices.inventory().backend == "numpy"
    records = gpugraph_records(caplog)
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "CUDARuntimeError" in records[0].getMessage()
    assert "cudaErrorInsufficientDriver" in records[0].getMessage()
    assert "NumPy" in records[0].getMessage()


def test_real_cupy_without_a_gpu_falls_back_to_cpu(caplog):
    pytest.importorskip("cupy")
    caplog.set_level(logging.INFO, logger="gpugraph")
    inv = devices.inventory()
    if inv.num_gpus:
        pytest.skip("this host has a GPU")
    assert len(gpugraph_records(caplog)) == 1
    assert "CuPy cannot use a GPU" in gpugraph_records(caplog)[0].getMessage()


def test_gpus_from_cupy_are_listed(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=2))
    caplog.set_level(logging.INFO, logger="gpugraph")
    inv = devices.inventory()
    assert [d.name for d in inv.devices] == [CPU_NAME, "/job:localhost/replica:0/task:0/device:GPU:0",
                                             "/job:localhost/replica:0/task:0/device:GPU:1"]
    assert inv.gpus[1].description == "Fake GPU 1" and inv.gpus[1].memory_limit_bytes == 2 << 30
    assert inv.backend == "cupy"
    assert not gpugraph_records(caplog)  # nothing to say when GPUs are there


def test_visible_devices_env_renumbers_and_hides(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=3))
    monkeypatch.setenv("GPUGRAPH_VISIBLE_DEVICES", "2")
    inv = devices.inventory()
    assert [(d.short_name, d.cuda_index, d.description) for d in inv.gpus] == \
        [("/device:GPU:0", 2, "Fake GPU 2")]
    devices._reset_for_tests()
    monkeypatch.setenv("GPUGRAPH_VISIBLE_DEVICES", "")
    caplog.set_level(logging.INFO, logger="gpugraph")
    assert devices.inventory().num_gpus == 0
    assert "GPUGRAPH_VISIBLE_DEVICES" in gpugraph_records(caplog)[0].getMessage()
    devices._reset_for_tests()
    monkeypatch.setenv("GPUGRAPH_VISIBLE_DEVICES", "zero")
    with pytest.raises(ValueError, match="GPUGRAPH_VISIBLE_DEVICES"):
        devices.inventory()


def test_simulated_hosts_nest_and_restore():
    real = devices.inventory()
    with devices.simulated(num_gpus=2) as two:
        assert devices.inventory() is two
        assert [d.short_name for d in two.gpus] == ["/device:GPU:0", "/device:GPU:1"]
        assert all(d.simulated for d in two.gpus) and two.backend == "emulated"
        with devices.simulated(num_gpus=0) as none:
            assert devices.inventory() is none and none.num_gpus == 0
        assert devices.inventory() is two
    assert devices.inventory() is real


def test_session_config_filters_gpus():
    with devices.simulated(num_gpus=2):
        assert len(tf.Session().list_devices()) == 3
        cpu_only = tf.Session(config=tf.ConfigProto(device_count={"GPU": 0}))
        assert [d.device_type for d in cpu_only.list_devices()] == ["CPU"]
        second = tf.Session(config=tf.ConfigProto(gpu_options=tf.GPUOptions(visible_device_list="1")))
        gpus = [d for d in second.list_devices() if d.device_type == "GPU"]
        assert [(d.short_name, d.cuda_index) for d in gpus] == [("/device:GPU:0", 1)]
        bad = tf.Session(config=tf.ConfigProto(gpu_options=tf.GPUOptions(visible_device_list="5")))
        with pytest.raises(ValueError, match="visible device 5"):
            bad.list_devices()


def test_gpu_memory_fraction_sets_the_pool_limit():
    from gpugraph.runtime.cuda import emulation
    x = tf.placeholder(tf.float32, [2], name="x")
    y = tf.nn.relu(x)
    options = tf.GPUOptions(per_process_gpu_memory_fraction=0.25, allow_growth=True)
    with devices.simulated(num_gpus=1) as inv:
        from gpugraph.runtime import cuda
        cuda.get_backend(inv)._memory_configured.clear()  # options are process-wide: first one wins
        with tf.Session(config=tf.ConfigProto(gpu_options=options)) as sess:
            assert sess.run(y, {x: [1.0, -1.0]}).tolist() == [1.0, 0.0]
    assert emulation._POOL.get_limit() == int(0.25 * (16 << 30))
