"""Tags that name the meta graphs of a SavedModel (``tf.compat.v1.saved_model.tag_constants``).

Example:
    >>> tf.saved_model.loader.load(sess, [SERVING], "/models/mlp/1")           # doctest: +SKIP
"""

SERVING = "serve"
TRAINING = "train"
EVAL = "eval"
GPU = "gpu"
TPU = "tpu"
