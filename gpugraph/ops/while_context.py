"""TensorFlow's ``WhileContext``: the context of a v1 ``while_loop`` (its frame is named after it,
``while/while_context``). Building the loop (``BuildLoop``) lays out Enter / Merge / LoopCond / Switch /
Identity / NextIteration / Exit as TensorFlow does; ops of the body that read outside tensors get
constant Enters; the gradient-loop pieces (``AddForwardLoopCounter``, ``AddBackpropLoopCounter``,
``AddBackpropAccumulator``) serve :mod:`gpugraph.ops.control_flow_state`.

Example:
    >>> ctx = WhileContext(parallel_iterations=10)                      # doctest: +SKIP
    >>> exits = ctx.BuildLoop(lambda i: i < 3, lambda i: i + 1, [i0], None, False)  # doctest: +SKIP
"""

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.ops import control_flow_ops as cfo
from gpugraph.ops.control_flow_context import ControlFlowContext
from gpugraph.ops.control_flow_util import (
    GetOutputContext, GetWhileContext, IsLoopConstantEnter, IsLoopEnter, IsLoopExit, _prepend,
    _record_op_seen_by_control_dependencies, _strip, flow_to_tensor_array, get_control_flow_context,
    is_tensor_array, op_context, set_op_context, tensor_array_to_flow, update_input, variable_value,
    variables_to_tensors)
from gpugraph.protos import attr_value_pb2, control_flow_pb2


class WhileContext(ControlFlowContext):
    """The context of a v1 ``while_loop``: its frame is named after the context
    (``while/while_context``); ``pivot`` is the LoopCond, ``pivot_for_pred`` the first Merge and
    ``pivot_for_body`` the first body Identity."""

    def __init__(self, maximum_iterations=None, parallel_iterations=10, back_prop=True,
                 swap_memory=False, name="while_context", grad_state=None, context_def=None,
                 import_scope=None):
        if context_def is not None:
            self._init_from_proto(context_def, import_scope=import_scope)
        else:
            ControlFlowContext.__init__(self)
            self._init_from_args(maximum_iterations, parallel_iterations, back_prop, swap_memory, name)
        self._grad_state = grad_state

    def _init_from_args(self, maximum_iterations, parallel_iterations, back_prop, swap_memory, name):
        if not isinstance(parallel_iterations, int) or isinstance(parallel_iterations, bool) \
                or parallel_iterations <= 0:
            raise ValueError(f"'parallel_iterations' must be a positive integer: {parallel_iterations}")
        self._name = ops.get_default_graph().unique_name(name)
        self._maximum_iterations = maximum_iterations
        self._parallel_iterations = parallel_iterations
        self._back_prop = back_prop
        self._swap_memory = swap_memory
        self._pivot_for_pred = None
        self._pivot_for_body = None
        self._pivot = None
        self._loop_exits = []
        self._loop_enters = []
        self._graph = ops.get_default_graph()

    def _init_from_proto(self, context_def, import_scope=None):
        g = ops.get_default_graph()
        self._name = _prepend(context_def.context_name, import_scope)
        if context_def.maximum_iterations_name:
            self._maximum_iterations = g.as_graph_element(
                _prepend(context_def.maximum_iterations_name, import_scope))
        else:
            self._maximum_iterations = None
        self._parallel_iterations = context_def.parallel_iterations
        self._back_prop = context_def.back_prop
        self._swap_memory = context_def.swap_memory
        self._pivot_for_pred = g.as_graph_element(_prepend(context_def.pivot_for_pred_name, import_scope))
        self._pivot_for_body = g.as_graph_element(_prepend(context_def.pivot_for_body_name, import_scope))
        self._pivot = g.as_graph_element(_prepend(context_def.pivot_name, import_scope))
        self._loop_exits = [g.as_graph_element(_prepend(n, import_scope)) for n in context_def.loop_exit_names]
        self._loop_enters = [g.as_graph_element(_prepend(n, import_scope))
                             for n in context_def.loop_enter_names]
        ControlFlowContext.__init__(self, values_def=context_def.values_def, import_scope=import_scope)
        if import_scope:
            # The frame is named after the context, which the scope renamed.
            for tensor_name in self._values:
                op = g.as_graph_element(tensor_name).op
                if IsLoopEnter(op) and op.get_attr("frame_name") != self.name.encode():
                    op._set_attr("frame_name", attr_value_pb2.AttrValue(s=self.name.encode()))
        self._graph = g

    maximum_iterations = property(lambda self: self._maximum_iterations)
    parallel_iterations = property(lambda self: self._parallel_iterations)
    back_prop = property(lambda self: self._back_prop)
    swap_memory = property(lambda self: self._swap_memory)
    pivot = property(lambda self: self._pivot, doc="The LoopCond tensor.")
    loop_enters = property(lambda self: self._loop_enters)
    loop_exits = property(lambda self: self._loop_exits)
    grad_state = property(lambda self: self._grad_state)

    def to_proto(self, export_scope=None):
        """This loop as a ``WhileContextDef`` (None when it is outside ``export_scope``)."""
        if export_scope is None or self.name.startswith(export_scope):
            d = control_flow_pb2.WhileContextDef()
            d.context_name = _strip(self.name, export_scope)
            d.parallel_iterations = self._parallel_iterations
            if self._maximum_iterations is not None:
                d.maximum_iterations_name = _strip(self._maximum_iterations.name, export_scope)
            d.back_prop = self._back_prop
            d.swap_memory = self._swap_memory
            d.pivot_for_pred_name = _strip(self._pivot_for_pred.name, export_scope)
            d.pivot_for_body_name = _strip(self._pivot_for_body.name, export_scope)
            d.pivot_name = _strip(self._pivot.name, export_scope)
            d.loop_exit_names.extend(_strip(t.name, export_scope) for t in self._loop_exits)
            d.loop_enter_names.extend(_strip(t.name, export_scope) for t in self._loop_enters)
            d.values_def.MergeFrom(self._to_values_def(export_scope=export_scope))
            for nested in self._nested_contexts:
                nested.to_control_flow_context_def(d.nested_contexts.add())
            return d
        return None

    def to_control_flow_context_def(self, context_def, export_scope=None):
        context_def.while_ctxt.CopyFrom(self.to_proto(export_scope=export_scope))

    def GetWhileContext(self):  # noqa: N802
        return self

    def GetControlPivot(self):  # noqa: N802
        if self._pivot_for_body is not None:
            return self._pivot_for_body
        return self._pivot_for_pred

    def AddValue(self, val):  # noqa: N802
        """The stand-in for ``val`` inside the loop (a constant Enter for an external value)."""
        result = val
        new_value = val.name not in self._values
        new_value &= op_context(val.op) is not self
        if new_value:
            self._values.add(val.name)
            grad_ctxt = get_control_flow_context(ops.get_default_graph())
            if grad_ctxt is not None:
                grad_ctxt = grad_ctxt.GetWhileContext()
                if grad_ctxt is not None and grad_ctxt.grad_state is not None:
                    forward_ctxt = GetWhileContext(val.op)
                    if IsLoopExit(val.op):
                        forward_ctxt = forward_ctxt.outer_context
                        if forward_ctxt is not None:
                            forward_ctxt = forward_ctxt.GetWhileContext()
                    if forward_ctxt is grad_ctxt.grad_state.forward_context:
                        real_val = grad_ctxt.grad_state.GetRealValue(val)
                        self._external_values[val.name] = real_val
                        return real_val
            if self._outer_context is not None:
                result = self._outer_context.AddValue(val)
            g = ops.get_default_graph()
            with g.control_dependencies(None):
                enter = cfo.enter(result, self._name, is_constant=True,
                                  parallel_iterations=self._parallel_iterations)
                g.prevent_feeding(enter)
                if self._outer_context is not None:
                    self._outer_context.AddInnerOp(enter.op)
            self._FixControlInputsAndContext([enter])
            self._values.add(enter.name)
            self._external_values[val.name] = enter
            result = enter
        else:
            actual_val = self._external_values.get(val.name)
            if actual_val is not None:
                result = actual_val
        return result

    def AddOp(self, op):  # noqa: N802
        if op.type in ("Shape", "Size", "Rank"):
            # In a gradient loop, a shape of a forward value is computed in the forward loop.
            grad_ctxt = get_control_flow_context(ops.get_default_graph())
            if grad_ctxt is not None:
                grad_ctxt = grad_ctxt.GetWhileContext()
                if grad_ctxt is not None and grad_ctxt.grad_state is not None:
                    op_input_forward_ctxt = GetWhileContext(op.inputs[0].op)
                    if op_input_forward_ctxt is grad_ctxt.grad_state.forward_context:
                        op_input_ctxt = op_context(op.inputs[0].op)
                        set_op_context(op, op_input_ctxt)
                        op_input_ctxt._AddOpInternal(op)
                        return
        self._AddOpInternal(op)

    def _AddOpInternal(self, op):  # noqa: N802
        if not op._inputs:
            control_inputs, external_inputs = self._RemoveExternalControlEdges(op)
            if not control_inputs:
                op._add_control_input(self.GetControlPivot().op)
            for x in op.outputs:
                self._values.add(x.name)
        else:
            for index in range(len(op._inputs)):
                x = op._inputs[index]
                real_x = self.AddValue(x)
                if real_x is not x:
                    update_input(op, index, real_x)
            _, external_inputs = self._RemoveExternalControlEdges(op)
            self._MaybeAddControlDependency(op)
            for x in op.outputs:
                self._values.add(x.name)
        if external_inputs:
            # Control inputs from outside the loop come in as data, through Identity + Enter.
            g = ops.get_default_graph()
            from gpugraph.framework.op_builder import apply_op
            with g.control_dependencies(None):
                self.Enter()
                try:
                    external_inputs = [apply_op("Identity", input=x.outputs[0]).op
                                       for x in external_inputs if x.outputs]
                finally:
                    self.Exit()
            op._add_control_inputs(external_inputs)
        if self._outer_context is not None or not IsLoopExit(op):
            op.graph.prevent_fetching(op)
            for x in op.outputs:
                op.graph.prevent_feeding(x)
        if self._outer_context is not None:
            self._outer_context.AddInnerOp(op)

    # -- the pieces of a gradient loop (TensorFlow's WhileContext methods of the same names) -------
    def AddForwardLoopCounter(self, outer_grad_state):  # noqa: N802
        """Adds ``n = 0; while pivot: n += 1`` to this (forward) loop; returns (the count after the
        loop, the counter's NextIteration)."""
        from gpugraph.framework.op_builder import constant
        from gpugraph.ops import math_ops
        n = constant(0, name="f_count")
        if outer_grad_state is not None:
            # The pushes of the i-th run of an inner loop come before those of the (i+1)-th.
            n.op._add_control_input(outer_grad_state.forward_index.op.inputs[0].op)
        self.Enter()
        try:
            self.AddName(n.name)
            enter_n = cfo.enter(n, self._name, is_constant=False, parallel_iterations=self._parallel_iterations,
                                name="f_count")
            self.loop_enters.append(enter_n)
            merge_n = cfo.merge([enter_n, enter_n])[0]
            switch_n = cfo.switch(merge_n, self._pivot)
            index = math_ops.add(switch_n[1], 1)
            next_n = cfo.next_iteration(index)
            update_input(merge_n.op, 1, next_n)
            total_iterations = cfo.exit(switch_n[0], name="f_count")
            self.loop_exits.append(total_iterations)
            self.ExitResult([total_iterations])
        finally:
            self.Exit()
        return total_iterations, next_n

    def AddBackpropLoopCounter(self, count, outer_grad_state):  # noqa: N802
        """Makes this (gradient) loop run ``count`` times: ``while n >= 1: n -= 1``."""
        from gpugraph.framework.op_builder import constant
        from gpugraph.ops import math_ops
        one = constant(1, name="b_count")
        self.Enter()
        try:
            self.AddName(count.name)
            enter_count = cfo.enter(count, self._name, is_constant=False,
                                    parallel_iterations=self._parallel_iterations, name="b_count")
            self.loop_enters.append(enter_count)
            merge_count = cfo.merge([enter_count, enter_count])[0]
            self._pivot_for_pred = merge_count
            pred = math_ops.greater_equal(merge_count, one)
            self._pivot = cfo.loop_cond(pred, name="b_count")
            switch_count = cfo.switch(merge_count, self._pivot)
            index = math_ops.subtract(switch_count[1], one)
            self._pivot_for_body = index
            next_count = cfo.next_iteration(index)
            update_input(merge_count.op, 1, next_count)
            final_zero = cfo.exit(switch_count[0], name="b_count")
            self.loop_exits.append(final_zero)
            if outer_grad_state is not None:
                # The pops of the i-th run of an inner loop come before those of the (i+1)-th.
                outer_grad_state.grad_sync._add_control_input(final_zero.op)
            self.ExitResult([final_zero])
        finally:
            self.Exit()
        return next_count

    def AddBackpropAccumulator(self, op, grad):  # noqa: N802
        """Sums ``grad`` over the iterations of this gradient loop (the gradient of a loop invariant,
        whose Enter is ``op``): ``acc = 0; while pivot: acc += grad``. Called inside this context;
        leaves it entered."""
        from gpugraph.framework.op_builder import apply_op, constant
        from gpugraph.ops import math_ops
        from gpugraph.ops.array_ops import zeros
        self.Exit()
        shape = grad.shape
        if shape.is_fully_defined():
            if self.outer_context is not None:
                self.outer_context.Enter()
            acc = constant(0, grad.dtype.base_dtype, shape=shape.as_list(), name="b_acc")
            if self.outer_context is not None:
                self.outer_context.Exit()
        else:
            value = op.inputs[0]
            if isinstance(self.outer_context, WhileContext) and self.outer_context.grad_state is not None:
                forward_ctxt = self.grad_state.forward_context
                forward_ctxt.outer_context.Enter()
                zeros_shape = apply_op("Shape", input=value, out_type=dtypes.int32)
                forward_ctxt.outer_context.Exit()
                outer_grad_state = self.grad_state.outer_grad_state
                history_zeros_shape = outer_grad_state.AddForwardAccumulator(zeros_shape)
                self.outer_context.Enter()
                real_shape = outer_grad_state.AddBackpropAccumulatedValue(history_zeros_shape, zeros_shape)
                acc = zeros(real_shape, grad.dtype.base_dtype)
                self.outer_context.Exit()
            else:
                if self.outer_context is not None:
                    self.outer_context.Enter()
                zeros_shape = apply_op("Shape", input=value, out_type=dtypes.int32)
                acc = zeros(zeros_shape, grad.dtype.base_dtype)
                if self.outer_context is not None:
                    self.outer_context.Exit()
        self.Enter()
        self.AddName(acc.name)
        enter_acc = cfo.enter(acc, self._name, is_constant=False, parallel_iterations=self._parallel_iterations,
                              name="b_acc")
        self.loop_enters.append(enter_acc)
        merge_acc = cfo.merge([enter_acc, enter_acc], name="b_acc")[0]
        switch_acc_false, switch_acc_true = cfo.switch(merge_acc, self._pivot)
        add_acc = math_ops.add(switch_acc_true, grad)
        next_acc = cfo.next_iteration(add_acc)
        update_input(merge_acc.op, 1, next_acc)
        result_acc = cfo.exit(switch_acc_false, name="b_acc")
        self.loop_exits.append(result_acc)
        self.ExitResult([result_acc])
        return result_acc

    def _MaybeAddControlDependency(self, op):  # noqa: N802
        """Anchors an op that only reads loop invariants to the pivot, so it runs per iteration."""
        if op._control_inputs:
            return
        if all(IsLoopConstantEnter(x.op) for x in op._inputs):
            op._add_control_input(self.GetControlPivot().op)

    def _FixControlInputsAndContext(self, enters):  # noqa: N802
        graph = ops.get_default_graph()
        for x in enters:
            inp_op = x.op._inputs[0].op
            control_inputs = graph._current_control_dependencies([inp_op])
            outer_control_inputs = []
            for op in control_inputs:
                keep = True
                op_ctxt = GetOutputContext(op)
                outer_ctxt = self.outer_context
                outer_while = outer_ctxt.GetWhileContext() if outer_ctxt is not None else None
                while outer_ctxt is not op_ctxt:
                    if outer_ctxt is None or outer_ctxt is outer_while:
                        keep = False
                        break
                    outer_ctxt = outer_ctxt.outer_context
                if keep:
                    outer_control_inputs.append(op)
            set_op_context(x.op, self)
            x.op._add_control_inputs(outer_control_inputs)
            _record_op_seen_by_control_dependencies(graph, x.op)

    def _InitializeValues(self, values):  # noqa: N802
        self._values = set()
        for x in values:
            if not isinstance(x, ops.Tensor):
                raise TypeError(f"'values' must be a list of Tensors. Received: {type(x)}.")
            self._values.add(x.name)

    def _BuildLoop(self, pred, body, flat_orig_loop_vars, flat_loop_vars, loop_vars_signature,  # noqa: N802
                   flat_shape_invariants):
        from gpugraph.framework.op_builder import convert_to_tensor
        from gpugraph.ops import nest
        g = ops.get_default_graph()
        self._InitializeValues(flat_loop_vars)
        if self._outer_context is not None:
            real_vars = [self._outer_context.AddValue(x) for x in flat_loop_vars]
        else:
            real_vars = flat_loop_vars
        enter_vars = []
        with g.control_dependencies(None):
            for real_var, shape_invariant in zip(real_vars, flat_shape_invariants):
                enter_var = cfo.enter(real_var, self._name, is_constant=False,
                                      parallel_iterations=self._parallel_iterations, use_input_shape=False)
                if _shape_less_than_or_equal(real_var.shape, shape_invariant):
                    enter_var.set_shape(shape_invariant)
                else:
                    raise ValueError(
                        f"The shape invariant specified for {real_var.name} is not compatible with the "
                        f"initial shape of the loop variable. It enters the loop with shape "
                        f"{real_var.shape}, but the specified shape invariant is {shape_invariant}.")
                g.prevent_feeding(enter_var)
                if self._outer_context is not None:
                    self._outer_context.AddInnerOp(enter_var.op)
                enter_vars.append(enter_var)
        outer_context = self._outer_context
        control_pivot = None
        while outer_context is not None and control_pivot is None:
            control_pivot = outer_context.GetControlPivot()
            outer_context = outer_context._outer_context
        if control_pivot is not None:
            for var in enter_vars:
                if IsLoopConstantEnter(var.op._inputs[0].op):
                    var.op._add_control_input(control_pivot.op)
        self._FixControlInputsAndContext(enter_vars)
        self._InitializeValues(enter_vars)
        self._loop_enters = enter_vars

        merge_vars = [cfo.merge([x, x])[0] for x in enter_vars]
        self._pivot_for_pred = merge_vars[0]
        merge_vars_with_tas = [flow_to_tensor_array(o, m) for o, m in zip(flat_orig_loop_vars, merge_vars)]
        packed_vars = nest.pack_sequence_as(loop_vars_signature, merge_vars_with_tas)
        c = convert_to_tensor(pred(*packed_vars))
        if c.dtype.base_dtype != dtypes.bool:
            raise TypeError(f"while_loop's cond must return a boolean tensor, got {c.name} of dtype "
                            f"{c.dtype.name}")
        self._pivot = cfo.loop_cond(c, name="LoopCond")
        switch_vars = [cfo.switch_ref_or_tensor(x, self._pivot) for x in merge_vars]

        vars_for_body = [cfo.identity_ref_or_tensor(x[1]) for x in switch_vars]
        self._pivot_for_body = vars_for_body[0]
        vars_for_body_with_tas = [flow_to_tensor_array(o, v) for o, v in zip(flat_orig_loop_vars, vars_for_body)]
        packed_vars_for_body = nest.pack_sequence_as(loop_vars_signature, vars_for_body_with_tas)
        body_result = body(*packed_vars_for_body)
        if not nest.is_nested(body_result):
            body_result = [body_result]
        body_result = variables_to_tensors(body_result)
        nest.assert_same_structure(list(packed_vars_for_body), list(body_result))
        original_body_result = body_result
        result = [tensor_array_to_flow(x) for x in nest.flatten(body_result)]
        result = [x if isinstance(x, ops.Tensor) else convert_to_tensor(x) for x in result]
        if len(merge_vars) != len(result):
            raise ValueError(f"Number of inputs and outputs of 'body' must match 'loop_vars'. Got "
                             f"{len(merge_vars)} for the number of inputs/outputs, and {len(result)} for "
                             f"'loop_vars'.")
        for m, v in zip(merge_vars, result):
            add_next_and_back_edge(m, v)
        exit_vars = [cfo.exit(x[0]) for x in switch_vars]
        self._loop_exits = exit_vars
        self.ExitResult(exit_vars)
        return original_body_result, exit_vars

    def BuildLoop(self, pred, body, loop_vars, shape_invariants, return_same_structure):  # noqa: N802
        """Adds the loop; returns the Exit tensors in ``loop_vars``' structure."""
        from gpugraph.framework.op_builder import convert_to_tensor
        from gpugraph.ops import nest
        flat_orig_loop_vars = nest.flatten(loop_vars)
        loop_vars = nest.map_structure(
            lambda v: v if is_tensor_array(v) else convert_to_tensor(variable_value(v)), loop_vars)
        flat_loop_vars = [tensor_array_to_flow(v) for v in nest.flatten(loop_vars)]
        if shape_invariants is not None:
            nest.assert_same_structure(loop_vars, shape_invariants, check_types=False)
            flat_shape_invariants = [tensor_shape.as_shape(s) for s in _flatten_up_to(loop_vars, shape_invariants)]
        else:
            flat_shape_invariants = [v.shape for v in flat_loop_vars]
        try:
            self.Enter()
            original_body_result, exit_vars = self._BuildLoop(
                pred, body, flat_orig_loop_vars, flat_loop_vars, loop_vars, flat_shape_invariants)
        finally:
            self.Exit()
        flat_result = nest.flatten(original_body_result)
        exit_vars_with_tas = [flow_to_tensor_array(o, e) for o, e in zip(flat_result, exit_vars)]
        packed_exit_vars = nest.pack_sequence_as(original_body_result, exit_vars_with_tas)
        if return_same_structure:
            return packed_exit_vars
        return packed_exit_vars[0] if len(exit_vars) == 1 else packed_exit_vars

    def IsWhileContext(self):  # noqa: N802
        return True


# -- loop helpers -------------------------------------------------------------------------------------
def _flatten_up_to(structure, invariants):
    """Shape invariants flattened like ``structure`` (a TensorShape is a leaf, not a sequence)."""
    from gpugraph.ops import nest
    if not nest.is_nested(structure):
        return [invariants]
    if isinstance(invariants, tensor_shape.TensorShape):
        raise ValueError(f"shape_invariants {invariants} does not match the structure of the loop "
                         f"variables {structure}")
    children_s = [structure[k] for k in sorted(structure)] if isinstance(structure, dict) else list(structure)
    children_i = [invariants[k] for k in sorted(invariants)] if isinstance(invariants, dict) else list(invariants)
    out = []
    for s, i in zip(children_s, children_i):
        out.extend(_flatten_up_to(s, i))
    return out


def _shape_less_than_or_equal(shape1, shape2):
    """TF's _ShapeLessThanOrEqual: ``shape1`` is at least as specific as ``shape2``."""
    if shape2.dims is None:
        return True
    if shape1.ndims != shape2.ndims:
        return False
    for d1, d2 in zip(shape1.dims, shape2.dims):
        if d2.value is not None and d1.value != d2.value:
            return False
    return True


def _enforce_shape_invariant(merge_var, next_var):
    m_shape, n_shape = merge_var.shape, next_var.shape
    if not _shape_less_than_or_equal(n_shape, m_shape):
        enter = merge_var.op._inputs[0].op
        input_t = enter._inputs[0]
        raise ValueError(
            f"Input tensor '{input_t.name}' enters the loop with shape {input_t.shape}, but has shape "
            f"{n_shape} after one iteration. To allow the shape to vary across iterations, use the "
            f"`shape_invariants` argument of tf.while_loop to specify a less-specific shape.")


def add_next_and_back_edge(m, v, enforce_shape_invariant=True):
    """NextIteration(v) becomes the Merge ``m``'s second input: the loop's back edge."""
    from gpugraph.framework.op_builder import convert_to_tensor
    v = convert_to_tensor(v)
    if v.dtype.base_dtype != m.dtype.base_dtype:
        raise TypeError(f"the body of the while loop returned {v.name} of dtype {v.dtype.name} for the "
                        f"loop variable {m.op._inputs[0].op._inputs[0].name} of dtype {m.dtype.name}")
    v = cfo.next_iteration(v)
    if enforce_shape_invariant:
        _enforce_shape_invariant(m, v)
    update_input(m.op, 1, v)
    return v
