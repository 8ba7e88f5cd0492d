"""The executor for graphs with TensorFlow-1 control flow (Switch/Merge, Enter/Exit/NextIteration).

A flat step list cannot run a ``tf.while_loop``: how often a node runs, and whether it runs at all,
is decided while running. So :func:`maybe_compile` (called by ``compile_plan``) turns a pruned
subgraph that contains control-flow ops into a :class:`ControlFlowPlan` instead — everything
static is computed once:

- per node: its kernel and KernelContext, where its inputs are stored, its output edges (data and
  control) as ``(destination node, input position, output slot)``, its kind (Merge, Enter, Exit,
  NextIteration, ControlTrigger), and its initial pending count;
- the frame structure, as TensorFlow's ``BuildControlFlowInfo`` computes it: every node lives in
  a frame (the root frame, or the loop frame named by the ``frame_name`` of the Enter nodes that
  lead to it); an Enter sends its output into its child frame, an Exit back to the parent.

``run`` then follows TensorFlow's executor (``propagator_state.cc``; here
:mod:`gpugraph.runtime.control_flow_propagator`) with one thread and a ready queue of
``(node, frame instance, iteration, is_dead)``:

- a Switch has one live output and one *dead* one; a node with a dead input (data or control)
  does not run and its outputs are dead too — except Merge, which runs on its first live input and
  is dead only when all its data inputs are, and ControlTrigger, which is never dead;
- an Enter creates (or finds) the child frame instance for ``(parent frame, parent iteration,
  frame_name)``; an ``is_constant`` Enter's value is delivered to every iteration of the frame,
  present and future; NextIteration delivers to the next iteration (at most
  ``parallel_iterations`` iterations are alive at once; the rest wait), Exit to the parent frame;
- a dead Exit of a frame's last iteration is remembered and sent, dead, to the parent when the
  frame finishes (a loop on the untaken branch of a cond).

A graph that can never finish is reported, not hung: a cycle that does not pass through a
NextIteration (a Merge waiting for its own output) is found when compiling, and a Merge or other
node left waiting for inputs when the ready queue runs dry is named in the error.

Example:
    >>> plan = maybe_compile(graph, [y], [x], [], SessionState())          # doctest: +SKIP
    >>> plan.run([np.float32(3)])                                          # doctest: +SKIP
"""

import collections

import numpy as np

from gpugraph import errors
from gpugraph.ops.control_flow_ops import CONTROL_FLOW_OPS, DEAD
from gpugraph.runtime.control_flow_propagator import NOT_RUN, Run
from gpugraph.runtime.plan import KernelContext, _const_value, _deref_wrapper, _fetch_value, prune
from gpugraph.runtime.state import RefCell, freeze

_KIND_OP, _KIND_CONST, _KIND_FEED = 0, 1, 2


def graph_has_control_flow(graph):
    """True when any op of ``graph`` is a control-flow op (cached per graph version)."""
    cached = getattr(graph, "_gg_control_flow_seen", None)
    if cached is not None and cached[0] == graph._version:
        return cached[1]
    found = any(op._type in CONTROL_FLOW_OPS for op in graph._ops)
    graph._gg_control_flow_seen = (graph._version, found)
    return found


def maybe_compile(graph, fetches, feeds, targets, state, device_kind="CPU", placement=None):
    """A :class:`ControlFlowPlan` when the subgraph that computes ``fetches`` and ``targets``
    contains control-flow ops; None otherwise (the caller compiles a flat plan)."""
    if not graph_has_control_flow(graph):
        return None
    fed = set(feeds)
    needed = prune(fetches, targets, fed)
    if not any(op._type in CONTROL_FLOW_OPS for op in needed):
        return None
    return _Compiler(state, device_kind, placement).compile(needed, fetches, feeds, targets)


# -- the compiled form ----------------------------------------------------------------------------
class _Node:
    """One executable node: static facts only (per-run state lives in iterations)."""

    __slots__ = ("index", "op", "name", "kind", "fn", "ctx", "value", "feed_index", "n_in",
                 "n_data_in", "n_out", "in_start", "local", "frame", "child", "out_edges",
                 "control_edges", "is_merge", "is_enter", "is_constant_enter", "is_exit",
                 "is_next", "is_trigger", "special", "dead_outputs", "fetch_slots", "is_target")

    def __init__(self, index, op, kind):
        self.index = index
        self.op = op
        self.name = op.name if op is not None else None
        self.kind = kind
        self.fn = None
        self.ctx = None
        self.value = None
        self.feed_index = -1
        self.n_in = 0
        self.n_data_in = 0
        self.n_out = 0
        self.in_start = 0
        self.local = 0
        self.frame = None          # the _FrameInfo this node runs in
        self.child = None          # Enter: the _FrameInfo its output goes to
        self.out_edges = []        # (dst node, dst input position in the dst frame, output slot)
        self.control_edges = []    # dst nodes
        self.is_merge = self.is_enter = self.is_constant_enter = False
        self.is_exit = self.is_next = self.is_trigger = False
        self.special = False       # Enter, Exit or NextIteration: outputs leave the iteration
        self.dead_outputs = ()
        self.fetch_slots = None    # [(output slot, fetch position)] for fetched outputs
        self.is_target = False


class _FrameInfo:
    """A static frame: its nodes' layout (pending counts, input positions) and loop settings."""

    __slots__ = ("name", "parent", "nodes", "total_inputs", "pending_init", "input_count",
                 "parallel_iterations")

    def __init__(self, name, parent, parallel_iterations=1):
        self.name = name
        self.parent = parent
        self.nodes = []
        self.total_inputs = 0
        self.pending_init = []
        self.input_count = 0
        self.parallel_iterations = parallel_iterations


class _Compiler:
    def __init__(self, state, device_kind, placement):
        self.state = state
        self.device_kind = device_kind
        self.placement = placement

    def compile(self, needed, fetches, feeds, targets):
        fed = set(feeds)
        order = sorted(needed, key=lambda op: op._id)  # creation order: deterministic layouts
        nodes, node_of = [], {}
        for op in order:
            if op._type == "Placeholder" and op.outputs[0] not in fed:
                t = op.outputs[0]
                raise errors.InvalidArgumentError(
                    None, op, f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                              f"{t.dtype.name} and shape {t.shape}")
            node = _Node(len(nodes), op, _KIND_CONST if op._type == "Const" else _KIND_OP)
            nodes.append(node)
            node_of[op] = node
        feed_node = {}
        for i, t in enumerate(feeds):
            node = _Node(len(nodes), t.op, _KIND_FEED)
            node.name = t.name
            node.feed_index = i
            node.n_out = 1
            nodes.append(node)
            feed_node[t] = node
        # Edges: (src node, src slot) -> (dst node, input position); control edges separately.
        data_in = {n: [] for n in nodes}
        ctrl_in = {n: [] for n in nodes}
        for op in order:
            dst = node_of[op]
            for pos, t in enumerate(op._inputs):
                src = feed_node.get(t)
                slot = 0
                if src is None:
                    src, slot = node_of[t.op], t._value_index
                data_in[dst].append((src, slot, pos))
            for c in op._control_inputs:
                ctrl_in[dst].append(node_of[c])
        for node in nodes:
            if node.kind == _KIND_FEED:
                continue
            self._kernel(node, fed)
            node.n_data_in = len(data_in[node])
            node.n_in = node.n_data_in
            t = node.op._type
            node.is_merge = t in ("Merge", "RefMerge")
            node.is_enter = t in ("Enter", "RefEnter")
            node.is_exit = t in ("Exit", "RefExit")
            node.is_next = t in ("NextIteration", "RefNextIteration")
            node.is_trigger = t == "ControlTrigger"
            node.special = node.is_enter or node.is_exit or node.is_next
            if node.is_enter:
                node.is_constant_enter = bool(node.op.get_attr("is_constant"))
        for dst in nodes:
            for src, slot, pos in data_in[dst]:
                src.out_edges.append((dst, pos, slot))
            for src in ctrl_in[dst]:
                src.control_edges.append(dst)
        for node in nodes:
            node.dead_outputs = (DEAD,) * node.n_out
        roots = [n for n in nodes if not data_in[n] and not ctrl_in[n]]
        _check_no_dead_cycle(nodes, data_in, ctrl_in)
        root_frame = _assign_frames(nodes, roots, data_in, ctrl_in)
        frames = _layout_frames(nodes, data_in, ctrl_in)

        fetch_sources = []
        for i, t in enumerate(fetches):
            node = feed_node.get(t)
            slot = 0
            if node is None:
                node, slot = node_of[t.op], t._value_index
            if node.frame is not root_frame and not (node.is_exit and node.frame.parent is root_frame):
                raise errors.InvalidArgumentError(
                    None, t.op, f"cannot fetch {t.name}: it is computed inside the while loop frame "
                                f"'{node.frame.name}' (fetch the loop's Exit outputs instead)")
            if node.fetch_slots is None:
                node.fetch_slots = []
            node.fetch_slots.append((slot, i))
            fetch_sources.append(node)
        for op in targets:
            node = node_of[op]
            if node.frame is not root_frame and not (node.is_exit and node.frame.parent is root_frame):
                raise errors.InvalidArgumentError(
                    None, op, f"cannot run {op.name} as a target: it runs inside the while loop frame "
                              f"'{node.frame.name}' (make the loop's outputs depend on it instead)")
            node.is_target = True
        plan = ControlFlowPlan(nodes, roots, root_frame, frames, len(fetches), fetches,
                               [node_of[op] for op in targets])
        plan.placed_ops = order
        return plan

    def _kernel(self, node, fed):
        op = node.op
        node.n_out = len(op._outputs)
        if node.kind == _KIND_CONST:
            node.value = freeze(_const_value(op))
            return
        spec = op.op_spec
        kernel = spec.kernel_for("CPU") if spec is not None else None
        if kernel is None:
            raise errors.UnimplementedError(
                None, op, f"no CPU kernel for op {op.type} (node '{op.name}'); graphs with v1 control "
                          f"flow run on the CPU")
        from gpugraph.framework import ops as ops_lib
        want = spec.input_dtypes(ops_lib.signature_attrs(spec, op._attrs))
        ref_positions = [i for i, (t, w) in enumerate(zip(op._inputs, want))
                         if t.dtype._is_ref_dtype and not w._is_ref_dtype]
        if ref_positions:
            kernel = _deref_wrapper(kernel, ref_positions)
        if self.placement is not None:  # outermost: variables move to the host before any read
            kernel = _host_resident(kernel, self.placement.backend, op, want)
        node.fn = kernel
        node.ctx = KernelContext(op, self.state, "CPU")


def _host_resident(fn, backend, op, want):
    """On a GPU host, variables a control-flow plan reads may have been left on a GPU by another
    plan: move their values to the host before the (CPU) kernel runs."""
    positions = [i for i, (t, w) in enumerate(zip(op._inputs, want))
                 if t.dtype._is_ref_dtype or w._is_ref_dtype or t.dtype.base_dtype.name == "resource"]
    if not positions:
        return backend.wrap_cpu_kernel(fn)
    from gpugraph.runtime.device_plan import _handle

    def move(cell):
        if cell.value is not None and backend.is_device_array(cell.value):
            cell.assign(backend.to_host(cell.value))

    def run(ctx, *args):
        for i in positions:
            a = args[i]
            if isinstance(a, RefCell):
                move(a)
            else:
                handle = _handle(a)
                if handle is not None and ctx.state.has_resource(handle):
                    move(ctx.state.resource_cell(handle))
        return fn(ctx, *args)
    return backend.wrap_cpu_kernel(run)


def _check_no_dead_cycle(nodes, data_in, ctrl_in):
    """A cycle that does not pass through a NextIteration can never run (its Merge would wait for
    its own output): find one and name its Merge."""
    indegree = {}
    users = collections.defaultdict(list)
    for dst in nodes:
        preds = [src for src, _, _ in data_in[dst] if not src.is_next] + \
                [src for src in ctrl_in[dst] if not src.is_next]
        indegree[dst] = len(preds)
        for p in preds:
            users[p].append(dst)
    queue = collections.deque(n for n in nodes if indegree[n] == 0)
    seen = 0
    while queue:
        n = queue.popleft()
        seen += 1
        for u in users[n]:
            indegree[u] -= 1
            if indegree[u] == 0:
                queue.append(u)
    if seen == len(nodes):
        return
    stuck = [n for n in nodes if indegree[n] > 0]
    merges = [n for n in stuck if n.is_merge]
    culprit = (merges or stuck)[0]
    waiting = [f"{src.op.name}:{slot}" for src, slot, _ in data_in[culprit] if indegree.get(src, 0) > 0]
    kind = "Merge node" if culprit.is_merge else "node"
    raise errors.InvalidArgumentError(
        None, culprit.op,
        f"{kind} '{culprit.name}' ({culprit.op.type}) can never fire: its input(s) {waiting} depend on "
        f"its own output through a cycle that does not pass through a NextIteration "
        f"(nodes on the cycle include {sorted(n.name for n in stuck)[:6]})")


def _assign_frames(nodes, roots, data_in, ctrl_in):
    """TensorFlow's BuildControlFlowInfo: every node's frame, by a walk from the roots."""
    root = _FrameInfo("", None, 1)
    by_name = {"": root}
    frame_of = {}
    queue = collections.deque()
    for r in roots:
        frame_of[r] = root
        queue.append(r)
    while queue:
        node = queue.popleft()
        frame = frame_of[node]
        if node.is_enter:
            name = node.op.get_attr("frame_name")
            name = name.decode() if isinstance(name, bytes) else name
            child = by_name.get(name)
            if child is None:
                child = by_name[name] = _FrameInfo(name, frame, node.op.get_attr("parallel_iterations"))
            elif child.parent is not frame:
                raise errors.InvalidArgumentError(
                    None, node.op, f"Enter node '{node.name}' enters frame '{name}' from frame "
                                   f"'{frame.name}', but other Enter nodes enter it from frame "
                                   f"'{child.parent.name}'")
            child.input_count += 1
            node.child = child
            out_frame = child
        elif node.is_exit:
            if frame.parent is None:
                raise errors.InvalidArgumentError(
                    None, node.op, f"Exit node '{node.name}' is not inside any while loop frame")
            out_frame = frame.parent
        else:
            out_frame = frame
        for dst in [e[0] for e in node.out_edges] + node.control_edges:
            have = frame_of.get(dst)
            if have is None:
                frame_of[dst] = out_frame
                queue.append(dst)
            elif have is not out_frame:
                other = next((s for s, _, _ in data_in[dst] if s is not node and s in frame_of), node)
                raise errors.InvalidArgumentError(
                    None, dst.op, f"The node '{dst.name}' has inputs from different frames. The input "
                                  f"'{node.name}' is in frame '{out_frame.name}'. The input "
                                  f"'{other.name}' is in frame '{have.name}'.")
    missing = [n for n in nodes if n not in frame_of]
    if missing:
        raise errors.InvalidArgumentError(
            None, missing[0].op, f"node '{missing[0].name}' can never run: it is only reachable through "
                                 f"a loop that nothing outside the loop feeds (nodes "
                                 f"{sorted(n.name for n in missing)[:6]})")
    loop_conds = {}
    for node, frame in frame_of.items():
        node.frame = frame
        if node.is_next and frame.parent is None:
            raise errors.InvalidArgumentError(
                None, node.op, f"NextIteration node '{node.name}' is not inside any while loop frame")
        if node.op is not None and node.op._type == "LoopCond" and node.kind == _KIND_OP:
            other = loop_conds.setdefault(id(frame), node)
            if other is not node:
                first, second = sorted([other.name, node.name])
                raise errors.InvalidArgumentError(
                    None, node.op, f"Invalid loop structure: Loop \"{frame.name}\" has more than one LoopCond "
                                   f"node: '{first}' and '{second}' (two loops share one frame name; import "
                                   f"them under different scopes)")
    return root


def _layout_frames(nodes, data_in, ctrl_in):
    """Per frame: each node's local index, input positions and initial pending count."""
    frames = []
    seen = set()
    for node in nodes:
        frame = node.frame
        if id(frame) not in seen:
            seen.add(id(frame))
            frames.append(frame)
        node.local = len(frame.nodes)
        frame.nodes.append(node)
        node.in_start = frame.total_inputs
        frame.total_inputs += node.n_in
        n_ctrl = len(ctrl_in[node])
        # A Merge waits for its control inputs (2 each) and one live data input (bit 0).
        frame.pending_init.append(1 + 2 * n_ctrl if node.is_merge else node.n_in + n_ctrl)
    for node in nodes:
        node.out_edges = [(dst, dst.in_start + pos, slot) for dst, pos, slot in node.out_edges]
    return frames


class ControlFlowPlan:
    """A compiled control-flow graph; ``run(feed_values)`` returns the fetched values in order.
    Every op of it runs on the CPU, whatever the placer chose (``runs_on_cpu``)."""

    runs_on_cpu = True

    def __init__(self, nodes, roots, root_frame, frames, n_fetches, fetches, target_nodes):
        self.nodes = nodes
        self.roots = roots
        self.root_frame = root_frame
        self.frames = frames
        self.n_fetches = n_fetches
        self.fetches = list(fetches)
        self.target_nodes = target_nodes
        self.graph_version = None
        self.placed_ops = ()
        self.step_notes = None

    # -- running ------------------------------------------------------------------------------
    def run(self, feed_values):
        run = Run(self, feed_values)
        node = None
        try:
            with np.errstate(all="ignore"):
                node = run.execute()
        except errors.OpError as e:
            raise _annotate(run.current, e) from None
        except Exception as e:  # a kernel bug or bad input: name the node and op
            raise _annotate(run.current, e) from e
        del node
        results = run.results
        missing = [i for i, v in enumerate(results) if v is NOT_RUN]
        if missing or any(not run.targets_done.get(n, False) for n in self.target_nodes):
            raise run.stuck_error(missing)
        out = []
        for i, value in enumerate(results):
            if value is DEAD:
                t = self.fetches[i]
                raise errors.InvalidArgumentError(
                    None, t.op, f"Retval[{i}] does not have value: the fetched tensor {t.name} is dead "
                                f"(it is on the untaken branch of a Switch / cond)")
            out.append(_fetch_value(value))
        return out


def _annotate(node, exc):
    op = node.op if node is not None else None
    if op is None:
        return exc
    where = f"node '{op.name}' ({op.type})"
    if isinstance(exc, errors.OpError):
        if where in exc.message:
            return exc
        return type(exc)(None, op, f"{exc.message}\n\t [[{where}]]")
    inputs = ", ".join(f"{t.name} {t.dtype.name}{t.shape}" for t in op.inputs)
    return errors.InvalidArgumentError(
        None, op, f"{where} failed: {type(exc).__name__}: {exc} (inputs: {inputs or 'none'})")
