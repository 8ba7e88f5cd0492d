"""The REST API of TF Serving (``/v1/models/...``) on Starlette + uvicorn.

Endpoints (``{v}`` optional: without it, the newest AVAILABLE version):

- ``GET  /v1/models/{name}[/versions/{v}]`` — GetModelStatusResponse (``model_version_status``).
- ``GET  /v1/models/{name}[/versions/{v}]/metadata`` — GetModelMetadataResponse (signature_def).
- ``POST /v1/models/{name}[/versions/{v}]:predict`` — row (``instances``) or columnar (``inputs``)
  requests, ``signature_name``, ``{"b64": ...}`` bytes (see :mod:`gpugraph.serving.json_tensor`).

Every error is ``{"error": "..."}``: 400 for a bad request (malformed JSON, wrong shape or dtype,
unknown signature or input — the message names it), 404 for an unknown model, version or path, 413
for a body over ``max_request_bytes``, 503 when the batch queue is full, 500 for a failure inside
the model. The server keeps serving after any of them.

Concurrency: requests run on a thread pool (``rest_api_num_threads``) and share the loaded model;
``Session`` runs are thread-safe (plans are immutable and every run has its own value slots), so
nothing is serialized except batching's queue.

Example:
    >>> options = ServerOptions(host="127.0.0.1", port=8501)
    >>> model = ServedModel("mlp", "/models/mlp", on_load=attach_batchers(None))  # doctest: +SKIP
    >>> model.load_initial()                                                  # doctest: +SKIP
    >>> run(create_app(model, options), bind(options.host, options.port), options)  # doctest: +SKIP
"""

import asyncio
import contextlib
import logging
import re
import socket
from dataclasses import dataclass

from gpugraph import errors
from gpugraph.serving import json_tensor
from gpugraph.serving.batching import Batcher
from gpugraph.serving.json_tensor import COLUMNAR, ROW, RequestError
from gpugraph.serving.model import DEFAULT_SIGNATURE

_log = logging.getLogger("gpugraph.serving")

# /v1/models/<name>[/versions/<n> | /labels/<label>][/metadata | :predict | :classify | :regress]
_PATH = re.compile(r"(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<suffix>/metadata|:[A-Za-z]+)?/?")
# How many bytes past the limit are read and thrown away, so the client can read its 413 on a
# healthy connection; a larger body gets its 413 and the connection is closed.
_DRAIN_LIMIT = 64 << 20
# Work small enough to do on the event loop itself (see predict()).
_INLINE_BODY_BYTES = 64 << 10
_INLINE_OUTPUT_VALUES = 4096
# OpError codes to HTTP statuses, as TF Serving maps them.
_HTTP_STATUS = {errors.INVALID_ARGUMENT: 400, errors.FAILED_PRECONDITION: 400, errors.OUT_OF_RANGE: 400,
                errors.NOT_FOUND: 404, errors.UNIMPLEMENTED: 501, errors.UNAVAILABLE: 503,
                errors.DEADLINE_EXCEEDED: 408, errors.RESOURCE_EXHAUSTED: 429}


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8501
    max_request_bytes: int = 64 << 20
    num_threads: int = 32
    uvicorn_log_level: str = "warning"


class _BodyTooLarge(RequestError):
    status = 413

    def __init__(self, message, close):
        super().__init__(message)
        self.close = close


async def _drain(request, budget):
    """Reads and discards up to ``budget`` more body bytes; True when the whole body was read."""
    try:
        async for chunk in request.stream():
            budget -= len(chunk)
            if budget < 0:
                return False
    except Exception:  # noqa: BLE001 - the client went away: nothing left to protect
        return False
    return True


async def _read_body(request, limit):
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise RequestError(f"invalid Content-Length header: {declared!r}") from None
        if size > limit:
            complete = size <= limit + _DRAIN_LIMIT and await _drain(request, size)
            raise _BodyTooLarge(f"request body of {size} bytes exceeds the server's limit of {limit} bytes "
                                f"(--max_request_bytes)", close=not complete)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            complete = await _drain(request, _DRAIN_LIMIT)
            raise _BodyTooLarge(f"request body exceeds the server's limit of {limit} bytes (--max_request_bytes)",
                                close=not complete)
        chunks.append(chunk)
    return b"".join(chunks)


def _prepare(servable, body):
    """Parses a predict body: (signature, input arrays, format, rows)."""
    doc = json_tensor.parse_body(body)
    signature = servable.signature(json_tensor.signature_name_of(doc, DEFAULT_SIGNATURE))
    arrays, fmt, rows = json_tensor.arrays_from_request(doc, signature)
    return signature, arrays, fmt, rows


def _run_signature(signature, arrays):
    try:
        return signature.run(arrays)
    except (TypeError, ValueError) as e:  # the Session refused a feed (dtype, shape)
        raise RequestError(f"signature '{signature.name}': {e}") from None


def _predict_sync(servable, body):
    signature, arrays, fmt, _ = _prepare(servable, body)
    return json_tensor.render_response(_run_signature(signature, arrays), fmt)


def create_app(model, options):
    """The Starlette app serving ``model`` (a loaded :class:`gpugraph.serving.model.ServedModel`)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import Response
    from starlette.routing import Route

    def json_response(body, status=200, headers=None):
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    def error_response(message, status, close=False):
        return json_response(json_tensor.render_error(message), status, {"Connection": "close"} if close else None)

    async def predict(servable, body):
        batchers = servable.batchers
        if not batchers:
            return await run_in_threadpool(_predict_sync, servable, body)
        # Batching: small bodies are parsed and rendered right here (tens of microseconds), so a
        # batched request costs no thread-pool round trip besides its batch.
        if len(body) <= _INLINE_BODY_BYTES:
            signature, arrays, fmt, rows = _prepare(servable, body)
        else:
            signature, arrays, fmt, rows = await run_in_threadpool(_prepare, servable, body)
        batcher = batchers.get(signature.name)
        if fmt == ROW and batcher is not None and rows <= batcher.options.max_batch_size:
            try:
                outputs = await asyncio.wrap_future(batcher.submit(arrays, rows))
            except (TypeError, ValueError) as e:
                raise RequestError(f"signature '{signature.name}': {e}") from None
        else:
            outputs = await run_in_threadpool(_run_signature, signature, arrays)
        if sum(getattr(v, "size", 1) for v in outputs.values()) <= _INLINE_OUTPUT_VALUES:
            return json_tensor.render_response(outputs, fmt)
        return await run_in_threadpool(json_tensor.render_response, outputs, fmt)

    async def handle(request):
        rest = request.path_params["rest"]
        method = request.method
        try:
            m = _PATH.fullmatch(rest)
            if m is None:
                raise RequestError(f"Malformed request: {method} {request.url.path}", status=404)
            name, version_text, label, suffix = m.group("name", "version", "label", "suffix")
            version = None
            if version_text is not None:
                if not version_text.isdigit():
                    raise RequestError(f"Malformed request: {method} {request.url.path} (the version must be a "
                                       f"number)", status=404)
                version = int(version_text)
            if label is not None:
                raise RequestError(f"version labels are not supported by gpugraph serve (label {label!r}); use "
                                   f"/versions/<n> or no version for the newest", status=404)
            if name != model.name:
                if suffix is None and method == "GET":
                    raise RequestError(f"Could not find any versions of model {name}", status=404)
                spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
                raise RequestError(f"Servable not found for request: {spec}", status=404)
            if suffix is None or suffix == "":
                if method != "GET":
                    raise RequestError(f"Malformed request: {method} {request.url.path} (use GET for the model "
                                       f"status, POST .../{name}:predict to predict)", status=405)
                return json_response(_dumps(model.status(version)))
            if suffix == "/metadata":
                if method != "GET":
                    raise RequestError(f"Malformed request: {method} {request.url.path} (metadata is GET)", status=405)
                return json_response(_dumps(model.get(version).metadata()))
            verb = suffix[1:]
            if method != "POST":
                raise RequestError(f"Malformed request: {method} {request.url.path} (:{verb} is POST)", status=405)
            if verb in ("classify", "regress"):
                raise RequestError(f":{verb} (tf.Example input) is not supported by gpugraph serve; use :predict",
                                   status=501)
            if verb != "predict":
                raise RequestError(f"Malformed request: {method} {request.url.path} (unknown method :{verb}; "
                                   f"expected :predict)", status=404)
            body = await _read_body(request, options.max_request_bytes)
            servable = model.acquire(version)
            try:
                return json_response(await predict(servable, body))
            finally:
                servable.__exit__(None, None, None)
        except _BodyTooLarge as e:
            return error_response(str(e), e.status, close=e.close)
        except RequestError as e:
            return error_response(str(e), e.status)
        except errors.OpError as e:
            return error_response(e.message, _HTTP_STATUS.get(e.error_code, 500))
        except Exception as e:  # noqa: BLE001 - reported to the client; the server keeps serving
            _log.exception("request %s %s failed", method, request.url.path)
            return error_response(f"{type(e).__name__}: {e}", 500)

    async def http_error(request, exc):
        if exc.status_code == 404:
            message = f"Malformed request: {request.method} {request.url.path}"
        else:
            message = exc.detail or f"HTTP {exc.status_code}"
        return error_response(message, exc.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        import anyio.to_thread
        anyio.to_thread.current_default_thread_limiter().total_tokens = options.num_threads
        yield
        model.stop()

    return Starlette(routes=[Route("/v1/models/{rest:path}", handle, methods=["GET", "POST"])],
                     exception_handlers={HTTPException: http_error}, lifespan=lifespan)


def _dumps(obj):
    import json
    return json.dumps(obj, indent=1).encode("utf-8")


def attach_batchers(options):
    """An ``on_load`` hook for ServedModel: gives each loaded version one Batcher per signature."""
    def on_load(servable):
        if options is not None:
            servable.batchers = {name: Batcher(sig, options) for name, sig in servable.signatures.items()}
    return on_load


def bind(host, port):
    """A listening TCP socket (port 0 picks a free one), so the address is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it Nagle's algorithm and delayed ACKs add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(app, sock, options):
    """Serves ``app`` on the bound ``sock`` until SIGINT/SIGTERM (then shuts down gracefully)."""
    import uvicorn
    config = uvicorn.Config(app, log_level=options.uvicorn_log_level,
                            access_log=options.uvicorn_log_level in ("info", "debug", "trace"), lifespan="on",
                            timeout_keep_alive=30, server_header=False)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])


__all__ = ["ServerOptions", "create_app", "attach_batchers", "bind", "run", "COLUMNAR", "ROW"]
