"""The global step: ``get_global_step``, ``create_global_step``, ``get_or_create_global_step`` and
``global_step`` with ``tf.compat.v1.train``'s semantics (an int64 scalar variable named
``global_step`` in the GLOBAL_STEP collection, found by name when the collection is empty, e.g. in
an imported graph).

Example:
    >>> step = tf.train.get_or_create_global_step()
    >>> step.op.name
    'global_step'
"""

import numpy as np

from gpugraph.framework import dtypes, ops
from gpugraph.ops import init_ops
from gpugraph.ops import variable_scope as vs
from gpugraph.ops import variables


def global_step(sess, global_step_tensor):
    """The current value of ``global_step_tensor`` in ``sess``, as a Python int.

    Example:
        >>> tf.train.global_step(sess, step)                                    # doctest: +SKIP
        10
    """
    return int(np.asarray(sess.run(global_step_tensor)))


def assert_global_step(global_step_tensor):
    """TypeError unless ``global_step_tensor`` is an integer scalar Variable or Tensor."""
    if not isinstance(global_step_tensor, (variables.Variable, ops.Tensor)):
        raise TypeError(f'Existing "global_step" must be a Variable or Tensor: {global_step_tensor}.')
    if not global_step_tensor.dtype.base_dtype.is_integer:
        raise TypeError(f'Existing "global_step" does not have integer type: {global_step_tensor.dtype}')
    shape = global_step_tensor.get_shape()
    if shape.ndims != 0 and shape.is_fully_defined():
        raise TypeError(f'Existing "global_step" is not scalar: {shape}')


def get_global_step(graph=None):
    """The global step variable (or tensor) of ``graph``, or None if there is none.

    Example:
        >>> tf.train.get_global_step() is None
        True
    """
    graph = graph or ops.get_default_graph()
    tensors = graph.get_collection(ops.GraphKeys.GLOBAL_STEP)
    if len(tensors) == 1:
        step = tensors[0]
    elif not tensors:
        try:
            step = graph.get_tensor_by_name("global_step:0")
        except KeyError:
            return None
    else:
        return None  # TF logs "Multiple tensors in global_step collection." and returns None
    assert_global_step(step)
    return step


def create_global_step(graph=None):
    """Creates the ``global_step`` variable (int64, 0, not trainable); ValueError if one exists.

    Example:
        >>> step = tf.train.create_global_step()
    """
    graph = graph or ops.get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None):
        return vs.get_variable(ops.GraphKeys.GLOBAL_STEP, shape=[], dtype=dtypes.int64,
                               initializer=init_ops.zeros_initializer(), trainable=False,
                               aggregation=variables.VariableAggregation.ONLY_FIRST_REPLICA,
                               collections=[ops.GraphKeys.GLOBAL_VARIABLES, ops.GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph=None):
    """The global step of ``graph``, created if it does not exist yet.

    Example:
        >>> train_op = opt.minimize(loss, global_step=tf.train.get_or_create_global_step())
    """
    graph = graph or ops.get_default_graph()
    step = get_global_step(graph)
    if step is None:
        step = create_global_step(graph)
    return step
