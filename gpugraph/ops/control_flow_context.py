"""Control-flow contexts (TensorFlow's ``CondContext`` / ``WhileContext``): while a branch of a
``cond`` or the body of a ``while_loop`` is built, every new op is added to the context, which
rewires inputs from outside it — through a ``Switch`` guarded by the predicate (cond) or a
constant ``Enter`` into the loop frame (while) — and anchors input-less ops (constants) to the
context's pivot with a control edge. This is what makes the graph TensorFlow's v1 layout.

How new ops reach the context: see :mod:`gpugraph.ops.control_flow_util`. WhileContext lives in
:mod:`gpugraph.ops.while_context`.

Contexts serialize to ``CondContextDef`` / ``WhileContextDef`` (``to_proto``) for the
``cond_context`` / ``while_context`` collections and can be rebuilt from them (``from_proto``).

Example:
    >>> ctx = get_control_flow_context(tf.get_default_graph())    # None outside cond / while
"""

from gpugraph.framework import ops
from gpugraph.ops import control_flow_ops as cfo
from gpugraph.ops.control_flow_util import (  # noqa: F401  (re-exported: the context API in one place)
    ContextHook, GetContainingWhileContext, GetLoopConstantEnter, GetOutputContext, GetWhileContext,
    IsCondSwitch, IsContainingContext, IsLoopConstantEnter, IsLoopEnter, IsLoopExit, IsLoopSwitch, IsMerge,
    IsSwitch, OpInContext, _prepend, _record_op_seen_by_control_dependencies, _remove_hook, _strip,
    flow_to_tensor_array, get_control_flow_context, op_context, remove_all_control_inputs, set_op_context,
    tensor_array_to_flow, update_input, variable_value, variables_to_tensors)
from gpugraph.protos import control_flow_pb2


# -- contexts -----------------------------------------------------------------------------------------
class ControlFlowContext:
    """The base of CondContext and WhileContext (TensorFlow's class of the same name)."""

    def __init__(self, values_def=None, import_scope=None):
        self._nested_contexts = []
        self._outer_context = get_control_flow_context(ops.get_default_graph())
        if self._outer_context is not None:
            self._outer_context._nested_contexts.append(self)
        self._context_stack = []
        self._hooks = []
        if values_def is not None:
            self._init_values_from_proto(values_def, import_scope=import_scope)
        else:
            self._values = set()            # names of tensors seen in this context
            self._external_values = {}      # external tensor name -> its stand-in inside

    def _init_values_from_proto(self, values_def, import_scope=None):
        self._values = {_prepend(v, import_scope) for v in values_def.values}
        g = ops.get_default_graph()
        self._external_values = {}
        for k, v in values_def.external_values.items():
            self._external_values[_prepend(k, import_scope)] = g.as_graph_element(_prepend(v, import_scope))
        op_names = {v.split(":")[0] for v in self._values - set(self._external_values)}
        for name in op_names:
            set_op_context(g.as_graph_element(name), self)

    @classmethod
    def from_proto(cls, context_def, import_scope=None):
        """A context of this class rebuilt from ``context_def`` (a CondContextDef or
        WhileContextDef) over the graph's (imported) ops, its nested contexts inside it."""
        ret = cls(context_def=context_def, import_scope=import_scope)
        ret.Enter()
        try:
            for nested_def in context_def.nested_contexts:
                from_control_flow_context_def(nested_def, import_scope=import_scope)
        finally:
            ret.Exit()
        return ret

    name = property(lambda self: self._name)
    outer_context = property(lambda self: self._outer_context, doc="The context containing this one.")

    @property
    def grad_state(self):
        raise NotImplementedError("Abstract method")

    @property
    def back_prop(self):
        raise NotImplementedError("Abstract method")

    def _to_values_def(self, export_scope=None):
        values_def = control_flow_pb2.ValuesDef()
        values_def.values.extend(_strip(v, export_scope) for v in sorted(self._values))
        for k, v in self._external_values.items():
            values_def.external_values[_strip(k, export_scope)] = _strip(v.name, export_scope)
        return values_def

    def AddName(self, name):  # noqa: N802
        self._values.add(name)

    def Enter(self):  # noqa: N802
        """Makes this the context new ops go into."""
        graph = ops.get_default_graph()
        self._context_stack.append(get_control_flow_context(graph))
        hook = ContextHook(graph, self)
        self._hooks.append(hook)
        # Hooks stay at the bottom of the stack, in entering order: a ``with control_dependencies``
        # block that enters or exits contexts inside (gradient code does) still pops its own
        # controller, which is always above every hook.
        stack = graph._control_dependencies_stack
        i = 0
        while i < len(stack) and isinstance(stack[i], ContextHook):
            i += 1
        stack.insert(i, hook)

    def Exit(self):  # noqa: N802
        graph = ops.get_default_graph()
        self._context_stack.pop()
        _remove_hook(graph._control_dependencies_stack, self._hooks.pop())

    def ExitResult(self, result):  # noqa: N802
        """Makes ``result`` (a list of tensors) known to the outer context."""
        if self._outer_context is not None:
            from gpugraph.ops import nest
            for x in nest.flatten(result):
                self._outer_context.AddName(x.name)

    def GetWhileContext(self):  # noqa: N802
        if self._outer_context is not None:
            return self._outer_context.GetWhileContext()
        return None

    def _RemoveExternalControlEdges(self, op):  # noqa: N802
        """Drops control inputs of ``op`` from outside the enclosing while loop."""
        while_ctxt = self.GetWhileContext()
        if while_ctxt is None:
            internal, external = list(op._control_inputs), []
        else:
            internal, external = [], []
            for x in op._control_inputs:
                ctxt = GetOutputContext(x)
                if ctxt is not None and ctxt.GetWhileContext() is while_ctxt:
                    internal.append(x)
                else:
                    external.append(x)
        if len(internal) != len(op._control_inputs):
            remove_all_control_inputs(op)
            op._add_control_inputs(internal)
        return internal, external

    def AddInnerOp(self, op):  # noqa: N802
        if self._outer_context is not None:
            self._outer_context.AddInnerOp(op)

    def GetControlPivot(self):  # noqa: N802
        return None

    def IsWhileContext(self):  # noqa: N802
        return False

    def IsCondContext(self):  # noqa: N802
        return False

    def IsXLAContext(self):  # noqa: N802
        return False

    def __str__(self):
        return self.name

    def __bytes__(self):
        # Lets a collection that mixes imported (serialized) contexts and built ones export.
        return self.to_proto().SerializeToString(deterministic=True)


class CondContext(ControlFlowContext):
    """The context of one branch of a v1 ``cond``: ``pred`` selects it, ``pivot`` is the
    ``switch_t`` / ``switch_f`` Identity that anchors the branch's ops, ``branch`` is 1 or 0."""

    def __init__(self, pred=None, pivot=None, branch=None, name="cond_text", context_def=None,
                 import_scope=None):
        self._name = ops.get_default_graph().unique_name(name)
        if context_def is not None:
            self._init_from_proto(context_def, import_scope=import_scope)
        else:
            ControlFlowContext.__init__(self)
            self._pred = pred
            self._pivot = pivot
            self._branch = branch
            self._values.add(pred.name)
            self._external_values[pred.name] = pred
            self._values.add(pivot.name)
            set_op_context(pivot.op, self)

    def _init_from_proto(self, context_def, import_scope=None):
        g = ops.get_default_graph()
        self._name = _prepend(context_def.context_name, import_scope)
        self._pred = g.as_graph_element(_prepend(context_def.pred_name, import_scope))
        self._pivot = g.as_graph_element(_prepend(context_def.pivot_name, import_scope))
        self._branch = context_def.branch
        ControlFlowContext.__init__(self, values_def=context_def.values_def, import_scope=import_scope)

    pred = property(lambda self: self._pred)
    pivot = property(lambda self: self._pivot)
    branch = property(lambda self: self._branch)

    @property
    def grad_state(self):
        while_ctxt = self.GetWhileContext()
        return while_ctxt.grad_state if while_ctxt is not None else None

    @property
    def back_prop(self):
        while_ctxt = self.GetWhileContext()
        return while_ctxt.back_prop if while_ctxt is not None else False

    def GetControlPivot(self):  # noqa: N802
        return self._pivot

    def to_proto(self, export_scope=None):
        """This context as a ``CondContextDef`` (None when it is outside ``export_scope``)."""
        if export_scope is None or self.name.startswith(export_scope):
            context_def = control_flow_pb2.CondContextDef()
            context_def.context_name = _strip(self.name, export_scope)
            context_def.pred_name = _strip(self._pred.name, export_scope)
            context_def.pivot_name = _strip(self._pivot.name, export_scope)
            context_def.branch = self._branch
            context_def.values_def.MergeFrom(self._to_values_def(export_scope))
            for nested in self._nested_contexts:
                nested.to_control_flow_context_def(context_def.nested_contexts.add())
            return context_def
        return None

    def to_control_flow_context_def(self, context_def, export_scope=None):
        context_def.cond_ctxt.CopyFrom(self.to_proto(export_scope=export_scope))

    def AddValue(self, val):  # noqa: N802
        """The stand-in for ``val`` inside this branch (a Switch output for an external value)."""
        if val.name in self._values:
            result = self._external_values.get(val.name)
            return val if result is None else result
        result = val
        self._values.add(val.name)
        if self._outer_context is not None:
            result = self._outer_context.AddValue(val)
            self._values.add(result.name)
            self._external_values[result.name] = result
        g = ops.get_default_graph()
        with g.control_dependencies(None):
            result = cfo.switch_ref_or_tensor(result, self._pred)[self._branch]
            if self._outer_context is not None:
                self._outer_context.AddInnerOp(result.op)
        g.prevent_fetching(result.op)
        set_op_context(result.op, self)
        ctxt = self
        while ctxt is not None:
            ctxt._values.add(result.name)
            ctxt = ctxt._outer_context
        self._external_values[val.name] = result
        return result

    def AddOp(self, op):  # noqa: N802
        self._AddOpInternal(op)

    def _AddOpInternal(self, op):  # noqa: N802
        if not op._inputs:
            self._RemoveExternalControlEdges(op)
            if not any(OpInContext(c, self) for c in op._control_inputs):
                op._add_control_input(self._pivot.op)
        else:
            for index in range(len(op._inputs)):
                x = op._inputs[index]
                if op.type in cfo.MERGE_OPS and x.op.type in cfo.NEXT_ITERATION_OPS:
                    real_x = x  # a while loop being built inside this branch
                else:
                    real_x = self.AddValue(x)
                if real_x is not x:
                    update_input(op, index, real_x)
            self._RemoveExternalControlEdges(op)
        output_names = [x.name for x in op.outputs]
        ctxt = self
        while ctxt is not None:
            ctxt._values.update(output_names)
            ctxt = ctxt._outer_context
        if self._outer_context is not None or not IsLoopExit(op):
            op.graph.prevent_fetching(op)
        if self._outer_context is not None:
            self._outer_context.AddInnerOp(op)

    def _ProcessOutputTensor(self, val):  # noqa: N802
        real_val = val
        if val.name not in self._values:
            # A branch that returns an outside tensor (``lambda: x``): switch it in.
            self._values.add(val.name)
            if self._outer_context is not None:
                real_val = self._outer_context.AddValue(val)
                self._values.add(real_val.name)
                self._external_values[real_val.name] = real_val
            real_val = cfo.switch_ref_or_tensor(real_val, self._pred)[self._branch]
            self._external_values[val.name] = real_val
        else:
            external_val = self._external_values.get(val.name)
            if external_val is not None:
                real_val = external_val
        return real_val

    def _BuildCondTensor(self, v):  # noqa: N802
        if isinstance(v, ops.Operation):
            from gpugraph.ops.control_flow_v1 import with_dependencies
            return with_dependencies([v], self._pivot)
        from gpugraph.framework.op_builder import convert_to_tensor
        v = tensor_array_to_flow(v)
        return self._ProcessOutputTensor(convert_to_tensor(v))

    def BuildCondBranch(self, fn):  # noqa: N802
        """Adds the subgraph ``fn()`` builds; returns ``(its result, the branch's output tensors)``."""
        from gpugraph.ops import nest
        original_result = fn()
        if original_result is None:
            return None, None
        original_result = variables_to_tensors(original_result)
        result = nest.map_structure(self._BuildCondTensor, original_result)
        if not isinstance(result, (list, tuple)):
            result = [result]
        return original_result, result

    def IsCondContext(self):  # noqa: N802
        return True


def from_control_flow_context_def(context_def, import_scope=None):
    """A CondContext or WhileContext from a ``ControlFlowContextDef``."""
    from gpugraph.ops.while_context import WhileContext
    if context_def.HasField("cond_ctxt"):
        return CondContext.from_proto(context_def.cond_ctxt, import_scope=import_scope)
    if context_def.HasField("while_ctxt"):
        return WhileContext.from_proto(context_def.while_ctxt, import_scope=import_scope)
    raise NotImplementedError(f"Unknown ControlFlowContextDef field: {context_def.WhichOneof('ctxt')}")


def restore_contexts(graph):
    """Rebuilds the contexts of an imported graph from its ``while_context`` / ``cond_context``
    collections (kept there as serialized protos), so its ops know their contexts again — what
    gradients through imported loops need. Idempotent; returns the number of contexts rebuilt."""
    from gpugraph.ops.while_context import WhileContext
    done = getattr(graph, "_gg_restored_contexts", None)
    if done is None:
        done = graph._gg_restored_contexts = set()
    count = 0
    with graph.as_default():
        for key, proto_type, cls in [(ops.GraphKeys.WHILE_CONTEXT, control_flow_pb2.WhileContextDef, WhileContext),
                                     (ops.GraphKeys.COND_CONTEXT, control_flow_pb2.CondContextDef, CondContext)]:
            for item in graph.get_collection(key):
                if not isinstance(item, (bytes, str)) or (key, item) in done:
                    continue
                raw = item.encode() if isinstance(item, str) else item
                cls.from_proto(proto_type.FromString(raw))
                done.add((key, item))
                count += 1
    return count


# -- collections: export as TensorFlow does ------------------------------------------------------
def _context_to_proto(proto_type, key):
    def to_proto(item, export_scope=None):
        if isinstance(item, (bytes, str)):  # an imported context kept serialized
            from gpugraph.framework import meta_graph
            raw = item.encode() if isinstance(item, str) else item
            raw = meta_graph._rescope_raw_proto(key, raw, export_scope=export_scope)
            return None if raw is None else proto_type.FromString(raw)
        return item.to_proto(export_scope=export_scope)
    return to_proto


def _register_collections():
    from gpugraph.framework import meta_graph
    # Imported graphs keep their contexts as serialized protos (meta_graph's documented behaviour);
    # contexts built here serialize through to_proto. ``CondContext.from_proto`` /
    # ``WhileContext.from_proto`` rebuild context objects on demand.
    meta_graph.register_proto_function(ops.GraphKeys.COND_CONTEXT, control_flow_pb2.CondContextDef,
                                       _context_to_proto(control_flow_pb2.CondContextDef,
                                                         ops.GraphKeys.COND_CONTEXT), None)
    meta_graph.register_proto_function(ops.GraphKeys.WHILE_CONTEXT, control_flow_pb2.WhileContextDef,
                                       _context_to_proto(control_flow_pb2.WhileContextDef,
                                                         ops.GraphKeys.WHILE_CONTEXT), None)


_register_collections()
