"""The state ``gradients()`` keeps while differentiating v1 while loops (TensorFlow's
control_flow_state.py): for every forward loop a :class:`GradLoopState` with

- a forward counter loop (``f_count``) that counts the iterations, and a backward loop — a
  WhileContext named like the forward one, driven by ``b_count`` — that runs that many times;
- forward accumulators: a value of iteration i the backward loop needs is pushed on a stack
  (``f_acc``, ``StackPushV2``) in the forward loop and popped (``StackPopV2``) in the backward
  loop in reverse order; ``history_map`` remembers what was accumulated already;
- the bookkeeping of loop exits (all of a loop's exits must be reached before its gradient
  starts) and of the backward Merges of loop switches (``switch_map``).

Example (what ``gradients()`` does with it):
    >>> state = maybe_create_control_flow_state(between_op_list, between_ops, False)   # doctest: +SKIP
    >>> state.EnterGradWhileContext(op, before=False)                                  # doctest: +SKIP
"""

from gpugraph.framework import dtypes, ops
from gpugraph.framework.op_builder import apply_op, constant, constant_value
from gpugraph.ops import control_flow_context as cfc
from gpugraph.ops import control_flow_ops as cfo
from gpugraph.ops import stack_ops
from gpugraph.ops.while_context import WhileContext


class GradLoopState:
    """The gradient state of one forward while loop (TensorFlow's ``_GradLoopState``)."""

    def __init__(self, forward_ctxt, outer_grad_state):
        self._outer_grad_state = outer_grad_state
        self._forward_context = forward_ctxt
        self._forward_index = None
        self._forward_sync = None
        self._grad_context = None
        self._grad_index = None
        self._grad_sync = None
        self._history_map = {}
        self._switch_map = {}
        self._unused_exits = []
        self._deferred_exits = []
        self._forward_loop_exits = list(forward_ctxt.loop_exits)
        self._pending_exits_count = len(forward_ctxt.loop_exits)
        if outer_grad_state is not None:
            outer_forward_ctxt = outer_grad_state.forward_context
        else:
            outer_forward_ctxt = forward_ctxt.outer_context
        with forward_ctxt._graph.as_default():
            if outer_forward_ctxt is not None:
                outer_forward_ctxt.Enter()
            cnt, forward_index = forward_ctxt.AddForwardLoopCounter(outer_grad_state)
            if outer_forward_ctxt is not None:
                outer_forward_ctxt.Exit()
        self._forward_index = forward_index
        if outer_grad_state is not None:
            # The count is a value of the outer loop: accumulate it there, pop it in its gradient.
            outer_forward_ctxt.AddName(cnt.name)
            history_cnt = outer_grad_state.AddForwardAccumulator(cnt)
            outer_grad_ctxt = outer_grad_state.grad_context
            outer_grad_ctxt.Enter()
            self._grad_context = WhileContext(
                maximum_iterations=forward_ctxt.maximum_iterations,
                parallel_iterations=forward_ctxt.parallel_iterations, back_prop=forward_ctxt.back_prop,
                swap_memory=forward_ctxt.swap_memory, name=forward_ctxt.name, grad_state=self)
            real_cnt = outer_grad_state.AddBackpropAccumulatedValue(history_cnt, cnt)
            self._grad_index = self._grad_context.AddBackpropLoopCounter(real_cnt, outer_grad_state)
            outer_grad_ctxt.Exit()
        else:
            if outer_forward_ctxt is not None:
                outer_forward_ctxt.Enter()
            self._grad_context = WhileContext(
                maximum_iterations=forward_ctxt.maximum_iterations,
                parallel_iterations=forward_ctxt.parallel_iterations, back_prop=forward_ctxt.back_prop,
                swap_memory=forward_ctxt.swap_memory, name=forward_ctxt.name, grad_state=self)
            self._grad_index = self._grad_context.AddBackpropLoopCounter(cnt, outer_grad_state)
            if outer_forward_ctxt is not None:
                outer_forward_ctxt.Exit()

    outer_grad_state = property(lambda self: self._outer_grad_state)
    forward_context = property(lambda self: self._forward_context)
    forward_index = property(lambda self: self._forward_index)
    grad_context = property(lambda self: self._grad_context)
    grad_index = property(lambda self: self._grad_index)
    history_map = property(lambda self: self._history_map)
    switch_map = property(lambda self: self._switch_map)
    unused_exits = property(lambda self: self._unused_exits)
    deferred_exits = property(lambda self: self._deferred_exits)
    forward_loop_exits = property(lambda self: self._forward_loop_exits)

    @property
    def pending_exits_count(self):
        return self._pending_exits_count

    @pending_exits_count.setter
    def pending_exits_count(self, cnt):
        self._pending_exits_count = cnt

    @property
    def forward_sync(self):
        """A ControlTrigger the forward counter waits on (pushes inside conds hang off it)."""
        if self._forward_sync is None:
            g = self._forward_index.graph
            with g.control_dependencies(None):
                self._forward_sync = cfo.control_trigger(name="f_sync")
            cfc.set_op_context(self._forward_sync, self._forward_context)
            self._forward_index.op._add_control_input(self._forward_sync)
        return self._forward_sync

    @property
    def grad_sync(self):
        """A ControlTrigger the backward counter waits on (pops hang off it)."""
        if self._grad_sync is None:
            g = self._grad_index.graph
            with g.control_dependencies(None):
                self._grad_sync = cfo.control_trigger(name="b_sync")
            cfc.set_op_context(self._grad_sync, self._grad_context)
            self._grad_index.op._add_control_input(self._grad_sync)
            if self._grad_context.outer_context is not None:
                self._grad_context.outer_context.AddInnerOp(self._grad_sync)
        return self._grad_sync

    def AddForwardAccumulator(self, value, dead_branch=False):  # noqa: N802
        """Pushes ``value`` on a new stack in every forward iteration; returns the stack handle."""
        g = self._forward_index.graph
        with g.as_default():
            curr_ctxt = cfc.get_control_flow_context(g)
            with g.control_dependencies(None):
                if curr_ctxt is not None:
                    curr_ctxt.Enter()
                with g.colocate_with(value.op):
                    max_size = constant(-1, dtypes.int32)
                    acc = stack_ops.stack_v2(max_size=max_size, elem_type=value.dtype.base_dtype, name="f_acc")
                if curr_ctxt is not None:
                    curr_ctxt.Exit()
                enter_acc = self.forward_context.AddValue(acc)
                swap_enabled = self.forward_context.swap_memory
                value_ctxt = cfc.GetOutputContext(value.op)
                if value_ctxt is self.forward_context:
                    self.forward_context.Enter()
                    push = stack_ops.stack_push_v2(enter_acc, value, swap_memory=swap_enabled)
                    self.forward_context.Exit()
                    self.forward_index.op._add_control_input(push.op)
                else:
                    if not isinstance(value_ctxt, cfc.CondContext):
                        raise TypeError(f"value_ctxt is not a CondContext: {value_ctxt}")
                    if dead_branch:
                        value_ctxt.outer_context.Enter()
                        push = stack_ops.stack_push_v2(enter_acc, value, swap_memory=swap_enabled)
                        value_ctxt.outer_context.Exit()
                        cfc.set_op_context(push.op, value_ctxt)
                    else:
                        value_ctxt.Enter()
                        push = stack_ops.stack_push_v2(enter_acc, value, swap_memory=swap_enabled)
                        value_ctxt.Exit()
                    self.forward_sync._add_control_input(push.op)
                # Order the pushes of consecutive iterations: a push waits for the counter's add.
                add_op = self.forward_index.op.inputs[0].op
                push.op._add_control_input(add_op)
                return acc

    def AddBackpropAccumulatedValue(self, history_value, value, dead_branch=False):  # noqa: N802
        """Pops ``value``'s per-iteration history in the backward loop (guarded by the cond
        ``value`` was in, if any)."""
        history_ctxt = cfc.op_context(history_value.op)
        cond_ctxt = None
        value_ctxt = cfc.op_context(value.op)
        while value_ctxt is not None and value_ctxt is not history_ctxt:
            if isinstance(value_ctxt, cfc.CondContext):
                cond_ctxt = value_ctxt
                break
            value_ctxt = value_ctxt.outer_context
        g = ops.get_default_graph()
        with g.control_dependencies(None):
            self.grad_context.Enter()
            try:
                if cond_ctxt is not None:
                    grad_state = self
                    pred = None
                    while pred is None and grad_state is not None:
                        pred = grad_state.history_map.get(cond_ctxt.pred.name)
                        grad_state = grad_state.outer_grad_state
                    if pred is None:
                        pred = cond_ctxt.pred
                    branch = (1 - cond_ctxt.branch) if dead_branch else cond_ctxt.branch
                    history_value = cfo.switch_ref_or_tensor(history_value, pred)[branch]
                pop = stack_ops.stack_pop_v2(history_value, value.dtype.base_dtype)
                pop.set_shape(value.shape)
            finally:
                self.grad_context.Exit()
        if self.grad_context.parallel_iterations > 1:
            # All pops of an iteration finish before the next iteration's pops start.
            self.grad_sync._add_control_input(pop.op)
        return pop

    def GetRealValue(self, value):  # noqa: N802
        """The value of the forward ``value`` for the current backward iteration."""
        real_value = self._history_map.get(value.name)
        if real_value is None:
            cur_value = value
            cur_grad_state = self
            history_value = None
            while True:
                enter_op = cfc.GetLoopConstantEnter(cur_value)
                if enter_op is not None:
                    # A loop invariant: no need to accumulate; use the outer value.
                    cur_value = enter_op.inputs[0]
                    cur_grad_state = cur_grad_state.outer_grad_state
                    if cur_grad_state is None:
                        real_value = self._grad_context.AddValue(cur_value)
                        break
                elif cur_value.op.type == "Const":
                    real_value = constant(constant_value(cur_value), dtype=cur_value.dtype.base_dtype)
                    break
                else:
                    self._grad_context.Exit()
                    history_value = cur_grad_state.AddForwardAccumulator(cur_value)
                    self._grad_context.Enter()
                    break
            if real_value is None:
                real_value = cur_grad_state.AddBackpropAccumulatedValue(history_value, cur_value)
                if cur_grad_state is not self:
                    real_value = self._grad_context.AddValue(real_value)
            self._history_map[value.name] = real_value
        return real_value


class ControlFlowState:
    """Every forward loop's GradLoopState (TensorFlow's ``_ControlFlowState``)."""

    def __init__(self):
        self._map = {}  # forward WhileContext -> GradLoopState

    def GetGradState(self, op, before):  # noqa: N802
        if before and cfc.IsLoopExit(op):
            forward_ctxt = cfc.op_context(op).outer_context
            if forward_ctxt is not None:
                forward_ctxt = forward_ctxt.GetWhileContext()
        else:
            forward_ctxt = cfc.GetWhileContext(op)
        if forward_ctxt is not None:
            return self._map.get(forward_ctxt)
        return None

    def ProcessUnusedLoopExits(self, pending_count, to_ops_set):  # noqa: N802
        """Exits nothing backpropagates into (they get zero gradients once their loop's gradient
        starts); loop Enters with no pending gradient wait for one anyway."""
        loop_exits = []
        for grad_state in self._map.values():
            for y in grad_state.forward_loop_exits:
                if pending_count[y.op] == 0:
                    grad_state.pending_exits_count -= 1
                    if y.op not in to_ops_set:
                        grad_state.unused_exits.append(y)
                    if grad_state.pending_exits_count == 0:
                        loop_exits.extend(grad_state.unused_exits)
            for y in grad_state.forward_context.loop_enters:
                if pending_count[y.op] == 0:
                    pending_count[y.op] = 1
        return loop_exits

    def EnterGradWhileContext(self, op, before):  # noqa: N802
        grad_state = self.GetGradState(op, before)
        if grad_state is not None:
            grad_state.grad_context.Enter()

    def ExitGradWhileContext(self, op, before):  # noqa: N802
        grad_state = self.GetGradState(op, before)
        if grad_state is not None:
            grad_state.grad_context.Exit()

    def AddWhileContext(self, op, between_op_list, between_ops):  # noqa: N802
        forward_ctxt = cfc.GetWhileContext(op)
        if forward_ctxt is None and cfc.restore_contexts(op.graph):
            forward_ctxt = cfc.GetWhileContext(op)  # an imported loop: its context came from the collection
        if forward_ctxt is None:
            raise LookupError(f"'{op.name}' ({op.type}) is a loop Exit without a while context: gradients "
                              f"through an imported while loop need its while_context collection (import "
                              f"the MetaGraphDef, not just the GraphDef)")
        grad_state = self._map.get(forward_ctxt)
        if grad_state is None:
            outer_forward_ctxt = forward_ctxt.outer_context
            if outer_forward_ctxt is not None:
                outer_forward_ctxt = outer_forward_ctxt.GetWhileContext()
            outer_grad_state = self._map.get(outer_forward_ctxt) if outer_forward_ctxt is not None else None
            grad_state = GradLoopState(forward_ctxt, outer_grad_state)
            self._map[forward_ctxt] = grad_state
            for loop_exit in grad_state.forward_loop_exits:
                if loop_exit.op not in between_ops:
                    between_ops.add(loop_exit.op)
                    between_op_list.append(loop_exit.op)

    def ZerosLikeForExit(self, val):  # noqa: N802
        """Zeros for a loop Exit nothing backpropagated into."""
        from gpugraph.ops.array_ops import zeros, zeros_like
        val_shape = val.shape
        forward_ctxt = cfc.op_context(val.op)
        outer_forward_ctxt = forward_ctxt.outer_context
        if outer_forward_ctxt is not None:
            outer_forward_ctxt = outer_forward_ctxt.GetWhileContext()
        outer_grad_state = self._map.get(outer_forward_ctxt) if outer_forward_ctxt is not None else None
        if outer_grad_state is not None:
            if val_shape.is_fully_defined():
                outer_grad_state.grad_context.Enter()
                result = zeros(val_shape.as_list(), val.dtype.base_dtype)
                outer_grad_state.grad_context.Exit()
            else:
                forward_ctxt.outer_context.Enter()
                shape = apply_op("Shape", input=val, out_type=dtypes.int32)
                forward_ctxt.outer_context.Exit()
                history_shape = outer_grad_state.AddForwardAccumulator(shape)
                outer_grad_ctxt = outer_grad_state.grad_context
                outer_grad_ctxt.Enter()
                real_shape = outer_grad_state.AddBackpropAccumulatedValue(history_shape, shape)
                result = zeros(real_shape, val.dtype.base_dtype)
                outer_grad_ctxt.Exit()
        elif val_shape.is_fully_defined():
            result = zeros(val_shape.as_list(), val.dtype.base_dtype)
        else:
            result = zeros_like(val, optimize=False)
        return result

    def ZerosLikeV1WhileLoop(self, op, index):  # noqa: N802
        """Zeros for output ``index`` of ``op`` inside a loop being differentiated (None for a
        loop Switch: its gradient Merge gets its back edge later)."""
        from gpugraph.ops.array_ops import zeros
        from gpugraph.ops.control_flow_grad import zeros_like_outside_loop
        if cfc.IsLoopSwitch(op):
            return None
        dead_branch = cfc.IsSwitch(op)
        forward_ctxt = cfc.GetWhileContext(op)
        grad_state = self._map.get(forward_ctxt)
        if grad_state is None:
            return zeros_like_outside_loop(op, index)
        op_ctxt = cfc.op_context(op)
        val = op.outputs[index]
        shape = val.shape
        if shape.is_fully_defined():
            result = constant(0, shape=shape.as_list(), dtype=val.dtype.base_dtype)
            if dead_branch:
                pred = grad_state.history_map.get(op_ctxt.pred.name)
                result = cfo.switch_ref_or_tensor(result, pred)[1 - op_ctxt.branch]
        else:
            if dead_branch:
                pred = op_ctxt.pred
                op_ctxt.outer_context.Enter()
                val = cfo.switch_ref_or_tensor(op.inputs[0], pred)[1 - op_ctxt.branch]
                zeros_shape = apply_op("Shape", input=val, out_type=dtypes.int32)
                op_ctxt.outer_context.Exit()
                cfc.set_op_context(val.op, op_ctxt)
                cfc.set_op_context(zeros_shape.op, op_ctxt)
            else:
                op_ctxt.Enter()
                zeros_shape = apply_op("Shape", input=val, out_type=dtypes.int32)
                op_ctxt.Exit()
            grad_state.grad_context.Exit()
            history_zeros_shape = grad_state.AddForwardAccumulator(zeros_shape, dead_branch=dead_branch)
            grad_state.grad_context.Enter()
            shape = grad_state.AddBackpropAccumulatedValue(history_zeros_shape, zeros_shape, dead_branch)
            result = zeros(shape, val.dtype.base_dtype)
        return result

    def PostProcessing(self):  # noqa: N802
        """Gives every backward Merge of a loop switch that got no back edge a zero one."""
        from gpugraph.ops.array_ops import zeros
        for grad_state in self._map.values():
            for b_merge in grad_state.switch_map.values():
                if b_merge.op.inputs[0] is b_merge.op.inputs[1]:
                    dtype = b_merge.op.inputs[0].dtype.base_dtype
                    shape = b_merge.op.inputs[0].shape
                    if shape.is_fully_defined():
                        grad_state.grad_context.Enter()
                        grad_val = constant(0, dtype=dtype, shape=shape.as_list())
                        next_grad_val = cfo.next_iteration(grad_val)
                        grad_state.grad_context.Exit()
                    else:
                        outer_grad_ctxt = grad_state.grad_context.outer_context
                        if outer_grad_ctxt is not None:
                            outer_grad_ctxt.Enter()
                        enter_grad = b_merge.op.inputs[0].op.inputs[0]
                        grad_shape = apply_op("Shape", input=enter_grad, out_type=dtypes.int32)
                        grad_val = zeros(grad_shape)
                        if outer_grad_ctxt is not None:
                            outer_grad_ctxt.Exit()
                        grad_state.grad_context.Enter()
                        next_grad_val = cfo.next_iteration(grad_val)
                        grad_state.grad_context.Exit()
                    cfc.update_input(b_merge.op, 1, next_grad_val)


def maybe_create_control_flow_state(between_op_list, between_ops, colocate_gradients_with_ops):
    """A ControlFlowState when ``between_op_list`` (the ops between ys and xs) crosses loop Exits;
    adds every exit of those loops to the between ops. None without loops."""
    loop_state = None
    for op in between_op_list:  # exits added on the way are visited too, as in TF
        if cfc.IsLoopExit(op):
            if loop_state is None:
                loop_state = ControlFlowState()
            if colocate_gradients_with_ops:
                with op.graph.colocate_with(op):
                    loop_state.AddWhileContext(op, between_op_list, between_ops)
            else:
                loop_state.AddWhileContext(op, between_op_list, between_ops)
    return loop_state
