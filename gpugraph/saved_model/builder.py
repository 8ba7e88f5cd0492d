"""Write TF1 SavedModels that TensorFlow (and TF Serving) load (``tf.compat.v1.saved_model.Builder``).

Layout written under ``export_dir``::

    saved_model.pb                         SavedModel proto: one MetaGraphDef per tag set
    variables/variables.index              V2 checkpoint written by the graph's own (sharded) Saver
    variables/variables.data-00000-of-00001
    assets/<file>                          copies of the asset files (if any)

Example:
    >>> builder = tf.saved_model.Builder("/models/mlp/1")
    >>> builder.add_meta_graph_and_variables(
    ...     sess, [tf.saved_model.tag_constants.SERVING],
    ...     signature_def_map={"serving_default": tf.saved_model.predict_signature_def({"x": x}, {"y": y})})
    >>> builder.save()                                                           # doctest: +SKIP
    b'/models/mlp/1/saved_model.pb'
"""

import logging
import os
import shutil

from google.protobuf import any_pb2
from google.protobuf import text_format

from gpugraph.framework import dtypes, ops
from gpugraph.protos import meta_graph_pb2, saved_model_pb2, saver_pb2, types_pb2
from gpugraph.saved_model import constants
from gpugraph.saved_model import loader as loader_lib
from gpugraph.util import fileio

_log = logging.getLogger(__name__)


class SavedModelBuilder:
    """Builds a SavedModel: the first meta graph with the variables
    (:meth:`add_meta_graph_and_variables`), later ones sharing them (:meth:`add_meta_graph`), then
    :meth:`save`. The export directory must not exist yet, or be empty.
    """

    def __init__(self, export_dir):
        export_dir = os.fspath(export_dir)
        self._export_dir = export_dir.decode() if isinstance(export_dir, bytes) else export_dir
        self._saved_model = saved_model_pb2.SavedModel(
            saved_model_schema_version=constants.SAVED_MODEL_SCHEMA_VERSION)
        if os.path.exists(self._export_dir):
            if not os.path.isdir(self._export_dir) or os.listdir(self._export_dir):
                raise AssertionError(
                    f"Export directory {self._export_dir} already exists, and isn't empty. Please choose a "
                    f"different export directory, or delete all the contents of the specified directory.")
        else:
            os.makedirs(self._export_dir)
        self._has_saved_variables = False
        self._saved_asset_files = set()

    # -- validation -----------------------------------------------------------------------------
    def _validate_tensor_info(self, tensor_info):
        if tensor_info is None:
            raise AssertionError("All TensorInfo protos used in the SignatureDefs must have the name and dtype "
                                 "fields set.")
        if tensor_info.WhichOneof("encoding") is None:
            raise AssertionError(f"Invalid `tensor_info`: {tensor_info}. All TensorInfo protos used in the "
                                 f"SignatureDefs must have one of the 'encoding' fields (e.g., name or "
                                 f"coo_sparse) set.")
        if tensor_info.WhichOneof("encoding") == "composite_tensor":
            for component in tensor_info.composite_tensor.components:
                self._validate_tensor_info(component)
        elif tensor_info.dtype == types_pb2.DT_INVALID:
            raise AssertionError(f"Invalid `tensor_info`: {tensor_info}. All TensorInfo protos used in the "
                                 f"SignatureDefs must have the dtype field set.")

    def _validate_signature_def_map(self, signature_def_map):
        for key, sig in signature_def_map.items():
            if not isinstance(sig, meta_graph_pb2.SignatureDef):
                if hasattr(sig, "SerializeToString") and type(sig).__name__ == "SignatureDef":
                    signature_def_map[key] = meta_graph_pb2.SignatureDef.FromString(sig.SerializeToString())
                    sig = signature_def_map[key]
                else:
                    raise TypeError(f"signature_def_map[{key!r}] must be a SignatureDef, got "
                                    f"{type(sig).__name__}")
            for info in sig.inputs.values():
                self._validate_tensor_info(info)
            for info in sig.outputs.values():
                self._validate_tensor_info(info)
        for reserved, purpose in ((constants.INIT_OP_SIGNATURE_KEY, "initialization"),
                                  (constants.TRAIN_OP_SIGNATURE_KEY, "the train op")):
            if reserved in signature_def_map:
                raise KeyError(f'SignatureDef map key "{reserved}" is reserved for {purpose}. Please use a '
                               f'different key.')

    # -- collections: assets and the main op ------------------------------------------------------
    def _save_and_write_assets(self, assets_collection_to_add=None):
        """Records each asset (a string Const holding a file path) in the ``saved_model_assets``
        collection and copies its file into ``assets/``."""
        filename_map = {}
        for asset_tensor in assets_collection_to_add or ():
            source = _asset_path_from_tensor(asset_tensor)
            if not source:
                raise ValueError(f"Asset filepath tensor {asset_tensor} in is invalid.")
            filename = _get_asset_filename_to_add(source, filename_map)
            _add_asset_to_collection(filename, asset_tensor)
            filename_map[filename] = source
        if not filename_map:
            _log.info("No assets to write.")
            return
        assets_dir = loader_lib.get_assets_dir(self._export_dir)
        os.makedirs(assets_dir, exist_ok=True)
        for filename, source in filename_map.items():
            dest = os.path.join(assets_dir, filename)
            if os.path.isfile(source) and source != dest and dest not in self._saved_asset_files:
                shutil.copyfile(source, dest)
                self._saved_asset_files.add(dest)

    @staticmethod
    def _maybe_add_main_op(main_op):
        if main_op is None:
            return
        if not isinstance(main_op, ops.Operation):
            raise TypeError(f"Expected {main_op} to be an Operation but got type {type(main_op)} instead.")
        for key in (constants.MAIN_OP_KEY, constants.LEGACY_INIT_OP_KEY):
            if ops.get_collection(key):
                raise ValueError(f"Graph already contains one or more main ops under the collection {key}.")
        ops.add_to_collection(constants.MAIN_OP_KEY, main_op)

    def _add_collections(self, assets_collection, main_op):
        self._save_and_write_assets(assets_collection)
        self._maybe_add_main_op(main_op)

    @staticmethod
    def _maybe_create_saver(saver=None):
        if saver:
            return saver
        from gpugraph.train.saver import Saver
        graph = ops.get_default_graph()
        saveables = graph.get_collection(ops.GraphKeys.GLOBAL_VARIABLES) + \
            graph.get_collection(ops.GraphKeys.SAVEABLE_OBJECTS)
        # Sharded, like TensorFlow's builder: the restore path real SavedModels carry.
        return Saver(saveables, sharded=True, write_version=saver_pb2.SaverDef.V2, allow_empty=True)

    def _tag_and_add_meta_graph(self, meta_graph_def, tags, signature_def_map):
        if isinstance(tags, (str, bytes)):
            tags = [tags]
        for tag in tags:
            meta_graph_def.meta_info_def.tags.append(tag.decode() if isinstance(tag, bytes) else tag)
        for key, sig in (signature_def_map or {}).items():
            meta_graph_def.signature_def[key].CopyFrom(sig)
        self._saved_model.meta_graphs.add().CopyFrom(meta_graph_def)

    # -- public API -----------------------------------------------------------------------------
    def add_meta_graph_and_variables(self, sess, tags, signature_def_map=None, assets_collection=None,
                                     legacy_init_op=None, clear_devices=False, main_op=None,
                                     strip_default_attrs=False, saver=None):
        """Saves the variables of ``sess`` (once per builder, first) and adds the graph as a meta graph
        tagged ``tags``.

        ``main_op`` (or the deprecated ``legacy_init_op``) runs after the restore at load time;
        ``assets_collection`` lists string Const tensors holding paths of files to ship in ``assets/``;
        ``saver`` replaces the default sharded Saver over every global variable.

        Example:
            >>> builder.add_meta_graph_and_variables(sess, ["serve"], {"serving_default": sig})  # doctest: +SKIP
        """
        if self._has_saved_variables:
            raise AssertionError("Graph state including variables and assets has already been saved. Please "
                                 "invoke `add_meta_graph()` instead.")
        signature_def_map = dict(signature_def_map or {})
        self._validate_signature_def_map(signature_def_map)
        main_op = main_op or legacy_init_op
        with sess.graph.as_default():
            self._add_collections(assets_collection, main_op)
            os.makedirs(loader_lib.get_variables_dir(self._export_dir), exist_ok=True)
            saver = self._maybe_create_saver(saver)
            saver.save(sess, loader_lib.get_variables_path(self._export_dir), write_meta_graph=False,
                       write_state=False)
            meta_graph_def = saver.export_meta_graph(clear_devices=clear_devices,
                                                     strip_default_attrs=strip_default_attrs)
        self._tag_and_add_meta_graph(meta_graph_def, tags, signature_def_map)
        self._has_saved_variables = True

    def add_meta_graph(self, tags, signature_def_map=None, assets_collection=None, legacy_init_op=None,
                       clear_devices=False, main_op=None, strip_default_attrs=False, saver=None):
        """Adds the default graph as another meta graph (tagged ``tags``) sharing the saved variables."""
        if not self._has_saved_variables:
            raise AssertionError("Graph state including variables and assets has not been saved yet. Please "
                                 "invoke `add_meta_graph_and_variables()` first.")
        signature_def_map = dict(signature_def_map or {})
        self._validate_signature_def_map(signature_def_map)
        main_op = main_op if main_op is not None else legacy_init_op
        self._add_collections(assets_collection, main_op)
        saver = self._maybe_create_saver(saver)
        meta_graph_def = saver.export_meta_graph(clear_devices=clear_devices,
                                                 strip_default_attrs=strip_default_attrs)
        self._tag_and_add_meta_graph(meta_graph_def, tags, signature_def_map)

    def save(self, as_text=False):
        """Writes ``saved_model.pb`` (or ``saved_model.pbtxt`` with ``as_text``) atomically; returns
        its path as bytes, as TensorFlow does."""
        os.makedirs(self._export_dir, exist_ok=True)
        if as_text:
            path = os.path.join(self._export_dir, constants.SAVED_MODEL_FILENAME_PBTXT)
            data = text_format.MessageToString(self._saved_model,
                                               descriptor_pool=loader_lib._text_pool()).encode("utf-8")
        else:
            path = os.path.join(self._export_dir, constants.SAVED_MODEL_FILENAME_PB)
            data = self._saved_model.SerializeToString(deterministic=True)
        fileio.atomic_write(path, data)
        _log.info("SavedModel written to: %s", path)
        return path.encode("utf-8", "surrogateescape")


Builder = SavedModelBuilder


def _asset_path_from_tensor(path_tensor):
    """The file path held by an asset tensor: a scalar string Const."""
    if not isinstance(path_tensor, ops.Tensor):
        raise TypeError(f"Asset path tensor {path_tensor} must be a Tensor.")
    if path_tensor.op.type != "Const":
        raise TypeError(f"Asset path tensor {path_tensor} must be of type constant.Has type "
                        f"{path_tensor.op.type} instead.")
    if path_tensor.dtype != dtypes.string:
        raise TypeError(f"Asset path tensor {path_tensor}` must be of dtype string.Has type "
                        f"{path_tensor.dtype} instead.")
    values = path_tensor.op._attrs["value"].tensor.string_val
    if len(values) != 1:
        raise TypeError(f"Asset path tensor {path_tensor} must be a scalar.")
    return values[0].decode("utf-8", "surrogateescape")


def _get_asset_filename_to_add(asset_filepath, filename_map):
    """The basename to store an asset under; ``name_1``, ``name_2``, … when different files share it."""
    filename = os.path.basename(asset_filepath)
    if filename not in filename_map or filename_map[filename] == asset_filepath:
        return filename
    with open(asset_filepath, "rb") as a, open(filename_map[filename], "rb") as b:
        if a.read() == b.read():
            return filename
    i, unique = 1, filename
    while unique in filename_map:
        unique = f"{filename}_{i}"
        i += 1
    return unique


def _add_asset_to_collection(asset_filename, asset_tensor):
    asset_proto = meta_graph_pb2.AssetFileDef(filename=asset_filename)
    asset_proto.tensor_info.name = asset_tensor.name
    # Packed by hand: the type URL must name TensorFlow's package, or TensorFlow cannot unpack it.
    packed = any_pb2.Any(type_url=constants.ANY_TYPE_URL_PREFIX + "AssetFileDef",
                         value=asset_proto.SerializeToString(deterministic=True))
    ops.add_to_collection(constants.ASSETS_KEY, packed)
