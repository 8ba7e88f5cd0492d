"""Starts ``gpugraph serve`` as a real subprocess on a free loopback port and talks to it over HTTP with
the standard library; always stops it (SIGTERM, then SIGKILL) within a bounded time."""

import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "tests", "data", "tf_saved_models")


def gpugraph_command():
    """The ``gpugraph`` console script next to this Python when installed, else ``python -m gpugraph.cli``."""
    script = os.path.join(os.path.dirname(sys.executable), "gpugraph")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "gpugraph.cli"]


def layout(tmp_path, model, versions=(1,)):
    """A TF Serving base path: ``tmp_path/<model>/<version>/`` copies of a TF-written SavedModel."""
    base = tmp_path / model
    for v in versions:
        shutil.copytree(os.path.join(DATA, model), base / str(v))
    return base


class Server:
    """A running ``gpugraph serve``; ``url`` is its base URL. Use as a context manager."""

    def __init__(self, model_name, base_path, *extra_args, startup_timeout=90):
        cmd = gpugraph_command() + ["serve", f"--model_name={model_name}", f"--model_base_path={base_path}",
                                    "--rest_api_host=127.0.0.1", "--rest_api_port=0", *extra_args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     cwd=REPO, start_new_session=True)
        self.lines = []
        self._queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + startup_timeout
        self.port = None
        try:
            while self.port is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"gpugraph serve did not start in {startup_timeout} s:\n" + "".join(self.lines))
                try:
                    line = self._queue.get(timeout=min(remaining, 1.0))
                except queue.Empty:
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"gpugraph serve exited with {self.proc.returncode}:\n"
                                           + "".join(self.lines)) from None
                    continue
                if line is None:
                    continue
                m = re.search(r"REST API on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
        except BaseException:
            self.stop()
            raise
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def connection(self, timeout=30):
        """A keep-alive connection with TCP_NODELAY (as urllib3 sets it; http.client sends large bodies
        in a second write that Nagle's algorithm would delay)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method, path, body=None, headers=None, conn=None):
        """(status, parsed JSON body) of one request (a fresh connection unless ``conn`` is given)."""
        own = conn is None
        conn = conn or self.connection()
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            assert resp.getheader("Content-Type", "").startswith("application/json"), (resp.status, data)
            return resp.status, json.loads(data)
        finally:
            if own:
                conn.close()

    def wait_available(self, name, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.request("GET", f"/v1/models/{name}")
            if status == 200 and any(v["state"] == "AVAILABLE" for v in body["model_version_status"]):
                return body
            if time.monotonic() > deadline:
                raise RuntimeError(f"model {name} not AVAILABLE after {timeout} s: {status} {body}")
            time.sleep(0.1)

    def stop(self, timeout=15):
        """SIGTERM (graceful), then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
