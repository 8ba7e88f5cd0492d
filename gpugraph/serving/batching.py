"""Dynamic batching: concurrent row-format requests for one signature are stacked into one run of
the model and the outputs split back, as TF Serving's ``--enable_batching`` does.

A batch is cut when it holds ``max_batch_size`` rows or when its oldest request has waited
``batch_timeout_micros``; ``num_batch_threads`` batches run at once, and while every batch thread
is busy, waiting requests keep joining the next batch (so batches grow with load). Only requests
whose inputs have the same dtypes and per-row shapes share a batch. A request with more rows than
``max_batch_size`` runs on its own. When ``max_enqueued_batches`` batches' worth of rows are already
waiting, new requests are refused (HTTP 503), so the queue and the latency stay bounded.

Batching assumes the signature treats rows independently (every output has the batch as its first
dimension); a batch whose outputs do not have that shape is re-run request by request.

Example:
    >>> batcher = Batcher(signature, BatchingOptions(max_batch_size=32, batch_timeout_micros=2000))
    >>> future = batcher.submit({"x": rows})          # concurrent.futures.Future of {key: array}
    >>> future.result()["probs"].shape                                           # doctest: +SKIP
    (4, 10)
"""

import concurrent.futures
import os
import re
import threading
import time
from dataclasses import dataclass

import numpy as np

from gpugraph.serving.json_tensor import RequestError


@dataclass
class BatchingOptions:
    """TF Serving's BatchingParameters (the fields gpugraph uses)."""
    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    num_batch_threads: int = max(1, min(4, os.cpu_count() or 1))
    max_enqueued_batches: int = 100

    @classmethod
    def from_text(cls, text):
        """Parses a TF Serving ``--batching_parameters_file`` (text proto, wrapper values), e.g.
        ``max_batch_size { value: 64 } batch_timeout_micros { value: 500 }``. Unknown fields
        (``pad_variable_length_inputs``, ``allowed_batch_sizes``) are rejected with their name."""
        options = cls()
        body = re.sub(r"#[^\n]*", "", text)
        pos = 0
        pattern = re.compile(r"\s*([A-Za-z_]+)\s*:?\s*\{\s*value\s*:\s*(-?\d+)\s*\}\s*")
        while body[pos:].strip():
            m = pattern.match(body, pos)
            if m is None:
                raise ValueError(f"cannot parse batching parameters near: {body[pos:pos + 60].strip()!r} "
                                 f"(expected e.g. 'max_batch_size {{ value: 32 }}')")
            field, value = m.group(1), int(m.group(2))
            if not hasattr(options, field):
                raise ValueError(f"batching parameter {field!r} is not supported (supported: max_batch_size, "
                                 f"batch_timeout_micros, num_batch_threads, max_enqueued_batches)")
            setattr(options, field, value)
            pos = m.end()
        options.validate()
        return options

    def validate(self):
        if self.max_batch_size < 1 or self.num_batch_threads < 1 or self.max_enqueued_batches < 1:
            raise ValueError(f"batching parameters must be >= 1: {self}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0: {self.batch_timeout_micros}")


class _Task:
    __slots__ = ("arrays", "rows", "key", "future", "enqueued")

    def __init__(self, arrays, rows, key):
        self.arrays, self.rows, self.key = arrays, rows, key
        self.future = concurrent.futures.Future()
        self.enqueued = time.monotonic()


class Batcher:
    """Batches calls of one :class:`gpugraph.serving.model.Signature` (see module doc)."""

    def __init__(self, signature, options):
        options.validate()
        self.signature = signature
        self.options = options
        self._pending = []
        self._pending_rows = 0
        self._cond = threading.Condition()
        self._free = threading.Semaphore(options.num_batch_threads)
        self._closed = False
        self._pool = concurrent.futures.ThreadPoolExecutor(options.num_batch_threads,
                                                           thread_name_prefix=f"gpugraph-batch-{signature.name}")
        self._scheduler = threading.Thread(target=self._schedule, name=f"gpugraph-batcher-{signature.name}",
                                           daemon=True)
        self._scheduler.start()
        self.batches_run = 0
        self.rows_run = 0

    def submit(self, arrays, rows):
        """Queues one request (``rows`` instances); returns a Future of its outputs."""
        key = tuple((k, arrays[k].dtype.str, arrays[k].shape[1:]) for k in self.signature.input_keys)
        task = _Task(arrays, rows, key)
        limit = self.options.max_enqueued_batches * self.options.max_batch_size
        with self._cond:
            if self._closed:
                raise RequestError("the batch scheduler is shutting down", status=503)
            if self._pending_rows + rows > limit:
                raise RequestError(f"The batch scheduling queue to which this task was submitted is full "
                                   f"({self._pending_rows} rows waiting; max_enqueued_batches "
                                   f"{self.options.max_enqueued_batches})", status=503)
            self._pending.append(task)
            self._pending_rows += rows
            self._cond.notify()
        return task.future

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._scheduler.join(timeout=5)
        self._pool.shutdown(wait=True)

    # -- scheduling ---------------------------------------------------------------------------------
    def _take_batch(self):
        """Waits for a batch to be due and removes it from the queue (None once closed and empty)."""
        timeout = self.options.batch_timeout_micros / 1e6
        limit = self.options.max_batch_size
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                self._cond.wait()
            first = self._pending[0]
            deadline = first.enqueued + timeout
            while True:
                batch, rows = [], 0
                for task in self._pending:
                    if task.key == first.key and rows + task.rows <= limit:
                        batch.append(task)
                        rows += task.rows
                remaining = deadline - time.monotonic()
                if rows >= limit or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
            taken = set(map(id, batch))
            self._pending = [t for t in self._pending if id(t) not in taken]
            self._pending_rows -= rows
            return batch

    def _schedule(self):
        while True:
            self._free.acquire()  # a batch thread is free: requests arriving meanwhile joined this batch
            batch = self._take_batch()
            if batch is None:
                self._free.release()
                return
            self._pool.submit(self._run, batch)

    def _run(self, batch):
        self.batches_run += 1  # statistics only (benign races between batch threads)
        self.rows_run += sum(t.rows for t in batch)
        try:
            if len(batch) == 1:
                self._run_alone(batch[0])
                return
            total = sum(t.rows for t in batch)
            inputs = {k: np.concatenate([t.arrays[k] for t in batch]) for k in self.signature.input_keys}
            try:
                outputs = self.signature.run(inputs)
            except Exception:  # noqa: BLE001 - one bad request must not fail its batch-mates
                for task in batch:
                    self._run_alone(task)
                return
            if any(np.ndim(v) == 0 or np.shape(v)[0] != total for v in outputs.values()):
                for task in batch:  # outputs are not batch-major: batching would mix requests
                    self._run_alone(task)
                return
            start = 0
            for task in batch:
                end = start + task.rows
                task.future.set_result({k: v[start:end] for k, v in outputs.items()})
                start = end
        finally:
            self._free.release()

    def _run_alone(self, task):
        try:
            task.future.set_result(self.signature.run(task.arrays))
        except Exception as e:  # noqa: BLE001 - delivered to the waiting request
            task.future.set_exception(e)
