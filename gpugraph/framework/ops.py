"""Graph, Operation and Tensor: the in-memory dataflow graph, shaped like ``tf.compat.v1``.

Example:
    >>> import gpugraph as tf
    >>> g = tf.Graph()
    >>> with g.as_default():
    ...     x = tf.placeholder(tf.float32, [None, 3], name="x")
    ...     with tf.name_scope("layer"):
    ...         y = tf.nn.relu(x)
    >>> y.name
    'layer/Relu:0'
"""

import contextlib
import re
import threading

from gpugraph.framework import attrs as attr_lib
from gpugraph.framework import device as device_lib
from gpugraph.framework import dtypes, registry, tensor_shape
from gpugraph.protos import attr_value_pb2

_VALID_OP_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")
_VALID_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")


class GraphKeys:
    """Standard collection names (``tf.compat.v1.GraphKeys``)."""
    GLOBAL_VARIABLES = "variables"
    VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    METRIC_VARIABLES = "metric_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    TABLE_INITIALIZERS = "table_initializer"
    ASSET_FILEPATHS = "asset_filepaths"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    REGULARIZATION_LOSSES = "regularization_losses"
    CONCATENATED_VARIABLES = "concatenated_variables"
    SAVERS = "savers"
    WEIGHTS = "weights"
    BIASES = "biases"
    ACTIVATIONS = "activations"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    SAVEABLE_OBJECTS = "saveable_objects"
    RESOURCES = "resources"
    LOCAL_RESOURCES = "local_resources"
    TRAINABLE_RESOURCE_VARIABLES = "trainable_resource_variables"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    READY_OP = "ready_op"
    READY_FOR_LOCAL_INIT_OP = "ready_for_local_init_op"
    SUMMARY_OP = "summary_op"
    GLOBAL_STEP = "global_step"
    EVAL_STEP = "eval_step"
    TRAIN_OP = "train_op"
    COND_CONTEXT = "cond_context"
    WHILE_CONTEXT = "while_context"


_UNKNOWN_SHAPE = tensor_shape.TensorShape(None)


class Tensor:
    """One output of an :class:`Operation`: a symbolic handle with a dtype and a (partial) shape.

    Example:
        >>> x = tf.constant([[1.0, 2.0]])
        >>> x.shape.as_list(), x.dtype
        ([1, 2], gpugraph.float32)
    """

    __array_priority__ = 100  # so ``np_array + tensor`` defers to Tensor.__radd__

    def __init__(self, op, value_index, dtype):
        self._op = op
        self._value_index = value_index
        self._dtype = dtype
        self._shape = _UNKNOWN_SHAPE  # shapes are immutable: set_shape and inference replace it
        self._consumers = []

    op = property(lambda self: self._op, doc="The Operation that produces this tensor.")
    value_index = property(lambda self: self._value_index)
    dtype = property(lambda self: self._dtype)
    graph = property(lambda self: self._op.graph)
    device = property(lambda self: self._op.device)

    @property
    def name(self):
        return f"{self._op.name}:{self._value_index}"

    @property
    def shape(self):
        if self._op._shapes_pending:
            resolve_pending_shapes(self._op)
        return self._shape

    def get_shape(self):
        return self.shape

    def set_shape(self, shape):
        """Merges ``shape`` into the static shape; ValueError naming the tensor when incompatible."""
        if self._op._shapes_pending:
            resolve_pending_shapes(self._op)
        try:
            self._shape = self._shape.merge_with(tensor_shape.as_shape(shape))
        except ValueError as e:
            raise ValueError(f"tensor {self.name!r}: cannot set shape {tensor_shape.as_shape(shape)} "
                             f"on a tensor of shape {self._shape}: {e}") from None

    def consumers(self):
        return list(self._consumers)

    def eval(self, feed_dict=None, session=None):
        """Runs the graph to compute this tensor in ``session`` (default: the default session)."""
        from gpugraph.runtime import session as session_lib
        return session_lib._eval_using_default_session(self, feed_dict, self.graph, session)

    def _as_node_def_input(self):
        return self._op.name if self._value_index == 0 else self.name

    def __repr__(self):
        return f"<gpugraph.Tensor '{self.name}' shape={self._shape} dtype={self._dtype.name}>"

    __str__ = __repr__

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        # TF1 semantics: Tensors compare by identity, so they can be dict keys and list members.
        return self is other

    def __ne__(self, other):
        return self is not other

    def __bool__(self):
        raise TypeError(f"using a gpugraph Tensor ({self.name}) as a Python bool is not allowed; "
                        "use gpugraph.cond or run the graph first")

    def __len__(self):
        raise TypeError(f"len is not well defined for the symbolic Tensor {self.name}; "
                        "use gpugraph.shape(t) or t.shape")

    def __iter__(self):
        shape = self._shape
        if shape.ndims is None or shape.ndims == 0 or shape.dims[0].value is None:
            raise TypeError(f"Tensor {self.name} of shape {shape} is not iterable (its first dimension "
                            "must be known statically)")
        for i in range(shape.dims[0].value):
            yield self[i]

    @staticmethod
    def _override_operator(operator_name, func):
        setattr(Tensor, operator_name, func)


def _producer_names(ops_or_tensors):
    return sorted(getattr(o, "name", str(o)) for o in ops_or_tensors)


class Operation:
    """A node of the graph: an op type, inputs, attrs (as ``AttrValue`` protos) and a device.

    Example:
        >>> c = tf.constant(1.0, name="c")
        >>> c.op.type, c.op.name
        ('Const', 'c')
    """

    def __init__(self, graph, name, op_type, spec, attr_values, device="", output_dtypes=()):
        self._graph = graph
        self._name = name
        self._type = op_type
        self._spec = spec
        # name -> AttrValue proto: a dict, or the attr map of an imported NodeDef, turned into a
        # dict the first time it is used (most imported ops are run, never asked for their attrs,
        # and building 10k dicts of proto wrappers was a fifth of an import).
        self._attr_values = attr_values
        self._device = device
        self._inputs = []
        self._control_inputs = []
        self._outputs = [Tensor(self, i, dt) for i, dt in enumerate(output_dtypes)]
        self._id = graph._next_id()
        self._control_outputs = []
        self._attr_cache = None               # kernel attrs as Python values, filled on first use
        self._shapes_pending = False          # imported ops infer their shapes on first use

    @property
    def _attrs(self):
        attrs = self._attr_values
        if attrs.__class__ is not dict:
            attrs = self._attr_values = dict(attrs)
        return attrs

    name = property(lambda self: self._name)
    type = property(lambda self: self._type)
    graph = property(lambda self: self._graph)
    device = property(lambda self: self._device)
    outputs = property(lambda self: list(self._outputs))
    control_inputs = property(lambda self: list(self._control_inputs))
    op_spec = property(lambda self: self._spec)

    @property
    def inputs(self):
        return tuple(self._inputs)

    @property
    def op_def(self):
        return self._spec.op_def() if self._spec is not None else None

    @property
    def node_def(self):
        from gpugraph.framework import graph_io
        return graph_io.node_def_of(self)

    def values(self):
        return tuple(self._outputs)

    def get_attr(self, name):
        """The attr's Python value (strings as ``bytes``, types as DType, shapes as TensorShape)."""
        try:
            av = self._attrs[name]
        except KeyError:
            raise ValueError(f"operation {self._name!r} ({self._type}) has no attr named {name!r}") from None
        return attr_lib.from_attr_value(av)

    def _set_attr(self, name, attr_value):
        self._attrs[name] = attr_value
        self._attr_cache = None
        self._graph._bump_version()

    def _set_device(self, device):
        self._device = device_lib.canonical_name(device)
        self._graph._bump_version()

    def _add_control_inputs(self, ops):
        for op in ops:
            if op not in self._control_inputs:
                self._control_inputs.append(op)
                op._control_outputs.append(self)
        self._graph._bump_version()

    def _add_control_input(self, op):
        self._add_control_inputs([op])

    def kernel_attrs(self):
        """Attrs as kernels see them: Python values with strings decoded to ``str``."""
        if self._attr_cache is None:
            self._attr_cache = {k: attr_lib.kernel_attr_value(v) for k, v in self._attrs.items()}
        return self._attr_cache

    def colocation_groups(self):
        default = [b"loc:@" + self._name.encode()]
        if "_class" not in self._attrs:
            return default
        groups = [s for s in self._attrs["_class"].list.s if s.startswith(b"loc:@")]
        return groups or default

    def run(self, feed_dict=None, session=None):
        """Runs this operation in ``session`` (default: the default session)."""
        from gpugraph.runtime import session as session_lib
        session_lib._run_using_default_session(self, feed_dict, self.graph, session)

    def __repr__(self):
        return f"<gpugraph.Operation '{self._name}' type={self._type}>"

    def __str__(self):
        return str(self.node_def)


class _ControlDependenciesController:
    def __init__(self, graph, control_inputs):
        self._graph = graph
        self.control_inputs = control_inputs  # None clears the outer ones
        self.seen_ops = set()

    def __enter__(self):
        if self.control_inputs is None:
            self._saved = self._graph._control_dependencies_stack
            self._graph._control_dependencies_stack = []
        self._graph._control_dependencies_stack.append(self)

    def __exit__(self, *exc):
        self._graph._control_dependencies_stack.pop()
        if self.control_inputs is None:
            self._graph._control_dependencies_stack = self._saved
        return False


class Graph:
    """A dataflow graph: Operations, the name/device/control-dependency scopes, and collections.

    Example:
        >>> g = tf.Graph()
        >>> with g.as_default():
        ...     a = tf.constant(2.0)
        >>> a.graph is g
        True
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._ops_by_name = {}
        self._ops = []
        self._names_in_use = {}
        self._name_stack = ""
        self._control_dependencies_stack = []
        self._device_stack = []            # entries: DeviceSpec, callable, or None (clears)
        self._colocation_stack = []
        self._collections = {}
        self._seed = None
        self._finalized = False
        self._version = 0
        self._mutation_version = 0
        self._id_counter = 0
        self._unfetchable = set()
        self._unfeedable = set()
        self._gradient_override_map = {}
        self._attr_scope_map = {}
        self._graph_def_versions = None
        self._function_library = None
        self._variable_store = None
        self._variable_scope_store = None
        self._building_function = False
        self.building_function = False

    # -- bookkeeping ----------------------------------------------------------------------------
    def _next_id(self):
        self._id_counter += 1
        return self._id_counter

    def _bump_version(self):
        """Records a change to an existing op (attrs, device, control inputs): plans recompile."""
        self._version += 1
        self._mutation_version += 1

    @property
    def version(self):
        return self._version

    @property
    def seed(self):
        return self._seed

    @seed.setter
    def seed(self, value):
        self._seed = value

    @property
    def finalized(self):
        return self._finalized

    def finalize(self):
        """Makes the graph read-only: adding an op afterwards raises RuntimeError."""
        self._finalized = True

    def _unsafe_unfinalize(self):
        self._finalized = False

    @property
    def graph_def_versions(self):
        from gpugraph.framework import graph_io
        return graph_io.graph_def_versions(self)

    # -- default graph --------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        """Makes this the default graph inside the ``with`` block."""
        _default_graph_stack.push(self)
        try:
            yield self
        finally:
            _default_graph_stack.pop(self)

    # -- names ----------------------------------------------------------------------------------
    def get_name_scope(self):
        return self._name_stack

    def unique_name(self, name, mark_as_used=True):
        """The name an op called ``name`` would get in the current scope (``x``, ``x_1``, …)."""
        if self._name_stack:
            name = self._name_stack + "/" + name
        name_key = name.lower()
        i = self._names_in_use.get(name_key, 0)
        if mark_as_used:
            self._names_in_use[name_key] = i + 1
        if i > 0:
            base_name_key = name_key
            while name_key in self._names_in_use:
                name_key = f"{base_name_key}_{i}"
                i += 1
            if mark_as_used:
                self._names_in_use[name_key] = 1
            name = f"{name}_{i - 1}"
        return name

    def _mark_name_used(self, name):
        """Records an op name created without unique_name (imports, scope-named ops), as TF does:
        the full name only, so a later op of that name becomes ``name_1``."""
        self._names_in_use.setdefault(name.lower(), 1)

    @contextlib.contextmanager
    def name_scope(self, name):
        """Opens a name scope; ``None``/"" resets to the root; a name ending in "/" is used as is."""
        if name:
            if isinstance(name, bytes):
                name = name.decode()
            if not _VALID_SCOPE_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid scope name")
        old = self._name_stack
        try:
            if not name:
                new = ""
            elif name.endswith("/"):
                new = name[:-1]
            else:
                new = self.unique_name(name)
            self._name_stack = new
            yield (new + "/") if new else ""
        finally:
            self._name_stack = old

    # -- control dependencies -------------------------------------------------------------------
    def control_dependencies(self, control_inputs):
        """Ops created inside run only after ``control_inputs`` (ops or tensors); None clears."""
        if control_inputs is None:
            return _ControlDependenciesController(self, None)
        ops = []
        for c in control_inputs:
            if hasattr(c, "_as_graph_element_for_control"):
                c = c._as_graph_element_for_control()
            if isinstance(c, Tensor):
                c = c.op
            if not isinstance(c, Operation):
                c = self.as_graph_element(c, allow_tensor=True, allow_operation=True)
                c = c.op if isinstance(c, Tensor) else c
            if c.graph is not self:
                raise ValueError(f"control input {c.name!r} is from a different graph")
            ops.append(c)
        return _ControlDependenciesController(self, ops)

    def _current_control_dependencies(self, input_ops):
        result = []
        for controller in self._control_dependencies_stack:
            if controller.control_inputs is None:
                continue
            if any(op in controller.seen_ops for op in input_ops):
                continue  # an input was made in this block, so the dependency already holds
            for c in controller.control_inputs:
                # TF adds no control input on an op that is already a data input.
                if c not in result and c not in input_ops:
                    result.append(c)
        return result

    # -- devices and colocation -----------------------------------------------------------------
    @contextlib.contextmanager
    def device(self, device_name_or_function):
        """Requests a device for ops created inside (string, DeviceSpec, function, or None)."""
        entry = device_name_or_function
        if entry is not None and not callable(entry):
            entry = device_lib.DeviceSpec.from_string(device_lib.canonical_name(entry))
        self._device_stack.append(entry)
        try:
            yield
        finally:
            self._device_stack.pop()

    def _requested_device(self, op):
        device = ""
        for entry in reversed(self._device_stack):
            if entry is None:
                break
            if isinstance(entry, device_lib.DeviceSpec):
                current = device_lib.DeviceSpec.from_string(device)
                device = entry.make_merged_spec(current).to_string()
            else:
                op._device = device
                device = device_lib.canonical_name(entry(op) or "")
        return device

    @contextlib.contextmanager
    def colocate_with(self, op, ignore_existing=False):
        """Ops created inside share ``op``'s colocation group (``_class: loc:@op``) and device."""
        if op is None:
            saved, self._colocation_stack = self._colocation_stack, []
            try:
                yield
            finally:
                self._colocation_stack = saved
            return
        op = _as_operation(op)
        saved_stack = self._colocation_stack
        if ignore_existing:
            self._colocation_stack = []
        saved_devices, self._device_stack = self._device_stack, []
        self._colocation_stack = self._colocation_stack + [op]
        try:
            yield
        finally:
            self._device_stack = saved_devices
            self._colocation_stack = saved_stack

    # -- op creation ----------------------------------------------------------------------------
    def create_op(self, op_type, inputs, dtypes=None, input_types=None, name=None, attrs=None,
                  op_def=None, compute_shapes=True, compute_device=True):
        """Adds an op of a registered type; ``attrs`` are AttrValue protos or Python values."""
        spec = registry.get_op_spec(op_type)
        attr_values = {}
        for key, value in (attrs or {}).items():
            attr_spec = spec.attrs.get(key)
            if isinstance(value, attr_value_pb2.AttrValue):
                attr_values[key] = value
            elif attr_spec is None:
                raise ValueError(f"op {op_type}: unknown attr {key!r}")
            else:
                attr_values[key] = attr_lib.to_attr_value(attr_spec.type, value)
        for key, attr_spec in spec.attrs.items():
            if key not in attr_values and attr_spec.has_default:
                attr_values[key] = attr_lib.to_attr_value(attr_spec.type, attr_spec.default)
        return self._create_op_internal(op_type, spec, list(inputs), attr_values, name or op_type,
                                        compute_shapes=compute_shapes, compute_device=compute_device)

    def _create_op_internal(self, op_type, spec, inputs, attr_values, name, compute_shapes=True,
                            compute_device=True):
        with self._lock:
            if self._finalized:
                raise RuntimeError("Graph is finalized and cannot be modified.")
            if name.endswith("/"):
                # A scope name used as the op's name (TF's name_from_scope_name): its scope was
                # marked when opened; only the full name is recorded, as TensorFlow does.
                name = name[:-1]
                self._mark_name_used(name)
            else:
                name = self.unique_name(name)
            if not _VALID_OP_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid node name")
            output_dtypes = signature_dtypes(spec, attr_values)[1] if spec is not None else []
            op = Operation(self, name, op_type, spec, attr_values, "", output_dtypes)
            for t in inputs:
                if t.graph is not self:
                    raise ValueError(f"op {name!r}: input {t.name!r} is from a different graph")
            op._inputs = inputs
            for t in inputs:
                t._consumers.append(op)
            controls = self._current_control_dependencies([t.op for t in inputs])
            if controls:
                op._control_inputs = controls
                for c in controls:
                    c._control_outputs.append(op)
            if self._colocation_stack:
                groups = set()
                for c in self._colocation_stack:
                    groups.update(c.colocation_groups())
                op._attrs["_class"] = attr_value_pb2.AttrValue(
                    list=attr_value_pb2.AttrValue.ListValue(s=sorted(groups)))
                if compute_device:
                    op._device = self._colocation_stack[-1].device
            elif compute_device:
                op._device = self._requested_device(op)
            mapped = self._gradient_override_map.get(op_type)
            if mapped is not None:  # read by gradients() to pick the gradient function
                op._attrs["_gradient_op_type"] = attr_value_pb2.AttrValue(s=mapped.encode())
            self._add_op(op)
            for controller in self._control_dependencies_stack:
                controller.seen_ops.add(op)
            if compute_shapes:
                _infer_shapes(op)
            return op

    def _add_op(self, op):
        if op.name in self._ops_by_name:
            raise ValueError(f"duplicate node name in graph: {op.name!r}")
        self._ops_by_name[op.name] = op
        self._ops.append(op)
        self._version += 1

    # -- lookup ---------------------------------------------------------------------------------
    def get_operations(self):
        return list(self._ops)

    def get_operation_by_name(self, name):
        if not isinstance(name, str):
            raise TypeError(f"operation names are strings, got {name!r}")
        return self.as_graph_element(name, allow_tensor=False, allow_operation=True)

    def get_tensor_by_name(self, name):
        if not isinstance(name, str):
            raise TypeError(f"tensor names are strings, got {name!r}")
        return self.as_graph_element(name, allow_tensor=True, allow_operation=False)

    def _get_operation_by_name_unsafe(self, name):
        return self._ops_by_name[name]

    def as_graph_element(self, obj, allow_tensor=True, allow_operation=True):
        """Resolves a name ("op", "op:0"), Tensor or Operation in this graph."""
        if obj.__class__ is not str and hasattr(obj, "_as_graph_element"):
            obj = obj._as_graph_element()
        if isinstance(obj, bytes):
            obj = obj.decode()
        if isinstance(obj, str):
            if ":" in obj and allow_tensor:
                op_name, _, index = obj.rpartition(":")
                try:
                    index = int(index)
                except ValueError:
                    raise ValueError(f"the name {obj!r} looks like a tensor name but its output index "
                                     "is not a number") from None
                op = self._ops_by_name.get(op_name)
                if op is None:
                    raise KeyError(f"the name {obj!r} refers to a Tensor which does not exist: the "
                                   f"operation {op_name!r} does not exist in the graph")
                if index >= len(op._outputs):
                    raise KeyError(f"the name {obj!r} refers to a Tensor which does not exist: "
                                   f"operation {op_name!r} ({op.type}) has {len(op._outputs)} outputs")
                return op._outputs[index]
            if ":" in obj:
                raise ValueError(f"the name {obj!r} refers to a Tensor, not an Operation")
            if not allow_operation:
                raise ValueError(f"the name {obj!r} looks like an (invalid) Operation name, not a Tensor; "
                                 f"tensor names look like '<op_name>:<output_index>'")
            op = self._ops_by_name.get(obj)
            if op is None:
                raise KeyError(f"the name {obj!r} refers to an Operation not in the graph")
            return op
        if isinstance(obj, Tensor) and allow_tensor:
            if obj.graph is not self:
                raise ValueError(f"tensor {obj.name} is not an element of this graph")
            return obj
        if isinstance(obj, Operation) and allow_operation:
            if obj.graph is not self:
                raise ValueError(f"operation {obj.name} is not an element of this graph")
            return obj
        kinds = " or ".join(k for k, ok in (("Tensor", allow_tensor), ("Operation", allow_operation)) if ok)
        raise TypeError(f"can not convert a {type(obj).__name__} into a {kinds}: {obj!r}")

    # -- feeding and fetching -------------------------------------------------------------------
    def prevent_feeding(self, tensor):
        self._unfeedable.add(tensor)

    def is_feedable(self, tensor):
        return tensor not in self._unfeedable

    def prevent_fetching(self, op):
        self._unfetchable.add(op)

    def is_fetchable(self, tensor_or_op):
        op = tensor_or_op.op if isinstance(tensor_or_op, Tensor) else tensor_or_op
        return op not in self._unfetchable

    # -- collections ----------------------------------------------------------------------------
    def add_to_collection(self, name, value):
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names, value):
        names = (names,) if isinstance(names, str) else set(names)
        for name in names:
            self.add_to_collection(name, value)

    def get_collection_ref(self, name):
        return self._collections.setdefault(name, [])

    def get_collection(self, name, scope=None):
        """A copy of the collection; with ``scope``, only items whose ``name`` matches it (re.match)."""
        items = self._collections.get(name, [])
        if scope is None:
            return list(items)
        regex = re.compile(scope)
        return [i for i in items if hasattr(i, "name") and regex.match(i.name)]

    def get_all_collection_keys(self):
        return [k for k, v in self._collections.items() if isinstance(k, str)]

    def clear_collection(self, name):
        self._collections.pop(name, None)

    # -- gradients (used by the training module) ------------------------------------------------
    @contextlib.contextmanager
    def gradient_override_map(self, op_type_map):
        saved = dict(self._gradient_override_map)
        self._gradient_override_map.update(op_type_map)
        try:
            yield
        finally:
            self._gradient_override_map = saved

    # -- serialisation --------------------------------------------------------------------------
    def as_graph_def(self, from_version=None, add_shapes=False):
        """This graph as a ``GraphDef`` proto (what TensorFlow's import_graph_def reads)."""
        from gpugraph.framework import graph_io
        return graph_io.graph_to_graph_def(self, from_version=from_version, add_shapes=add_shapes)

    def __repr__(self):
        return f"<gpugraph.Graph with {len(self._ops)} ops>"


def _as_operation(x):
    if isinstance(x, Operation):
        return x
    if isinstance(x, Tensor):
        return x.op
    if hasattr(x, "op"):
        return x.op
    raise TypeError(f"expected an Operation, Tensor or Variable, got {x!r}")


def signature_attrs(spec, attr_values):
    """Python values of the attrs that decide arg dtypes and counts (T, N, out_type, …) only —
    decoding every attr would, e.g., unpack a Const's whole tensor just to learn its dtype."""
    return {k: attr_lib.from_attr_value(attr_values[k]) for k in spec.signature_attr_names()
            if k in attr_values}


_signature_dtype_cache = {}


def _signature_key(attr_spec, av):
    """A cheap hashable form of one signature attr (a dtype enum, a count, a list of enums)."""
    if av is None:
        return None
    kind = attr_spec.type if attr_spec is not None else None
    if kind == "type":
        return av.type
    if kind == "int":
        return av.i
    if kind == "list(type)":
        return tuple(av.list.type)
    return av.SerializeToString(deterministic=True)


def signature_dtypes(spec, attr_values):
    """(input dtypes, output dtypes) of a node of ``spec`` with these AttrValues, memoised on the
    serialized signature attrs (importing a big graph asks the same question thousands of times)."""
    key = (spec.name,) + tuple(_signature_key(spec.attrs.get(k), attr_values.get(k))
                               for k in spec.signature_attr_names())
    result = _signature_dtype_cache.get(key)
    if result is None:
        python_attrs = signature_attrs(spec, attr_values)
        result = (spec.input_dtypes(python_attrs), spec.output_dtypes(python_attrs))
        if len(_signature_dtype_cache) < 100_000:
            _signature_dtype_cache[key] = result
    return result


def resolve_pending_shapes(op):
    """Infers the shapes of ``op`` and of every ancestor still waiting for it (imported ops infer on
    first use: a big imported graph is mostly run, not inspected). Iterative, inputs first; back
    edges of loops see the unknown shape, as at build time."""
    order, stack, seen = [], [(op, iter(_shape_inputs(op)))], {op}
    while stack:
        node, it = stack[-1]
        for nxt in it:
            if nxt._shapes_pending and nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, iter(_shape_inputs(nxt))))
                break
        else:
            stack.pop()
            order.append(node)
    for node in order:
        node._shapes_pending = False
        _infer_shapes(node)
        _merge_output_shape_hints(node)


def _shape_inputs(op):
    return [t._op for t in op._inputs]


def _merge_output_shape_hints(op):
    """Merges a GraphDef's ``_output_shapes`` attr (what the writer knew) into inferred shapes."""
    hints = op._attrs.get("_output_shapes")
    if hints is None:
        return
    for t, s in zip(op._outputs, hints.list.shape):
        if t._shape.is_fully_defined():
            continue  # nothing a hint could add
        try:
            t._shape = t._shape.merge_with(tensor_shape.TensorShape(s))
        except ValueError:
            pass  # shape inference is authoritative; a stale _output_shapes hint is ignored


def _infer_shapes(op):
    spec = op._spec
    if spec is None or spec.shape_fn is None:
        return
    try:
        shapes = spec.shape_fn(op)
    except (ValueError, TypeError, IndexError) as e:
        raise ValueError(f"shape inference failed for node {op.name!r} ({op.type}) with input shapes "
                         f"{[str(t.shape) for t in op._inputs]}: {e}") from None
    if len(shapes) != len(op._outputs):
        raise AssertionError(f"shape function of {op.type} returned {len(shapes)} shapes for "
                             f"{len(op._outputs)} outputs")
    for t, s in zip(op._outputs, shapes):
        t._shape = tensor_shape.as_shape(s) if s is not None else tensor_shape.TensorShape(None)


# -- the default graph stack ------------------------------------------------------------------
class _DefaultGraphStack(threading.local):
    _global_default = None

    def __init__(self):
        super().__init__()
        self.stack = []

    def get_default(self):
        if self.stack:
            return self.stack[-1]
        if _DefaultGraphStack._global_default is None:
            _DefaultGraphStack._global_default = Graph()
        return _DefaultGraphStack._global_default

    def push(self, g):
        self.stack.append(g)

    def pop(self, g):
        if not self.stack or self.stack[-1] is not g:
            raise AssertionError("nesting violated for default graph stack")
        self.stack.pop()

    def reset(self):
        _DefaultGraphStack._global_default = None


_default_graph_stack = _DefaultGraphStack()


def get_default_graph():
    """The graph new ops go into (a global one unless inside ``Graph.as_default()``)."""
    return _default_graph_stack.get_default()


def reset_default_graph():
    """Clears the global default graph. Not allowed inside a ``with g.as_default()`` block."""
    if _default_graph_stack.stack:
        raise AssertionError("Do not use reset_default_graph() to clear a graph nested inside a "
                             "Graph.as_default() context")
    from gpugraph.runtime import session as session_lib
    session_lib._reset_default_session_stack()
    _default_graph_stack.reset()


def get_name_scope():
    return get_default_graph().get_name_scope()


def _graph_of(values):
    for v in values or ():
        g = getattr(v, "graph", None)
        if isinstance(g, Graph):
            return g
    return None


@contextlib.contextmanager
def name_scope(name, default_name=None, values=None):
    """``tf.compat.v1.name_scope``: yields the scope string ("outer/name/") for op names.

    Example:
        >>> with tf.name_scope("block", "Default") as scope:
        ...     print(scope)
        block/
    """
    if name is None and default_name is None and values is None:
        name = ""
    n = default_name if name is None else name
    g = _graph_of(values) or get_default_graph()
    if g is not get_default_graph():
        with g.as_default(), g.name_scope(n) as scope:
            yield scope
    else:
        with g.name_scope(n) as scope:
            yield scope


def control_dependencies(control_inputs):
    """``tf.control_dependencies`` on the default graph."""
    return get_default_graph().control_dependencies(control_inputs)


def device(device_name_or_function):
    """``tf.device``: requests a device ("/gpu:0", "/cpu:0", a DeviceSpec or a function)."""
    return get_default_graph().device(device_name_or_function)


def colocate_with(op, ignore_existing=False):
    return get_default_graph().colocate_with(op, ignore_existing)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value):
    get_default_graph().add_to_collections(names, value)


def get_collection(key, scope=None):
    """``tf.get_collection`` on the default graph."""
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


def get_all_collection_keys():
    return get_default_graph().get_all_collection_keys()


def set_random_seed(seed):
    """Sets the graph-level random seed of the default graph."""
    get_default_graph().seed = seed


def container(container_name):
    """Accepted for compatibility: resource containers are per Session here."""
    return contextlib.nullcontext()
