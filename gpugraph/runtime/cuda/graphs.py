"""CUDA graphs: a plan whose GPU work runs on one device is captured once per feed signature and
then replayed with one launch, instead of one Python call and one kernel launch per step.

Which plans: after the uploads of fed values, every step up to the downloads of fetched values is
a GPU step on the same device, and none of them is barred (by ``device_plan``): no step that takes a
variable by reference (Assign, Apply*), writes a resource variable, or is otherwise stateful — a
replay runs no Python, so such steps' host-side effects would not happen again. Steps that only
read variables are fine: the arrays they read are recorded at capture, and a replay first checks
that each variable still holds the array captured (another run may have assigned it); if not, the
graph is dropped, the run goes the normal way, and the next run captures again.

When, per feed signature (the feeds' shapes and dtypes): the first run is a normal run (it warms
CuPy's kernel caches and memory pool); the second captures; later ones replay. A plan keeps the
graphs of its :data:`MAX_GRAPHS_PER_PLAN` most recently used signatures. A run with another
signature runs normally (and is captured on its own second run).

Capture (the second run): fed values are uploaded into arrays that become the graph's static
inputs; the GPU steps run once eagerly on a private capture stream with a private CuPy memory pool
(so the capture itself finds its blocks cached), then again while the stream captures, without
freeing any value: every array the graph touches stays referenced by the captured graph, and every
block it allocated stays in its private pool, which nothing else allocates from. The graph is then
launched on the compute stream to compute this run's results. A replay copies the new feeds into
the static inputs (pinned buffers, copy stream), launches the graph on the compute stream and
downloads the captured outputs, under a lock per captured graph, so concurrent runs never share the
static buffers.

If the capture fails — an op synchronises with the host, copies to or from the host (CUDA rejects
most such copies; one that CuPy stages through its own pinned memory is found in the captured graph
afterwards), or raises — the capture is ended, the variables the steps saw are restored to the arrays they held, the
signature is marked not capturable (logged once at debug level) and the run goes the normal way.

Kernels must enqueue their work on the current stream, as they all do: during capture the capturing
thread's steps run on the capture stream, and ``KernelContext.stream`` names it (it is the calling
thread's step stream, :meth:`DeviceContext.step_stream`), so custom kernels launched on
``ctx.stream`` are captured too.

``GPUGRAPH_CUDA_GRAPHS=0`` (read when a plan is compiled, :mod:`gpugraph.runtime.rewrites`) turns
CUDA graphs off. Each graph-capable
plan counts what happened in :attr:`CudaGraphPlan.cuda_graphs`; :func:`session_stats` sums a
session's plans.

Example:
    >>> for _ in range(3):
    ...     sess.run(logits, {x: batch})                                  # doctest: +SKIP
    >>> session_stats(sess)                                               # doctest: +SKIP
    CudaGraphStats(normal_runs=1, captures=1, replays=1, capture_failures=0, invalidations=0)
"""

import collections
import dataclasses
import logging
import threading
from typing import Optional

import numpy as np

from gpugraph import errors
from gpugraph.runtime.plan import Plan, _fetch_value

logger = logging.getLogger("gpugraph")

MAX_GRAPHS_PER_PLAN = 4
_MAX_SIGNATURES_SEEN = 64

# Step kinds (StepInfo.kind), as device_plan classifies each step it emits.
UPLOAD, DOWNLOAD, PEER, GPU, CPU, SYNC = "upload", "download", "peer", "gpu", "cpu", "sync"


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """What a plan step is: ``kind`` (one of the constants above), its DeviceContext for GPU,
    upload, peer and sync steps, and for GPU steps why they may not be in a CUDA graph (None: may)."""

    kind: str
    dctx: object = None
    blocker: Optional[str] = None


@dataclasses.dataclass
class CudaGraphStats:
    """Counts for one plan (or, from :func:`session_stats`, a session): runs that went the normal
    way, captures, replays, failed captures, and graphs dropped because a variable was rebound."""

    normal_runs: int = 0
    captures: int = 0
    replays: int = 0
    capture_failures: int = 0
    invalidations: int = 0

    def __iadd__(self, other):
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self


def session_stats(session):
    """The :class:`CudaGraphStats` of all of ``session``'s plans, summed.

    Example:
        >>> session_stats(sess).replays                                   # doctest: +SKIP
        98
    """
    total = CudaGraphStats()
    for plan in list(session._plans.values()):
        stats = getattr(plan, "cuda_graphs", None)
        if stats is not None:
            total += stats
    return total


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where a graph-capable plan's parts are (step indices): the uploads of fed values, the GPU
    steps (the body), and the epilogue (downloads and the sync)."""

    dctx: object
    backend: object
    uploads: tuple
    body: tuple
    epilogue: tuple


def _layout(plan, info, backend):
    """The plan's :class:`_Layout`, or (None, why not). Uploads of fed values may sit anywhere
    among the GPU steps (the compiler puts each before its first reader): they depend on nothing
    but the feeds, so a capture runs them all first."""
    feed_slots = set(plan.feed_slots)
    uploads, body, epilogue = [], [], []
    dctx = None
    for i, step in enumerate(info):
        name = plan.step_ops[i].name if plan.step_ops[i] is not None else "?"
        if step.kind in (DOWNLOAD, SYNC):
            epilogue.append(i)
            continue
        if epilogue:
            return None, f"node '{name}' ({step.kind}) runs after a download"
        if step.kind == UPLOAD:
            if plan.steps[i][2][0] not in feed_slots:
                return None, f"node '{name}' uploads a value that is not fed (a variable kept on the host)"
            uploads.append(i)
        elif step.kind == GPU:
            if step.blocker:
                return None, f"node '{name}' cannot be replayed: {step.blocker}"
            if any(j in feed_slots for j in plan.steps[i][2]):
                return None, f"node '{name}' reads a fed value in host memory"
            body.append(i)
        else:
            return None, f"node '{name}' ({step.kind}) runs between its GPU steps"
        if dctx is None:
            dctx = step.dctx
        elif step.dctx is not dctx:
            return None, "it runs on more than one GPU"
    if not body:
        return None, "it has no GPU steps"
    if any(info[j].kind == SYNC and info[j].dctx is not dctx for j in epilogue):
        return None, "it synchronizes another GPU"
    return _Layout(dctx, backend, tuple(uploads), tuple(body), tuple(epilogue)), None


def make_plan(plan, info, backend):
    """``plan`` as a :class:`CudaGraphPlan` when its GPU work can be captured, else ``plan`` itself.
    ``info``: a :class:`StepInfo` per step. (Whether CUDA graphs are on is the caller's
    :class:`~gpugraph.runtime.rewrites.PlanRewrites`.)"""
    layout, why_not = _layout(plan, info, backend)
    if layout is None:
        logger.debug("gpugraph: plan of %d steps is not captured as a CUDA graph: %s", len(plan.steps), why_not)
        return plan
    return CudaGraphPlan(plan, layout)


class _CaptureFailed(Exception):
    pass


class CudaGraphPlan(Plan):
    """A :class:`~gpugraph.runtime.plan.Plan` that replays its GPU work as a CUDA graph once a feed
    signature repeats. ``cuda_graphs`` (a :class:`CudaGraphStats`) counts what its runs did.

    Example:
        >>> plan = sess._get_plan([y], [x], [])                            # doctest: +SKIP
        >>> plan.run([a]); plan.run([a]); plan.run([a])                    # doctest: +SKIP
        >>> plan.cuda_graphs.replays                                       # doctest: +SKIP
        1
    """

    def __init__(self, plan, layout):
        super().__init__(plan.steps, plan.n_slots, plan.initial, plan.feed_slots, plan.fetch_slots,
                         plan.step_ops)
        self.step_notes = plan.step_notes
        self.fused_groups = plan.fused_groups
        self.cuda_graphs = CudaGraphStats()
        self._layout = layout
        self._graphs = collections.OrderedDict()   # signature -> _CapturedGraph, least recent first
        self._seen = {}                            # signature -> normal runs so far
        self._not_capturable = set()
        self._capturing = set()
        self._lock = threading.Lock()

    def run(self, feed_values):
        signature = _signature(feed_values)
        if signature is None:
            return self._run_normally(feed_values)
        graph = self._graphs.get(signature)
        if graph is not None:
            fetched = graph.replay(self, feed_values)
            with self._lock:
                if fetched is not None:
                    self.cuda_graphs.replays += 1
                    if signature in self._graphs:
                        self._graphs.move_to_end(signature)
                    return fetched
                # A variable the graph reads holds another array now: capture again next time.
                self.cuda_graphs.invalidations += 1
                if self._graphs.get(signature) is graph:
                    del self._graphs[signature]
                self._seen[signature] = 1
            return self._run_normally(feed_values)
        with self._lock:
            capture = (signature not in self._not_capturable and signature not in self._capturing and
                       self._seen.get(signature, 0) >= 1)
            if capture:
                self._capturing.add(signature)
            else:
                if len(self._seen) >= _MAX_SIGNATURES_SEEN:
                    self._seen.clear()
                self._seen[signature] = self._seen.get(signature, 0) + 1
        if not capture:
            return self._run_normally(feed_values)
        try:
            return self._capture_and_run(signature, feed_values)
        finally:
            with self._lock:
                self._capturing.discard(signature)

    def _run_normally(self, feed_values):
        with self._lock:
            self.cuda_graphs.normal_runs += 1
        return super().run(feed_values)

    # -- capture ------------------------------------------------------------------------------------
    def _capture_and_run(self, signature, feed_values):
        layout = self._layout
        dctx, backend = layout.dctx, layout.backend
        xp = backend.xp
        vals = list(self.initial)
        for slot, value in zip(self.feed_slots, feed_values):
            vals[slot] = value
        # The feeds' uploads: their arrays become the graph's static inputs.
        self._run_steps(vals, layout.uploads, free=False)
        static_inputs = tuple((self.steps[i][2][0], self.steps[i][3]) for i in layout.uploads)
        bindings = {}
        try:
            with dctx.activate():
                capture_stream = xp.cuda.Stream(non_blocking=True)
                capture_stream.wait_event(dctx.stream.record())  # the uploads, earlier runs' writes
                pool = xp.cuda.MemoryPool()
                try:
                    with xp.cuda.using_allocator(pool.malloc):
                        # Once eagerly on the capture stream: fills the private pool, so the capture
                        # allocates nothing new, and raises here for errors that are not capture's.
                        with backend.on_stream(dctx, capture_stream):
                            self._run_body(list(vals), bindings, free=True)
                        graph = self._capture(capture_stream, vals, bindings)
                finally:
                    # Later compute work (which may reuse the static inputs' blocks once they are
                    # dropped) waits for what ran eagerly on the capture stream.
                    dctx.stream.wait_event(capture_stream.record())
        except _CaptureFailed as e:
            for cell, value in bindings.values():
                cell.value = value  # the captured steps never ran: undo what their Python did
            with self._lock:
                self._not_capturable.add(signature)
                self.cuda_graphs.capture_failures += 1
            logger.debug("gpugraph: CUDA graph capture failed; running this plan normally for feeds "
                         "%s: %s", _describe(signature), e.__cause__ or e)
            return self._run_normally(feed_values)
        captured = _CapturedGraph(graph, vals, static_inputs, tuple(bindings.values()), pool,
                                  capture_stream)
        fetched = captured.launch_and_fetch(self, vals)
        with self._lock:
            self.cuda_graphs.captures += 1
            self._graphs[signature] = captured
            while len(self._graphs) > MAX_GRAPHS_PER_PLAN:
                self._graphs.popitem(last=False)
        return fetched

    def _capture(self, stream, vals, bindings):
        """Captures the body steps on ``stream`` into a graph; ``vals`` receives every value they
        produce (none freed) and ``bindings`` the variables they read, with the arrays held."""
        layout = self._layout
        stream.begin_capture()
        try:
            with layout.backend.capturing(layout.dctx, stream):
                self._run_body(vals, bindings, free=False)
        except BaseException as e:
            try:
                stream.end_capture()
            except Exception:  # noqa: BLE001 - the capture is already failed: CUDA says invalidated
                pass
            if isinstance(e, _CaptureFailed):
                raise
            if not isinstance(e, Exception):
                raise  # KeyboardInterrupt and friends: not a capture failure
            raise _CaptureFailed(f"{type(e).__name__}: {e}") from e
        try:
            graph = stream.end_capture()
        except Exception as e:  # noqa: BLE001 - e.g. invalidated by an operation CUDA rejected
            raise _CaptureFailed(f"end_capture: {type(e).__name__}: {e}") from e
        if _copies_from_host(graph):
            raise _CaptureFailed("a step copied host data to the device during capture; a replay would "
                                 "copy from a staging buffer that is no longer the step's")
        return graph

    def _run_body(self, vals, bindings, free):
        """Runs the GPU steps, recording in ``bindings`` each variable they read with the array it
        held first; raises _CaptureFailed as soon as a step rebinds one (a replay could not)."""
        from gpugraph.runtime.device_plan import variable_cells
        steps = self.steps
        i = -1
        try:
            with np.errstate(all="ignore"):
                for i in self._layout.body:
                    fn, ctx, ins, outs, frees = steps[i]
                    args = [vals[j] for j in ins]
                    for cell in variable_cells(ctx, args):
                        bindings.setdefault(id(cell), (cell, cell.value))
                    _store(vals, outs, fn(ctx, *args))
                    for cell, value in bindings.values():
                        if cell.value is not value:
                            raise _CaptureFailed(f"node '{self.step_ops[i].name}' rebinds variable "
                                                 f"'{cell.name}'")
                    if free:
                        for j in frees:
                            vals[j] = None
        except _CaptureFailed:
            raise
        except errors.OpError as e:
            raise self._annotate(i, e) from None
        except Exception as e:
            raise self._annotate(i, e) from e

    # -- the step loop, for a subset of the steps ---------------------------------------------------
    def _run_steps(self, vals, indices, free=True):
        steps = self.steps
        i = -1
        try:
            with np.errstate(all="ignore"):
                for i in indices:
                    fn, ctx, ins, outs, frees = steps[i]
                    _store(vals, outs, fn(ctx, *[vals[j] for j in ins]))
                    if free:
                        for j in frees:
                            vals[j] = None
        except errors.OpError as e:
            raise self._annotate(i, e) from None
        except Exception as e:
            raise self._annotate(i, e) from e


# cudaGraphDebugDotFlagsMemcpyNodeParams: the DOT text names each memcpy node's direction.
_DOT_MEMCPY_PARAMS = 1 << 3


def _copies_from_host(graph):
    """Whether a captured graph contains a host-to-device copy. A kernel that calls
    ``cupy.asarray`` on host data during capture is recorded as a copy from CuPy's own pinned
    staging buffer, which CuPy reuses once the capture run is over: replays would read whatever is
    there by then. (Best effort: it reads CUDA's debug DOT text; the emulation rejects such copies
    during capture already.)"""
    describe = getattr(graph, "debug_dot_str", None)
    if describe is None:
        return False
    try:
        text = describe(_DOT_MEMCPY_PARAMS)
    except Exception:  # noqa: BLE001 - a debugging aid that failed: nothing to learn from it
        return False
    text = text.lower() if isinstance(text, str) else ""
    return "htod" in text or "hosttodevice" in text


def _store(vals, outs, result):
    if outs.__class__ is int:
        vals[outs] = result
    elif outs:
        for slot, value in zip(outs, result):
            vals[slot] = value


def _signature(feed_values):
    """The feeds' (shape, dtype) tuple, or None when a feed is not an array."""
    signature = []
    for value in feed_values:
        if not isinstance(value, np.ndarray) or value.dtype == object:
            return None
        signature.append((value.shape, value.dtype.str))
    return tuple(signature)


def _describe(signature):
    return ", ".join(f"{np.dtype(d).name}{list(s)}" for s, d in signature) or "none"


class _CapturedGraph:
    """One captured graph and everything it needs alive: the values of the capture run (static
    inputs, intermediates, outputs), the variables' arrays it read, its private memory pool."""

    def __init__(self, graph, values, static_inputs, bindings, pool, stream):
        self.graph = graph
        self.values = values
        self.static_inputs = static_inputs  # (feed slot, static input slot)
        self.bindings = bindings            # (cell, array captured)
        self.pool = pool
        self.stream = stream
        self.lock = threading.Lock()

    def replay(self, plan, feed_values):
        """This run's fetches through the graph, or None when a variable was rebound since capture."""
        with self.lock:
            for cell, value in self.bindings:
                if cell.value is not value:
                    return None
            vals = list(self.values)
            for slot, value in zip(plan.feed_slots, feed_values):
                vals[slot] = value
            layout = plan._layout
            for feed_slot, static_slot in self.static_inputs:
                layout.backend.copy_into(layout.dctx, vals[static_slot], vals[feed_slot])
            return self._launch_and_fetch_locked(plan, vals)

    def launch_and_fetch(self, plan, vals):
        with self.lock:
            return self._launch_and_fetch_locked(plan, list(vals))

    def _launch_and_fetch_locked(self, plan, vals):
        layout = plan._layout
        with layout.dctx.activate():
            self.graph.launch(layout.dctx.stream)
        plan._run_steps(vals, layout.epilogue)
        return [_fetch_value(vals[s]) for s in plan.fetch_slots]
