"""MetaGraphDef export and import, as ``tf.compat.v1.train.export_meta_graph`` / ``import_meta_graph``.

A MetaGraphDef bundles a GraphDef (with ``_output_shapes``), the SaverDef of the graph's Saver, the
collections, and ``meta_info_def`` (versions and the OpDefs of every op type used). Collections are
written as TensorFlow writes them:

- keys with a proto converter (``variables``, ``trainable_variables``, ``local_variables``,
  ``model_variables``, ``moving_average_variables``, ``global_step``, ``metric_variables`` →
  VariableDef; ``savers`` → SaverDef) become a ``bytes_list`` of serialized protos;
- otherwise the first item decides: str/bytes → ``bytes_list``, int/bool → ``int64_list``, float →
  ``float_list``, ``Any`` → ``any_list``, anything with a ``name`` (Tensor, Operation, Variable) →
  ``node_list``; a collection that cannot be serialized is skipped with a warning.

Importing restores them: one Variable object per variable, shared by every collection naming it;
node names resolved to graph elements; control-flow contexts (``cond_context``, ``while_context``)
and ``queue_runners`` kept as their serialized bytes, so an import → export round trip writes them
back unchanged (names inside prefixed with the import scope, like every node).

Example:
    >>> with tf.Graph().as_default():
    ...     v = tf.Variable([1.0, 2.0], name="v")
    ...     mg = export_meta_graph("/tmp/model.meta")                          # doctest: +SKIP
    >>> with tf.Graph().as_default() as g:
    ...     saver = import_meta_graph("/tmp/model.meta", import_scope="tower")  # doctest: +SKIP
    ...     [x.name for x in g.get_collection("variables")]                     # doctest: +SKIP
    ['tower/v:0']
"""

import logging
import os
import re

import numpy as np
from google.protobuf import any_pb2, text_format
from google.protobuf import message as _pb_message
from google.protobuf import unknown_fields as _unknown_fields

from gpugraph.framework import attrs as attr_lib
from gpugraph.framework import graph_io, ops, registry
from gpugraph.util import fileio
from gpugraph.protos import (control_flow_pb2, graph_debug_info_pb2, graph_pb2, meta_graph_pb2,
                             saver_pb2, variable_pb2)

_log = logging.getLogger(__name__)

# The TensorFlow release whose file formats gpugraph writes (GraphDef producer 2474). TF's importer
# reads ``tensorflow_version`` as a version number (e.g. to know VariableDefs carry ``trainable``),
# so it must parse as one; the git-version field says who actually wrote the file.
TENSORFLOW_VERSION = "2.21.0"
_UNBOUND_INPUT_PREFIX = "$unbound_inputs_"
UNBOUND_INPUTS_COLLECTION = "unbound_inputs"

# Collections written as a bytes_list of serialized protos that gpugraph keeps as bytes on import.
_RAW_PROTO_COLLECTIONS = {
    ops.GraphKeys.COND_CONTEXT: control_flow_pb2.CondContextDef,
    ops.GraphKeys.WHILE_CONTEXT: control_flow_pb2.WhileContextDef,
    ops.GraphKeys.QUEUE_RUNNERS: None,
}
# Collections whose VariableDefs describe the same variables: one Variable object per variable.
_VARIABLE_COLLECTIONS = frozenset([
    ops.GraphKeys.GLOBAL_VARIABLES, ops.GraphKeys.LOCAL_VARIABLES, ops.GraphKeys.METRIC_VARIABLES,
    ops.GraphKeys.MODEL_VARIABLES, ops.GraphKeys.TRAINABLE_VARIABLES,
    ops.GraphKeys.MOVING_AVERAGE_VARIABLES, ops.GraphKeys.GLOBAL_STEP,
    ops.GraphKeys.CONCATENATED_VARIABLES, ops.GraphKeys.TRAINABLE_RESOURCE_VARIABLES])
# Collections TF1 always wrote as VariableDefs; a different kind means a file from an old release.
_COMPAT_COLLECTION_LIST = (ops.GraphKeys.LOCAL_VARIABLES, ops.GraphKeys.MODEL_VARIABLES,
                           ops.GraphKeys.METRIC_VARIABLES)


# -- proto converters per collection (TF's ops.register_proto_function) -------------------------
_proto_functions = {}


def register_proto_function(collection_name, proto_type=None, to_proto=None, from_proto=None):
    """Says how items of a collection become protos (``to_proto(item, export_scope=...)``) and back
    (``from_proto(proto, import_scope=...)``).

    Example:
        >>> register_proto_function("my_savers", saver_pb2.SaverDef, Saver.to_proto, Saver.from_proto)
    """
    _proto_functions[collection_name] = (proto_type, to_proto, from_proto)


def _proto_function(key, index):
    _register_defaults()
    entry = _proto_functions.get(key)
    return entry[index] if entry else None


def get_collection_proto_type(key):
    return _proto_function(key, 0)


def get_to_proto_function(key):
    return _proto_function(key, 1)


def get_from_proto_function(key):
    return _proto_function(key, 2)


_defaults_registered = False


def _register_defaults():
    """Registers the converters of the standard collections (late: variables and the Saver are
    built on this module, so they cannot be imported at module import time)."""
    global _defaults_registered
    if _defaults_registered:
        return
    _defaults_registered = True
    from gpugraph.ops import variables
    from gpugraph.train import saver as saver_lib

    def variable_to_proto(v, export_scope=None):
        return v.to_proto(export_scope=export_scope)

    def variable_from_proto(proto, import_scope=None):
        return variables.Variable.from_proto(proto, import_scope=import_scope)

    for key in (ops.GraphKeys.GLOBAL_VARIABLES, ops.GraphKeys.TRAINABLE_VARIABLES,
                ops.GraphKeys.LOCAL_VARIABLES, ops.GraphKeys.MODEL_VARIABLES,
                ops.GraphKeys.MOVING_AVERAGE_VARIABLES, ops.GraphKeys.GLOBAL_STEP,
                ops.GraphKeys.METRIC_VARIABLES):
        _proto_functions.setdefault(key, (variable_pb2.VariableDef, variable_to_proto, variable_from_proto))
    _proto_functions.setdefault(ops.GraphKeys.SAVERS, (saver_pb2.SaverDef, saver_lib.Saver.to_proto,
                                                       saver_lib.Saver.from_proto))


# -- name scopes ----------------------------------------------------------------------------------
def _scope(scope):
    return scope[:-1] if scope and scope.endswith("/") else (scope or "")


def strip_name_scope(name, export_scope):
    """Removes ``export_scope/`` from the front of ``name`` (also after ``^`` and ``loc:@``).

    Example:
        >>> strip_name_scope("^tower/w", "tower")
        '^w'
    """
    scope = _scope(export_scope)
    if not scope:
        return name
    return re.sub(r"([\^]|loc:@|^)" + re.escape(scope) + r"[\/]+(.*)", r"\1\2", name, count=1)


def prepend_name_scope(name, import_scope):
    """Puts ``import_scope/`` in front of ``name`` (also after ``^`` and ``loc:@``).

    Example:
        >>> prepend_name_scope("loc:@w", "tower")
        'loc:@tower/w'
    """
    scope = _scope(import_scope)
    if not scope:
        return name
    m = re.match(r"([\^]|loc:@|)(.*)", name, re.DOTALL)
    return m.group(1) + scope + "/" + m.group(2)


def _in_scope(name, scope):
    return not scope or name == scope or name.startswith(scope + "/")


# -- export ---------------------------------------------------------------------------------------
def _scoped_node_def(node_def, export_scope, unbound_inputs, clear_devices):
    """A copy of ``node_def`` with ``export_scope`` stripped from its name, inputs, colocation and
    frame names; inputs from outside the scope become ``$unbound_inputs_<name>``."""
    nd = type(node_def)()
    nd.CopyFrom(node_def)
    scope = _scope(export_scope)
    for i, inp in enumerate(nd.input):
        if scope and not _in_scope(inp.lstrip("^").split(":")[0], scope):
            nd.input[i] = ("^" if inp.startswith("^") else "") + _UNBOUND_INPUT_PREFIX + inp.lstrip("^")
            unbound_inputs.append(nd.input[i])
        else:
            nd.input[i] = strip_name_scope(inp, scope)
    nd.name = strip_name_scope(nd.name, scope)
    if "_class" in nd.attr:
        kept = [strip_name_scope(s.decode(), scope).encode() for s in nd.attr["_class"].list.s
                if not scope or _in_scope(s.decode().split("@", 1)[-1], scope)]
        del nd.attr["_class"].list.s[:]
        nd.attr["_class"].list.s.extend(kept)
    if nd.op in ("Enter", "RefEnter") and "frame_name" in nd.attr:
        frame = nd.attr["frame_name"].s.decode()
        if _in_scope(frame, scope):
            nd.attr["frame_name"].s = strip_name_scope(frame, scope).encode()
    if clear_devices:
        nd.device = ""
    return nd


def _stripped_op_list(graph_def):
    """The OpDefs of every op type ``graph_def`` uses (sorted; functions' bodies included)."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    used, pending = set(), []

    def mark(op_type):
        if op_type not in used and op_type in functions:
            pending.append(functions[op_type])
        used.add(op_type)

    for nd in graph_def.node:
        mark(nd.op)
        if nd.op in ("PartitionedCall", "StatefulPartitionedCall"):
            mark(nd.attr["f"].func.name)
    while pending:
        for nd in pending.pop().node_def:
            mark(nd.op)
    op_list = meta_graph_pb2.MetaGraphDef.MetaInfoDef().stripped_op_list
    for op_type in sorted(used - set(functions)):
        spec = registry.lookup(op_type)
        if spec is not None:
            op_list.op.add().CopyFrom(spec.op_def())
    return op_list


_default_attr_bytes = {}


def _defaults_of(op_type):
    cached = _default_attr_bytes.get(op_type)
    if cached is None:
        spec = registry.lookup(op_type)
        cached = {}
        if spec is not None:
            for name, a in spec.attrs.items():
                if a.has_default:
                    cached[name] = attr_lib.to_attr_value(a.type, a.default).SerializeToString(deterministic=True)
        _default_attr_bytes[op_type] = cached
    return cached


def strip_graph_default_valued_attrs(meta_graph_def):
    """Drops every NodeDef attr equal to its OpDef default and sets ``stripped_default_attrs``; an
    importer (ours and TensorFlow's) adds the defaults back."""
    functions = {f.signature.name for f in meta_graph_def.graph_def.library.function}

    def strip(node_def):
        if node_def.op in functions:
            return
        defaults = _defaults_of(node_def.op)
        for name in [k for k, v in node_def.attr.items()
                     if k in defaults and v.SerializeToString(deterministic=True) == defaults[k]]:
            del node_def.attr[name]

    for nd in meta_graph_def.graph_def.node:
        strip(nd)
    for f in meta_graph_def.graph_def.library.function:
        for nd in f.node_def:
            strip(nd)
    meta_graph_def.meta_info_def.stripped_default_attrs = True


def _kind_of(item):
    if isinstance(item, (str, bytes)):
        return "bytes_list"
    if isinstance(item, (int, np.integer, np.bool_)):
        return "int64_list"
    if isinstance(item, (float, np.floating)):
        return "float_list"
    if isinstance(item, any_pb2.Any):
        return "any_list"
    return "node_list"


def _should_include(item, export_scope, exclude_nodes):
    name = item if isinstance(item, str) else getattr(item, "name", None)
    if not isinstance(name, str):
        return True
    if exclude_nodes and name in exclude_nodes:
        return False
    return name.startswith(_UNBOUND_INPUT_PREFIX) or _in_scope(name.split(":")[0], _scope(export_scope))


def _rescope_raw_proto(key, value, export_scope=None, import_scope=None):
    """Serialized control-flow context with node names moved out of / into a scope (None: drop)."""
    proto_type = _RAW_PROTO_COLLECTIONS.get(key)
    if proto_type is None or not (export_scope or import_scope):
        return value
    proto = proto_type.FromString(value)
    ok = [True]

    def fix(name):
        if export_scope:
            if not _in_scope(name.lstrip("^").split(":")[0], _scope(export_scope)):
                ok[0] = False
            return strip_name_scope(name, export_scope)
        return prepend_name_scope(name, import_scope)

    _rename_strings(proto, fix)
    return proto.SerializeToString(deterministic=True) if ok[0] else None


def _rename_strings(proto, fix):
    """Applies ``fix`` to every string of a Cond/WhileContextDef, recursively: all of them (context,
    pivot, predicate and loop names, values, external-value map keys and values) are graph names."""
    for field, value in proto.ListFields():
        repeated = field.is_repeated
        if field.type == field.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            items = [(fix(k), fix(v)) for k, v in value.items()]
            for k in list(value):
                del value[k]
            for k, v in items:
                value[k] = v
        elif field.type == field.TYPE_MESSAGE:
            for item in (value if repeated else [value]):
                _rename_strings(item, fix)
        elif field.type == field.TYPE_STRING:
            if repeated:
                new = [fix(v) for v in value]
                del value[:]
                value.extend(new)
            else:
                setattr(proto, field.name, fix(value))


def add_collection_def(meta_graph_def, key, graph=None, export_scope=None, exclude_nodes=None,
                       override_contents=None):
    """Adds collection ``key`` of ``graph`` to ``meta_graph_def.collection_def`` (see module doc)."""
    if not isinstance(key, (str, bytes)):
        _log.warning("Only collections with string type keys will be serialized. This key has %s", type(key))
        return
    graph = graph or ops.get_default_graph()
    items = override_contents if override_contents else graph.get_collection(key)
    items = [x for x in items if _should_include(x, export_scope, exclude_nodes)]
    if not items:
        return
    col_def = meta_graph_def.collection_def[key]
    try:
        to_proto = get_to_proto_function(key)
        if to_proto is not None and not isinstance(items[0], (bytes, str)):
            proto_type = get_collection_proto_type(key)
            for x in items:
                proto = to_proto(x, export_scope=export_scope)
                if proto:
                    if proto_type is not None and not isinstance(proto, proto_type):
                        raise TypeError(f"to_proto of collection {key!r} returned a "
                                        f"{type(proto).__name__}, expected {proto_type.__name__}")
                    col_def.bytes_list.value.append(proto.SerializeToString(deterministic=True))
            if not col_def.bytes_list.value:
                del meta_graph_def.collection_def[key]
            return
        kind = _kind_of(items[0])
        if kind == "node_list":
            col_def.node_list.value.extend(strip_name_scope(x.name, export_scope) for x in items)
        elif kind == "bytes_list":
            values = [x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in items]
            if key in _RAW_PROTO_COLLECTIONS and export_scope:
                values = [v for v in (_rescope_raw_proto(key, v, export_scope=export_scope) for v in values)
                          if v is not None]
            col_def.bytes_list.value.extend(values)
        elif kind == "int64_list":
            col_def.int64_list.value.extend(int(x) for x in items)
        elif kind == "float_list":
            col_def.float_list.value.extend(float(x) for x in items)
        else:
            col_def.any_list.value.extend(items)
        if not getattr(col_def, kind).value:
            del meta_graph_def.collection_def[key]
    except Exception as e:  # noqa: BLE001 - TF's rule: an unserializable collection is skipped, not fatal
        _log.warning("Issue encountered when serializing %s.\nType is unsupported, or the types of the items "
                     "don't match field type in CollectionDef. Note this is a warning and probably safe to "
                     "ignore.\n%s", key, e)
        if key in meta_graph_def.collection_def:
            del meta_graph_def.collection_def[key]


def create_meta_graph_def(meta_info_def=None, graph_def=None, saver_def=None, collection_list=None,
                          graph=None, export_scope=None, exclude_nodes=None, clear_extraneous_savers=False,
                          strip_default_attrs=False):
    """Builds the MetaGraphDef proto (nothing is written)."""
    if graph is not None and not isinstance(graph, ops.Graph):
        raise TypeError(f"graph must be of type Graph, got {type(graph).__name__}")
    if meta_info_def is not None and not isinstance(meta_info_def, meta_graph_pb2.MetaGraphDef.MetaInfoDef):
        meta_info_def = _convert(meta_info_def, meta_graph_pb2.MetaGraphDef.MetaInfoDef, "meta_info_def")
    if graph_def is not None and not isinstance(graph_def, graph_pb2.GraphDef):
        graph_def = _convert(graph_def, graph_pb2.GraphDef, "graph_def")
    if saver_def is not None and not isinstance(saver_def, saver_pb2.SaverDef):
        saver_def = _convert(saver_def, saver_pb2.SaverDef, "saver_def")
    graph = graph or ops.get_default_graph()
    mg = meta_graph_pb2.MetaGraphDef()
    if meta_info_def is not None:
        mg.meta_info_def.CopyFrom(meta_info_def)
    mg.meta_info_def.tensorflow_version = TENSORFLOW_VERSION
    mg.meta_info_def.tensorflow_git_version = _git_version()
    if graph_def is None:
        mg.graph_def.CopyFrom(graph.as_graph_def(add_shapes=True))
    else:
        mg.graph_def.CopyFrom(graph_def)
    if not mg.meta_info_def.stripped_op_list.op:
        mg.meta_info_def.stripped_op_list.CopyFrom(_stripped_op_list(mg.graph_def))
    if strip_default_attrs:
        strip_graph_default_valued_attrs(mg)
    if saver_def:
        mg.saver_def.CopyFrom(saver_def)
    keys = collection_list if collection_list is not None else graph.get_all_collection_keys()
    for key in keys:
        if clear_extraneous_savers and key == ops.GraphKeys.SAVERS:
            overrides = [get_from_proto_function(key)(saver_def)] if saver_def else []
            if overrides:
                add_collection_def(mg, key, graph, export_scope, exclude_nodes, override_contents=overrides)
        else:
            add_collection_def(mg, key, graph, export_scope, exclude_nodes)
    return mg


def _git_version():
    import gpugraph
    return f"gpugraph-{gpugraph.__version__}"


def _convert(message, cls, what):
    """A proto of another package (e.g. TensorFlow's own) converted through its bytes."""
    if hasattr(message, "SerializeToString") and type(message).__name__ == cls.__name__:
        return cls.FromString(message.SerializeToString())
    raise TypeError(f"{what} must be a {cls.__name__}, got {type(message).__name__}")


_SAVE_AND_RESTORE_OPS = frozenset(["SaveV2", "Save", "SaveSlice", "LegacySave", "LegacySaveSlice",
                                   "RestoreV2", "Restore", "RestoreSlice", "LegacyRestore",
                                   "LegacyRestoreSlice"])


def _scope_of(name):
    name = name.lstrip("^")
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _find_extraneous_saver_nodes(graph_def, saver_def):
    """Names of nodes in the scopes of Savers other than ``saver_def``'s (TF's heuristic: each Saver
    lives alone in its own name scope)."""
    retain = set()
    if saver_def is not None:
        retain = {_scope_of(saver_def.save_tensor_name.split(":")[0]) + "/",
                  _scope_of(saver_def.restore_op_name.split(":")[0]) + "/"}
    saver_nodes = {nd.name for nd in graph_def.node if nd.op in _SAVE_AND_RESTORE_OPS}
    scopes = {_scope_of(n) for n in saver_nodes} - saver_nodes
    extraneous = {s + "/" for s in scopes} - retain
    return {nd.name for nd in graph_def.node if any(nd.name.startswith(s) for s in extraneous)}


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None,
                      collection_list=None, as_text=False, graph=None, export_scope=None,
                      clear_devices=False, clear_extraneous_savers=False, strip_default_attrs=False,
                      save_debug_info=False, **kwargs):
    """``tf.compat.v1.train.export_meta_graph``: the graph, saver and collections as a
    MetaGraphDef; also written to ``filename`` (binary, or text with ``as_text``) atomically.

    ``export_scope`` keeps only nodes under that scope, with the scope removed from their names;
    ``clear_devices`` writes every device as ""; ``strip_default_attrs`` drops attrs equal to
    their defaults; ``collection_list`` limits the collections written.

    Example:
        >>> mg = tf.train.export_meta_graph("/tmp/model.meta", clear_devices=True)    # doctest: +SKIP
        >>> sorted(mg.collection_def)                                                  # doctest: +SKIP
        ['trainable_variables', 'variables']
    """
    unbound_col = kwargs.pop("unbound_inputs_col_name", UNBOUND_INPUTS_COLLECTION)
    exclude_nodes = kwargs.pop("exclude_nodes", None)
    sync = kwargs.pop("_sync", True)  # the Saver flushes its .meta files with its checkpoints instead
    if kwargs:
        raise TypeError(f"export_meta_graph: unexpected keyword arguments {sorted(kwargs)}")
    graph = graph or ops.get_default_graph()
    if graph_def is not None and not isinstance(graph_def, graph_pb2.GraphDef):
        graph_def = _convert(graph_def, graph_pb2.GraphDef, "graph_def")
    if export_scope or clear_extraneous_savers or clear_devices:
        source = graph_def if graph_def is not None else graph.as_graph_def(add_shapes=True)
        if clear_extraneous_savers:
            exclude_nodes = set(exclude_nodes or ()) | _find_extraneous_saver_nodes(source, saver_def)
        unbound_inputs = []
        new_def = graph_pb2.GraphDef()
        new_def.versions.CopyFrom(source.versions)
        if source.HasField("library"):
            new_def.library.CopyFrom(source.library)
        scope = _scope(export_scope)
        for nd in source.node:
            if (exclude_nodes and nd.name in exclude_nodes) or not _in_scope(nd.name, scope):
                continue
            new_def.node.add().CopyFrom(_scoped_node_def(nd, export_scope, unbound_inputs, clear_devices))
        graph_def = new_def
        if unbound_col:
            graph.clear_collection(unbound_col)
            for name in unbound_inputs:
                graph.add_to_collection(unbound_col, name)
    mg = create_meta_graph_def(meta_info_def=meta_info_def, graph_def=graph_def, saver_def=saver_def,
                               collection_list=collection_list, graph=graph, export_scope=export_scope,
                               exclude_nodes=exclude_nodes, clear_extraneous_savers=clear_extraneous_savers,
                               strip_default_attrs=strip_default_attrs)
    if filename:
        filename = os.fspath(filename)
        write_meta_graph_file(mg, filename, as_text=as_text, sync=sync)
        if save_debug_info:
            base, _ = os.path.splitext(filename)
            info = graph_debug_info_pb2.GraphDebugInfo()
            for nd in mg.graph_def.node:
                info.traces[nd.name].SetInParent()  # gpugraph records no Python stack traces
            _atomic_write(base + ".debug", text_format.MessageToString(info).encode() if as_text
                          else info.SerializeToString(deterministic=True), sync)
    return mg


def _atomic_write(path, data, sync=True):
    """Writes a temporary file and renames it onto ``path`` (fsynced first when ``sync``)."""
    fileio.atomic_write(path, data, sync)


_alias_pool = None


def _tensorflow_alias_pool():
    """A descriptor pool holding our messages under TensorFlow's package name ``tensorflow``.

    Text format spells ``Any`` values out by type name (``[type.googleapis.com/tensorflow.X] {…}``);
    with this pool such values (e.g. in an ``any_list`` collection) read and write like TF's, while
    gpugraph's own classes keep the package ``gpugraph`` (so TF and gpugraph load into one process).
    """
    global _alias_pool
    if _alias_pool is None:
        import importlib
        import pkgutil

        from google.protobuf import descriptor_pb2, descriptor_pool

        import gpugraph.protos as protos_pkg
        pool = descriptor_pool.DescriptorPool()
        added = set()
        alias_prefix = "tensorflow_alias/"

        def rename(msg):
            for field in msg.field:
                if field.type_name.startswith(".gpugraph."):
                    field.type_name = ".tensorflow." + field.type_name[len(".gpugraph."):]
            for nested in msg.nested_type:
                rename(nested)

        def add(fd):
            # Each of our files twice: as it is (Any values packed by gpugraph) and renamed.
            if fd.name in added:
                return
            added.add(fd.name)
            for dep in fd.dependencies:
                add(dep)
            proto = descriptor_pb2.FileDescriptorProto()
            fd.CopyToProto(proto)
            pool.Add(proto)
            if proto.package == "gpugraph":
                proto.name = alias_prefix + proto.name
                proto.package = "tensorflow"
                for i, dep in enumerate(proto.dependency):
                    if dep.startswith("gpugraph/"):
                        proto.dependency[i] = alias_prefix + dep
                for msg in proto.message_type:
                    rename(msg)
                pool.Add(proto)

        for info in pkgutil.iter_modules(protos_pkg.__path__):
            if info.name.endswith("_pb2"):
                add(importlib.import_module(f"gpugraph.protos.{info.name}").DESCRIPTOR)
        _alias_pool = pool
    return _alias_pool


def write_meta_graph_file(meta_graph_def, filename, as_text=False, sync=True):
    """Writes ``meta_graph_def`` to ``filename`` (binary or text), atomically: readers see the old
    file or the new one, never a part; ``sync`` fsyncs it before the rename."""
    if as_text:
        data = text_format.MessageToString(meta_graph_def, descriptor_pool=_tensorflow_alias_pool()).encode()
    else:
        data = meta_graph_def.SerializeToString(deterministic=True)
    _atomic_write(os.fspath(filename), data, sync)


# -- import ---------------------------------------------------------------------------------------
def _has_unknown_fields(message):
    try:
        return len(_unknown_fields.UnknownFieldSet(message)) > 0
    except Exception:  # noqa: BLE001 - an implementation without the API: trust the parse
        return False


def read_meta_graph_file(filename):
    """Reads a MetaGraphDef file: binary first, then text format; an error naming the file when it
    is neither (or does not exist).

    Example:
        >>> read_meta_graph_file("/nonexistent.meta")
        Traceback (most recent call last):
        ...
        OSError: MetaGraphDef file /nonexistent.meta does not exist
    """
    filename = os.fspath(filename)
    if isinstance(filename, bytes):
        filename = filename.decode()
    try:
        with open(filename, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise OSError(f"MetaGraphDef file {filename} does not exist") from None
    except IsADirectoryError:
        raise OSError(f"{filename} is a directory, not a MetaGraphDef file (.meta)") from None
    mg = meta_graph_pb2.MetaGraphDef()
    binary_error = None
    try:
        mg.ParseFromString(data)
        # Text can occasionally parse as (nonsense) binary; such a parse is all unknown fields.
        if not _has_unknown_fields(mg):
            return mg
    except (_pb_message.DecodeError, RuntimeError, ValueError) as e:
        binary_error = e
    text_mg = meta_graph_pb2.MetaGraphDef()
    try:
        text_format.Merge(data.decode("utf-8"), text_mg, allow_unknown_field=True,
                          descriptor_pool=_tensorflow_alias_pool())
        return text_mg
    except (UnicodeDecodeError, text_format.ParseError) as text_error:
        if binary_error is None:
            return mg  # a binary file with fields newer than ours
        raise OSError(f"Cannot parse file {filename} ({len(data)} bytes) as a MetaGraphDef: not binary "
                      f"({binary_error}) and not text format ({text_error})") from None


def _prepare_graph_def(meta_graph_def, clear_devices, scope):
    """The GraphDef to import: devices cleared and Enter frame names scoped, on a copy (the caller's
    proto is never modified)."""
    gd = meta_graph_def.graph_def
    needs_frames = bool(scope) and any(nd.op in ("Enter", "RefEnter") for nd in gd.node)
    if not clear_devices and not needs_frames:
        return gd
    gd = graph_pb2.GraphDef.FromString(gd.SerializeToString())
    for nd in gd.node:
        if clear_devices:
            nd.device = ""
        if needs_frames and nd.op in ("Enter", "RefEnter") and "frame_name" in nd.attr:
            nd.attr["frame_name"].s = (scope + "/").encode() + nd.attr["frame_name"].s
    return gd


def _as_meta_graph_def(meta_graph_or_file):
    if isinstance(meta_graph_or_file, meta_graph_pb2.MetaGraphDef):
        return meta_graph_or_file
    if isinstance(meta_graph_or_file, (str, bytes, os.PathLike)):
        return read_meta_graph_file(meta_graph_or_file)
    if hasattr(meta_graph_or_file, "SerializeToString") and hasattr(meta_graph_or_file, "graph_def"):
        return meta_graph_pb2.MetaGraphDef.FromString(meta_graph_or_file.SerializeToString())
    raise TypeError(f"expected a MetaGraphDef or a file name, got {type(meta_graph_or_file).__name__}")


def import_scoped_meta_graph_with_return_elements(meta_graph_or_file, clear_devices=False, graph=None,
                                                  import_scope=None, input_map=None,
                                                  unbound_inputs_col_name=UNBOUND_INPUTS_COLLECTION,
                                                  restore_collections_predicate=(lambda key: True),
                                                  return_elements=None):
    """Imports the graph and collections; returns ``(variables by scope-less name, return elements)``."""
    mg = _as_meta_graph_def(meta_graph_or_file)
    if unbound_inputs_col_name and unbound_inputs_col_name in mg.collection_def:
        col_def = mg.collection_def[unbound_inputs_col_name]
        kind = col_def.WhichOneof("kind")
        values = [v.decode() if isinstance(v, bytes) else v for v in getattr(col_def, kind).value] if kind else []
        if values and (not input_map or sorted(values) != sorted(input_map)):
            missing = [v for v in values if not input_map or v not in input_map]
            raise ValueError(f"Graph contains unbound inputs: {','.join(missing)}. Must provide these inputs "
                             f"through input_map.")
    graph = graph or ops.get_default_graph()
    with graph.as_default():
        # The scope is taken like a name_scope would take it ("tower", then "tower_1", …).
        scope = graph.unique_name(_scope(import_scope), mark_as_used=True) if import_scope else ""
        graph_def = _prepare_graph_def(mg, clear_devices, scope)
        elements = graph_io.import_graph_def(graph_def, input_map=input_map, return_elements=return_elements,
                                             name=(scope + "/") if scope else "")
        _restore_collections(graph, mg, scope, unbound_inputs_col_name, restore_collections_predicate)
        var_list = {}
        for v in graph.get_collection(ops.GraphKeys.GLOBAL_VARIABLES):
            if _in_scope(v.name.split(":")[0], scope):
                var_list[strip_name_scope(v.name, scope)] = v
    return var_list, elements


def import_scoped_meta_graph(meta_graph_or_file, clear_devices=False, graph=None, import_scope=None,
                             input_map=None, unbound_inputs_col_name=UNBOUND_INPUTS_COLLECTION,
                             restore_collections_predicate=(lambda key: True)):
    """Imports a MetaGraphDef; returns the imported variables by (scope-less) name."""
    return import_scoped_meta_graph_with_return_elements(
        meta_graph_or_file, clear_devices, graph, import_scope, input_map, unbound_inputs_col_name,
        restore_collections_predicate)[0]


def _tensorflow_version_at_least(version, minimum):
    nums = []
    for part in re.findall(r"\d+", version)[:len(minimum)]:
        nums.append(int(part))
    return tuple(nums) >= minimum


def _restore_collections(graph, mg, scope, unbound_col, predicate):
    tf_version = mg.meta_info_def.tensorflow_version
    # VariableDef.trainable exists since TF 1.9; before, membership of trainable_variables said it.
    have_trainable = not tf_version or _tensorflow_version_at_least(tf_version, (1, 9))
    ordered = []
    if ops.GraphKeys.TRAINABLE_VARIABLES in mg.collection_def:
        ordered.append((ops.GraphKeys.TRAINABLE_VARIABLES, mg.collection_def[ops.GraphKeys.TRAINABLE_VARIABLES]))
    ordered += [(k, v) for k, v in sorted(mg.collection_def.items()) if k != ops.GraphKeys.TRAINABLE_VARIABLES]
    variable_objects = {}
    for key, col_def in ordered:
        if key == unbound_col or not predicate(key):
            continue
        kind = col_def.WhichOneof("kind")
        if kind is None:
            _log.error("Cannot identify data type for collection %s. Skipping.", key)
            continue
        from_proto = get_from_proto_function(ops.GraphKeys.GLOBAL_VARIABLES
                                             if key == ops.GraphKeys.METRIC_VARIABLES else key)
        if from_proto is not None and kind == "bytes_list":
            proto_type = get_collection_proto_type(key) or variable_pb2.VariableDef
            for value in col_def.bytes_list.value:
                if key in _VARIABLE_COLLECTIONS:
                    obj = variable_objects.get(value)
                    if obj is None:
                        proto = proto_type.FromString(value)
                        if not have_trainable:
                            proto.trainable = key == ops.GraphKeys.TRAINABLE_VARIABLES
                        obj = variable_objects[value] = _from_proto(from_proto, proto, scope, key)
                else:
                    obj = _from_proto(from_proto, proto_type.FromString(value), scope, key)
                graph.add_to_collection(key, obj)
            continue
        if key in _COMPAT_COLLECTION_LIST:
            _log.warning("The saved meta_graph is possibly from an older release:\n'%s' collection should be "
                         "of type 'byte_list', but instead is of type '%s'.", key, kind)
        values = getattr(col_def, kind).value
        if kind == "node_list":
            for value in values:
                name = prepend_name_scope(value, scope)
                try:
                    element = graph.as_graph_element(name)
                except (KeyError, ValueError) as e:
                    raise ValueError(f"collection {key!r} of the MetaGraphDef names {value!r}, which is not "
                                     f"in the imported graph: {e}") from None
                graph.add_to_collection(key, element)
        elif kind == "int64_list":
            for value in values:
                graph.add_to_collection(key, int(value))
        elif kind == "float_list":
            for value in values:
                graph.add_to_collection(key, float(value))
        elif kind == "bytes_list":
            for value in values:
                if key in _RAW_PROTO_COLLECTIONS and scope:
                    value = _rescope_raw_proto(key, value, import_scope=scope)
                graph.add_to_collection(key, value)
        else:  # any_list
            for value in values:
                graph.add_to_collection(key, value)


def _from_proto(from_proto, proto, scope, key):
    try:
        return from_proto(proto, import_scope=scope or None)
    except (KeyError, ValueError) as e:
        raise ValueError(f"collection {key!r}: cannot rebuild its object from {type(proto).__name__} "
                         f"{proto}: {e}") from None


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, **kwargs):
    """``tf.compat.v1.train.import_meta_graph``: adds the nodes and collections of a MetaGraphDef
    (proto or file, binary or text) to the default graph; returns a Saver for its variables.

    ``import_scope`` is made unique ("tower" → "tower_1" when taken) and prefixes every node, input,
    colocation and frame name. kwargs: ``input_map``, ``return_elements``,
    ``restore_collections_predicate``. Returns the Saver of ``saver_def`` (scoped), a new Saver when
    there is none but the graph has variables, else None.

    Example:
        >>> saver = tf.train.import_meta_graph("/tmp/train/model-100.meta")    # doctest: +SKIP
        >>> saver.restore(sess, "/tmp/train/model-100")                        # doctest: +SKIP
    """
    from gpugraph.train import saver as saver_lib
    return saver_lib.import_meta_graph(meta_graph_or_file, clear_devices=clear_devices,
                                       import_scope=import_scope, **kwargs)
