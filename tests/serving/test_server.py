"""``gpugraph serve`` as a real subprocess on loopback, driven over HTTP with the standard library:
TF Serving's status, metadata and predict (row and columnar) endpoints on TensorFlow-written
SavedModels, outputs equal to what TensorFlow computed, b64 bytes, every kind of bad request with
its status and an error naming the culprit, and 400 concurrent requests over 16 keep-alive
connections (with and without dynamic batching)."""

import base64
import json
import os
import threading

import numpy as np
import pytest

from server_process import DATA, Server, layout

EXPECTED = np.load(os.path.join(DATA, "expected.npz"))
MAX_BYTES = 256 * 1024


def expected(model, signature, key):
    return EXPECTED[f"{model}|{signature}|{key}"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = layout(tmp_path_factory.mktemp("models"), "multi")
    with Server("multi", base, f"--max_request_bytes={MAX_BYTES}", "--file_system_poll_wait_seconds=0") as srv:
        srv.wait_available("multi")
        yield srv
    assert srv.proc.returncode is not None


def predict(srv, body, path="/v1/models/multi:predict", conn=None):
    return srv.request("POST", path, body, conn=conn)


def assert_error(status, body, want_status, *fragments):
    assert status == want_status, (status, body)
    assert set(body) == {"error"}, body
    for fragment in fragments:
        assert fragment in body["error"], (fragment, body["error"])


# -- status and metadata --------------------------------------------------------------------------
def test_status(server):
    status, body = server.request("GET", "/v1/models/multi")
    assert status == 200
    assert body == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    status, body = server.request("GET", "/v1/models/multi/versions/1")
    assert status == 200 and body["model_version_status"][0]["version"] == "1"


def test_metadata(server):
    for path in ("/v1/models/multi/metadata", "/v1/models/multi/versions/1/metadata"):
        status, body = server.request("GET", path)
        assert status == 200, body
        assert body["model_spec"] == {"name": "multi", "signature_name": "", "version": "1"}
        sigs = body["metadata"]["signature_def"]["signature_def"]
        assert sorted(sigs) == ["asset", "bytes", "ints", "serving_default", "two_inputs"]
        x = sigs["serving_default"]["inputs"]["x"]
        assert x == {"name": "x:0", "dtype": "DT_FLOAT", "tensor_shape": {
            "dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}], "unknown_rank": False}}
        assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
        assert sigs["bytes"]["inputs"]["text_bytes"]["dtype"] == "DT_STRING"


# -- predict ----------------------------------------------------------------------------------------
def test_predict_row_format_matches_tensorflow(server):
    x = expected("multi", "serving_default", "x")
    status, body = predict(server, {"instances": x.tolist()})
    assert status == 200, body
    assert list(body) == ["predictions"]
    # One output: a plain list, one value per instance; floats exactly as TensorFlow computed them.
    np.testing.assert_array_equal(np.array(body["predictions"], np.float32), expected("multi", "serving_default", "y"))
    # Named-object instances work for a single input too.
    status, body2 = predict(server, {"instances": [{"x": row} for row in x.tolist()]})
    assert status == 200 and body2 == body


def test_predict_columnar_format_matches_tensorflow(server):
    x = expected("multi", "serving_default", "x")
    status, body = predict(server, {"inputs": x.tolist()})
    assert status == 200, body
    np.testing.assert_array_equal(np.array(body["outputs"], np.float32), expected("multi", "serving_default", "y"))
    status, body = predict(server, {"inputs": {"x": x.tolist()}, "signature_name": "serving_default"})
    assert status == 200
    np.testing.assert_array_equal(np.array(body["outputs"], np.float32), expected("multi", "serving_default", "y"))


def test_predict_several_inputs_and_outputs(server):
    a, b = expected("multi", "two_inputs", "a"), expected("multi", "two_inputs", "b")
    status, body = predict(server, {"signature_name": "two_inputs", "inputs": {"a": a.tolist(), "b": b.tolist()}})
    assert status == 200, body
    assert sorted(body["outputs"]) == ["diff", "sum"]  # columnar, several outputs: an object
    for key in ("sum", "diff"):
        np.testing.assert_array_equal(np.array(body["outputs"][key], np.float32), expected("multi", "two_inputs", key))
    rows = [{"a": ra, "b": rb} for ra, rb in zip(a.tolist(), b.tolist())]
    status, body = predict(server, {"signature_name": "two_inputs", "instances": rows})
    assert status == 200, body
    assert len(body["predictions"]) == len(rows)  # row format, several outputs: an object per instance
    for key in ("sum", "diff"):
        got = np.array([p[key] for p in body["predictions"]], np.float32)
        np.testing.assert_array_equal(got, expected("multi", "two_inputs", key))


def test_predict_ints(server):
    k = expected("multi", "ints", "k")
    status, body = predict(server, {"signature_name": "ints", "instances": k.tolist()})
    assert status == 200, body
    assert body["predictions"] == expected("multi", "ints", "k3").tolist()


def test_predict_b64_bytes(server):
    texts = [bytes(t) for t in expected("multi", "bytes", "text_bytes").tolist()]
    instances = [{"b64": base64.b64encode(t).decode()} for t in texts]
    status, body = predict(server, {"signature_name": "bytes", "instances": instances})
    assert status == 200, body
    echoed = [base64.b64decode(p["echo_bytes"]["b64"]) for p in body["predictions"]]
    assert echoed == [bytes(t) for t in expected("multi", "bytes", "echo_bytes").tolist()]
    # An output without the _bytes suffix is text when it is UTF-8, else (losslessly) b64.
    plain = body["predictions"]
    assert plain[0]["plain"] == "hello" and plain[2]["plain"] == "caf\u00e9"
    assert base64.b64decode(plain[1]["plain"]["b64"]) == texts[1]
    # Plain JSON strings feed a string input too, and a scalar signature works in columnar format.
    status, body = predict(server, {"signature_name": "bytes", "inputs": {"text_bytes": ["a", {"b64": "Yg=="}]}})
    assert status == 200 and body["outputs"]["plain"] == ["a", "b"], body
    status, body = predict(server, {"signature_name": "asset", "inputs": {}})
    assert status == 200 and body["outputs"].endswith(os.path.join("1", "assets", "vocab.txt")), body


def test_float_formatting_and_special_values(server):
    status, body = server.request("POST", "/v1/models/multi:predict",
                                  '{"instances": [[NaN, Infinity, -Infinity], [0.1, 1e-7, 3]]}')
    assert status == 200, body
    y = np.array(body["predictions"], np.float32)
    want = np.array([[np.nan, np.inf, -np.inf], [0.1, 1e-7, 3]], np.float32) * np.array([0.5, -2.0, 3.0],
                                                                                         np.float32) + 1
    np.testing.assert_array_equal(y, want)


# -- bad requests -----------------------------------------------------------------------------------
def test_malformed_json(server):
    status, body = server.request("POST", "/v1/models/multi:predict", '{"instances": [[1, 2, 3]')
    assert_error(status, body, 400, "JSON Parse error")
    status, body = server.request("POST", "/v1/models/multi:predict", "")
    assert_error(status, body, 400, "JSON Parse error: The document is empty")
    status, body = predict(server, [1, 2, 3])
    assert_error(status, body, 400, "Is not object")
    status, body = predict(server, {"signature_name": "serving_default"})
    assert_error(status, body, 400, "Missing 'inputs' or 'instances' key")
    status, body = predict(server, {"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]})
    assert_error(status, body, 400, "only one of 'inputs' or 'instances'")


def test_wrong_shape(server):
    status, body = predict(server, {"instances": [[1.0, 2.0]]})
    assert_error(status, body, 400, "input 'x'", "[1,2]", "[-1,3]")
    status, body = predict(server, {"instances": [[1.0, 2.0, 3.0], [1.0, 2.0]]})
    assert_error(status, body, 400, "input 'x'", "ragged")
    status, body = predict(server, {"signature_name": "two_inputs", "inputs": {"a": [[1, 2]], "b": [[1, 2, 3]]}})
    assert_error(status, body, 400, "input 'b'", "[1,3]")


def test_wrong_dtype(server):
    status, body = predict(server, {"instances": [[1.0, "two", 3.0]]})
    assert_error(status, body, 400, "input 'x'", '"two"', "String", "float")
    status, body = predict(server, {"signature_name": "ints", "instances": [[1.5, 2]]})
    assert_error(status, body, 400, "input 'k'", "1.5", "int32")
    status, body = predict(server, {"signature_name": "ints", "instances": [[1, 2 ** 40]]})
    assert_error(status, body, 400, "input 'k'", str(2 ** 40), "out of range")
    status, body = predict(server, {"signature_name": "bytes", "instances": [1, 2]})
    assert_error(status, body, 400, "input 'text_bytes'", "string")
    status, body = predict(server, {"signature_name": "bytes", "instances": [{"b64": "!!not base64!!"}]})
    assert_error(status, body, 400, "input 'text_bytes'", "base64")


def test_unknown_signature_and_input(server):
    status, body = predict(server, {"signature_name": "no_such_signature", "instances": [[1, 2, 3]]})
    assert_error(status, body, 400, '"no_such_signature"', "not found", "serving_default")
    status, body = predict(server, {"inputs": {"x": [[1, 2, 3]], "bogus_input": [1]}})
    assert_error(status, body, 400, "'bogus_input'", "(its inputs: x)")
    status, body = predict(server, {"instances": [{"x": [1, 2, 3], "bogus_input": 1}]})
    assert_error(status, body, 400, "bogus_input")
    status, body = predict(server, {"signature_name": "two_inputs", "inputs": {"a": [[1, 2]]}})
    assert_error(status, body, 400, "Missing named input: b")


def test_unknown_model_and_version(server):
    status, body = predict(server, {"instances": [[1, 2, 3]]}, path="/v1/models/nosuchmodel:predict")
    assert_error(status, body, 404, "nosuchmodel")
    status, body = server.request("GET", "/v1/models/nosuchmodel")
    assert_error(status, body, 404, "nosuchmodel")
    status, body = predict(server, {"instances": [[1, 2, 3]]}, path="/v1/models/multi/versions/7:predict")
    assert_error(status, body, 404, "Specific(multi, 7)")
    status, body = server.request("GET", "/v1/models/multi/versions/7/metadata")
    assert_error(status, body, 404, "Specific(multi, 7)")
    status, body = server.request("GET", "/v2/whatever")
    assert_error(status, body, 404, "/v2/whatever")
    status, body = server.request("POST", "/v1/models/multi:frobnicate", "{}")
    assert_error(status, body, 404, ":frobnicate")
    status, body = server.request("POST", "/v1/models/multi:classify", "{}")
    assert_error(status, body, 501, ":classify")


def test_oversized_body(server):
    big = json.dumps({"instances": [[1.0, 2.0, 3.0]] * (MAX_BYTES // 10)})
    assert len(big) > MAX_BYTES
    conn = server.connection()
    try:
        status, body = server.request("POST", "/v1/models/multi:predict", big, conn=conn)
        assert_error(status, body, 413, f"{MAX_BYTES} bytes", "--max_request_bytes")
        # The body was read and dropped: the same keep-alive connection serves the next request.
        status, body = predict(server, {"instances": [[1, 2, 3]]}, conn=conn)
        assert status == 200, body
    finally:
        conn.close()


def test_server_keeps_serving_after_errors(server):
    for bad in ('{"instances": [[1,', '{"instances": [["x", 1, 2]]}', '{"signature_name": 3, "instances": [[1]]}'):
        status, _ = server.request("POST", "/v1/models/multi:predict", bad)
        assert status == 400
    assert server.request("GET", "/v1/models/multi")[1]["model_version_status"][0]["state"] == "AVAILABLE"
    x = expected("multi", "serving_default", "x")
    status, body = predict(server, {"instances": x.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.array(body["predictions"], np.float32), expected("multi", "serving_default", "y"))
    assert server.proc.poll() is None


# -- concurrency --------------------------------------------------------------------------------------
def _hammer(srv, path, make_body, check, n_requests=400, n_connections=16):
    """n_requests spread over n_connections threads, each on its own keep-alive connection."""
    errors, done = [], []
    lock = threading.Lock()

    def worker(worker_index):
        conn = srv.connection()
        try:
            for i in range(worker_index, n_requests, n_connections):
                try:
                    status, body = srv.request("POST", path, make_body(i), conn=conn)
                    if status != 200:
                        raise AssertionError(f"request {i}: HTTP {status}: {body}")
                    check(i, body)
                    with lock:
                        done.append(i)
                except Exception as e:  # noqa: BLE001 - collected and reported below
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "client threads hung"
    assert not errors, errors[:5]
    assert sorted(done) == list(range(n_requests))


def test_concurrent_requests_share_one_model(server):
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((400, 3)).astype(np.float32)
    want = xs * np.array([0.5, -2.0, 3.0], np.float32) + np.float32(1.0)

    def body(i):
        return {"instances": [xs[i].tolist()]} if i % 2 else {"inputs": {"x": [xs[i].tolist()]}}

    def check(i, resp):
        got = resp["predictions"] if i % 2 else resp["outputs"]
        np.testing.assert_array_equal(np.array(got, np.float32), want[i:i + 1])

    _hammer(server, "/v1/models/multi:predict", body, check)


def _mlp_reference(x):
    from gpugraph.train import load_variable
    prefix = os.path.join(DATA, "mlp", "variables", "variables")
    h = x
    for name in ("dense1", "dense2"):
        h = np.maximum(h @ load_variable(prefix, f"{name}/kernel") + load_variable(prefix, f"{name}/bias"), 0)
    logits = h @ load_variable(prefix, "logits/kernel") + load_variable(prefix, "logits/bias")
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return logits, e / e.sum(axis=1, keepdims=True)


def test_dynamic_batching_concurrent_mlp(tmp_path):
    base = layout(tmp_path, "mlp")
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 16 }\nbatch_timeout_micros { value: 5000 }\n"
                      "num_batch_threads { value: 2 }\n")
    rng = np.random.default_rng(11)
    xs = rng.standard_normal((400, 8)).astype(np.float32)
    logits, probs = _mlp_reference(xs)
    with Server("mlp", base, "--enable_batching", f"--batching_parameters_file={params}") as srv:
        srv.wait_available("mlp")
        x0 = expected("mlp", "serving_default", "x")
        status, body = srv.request("POST", "/v1/models/mlp:predict", {"instances": x0.tolist()})
        assert status == 200, body
        got = np.array([p["logits"] for p in body["predictions"]], np.float32)
        np.testing.assert_allclose(got, expected("mlp", "serving_default", "logits"), rtol=1e-5, atol=1e-6)

        def make_body(i):
            n = 1 + i % 3  # requests of 1-3 rows: batches mix request sizes
            return {"instances": xs[i:i + n].tolist()}

        def check(i, resp):
            n = 1 + i % 3
            rows = resp["predictions"]
            assert len(rows) == len(xs[i:i + n])
            np.testing.assert_allclose(np.array([r["logits"] for r in rows], np.float32), logits[i:i + n],
                                       rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(np.array([r["probs"] for r in rows], np.float32), probs[i:i + n],
                                       rtol=1e-4, atol=1e-6)

        _hammer(srv, "/v1/models/mlp:predict", make_body, check)
    assert srv.proc.returncode is not None


def test_new_version_is_picked_up(tmp_path):
    base = layout(tmp_path, "legacy")
    with Server("legacy", base, "--file_system_poll_wait_seconds=0.2", "--saved_model_tags=serve,gpu") as srv:
        assert srv.wait_available("legacy")["model_version_status"][0]["version"] == "1"
        import shutil
        shutil.copytree(os.path.join(DATA, "legacy"), base / "3")
        import time
        deadline = time.monotonic() + 60
        while True:
            status, body = srv.request("GET", "/v1/models/legacy")
            states = {v["version"]: v["state"] for v in body["model_version_status"]}
            if states.get("3") == "AVAILABLE":
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        assert states["1"] == "END"
        status, body = srv.request("POST", "/v1/models/legacy/versions/3:predict", {"instances": [1.0, 2.0]})
        assert status == 200 and body["predictions"] == [43.0, 44.0], body
        status, body = srv.request("POST", "/v1/models/legacy/versions/1:predict", {"instances": [1.0]})
        assert_error(status, body, 404, "Specific(legacy, 1)")
