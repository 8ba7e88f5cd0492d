"""Elementwise fusion for GPU plans: consecutive elementwise ops on one GPU become one step that
launches one generated kernel (:mod:`gpugraph.runtime.cuda.fusion`).

A *group* is a set of ops of ``fusion.TF_OPS`` (AddV2, Mul, Relu, Sigmoid, BiasAdd in NHWC, ...)
placed on the same GPU, all of one float dtype, whose inner values are used only by the group: an
op joins the group of its consumers when its output is not fetched, not fed, read only by ops of
that group and is no control input of any op of the plan. Groups are chains, trees, or DAGs where
one inner value feeds several ops of the group (``x * sigmoid(1.702 * x)`` with ``x`` computed
inside: the kernel computes it once). Everything else the group reads (matmul
outputs, variables, constants, feeds) is a kernel input, broadcast against the group's output as
one of the kinds full / scalar / row / col. Kinds are chosen from the graph's static shapes; each
run checks the actual shapes once per new shape signature, and when they do not fit the kinds (or
an op of the group would have rejected them) the step runs the group's original GPU kernels one
after the other instead — same values, same errors, naming the original node.

The generated kernel is built at plan compile time (NVRTC on a GPU, the C++ CPU build in the
emulated backend). When the backend offers no custom kernels (the emulated backend without its
kernel emulator) nothing is fused. ``remapping`` in the session's ``RewriterConfig`` or
``GPUGRAPH_FUSION=0`` turns fusion off (:mod:`gpugraph.runtime.rewrites`).

Every fused step is recorded as a :class:`FusedGroup` in ``plan.fused_groups``;
``ConfigProto(log_device_placement=True)`` prints them when the plan is compiled.

The pass works on device_plan's compiler: it reads ``slot_of``, ``state`` and ``backend``, and emits
through ``gpu_context``, ``value_on``, ``new_slot``, ``steps`` and ``notes``, the same way the
compiler's own ``_step`` does.

Example:
    >>> fusion = FusionPass(compiler, order, fetches, feeds)           # doctest: +SKIP
    >>> for op in order:                                               # doctest: +SKIP
    ...     if fusion.emit(op, placer.device_of(op)):
    ...         continue            # absorbed into a fused step, or that step itself
    >>> [g.nodes for g in fusion.groups]                               # doctest: +SKIP
    [('dense/BiasAdd', 'dense/Relu')]
"""

import logging
import math

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes
from gpugraph.runtime.cuda import fusion, kernel_loader
from gpugraph.runtime.cuda import graphs as cuda_graphs
from gpugraph.runtime.plan import KernelContext

logger = logging.getLogger("gpugraph")

# Float dtypes both the generated kernels and CuPy arrays support (CuPy has no bfloat16).
FUSIBLE_DTYPES = {dtypes.float16: "float16", dtypes.float32: "float32", dtypes.float64: "float64"}

_SHAPE_CACHE_LIMIT = 64  # distinct input-shape signatures remembered per fused step
_UNSEEN = object()
_NO_KERNELS = object()



class FusedGroup:
    """One fused step of a plan, as users and tests see it.

    ``nodes``: the fused ops' names in plan order (the last one's output is the step's output);
    ``device``: the GPU's full name; ``kernel_name`` and ``expression``: the generated kernel and
    what it computes (``x0``, ``x1[row]``... are its inputs); ``input_kinds``: how each input is
    broadcast. ``launches`` and ``fallbacks`` count the runs that launched the kernel and those whose
    shapes did not fit it (run op by op).

    Example:
        >>> [g.nodes for g in plan.fused_groups]                       # doctest: +SKIP
        [('add', 'Relu')]
        >>> print(plan.fused_groups[0])                                # doctest: +SKIP
        fused add (AddV2), Relu (Relu): /job:localhost/replica:0/task:0/device:GPU:0  # one kernel ...
    """

    __slots__ = ("nodes", "op_types", "device", "kernel_name", "expression", "input_kinds",
                 "launches", "fallbacks")

    def __init__(self, nodes, op_types, device, kernel_name, expression, input_kinds):
        self.nodes = tuple(nodes)
        self.op_types = tuple(op_types)
        self.device = device
        self.kernel_name = kernel_name
        self.expression = expression
        self.input_kinds = tuple(input_kinds)
        self.launches = 0
        self.fallbacks = 0

    def __str__(self):
        ops = ", ".join(f"{n} ({t})" for n, t in zip(self.nodes, self.op_types))
        return f"fused {ops}: {self.device}  # one kernel {self.kernel_name}: {self.expression}"

    def __repr__(self):
        return f"<FusedGroup {list(self.nodes)} on {self.device}: {self.expression}>"


# -- finding groups ---------------------------------------------------------------------------------
def _fusible(op, device):
    """Whether ``op`` on ``device`` may be part of a fused group at all."""
    if op.type not in fusion.TF_OPS or device is None or device.device_type != "GPU":
        return False
    if len(op.outputs) != 1 or op.op_spec is None or op.op_spec.kernel_for("GPU") is None:
        return False
    dtype = op.outputs[0].dtype
    if dtype._is_ref_dtype or dtype.base_dtype not in FUSIBLE_DTYPES:
        return False
    # One dtype through the whole chain, and values rather than variables' refs as inputs (a ref is
    # read where its step runs, which a fused step would move).
    if any(t.dtype != dtype for t in op._inputs):
        return False
    if op.type == "BiasAdd" and op.kernel_attrs().get("data_format", "NHWC") != "NHWC":
        return False  # NCHW adds along axis 1: not one of the broadcast kinds
    return True


def find_groups(order, fetches, feeds, device_of):
    """The fusible groups of a pruned plan: lists of ops in plan order, the group's output op
    last, two or more ops each. ``device_of(op)`` is the placer's device of ``op``.

    Example:
        >>> find_groups(order, [y], [x], placer.device_of)             # doctest: +SKIP
        [[<Operation 'add'>, <Operation 'Relu'>]]
    """
    in_plan = set(order)
    kept = set(fetches) | set(feeds)  # values the plan must hold on to (or never computes)
    group_of = {}                     # fusible op -> the output op of its group
    devices = {}
    # Consumers before producers: an op joins a group when every op of the plan reading its value
    # is in that group. So only a group's output op is read from outside, and no path leaves the
    # group and comes back into it (the fused step runs where the output op was).
    for op in reversed(order):
        device = device_of(op) if op.type in fusion.TF_OPS else None
        if not _fusible(op, device):
            continue
        devices[op] = device
        group_of[op] = op
        if op.outputs[0] in kept or any(c in in_plan for c in op._control_outputs):
            continue
        roots = {group_of.get(c) for c in op.outputs[0]._consumers if c in in_plan}
        if len(roots) == 1:
            root = roots.pop()
            if root is not None and devices[root] == device:
                group_of[op] = root
    members = {}
    for op in order:  # plan order within each group
        if op in group_of:
            members.setdefault(group_of[op], []).append(op)
    return [g for g in members.values() if len(g) > 1]


# -- broadcast kinds ------------------------------------------------------------------------------
def _probably_equal(dim, out_dim):
    """Whether an input's dimension is (as far as static shapes tell) the output's, not broadcast."""
    if dim is None:
        return True            # unknown: most likely the output's; checked at run time
    if out_dim is None:
        return dim != 1        # a known 1 under an unknown output dimension is a broadcast
    return dim == out_dim


def static_kind(shape, out_shape):
    """The broadcast kind (``"full"``, ``"scalar"``, ``"row"``, ``"col"``) of an input of static
    ``shape`` in an elementwise group with output ``out_shape`` (TensorShapes, possibly partial),
    or None when no kind fits or the ranks are unknown.

    Example:
        >>> from gpugraph.framework.tensor_shape import TensorShape as S
        >>> [static_kind(S(s), S([None, 8])) for s in ([None, 8], [], [8], [None, 1], [4, 1, 8])]
        ['full', 'scalar', 'row', 'col', None]
    """
    if shape.rank is None or out_shape.rank is None or shape.rank > out_shape.rank:
        return None
    dims, out = shape.as_list(), out_shape.as_list()
    if shape.is_fully_defined() and shape.num_elements() == 1:
        return "scalar"
    lead, aligned = out[:len(out) - len(dims)], out[len(out) - len(dims):]
    lead_ones = all(d == 1 for d in lead)
    if lead_ones and all(_probably_equal(d, o) for d, o in zip(dims, aligned)):
        return "full"
    if dims and _probably_equal(dims[-1], out[-1]) and all(d == 1 for d in dims[:-1]):
        return "row"
    if dims and dims[-1] == 1 and lead_ones and \
            all(_probably_equal(d, o) for d, o in zip(dims[:-1], aligned[:-1])):
        return "col"
    return None


def _fits(kind, shape, n, cols):
    """Whether an input of ``shape``, known to broadcast to the output (``n`` elements, last
    dimension ``cols``), is read correctly by accessor ``kind``."""
    size = math.prod(shape)
    if kind == "full":
        return size == n
    if kind == "scalar":
        return size == 1
    if kind == "row":
        return size == cols and (cols == 1 or shape[-1] == cols)
    return size * cols == n and (cols == 1 or shape[-1] == 1)  # col


# -- the pass -------------------------------------------------------------------------------------
class _PlannedGroup:
    """A group that will be fused: its ``ops`` (output op last), the generated ``kernel`` and its
    ``launch`` callable, the external tensors it reads (``leaves``: tensor -> (input index, first
    op reading it)) and their broadcast ``kinds`` in input order."""

    __slots__ = ("ops", "kernel", "launch", "leaves", "kinds")

    def __init__(self, ops, kernel, launch, leaves, kinds):
        self.ops, self.kernel, self.launch, self.leaves, self.kinds = ops, kernel, launch, leaves, kinds


class _Member:
    """One original op of a group, ready to run on its own: its GPU kernel, its KernelContext and
    where its operands come from (``("input", i)``: the step's input i; ``("op", j)``: member j)."""

    __slots__ = ("op", "kernel", "ctx", "operands")

    def __init__(self, op, kernel, ctx, operands):
        self.op, self.kernel, self.ctx, self.operands = op, kernel, ctx, operands


class FusionPass:
    """Finds the fusible groups of a GPU plan and emits one fused step per group.

    Constructed by device_plan's compiler before it walks the plan's ops; :meth:`emit` then tells,
    per op, whether the pass took care of it. ``groups`` lists the :class:`FusedGroup` of every
    fused step emitted so far.
    """

    def __init__(self, compiler, order, fetches, feeds, enabled=True):
        self._compiler = compiler
        self._planned = {}   # op -> the _PlannedGroup it belongs to
        self.groups = []
        if not enabled:
            return
        placer = compiler.dp.placer
        no_kernels = set()   # GPUs whose backend gives no custom kernels
        for ops in find_groups(order, fetches, feeds, placer.device_of):
            device = placer.device_of(ops[-1])
            if device.name in no_kernels:
                continue
            planned = self._plan_group(ops, device)
            if planned is _NO_KERNELS:
                no_kernels.add(device.name)
                continue
            if planned is None:
                continue
            for op in ops:
                self._planned[op] = planned

    def emit(self, op, device):
        """True when ``op`` needs no step of its own: it is inside a fused group, or it is a
        group's output op and the fused step has just been added to the plan."""
        planned = self._planned.get(op)
        if planned is None:
            return False
        if op is planned.ops[-1]:
            self._emit(planned, device)
        return True

    # -- compile time ---------------------------------------------------------------------------------
    def _plan_group(self, ops, device):
        """The group's :class:`_PlannedGroup`; None when it cannot be fused (an input whose
        broadcast is no kind, a kernel that fails to build); ``_NO_KERNELS`` when the backend
        has no custom kernels."""
        root = ops[-1]
        dtype = FUSIBLE_DTYPES[root.outputs[0].dtype.base_dtype]
        out_shape = root.outputs[0].shape
        inside = {op.outputs[0]: op for op in ops}
        leaves = {}          # external tensor -> (input index, first consumer)
        kinds = []
        exprs = {}
        for op in ops:
            args = []
            for t in op._inputs:
                if t in inside:
                    args.append(exprs[inside[t]])
                    continue
                if t not in leaves:
                    kind = static_kind(t.shape, out_shape)
                    if kind is None:
                        logger.debug("gpugraph: not fusing %s: input %s %s is no broadcast kind of %s",
                                     [o.name for o in ops], t.name, t.shape, out_shape)
                        return None
                    leaves[t] = (len(leaves), op)
                    kinds.append(kind)
                    exprs[t] = fusion.input(leaves[t][0], kind, dtype)
                args.append(exprs[t])
            exprs[op] = fusion.from_op(op.type, *args, **op.kernel_attrs())
        kernel = fusion.build(exprs[root])
        dctx = self._compiler.gpu_context(device)
        try:
            launch = dctx.custom_kernel(kernel.kernel_source(), kernel.name)
        except Exception as e:  # noqa: BLE001 - fusion is an optimisation: run the ops unfused
            logger.warning("gpugraph: could not build the fused kernel for %s on %s (%s: %s); "
                           "running them unfused", [o.name for o in ops], device.short_name,
                           type(e).__name__, e)
            return None
        if launch is None:
            return _NO_KERNELS
        return _PlannedGroup(ops, kernel, launch, leaves, kinds)

    def _emit(self, planned, device):
        c = self._compiler
        ops = planned.ops
        root = ops[-1]
        dctx = c.gpu_context(device)
        ins = tuple(c.value_on(c.slot_of[t], device, consumer) for t, (_, consumer) in planned.leaves.items())
        out = c.new_slot(device)
        c.slot_of[root.outputs[0]] = out

        kernel = planned.kernel
        group = FusedGroup([op.name for op in ops], [op.type for op in ops], device.name,
                           kernel.name, kernel.expression, planned.kinds)
        backend = c.backend

        def context(op):
            return KernelContext(op, c.state, "GPU", xp=backend.xp, stream=dctx.step_stream,
                                 device_name=device.name, custom_kernels=dctx.custom_kernel)

        index = {op: j for j, op in enumerate(ops)}
        leaf_index = {t: i for t, (i, _) in planned.leaves.items()}
        members = []
        for op in ops:
            operands = tuple(("op", index[t.op]) if t.op in index and t not in leaf_index
                             else ("input", leaf_index[t]) for t in op._inputs)
            members.append(_Member(op, op.op_spec.kernel_for("GPU"), context(op), operands))
        step = FusedStep(group, planned.launch, planned.kinds, members,
                         root.outputs[0].dtype.base_dtype.as_numpy_dtype)
        fn = backend.wrap_gpu_kernel(step, dctx)
        others = ", ".join(f"'{op.name}'" for op in ops[:-1])
        c.steps.append((root, fn, ins, (out,), context(root), True))
        c.notes.append(f"on {device.short_name}, fused with {others}")
        c.info.append(cuda_graphs.StepInfo(cuda_graphs.GPU, dctx))  # stateless: may be captured
        self.groups.append(group)
        logger.debug("gpugraph: %s", group)


class FusedStep:
    """The plan step of one fused group: ``step(ctx, *inputs)`` launches the generated kernel on
    ``ctx.stream`` and returns the group's output, or runs the original ops one by one when this
    run's shapes do not fit the kernel's broadcast kinds."""

    def __init__(self, group, launch, kinds, members, dtype):
        self.group = group
        self._launch = launch
        self._kinds = tuple(kinds)
        self._members = members
        self._dtype = np.dtype(dtype)
        self._geometry = {}      # (shape, dtype) per input -> launch geometry, or None: unfused
        self._warned = False

    def __call__(self, ctx, *inputs):
        key = tuple((x.shape, x.dtype) for x in inputs)
        geometry = self._geometry.get(key, _UNSEEN)
        if geometry is _UNSEEN:
            geometry = self._geometry_for(key)
        if geometry is None:
            return self._run_unfused(inputs)
        out_shape, n, cols, grid, block = geometry
        xp = ctx.xp
        out = xp.empty(out_shape, self._dtype)
        if n:
            args = [x if x.flags.c_contiguous else xp.ascontiguousarray(x) for x in inputs]
            self._launch(grid, block, (*args, out, n, cols), stream=ctx.stream)
        self.group.launches += 1
        return out

    def _geometry_for(self, key):
        """(output shape, n, cols, grid, block) for inputs of these shapes and dtypes, or None when
        the original ops would broadcast (or reject) them in a way the kernel does not."""
        geometry = self._check(key)
        if len(self._geometry) >= _SHAPE_CACHE_LIMIT:
            self._geometry.clear()
        self._geometry[key] = geometry
        if geometry is None and not self._warned:
            self._warned = True
            logger.warning("gpugraph: the input shapes %s of fused nodes %s do not fit its kernel's "
                           "broadcast (%s); running those nodes one by one for such shapes",
                           [list(s) for s, _ in key], list(self.group.nodes), ", ".join(self._kinds))
        return geometry

    def _check(self, key):
        if any(dtype != self._dtype for _, dtype in key):
            return None
        shapes = []
        for m in self._members:
            operands = [key[i][0] if src == "input" else shapes[i] for src, i in m.operands]
            if m.op.type == "BiasAdd":
                value, bias = operands
                if len(value) < 2 or len(bias) != 1 or bias[0] != value[-1]:
                    return None
                shapes.append(tuple(value))
                continue
            try:
                shapes.append(tuple(np.broadcast_shapes(*operands)))
            except ValueError:
                return None
        out_shape = shapes[-1]
        n = math.prod(out_shape)
        cols = out_shape[-1] if out_shape else 1
        if not all(_fits(kind, shape, n, cols) for kind, (shape, _) in zip(self._kinds, key)):
            return None
        grid, block = kernel_loader.flat_launch(n) if n else (None, None)
        return out_shape, n, cols, grid, block

    def _run_unfused(self, inputs):
        """The group's original GPU kernels in plan order; errors name the op that raised them."""
        values = []
        for m in self._members:
            args = [inputs[i] if src == "input" else values[i] for src, i in m.operands]
            try:
                values.append(m.kernel(m.ctx, *args))
            except errors.OpError:
                raise
            except Exception as e:  # noqa: BLE001 - a kernel bug or bad input: name the node
                inputs_text = ", ".join(f"{t.name} {t.dtype.name}{list(np.shape(a))}"
                                        for t, a in zip(m.op.inputs, args))
                raise errors.InvalidArgumentError(
                    None, m.op, f"node '{m.op.name}' ({m.op.type}) failed: {type(e).__name__}: {e} "
                                f"(inputs: {inputs_text})") from e
        self.group.fallbacks += 1
        return values[-1]
