"""Plan compilation on a host with GPUs: the placer's devices become steps, copies and a sync.

Every produced value has a home: the host (CPU steps, fed values, host-memory outputs, strings and
resource handles) or one GPU. A step reads each input where it needs it — its own device, or the
host for host-memory (shape/axis) inputs — and where the value lives elsewhere the plan gets an
explicit copy step right before the first step that needs it (one copy per value and device; a
variable read through a ref is copied at each read, since assignments change it): host to GPU,
GPU to host, or GPU to GPU as one peer-to-peer copy (see :mod:`gpugraph.runtime.cuda.backend`).
Constants are converted once, at compile time. Fetched device values get a final download step, and
the plan ends with one stream sync per GPU it used, so ``run`` returns when the GPU work is done.

The result is an ordinary :class:`gpugraph.runtime.plan.Plan`: the run loop is the same flat loop
for CPU and GPU plans. A plan whose GPU work runs on one device between the uploads of its feeds
and the downloads of its fetches becomes a :class:`gpugraph.runtime.cuda.graphs.CudaGraphPlan`,
which replays that work as a CUDA graph once its feed shapes repeat.

Example:
    >>> dp = DevicePlacement(placer, backend)                                  # doctest: +SKIP
    >>> plan = compile_plan(graph, [y], [x], [], state, placement=dp)          # doctest: +SKIP
"""

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes, ops
from gpugraph.ops import state_ops
from gpugraph.runtime import placement as placement_lib
from gpugraph.runtime.cuda import fusion_pass
from gpugraph.runtime.cuda import graphs as cuda_graphs
from gpugraph.runtime.plan import (_ALIAS_OPS, KernelContext, _const_value, finish_plan,
                                   unread_pure_steps_kept)
from gpugraph.runtime.state import RefCell, ResourceHandle, freeze


class DevicePlacement:
    """What :func:`compile_plan` needs on a GPU host: the session's placer, the backend, the
    ``GPUOptions`` and the session's cache of constants already uploaded to a GPU."""

    def __init__(self, placer, backend, gpu_options=None):
        self.placer = placer
        self.backend = backend
        self.gpu_options = gpu_options
        self.const_cache = {}  # (op, GPU index) -> device array

    def context(self, device):
        return self.backend.context(device, self.gpu_options)


def compile_device_plan(order, fetches, feeds, state, dp, targets, rewrites):
    """Builds the plan for ``order`` (the pruned ops, dependencies first) from ``dp``'s placement,
    with ``rewrites`` (a :class:`gpugraph.runtime.rewrites.PlanRewrites`)."""
    return _Compiler(state, dp, rewrites).compile(order, fetches, feeds, targets)


class _Compiler:
    def __init__(self, state, dp, rewrites):
        self.state = state
        self.dp = dp
        self.rewrites = rewrites
        self.backend = dp.backend
        self.host = dp.placer.inventory.cpu
        self.slot_of = {}
        self.home = []              # slot -> Device where its value lives
        self.initial = {}           # slot -> pre-loaded value (constants)
        self.const_of = {}          # slot -> the Const op whose value it holds
        self.steps = []             # finish_plan's step specs
        self.notes = []             # per step, for error messages
        self.info = []              # per step: cuda_graphs.StepInfo (what it is, for CUDA graphs)
        self.copies = {}            # (slot, device name) -> slot holding the copy
        self.used = {}              # GPU index -> DeviceContext of every GPU the plan touches

    def new_slot(self, where):
        self.home.append(where)
        return len(self.home) - 1

    def gpu_context(self, device):
        dctx = self.used.get(device.index)
        if dctx is None:
            dctx = self.used[device.index] = self.dp.context(device)
        return dctx

    # -- values where they are needed -------------------------------------------------------------
    def value_on(self, slot, where, op, is_ref=False, what="input"):
        """A slot holding ``slot``'s value on ``where``; adds a copy step when it lives elsewhere.
        ``is_ref``: the slot holds a RefCell, read (and copied) at this point of the plan."""
        src = self.home[slot]
        if src == where and not is_ref:
            return slot
        key = (slot, where.name)
        if not is_ref and key in self.copies:
            return self.copies[key]
        backend = self.backend
        if not is_ref and slot in self.initial:  # a constant: converted once, now
            value, origin = self.initial[slot], self.const_of[slot]
            if where.device_type == "GPU":
                value = self._device_const(origin, where, backend.to_host(value))
            else:
                value = freeze(backend.to_host(value))
            copy = self.new_slot(where)
            self.initial[copy] = value
            self.const_of[copy] = origin
        else:
            copy = self.new_slot(where)
            if where.device_type == "GPU":
                fn, ctx = backend.upload_step, self.gpu_context(where)
                if src.device_type == "GPU":  # one device-to-device copy, no host round trip
                    kind = cuda_graphs.PEER
                    note = f"(copying its {what} from {src.short_name} to {where.short_name}, peer to peer)"
                else:
                    kind = cuda_graphs.UPLOAD
                    note = f"(copying its {what} from {src.short_name} to {where.short_name})"
            else:
                fn, ctx, kind = _download_step, backend, cuda_graphs.DOWNLOAD
                note = f"(copying its {what} from {src.short_name} to the host)"
            self.steps.append((op, fn, (slot,), (copy,), ctx, True))
            self.notes.append(note)
            self.info.append(cuda_graphs.StepInfo(kind, ctx if kind != cuda_graphs.DOWNLOAD else None))
        if not is_ref:
            self.copies[key] = copy
        return copy

    def _device_const(self, const_op, device, host_value):
        """``const_op``'s value on ``device``, uploaded once per session."""
        key = (const_op, device.index)
        value = self.dp.const_cache.get(key)
        if value is None:
            value = self.dp.const_cache[key] = self.backend.to_device(self.gpu_context(device), host_value)
        else:
            self.gpu_context(device)
        return value

    # -- compile ------------------------------------------------------------------------------------
    def compile(self, order, fetches, feeds, targets=()):
        fed = set(feeds)
        host = self.host
        feed_slots = []
        for t in feeds:
            self.slot_of[t] = self.new_slot(host)
            feed_slots.append(self.slot_of[t])
        placer = self.dp.placer
        fusion = fusion_pass.FusionPass(self, order, fetches, feeds, enabled=self.rewrites.fusion)
        for op in order:
            if op.type == "Placeholder":
                if op.outputs[0] not in fed:
                    t = op.outputs[0]
                    raise errors.InvalidArgumentError(
                        None, op, f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                                  f"{t.dtype.name} and shape {t.shape}")
                continue
            device = placer.device_of(op)
            if fusion.emit(op, device):  # inside a fused elementwise step, or that step itself
                continue
            if op.type == "Const":
                self._const(op, device)
            elif op.type in _ALIAS_OPS and op._inputs and not op._inputs[0].dtype._is_ref_dtype \
                    and op._inputs[0] in self.slot_of:
                self.slot_of[op.outputs[0]] = self.slot_of[op._inputs[0]]
            else:
                self._step(op, device)
        fetch_slots = []
        for t in fetches:
            if t not in self.slot_of:
                raise errors.InvalidArgumentError(None, t.op, f"cannot fetch {t.name}: it is not computed")
            slot = self.slot_of[t]
            if t.dtype._is_ref_dtype:  # a variable's value, read now, wherever it lives
                copy = self.new_slot(host)
                self.steps.append((t.op, _download_step, (slot,), (copy,), self.backend, True))
                self.notes.append("(reading the fetched variable)")
                self.info.append(cuda_graphs.StepInfo(cuda_graphs.DOWNLOAD))
                slot = copy
            elif self.home[slot] != host:
                slot = self.value_on(slot, host, t.op, what="fetched value")
            fetch_slots.append(slot)
        last = order[-1] if order else None
        for dctx in self.used.values():
            self.steps.append((last, self.backend.sync_step, (), (), dctx, False))
            self.notes.append(f"(waiting for {dctx.device.short_name})")
            self.info.append(cuda_graphs.StepInfo(cuda_graphs.SYNC, dctx))
        if self.rewrites.dead_steps:
            kept = unread_pure_steps_kept(self.steps, fetch_slots, targets)
            self.steps = [self.steps[i] for i in kept]
            self.notes = [self.notes[i] for i in kept]
            self.info = [self.info[i] for i in kept]
        plan = finish_plan(self.steps, len(self.home), self.initial, feed_slots, fetch_slots, self.state)
        plan.step_notes = self.notes
        plan.fused_groups = tuple(fusion.groups)
        if self.used and self.rewrites.cuda_graphs:
            plan = cuda_graphs.make_plan(plan, self.info, self.backend)
        return plan

    def _const(self, op, device):
        value = freeze(_const_value(op))
        dtype = op.outputs[0].dtype.base_dtype
        if device.device_type == "GPU" and dtype in placement_lib.CUPY_DTYPES:
            slot = self.new_slot(device)
            self.initial[slot] = self._device_const(op, device, value)
        else:
            slot = self.new_slot(self.host)
            self.initial[slot] = value
        self.const_of[slot] = op
        self.slot_of[op.outputs[0]] = slot

    def _step(self, op, device):
        spec = op.op_spec
        kind = device.device_type
        kernel = spec.kernel_for(kind) if spec is not None else None
        if kernel is None:
            raise errors.UnimplementedError(
                None, op, f"no {kind} kernel for op {op.type} (node '{op.name}') on {device.short_name}")
        on_gpu = kind == "GPU"
        host = self.host
        here = device if on_gpu else host
        want = spec.input_dtypes(ops.signature_attrs(spec, op._attrs))
        host_memory = set(placement_lib.host_memory_positions(op)) if on_gpu else ()
        ins, deref, resident, host_inputs = [], [], [], []
        for i, t in enumerate(op._inputs):
            slot = self.slot_of[t]
            base = t.dtype.base_dtype
            is_ref = t.dtype._is_ref_dtype
            if want[i]._is_ref_dtype:  # the kernel gets the variable's cell itself
                ins.append(slot)
                resident.append(i)
                host_inputs.append(i)
                continue
            if base in placement_lib.HOST_DTYPES:  # Python objects: strings, resource handles
                ins.append(slot)
                host_inputs.append(i)
                if base == dtypes.resource:
                    resident.append(i)
                if is_ref:
                    deref.append(i)
                continue
            where = host if i in host_memory else here
            if where is host:
                host_inputs.append(i)
            if self.home[slot] == where:
                ins.append(slot)
                if is_ref:
                    deref.append(i)  # read when the step runs, on this device
            else:
                ins.append(self.value_on(slot, where, op, is_ref))
        host_outputs = on_gpu and placement_lib.has_host_outputs(op.type, "GPU")
        outs = []
        for t in op.outputs:
            stays_on_host = (not on_gpu or host_outputs or
                             (t.dtype.base_dtype in placement_lib.HOST_DTYPES and not t.dtype._is_ref_dtype))
            slot = self.new_slot(host if stays_on_host else device)
            self.slot_of[t] = slot
            outs.append(slot)

        backend = self.backend
        fn = kernel
        if on_gpu:
            dctx = self.gpu_context(device)
            to_here = _to_device_fn(backend, dctx)
        else:
            to_here = backend.to_host
        if deref:
            fn = _deref_to(fn, tuple(deref), to_here)
        if resident:
            fn = _resident(fn, tuple(resident), backend, to_here, on_gpu)
        if on_gpu:
            fn = backend.wrap_gpu_kernel(fn, dctx, host_inputs=host_inputs, host_outputs=host_outputs)
            ctx = KernelContext(op, self.state, "GPU", xp=backend.xp, stream=dctx.step_stream,
                                device_name=device.name, custom_kernels=dctx.custom_kernel)
            note = f"on {device.short_name}"
            info = cuda_graphs.StepInfo(cuda_graphs.GPU, dctx, _graph_blocker(op, spec, want))
        else:
            fn = backend.wrap_cpu_kernel(fn)
            ctx, note = None, None
            info = cuda_graphs.StepInfo(cuda_graphs.CPU)
        self.steps.append((op, fn, tuple(ins), tuple(outs), ctx, len(op.outputs) == 1))
        self.notes.append(note)
        self.info.append(info)


# Stateful ops that only look variables up or read them: a CUDA graph may contain them, since the
# graph checks before each replay that every variable it read still holds the array it captured.
_VARIABLE_LOOKUP_OPS = frozenset({"VariableV2", "VarHandleOp", "ReadVariableOp"})


def _graph_blocker(op, spec, want):
    """Why a GPU step must not be part of a CUDA graph, or None. A replay runs no Python: steps
    that rebind a variable's array, or advance host-side state, would not happen on replays."""
    if any(w._is_ref_dtype for w in want):
        return "it takes a variable by reference and may assign it"
    if op.type not in _VARIABLE_LOOKUP_OPS:
        if any(t.dtype.base_dtype == dtypes.resource for t in op._inputs):
            return "it may write a resource variable"
        if spec.is_stateful:
            return "it is stateful (its state advances on every run)"
    return None


def variable_cells(ctx, args):
    """The variables (RefCells) a step reads through its arguments: ref inputs, and the cells of
    resource handles that exist."""
    cells = []
    for a in args:
        if isinstance(a, RefCell):
            cells.append(a)
        elif isinstance(a, ResourceHandle) or (isinstance(a, np.ndarray) and a.dtype == object):
            handle = _handle(a)
            if handle is not None and ctx.state.has_resource(handle):
                cells.append(ctx.state.resource_cell(handle))
    return cells


def _download_step(backend, x):
    """A copy step's kernel (its ctx is the backend): ``x`` (or a variable's value) on the host."""
    return backend.to_host(x)


def _to_device_fn(backend, dctx):
    def to_device(value):
        return backend.to_device(dctx, value)
    return to_device


def _deref_to(fn, positions, to_here):
    """Reads ref inputs (RefCells) when the step runs, as values on the step's device."""
    def run(ctx, *args):
        args = list(args)
        for i in positions:
            args[i] = to_here(args[i].read())
        return fn(ctx, *args)
    return run


def _resident(fn, positions, backend, to_here, on_gpu):
    """Makes the variables behind ref/resource inputs live on the step's device before it runs.
    A no-op check normally; it moves a value only after a placement change put a variable's ops
    on another device (e.g. an op without a GPU kernel joined its colocation group later)."""
    def move(cell):
        value = cell.value
        if value is None:
            return
        if on_gpu:
            moved = to_here(value)
            if moved is not value:
                cell.value = moved
        elif backend.is_device_array(value):
            cell.assign(backend.to_host(value))

    def run(ctx, *args):
        for i in positions:
            a = args[i]
            if isinstance(a, RefCell):
                move(a)
                continue
            handle = _handle(a)
            if handle is not None and ctx.state.has_resource(handle):
                move(ctx.state.resource_cell(handle))
        return fn(ctx, *args)
    return run


def _handle(value):
    if isinstance(value, ResourceHandle):
        return value
    try:
        return state_ops._as_handle(_NoCtx, value)
    except _NoHandle:
        return None


class _NoHandle(Exception):
    pass


class _NoCtx:
    """Lets ``state_ops._as_handle`` be used as a quiet predicate."""

    @staticmethod
    def error(message, cls=None):
        return _NoHandle(message)
