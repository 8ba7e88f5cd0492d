"""``tf.compat.v1.saved_model.simple_save``: the one-call export of a serving SavedModel.

Example:
    >>> tf.saved_model.simple_save(sess, "/models/mlp/1", inputs={"x": x}, outputs={"y": y})  # doctest: +SKIP
"""

from gpugraph.framework import ops
from gpugraph.saved_model import builder as builder_lib
from gpugraph.saved_model import signature_constants, signature_def_utils, tag_constants


def simple_save(session, export_dir, inputs, outputs, legacy_init_op=None):
    """Writes a SavedModel tagged ``serve`` with one ``serving_default`` predict signature
    (``inputs`` and ``outputs``: dicts of key → Tensor), the session's variables, the graph's
    ``asset_filepaths`` collection as assets, devices cleared, and ``legacy_init_op`` as main op."""
    signature_def_map = {
        signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY:
            signature_def_utils.predict_signature_def(inputs, outputs)
    }
    b = builder_lib.SavedModelBuilder(export_dir)
    b.add_meta_graph_and_variables(
        session, tags=[tag_constants.SERVING], signature_def_map=signature_def_map,
        assets_collection=session.graph.get_collection(ops.GraphKeys.ASSET_FILEPATHS),
        main_op=legacy_init_op, clear_devices=True)
    b.save()
