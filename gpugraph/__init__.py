"""gpugraph: run TensorFlow-1-style graphs on GPUs, with the ``tf.compat.v1`` API.

Example:
    >>> import gpugraph as tf
    >>> x = tf.placeholder(tf.float32, [None, 2])
    >>> w = tf.Variable([[1.0], [2.0]])
    >>> y = tf.matmul(x, w)
    >>> with tf.Session() as sess:
    ...     sess.run(tf.global_variables_initializer())
    ...     print(sess.run(y, {x: [[3.0, 4.0]]}))
    [[11.]]
"""

import sys as _sys

from gpugraph import compat, errors  # noqa: F401
from gpugraph import initializers, linalg, math, nn, random  # noqa: F401
from gpugraph.framework import dtypes as dtypes
from gpugraph.framework.dtypes import *  # noqa: F401,F403  (float32, int64, as_dtype, DType, …)
from gpugraph.framework.dtypes import DType, as_dtype  # noqa: F401
from gpugraph.framework.device import DeviceSpec  # noqa: F401
from gpugraph.framework.graph_io import import_graph_def  # noqa: F401
from gpugraph.framework.op_builder import (  # noqa: F401
    constant, convert_to_tensor, register_tensor_conversion_function)
from gpugraph.framework.ops import (  # noqa: F401
    Graph, GraphKeys, Operation, Tensor, add_to_collection, add_to_collections, colocate_with,
    container, control_dependencies, device, get_all_collection_keys, get_collection,
    get_collection_ref, get_default_graph, get_name_scope, name_scope, reset_default_graph,
    set_random_seed)
from gpugraph.framework.tensor_shape import Dimension, TensorShape  # noqa: F401
from gpugraph.framework.tensor_util import MakeNdarray, make_ndarray, make_tensor_proto  # noqa: F401
from gpugraph.protos.attr_value_pb2 import AttrValue, NameAttrList  # noqa: F401
from gpugraph.protos.config_pb2 import (  # noqa: F401
    ConfigProto, GPUOptions, GraphOptions, OptimizerOptions, RunMetadata, RunOptions)
from gpugraph.protos.graph_pb2 import GraphDef  # noqa: F401
from gpugraph.protos.meta_graph_pb2 import MetaGraphDef  # noqa: F401
from gpugraph.protos.node_def_pb2 import NodeDef  # noqa: F401
from gpugraph.protos.tensor_pb2 import TensorProto  # noqa: F401
from gpugraph.runtime.session import (  # noqa: F401
    InteractiveSession, Session, get_default_session)

__version__ = "0.1.0"

from gpugraph import _api  # noqa: E402

_api.install(_sys.modules[__name__])
del _api

from gpugraph import saved_model  # noqa: E402,F401  (tf.saved_model.loader.load, simple_save, …)


def disable_eager_execution():
    """Accepted for compatibility: gpugraph always builds graphs."""


def disable_v2_behavior():
    """Accepted for compatibility: gpugraph always has TF1 (graph, ref variable) behaviour."""


def executing_eagerly():
    return False
