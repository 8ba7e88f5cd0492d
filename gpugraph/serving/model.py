"""Servables: a loaded SavedModel version with a compiled runner per signature, and the model that
serves the newest version found under ``model_base_path`` (TF Serving's layout and version policy).

A version directory is a numeric subdirectory of the base path holding a SavedModel
(``<base>/1/saved_model.pb``, ``<base>/2/...``); the highest number is served. With polling on, a
newer version that appears is loaded next to the serving one and swapped in once it is ready; the
old one is closed after its in-flight requests finish. A version that fails to load is reported in
the status (state END with the error) and the previous version keeps serving.

Example:
    >>> model = ServedModel("mlp", "/models/mlp")
    >>> model.load_initial()       # ModelLoadError with a clear message on failure  # doctest: +SKIP
    >>> servable = model.get()     # the newest AVAILABLE version                    # doctest: +SKIP
    >>> servable.signatures["serving_default"].run({"x": batch})              # doctest: +SKIP
    {'probs': array([[...]], dtype=float32)}
"""

import logging
import os
import threading
import time

from google.protobuf import json_format

from gpugraph.framework import dtypes, ops
from gpugraph.runtime.session import Session
from gpugraph.saved_model import constants as sm_constants
from gpugraph.saved_model import loader as sm_loader
from gpugraph.saved_model import signature_constants
from gpugraph.serving.json_tensor import RequestError

_log = logging.getLogger("gpugraph.serving")

# TF Serving's ManagerState names.
START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


class ModelLoadError(Exception):
    """A model (version) that cannot be served; the message says which file and what was wrong."""


class TensorSpec:
    """One input or output of a signature: its key, tensor, dtype and static shape (None = any)."""

    __slots__ = ("key", "name", "dtype", "shape", "tensor")

    def __init__(self, key, info, graph):
        self.key = key
        self.name = info.name
        if info.WhichOneof("encoding") != "name":
            raise ValueError(f"'{key}' is a {info.WhichOneof('encoding')} tensor; gpugraph serves dense tensors only")
        self.tensor = graph.get_tensor_by_name(info.name)
        self.dtype = self.tensor.dtype.base_dtype
        if info.dtype and dtypes.as_dtype(info.dtype).base_dtype != self.dtype:
            raise ValueError(f"'{key}' names {info.name} of dtype {self.dtype.name}, but the signature says "
                             f"{dtypes.as_dtype(info.dtype).name}")
        # The tensor's static shape is what feeding enforces (the TensorInfo only records it).
        static = self.tensor.shape
        self.shape = None if static.ndims is None else tuple(d.value for d in static.dims)


class Signature:
    """A SignatureDef of a loaded version with its compiled runner (one plan, built at load time)."""

    def __init__(self, name, signature_def, session):
        graph = session.graph
        self.name = name
        self.method_name = signature_def.method_name
        self.inputs_by_key = {k: TensorSpec(k, signature_def.inputs[k], graph) for k in sorted(signature_def.inputs)}
        self.outputs_by_key = {k: TensorSpec(k, signature_def.outputs[k], graph)
                               for k in sorted(signature_def.outputs)}
        self.input_keys = list(self.inputs_by_key)
        self.output_keys = list(self.outputs_by_key)
        for spec in self.inputs_by_key.values():
            if not graph.is_feedable(spec.tensor):
                raise ValueError(f"input '{spec.key}' ({spec.name}) cannot be fed")
        # make_callable compiles the plan now: the first request pays nothing (the "warm-up").
        self._runner = session.make_callable([s.tensor for s in self.outputs_by_key.values()],
                                             [s.tensor for s in self.inputs_by_key.values()])

    def run(self, arrays):
        """Runs the signature on ``arrays`` (input key → array); returns output key → array."""
        values = self._runner(*[arrays[k] for k in self.input_keys])
        return dict(zip(self.output_keys, values))


class ServableVersion:
    """One loaded version: its Session, MetaGraphDef and signatures. Thread-safe to run."""

    def __init__(self, model_name, version, path, tags=("serve",)):
        self.model_name = model_name
        self.version = version
        self.path = path
        self.graph = ops.Graph()
        self.session = Session(graph=self.graph)
        self._inflight = 0
        self._idle = threading.Condition()
        self.batchers = {}  # signature name -> Batcher, when the server batches
        self.meta_graph_def = sm_loader.load(self.session, list(tags), path)
        self.signatures = {}
        self.signature_errors = {}
        for name, sig_def in sorted(self.meta_graph_def.signature_def.items()):
            if name in (sm_constants.INIT_OP_SIGNATURE_KEY, sm_constants.TRAIN_OP_SIGNATURE_KEY):
                continue
            try:
                self.signatures[name] = Signature(name, sig_def, self.session)
            except (KeyError, ValueError, TypeError) as e:
                # Served models often carry signatures nobody calls; one bad one must not block the rest.
                self.signature_errors[name] = str(e)
                _log.warning("model %s version %s: signature %r cannot be served: %s", model_name, version, name, e)
        if not self.signatures:
            raise ModelLoadError(f"SavedModel {path} has no servable signature"
                                 + (f" ({self.signature_errors})" if self.signature_errors else ""))

    def signature(self, name):
        sig = self.signatures.get(name)
        if sig is not None:
            return sig
        if name in self.signature_errors:
            raise RequestError(f"Serving signature name: \"{name}\" cannot be served: {self.signature_errors[name]}")
        raise RequestError(f"Serving signature name: \"{name}\" not found in signature def (model "
                           f"'{self.model_name}' version {self.version} has: {', '.join(sorted(self.signatures))})")

    # -- in-flight accounting, so a retired version is closed only when idle -----------------------
    def __enter__(self):
        with self._idle:
            self._inflight += 1
        return self

    def __exit__(self, *exc):
        with self._idle:
            self._inflight -= 1
            if not self._inflight:
                self._idle.notify_all()
        return False

    def close(self, timeout=30.0):
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout)
        for batcher in self.batchers.values():
            batcher.close()
        self.session.close()

    def metadata(self):
        """TF Serving's GetModelMetadataResponse as a dict (``signature_def`` in its JSON form)."""
        sig_map = {name: json_format.MessageToDict(sig, always_print_fields_with_no_presence=True,
                                                   preserving_proto_field_name=True)
                   for name, sig in sorted(self.meta_graph_def.signature_def.items())}
        return {"model_spec": {"name": self.model_name, "signature_name": "", "version": str(self.version)},
                "metadata": {"signature_def": {"signature_def": sig_map}}}


class _VersionRecord:
    __slots__ = ("version", "state", "error", "servable")

    def __init__(self, version, state, error="", servable=None):
        self.version, self.state, self.error, self.servable = version, state, error, servable


def list_versions(base_path):
    """The version numbers under ``base_path`` (numeric subdirectories), ascending."""
    found = []
    for entry in os.listdir(base_path):
        if entry.isdigit() and os.path.isdir(os.path.join(base_path, entry)):
            found.append(int(entry))
    return sorted(found)


class ServedModel:
    """The model a server serves: the newest version under ``base_path``, and its status history.

    ``poll_seconds`` > 0 starts a thread (``start_polling``) that loads newer versions as they appear.
    """

    def __init__(self, name, base_path, tags=("serve",), poll_seconds=0.0, on_load=None):
        self.name = name
        self.base_path = os.path.abspath(os.fspath(base_path))
        self.tags = list(tags)
        self.poll_seconds = poll_seconds
        self._records = {}
        self._current = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller = None
        self._on_load = on_load  # called with each newly AVAILABLE ServableVersion (e.g. to set up batching)

    # -- loading ------------------------------------------------------------------------------------
    def _versions_or_error(self):
        if not os.path.isdir(self.base_path):
            raise ModelLoadError(f"model_base_path {self.base_path} does not exist or is not a directory")
        versions = list_versions(self.base_path)
        if not versions:
            example = os.path.join(self.base_path, "1", "saved_model.pb")
            raise ModelLoadError(
                f"No versions of servable {self.name} found under base path {self.base_path}: expected numeric "
                f"version subdirectories holding a SavedModel, e.g. {example}")
        return versions

    def _load_version(self, version):
        path = os.path.join(self.base_path, str(version))
        record = _VersionRecord(version, LOADING)
        with self._lock:
            self._records[version] = record
        started = time.monotonic()
        try:
            servable = ServableVersion(self.name, version, path, self.tags)
            if self._on_load is not None:
                self._on_load(servable)
        except Exception as e:  # noqa: BLE001 - any failure becomes this version's status, with context
            record.state, record.error = END, f"{type(e).__name__}: {e}"
            raise ModelLoadError(f"Failed to load version {version} of model {self.name} from {path}: "
                                 f"{type(e).__name__}: {e}") from e
        record.servable = servable
        _log.info("model %s version %d loaded in %.2f s", self.name, version, time.monotonic() - started)
        return record

    def _make_current(self, record):
        with self._lock:
            old = self._current
            record.state = AVAILABLE
            self._current = record
        if old is not None and old is not record:
            old.state = UNLOADING
            old.servable.close()
            old.servable = None
            old.state = END
            _log.info("model %s version %d unloaded (replaced by version %d)", self.name, old.version, record.version)

    def load_initial(self):
        """Loads the newest version; ModelLoadError (naming the directory and the cause) if it fails."""
        versions = self._versions_or_error()
        self._make_current(self._load_version(versions[-1]))
        return self._current.servable

    def poll_once(self):
        """Loads a version newer than the serving one, if one appeared (errors are kept in the status)."""
        try:
            versions = list_versions(self.base_path)
        except OSError as e:
            _log.warning("model %s: cannot list %s: %s", self.name, self.base_path, e)
            return
        if not versions:
            return
        newest = versions[-1]
        current = self._current.version if self._current is not None else -1
        if newest <= current or newest in self._records:
            return
        if not sm_loader.maybe_saved_model_directory(os.path.join(self.base_path, str(newest))):
            return  # still being copied in: saved_model.pb is written last by convention
        try:
            self._make_current(self._load_version(newest))
        except ModelLoadError as e:
            _log.error("%s", e)

    def start_polling(self):
        if self.poll_seconds <= 0 or self._poller is not None:
            return

        def loop():
            while not self._stop.wait(self.poll_seconds):
                self.poll_once()

        self._poller = threading.Thread(target=loop, name=f"gpugraph-poll-{self.name}", daemon=True)
        self._poller.start()

    def stop(self):
        self._stop.set()

    # -- lookup and status ----------------------------------------------------------------------------
    def get(self, version=None):
        """The servable for ``version`` (None: the newest AVAILABLE); RequestError 404 otherwise."""
        current = self._current
        if version is None:
            if current is None or current.servable is None:
                raise RequestError(f"Servable not found for request: Latest({self.name})", status=404)
            return current.servable
        record = self._records.get(version)
        if record is None or record.state != AVAILABLE or record.servable is None:
            raise RequestError(f"Servable not found for request: Specific({self.name}, {version})", status=404)
        return record.servable

    def acquire(self, version=None):
        """:meth:`get`, already counted as in flight (use ``with model.acquire() as servable:``): a
        version being replaced is closed only after such holders are done."""
        with self._lock:  # the same lock as the swap: no one acquires a version once it is retired
            servable = self.get(version)
            servable.__enter__()
        return servable

    def status(self, version=None):
        """TF Serving's GetModelStatusResponse as a dict."""
        with self._lock:
            records = sorted(self._records.values(), key=lambda r: -r.version)
        if version is not None:
            records = [r for r in records if r.version == version]
            if not records:
                raise RequestError(f"Could not find version {version} of model {self.name}", status=404)
        if not records:
            raise RequestError(f"Could not find any versions of model {self.name}", status=404)
        return {"model_version_status": [
            {"version": str(r.version), "state": r.state,
             "status": {"error_code": "UNKNOWN" if r.error else "OK", "error_message": r.error}}
            for r in records]}


DEFAULT_SIGNATURE = signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY
