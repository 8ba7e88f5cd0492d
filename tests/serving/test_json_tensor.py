"""In-process checks of TF Serving's JSON conventions (number formatting, dtype rules, the parser
fallback) and of the dynamic batcher (batching, splitting, fallbacks, queue limit)."""

import json
import threading
import time

import numpy as np
import pytest

from gpugraph.framework import dtypes
from gpugraph.serving import json_tensor
from gpugraph.serving.batching import Batcher, BatchingOptions
from gpugraph.serving.json_tensor import RequestError


def test_float_tokens_follow_tf_serving():
    f32 = np.array([0.1, 3.0, 1e-5, 0.0159231517, -0.0, 9000000.0, 2.5e38], np.float32)
    assert json_tensor.render_value(f32) == "[0.1, 3.0, 1e-05, 0.0159231517, -0.0, 9e+06, 2.5e+38]"
    special = np.array([np.nan, np.inf, -np.inf], np.float32)
    assert json_tensor.render_value(special) == "[NaN, Infinity, -Infinity]"
    f64 = np.array([0.1, 1 / 3], np.float64)
    assert json_tensor.render_value(f64) == "[0.1, 0.33333333333333331]"
    # Whatever the notation, the value reads back exactly.
    rng = np.random.default_rng(0)
    values = (rng.standard_normal(1000) * 10.0 ** rng.integers(-20, 20, 1000)).astype(np.float32)
    back = np.array(json.loads(json_tensor.render_value(values)), np.float32)
    np.testing.assert_array_equal(back, values)
    assert json_tensor.render_value(np.array([1.5, -2], np.float16)) == "[1.5, -2.0]"


def test_other_tokens_and_response_shapes():
    assert json_tensor.render_value(np.array([[1, -2], [3, 4]], np.int64)) == "[[1, -2], [3, 4]]"
    assert json_tensor.render_value(np.array([True, False])) == "[true, false]"
    assert json_tensor.render_value(np.array(7, np.int32)) == "7"
    strings = np.array(["caf\u00e9".encode(), b"\xff\x00"], dtype=object)
    assert json.loads(json_tensor.render_value(strings)) == ["caf\u00e9", {"b64": "/wA="}]
    assert json.loads(json_tensor.render_value(strings, as_bytes=True))[0] == {"b64": "Y2Fmw6k="}
    assert json_tensor.render_value(np.zeros((2, 0), np.float32)) == "[[], []]"
    outputs = {"b": np.array([[1.0], [2.0]], np.float32), "a": np.array([3, 4], np.int32)}
    assert json.loads(json_tensor.render_response(outputs, json_tensor.ROW)) == {
        "predictions": [{"a": 3, "b": [1.0]}, {"a": 4, "b": [2.0]}]}
    assert json.loads(json_tensor.render_response(outputs, json_tensor.COLUMNAR)) == {
        "outputs": {"a": [3, 4], "b": [[1.0], [2.0]]}}
    with pytest.raises(RequestError, match="inconsistent batch size: 2 expecting: 3"):
        json_tensor.render_response({"a": np.zeros(3), "b": np.zeros(2)}, json_tensor.ROW)
    with pytest.raises(RequestError, match="no shape information"):
        json_tensor.render_response({"a": np.float32(1)}, json_tensor.ROW)


def test_parse_with_and_without_orjson(monkeypatch):
    body = b'{"instances": [[1, 2.5, -3e2]], "signature_name": "s"}'
    fast = json_tensor.parse_body(body)
    monkeypatch.setattr(json_tensor, "_orjson", None)
    assert json_tensor.parse_body(body) == fast == {"instances": [[1, 2.5, -300.0]], "signature_name": "s"}
    assert json_tensor.parse_body(b'{"inputs": [NaN]}')["inputs"][0] != 0  # NaN via the json module
    with pytest.raises(RequestError, match="Expecting value at offset: 14"):
        json_tensor.parse_body(b'{"inputs": [1,]}')


def test_to_array_dtype_rules():
    f32, i32, u8, boolean, string = dtypes.float32, dtypes.int32, dtypes.uint8, dtypes.bool, dtypes.string
    assert json_tensor.to_array([[1, 2.5]], f32, "x").dtype == np.float32
    with pytest.raises(RequestError, match="Cannot convert JSON value: 16777217 to float without loss"):
        json_tensor.to_array([16777217], f32, "x")
    with pytest.raises(RequestError, match="to float without loss of precision"):
        json_tensor.to_array([1e39], f32, "x")
    assert json_tensor.to_array([16777217], dtypes.float64, "x")[0] == 16777217
    with pytest.raises(RequestError, match="JSON Value: 2.0 Type: Number is not of expected type: int32"):
        json_tensor.to_array([1, 2.0], i32, "x")
    with pytest.raises(RequestError, match="out of range"):
        json_tensor.to_array([256], u8, "x")
    with pytest.raises(RequestError, match="Type: Number is not of expected type: bool"):
        json_tensor.to_array([True, 1], boolean, "x")
    with pytest.raises(RequestError, match="Type: True is not of expected type: float"):
        json_tensor.to_array([True], f32, "x")
    with pytest.raises(RequestError, match="Type: Null"):
        json_tensor.to_array([1, None], f32, "x")
    with pytest.raises(RequestError, match="ragged"):
        json_tensor.to_array([[1], [2, 3]], f32, "x")
    with pytest.raises(RequestError, match="ragged"):
        json_tensor.to_array([["a"], ["b", "c"]], string, "x")
    arr = json_tensor.to_array([["a", {"b64": "Yg=="}]], string, "x")
    assert arr.shape == (1, 2) and arr.tolist() == [[b"a", b"b"]]
    assert json_tensor.to_array({"b64": "Yg=="}, string, "x")[()] == b"b"
    with pytest.raises(RequestError, match="not formatted correctly for base64"):
        json_tensor.to_array([{"b64": "Yg==", "extra": 1}], string, "x")


class _FakeSignature:
    """Doubles its input; records the batch sizes it was run with."""

    name = "fake"
    input_keys = ["x"]

    def __init__(self, batch_major=True, delay=0.0):
        self.calls = []
        self.batch_major = batch_major
        self.delay = delay
        self.lock = threading.Lock()

    def run(self, arrays):
        time.sleep(self.delay)
        x = arrays["x"]
        with self.lock:
            self.calls.append(len(x))
        if (x < 0).any():
            raise ValueError("negative input")
        return {"y": x * 2 if self.batch_major else x.sum(keepdims=True)}


def _submit_all(batcher, tasks):
    futures = [batcher.submit({"x": np.asarray(t, np.float32)}, len(t)) for t in tasks]
    return [f.result(timeout=30) if f.exception(timeout=30) is None else f.exception() for f in futures]


def test_batcher_batches_and_splits():
    sig = _FakeSignature(delay=0.05)
    batcher = Batcher(sig, BatchingOptions(max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1))
    try:
        tasks = [[[float(i)]] * (1 + i % 3) for i in range(12)]
        results = _submit_all(batcher, tasks)
    finally:
        batcher.close()
    for t, r in zip(tasks, results):
        np.testing.assert_array_equal(r["y"], np.asarray(t, np.float32) * 2)
    assert max(sig.calls) > 3 and all(c <= 8 for c in sig.calls), sig.calls  # requests were combined
    assert sum(sig.calls) == sum(len(t) for t in tasks)


def test_batcher_isolates_a_failing_request_and_non_batch_major_outputs():
    sig = _FakeSignature(delay=0.02)
    batcher = Batcher(sig, BatchingOptions(max_batch_size=8, batch_timeout_micros=100_000, num_batch_threads=1))
    try:
        results = _submit_all(batcher, [[[1.0]], [[-1.0]], [[2.0]]])
    finally:
        batcher.close()
    assert results[0]["y"].tolist() == [[2.0]] and results[2]["y"].tolist() == [[4.0]]
    assert isinstance(results[1], ValueError)
    sig = _FakeSignature(batch_major=False)
    batcher = Batcher(sig, BatchingOptions(max_batch_size=8, batch_timeout_micros=100_000, num_batch_threads=1))
    try:
        results = _submit_all(batcher, [[[1.0]], [[2.0]]])
    finally:
        batcher.close()
    assert [r["y"].tolist() for r in results] == [[[1.0]], [[2.0]]]  # re-run one by one, not mixed


def test_batcher_queue_limit():
    sig = _FakeSignature(delay=0.2)
    batcher = Batcher(sig, BatchingOptions(max_batch_size=2, batch_timeout_micros=0, num_batch_threads=1,
                                           max_enqueued_batches=1))
    try:
        first = batcher.submit({"x": np.ones((2, 1), np.float32)}, 2)
        deadline = time.monotonic() + 10
        while batcher._pending_rows and time.monotonic() < deadline:  # until the batch thread has it
            time.sleep(0.005)
        batcher.submit({"x": np.ones((2, 1), np.float32)}, 2)
        with pytest.raises(RequestError, match="queue .* is full") as err:
            batcher.submit({"x": np.ones((1, 1), np.float32)}, 1)
        assert err.value.status == 503
        first.result(timeout=10)
    finally:
        batcher.close()


def test_batching_parameters_file():
    options = BatchingOptions.from_text("# TF Serving style\nmax_batch_size { value: 64 }\n"
                                        "batch_timeout_micros { value: 500 }\nnum_batch_threads { value: 3 }")
    assert (options.max_batch_size, options.batch_timeout_micros, options.num_batch_threads) == (64, 500, 3)
    with pytest.raises(ValueError, match="'allowed_batch_sizes' is not supported"):
        BatchingOptions.from_text("allowed_batch_sizes { value: 8 }")
    with pytest.raises(ValueError, match="cannot parse"):
        BatchingOptions.from_text("max_batch_size: 64")
    with pytest.raises(ValueError, match=">= 1"):
        BatchingOptions.from_text("max_batch_size { value: 0 }")
