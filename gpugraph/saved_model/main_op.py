"""``tf.compat.v1.saved_model.main_op``: the usual op to run after a SavedModel's restore.

Example:
    >>> builder.add_meta_graph_and_variables(sess, ["serve"], main_op=main_op())  # doctest: +SKIP
"""

from gpugraph.framework import ops


def main_op():
    """Groups the initializers of global variables, local variables and (where gpugraph has lookup
    tables) tables."""
    from gpugraph.ops import core_ops, variables
    inits = [variables.global_variables_initializer(), variables.local_variables_initializer()]
    import gpugraph
    tables_initializer = getattr(gpugraph, "tables_initializer", None)
    if tables_initializer is not None:
        inits.append(tables_initializer())
    return core_ops.group(*inits)


def main_op_with_restore(restore_op_name):
    """:func:`main_op`, then the op named ``restore_op_name``."""
    from gpugraph.ops import core_ops
    with ops.control_dependencies([main_op()]):
        return core_ops.group(ops.get_default_graph().as_graph_element(restore_op_name))
