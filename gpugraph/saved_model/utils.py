"""TensorInfo helpers (``tf.compat.v1.saved_model.utils``): describe a Tensor for a SignatureDef,
and find the Tensor a TensorInfo names in a graph.

Example:
    >>> x = tf.placeholder(tf.float32, [None, 784], name="x")
    >>> info = build_tensor_info(x)
    >>> info.name, info.dtype                         # DT_FLOAT == 1
    ('x:0', 1)
"""

from gpugraph.framework import ops
from gpugraph.framework import tensor_shape
from gpugraph.framework.meta_graph import prepend_name_scope
from gpugraph.protos import meta_graph_pb2, types_pb2


def build_tensor_info(tensor):
    """A ``TensorInfo`` proto (name, dtype, static shape) for a Tensor or Variable.

    Example:
        >>> build_tensor_info(tf.constant([1, 2], name="c")).tensor_shape.dim[0].size
        2
    """
    if hasattr(tensor, "_as_graph_element") and not isinstance(tensor, ops.Tensor):
        tensor = tensor._as_graph_element()  # a Variable: its value tensor, as TensorFlow records it
    if not isinstance(tensor, ops.Tensor):
        raise TypeError(f"build_tensor_info expects a Tensor, got {type(tensor).__name__}: {tensor!r}")
    info = meta_graph_pb2.TensorInfo(name=tensor.name, dtype=tensor.dtype.as_datatype_enum)
    info.tensor_shape.CopyFrom(tensor.shape.as_proto())
    return info


def build_tensor_info_from_op(op):
    """A ``TensorInfo`` naming an Operation (dtype DT_INVALID, unknown shape): how init and train ops
    are recorded in the reserved signatures."""
    return meta_graph_pb2.TensorInfo(dtype=types_pb2.DT_INVALID,
                                     tensor_shape=tensor_shape.unknown_shape().as_proto(), name=op.name)


def get_tensor_from_tensor_info(tensor_info, graph=None, import_scope=None):
    """The Tensor of ``graph`` (default: the default graph) that ``tensor_info`` names.

    Raises KeyError when the graph has no such tensor, ValueError for encodings gpugraph does not
    model (``coo_sparse``, ``composite_tensor``).

    Example:
        >>> sig = meta_graph_def.signature_def["serving_default"]              # doctest: +SKIP
        >>> x = get_tensor_from_tensor_info(sig.inputs["x"], sess.graph)       # doctest: +SKIP
    """
    graph = graph or ops.get_default_graph()
    encoding = tensor_info.WhichOneof("encoding")
    if encoding == "name":
        return graph.get_tensor_by_name(prepend_name_scope(tensor_info.name, import_scope))
    if encoding in ("coo_sparse", "composite_tensor"):
        raise ValueError(f"TensorInfo encoding {encoding!r} (a sparse or composite tensor) is not supported "
                         f"by gpugraph: {tensor_info}")
    raise ValueError(f"Invalid TensorInfo.encoding: {encoding}. Expected `coo_sparse`, `composite_tensor`, "
                     f"or `name` for a dense tensor.")


def get_element_from_tensor_info(tensor_info, graph=None, import_scope=None):
    """The Operation or Tensor of ``graph`` that ``tensor_info`` names (init and train ops)."""
    graph = graph or ops.get_default_graph()
    return graph.as_graph_element(prepend_name_scope(tensor_info.name, import_scope))
