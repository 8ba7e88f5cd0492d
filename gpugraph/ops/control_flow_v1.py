"""``tf.compat.v1.while_loop``, ``cond`` and ``case`` building TensorFlow's v1 control flow
(Switch/Merge, Enter/Exit/NextIteration/LoopCond), node for node as TensorFlow lays it out:

- ``while_loop``: under ``while/``, one ``Enter`` per loop variable into the frame
  ``while/while_context``, a ``Merge`` per variable, the predicate ending in ``LoopCond``, a
  ``Switch`` per variable, an ``Identity`` per variable feeding the body, ``NextIteration`` back
  edges and an ``Exit`` per variable. Outside tensors the body or predicate reads come in through
  constant ``Enter`` nodes (``while/mul/Enter``). ``maximum_iterations`` adds TensorFlow's
  ``iteration_counter`` loop variable and ``LogicalAnd`` to the predicate. The loop's
  ``WhileContext`` goes into the ``while_context`` collection (exported as a WhileContextDef).
- ``cond``: under ``cond/``, ``Switch`` of the predicate, the pivots ``switch_t`` / ``switch_f``,
  ``pred_id``, one branch per ``CondContext`` (outside tensors come in through ``Switch`` nodes
  such as ``cond/mul/Switch``), and a ``Merge`` per result; both contexts go into ``cond_context``.

Graphs built this way run in gpugraph's control-flow executor and, exported, in TensorFlow.

Example:
    >>> i = tf.constant(0)
    >>> r = tf.while_loop(lambda i: tf.less(i, 10), lambda i: tf.add(i, 1), [i])
    >>> tf.Session().run(r)
    10
"""

import collections

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant, convert_to_tensor
from gpugraph.framework.registry import register_op
from gpugraph.ops import control_flow_context as cfc
from gpugraph.ops import control_flow_ops as cfo
from gpugraph.ops import nest
from gpugraph.ops.while_context import WhileContext


# -- while_loop -----------------------------------------------------------------------------------
def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10, back_prop=True,
               swap_memory=False, name=None, maximum_iterations=None, return_same_structure=False):
    """Repeats ``body`` while ``cond`` is true (``tf.compat.v1.while_loop``, v1 control flow).

    ``cond`` and ``body`` take the loop variables (a possibly nested structure of Tensors and
    TensorArrays) and are called once, to build the graph. ``shape_invariants`` relaxes the
    shapes loop variables may take; ``maximum_iterations`` bounds the trip count; at most
    ``parallel_iterations`` iterations are in flight. Returns the final loop variables (a single
    one unpacked unless ``return_same_structure``).

    Example:
        >>> n = tf.placeholder(tf.int32, [])
        >>> i, total = tf.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s + i), [0, 0])
    """
    if not callable(cond):
        raise TypeError("'cond' must be callable.")
    if not callable(body):
        raise TypeError("'body' must be callable.")
    if isinstance(parallel_iterations, bool) or not isinstance(parallel_iterations, int) or \
            parallel_iterations < 1:
        raise TypeError("'parallel_iterations' must be a positive integer.")
    loop_vars = cfc.variables_to_tensors(loop_vars)
    with ops.name_scope(name, "while", _tensors_in(loop_vars)):
        if not nest.is_nested(loop_vars):
            loop_vars = [loop_vars]  # TF needs a list; a lone tensor is one loop variable
        if not loop_vars:
            raise ValueError("'loop_vars' must be provided.")
        try_to_pack = len(loop_vars) == 1 and not return_same_structure
        if maximum_iterations is not None:
            maximum_iterations = convert_to_tensor(maximum_iterations, name="maximum_iterations")
            if maximum_iterations.shape.ndims != 0:
                raise ValueError(f"'maximum_iterations' must be a scalar. Received shape: "
                                 f"{maximum_iterations.shape}")
            counter = constant(0, dtype=maximum_iterations.dtype.base_dtype, name="iteration_counter")
            orig_cond, orig_body = cond, body
            max_iter = maximum_iterations
            if try_to_pack:
                loop_vars = (counter, loop_vars[0])
                cond = lambda i, lv: _logical_and(i < max_iter, orig_cond(lv))  # noqa: E731
                body = lambda i, lv: (i + 1, orig_body(lv))  # noqa: E731
            else:
                loop_vars = (counter, loop_vars)
                cond = lambda i, lv: _logical_and(i < max_iter, orig_cond(*lv))  # noqa: E731
                body = lambda i, lv: (i + 1, orig_body(*lv))  # noqa: E731
            try_to_pack = False
            if shape_invariants is not None:
                shape_invariants = (tensor_shape.TensorShape([]), shape_invariants)
        loop_context = WhileContext(maximum_iterations=maximum_iterations,
                                        parallel_iterations=parallel_iterations, back_prop=back_prop,
                                        swap_memory=swap_memory)
        if loop_context.outer_context is None:
            ops.add_to_collection(ops.GraphKeys.WHILE_CONTEXT, loop_context)
        result = loop_context.BuildLoop(cond, body, loop_vars, shape_invariants, return_same_structure)
        if maximum_iterations is not None:
            return result[1]
        return result


def _logical_and(a, b):
    return apply_op("LogicalAnd", x=a, y=b)


def _tensors_in(structure):
    try:
        return [x for x in nest.flatten(structure) if isinstance(x, ops.Tensor)]
    except (TypeError, ValueError):
        return []


# -- cond -----------------------------------------------------------------------------------------
def _build_cond_branch(pred, pivot, branch, fn, fn_name):
    """Builds ``fn`` in a new CondContext for ``branch`` (1: true, 0: false): ``(context, fn's
    result, the result as seen outside the branch)``."""
    context = cfc.CondContext(pred, pivot, branch=branch)
    try:
        context.Enter()
        orig_res, res = context.BuildCondBranch(fn)
        if orig_res is None:
            raise ValueError(f"'{fn_name}' must have a return value.")
        context.ExitResult(res)
    finally:
        context.Exit()
    return context, orig_res, res


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """``true_fn()`` if ``pred`` is true else ``false_fn()`` (``tf.compat.v1.cond``, v1 control flow).

    Both functions are called once, each building its branch inside a CondContext; only the taken
    branch runs. They must return the same structure of tensors; singletons are unpacked unless
    ``strict``. ``fn1`` / ``fn2`` are the deprecated names of ``true_fn`` / ``false_fn``.

    Example:
        >>> r = tf.cond(x < y, lambda: tf.add(x, z), lambda: tf.square(y))   # doctest: +SKIP
    """
    if fn1 is not None:
        if true_fn is not None:
            raise TypeError("cond(): 'true_fn' and 'fn1' may not be set simultaneously.")
        true_fn = fn1
    elif true_fn is None:
        raise TypeError("cond(): 'true_fn' argument required")
    if fn2 is not None:
        if false_fn is not None:
            raise TypeError("cond(): 'false_fn' and 'fn2' may not be set simultaneously.")
        false_fn = fn2
    elif false_fn is None:
        raise TypeError("cond(): 'false_fn' argument required")
    if not callable(true_fn):
        raise TypeError("'true_fn' must be callable.")
    if not callable(false_fn):
        raise TypeError("'false_fn' must be callable.")
    with ops.name_scope(name, "cond", [pred] if isinstance(pred, ops.Tensor) else None):
        if isinstance(pred, bool):
            raise TypeError("'pred' must not be a Python bool.")
        pred = convert_to_tensor(pred)
        if pred.dtype.base_dtype != dtypes.bool:
            raise TypeError(f"cond's 'pred' must be a boolean tensor, got {pred.name} of dtype "
                            f"{pred.dtype.name}")
        p_2, p_1 = cfo.switch(pred, pred)
        pivot_1 = apply_op("Identity", input=p_1, name="switch_t")
        pivot_2 = apply_op("Identity", input=p_2, name="switch_f")
        pred = apply_op("Identity", input=pred, name="pred_id")
        g = ops.get_default_graph()
        for t in (p_1, p_2, pivot_1, pivot_2, pred):
            g.prevent_fetching(t.op)

        context_t, orig_res_t, res_t = _build_cond_branch(pred, pivot_1, 1, true_fn, "true_fn")
        context_f, orig_res_f, res_f = _build_cond_branch(pred, pivot_2, 0, false_fn, "false_fn")

        if not strict:
            orig_res_t = _unpack_if_singleton(orig_res_t)
            orig_res_f = _unpack_if_singleton(orig_res_f)
        try:
            nest.assert_same_structure(orig_res_t, orig_res_f)
        except TypeError as e:
            raise TypeError(f"Incompatible return types of 'true_fn' and 'false_fn': {e}") from None
        except ValueError as e:
            raise ValueError(f"Incompatible return values of 'true_fn' and 'false_fn': {e}") from None
        if not res_t:
            raise ValueError("'true_fn' and 'false_fn' must return at least one result.")
        res_t_flat, res_f_flat = nest.flatten(res_t), nest.flatten(res_f)
        for x, y in zip(res_t_flat, res_f_flat):
            if x.dtype.base_dtype != y.dtype.base_dtype:
                raise ValueError(f"Outputs of 'true_fn' and 'false_fn' must have the same type(s). "
                                 f"Received {x.dtype.name} from 'true_fn' and {y.dtype.name} from "
                                 f"'false_fn'.")
        merges = [cfo.merge(pair)[0] for pair in zip(res_f_flat, res_t_flat)]
        merges = [cfc.flow_to_tensor_array(o, m) for o, m in zip(nest.flatten(orig_res_t), merges)]
        if context_t.outer_context is None:
            ops.add_to_collection(ops.GraphKeys.COND_CONTEXT, context_t)
            ops.add_to_collection(ops.GraphKeys.COND_CONTEXT, context_f)
        merges = nest.pack_sequence_as(orig_res_t, merges)
        if not strict:
            merges = _unpack_if_singleton(merges)
        return merges


def _unpack_if_singleton(res):
    if isinstance(res, (list, tuple)) and len(res) == 1:
        return res[0]
    return res


# -- case -------------------------------------------------------------------------------------------
def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The result of the first ``fn`` whose ``pred`` is true, else of ``default``
    (``tf.compat.v1.case``): a chain of ``cond``s. Without ``default`` the last pair is the
    default, guarded by an Assert that its predicate holds; ``exclusive`` asserts that at most one
    predicate is true.

    Example:
        >>> r = tf.case([(x < y, lambda: x), (x > y, lambda: y)], default=lambda: x * y)
    """
    predicates, actions = _case_verify_and_canonicalize_args(pred_fn_pairs, exclusive, name)
    with ops.name_scope(name, "case", list(predicates)):
        if default is None:
            default, predicates, actions = _case_create_default_action(predicates, actions)
        fn = default
        for predicate, action in reversed(list(zip(predicates, actions))):
            fn = _bind_cond(predicate, action, fn, strict)
        if exclusive:
            with ops.control_dependencies([_assert_at_most_n_true(predicates, n=1,
                                                                 msg="Input error: exclusive=True")]):
                return fn()
        return fn()


def _bind_cond(predicate, true_fn, false_fn, strict):
    return lambda: cond(predicate, true_fn=true_fn, false_fn=false_fn, strict=strict)


def _case_verify_and_canonicalize_args(pred_fn_pairs, exclusive, name):
    if not isinstance(pred_fn_pairs, (list, tuple, dict)):
        raise TypeError(f"'pred_fn_pairs' must be a list, tuple, or dict. Received: {type(pred_fn_pairs)}")
    if isinstance(pred_fn_pairs, collections.OrderedDict):
        pred_fn_pairs = list(pred_fn_pairs.items())
    elif isinstance(pred_fn_pairs, dict):
        pred_fn_pairs = sorted(pred_fn_pairs.items(), key=lambda item: item[0].name)
    for pair in pred_fn_pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"Each entry in 'pred_fn_pairs' must be a 2-tuple. Received {pair}.")
        pred, fn = pair
        if isinstance(pred, ops.Tensor):
            if pred.dtype.base_dtype != dtypes.bool:
                raise TypeError(f"pred must be Tensor of type bool: {pred.name}")
        else:
            raise TypeError(f"pred must be a Tensor, got: {pred}")
        if not callable(fn):
            raise TypeError(f"fn for pred {pred.name} must be callable.")
    if not pred_fn_pairs:
        raise ValueError("'pred_fn_pairs' must not be empty")
    predicates, actions = zip(*pred_fn_pairs)
    return list(predicates), list(actions)


def _case_create_default_action(predicates, actions):
    k = len(predicates) - 1
    predicate, action = predicates[k], actions[k]
    other_predicates, other_actions = predicates[:k], actions[:k]

    def default_action():
        from gpugraph.ops.concat_split_ops import stack
        others_msg = ("Implementation error: selected default action #%d was called, but some of other "
                      "predicates are True: " % k)
        default_msg = ("Input error: None of conditions evaluated as True:",
                       stack(predicates, name="preds_c"))
        with ops.control_dependencies([_assert_at_most_n_true(other_predicates, n=0, msg=others_msg),
                                       Assert(predicate, data=default_msg)]):
            return action()
    return default_action, other_predicates, other_actions


def _assert_at_most_n_true(predicates, n, msg):
    from gpugraph.ops.concat_split_ops import stack
    from gpugraph.ops.math_ops import less_equal
    from gpugraph.ops.reduction_ops import reduce_sum
    from gpugraph.ops.unary_ops import cast
    preds_c = stack(predicates, name="preds_c")
    num_true_conditions = reduce_sum(cast(preds_c, dtypes.int32), name="num_true_conds")
    condition = less_equal(num_true_conditions, constant(n, name="n_true_conds"))
    preds_names = ", ".join(getattr(p, "name", "?") for p in predicates)
    error_msg = ["%s: more than %d conditions (%s) evaluated as True:" % (msg, n, preds_names), preds_c]
    return Assert(condition, data=error_msg, summarize=len(predicates))


# -- Assert ----------------------------------------------------------------------------------------
def _assert_kernel(ctx, condition, *data):
    if bool(np.asarray(condition)):
        return None
    summarize = ctx.attrs["summarize"]
    parts = []
    for value in data:
        arr = np.asarray(value)
        if arr.dtype == object and arr.ndim == 0:
            v = arr.item()
            parts.append(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            continue
        flat = arr.reshape(-1)
        shown = [_summarize_value(x) for x in flat[:summarize if summarize >= 0 else flat.size]]
        suffix = "..." if summarize >= 0 and flat.size > summarize else ""
        parts.append("[" + " ".join(shown) + suffix + "]")
    from gpugraph import errors
    raise ctx.error("assertion failed: " + " ".join(f"[{p}]" if not p.startswith("[") else p for p in parts),
                    errors.InvalidArgumentError)


def _summarize_value(x):
    """One element as TensorFlow's Tensor::SummarizeValue prints it (``1``, ``-2.5``, ``abc``)."""
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, (np.bool_, bool)):
        return "1" if x else "0"
    text = str(x)
    return text[:-2] if isinstance(x, np.floating) and text.endswith(".0") else text


def _assert_shape(op):
    c = op.inputs[0].shape
    if c.ndims is not None and c.ndims != 0:
        raise ValueError(f"Assert's condition must be a scalar, got shape {c}")
    return []


register_op("Assert", inputs=["condition: bool", "data: T"], attrs=["T: list(type) >= 1", "summarize: int = 3"],
            shape=_assert_shape, cpu=_assert_kernel, stateful=True)


def Assert(condition, data, summarize=None, name=None):  # noqa: N802 - TensorFlow's name
    """Raises InvalidArgumentError printing ``data`` when ``condition`` is false (``tf.Assert``).
    Returns the op; make other ops depend on it with ``control_dependencies``. Unless every entry
    of ``data`` is string or int32, the Assert sits in a ``cond`` named ``AssertGuard``.

    Example:
        >>> check = tf.Assert(tf.reduce_all(x > 0), ["x must be positive:", x])
    """
    with ops.name_scope(name, "Assert", [condition] if isinstance(condition, ops.Tensor) else None) as scope:
        xs = [convert_to_tensor(x) for x in data]
        summarize = 3 if summarize is None else int(summarize)
        # As TensorFlow: ``xs`` only decides the layout; the op converts ``data`` itself (data_0, …).
        data = list(data)
        if all(x.dtype.base_dtype in (dtypes.string, dtypes.int32) for x in xs):
            return apply_op("Assert", condition=condition, data=data, summarize=summarize, name="Assert")
        condition = convert_to_tensor(condition, name="Condition")

        def true_assert():
            return apply_op("Assert", condition=condition, data=data, summarize=summarize, name="Assert")

        from gpugraph.ops.core_ops import no_op
        guarded = cond(condition, no_op, true_assert, name="AssertGuard")
        del scope
        return guarded.op


# -- with_dependencies ---------------------------------------------------------------------------
def with_dependencies(dependencies, output_tensor, name=None):
    """``output_tensor``'s value, produced only after ``dependencies`` ran (an Identity named
    ``control_dependency`` under their control)."""
    with ops.name_scope(name, "control_dependency", list(dependencies) + [output_tensor]) as scope:
        g = ops.get_default_graph()
        with g.colocate_with(output_tensor.op if isinstance(output_tensor, ops.Tensor) else output_tensor):
            with g.control_dependencies(dependencies):
                output_tensor = convert_to_tensor(output_tensor, as_ref=True)
                return cfo.identity_ref_or_tensor(output_tensor, name=scope)


EXPORTS = {
    "": ["while_loop", "cond", "case", "Assert"],
}
