"""Plan pass: optimizer updates of one kind that share their hyper-parameters run as one step.

A TF1 optimizer adds one apply op per variable (``ApplyAdam`` for each of a model's weights), all
reading the same learning rate, betas and epsilon tensors. Run one by one, a small model's step is
dominated by per-op overhead: each update is a dozen NumPy passes over a small array. This pass
finds such families in a CPU plan and replaces them with one step running
:func:`gpugraph.ops.training_ops.grouped_update_kernel` — the same arithmetic over every variable
at once, bitwise identical to the ungrouped updates.

Grouping moves the earlier members of a family to the position of the last one, which is what the
plan could have done anyway when nothing orders them: it is done only when no step in between
depends on an earlier member (data or control edge) or touches one of the members' variables, and
when no variable is updated twice. Anything else stays as it was. ``GPUGRAPH_GROUPED_UPDATES=0``
or ``disable_meta_optimizer`` keeps one step per update (:mod:`gpugraph.runtime.rewrites`).

Example:
    >>> steps = group_updates(steps, state)        # doctest: +SKIP
"""

import numpy as np

from gpugraph.framework import dtypes
from gpugraph.ops import training_ops


def _attrs_key(op):
    return tuple(sorted((k, str(v)) for k, v in op.kernel_attrs().items() if not k.startswith("_")))


class _ValueKeys:
    """A key per slot such that equal keys mean equal values at every point of a run: a constant
    by its bytes, a stateless op's output by its op type, attrs and inputs' keys (an optimizer
    casting its hyper-parameters for each variable makes one Cast per variable of the same
    value), reads of a resource variable with nothing else touching it in between by the
    variable and that point, anything else by its slot."""

    def __init__(self, steps_spec, constants):
        self.constants = constants
        self.producer = {}
        self.reads = {}   # slot -> (handle slot, writes to it so far): ReadVariableOp results
        touched = {}
        for op, _, ins, outs, _, _ in steps_spec:
            if op.type == "ReadVariableOp" and not op._control_inputs:
                # Two reads of one variable with no other op on it in between read one value.
                self.reads[outs[0] if isinstance(outs, tuple) else outs] = (ins[0], touched.get(ins[0], 0))
                continue
            for slot, t in zip(ins, op._inputs):
                if t.dtype.base_dtype == dtypes.resource:
                    touched[slot] = touched.get(slot, 0) + 1
            if len(op.outputs) == 1 and not op._control_inputs and not op.op_spec.is_stateful and \
                    not any(t.dtype._is_ref_dtype for t in op._inputs) and \
                    not op.outputs[0].dtype._is_ref_dtype:
                self.producer[outs[0] if isinstance(outs, tuple) else outs] = (op, ins)
        self.memo = {}

    def __call__(self, slot):
        key = self.memo.get(slot)
        if key is None:
            if slot in self.constants:
                value = self.constants[slot]
                key = ("const", value.dtype.str, value.shape, value.tobytes()) \
                    if isinstance(value, np.ndarray) and value.dtype != object else ("slot", slot)
            elif slot in self.reads:
                key = ("read",) + self.reads[slot]
            elif slot in self.producer:
                op, ins = self.producer[slot]
                key = ("op", op.type, _attrs_key(op), tuple(self(i) for i in ins))
            else:
                key = ("slot", slot)
            self.memo[slot] = key
        return key


def _family_key(op, ins, value_key):
    """Members of one family: same op type, same attrs (dtype, use_nesterov, ...; use_locking
    does not change the result of a sequential update; internal attrs such as ``_class`` do not
    matter), and scalar inputs of equal value (:class:`_ValueKeys`)."""
    n_slots, n_others, grad_index = training_ops.update_arity(op.type)
    others = list(ins[n_slots:])
    others.pop(grad_index)
    attrs = tuple((k, v) for k, v in _attrs_key(op) if k != "use_locking")
    return (op.type, attrs, tuple(value_key(s) for s in others))


def _variable_ops(op):
    """The ops producing the variables (refs or resource handles) ``op`` updates."""
    n_slots = training_ops.update_arity(op.type)[0]
    return [t.op for t in op._inputs[:n_slots]]


def group_updates(steps_spec, order, constants, state, device_kind="CPU"):
    """``steps_spec`` (``(op, kernel, ins, outs, ctx, single_output)`` tuples, plan order) with
    each groupable family of two or more updates replaced by one grouped step. ``order`` is every
    op of the plan (steps and the ops that became constants, aliases or nothing), dependencies
    first; ``constants`` the plan's preloaded values by slot."""
    from gpugraph.runtime.plan import KernelContext
    families = {}
    value_key = _ValueKeys(steps_spec, constants)
    for index, (op, _, ins, _, ctx, _) in enumerate(steps_spec):
        if ctx is None and training_ops.groupable_update(op.type):
            families.setdefault(_family_key(op, ins, value_key), []).append(index)
    groups = [indices for indices in families.values()
              if len(indices) > 1 and _can_group(steps_spec, order, indices)]
    if not groups:
        return steps_spec
    replace, drop = {}, set()
    for indices in groups:
        members = [steps_spec[i] for i in indices]
        contexts = [KernelContext(op, state, device_kind) for op, *_ in members]
        kernel = training_ops.grouped_update_kernel(members[0][0].type, contexts)
        ins = tuple(s for _, _, member_ins, _, _, _ in members for s in member_ins)
        outs = tuple(s for _, _, _, member_outs, _, _ in members for s in member_outs)
        last_op = members[-1][0]
        replace[indices[-1]] = (last_op, kernel, ins, outs, None, False)
        drop.update(indices[:-1])
    return [replace.get(i, spec) for i, spec in enumerate(steps_spec) if i not in drop]


def _can_group(steps_spec, order, indices):
    members = [steps_spec[i][0] for i in indices]
    variables = [v for op in members for v in _variable_ops(op)]
    if len(set(variables)) != len(variables):  # a variable updated twice: keep the sequence
        return False
    variables = set(variables)
    # Everything that depends, through any chain of data or control edges (NoOps and aliases
    # included, which are not steps), on a member that would move later.
    moved = set(members[:-1])
    dependents = set()
    for op in order:
        if any(t.op in moved or t.op in dependents for t in op._inputs) or \
                any(c in moved or c in dependents for c in op._control_inputs):
            dependents.add(op)
    for i in range(indices[0] + 1, indices[-1] + 1):
        op = steps_spec[i][0]
        if op in dependents:  # it would run before what it depends on (or with it, for a member)
            return False
        if op not in moved and op is not members[-1] and any(t.op in variables for t in op._inputs):
            return False  # it reads or writes a member's variable between the updates
    return True
