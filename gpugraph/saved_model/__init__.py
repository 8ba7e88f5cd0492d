"""``tf.compat.v1.saved_model``: write and load TF1 SavedModels (``saved_model.pb`` + ``variables/``
+ ``assets/``) that TensorFlow and TF Serving read.

Example:
    >>> import gpugraph as tf
    >>> tf.saved_model.simple_save(sess, "/models/mlp/1", {"x": x}, {"y": y})    # doctest: +SKIP
    >>> with tf.Session(graph=tf.Graph()) as sess:
    ...     mg = tf.saved_model.loader.load(sess, [tf.saved_model.tag_constants.SERVING],
    ...                                     "/models/mlp/1")                     # doctest: +SKIP
"""

from gpugraph.saved_model import (  # noqa: F401
    builder, constants, loader, signature_constants, signature_def_utils, tag_constants, utils)
from gpugraph.saved_model import main_op as _main_op_module
from gpugraph.saved_model.builder import Builder, SavedModelBuilder  # noqa: F401
from gpugraph.saved_model.constants import (  # noqa: F401
    ASSETS_DIRECTORY, ASSETS_KEY, DEBUG_DIRECTORY, DEBUG_INFO_FILENAME_PB, LEGACY_INIT_OP_KEY, MAIN_OP_KEY,
    SAVED_MODEL_FILENAME_PB, SAVED_MODEL_FILENAME_PBTXT, SAVED_MODEL_SCHEMA_VERSION, VARIABLES_DIRECTORY,
    VARIABLES_FILENAME)
from gpugraph.saved_model.loader import load, maybe_saved_model_directory  # noqa: F401
from gpugraph.saved_model.loader import contains_saved_model  # noqa: F401
from gpugraph.saved_model.signature_constants import (  # noqa: F401
    CLASSIFY_INPUTS, CLASSIFY_METHOD_NAME, CLASSIFY_OUTPUT_CLASSES, CLASSIFY_OUTPUT_SCORES,
    DEFAULT_SERVING_SIGNATURE_DEF_KEY, PREDICT_INPUTS, PREDICT_METHOD_NAME, PREDICT_OUTPUTS, REGRESS_INPUTS,
    REGRESS_METHOD_NAME, REGRESS_OUTPUTS)
from gpugraph.saved_model.signature_def_utils import (  # noqa: F401
    build_signature_def, classification_signature_def, is_valid_signature, predict_signature_def,
    regression_signature_def)
from gpugraph.saved_model.simple_save import simple_save  # noqa: F401
from gpugraph.saved_model.tag_constants import GPU, SERVING, TPU, TRAINING  # noqa: F401
from gpugraph.saved_model.utils import build_tensor_info, get_tensor_from_tensor_info  # noqa: F401

# ``tf.compat.v1.saved_model.main_op`` is the module (``main_op.main_op()``), and
# ``main_op_with_restore`` a function of the package, as in TensorFlow.
main_op = _main_op_module
main_op_with_restore = _main_op_module.main_op_with_restore
