"""Compile a pruned subgraph into an execution plan once; then run it as a flat loop.

A plan is a list of steps ``(kernel, ctx, input_slots, output_slots, slots_to_free)`` over a list of
value slots. Compiling does all the graph work — pruning to what the fetches need, ordering,
constant pre-loading, aliasing of Identity, kernel lookup, last-use analysis — so ``Plan.run`` does
no graph walking and no name lookups. Per-run Python work is proportional to the plan length.

On a host with a GPU, ``device_plan`` compiles the same kind of plan from the placer's decisions:
GPU steps call GPU kernels on their device's stream, and cross-device edges are explicit copy steps.
The run loop is the same for both. A step's kernel may itself be a sub-plan (v1 control-flow frames).

Example:
    >>> plan = compile_plan(graph, fetches=[y], feeds=[x], targets=[], state=SessionState())
    >>> plan.run([np.ones((1, 3), np.float32)])                       # doctest: +SKIP
"""

import operator

import numpy as np

from gpugraph import errors
from gpugraph.framework import ops
from gpugraph.runtime.state import RefCell, freeze

# Ops whose output is their (non-ref) input, unchanged: their output shares the input's slot.
_ALIAS_OPS = frozenset({"Identity", "StopGradient", "Snapshot", "PreventGradient"})


class KernelContext:
    """What a kernel sees besides its inputs: attrs (Python values), node identity, session state.

    Kernels read ``ctx.attrs["transpose_a"]``; string attrs arrive as ``str``; type attrs as DType.

    GPU kernels also get ``ctx.xp`` (the array module: CuPy, or its NumPy emulation), ``ctx.stream``
    (the device's compute stream, made current by the executor around the call) and
    ``ctx.device_name`` (e.g. ``/job:localhost/replica:0/task:0/device:GPU:0``), and
    ``ctx.kernel(source, name)``: a custom kernel of ``kernels/`` (or a generated source) on the
    step's device, or None where the backend has none (the emulated backend without its CPU build
    of the kernels), in which case the kernel computes with ``ctx.xp``.
    """

    __slots__ = ("op", "node_name", "op_type", "attrs", "state", "output_dtypes", "device", "cache",
                 "xp", "_stream", "device_name", "_custom_kernels")

    def __init__(self, op, state, device="CPU", xp=np, stream=None, device_name=None, custom_kernels=None):
        self.op = op
        self.node_name = op.name
        self.op_type = op.type
        self.attrs = op.kernel_attrs()
        self.state = state
        self.output_dtypes = [t.dtype.base_dtype.as_numpy_dtype for t in op.outputs]
        self.device = device
        self.cache = {}  # kernels may memoise attr-derived values here (per node, per session)
        self.xp = xp
        self._stream = stream  # a stream, or a function giving the stream of the calling thread
        self.device_name = device_name
        self._custom_kernels = custom_kernels

    @property
    def stream(self):
        """The stream this step's GPU work goes to (the device's compute stream, or the stream a
        CUDA graph is being captured on while this thread captures one)."""
        stream = self._stream
        return stream() if callable(stream) else stream

    def kernel(self, source, name):
        """The custom kernel ``name`` of ``source`` for this step's device, or None.

        ``kernel(grid, block, args, stream=ctx.stream, shared_mem=0)`` launches it."""
        return None if self._custom_kernels is None else self._custom_kernels(source, name)

    def error(self, message, cls=errors.InvalidArgumentError):
        """An OpError naming this node: ``raise ctx.error("bad shape")``."""
        return cls(None, self.op, f"node '{self.node_name}' ({self.op_type}): {message}")


def _no_inputs(vals):
    return ()


def _deref(value):
    return value.read() if isinstance(value, RefCell) else value


def _deref_wrapper(fn, ref_positions):
    def run(ctx, *args):
        args = list(args)
        for i in ref_positions:
            args[i] = args[i].read()
        return fn(ctx, *args)
    return run


class Plan:
    """An immutable, compiled execution plan for one (fetches, feeds, targets) signature."""

    def __init__(self, steps, n_slots, initial, feed_slots, fetch_slots, step_ops):
        self.steps = steps
        # What the run loop walks: per step, its inputs as one slot (the common case) or a getter
        # of several (operator.itemgetter: one C call instead of a list comprehension per step).
        self._loop_steps = [(fn, ctx, ins[0] if len(ins) == 1 else None,
                            operator.itemgetter(*ins) if len(ins) > 1 else _no_inputs, outs, frees)
                           for fn, ctx, ins, outs, frees in steps]
        self.n_slots = n_slots
        self.initial = initial
        self.feed_slots = feed_slots
        self.fetch_slots = fetch_slots
        self.step_ops = step_ops
        self.graph_version = None
        self.placed_ops = ()      # the pruned ops, in plan order (for placement decisions)
        self.step_notes = None    # per step: where it runs / what it copies (device plans only)
        self.fused_groups = ()    # device plans: a cuda.fusion_pass.FusedGroup per fused step

    def run(self, feed_values):
        """Runs the plan with feed values in ``feed_slots`` order; returns fetch values in order."""
        vals = list(self.initial)
        for slot, value in zip(self.feed_slots, feed_values):
            vals[slot] = value
        i = -1
        try:
            with np.errstate(all="ignore"):
                for i, (fn, ctx, single, get, outs, frees) in enumerate(self._loop_steps):
                    result = fn(ctx, vals[single]) if single is not None else fn(ctx, *get(vals))
                    if outs.__class__ is int:
                        vals[outs] = result
                    elif outs:
                        for slot, value in zip(outs, result):
                            vals[slot] = value
                    for j in frees:
                        vals[j] = None
        except errors.OpError as e:
            raise self._annotate(i, e) from None
        except Exception as e:  # a kernel bug or bad input: name the node and op
            raise self._annotate(i, e) from e
        return [_fetch_value(vals[s]) for s in self.fetch_slots]

    def _annotate(self, index, exc):
        op = self.step_ops[index] if 0 <= index < len(self.step_ops) else None
        if op is None:
            return exc
        where = f"node '{op.name}' ({op.type})"
        note = self.step_notes[index] if self.step_notes is not None else None
        if note:
            where = f"{where} {note}"
        if isinstance(exc, errors.OpError):
            if where in exc.message:
                return exc
            return type(exc)(None, op, f"{exc.message}\n\t [[{where}]]")
        inputs = ", ".join(f"{t.name} {t.dtype.name}{t.shape}" for t in op.inputs)
        return errors.InvalidArgumentError(
            None, op, f"{where} failed: {type(exc).__name__}: {exc} (inputs: {inputs or 'none'})")


def _fetch_value(value):
    if isinstance(value, RefCell):
        value = value.read()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value[()]  # a NumPy scalar (bytes for strings), as TensorFlow's Session returns
        if not value.flags.writeable:
            return value.copy()  # never hand out the session's own buffers
    return value


def prune(fetch_tensors, target_ops, fed):
    """Every op the fetches and targets need: data and control inputs, stopping at fed tensors (and
    following the back edges of loops, which are data inputs too)."""
    needed = set()
    stack = [t.op for t in fetch_tensors if t not in fed] + list(target_ops)
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed.add(op)
        for t in op._inputs:
            if t not in fed and t.op not in needed:
                stack.append(t.op)
        for c in op._control_inputs:
            if c not in needed:
                stack.append(c)
    return needed


def _needed_ops(fetch_tensors, target_ops, fed):
    """Ops that must run, in an order where every op follows its inputs (creation order tie-break)."""
    needed = prune(fetch_tensors, target_ops, fed)
    # Kahn's algorithm over the needed subgraph, preferring creation order.
    import heapq
    indegree = {}
    users = {}
    for op in needed:
        preds = {t.op for t in op._inputs if t not in fed and t.op in needed} | \
            {c for c in op._control_inputs if c in needed}
        indegree[op] = len(preds)
        for p in preds:
            users.setdefault(p, []).append(op)
    ready = [(op._id, op) for op, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, op = heapq.heappop(ready)
        order.append(op)
        for u in users.get(op, ()):
            indegree[u] -= 1
            if indegree[u] == 0:
                heapq.heappush(ready, (u._id, u))
    if len(order) != len(needed):
        stuck = sorted(op.name for op, d in indegree.items() if d > 0)[:5]
        raise errors.InvalidArgumentError(
            None, None, f"the graph has a cycle among nodes {stuck} (v1 while loops need their frame ops)")
    return order


def compile_plan(graph, fetches, feeds, targets, state, device_kind="CPU", placement=None, rewrites=None):
    """Builds a :class:`Plan`. ``fetches``/``feeds`` are Tensors, ``targets`` Operations.

    ``placement`` (a :class:`gpugraph.runtime.device_plan.DevicePlacement`) is given on hosts with a
    GPU: steps then run on their op's device, with explicit copy steps at device boundaries. Without
    it every step runs on ``device_kind`` kernels (the NumPy path). ``rewrites``: the
    :class:`gpugraph.runtime.rewrites.PlanRewrites` to apply (default: all those the environment
    allows).
    """
    from gpugraph.runtime.rewrites import PlanRewrites
    if rewrites is None:
        rewrites = PlanRewrites.from_config(None)
    fed = set(feeds)
    # v1 control flow (Switch/Merge, while-loop frames) needs the dataflow executor; it runs on the CPU.
    from gpugraph.runtime import control_flow_executor
    cf_plan = control_flow_executor.maybe_compile(graph, fetches, feeds, targets, state, device_kind, placement)
    if cf_plan is not None:
        return cf_plan
    order = _needed_ops(fetches, targets, fed)
    if placement is not None:
        from gpugraph.runtime import device_plan
        plan = device_plan.compile_device_plan(order, fetches, feeds, state, placement, targets, rewrites)
        plan.placed_ops = order
        return plan
    slot_of = {}
    n_slots = 0

    def new_slot():
        nonlocal n_slots
        n_slots += 1
        return n_slots - 1

    feed_slots = []
    for t in feeds:
        slot_of[t] = new_slot()
        feed_slots.append(slot_of[t])
    initial_values = {}
    steps_spec = []  # (op, kernel, input_slots, output_slots)
    for op in order:
        if op.type == "Placeholder":
            if op.outputs[0] not in fed:
                t = op.outputs[0]
                raise errors.InvalidArgumentError(
                    None, op, f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                              f"{t.dtype.name} and shape {t.shape}")
            continue
        spec = op.op_spec
        if op.type == "NoOp":
            continue  # only orders other ops, and the plan's order already respects its edges
        if op.type == "Const":
            value = freeze(_const_value(op))
            slot = new_slot()
            slot_of[op.outputs[0]] = slot
            initial_values[slot] = value
            continue
        if op.type in _ALIAS_OPS and op._inputs and not op._inputs[0].dtype._is_ref_dtype \
                and op._inputs[0] in slot_of:
            slot_of[op.outputs[0]] = slot_of[op._inputs[0]]
            continue
        kernel = spec.kernel_for(device_kind) if spec is not None else None
        if kernel is None:
            raise errors.UnimplementedError(
                None, op, f"no {device_kind} kernel for op {op.type} (node '{op.name}')")
        if op.type in _SESSION_CONSTANT_OPS and not op._control_inputs:
            # A variable's buffer (or handle) is the same object on every run of this session:
            # look it up once here instead of in a step. Reads still happen when their step runs.
            slot = slot_of[op.outputs[0]] = new_slot()
            initial_values[slot] = kernel(KernelContext(op, state, device_kind))
            continue
        folded = _fold_constant(op, kernel, slot_of, initial_values, state, device_kind,
                                rewrites.max_folded_constant_bytes)
        if folded is not None:
            for t, value in zip(op.outputs, folded):
                slot = slot_of[t] = new_slot()
                initial_values[slot] = value
            continue
        ref_positions = [i for i, (t, want) in enumerate(zip(op._inputs, spec.input_dtypes(ops.signature_attrs(spec, op._attrs))))
                         if t.dtype._is_ref_dtype and not want._is_ref_dtype]
        if ref_positions:
            kernel = _deref_wrapper(kernel, ref_positions)
        ins = tuple(slot_of[t] for t in op._inputs)
        outs = [t for t in op.outputs]
        for t in outs:
            if t not in slot_of:
                slot_of[t] = new_slot()
        steps_spec.append((op, kernel, ins, tuple(slot_of[t] for t in outs)))

    fetch_slots = []
    for t in fetches:
        if t not in slot_of:
            raise errors.InvalidArgumentError(None, t.op, f"cannot fetch {t.name}: it is not computed")
        fetch_slots.append(slot_of[t])
    steps_spec = [(op, kernel, ins, outs, None, len(op.outputs) == 1)
                  for op, kernel, ins, outs in steps_spec]
    if rewrites.grouped_updates:
        from gpugraph.runtime.grouped_updates import group_updates
        steps_spec = group_updates(steps_spec, order, initial_values, state, device_kind)
    if rewrites.dead_steps:
        steps_spec = [steps_spec[i] for i in unread_pure_steps_kept(steps_spec, fetch_slots, targets)]
    if rewrites.fusion:
        from gpugraph.runtime.cpu_fusion import fuse_epilogues
        steps_spec = fuse_epilogues(steps_spec, fetch_slots, state, device_kind)
    plan = finish_plan(steps_spec, n_slots, initial_values, feed_slots, fetch_slots, state, device_kind)
    plan.placed_ops = order
    return plan


# Ops whose output is a per-session object (a variable's RefCell or resource handle).
_SESSION_CONSTANT_OPS = frozenset({"VariableV2", "VarHandleOp"})

# Ops whose value follows from their input's static shape alone.
_SHAPE_OPS = frozenset({"Shape", "Size", "Rank", "ShapeN"})


def _is_stateful_dtype(dtype):
    from gpugraph.framework import dtypes
    return dtype._is_ref_dtype or dtype.base_dtype in (dtypes.resource, dtypes.variant)


def _fold_constant(op, kernel, slot_of, initial_values, state, device_kind, max_bytes):
    """The outputs of ``op`` computed now, at compile time, or None when it must run every time.

    Folded: stateless ops whose inputs are all constants (the shape arithmetic of gradient graphs,
    scalar hyper-parameter math), and Shape/Size/Rank of tensors whose static shape is fully known
    (feeds are checked against static shapes, and kernels honour them). Ops with control inputs are
    left alone: folding them would drop the ordering they ask for. Nor are ops whose outputs take
    more than ``max_bytes``: a folded value stays in memory as long as the plan, so a large
    ``zeros``/``ones`` (a variable's or an optimizer slot's initial value) is made when it runs and
    freed after, as TensorFlow's constant folding leaves such values alone too.
    """
    spec = op.op_spec
    if spec.is_stateful or op._control_inputs or not op.outputs:
        return None
    if _static_nbytes(op.outputs) > max_bytes:
        return None
    # Ops on variables (Assign and friends take refs; TF does not mark them stateful) and on
    # resources or variants touch state: never fold them.
    if any(_is_stateful_dtype(t.dtype) for t in list(op._inputs) + op.outputs):
        return None
    if op.type in _SHAPE_OPS:
        if not all(t.shape.is_fully_defined() for t in op._inputs):
            return None
        args = [np.zeros(t.shape.as_list(), np.int8) for t in op._inputs]  # only their shapes matter
    else:
        slots = [slot_of.get(t) for t in op._inputs]
        if any(s is None or s not in initial_values for s in slots):
            return None
        args = [initial_values[s] for s in slots]
    try:
        with np.errstate(all="ignore"):
            result = kernel(KernelContext(op, state, device_kind), *args)
    except Exception:  # noqa: BLE001 - leave the failure to the run, which names the node
        return None
    values = [result] if len(op.outputs) == 1 else list(result)
    if len(values) != len(op.outputs) or any(isinstance(v, RefCell) for v in values):
        return None
    values = [np.asarray(v) for v in values]
    if sum(v.nbytes for v in values) > max_bytes:  # shapes the graph did not know statically
        return None
    return [freeze(v) for v in values]


def _static_nbytes(tensors):
    """Bytes of ``tensors`` by their static shapes and dtypes; 0 for those not fully known."""
    total = 0
    for t in tensors:
        if t.shape.is_fully_defined() and t.dtype.base_dtype.is_numpy_compatible:
            total += t.shape.num_elements() * t.dtype.base_dtype.size
    return total


def finish_plan(steps_spec, n_slots, initial_values, feed_slots, fetch_slots, state, device_kind="CPU"):
    """Last-use analysis and step tuples. ``steps_spec`` entries: ``(op, kernel, input_slots,
    output_slots, ctx or None, single_output)``; a None ctx becomes a KernelContext for ``op``."""
    # Last use of each slot, so intermediates are freed as soon as nothing else reads them.
    keep = set(fetch_slots) | set(initial_values)
    last_use = {}
    for idx, (_, _, ins, _, _, _) in enumerate(steps_spec):
        for s in ins:
            last_use[s] = idx
    frees_at = [[] for _ in steps_spec]
    for s, idx in last_use.items():
        if s not in keep:
            frees_at[idx].append(s)
    # Outputs nobody reads are dropped right after their step.
    read = set(last_use) | keep
    for idx, (_, _, _, outs, _, _) in enumerate(steps_spec):
        for s in outs:
            if s not in read:
                frees_at[idx].append(s)

    steps, step_ops = [], []
    for (op, kernel, ins, outs, ctx, single), frees in zip(steps_spec, frees_at):
        if ctx is None:
            ctx = KernelContext(op, state, device_kind)
        out_spec = outs[0] if single else outs
        steps.append((kernel, ctx, ins, out_spec, tuple(sorted(set(frees)))))
        step_ops.append(op)
    # Only the pre-loaded values a step reads or a run returns stay with the plan: the inputs of
    # folded ops (a large Fill's operands, a folded chain's intermediates) are dropped.
    wanted = set(last_use) | set(fetch_slots)
    initial = [None] * n_slots
    for s, v in initial_values.items():
        if s in wanted:
            initial[s] = v
    return Plan(steps, n_slots, initial, feed_slots, fetch_slots, step_ops)


def unread_pure_steps_kept(steps_spec, fetch_slots, target_ops=()):
    """Indices of the steps of ``steps_spec`` to keep: all but those whose every output is read by
    nothing (no later step, no fetch) and whose op has no effect besides its outputs — not
    stateful, no variable, resource or variant inputs or outputs. Such an op is in the plan only
    because a control edge orders something after it (the gradient of ``x @ W`` with respect to a
    fed ``x``, grouped with the one for ``W``), and skipping it changes nothing but the time, as
    TensorFlow's graph optimizer does. The run's target ops always run (running one is asking for
    it, errors included). Repeated until nothing more goes, since dropping a step can leave its
    inputs unread.
    """
    targets = set(target_ops)
    kept = list(range(len(steps_spec)))
    while True:
        read = set(fetch_slots)
        for i in kept:
            read.update(steps_spec[i][2])
        still = [i for i in kept if steps_spec[i][0] in targets or not _unread_and_pure(steps_spec[i], read)]
        if len(still) == len(kept):
            return kept
        kept = still


def _unread_and_pure(spec, read):
    op, outs = spec[0], spec[3]
    if op is None or not outs or any(s in read for s in outs):
        return False
    op_spec = op.op_spec
    if op_spec is None or op_spec.is_stateful:
        return False
    return not any(_is_stateful_dtype(t.dtype) for t in op._inputs) and \
        not any(_is_stateful_dtype(t.dtype) for t in op.outputs)


def _const_value(op):
    from gpugraph.framework import tensor_util
    return tensor_util.MakeNdarray(op._attrs["value"].tensor)
