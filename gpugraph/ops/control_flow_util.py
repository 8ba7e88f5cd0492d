"""Graph plumbing for v1 control flow (TensorFlow's control_flow_util): which context new ops go
into, the graph surgery the builders need, and predicates on control-flow ops.

How the graph tells a context about new ops: ``Graph`` informs every controller on its
control-dependencies stack of each op it creates (``controller.seen_ops.add(op)``). Entering a
context puts a :class:`ContextHook` on that stack (below the ordinary controllers, so their
``with`` blocks still pop their own entries); the innermost hook hands the op to its context's
``AddOp``. ``control_dependencies(None)`` replaces the stack and so also clears the context,
exactly as in TensorFlow.

Example:
    >>> get_control_flow_context(tf.get_default_graph()) is None       # outside cond / while
    True
"""

from gpugraph.framework import ops
from gpugraph.ops import control_flow_ops as cfo


# -- the graph hook -------------------------------------------------------------------------------
class ContextHook:
    """Stands on the graph's control-dependencies stack while its context is entered."""

    control_inputs = ()   # adds no control dependencies itself

    def __init__(self, graph, context):
        self.graph = graph
        self.context = context
        self.seen_ops = self

    def add(self, op):
        if _innermost_hook(self.graph) is not self:
            return  # an inner context is entered: only the innermost one adds the op
        op._control_flow_context = self.context
        self.context.AddOp(op)

    def __contains__(self, op):
        return False


def _innermost_hook(graph):
    for controller in reversed(graph._control_dependencies_stack):
        if isinstance(controller, ContextHook):
            return controller
    return None


def _remove_hook(stack, hook):
    """Removes ``hook`` from the stack, or from a stack that ``control_dependencies(None)`` set aside."""
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is hook:
            del stack[i]
            return True
    for controller in reversed(stack):
        saved = getattr(controller, "_saved", None)
        if controller.control_inputs is None and saved is not None and _remove_hook(saved, hook):
            return True
    return False


def get_control_flow_context(graph=None):
    """The context new ops of ``graph`` go into (None at the top level)."""
    hook = _innermost_hook(graph if graph is not None else ops.get_default_graph())
    return hook.context if hook is not None else None


def op_context(op):
    """The control-flow context ``op`` was created in (None outside any)."""
    return getattr(op, "_control_flow_context", None)


def set_op_context(op, context):
    op._control_flow_context = context


def _record_op_seen_by_control_dependencies(graph, op):
    for controller in graph._control_dependencies_stack:
        if not isinstance(controller, ContextHook):
            controller.seen_ops.add(op)


# -- graph surgery the builders need (TF's Operation._update_input & co.) ----------------------
def update_input(op, index, tensor):
    """Makes ``tensor`` input ``index`` of ``op`` (shapes must be compatible; output shapes are
    not re-inferred, as in TensorFlow's ``_update_input``)."""
    old = op._inputs[index]
    if old.dtype.base_dtype != tensor.dtype.base_dtype:
        raise TypeError(f"cannot update input {index} of '{op.name}' from {old.name} "
                        f"({old.dtype.name}) to {tensor.name} ({tensor.dtype.name})")
    if not old.shape.is_compatible_with(tensor.shape):
        raise ValueError(f"Cannot update edge, incompatible shapes: {old.shape} and {tensor.shape} "
                         f"(input {index} of '{op.name}', new input {tensor.name})")
    op._inputs[index] = tensor
    try:
        old._consumers.remove(op)
    except ValueError:
        pass
    tensor._consumers.append(op)
    op.graph._bump_version()


def remove_all_control_inputs(op):
    for c in op._control_inputs:
        try:
            c._control_outputs.remove(op)
        except ValueError:
            pass
    op._control_inputs = []
    op.graph._bump_version()


# -- TensorFlow's control_flow_util ---------------------------------------------------------------
def IsSwitch(op):  # noqa: N802 - TensorFlow's names
    return op.type in cfo.SWITCH_OPS


def IsMerge(op):  # noqa: N802
    return op.type in cfo.MERGE_OPS


def IsLoopEnter(op):  # noqa: N802
    return op.type in cfo.ENTER_OPS


def IsLoopExit(op):  # noqa: N802
    return op.type in cfo.EXIT_OPS


def IsLoopConstantEnter(op):  # noqa: N802
    return IsLoopEnter(op) and bool(op.get_attr("is_constant"))


def IsCondSwitch(op):  # noqa: N802
    """A Switch made by a cond (its consumers are in CondContexts)."""
    if not IsSwitch(op) or not op.outputs:
        return False
    is_cond_switch = True
    for o in op.outputs:
        for c in o.consumers():
            ctxt = op_context(c)
            if IsLoopEnter(c):
                ctxt = ctxt.outer_context if ctxt is not None else None
            is_cond_switch = is_cond_switch and ctxt is not None and ctxt.IsCondContext()
    return is_cond_switch


def IsLoopSwitch(op):  # noqa: N802
    if IsSwitch(op):
        ctxt = op_context(op)
        return ctxt is not None and ctxt.IsWhileContext() and not IsCondSwitch(op)
    return False


def GetLoopConstantEnter(value):  # noqa: N802
    """The constant Enter ``value`` comes from through Identity/Switch ops, or None."""
    op = value.op
    while op.type in ("Switch", "RefSwitch", "Identity", "RefIdentity"):
        op = op.inputs[0].op
    return op if IsLoopConstantEnter(op) else None


def GetContainingWhileContext(ctxt, stop_ctxt=None):  # noqa: N802
    while ctxt is not None:
        if ctxt.IsWhileContext() or ctxt is stop_ctxt:
            return ctxt
        ctxt = ctxt.outer_context
    return None


def GetOutputContext(op):  # noqa: N802
    """The context ``op``'s outputs are in (an Exit's are in its loop's outer context)."""
    ctxt = op_context(op)
    if ctxt is not None and IsLoopExit(op):
        ctxt = ctxt.outer_context
    return ctxt


def GetWhileContext(op):  # noqa: N802
    ctxt = op_context(op)
    if ctxt is not None:
        ctxt = ctxt.GetWhileContext()
    return ctxt


def IsContainingContext(ctxt, maybe_containing_ctxt):  # noqa: N802
    while ctxt is not maybe_containing_ctxt:
        if ctxt is None:
            return False
        ctxt = ctxt.outer_context
    return True


def OpInContext(op, ctxt):  # noqa: N802
    return IsContainingContext(op_context(op), ctxt)


def _strip(name, export_scope):
    from gpugraph.framework.meta_graph import strip_name_scope
    return strip_name_scope(name, export_scope) if export_scope else name


def _prepend(name, import_scope):
    from gpugraph.framework.meta_graph import prepend_name_scope
    return prepend_name_scope(name, import_scope) if import_scope else name


# -- values that control flow carries ----------------------------------------------------------------
def is_tensor_array(v):
    from gpugraph.ops import tensor_array_ops
    return isinstance(v, tensor_array_ops.TensorArray)


def tensor_array_to_flow(v):
    return v.flow if is_tensor_array(v) else v


def flow_to_tensor_array(orig, flow):
    if is_tensor_array(orig):
        from gpugraph.ops import tensor_array_ops
        return tensor_array_ops.build_ta_with_new_flow(orig, flow)
    return flow


def variable_value(v):
    """A Variable used as a loop variable or branch result is its value (a Tensor)."""
    if hasattr(v, "_as_graph_element") and hasattr(v, "value") and not isinstance(v, ops.Tensor):
        return v.value()
    return v


def variables_to_tensors(structure):
    from gpugraph.ops import nest
    return nest.map_structure(variable_value, structure) if structure is not None else None
