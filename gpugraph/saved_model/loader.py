"""Load a TF1 SavedModel into a Session (``tf.compat.v1.saved_model.loader``).

``load`` does what TensorFlow's loader does, in the same order:

1. read ``saved_model.pb`` (or ``saved_model.pbtxt``) and pick the meta graph whose tag set equals
   ``tags`` (an error lists the tag sets there are);
2. import that MetaGraphDef into ``sess.graph`` (collections included) and build its Saver;
3. restore the variables from ``<export_dir>/variables/variables``;
4. run the init op — the ``__saved_model_init_op`` signature, else the ``saved_model_main_op``
   collection, else the ``legacy_init_op`` collection — with every asset tensor fed the absolute
   path of its file under ``<export_dir>/assets/``.

Example:
    >>> import gpugraph as tf
    >>> with tf.Session(graph=tf.Graph()) as sess:
    ...     mg = tf.saved_model.loader.load(sess, [tf.saved_model.tag_constants.SERVING], "/models/mlp/1")
    ...     sig = mg.signature_def["serving_default"]
    ...     y = sess.run(sig.outputs["y"].name, {sig.inputs["x"].name: batch})  # doctest: +SKIP
"""

import logging
import os

from google.protobuf import message as _pb_message
from google.protobuf import text_format

from gpugraph.framework import meta_graph as meta_graph_lib
from gpugraph.framework import ops
from gpugraph.protos import meta_graph_pb2, saved_model_pb2
from gpugraph.saved_model import constants
from gpugraph.saved_model import signature_def_utils

_log = logging.getLogger(__name__)


def _text_pool():
    """The descriptor pool under TensorFlow's package name, so text-format ``Any`` fields written by
    TensorFlow (``[type.googleapis.com/tensorflow.AssetFileDef]``) resolve."""
    pool_fn = getattr(meta_graph_lib, "_tensorflow_alias_pool", None)
    return pool_fn() if pool_fn is not None else None


def get_variables_dir(export_dir):
    return os.path.join(os.fspath(export_dir), constants.VARIABLES_DIRECTORY)


def get_variables_path(export_dir):
    """The checkpoint prefix of a SavedModel's variables: ``<export_dir>/variables/variables``."""
    return os.path.join(get_variables_dir(export_dir), constants.VARIABLES_FILENAME)


def get_assets_dir(export_dir):
    return os.path.join(os.fspath(export_dir), constants.ASSETS_DIRECTORY)


def parse_saved_model(export_dir):
    """The ``SavedModel`` proto of ``export_dir`` (binary ``saved_model.pb`` first, then
    ``saved_model.pbtxt``). Raises OSError naming the file when it is missing or unreadable.

    Example:
        >>> parse_saved_model("/models/mlp/1").meta_graphs[0].meta_info_def.tags  # doctest: +SKIP
        ['serve']
    """
    export_dir = os.fspath(export_dir)
    export_dir = export_dir.decode() if isinstance(export_dir, bytes) else export_dir
    pb = os.path.join(export_dir, constants.SAVED_MODEL_FILENAME_PB)
    pbtxt = os.path.join(export_dir, constants.SAVED_MODEL_FILENAME_PBTXT)
    saved_model = saved_model_pb2.SavedModel()
    if os.path.isfile(pb):
        with open(pb, "rb") as f:
            data = f.read()
        try:
            saved_model.ParseFromString(data)
        except (_pb_message.DecodeError, RuntimeError, ValueError) as e:
            raise OSError(f"Cannot parse file {pb}: {e} (the file is not a SavedModel protobuf, or it "
                          f"is truncated: {len(data)} bytes).") from None
    elif os.path.isfile(pbtxt):
        with open(pbtxt, "rb") as f:
            data = f.read()
        try:
            text_format.Merge(data.decode("utf-8"), saved_model, allow_unknown_field=True,
                              descriptor_pool=_text_pool())
        except (UnicodeDecodeError, text_format.ParseError) as e:
            raise OSError(f"Cannot parse file {pbtxt}: {e}.") from None
    else:
        what = "is not a directory" if not os.path.isdir(export_dir) else "has neither file"
        raise OSError(f"SavedModel file does not exist at: {export_dir}{os.path.sep}"
                      f"{{{constants.SAVED_MODEL_FILENAME_PBTXT}|{constants.SAVED_MODEL_FILENAME_PB}}} "
                      f"({export_dir} {what})")
    return saved_model


def maybe_saved_model_directory(export_dir):
    """True when ``export_dir`` has a SavedModel file (nothing is parsed).

    Example:
        >>> maybe_saved_model_directory("/tmp")
        False
    """
    export_dir = os.fspath(export_dir)
    return any(os.path.isfile(os.path.join(export_dir, name)) for name in (
        constants.SAVED_MODEL_FILENAME_PB, constants.SAVED_MODEL_FILENAME_PBTXT,
        constants.SAVED_MODEL_FILENAME_CPB))


contains_saved_model = maybe_saved_model_directory


def _asset_protos(meta_graph_def):
    """The AssetFileDefs of a meta graph: the ``asset_file_def`` field, or (older SavedModels) the
    ``saved_model_assets`` collection of packed ``Any`` protos."""
    if meta_graph_def.asset_file_def:
        return list(meta_graph_def.asset_file_def)
    protos = []
    collection = meta_graph_def.collection_def.get(constants.ASSETS_KEY)
    if collection is not None:
        for packed in collection.any_list.value:
            # The type URL names TensorFlow's package; the bytes are the same message.
            if not packed.type_url.endswith(".AssetFileDef"):
                raise ValueError(f"collection {constants.ASSETS_KEY!r} holds a {packed.type_url}, expected "
                                 f"an AssetFileDef")
            protos.append(meta_graph_pb2.AssetFileDef.FromString(packed.value))
    return protos


def get_asset_tensors(export_dir, meta_graph_def_to_load, import_scope=None):
    """Maps each asset tensor name (scoped) to the absolute path (bytes) of its file in the
    SavedModel's ``assets/`` directory: the feeds of the init op.

    Example:
        >>> get_asset_tensors("/models/vocab/1", mg)                              # doctest: +SKIP
        {'vocab_file:0': b'/models/vocab/1/assets/vocab.txt'}
    """
    assets_dir = os.path.abspath(get_assets_dir(export_dir))
    result = {}
    for asset in _asset_protos(meta_graph_def_to_load):
        name = meta_graph_lib.prepend_name_scope(asset.tensor_info.name, import_scope)
        filename = asset.filename.decode() if isinstance(asset.filename, bytes) else asset.filename
        result[name] = os.path.join(assets_dir, filename).encode("utf-8", "surrogateescape")
    return result


def _get_op_from_collection(meta_graph_def, key):
    """The one op of collection ``key`` (as imported into the default graph), or None."""
    if key not in meta_graph_def.collection_def:
        return None
    names = meta_graph_def.collection_def[key].node_list.value
    if len(names) != 1:
        raise RuntimeError(f"Expected exactly one SavedModel init op. Found {len(names)}: {list(names)}.")
    return ops.get_collection(key)[0]


def _get_op_from_signature_def(meta_graph_def, key, import_scope):
    if key in meta_graph_def.signature_def:
        return signature_def_utils.load_op_from_signature_def(meta_graph_def.signature_def[key], key,
                                                              import_scope)
    return None


def get_init_op(meta_graph_def, import_scope=None):
    """The op to run after restoring: the init-op signature, else the main op, else the legacy init op."""
    return (_get_op_from_signature_def(meta_graph_def, constants.INIT_OP_SIGNATURE_KEY, import_scope)
            or _get_op_from_collection(meta_graph_def, constants.MAIN_OP_KEY)
            or _get_op_from_collection(meta_graph_def, constants.LEGACY_INIT_OP_KEY))


def get_train_op(meta_graph_def, import_scope=None):
    """The train op recorded by the builder (never run by ``load``), or None."""
    op = _get_op_from_signature_def(meta_graph_def, constants.TRAIN_OP_SIGNATURE_KEY, import_scope)
    return op if op is not None else _get_op_from_collection(meta_graph_def, constants.TRAIN_OP_KEY)


def _tag_text(tags):
    return ", ".join(repr(t) for t in tags)


class SavedModelLoader:
    """Loads the graph and variables of one SavedModel; each step is its own method, as in TensorFlow.

    Example:
        >>> loader = SavedModelLoader("/models/mlp/1")                              # doctest: +SKIP
        >>> mg = loader.load(sess, ["serve"])                                        # doctest: +SKIP
    """

    def __init__(self, export_dir):
        self._export_dir = os.fspath(export_dir)
        self._variables_path = get_variables_path(self._export_dir)
        self._saved_model = parse_saved_model(self._export_dir)

    export_dir = property(lambda self: self._export_dir)
    variables_path = property(lambda self: self._variables_path)
    saved_model = property(lambda self: self._saved_model)

    def get_meta_graph_def_from_tags(self, tags):
        """The MetaGraphDef whose tag set equals ``tags``; RuntimeError listing the tag sets otherwise."""
        if isinstance(tags, (str, bytes)):
            tags = [tags]
        wanted = {t.decode() if isinstance(t, bytes) else t for t in tags}
        available = []
        for mg in self._saved_model.meta_graphs:
            have = set(mg.meta_info_def.tags)
            available.append(have)
            if have == wanted:
                return mg
        listed = ", ".join("{" + _tag_text(sorted(s)) + "}" for s in available) or "none"
        raise RuntimeError(
            f"MetaGraphDef associated with tags {_tag_text(sorted(wanted))} could not be found in SavedModel "
            f"{self._export_dir}, with available tags '{listed}'. To inspect available tag-sets in the "
            f"SavedModel, run `gpugraph inspect {self._export_dir}`.")

    def load_graph(self, graph, tags, import_scope=None, **saver_kwargs):
        """Imports the meta graph for ``tags`` into ``graph``; returns ``(saver, return elements)``."""
        from gpugraph.train import saver as saver_lib
        mg = self.get_meta_graph_def_from_tags(tags)
        with graph.as_default():
            return saver_lib._import_meta_graph_with_return_elements(mg, import_scope=import_scope,
                                                                     **saver_kwargs)

    def restore_variables(self, sess, saver, import_scope=None):
        """Restores the variables into ``sess`` with ``saver`` (None is fine when there are none)."""
        with sess.graph.as_default():
            graph = sess.graph
            saveables = graph.get_collection(ops.GraphKeys.GLOBAL_VARIABLES, import_scope) + \
                graph.get_collection(ops.GraphKeys.SAVEABLE_OBJECTS, import_scope)
            if saver is None and not saveables:
                _log.info("The specified SavedModel has no variables; no checkpoints were restored.")
            elif saver is not None and hasattr(saver, "restore"):
                saver.restore(sess, self._variables_path)
            else:
                raise ValueError("No tf.train.Saver object was passed to the function "
                                 "`SavedModelLoader.restore_variables`. Since there are variables in the graph, "
                                 "a saver is required.")

    def run_init_ops(self, sess, tags, import_scope=None):
        """Runs the init op (if any) with the asset tensors fed their absolute file paths."""
        mg = self.get_meta_graph_def_from_tags(tags)
        with sess.graph.as_default():
            assets = get_asset_tensors(self._export_dir, mg, import_scope=import_scope)
            init_op = get_init_op(mg, import_scope)
            if init_op is not None:
                sess.run(fetches=[init_op], feed_dict=assets)

    def load(self, sess, tags, import_scope=None, **saver_kwargs):
        """Imports the graph, restores the variables, runs the init op; returns the MetaGraphDef."""
        with sess.graph.as_default():
            saver, _ = self.load_graph(sess.graph, tags, import_scope, **saver_kwargs)
            self.restore_variables(sess, saver, import_scope)
            self.run_init_ops(sess, tags, import_scope)
        return self.get_meta_graph_def_from_tags(tags)


def load(sess, tags, export_dir, import_scope=None, **saver_kwargs):
    """``tf.compat.v1.saved_model.loader.load``: loads the meta graph tagged ``tags`` from
    ``export_dir`` into ``sess`` and restores its variables; returns the MetaGraphDef (whose
    ``signature_def`` names the input and output tensors).

    ``import_scope`` prefixes every loaded node name (not the names in the returned proto);
    ``saver_kwargs`` pass on to ``import_meta_graph`` (e.g. ``clear_devices=True``).

    Example:
        >>> with tf.Session(graph=tf.Graph()) as sess:
        ...     mg = tf.saved_model.loader.load(sess, ["serve"], "/models/mlp/1")  # doctest: +SKIP
    """
    return SavedModelLoader(export_dir).load(sess, tags, import_scope, **saver_kwargs)
