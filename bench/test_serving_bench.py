"""``gpugraph serve`` throughput and latency: the MLP 784-256-256-10 (a SavedModel written by gpugraph),
batch 1, 16 concurrent clients on keep-alive connections, from a separate client process, over
loopback. Recorded per run: requests/s, p50/p90/p99 latency, errors (``extra_info``, and printed).

- ``serving_mlp_b1_c16``: one request per instance, no batching.
- ``serving_mlp_b1_c16_batching``: ``--enable_batching`` (max 16 rows, 1 ms timeout, one batch
  thread): concurrent requests share one run of the model.

This file is also the client: ``python bench/test_serving_bench.py --client PORT MODEL N CONCURRENCY``
prints one JSON line of figures.
"""

import json
import os
import subprocess
import sys
import time

N_REQUESTS = 3000
N_WARMUP = 200
CONCURRENCY = 16


# -- the client (runs in its own process) -------------------------------------------------------------
def client_main(port, model, n_requests, concurrency, n_warmup=N_WARMUP):
    import http.client
    import random
    import threading

    rng = random.Random(0)
    bodies = [json.dumps({"instances": [[rng.uniform(-1, 1) for _ in range(784)]]}).encode() for _ in range(64)]
    path = f"/v1/models/{model}:predict"
    latencies, errors = [], []
    lock = threading.Lock()
    counter = iter(range(n_warmup + n_requests))
    start_barrier = threading.Barrier(concurrency + 1)

    import socket

    def connect():
        # TCP_NODELAY as urllib3/requests set it: http.client sends a body over 2920 bytes in a second
        # write, which Nagle's algorithm would hold back until the server's (delayed) ACK.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def worker():
        conn = connect()
        mine = []
        start_barrier.wait()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=bodies[i % len(bodies)],
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200 or b"predictions" not in data:
                    raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
            except Exception as e:  # noqa: BLE001 - counted, reported
                with lock:
                    errors.append(repr(e))
                conn.close()
                conn = connect()
                continue
            if i >= n_warmup:
                mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start_barrier.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e3 if latencies else None

    measured = len(latencies)
    # Throughput over the whole run, warm-up included (requests were in flight throughout).
    print(json.dumps({"requests": measured, "errors": len(errors), "first_errors": errors[:3],
                      "seconds": elapsed, "throughput_rps": (n_warmup + n_requests - len(errors)) / elapsed,
                      "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
                      "mean_ms": sum(latencies) / measured * 1e3 if measured else None}))


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--client":
    client_main(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    sys.exit(0)


# -- the benchmarks -----------------------------------------------------------------------------------
import re  # noqa: E402
import signal  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gpugraph as gg  # noqa: E402


@pytest.fixture(scope="module")
def mlp_base_path(tmp_path_factory):
    """``<base>/1``: the 784-256-256-10 MLP as a SavedModel (simple_save), outputs ``logits``."""
    base = tmp_path_factory.mktemp("serving") / "mlp"
    rng = np.random.default_rng(0)
    with gg.Graph().as_default():
        x = gg.placeholder(gg.float32, [None, 784], name="x")
        h = x
        for name, (n_in, n_out) in (("dense1", (784, 256)), ("dense2", (256, 256)), ("logits", (256, 10))):
            with gg.variable_scope(name):
                w = gg.get_variable("kernel", initializer=(rng.standard_normal((n_in, n_out)) * 0.05)
                                    .astype(np.float32))
                b = gg.get_variable("bias", initializer=np.zeros(n_out, np.float32))
                h = gg.nn.bias_add(gg.matmul(h, w), b)
                if name != "logits":
                    h = gg.nn.relu(h)
        with gg.Session() as sess:
            sess.run(gg.global_variables_initializer())
            gg.saved_model.simple_save(sess, str(base / "1"), {"x": x}, {"logits": h})
    return base


class _Server:
    def __init__(self, base, *extra):
        cmd = [sys.executable, "-m", "gpugraph.cli", "serve", "--model_name=mlp", f"--model_base_path={base}",
               "--rest_api_host=127.0.0.1", "--rest_api_port=0", "--file_system_poll_wait_seconds=0", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        self.port = None
        while self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("gpugraph serve did not start")
                continue
            m = re.search(r"REST API on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)


def _measure(benchmark, base, group, *server_args):
    server = _Server(base, *server_args)
    figures = {}
    try:
        def run_client():
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--client", str(server.port), "mlp",
                                  str(N_REQUESTS), str(CONCURRENCY)], capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, out.stderr
            figures.update(json.loads(out.stdout.strip().splitlines()[-1]))

        benchmark.group = group
        benchmark.pedantic(run_client, rounds=1, iterations=1)
    finally:
        server.stop()
    assert figures["errors"] == 0, figures["first_errors"]
    benchmark.extra_info.update({k: v for k, v in figures.items() if k != "first_errors"})
    benchmark.extra_info.update({"batch": 1, "concurrency": CONCURRENCY, "model": "mlp 784-256-256-10"})
    print(f"\n{group}: {figures['throughput_rps']:.0f} req/s, p50 {figures['p50_ms']:.2f} ms, "
          f"p90 {figures['p90_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms over {figures['requests']} requests "
          f"({CONCURRENCY} clients, batch 1)")
    return figures


def test_serving_mlp_b1_c16_gpugraph(benchmark, mlp_base_path):
    _measure(benchmark, mlp_base_path, "serving_mlp_b1_c16")


def test_serving_mlp_b1_c16_batching_gpugraph(benchmark, mlp_base_path, tmp_path):
    params = tmp_path / "batching.txt"
    # One batch thread: on a CPU host the model runs under the GIL, so a second one only adds switching.
    params.write_text("max_batch_size { value: 16 }\nbatch_timeout_micros { value: 1000 }\n"
                      "num_batch_threads { value: 1 }\n")
    _measure(benchmark, mlp_base_path, "serving_mlp_b1_c16_batching", "--enable_batching",
             f"--batching_parameters_file={params}")
