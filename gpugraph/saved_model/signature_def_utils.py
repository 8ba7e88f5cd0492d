"""Build and check SignatureDefs (``tf.compat.v1.saved_model.signature_def_utils``).

Example:
    >>> sig = predict_signature_def(inputs={"x": x}, outputs={"y": y})        # doctest: +SKIP
    >>> sig.method_name
    'tensorflow/serving/predict'
"""

from gpugraph.framework import dtypes, ops
from gpugraph.protos import meta_graph_pb2, types_pb2
from gpugraph.saved_model import signature_constants as sc
from gpugraph.saved_model import utils


def build_signature_def(inputs=None, outputs=None, method_name=None, defaults=None):
    """A SignatureDef from maps of key → TensorInfo (``inputs``, ``outputs``), a method name, and
    ``defaults`` (key → constant Tensor or TensorProto) for optional inputs.

    Example:
        >>> build_signature_def({"x": build_tensor_info(x)}, {"y": build_tensor_info(y)},
        ...                     PREDICT_METHOD_NAME)                              # doctest: +SKIP
    """
    signature_def = meta_graph_pb2.SignatureDef()
    for key, info in (inputs or {}).items():
        signature_def.inputs[key].CopyFrom(info)
    for key, info in (outputs or {}).items():
        signature_def.outputs[key].CopyFrom(info)
    if method_name is not None:
        signature_def.method_name = method_name
    for key, default in (defaults or {}).items():
        if hasattr(default, "SerializeToString") and not isinstance(default, ops.Tensor):
            signature_def.defaults[key].ParseFromString(default.SerializeToString())
        elif isinstance(default, ops.Tensor) and default.op.type == "Const":
            signature_def.defaults[key].CopyFrom(default.op._attrs["value"].tensor)
        else:
            raise ValueError(f"Unable to convert object {default!s} of type {type(default)} to TensorProto.")
    return signature_def


def predict_signature_def(inputs, outputs):
    """A ``tensorflow/serving/predict`` SignatureDef from dicts of key → Tensor.

    Example:
        >>> predict_signature_def({"x": x}, {"probs": probs})                    # doctest: +SKIP
    """
    if not inputs:
        raise ValueError("Prediction `inputs` cannot be None or empty.")
    if not outputs:
        raise ValueError("Prediction `outputs` cannot be None or empty.")
    return build_signature_def({k: utils.build_tensor_info(t) for k, t in inputs.items()},
                               {k: utils.build_tensor_info(t) for k, t in outputs.items()},
                               sc.PREDICT_METHOD_NAME)


def _dtype_of(info):
    return dtypes.as_dtype(info.dtype).name


def regression_signature_def(examples, predictions):
    """A ``tensorflow/serving/regress`` SignatureDef: string ``examples`` → float ``predictions``."""
    if examples is None:
        raise ValueError("Regression `examples` cannot be None.")
    if not isinstance(examples, ops.Tensor):
        raise ValueError(f"Expected regression `examples` to be of type Tensor. Found `examples` of type "
                         f"{type(examples)}.")
    if predictions is None:
        raise ValueError("Regression `predictions` cannot be None.")
    input_info = utils.build_tensor_info(examples)
    if input_info.dtype != types_pb2.DT_STRING:
        raise ValueError(f"Regression input tensors must be of type string. Found tensors with type "
                         f"{_dtype_of(input_info)}.")
    output_info = utils.build_tensor_info(predictions)
    if output_info.dtype != types_pb2.DT_FLOAT:
        raise ValueError(f"Regression output tensors must be of type float. Found tensors with type "
                         f"{_dtype_of(output_info)}.")
    return build_signature_def({sc.REGRESS_INPUTS: input_info}, {sc.REGRESS_OUTPUTS: output_info},
                               sc.REGRESS_METHOD_NAME)


def classification_signature_def(examples, classes, scores):
    """A ``tensorflow/serving/classify`` SignatureDef: string ``examples`` → string ``classes`` and/or
    float ``scores``."""
    if examples is None:
        raise ValueError("Classification `examples` cannot be None.")
    if not isinstance(examples, ops.Tensor):
        raise ValueError(f"Classification `examples` must be a string Tensor. Found `examples` of type "
                         f"{type(examples)}.")
    if classes is None and scores is None:
        raise ValueError("Classification `classes` and `scores` cannot both be None.")
    input_info = utils.build_tensor_info(examples)
    if input_info.dtype != types_pb2.DT_STRING:
        raise ValueError(f"Classification input tensors must be of type string. Found tensors of type "
                         f"{_dtype_of(input_info)}")
    outputs = {}
    if classes is not None:
        info = utils.build_tensor_info(classes)
        if info.dtype != types_pb2.DT_STRING:
            raise ValueError(f"Classification classes must be of type string Tensor. Found tensors of type "
                             f"{_dtype_of(info)}.")
        outputs[sc.CLASSIFY_OUTPUT_CLASSES] = info
    if scores is not None:
        info = utils.build_tensor_info(scores)
        if info.dtype != types_pb2.DT_FLOAT:
            raise ValueError("Classification scores must be a float Tensor.")
        outputs[sc.CLASSIFY_OUTPUT_SCORES] = info
    return build_signature_def({sc.CLASSIFY_INPUTS: input_info}, outputs, sc.CLASSIFY_METHOD_NAME)


def op_signature_def(op, key):
    """A SignatureDef whose one output ``key`` names ``op`` (the reserved init/train op signatures)."""
    return build_signature_def(outputs={key: utils.build_tensor_info_from_op(op)})


def load_op_from_signature_def(signature_def, key, import_scope=None):
    """The op (or tensor) that ``op_signature_def`` recorded under ``key``, in the default graph."""
    from gpugraph import errors
    try:
        return utils.get_element_from_tensor_info(signature_def.outputs[key], import_scope=import_scope)
    except (KeyError, ValueError):
        raise errors.NotFoundError(
            None, None, f'The key "{key}" could not be found in the graph. Please make sure the SavedModel '
                        f'was created by the internal _SavedModelBuilder. If you are using the public API, '
                        f'please make sure the SignatureDef in the SavedModel does not contain the key "{key}".')


def is_valid_signature(signature_def):
    """Whether ``signature_def`` is a well-formed predict, regress or classify signature."""
    if signature_def is None:
        return False
    return (_is_valid_predict(signature_def) or _is_valid_regression(signature_def)
            or _is_valid_classification(signature_def))


def _is_valid_predict(sig):
    return sig.method_name == sc.PREDICT_METHOD_NAME and bool(sig.inputs) and bool(sig.outputs)


def _is_valid_regression(sig):
    return (sig.method_name == sc.REGRESS_METHOD_NAME
            and set(sig.inputs) == {sc.REGRESS_INPUTS}
            and sig.inputs[sc.REGRESS_INPUTS].dtype == types_pb2.DT_STRING
            and set(sig.outputs) == {sc.REGRESS_OUTPUTS}
            and sig.outputs[sc.REGRESS_OUTPUTS].dtype == types_pb2.DT_FLOAT)


def _is_valid_classification(sig):
    allowed = {sc.CLASSIFY_OUTPUT_CLASSES, sc.CLASSIFY_OUTPUT_SCORES}
    if sig.method_name != sc.CLASSIFY_METHOD_NAME or set(sig.inputs) != {sc.CLASSIFY_INPUTS}:
        return False
    if sig.inputs[sc.CLASSIFY_INPUTS].dtype != types_pb2.DT_STRING:
        return False
    if not sig.outputs or set(sig.outputs) - allowed:
        return False
    if sc.CLASSIFY_OUTPUT_CLASSES in sig.outputs and \
            sig.outputs[sc.CLASSIFY_OUTPUT_CLASSES].dtype != types_pb2.DT_STRING:
        return False
    if sc.CLASSIFY_OUTPUT_SCORES in sig.outputs and \
            sig.outputs[sc.CLASSIFY_OUTPUT_SCORES].dtype != types_pb2.DT_FLOAT:
        return False
    return True
