"""File and collection names of the SavedModel format (``tf.compat.v1.saved_model.constants``).

These strings are the on-disk contract with TensorFlow (``tensorflow/cc/saved_model/constants.h``).

Example:
    >>> import os
    >>> os.path.join("export", VARIABLES_DIRECTORY, VARIABLES_FILENAME)
    'export/variables/variables'
"""

# Directory (under the export dir) of the asset files, and of extra files such as warmup requests.
ASSETS_DIRECTORY = "assets"
EXTRA_ASSETS_DIRECTORY = "assets.extra"
# Collection of ``Any``-packed AssetFileDefs (older SavedModels; newer use MetaGraphDef.asset_file_def).
ASSETS_KEY = "saved_model_assets"
# Collections holding the one op run after the variables are restored.
LEGACY_INIT_OP_KEY = "legacy_init_op"
MAIN_OP_KEY = "saved_model_main_op"
TRAIN_OP_KEY = "saved_model_train_op"
# Signature keys reserved for the init / train op (written by TF2's v1-compatible builder).
INIT_OP_SIGNATURE_KEY = "__saved_model_init_op"
TRAIN_OP_SIGNATURE_KEY = "__saved_model_train_op"
SAVED_MODEL_SCHEMA_VERSION = 1
SAVED_MODEL_FILENAME_PREFIX = "saved_model"
SAVED_MODEL_FILENAME_PB = "saved_model.pb"
SAVED_MODEL_FILENAME_CPB = "saved_model.cpb"
SAVED_MODEL_FILENAME_PBTXT = "saved_model.pbtxt"
VARIABLES_DIRECTORY = "variables"
VARIABLES_FILENAME = "variables"
DEBUG_DIRECTORY = "debug"
DEBUG_INFO_FILENAME_PB = "saved_model_debug_info.pb"
# The type URL prefix of ``Any`` protos: TensorFlow unpacks only its own package name.
ANY_TYPE_URL_PREFIX = "type.googleapis.com/tensorflow."
