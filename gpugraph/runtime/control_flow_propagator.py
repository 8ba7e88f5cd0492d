"""One run of a :class:`~gpugraph.runtime.control_flow_executor.ControlFlowPlan`: TensorFlow's
PropagatorState with one thread. Per frame instance (the root frame, or one per loop started in a
given iteration of its parent) a dict of live iterations; per iteration the pending and dead counts
of the frame's nodes and their input slots. A ready queue of ``(node, frame, iteration, is_dead)``
drives it; ``_propagate`` delivers a node's outputs — into its frame, a child frame (Enter), the
next iteration (NextIteration, limited by ``parallel_iterations``) or the parent (Exit).

Example:
    >>> run = Run(plan, feed_values)                                   # doctest: +SKIP
    >>> run.execute(); run.results                                     # doctest: +SKIP
"""

import collections

from gpugraph import errors
from gpugraph.ops.control_flow_ops import DEAD

_KIND_OP, _KIND_CONST = 0, 1
NOT_RUN = object()  # a fetch that was never produced


class _Iteration:
    __slots__ = ("num", "pending", "dead", "inputs", "outstanding_ops", "outstanding_frames",
                 "children")

    def __init__(self, num, info):
        self.num = num
        self.pending = list(info.pending_init)
        self.dead = [0] * len(info.pending_init)
        self.inputs = [DEAD] * info.total_inputs
        self.outstanding_ops = 0
        self.outstanding_frames = 0
        self.children = None  # frame name -> child _Frame started in this iteration


class _Frame:
    __slots__ = ("info", "parent", "parent_iter", "iterations", "iteration_count", "num_pending_inputs",
                 "num_outstanding_iterations", "max_parallel", "inv_values", "next_iter_roots",
                 "dead_exits")

    def __init__(self, info, parent, parent_iter):
        self.info = info
        self.parent = parent
        self.parent_iter = parent_iter
        self.iterations = {0: _Iteration(0, info)}
        self.iteration_count = 0
        self.num_pending_inputs = info.input_count
        self.num_outstanding_iterations = 1
        self.max_parallel = max(int(info.parallel_iterations), 1)
        self.inv_values = []
        self.next_iter_roots = []
        self.dead_exits = []


class Run:
    """One execution of a ControlFlowPlan (TensorFlow's PropagatorState, single-threaded)."""

    def __init__(self, plan, feed_values):
        self.plan = plan
        self.feeds = feed_values
        self.results = [NOT_RUN] * plan.n_fetches
        self.targets_done = {}
        self.ready = collections.deque()
        self.current = None
        self.live_frames = []

    def execute(self):
        plan = self.plan
        root = _Frame(plan.root_frame, None, None)
        self.live_frames.append(root)
        it0 = root.iterations[0]
        ready = self.ready
        for node in plan.roots:
            ready.append((node, root, it0, False))
        it0.outstanding_ops = len(plan.roots)
        root_info = plan.root_frame
        popleft = ready.popleft
        while ready:
            node, frame, it, is_dead = popleft()
            self.current = node
            if is_dead:
                outputs = node.dead_outputs
            elif node.kind == _KIND_OP:
                start = node.in_start
                inputs = it.inputs
                args = inputs[start:start + node.n_in]
                for k in range(start, start + node.n_in):
                    inputs[k] = DEAD  # the consumer holds them now; free the iteration's copy
                result = node.fn(node.ctx, *args)
                n_out = node.n_out
                if n_out == 1:
                    outputs = (result,)
                elif n_out == 0:
                    outputs = ()
                else:
                    outputs = tuple(result)
                    if len(outputs) != n_out:
                        raise errors.InternalError(
                            None, node.op, f"kernel of '{node.name}' ({node.op.type}) returned "
                                           f"{len(outputs)} values for {n_out} outputs")
            elif node.kind == _KIND_CONST:
                outputs = (node.value,)
            else:
                outputs = (self.feeds[node.feed_index],)
            if frame.info is root_info:
                if node.fetch_slots is not None:
                    for slot, pos in node.fetch_slots:
                        self.results[pos] = outputs[slot]
                if node.is_target:
                    self.targets_done[node] = True
            elif node.is_exit and frame.parent.info is root_info and not is_dead:
                if node.fetch_slots is not None:
                    for slot, pos in node.fetch_slots:
                        self.results[pos] = outputs[slot]
                if node.is_target:
                    self.targets_done[node] = True
            self._propagate(node, frame, it, is_dead, outputs)
        self.current = None
        return None

    # -- TensorFlow's PropagateOutputs -----------------------------------------------------------
    def _propagate(self, node, frame, it, is_dead, outputs):
        if not node.special:
            activated = self._activate(node, is_dead, frame, it, outputs)
            frame_done = self._adjust(frame, it, activated - 1)
        elif node.is_enter:
            child = self._child_frame(frame, it, node.child)
            cit = child.iterations[0]
            if node.is_constant_enter:
                self._add_loop_invariant(child, node, outputs[0])
            else:
                activated = self._activate(node, is_dead, child, cit, outputs)
                self._adjust(child, cit, activated)
            child.num_pending_inputs -= 1
            frame_done = self._adjust(frame, it, -1)
        elif node.is_exit:
            if is_dead:
                if it.num == frame.iteration_count:
                    frame.dead_exits.append(node)
            else:
                parent, pit = frame.parent, frame.parent_iter
                pit.outstanding_ops += self._activate(node, False, parent, pit, outputs)
            frame_done = self._adjust(frame, it, -1)
        else:  # NextIteration
            if not is_dead:  # a dead NextIteration ends the loop's dead branch here
                if it.num == frame.iteration_count:
                    if frame.num_outstanding_iterations == frame.max_parallel:
                        frame.next_iter_roots.append((node, outputs[0]))  # waits for a free slot
                    else:
                        nit = self._increment_iteration(frame)
                        self._adjust(frame, nit, self._activate(node, False, frame, nit, outputs))
                else:
                    nit = frame.iterations[it.num + 1]
                    nit.outstanding_ops += self._activate(node, False, frame, nit, outputs)
            frame_done = self._adjust(frame, it, -1)
        if frame_done and frame.parent is not None:
            parent, pit = frame.parent, frame.parent_iter
            self._delete_frame(frame)
            self._cleanup_frames(parent, pit)

    def _activate(self, node, is_dead, frame, it, outputs):
        """Delivers ``outputs`` to the consumers in iteration ``it``; returns how many became ready."""
        pending, dead, inputs = it.pending, it.dead, it.inputs
        ready = self.ready
        activated = 0
        for dst, pos, slot in node.out_edges:
            value = outputs[slot]
            local = dst.local
            if dst.is_merge:
                if value is not DEAD:
                    count = pending[local]
                    if count & 1:
                        inputs[pos] = value  # the first live input is the one Merge forwards
                        pending[local] = count & ~1
                    if count == 1:
                        ready.append((dst, frame, it, False))
                        activated += 1
                else:
                    dead[local] += 1
                    dst_dead = dead[local] == dst.n_data_in or node.is_enter
                    if pending[local] == 1 and dst_dead:
                        ready.append((dst, frame, it, True))
                        activated += 1
            else:
                inputs[pos] = value
                if is_dead or value is DEAD:
                    dead[local] += 1
                count = pending[local] - 1
                pending[local] = count
                if count == 0:
                    ready.append((dst, frame, it, dead[local] > 0 and not dst.is_trigger))
                    activated += 1
        for dst in node.control_edges:
            local = dst.local
            if dst.is_merge:
                pending[local] -= 2
                count = pending[local]
                dst_dead = dead[local] == dst.n_data_in
                if count == 0 or (count == 1 and dst_dead):
                    ready.append((dst, frame, it, dst_dead and count == 1))
                    activated += 1
            else:
                if is_dead:
                    dead[local] += 1
                count = pending[local] - 1
                pending[local] = count
                if count == 0:
                    ready.append((dst, frame, it, dead[local] > 0 and not dst.is_trigger))
                    activated += 1
        return activated

    def _adjust(self, frame, it, delta):
        """Adds ``delta`` outstanding ops to ``it``; cleans up finished iterations. True when the
        whole frame is done."""
        it.outstanding_ops += delta
        if it.outstanding_ops != 0:
            return False
        return self._cleanup_iterations(frame, it)

    def _child_frame(self, frame, it, info):
        children = it.children
        if children is None:
            children = it.children = {}
        child = children.get(info.name)
        if child is None:
            child = children[info.name] = _Frame(info, frame, it)
            it.outstanding_frames += 1
            self.live_frames.append(child)
        return child

    def _add_loop_invariant(self, frame, node, value):
        frame.inv_values.append((node, value))
        is_dead = value is DEAD
        for num in range(frame.iteration_count + 1):
            it = frame.iterations[num]
            self._adjust(frame, it, self._activate(node, is_dead, frame, it, (value,)))

    def _increment_iteration(self, frame):
        frame.iteration_count += 1
        nit = frame.iterations[frame.iteration_count] = _Iteration(frame.iteration_count, frame.info)
        frame.num_outstanding_iterations += 1
        frame.dead_exits = []
        activated = 0
        for node, value in frame.next_iter_roots:
            activated += self._activate(node, value is DEAD, frame, nit, (value,))
        frame.next_iter_roots = []
        nit.outstanding_ops += activated
        activated = 0
        for node, value in frame.inv_values:
            activated += self._activate(node, value is DEAD, frame, nit, (value,))
        nit.outstanding_ops += activated
        return nit

    def _iteration_done(self, frame, it):
        if it.outstanding_ops == 0 and it.outstanding_frames == 0:
            if it.num == 0:
                return frame.num_pending_inputs == 0
            return (it.num - 1) not in frame.iterations
        return False

    def _cleanup_iterations(self, frame, it):
        num = it.num
        while num <= frame.iteration_count and self._iteration_done(frame, it):
            del frame.iterations[num]
            frame.num_outstanding_iterations -= 1
            num += 1
            if frame.next_iter_roots:
                self._increment_iteration(frame)
            if num <= frame.iteration_count:
                it = frame.iterations[num]
        return frame.num_pending_inputs == 0 and frame.num_outstanding_iterations == 0

    def _delete_frame(self, frame):
        """A finished frame: its dead exits of the last iteration reach the parent, dead."""
        parent, pit = frame.parent, frame.parent_iter
        ready = self.ready
        for node in frame.dead_exits:
            pending, dead = pit.pending, pit.dead
            for dst, pos, slot in node.out_edges:
                local = dst.local
                dead[local] += 1
                if dst.is_merge:
                    is_ready = pending[local] == 1 and dead[local] == dst.n_data_in
                    dst_dead = True
                else:
                    pending[local] -= 1
                    is_ready = pending[local] == 0
                    dst_dead = True
                if is_ready:
                    ready.append((dst, parent, pit, dst_dead and not dst.is_trigger))
                    pit.outstanding_ops += 1
            for dst in node.control_edges:
                local = dst.local
                if dst.is_merge:
                    pending[local] -= 2
                    count = pending[local]
                    dst_dead = dead[local] == dst.n_data_in
                    is_ready = count == 0 or (count == 1 and dst_dead)
                else:
                    dead[local] += 1
                    pending[local] -= 1
                    is_ready = pending[local] == 0
                    dst_dead = True
                if is_ready:
                    ready.append((dst, parent, pit, dst_dead and not dst.is_trigger))
                    pit.outstanding_ops += 1
            if node.fetch_slots is not None and parent.info is self.plan.root_frame:
                for slot, pos in node.fetch_slots:
                    self.results[pos] = DEAD
        frame.dead_exits = []
        if pit.children is not None:
            pit.children.pop(frame.info.name, None)
        try:
            self.live_frames.remove(frame)
        except ValueError:
            pass

    def _cleanup_frames(self, frame, it):
        it.outstanding_frames -= 1
        if self._cleanup_iterations(frame, it) and frame.parent is not None:
            parent, pit = frame.parent, frame.parent_iter
            self._delete_frame(frame)
            self._cleanup_frames(parent, pit)

    # -- diagnostics ---------------------------------------------------------------------------------
    def stuck_error(self, missing):
        """Why the run ended without computing every fetch: the nodes left waiting for inputs."""
        plan = self.plan
        waiting = []
        for frame in self.live_frames:
            for num, it in sorted(frame.iterations.items()):
                info = frame.info
                for node in info.nodes:
                    local = node.local
                    initial = info.pending_init[local]
                    count = it.pending[local]
                    got_some = count != initial or it.dead[local]
                    if node.is_merge:
                        if count & 1 and (got_some or it.dead[local]) and count != 0:
                            waiting.append((0, node, frame, num))
                    elif count > 0 and got_some:
                        waiting.append((1, node, frame, num))
        what = ", ".join(plan.fetches[i].name for i in missing) or \
            ", ".join(n.name for n in plan.target_nodes if not self.targets_done.get(n))
        if not waiting:
            return errors.InvalidArgumentError(
                None, None, f"the run finished without computing {what}: nothing it depends on became "
                            f"ready (a Merge whose inputs can never arrive?)")
        waiting.sort(key=lambda w: (w[0], w[1].index))
        _, node, frame, num = waiting[0]
        where = f" in iteration {num} of frame '{frame.info.name}'" if frame.info.name else ""
        if node.is_merge:
            msg = (f"Merge node '{node.name}' can never fire{where}: none of its inputs "
                   f"{[t.name for t in node.op.inputs]} produced a live value, so {what} cannot be computed")
        else:
            msg = (f"node '{node.name}' ({node.op.type}) never ran{where}: some of its inputs never "
                   f"arrived, so {what} cannot be computed")
        return errors.InvalidArgumentError(None, node.op, msg)
