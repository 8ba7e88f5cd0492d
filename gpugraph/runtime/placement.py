"""The placer: which device each op runs on, as a visible policy whose every decision is data.

Inputs: the graph's ops, each op's requested device (``op.device``), colocation groups, the host's
devices (:mod:`gpugraph.runtime.devices`), which kernels exist per (op type, device kind, dtypes), and
the session's options. Output: one :class:`PlacementDecision` per op, with its reason.

Rules, in order:

1. ``/job:``, ``/replica:`` and ``/task:`` parts are ignored: everything runs on this host.
2. No device type requested (empty device, ``clear_devices`` graphs): ``GPU:0`` when the op has a GPU
   kernel for its dtypes and the host has a GPU, else ``CPU:0`` (as TensorFlow). Ops that would hold
   only int32 values on the device (shape arithmetic: StridedSlice of a Shape, Pack of dims, int32
   Consts) stay on ``CPU:0``, as TensorFlow keeps int32 tensors in host memory.
3. A device this host lacks (``GPU:3`` on a 1-GPU host, any GPU on a CPU-only host, ``CPU:1``,
   ``TPU:0``) is a hint, not an error. Policy ``"remap"`` (the default) maps ``GPU:k`` to
   ``GPU:(k mod n)`` when the host has ``n`` GPUs, anything else to ``CPU:0``, and logs ONE warning per
   placement pass naming the remapped ops, grouped by requested device (INFO instead of WARNING when
   ``allow_soft_placement=True`` asked for it). Policy ``"strict"`` behaves as TensorFlow: without
   ``allow_soft_placement`` the session raises InvalidArgumentError naming the node and the device.
4. An op without a kernel for its dtypes on the chosen device kind runs on ``CPU:0`` (logged once per
   op type at INFO; under ``"strict"`` without soft placement an explicit request is an error).
5. Colocation groups — ``_class: loc:@name`` attrs, and ref- or resource-typed inputs, which tie an op
   to the variable producing them — are placed together: the earliest-created member with a device
   request speaks for the group, and the group goes to a device kind where every member has a kernel.
   Groups are sticky: ops added to the graph later join their group's device when they can.
6. Host-memory inputs (shape and axis arguments) are not a placement matter: the plan keeps them on
   the host whatever the op's device.

GPU kernels may declare the dtypes they support: ``register_device_kernel("MatMul", "GPU", fn,
dtypes=[float16, float32, ...])``. Without a declaration a GPU kernel takes every dtype CuPy can hold
(bool, integers, float16/32/64, complex64/128; not bfloat16, strings, resources). The dtypes checked
are those of the op's outputs and of its inputs except host-memory ones.

Example:
    >>> placer = Placer(graph, devices.inventory())                      # doctest: +SKIP
    >>> [str(d) for d in placer.place()]                                  # doctest: +SKIP
    ['x: (Placeholder): /job:localhost/replica:0/task:0/device:CPU:0  # default: this host has no GPU']
"""

import logging
import os
from dataclasses import dataclass

from gpugraph import errors
from gpugraph.framework import device as device_lib
from gpugraph.framework import dtypes, ops, registry

logger = logging.getLogger("gpugraph")

POLICIES = ("remap", "strict")

# What a CuPy array can hold (bfloat16 is an ml_dtypes extension CuPy does not know).
CUPY_DTYPES = frozenset([
    dtypes.bool, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8, dtypes.uint16,
    dtypes.uint32, dtypes.uint64, dtypes.float16, dtypes.float32, dtypes.float64, dtypes.complex64,
    dtypes.complex128])
# Values of these dtypes are Python objects that always stay on the host.
HOST_DTYPES = frozenset([dtypes.string, dtypes.resource, dtypes.variant])

_KERNEL_DTYPES = {}           # (op type, device kind) -> frozenset of DType
_HOST_OUTPUTS = set()         # (op type, device kind) whose kernel returns host (NumPy) values
_FALLBACK_LOGGED = set()      # op types whose CPU fallback was logged in this process


def register_device_kernel(op_type, device_kind, fn, dtypes=None, host_outputs=False):
    """Registers ``fn`` as ``op_type``'s kernel for ``device_kind`` and records the dtypes it
    supports (None: every dtype the device can hold). ``host_outputs=True``: the kernel returns its
    outputs as host (NumPy) values — metadata such as Shape or IsVariableInitialized, which would
    otherwise cost a device round trip when a host-memory input reads them.

    Example:
        >>> register_device_kernel("Relu", "GPU", gpu_relu, dtypes=[tf.float16, tf.float32])  # doctest: +SKIP
    """
    registry.register_kernel(op_type, device_kind, fn)
    if dtypes is not None:
        from gpugraph.framework.dtypes import as_dtype
        _KERNEL_DTYPES[(op_type, device_kind)] = frozenset(as_dtype(d).base_dtype for d in dtypes)
    if host_outputs:
        _HOST_OUTPUTS.add((op_type, device_kind))
    else:
        _HOST_OUTPUTS.discard((op_type, device_kind))


def has_host_outputs(op_type, device_kind):
    """True when ``op_type``'s ``device_kind`` kernel returns host values (see register_device_kernel)."""
    return (op_type, device_kind) in _HOST_OUTPUTS


def supported_dtypes(op_type, device_kind):
    """The dtypes ``op_type``'s ``device_kind`` kernel accepts; None means any."""
    found = _KERNEL_DTYPES.get((op_type, device_kind))
    if found is None and device_kind == "GPU":
        return CUPY_DTYPES
    return found


def resolve_policy(policy=None):
    """The placement policy: the argument, else ``GPUGRAPH_PLACEMENT``, else ``"remap"``."""
    chosen = policy if policy is not None else os.environ.get("GPUGRAPH_PLACEMENT", "remap")
    chosen = str(chosen).strip().lower() or "remap"
    if chosen not in POLICIES:
        source = "placement_policy" if policy is not None else "GPUGRAPH_PLACEMENT"
        raise ValueError(f"{source} must be one of {POLICIES}, got {chosen!r}")
    return chosen


@dataclass(frozen=True)
class PlacementDecision:
    """Where one op runs and why. ``requested`` is the op's device string as written in the graph
    (canonical form, may be ""); ``assigned`` the full name of the device it runs on."""

    op_name: str
    op_type: str
    requested: str
    assigned: str
    reason: str

    def log_line(self):
        """TensorFlow's ``log_device_placement`` line."""
        return f"{self.op_name}: ({self.op_type}): {self.assigned}"

    def __str__(self):
        return f"{self.log_line()}  # {self.reason}"


def host_memory_positions(op):
    """Flattened input positions of ``op`` whose args are declared host-memory (shape/axis args)."""
    spec = op.op_spec
    if spec is None or not spec.host_memory_inputs:
        return ()
    return tuple(i for i, arg in enumerate(input_args(op)) if arg.name in spec.host_memory_inputs)


def input_args(op):
    """The ArgSpec behind each of ``op``'s (flattened) inputs."""
    spec = op.op_spec
    attrs = ops.signature_attrs(spec, op._attrs)
    out = []
    for arg in spec.inputs:
        if arg.type_list_attr is not None:
            count = len(attrs[arg.type_list_attr])
        elif arg.number_attr is not None:
            count = int(attrs[arg.number_attr])
        else:
            count = 1
        out.extend([arg] * count)
    return out


def _resident_dtypes(op, kind="GPU"):
    """Base dtypes of the values ``op`` would hold on a ``kind`` device: its outputs (unless the
    kernel returns host values) and its inputs except host-memory ones."""
    spec = op.op_spec
    hm = spec.host_memory_inputs
    args = input_args(op) if hm else None
    dts = {t.dtype.base_dtype for i, t in enumerate(op._inputs) if args is None or args[i].name not in hm}
    if not has_host_outputs(op.type, kind):
        dts.update(t.dtype.base_dtype for t in op._outputs)
    return dts


def kernel_kinds(op):
    """({device kinds with a kernel for this op's dtypes}, why there is none for GPU or None)."""
    spec = op.op_spec
    if spec is None:
        return set(), None
    kinds, lacking = set(), None
    for kind in spec.kernels:
        allowed = supported_dtypes(op.type, kind)
        if allowed is not None:
            bad = {d for d in _resident_dtypes(op, kind) if d not in allowed}
            if bad:
                if kind == "GPU":
                    lacking = bad
                continue
        kinds.add(kind)
    if "GPU" in kinds:
        return kinds, None
    if lacking:
        names = ", ".join(sorted(d.name for d in lacking))
        return kinds, f"the GPU kernel for {op.type} does not support {names}"
    return kinds, f"no GPU kernel for {op.type}"


def prefers_host(op):
    """True for ops that only hold int32 values on a device — shape arithmetic, mostly. Without a
    device request they run on the host, as TensorFlow keeps int32 tensors in host memory, so shape
    computations never bounce through the GPU."""
    if op.op_spec is None:
        return False
    dts = _resident_dtypes(op)
    return bool(dts) and dts <= {dtypes.int32}


class _Request:
    """An op's requested device, parsed once: type and index (job/replica/task dropped)."""

    __slots__ = ("text", "type", "index")

    def __init__(self, text):
        self.text = text
        spec = device_lib.DeviceSpec.from_string(text) if text else None
        self.type = spec.device_type if spec is not None else None
        self.index = spec.device_index if spec is not None else None


class Placer:
    """Places a graph's ops for one Session; call :meth:`place` before compiling a plan.

    Ops are appended to graphs, never removed: each call places only ops added since the last one
    (a change to an existing op's device or attrs starts over). Decisions are kept per op.
    """

    def __init__(self, graph, inventory, allow_soft_placement=False, policy="remap"):
        self.graph = graph
        self.inventory = inventory
        self.soft = bool(allow_soft_placement)
        self.policy = resolve_policy(policy)
        self.decisions = {}          # Operation -> PlacementDecision
        self.devices = {}            # Operation -> devices.Device
        self._by_full_name = {d.name: d for d in inventory.devices}
        self._reset()

    def _reset(self):
        self.decisions.clear()
        self.devices.clear()
        self._n_placed = 0
        self._mutation_version = self.graph._mutation_version
        self._parent = {}            # union-find over op names (colocation)
        self._group_device = {}      # group root name -> (Device, reason)

    # -- public -----------------------------------------------------------------------------------
    def place(self):
        """Places the ops not placed yet; returns their decisions in graph order.

        Raises InvalidArgumentError (policy "strict", no soft placement) naming the node and device.
        """
        if self.graph._mutation_version != self._mutation_version:
            self._reset()
        all_ops = self.graph._ops
        new = all_ops[self._n_placed:]
        if not new:
            return []
        if self.inventory.num_gpus:
            chosen = self._place_groups(new)
        else:  # CPU-only host: kernels and groups cannot change the answer, only the request can
            chosen = [(op,) + self._choose(op, _Request(op.device), None) for op in new]
        remapped = []
        for op, device, reason, was_remapped in chosen:
            self.devices[op] = device
            self.decisions[op] = PlacementDecision(op.name, op.type, op.device, device.name, reason)
            if was_remapped:
                remapped.append(op)
        self._n_placed = len(all_ops)
        if remapped:
            self._log_remapped(remapped)
        return [self.decisions[op] for op in new]

    def device_of(self, op):
        return self.devices[op]

    # -- one op, or a group speaking through one op -------------------------------------------------
    def _choose(self, op, req, no_gpu, host_first=False):
        """(Device, reason, remapped?) for ``op``'s request ``req``; ``no_gpu`` says why the op (or
        its group) cannot run on a GPU, None when it can; ``host_first``: int32-only (see
        :func:`prefers_host`). Raises under the strict policy."""
        inv = self.inventory
        cpu = inv.cpu
        n_gpus = inv.num_gpus
        if req.type is None:
            where = " (job/replica/task ignored on a single host)" if req.text else ""
            if not n_gpus:
                return cpu, f"default: {inv.reason or 'this host has no GPU'}{where}", False
            if host_first:
                return cpu, f"default: int32 values stay on the host, as in TensorFlow{where}", False
            if no_gpu is None:
                return inv.devices[1], f"default: a GPU kernel exists{where}", False
            self._log_fallback(op, no_gpu)
            return cpu, f"default: {no_gpu}{where}", False
        shown = device_lib.canonical_name(req.text)
        if req.type == "GPU" and n_gpus:
            index = req.index or 0
            target, reason, remapped = inv.devices[1 + index % n_gpus], "requested", False
            if index >= n_gpus:
                self._strict_missing(op, shown)
                reason, remapped = (f"requested {shown}, which this host lacks ({n_gpus} GPU(s)): "
                                    f"remapped to GPU:{index % n_gpus}"), True
            if no_gpu is not None:
                self._strict_no_kernel(op, shown, no_gpu)
                self._log_fallback(op, no_gpu)
                return cpu, f"requested {shown} but {no_gpu}: fell back to CPU:0", remapped
            return target, reason, remapped
        if req.type == "CPU" and (req.index or 0) == 0:
            return cpu, "requested", False
        self._strict_missing(op, shown)
        lacks = "no GPU" if req.type == "GPU" else f"no {req.type}:{req.index or 0}"
        return cpu, f"requested {shown} but this host has {lacks}: remapped to CPU:0", True

    def _strict_missing(self, op, shown):
        if self.policy == "strict" and not self.soft:
            available = ", ".join(d.name for d in self.inventory.devices)
            raise errors.InvalidArgumentError(
                None, op, f"Cannot assign a device for operation {op.name}: Could not satisfy explicit "
                          f"device specification '{shown}' because no devices matching that "
                          f"specification are registered in this process; available devices: "
                          f"{available} (placement policy 'strict'; allow_soft_placement=True or "
                          f"placement_policy='remap' remaps it)")

    def _strict_no_kernel(self, op, shown, no_gpu):
        if self.policy == "strict" and not self.soft:
            raise errors.InvalidArgumentError(
                None, op, f"Cannot assign a device for operation {op.name}: Could not satisfy explicit "
                          f"device specification '{shown}' because {no_gpu} (placement policy "
                          f"'strict'; allow_soft_placement=True runs it on CPU:0)")

    # -- colocation groups --------------------------------------------------------------------------
    def _find(self, name):
        parent = self._parent
        root = parent.setdefault(name, name)
        while root != parent[root]:
            root = parent[root]
        while parent[name] != root:  # path compression
            parent[name], name = root, parent[name]
        return root

    def _union(self, a, b):
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            # The group keeps an already-placed root so its sticky device survives the merge.
            if rb in self._group_device and ra not in self._group_device:
                ra, rb = rb, ra
            self._parent[rb] = ra

    def _link(self, op):
        """Unions ``op`` with its ``loc:@`` groups and with producers of its ref/resource inputs."""
        name = op.name
        self._find(name)
        if "_class" in op._attrs:
            for key in op.colocation_groups():
                self._union(name, key[5:].decode(errors="replace"))
        if op._inputs and op.op_spec is not None:
            args = None
            for i, t in enumerate(op._inputs):
                if t.dtype.base_dtype == dtypes.resource:
                    self._union(name, t.op.name)
                elif t.dtype._is_ref_dtype:
                    args = args or input_args(op)
                    if args[i].is_ref:
                        self._union(name, t.op.name)

    def _place_groups(self, new):
        for op in new:
            self._link(op)
        groups = {}
        for op in new:
            groups.setdefault(self._find(op.name), []).append(op)
        chosen = {}
        for root, members in groups.items():
            analysis = {op: kernel_kinds(op) for op in members}
            placed = self._group_device.get(root)
            if placed is None:
                device, why, speaker, remapped = self._choose_group(members, analysis)
                self._group_device[root] = (device, why)
                for op in members:
                    reason = why if op is speaker else f"colocated with {speaker.name}: {why}"
                    chosen[op] = (device, reason, remapped and bool(op.device))
                continue
            device, why = placed  # sticky: ops added later join the group where they can
            for op in members:
                kinds, no_gpu = analysis[op]
                if device.device_type in kinds or not kinds:
                    chosen[op] = (device, f"colocation group of {root} (placed earlier): {why}", False)
                else:
                    self._log_fallback(op, no_gpu)
                    chosen[op] = (self.inventory.cpu, f"its colocation group {root} is on "
                                  f"{device.short_name[8:]} but {no_gpu}: CPU:0", False)
        return [(op,) + chosen[op] for op in new]

    def _choose_group(self, members, analysis):
        """(Device, reason, speaking member, remapped?) for a group placed for the first time: the
        earliest member with a device type speaks; every member with a kernel must have one there."""
        speaker, req = members[0], _Request(members[0].device)
        for op in members:
            r = _Request(op.device)
            if r.type is not None:
                speaker, req = op, r
                break
        no_gpu = None
        for op in members:
            kinds, why = analysis[op]
            if kinds and "GPU" not in kinds:  # (no kernel at all fails at compile, with its message)
                no_gpu = why if op is speaker else f"{why} (colocated op {op.name})"
                if op is speaker:
                    break
        host_first = all(prefers_host(op) for op in members if analysis[op][0])
        device, reason, remapped = self._choose(speaker, req, no_gpu, host_first)
        return device, reason, speaker, remapped

    # -- logging ------------------------------------------------------------------------------------
    def _log_fallback(self, op, no_gpu):
        if op.type in _FALLBACK_LOGGED:
            return
        _FALLBACK_LOGGED.add(op.type)
        logger.info("gpugraph: %s; it runs on CPU:0 (first: node %s); logged once per op type",
                    no_gpu, op.name)

    def _log_remapped(self, remapped):
        by_pair = {}
        for op in remapped:
            key = (device_lib.canonical_name(op.device), self.devices[op].short_name)
            by_pair.setdefault(key, []).append(op.name)
        parts = []
        for (req, got), names in by_pair.items():
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            parts.append(f"{req} -> {got}: {shown}")
        level = logging.INFO if self.soft else logging.WARNING
        how = "allow_soft_placement" if self.soft else "the placement policy 'remap'"
        logger.log(level, "gpugraph: %d op(s) asked for devices this host does not have (%s) and were "
                   "remapped by %s [%s]; placement_policy='strict' without allow_soft_placement makes "
                   "this an error", len(remapped), _host_summary(self.inventory), how, "; ".join(parts))


def _host_summary(inv):
    return f"it has CPU:0 and {inv.num_gpus} GPU(s)" if inv.num_gpus else "it has CPU:0 only"
