"""Builds ops from their declarations: type-attr inference, defaults, and value → Tensor conversion.

``apply_op`` is what every API function calls; it is TensorFlow's ``_apply_op_helper`` in spirit.

Example:
    >>> from gpugraph.framework.op_builder import apply_op
    >>> y = apply_op("Relu", features=[[-1.0, 2.0]])       # a Const is made for the list
    >>> y.op.type, y.dtype
    ('Relu', gpugraph.float32)
"""

import numpy as np

from gpugraph.framework import dtypes, ops, registry, tensor_shape

_conversion_functions = []  # (type, fn(value, dtype, name, as_ref) -> Tensor)


def register_tensor_conversion_function(base_type, conversion_func, priority=100):
    """Lets objects of ``base_type`` (e.g. Variable) be used wherever a Tensor is expected."""
    _conversion_functions.append((priority, base_type, conversion_func))
    _conversion_functions.sort(key=lambda e: e[0])


def convert_to_tensor(value, dtype=None, name=None, preferred_dtype=None, as_ref=False,
                      dtype_hint=None):
    """Returns ``value`` as a Tensor of the default graph (a Const for Python/NumPy values).

    Example:
        >>> tf.convert_to_tensor([1, 2]).dtype
        gpugraph.int32
    """
    preferred_dtype = preferred_dtype or dtype_hint
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    if isinstance(value, ops.Tensor):
        if dtype is not None and not dtype.is_compatible_with(value.dtype):
            raise ValueError(f"Tensor conversion requested dtype {dtype.name} for Tensor "
                             f"{value.name!r} with dtype {value.dtype.name}")
        if as_ref or not value.dtype._is_ref_dtype:
            return value
        return value  # a ref tensor is consumed as its value by non-ref inputs
    for _, base_type, fn in _conversion_functions:
        if isinstance(value, base_type):
            result = fn(value, dtype=dtype, name=name, as_ref=as_ref)
            if dtype is not None and not dtype.is_compatible_with(result.dtype):
                raise ValueError(f"Tensor conversion requested dtype {dtype.name} for {value!r} "
                                 f"with dtype {result.dtype.name}")
            return result
    if isinstance(value, ops.Operation):
        raise TypeError(f"can't convert Operation {value.name!r} to Tensor (an Operation has no "
                        "value; did you mean one of its outputs?)")
    if dtype is None and preferred_dtype is not None:
        try:
            return constant(value, dtype=preferred_dtype, name=name)
        except (TypeError, ValueError):
            pass
    return constant(value, dtype=dtype, name=name)


def convert_n_to_tensor(values, dtype=None, name=None):
    return [convert_to_tensor(v, dtype=dtype, name=None if name is None else f"{name}_{i}")
            for i, v in enumerate(values)]


def constant(value, dtype=None, shape=None, name="Const", verify_shape=False):
    """``tf.constant``: a Const op holding ``value`` (broadcast to ``shape`` if it is a scalar).

    Example:
        >>> tf.constant(0.0, shape=[2, 2]).shape.as_list()
        [2, 2]
    """
    from gpugraph.framework import tensor_util
    proto = tensor_util.make_tensor_proto(value, dtype=dtype, shape=shape, verify_shape=verify_shape,
                                          allow_broadcast=True)
    g = ops.get_default_graph()
    op = g.create_op("Const", [], attrs={"value": proto, "dtype": dtypes.as_dtype(proto.dtype)},
                     name=name or "Const")
    return op.outputs[0]


def _is_tensorish(value):
    """True for Tensors and for objects with a registered conversion (Variables, …)."""
    if isinstance(value, ops.Tensor):
        return True
    return any(isinstance(value, base) for _, base, _ in _conversion_functions)


def _static_dtype(value):
    """The dtype of a Tensor or Variable-like value without converting it (no new nodes)."""
    if isinstance(value, ops.Tensor):
        return value.dtype.base_dtype
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, dtypes.DType) and hasattr(value, "_as_graph_element"):
        return dtype.base_dtype
    return None


def apply_op(op_type, name=None, **kwargs):
    """Adds a registered op to the default graph.

    Inputs are passed by arg name, attrs by attr name. Type attrs are inferred from Tensor inputs;
    Python values are converted with the inferred dtype (or the attr's default) into Consts named
    after the argument under the op's name, as TensorFlow names them ("Reshape/shape"). Returns the
    single output Tensor, the list of outputs, or the Operation when the op has no outputs.
    """
    spec = registry.get_op_spec(op_type)
    graph = ops.get_default_graph()
    attr_values = {}
    for key in spec.attrs:
        if key in kwargs:
            attr_values[key] = kwargs.pop(key)

    input_values = {}
    for arg in spec.inputs:
        if arg.name not in kwargs:
            raise TypeError(f"{op_type}: missing required input {arg.name!r}")
        input_values[arg.name] = kwargs.pop(arg.name)
    if kwargs:
        raise TypeError(f"{op_type}: unexpected arguments {sorted(kwargs)}")

    # 1. Infer type attrs from inputs that are already tensors (or variables).
    for arg in spec.inputs:
        value = input_values[arg.name]
        if arg.type_attr and arg.type_attr not in attr_values:
            candidates = value if arg.number_attr and isinstance(value, (list, tuple)) else [value]
            for v in candidates:
                dtype = _static_dtype(v)
                if dtype is not None:
                    attr_values[arg.type_attr] = dtype
                    break
    with graph.name_scope(name or op_type) as scope:
        inputs = _convert_inputs(op_type, spec, input_values, attr_values)
        _check_input_dtypes(op_type, spec, inputs, attr_values)
        _check_attrs(op_type, spec, attr_values)
        attr_values = {k: v for k, v in attr_values.items() if v is not None}
        op = graph.create_op(op_type, inputs, attrs=attr_values, name=scope)
    outs = op.outputs
    if not outs:
        return op
    if len(spec.outputs) == 1 and not spec.outputs[0].is_list:
        return outs[0]
    return outs


def _convert_inputs(op_type, spec, input_values, attr_values):
    inputs = []
    for arg in spec.inputs:
        value = input_values[arg.name]
        preferred = None
        if arg.type_attr and arg.type_attr not in attr_values and spec.attrs[arg.type_attr].has_default:
            preferred = spec.attrs[arg.type_attr].default
        if arg.number_attr or arg.type_list_attr:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{op_type}: input {arg.name!r} expects a list of tensors, got {value!r}")
            if arg.number_attr:
                dtype = attr_values.get(arg.type_attr) if arg.type_attr else arg.type
                tensors = [_convert_input(op_type, arg, v, dtype, preferred, f"{arg.name}_{i}")
                           for i, v in enumerate(value)]
                if tensors and arg.type_attr and arg.type_attr not in attr_values:
                    attr_values[arg.type_attr] = tensors[0].dtype.base_dtype
                attr_values.setdefault(arg.number_attr, len(tensors))
            else:
                given = attr_values.get(arg.type_list_attr)
                tensors = [_convert_input(op_type, arg, v, given[i] if given else None, None,
                                          f"{arg.name}_{i}") for i, v in enumerate(value)]
                attr_values.setdefault(arg.type_list_attr, [t.dtype.base_dtype for t in tensors])
            inputs.extend(tensors)
        else:
            dtype = attr_values.get(arg.type_attr) if arg.type_attr else arg.type
            t = _convert_input(op_type, arg, value, dtype, preferred)
            if arg.type_attr and arg.type_attr not in attr_values:
                attr_values[arg.type_attr] = t.dtype.base_dtype
            inputs.append(t)
    return inputs


def _check_input_dtypes(op_type, spec, inputs, attr_values):
    expected = spec.input_dtypes({**_defaults(spec), **attr_values})
    for t, want, arg_name in zip(inputs, expected, _arg_names(spec.inputs, attr_values)):
        have = t.dtype
        if want._is_ref_dtype:
            if not have._is_ref_dtype:
                raise TypeError(f"{op_type}: input {arg_name!r} must be a reference (a Variable), "
                                f"got {t.name!r} of dtype {have.name}")
            ok = have == want
        else:
            ok = have.base_dtype == want
        if not ok:
            raise TypeError(f"Input {arg_name!r} of {op_type!r} op has type {have.name} that does not "
                            f"match expected type {want.name} (tensor {t.name!r})")


def _check_attrs(op_type, spec, attr_values):
    for key, attr_spec in spec.attrs.items():
        value = attr_values.get(key)
        if value is None:
            if attr_spec.has_default:
                continue
            raise TypeError(f"{op_type}: missing required attr {key!r}")
        if attr_spec.allowed is not None and attr_spec.type == "type":
            if dtypes.as_dtype(value).base_dtype not in attr_spec.allowed:
                allowed = ", ".join(t.name for t in attr_spec.allowed)
                raise TypeError(f"Value passed to parameter {key!r} of {op_type!r} has DataType "
                                f"{dtypes.as_dtype(value).name} not in list of allowed values: {allowed}")
        if attr_spec.allowed is not None and attr_spec.type == "string":
            v = value.decode() if isinstance(value, bytes) else value
            if v not in attr_spec.allowed:
                raise ValueError(f"{op_type}: attr {key!r} must be one of {attr_spec.allowed}, got {v!r}")
        if attr_spec.minimum is not None:
            if attr_spec.type == "int" and value < attr_spec.minimum:
                raise ValueError(f"{op_type}: attr {key!r} must be >= {attr_spec.minimum}, got {value}")
            if attr_spec.type.startswith("list(") and len(value) < attr_spec.minimum:
                raise ValueError(f"Attr {key!r} of {op_type!r} Op passed list of length "
                                 f"{len(value)} less than minimum {attr_spec.minimum}.")


def _defaults(spec):
    return {k: a.default for k, a in spec.attrs.items() if a.has_default}


def _arg_names(args, attr_values):
    for arg in args:
        if arg.number_attr:
            for i in range(int(attr_values.get(arg.number_attr, 0))):
                yield f"{arg.name}[{i}]"
        elif arg.type_list_attr:
            for i in range(len(attr_values.get(arg.type_list_attr, ()))):
                yield f"{arg.name}[{i}]"
        else:
            yield arg.name


def _convert_input(op_type, arg, value, dtype, preferred=None, name=None):
    have = _static_dtype(value)
    if dtype is not None and have is not None and have != dtypes.as_dtype(dtype).base_dtype:
        raise TypeError(f"Input {arg.name!r} of {op_type!r} Op has type {have.name} that does not match "
                        f"type {dtypes.as_dtype(dtype).base_dtype.name} of the other inputs sharing its "
                        f"type attr (tensor {getattr(value, 'name', value)!r})")
    try:
        return convert_to_tensor(value, dtype=dtype, name=name or arg.name, as_ref=arg.is_ref,
                                 preferred_dtype=preferred)
    except (TypeError, ValueError) as e:
        want = f" of dtype {dtypes.as_dtype(dtype).name}" if dtype is not None else ""
        raise type(e)(f"{op_type}: could not convert input {arg.name!r}{want}: {e}") from None


def constant_value(tensor):
    """The NumPy value of ``tensor`` if it can be computed while building the graph, else None.

    Understands Const, Identity, Shape/Size/Rank of statically known shapes, Pack of constants,
    Cast, Fill of constants and ConcatV2 of constants — what shape functions need for shape inputs.
    """
    from gpugraph.framework import tensor_util
    if not isinstance(tensor, ops.Tensor):
        return None
    op = tensor.op
    t = op.type
    if t == "Const":
        return tensor_util.MakeNdarray(op._attrs["value"].tensor)
    if t in ("Identity", "StopGradient", "Snapshot"):
        return constant_value(op.inputs[0])
    if t == "Shape":
        s = op.inputs[0].shape
        if s.is_fully_defined():
            return np.array(s.as_list(), dtype=op.get_attr("out_type").as_numpy_dtype)
        return None
    if t == "Size":
        s = op.inputs[0].shape
        if s.is_fully_defined():
            return np.array(s.num_elements(), dtype=op.get_attr("out_type").as_numpy_dtype)
        return None
    if t == "Rank":
        s = op.inputs[0].shape
        return np.array(s.ndims, dtype=np.int32) if s.ndims is not None else None
    if t == "Cast":
        v = constant_value(op.inputs[0])
        return None if v is None else v.astype(op.get_attr("DstT").as_numpy_dtype)
    if t == "Pack":
        vals = [constant_value(x) for x in op.inputs]
        if any(v is None for v in vals):
            return None
        return np.stack(vals, axis=op.get_attr("axis"))
    if t == "ConcatV2":
        vals = [constant_value(x) for x in op.inputs]
        if any(v is None for v in vals):
            return None
        return np.concatenate(vals[:-1], axis=int(vals[-1]))
    if t == "Range":
        vals = [constant_value(x) for x in op.inputs]
        if any(v is None for v in vals):
            return None
        return np.arange(*[v.item() for v in vals]).astype(op.get_attr("Tidx").as_numpy_dtype)
    if t == "Fill":
        dims, value = constant_value(op.inputs[0]), constant_value(op.inputs[1])
        if dims is None or value is None:
            return None
        return np.full(dims, value)
    if t == "StridedSlice":  # e.g. tf.shape(x)[1] where x.shape[1] is static
        from gpugraph.ops.slicing_ops import strided_slice_constant_value
        return strided_slice_constant_value(op)
    return None


def constant_value_as_shape(tensor):
    """A TensorShape from a 1-D shape tensor, with unknown dims where values are not static."""
    shape = tensor.shape
    if shape.ndims == 0:
        value = constant_value(tensor)
        if value is None:
            return tensor_shape.TensorShape(None)
        return tensor_shape.TensorShape([None if value == -1 else int(value)])
    value = constant_value(tensor)
    if value is not None:
        return tensor_shape.TensorShape([None if d == -1 else int(d) for d in value])
    op = tensor.op
    if op.type == "Shape":
        return op.inputs[0].shape
    if op.type == "Pack":
        dims = []
        for x in op.inputs:
            v = constant_value(x)
            dims.append(None if v is None or v == -1 else int(v))
        return tensor_shape.TensorShape(dims)
    if op.type == "StridedSlice":  # e.g. tf.shape(x)[1:]
        from gpugraph.ops.slicing_ops import strided_slice_as_shape
        result = strided_slice_as_shape(op)
        if result is not None:
            return result
    if op.type == "ConcatV2":
        result = tensor_shape.TensorShape([])
        for x in op.inputs[:-1]:
            result = result.concatenate(constant_value_as_shape(x))
        return result
    if shape.ndims == 1 and shape.dims[0].value is not None:
        return tensor_shape.TensorShape([None] * shape.dims[0].value)
    return tensor_shape.TensorShape(None)
