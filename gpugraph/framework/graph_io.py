"""The one module where Graphs meet ``GraphDef`` protos: export (``as_graph_def``) and import.

Example:
    >>> g = tf.Graph()
    >>> with g.as_default():
    ...     tf.constant(1.0, name="c")
    >>> gd = g.as_graph_def()
    >>> with tf.Graph().as_default():
    ...     (c,) = tf.import_graph_def(gd, return_elements=["c:0"], name="")
"""

import gc
import os

from google.protobuf import message as _pb_message
from google.protobuf import text_format

from gpugraph.framework import attrs as attr_lib
from gpugraph.framework import device as device_lib
from gpugraph.framework import ops, registry, tensor_shape
from gpugraph.protos import attr_value_pb2, graph_pb2, node_def_pb2, versions_pb2

# The GraphDef producer version we write: the one TensorFlow 2.21 writes, so TF reads our graphs
# with no compatibility rewrites.
GRAPH_DEF_VERSION = 2474
GRAPH_DEF_VERSION_MIN_CONSUMER = 0
GRAPH_DEF_VERSION_MIN_PRODUCER = 0


def graph_def_versions(graph):
    if graph._graph_def_versions is not None:
        return graph._graph_def_versions
    return versions_pb2.VersionDef(producer=GRAPH_DEF_VERSION, min_consumer=GRAPH_DEF_VERSION_MIN_CONSUMER)


def _input_name(t):
    return t.op.name if t.value_index == 0 else f"{t.op.name}:{t.value_index}"


def node_def_of(op, add_shapes=False):
    nd = node_def_pb2.NodeDef(name=op.name, op=op.type, device=op.device)
    nd.input.extend(_input_name(t) for t in op._inputs)
    # TensorFlow serialises control inputs sorted by name (Graph::ToGraphDef).
    nd.input.extend("^" + c.name for c in sorted(op._control_inputs, key=lambda c: c.name))
    for key, av in op._attrs.items():
        nd.attr[key].CopyFrom(av)
    if add_shapes and op._outputs:
        shapes = attr_value_pb2.AttrValue()
        for t in op._outputs:
            shapes.list.shape.add().CopyFrom(t.shape.as_proto())
        nd.attr["_output_shapes"].CopyFrom(shapes)
    return nd


def graph_to_graph_def(graph, from_version=None, add_shapes=False):
    gd = graph_pb2.GraphDef()
    gd.versions.CopyFrom(graph_def_versions(graph))
    if graph._function_library is not None:
        gd.library.CopyFrom(graph._function_library)
    for op in graph._ops:
        if from_version is not None and op._id <= from_version:
            continue
        gd.node.add().CopyFrom(node_def_of(op, add_shapes))
    return gd


def parse_graph_def(data, source="GraphDef"):
    """A GraphDef from serialized bytes (binary, or text format as a fallback); clear error otherwise."""
    gd = graph_pb2.GraphDef()
    try:
        gd.ParseFromString(data)
        return gd
    except _pb_message.DecodeError as binary_error:
        try:
            text_format.Parse(data.decode("utf-8"), gd)
            return gd
        except (UnicodeDecodeError, text_format.ParseError):
            raise ValueError(f"{source}: could not parse {len(data)} bytes as a GraphDef (binary or "
                             f"text format): {binary_error}") from None


def _parse_input(name):
    """'^x' -> ('x', -1); 'x:1' -> ('x', 1); 'x' -> ('x', 0)."""
    if name.startswith("^"):
        return name[1:], -1
    op_name, sep, index = name.rpartition(":")
    if sep and index.isdigit():
        return op_name, int(index)
    return name, 0


def import_graph_def(graph_def, input_map=None, return_elements=None, name=None, op_dict=None,
                     producer_op_list=None):
    """``tf.import_graph_def``: adds the nodes of ``graph_def`` to the default graph.

    ``input_map`` maps names in ``graph_def`` ("x:0", "x", or "^x" for control inputs) to Tensors
    (Operations for "^x"); ``return_elements`` names tensors ("op:0") or operations ("op") to
    return; ``name`` prefixes every node (default "import"; "" for none).
    Accepts a GraphDef proto, or its serialized bytes.
    """
    if isinstance(graph_def, (bytes, bytearray)):
        graph_def = parse_graph_def(bytes(graph_def))
    if not isinstance(graph_def, graph_pb2.GraphDef):
        if hasattr(graph_def, "SerializeToString") and hasattr(graph_def, "node"):
            graph_def = parse_graph_def(graph_def.SerializeToString())  # e.g. TensorFlow's own proto
        else:
            raise TypeError(f"import_graph_def expects a GraphDef, got {type(graph_def).__name__}")
    graph = ops.get_default_graph()
    input_map = dict(input_map or {})
    normalized_map = {}
    for key, value in input_map.items():
        src, index = _parse_input(key)
        if index == -1:
            normalized_map[(src, -1)] = value if isinstance(value, ops.Operation) else value.op
        else:
            normalized_map[(src, index)] = value if isinstance(value, ops.Tensor) else \
                graph.as_graph_element(value) if isinstance(value, str) else \
                __import__("gpugraph.framework.op_builder", fromlist=["x"]).convert_to_tensor(value)
    with ops.name_scope(name, "import", list(v for v in normalized_map.values())) as scope:
        prefix = scope
    return _import_nodes(graph, graph_def, prefix, normalized_map, return_elements)


def _import_nodes(graph, graph_def, prefix, input_map, return_elements):
    # Import creates tens of thousands of cyclic objects (ops <-> tensors) that all stay alive;
    # letting the cyclic GC rescan them over and over cost more than the import itself.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _import_nodes_unguarded(graph, graph_def, prefix, input_map, return_elements)
    finally:
        if gc_was_enabled:
            gc.enable()


def _import_nodes_unguarded(graph, graph_def, prefix, input_map, return_elements):
    was_empty = not graph._ops
    # One C-level copy of the whole GraphDef: the new ops then reference its AttrValues directly
    # (copying each attr separately dominated import time), and later edits to the caller's proto
    # cannot reach the graph.
    own = graph_pb2.GraphDef()
    own.CopyFrom(graph_def)
    graph_def = own
    used_map_keys = set()
    created = {}
    wiring = []  # per node, in GraphDef order: (name, op, its input names, its input dtypes)
    devices = {}
    parsed_inputs = {}
    # Pass 1: create every Operation (outputs typed from attrs), so back edges can be wired later.
    for nd in graph_def.node:
        op_type = nd.op
        spec = registry.lookup(op_type)
        if spec is None:
            raise ValueError(f"GraphDef node {nd.name!r} uses op type {op_type!r}, which gpugraph does not "
                             f"support (no op registered with that name)")
        # The op keeps the node's own attr map (of this private copy); defaults are filled in there.
        attr_values = nd.attr
        # (``in`` on the map itself: its keys() view is a Python-level ABC, ten times slower)
        for key, default in spec.default_attr_values().items():
            if key not in attr_values:
                attr_values[key].CopyFrom(default)
        for key in spec.required_attr_names():
            if key not in attr_values:
                raise ValueError(f"GraphDef node {nd.name!r} ({op_type}) is missing required attr {key!r}")
        if "_class" in attr_values and prefix:
            cls = attr_values["_class"]
            rewritten = [(b"loc:@" + prefix.encode() + s[5:]) if s.startswith(b"loc:@") else s
                         for s in cls.list.s]
            del cls.list.s[:]
            cls.list.s.extend(rewritten)
        if prefix and op_type in ("Enter", "RefEnter") and "frame_name" in attr_values:
            # Each import gets its own loop frames (two imports of one loop must not share a frame).
            # import_meta_graph has scoped them already (same prefix): leave those as they are.
            frame = attr_values["frame_name"].s
            if not frame.startswith(prefix.encode()):
                attr_values["frame_name"].s = prefix.encode() + frame
        try:
            input_dtypes, output_dtypes = ops.signature_dtypes(spec, attr_values)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"GraphDef node {nd.name!r} ({op_type}) has bad attrs: {e}") from None
        name = nd.name
        if name in created:
            raise ValueError(f"GraphDef has two nodes named {name!r}")
        new_name = prefix + name
        if new_name in graph._ops_by_name:
            raise ValueError(f"cannot import node {name!r}: the graph already has a node named {new_name!r}")
        requested = nd.device
        device = devices.get(requested)
        if device is None:
            device = devices[requested] = device_lib.canonical_name(requested) if requested else ""
        if graph._device_stack:
            op_tmp = ops.Operation(graph, new_name, op_type, spec, attr_values, device, ())
            device = _merge_scope_device(graph, op_tmp, device)
        op = ops.Operation(graph, new_name, op_type, spec, attr_values, device, output_dtypes)
        created[name] = op
        wiring.append((name, op, nd.input, input_dtypes))
    # Pass 2: wire inputs (respecting input_map) and check dtypes.
    already_sorted = True  # TF writes nodes inputs-first; then pass 3 needs no sort
    seen_ops = set()
    for name, op, inputs, expected in wiring:
        seen_ops.add(op)
        data, controls = [], []
        for inp in inputs:
            parsed = parsed_inputs.get(inp)
            if parsed is None:
                parsed = parsed_inputs[inp] = _parse_input(inp)
            src, index = parsed
            if (src, index) in input_map:
                used_map_keys.add((src, index))
                mapped = input_map[(src, index)]
                (controls if index == -1 else data).append(mapped)
                continue
            if src not in created:
                raise ValueError(f"GraphDef node {name!r} has input {inp!r}, but there is no node "
                                 f"named {src!r} in the GraphDef")
            src_op = created[src]
            if already_sorted and src_op not in seen_ops:
                already_sorted = False
            if index == -1:
                controls.append(src_op)
            else:
                if index >= len(src_op._outputs):
                    raise ValueError(f"GraphDef node {name!r} has input {inp!r}, but node {src!r} "
                                     f"({src_op.type}) has only {len(src_op._outputs)} outputs")
                data.append(src_op._outputs[index])
        if len(expected) != len(data):
            raise ValueError(f"GraphDef node {name!r} ({op.type}) has {len(data)} data inputs, but the op "
                             f"takes {len(expected)}")
        for i, (t, want) in enumerate(zip(data, expected)):
            if t._dtype is not want and t._dtype.base_dtype is not want:  # DTypes are singletons
                raise ValueError(f"GraphDef node {name!r} ({op.type}): input {i} ({inputs[i]!r}) has "
                                 f"dtype {t.dtype.name}, expected {want.name}")
        op._inputs = data
        for t in data:
            t._consumers.append(op)
        op._control_inputs = list(dict.fromkeys(controls))
        for c in op._control_inputs:
            c._control_outputs.append(op)
    unused = [k for k in input_map if k not in used_map_keys]
    if unused:
        names = [("^" + s) if i == -1 else f"{s}:{i}" for s, i in unused]
        raise ValueError(f"input_map refers to names not in the graph_def: {', '.join(sorted(names))}")
    # Pass 3: add to the graph in an order where inputs come first. Shapes are inferred on first
    # use (Tensor.shape): importing a 10k-node graph to run it then costs no shape inference.
    ordered = created.values() if already_sorted else _topological(created, graph_def)
    for op in ordered:
        graph._add_op(op)
        graph._mark_name_used(op.name)
        op._shapes_pending = True
    if was_empty and graph_def.HasField("versions"):
        graph._graph_def_versions = versions_pb2.VersionDef()
        graph._graph_def_versions.CopyFrom(graph_def.versions)
    if graph_def.HasField("library") and graph_def.library.ByteSize():
        if graph._function_library is None:
            graph._function_library = type(graph_def.library)()
        graph._function_library.MergeFrom(graph_def.library)
    if return_elements is None:
        return None
    results = []
    for name in return_elements:
        if isinstance(name, bytes):
            name = name.decode()
        src, index = _parse_input(name)
        if src not in created:
            raise ValueError(f"return_elements names {name!r}, which is not in the imported graph")
        if ":" in name:
            op = created[src]
            if index >= len(op._outputs):
                raise ValueError(f"return_elements names {name!r}, but {src!r} has {len(op._outputs)} outputs")
            results.append(op._outputs[index])
        else:
            results.append(created[src])
    return results


def _merge_scope_device(graph, op, device):
    spec = device_lib.DeviceSpec.from_string(device)
    scoped = device_lib.DeviceSpec.from_string(graph._requested_device(op))
    return scoped.make_merged_spec(spec).to_string()


def _topological(created, graph_def):
    """Imported ops ordered so that every op comes after its inputs (back edges of loops ignored)."""
    members = set(created.values())
    order, seen = [], set()
    for root in (created[nd.name] for nd in graph_def.node):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(_predecessors(root)))]
        while stack:
            node, it = stack[-1]
            for nxt in it:
                if nxt in members and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, iter(_predecessors(nxt))))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _predecessors(op):
    return [t.op for t in op._inputs] + op._control_inputs


def read_graph_def_file(path):
    """Reads a .pb / .pbtxt GraphDef file, naming the file in any error."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_graph_def(data, source=os.fspath(path))
