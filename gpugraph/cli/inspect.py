"""``gpugraph inspect``: ops, inputs/outputs, signatures, collections, devices, unsupported ops."""

import collections
import json
import logging
import os
import sys

from gpugraph.cli._common import EXIT_OK, EXIT_UNSUPPORTED, _checkpoint_bytes, _read_model_file


# -- inspect --------------------------------------------------------------------------------------
def _shape_text(shape_proto):
    if shape_proto.unknown_rank:
        return "<unknown>"
    return "[" + ", ".join("?" if d.size < 0 else str(d.size) for d in shape_proto.dim) + "]"


def _dtype_name(enum):
    from gpugraph.framework import dtypes
    try:
        return dtypes.as_dtype(enum).name
    except (TypeError, ValueError, KeyError):
        return f"<dtype {enum}>"


def _tensor_info_dict(info):
    encoding = info.WhichOneof("encoding")
    name = info.name if encoding == "name" else f"<{encoding}>"
    return {"name": name, "dtype": _dtype_name(info.dtype), "shape": _shape_text(info.tensor_shape)}


def _placeholders(graph_def):
    out = []
    for nd in graph_def.node:
        if nd.op in ("Placeholder", "PlaceholderWithDefault", "PlaceholderV2"):
            dtype = _dtype_name(nd.attr["dtype"].type) if "dtype" in nd.attr else "?"
            shape = _shape_text(nd.attr["shape"].shape) if "shape" in nd.attr else "<unknown>"
            out.append({"name": nd.name + ":0", "op": nd.op, "dtype": dtype, "shape": shape})
    return out


# Op types that end a graph without being a model output: initialization, checkpointing, bookkeeping.
_NOT_OUTPUTS = frozenset(["NoOp", "Const", "SaveV2", "RestoreV2", "MergeV2Checkpoints", "Assign", "AssignAdd",
                          "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
                          "VarIsInitializedOp", "IsVariableInitialized", "VariableV2", "VarHandleOp"])


def _sinks(graph_def):
    """Nodes whose outputs nobody reads (candidate outputs), leaving out Saver and init plumbing."""
    from gpugraph.framework.graph_io import _parse_input
    consumed = set()
    for nd in graph_def.node:
        for inp in nd.input:
            consumed.add(_parse_input(inp)[0])
    out = []
    for nd in graph_def.node:
        if nd.name in consumed or nd.op in _NOT_OUTPUTS:
            continue
        if nd.name.startswith(("save/", "save_")) or "/Initializer/" in nd.name:
            continue
        entry = {"name": nd.name, "op": nd.op}
        if "_output_shapes" in nd.attr and nd.attr["_output_shapes"].list.shape:
            entry["shape"] = _shape_text(nd.attr["_output_shapes"].list.shape[0])
        for key in ("T", "dtype", "out_type", "DstT"):
            if key in nd.attr and nd.attr[key].type:
                entry["dtype"] = _dtype_name(nd.attr[key].type)
                break
        out.append(entry)
    return out


def _unsupported(graph_def):
    """{op type: [node names]} for op types gpugraph has no (CPU) kernel for, in the graph and its
    function library."""
    from gpugraph.framework import registry
    found = collections.OrderedDict()
    nodes = list(graph_def.node)
    for fn in graph_def.library.function:
        nodes.extend(fn.node_def)
    function_names = {fn.signature.name for fn in graph_def.library.function}
    for nd in nodes:
        if nd.op in function_names:
            continue
        spec = registry.lookup(nd.op)
        if spec is None or spec.kernel_for("CPU") is None:
            found.setdefault(nd.op, []).append(nd.name)
    return found


def _collections(meta_graph_def):
    out = {}
    if meta_graph_def is None:
        return out
    for key, col in sorted(meta_graph_def.collection_def.items()):
        kind = col.WhichOneof("kind")
        out[key] = {"kind": kind or "empty", "size": len(getattr(col, kind).value) if kind else 0}
    return out


def _placement(graph_def, has_unsupported):
    """Devices requested by the nodes, and where this host would run them (gpugraph's placer)."""
    requested = collections.Counter(nd.device or "" for nd in graph_def.node)
    result = {"requested": {k or "(none)": v for k, v in sorted(requested.items())}}
    try:
        from gpugraph.runtime import devices, placement
    except ImportError:
        result["placement"] = None
        result["note"] = "this gpugraph has no placer; every op runs on CPU:0"
        return result
    quiet = logging.getLogger("gpugraph")
    previous = quiet.level
    quiet.setLevel(logging.ERROR)  # "no GPU" and remap warnings: the report below says it all
    try:
        return _place(graph_def, has_unsupported, result, devices, placement)
    finally:
        quiet.setLevel(previous)


def _place(graph_def, has_unsupported, result, devices, placement):
    inventory = devices.inventory()
    result["host_devices"] = [d.name for d in inventory.devices]
    if has_unsupported:
        result["placement"] = None
        result["note"] = "not computed: the graph uses op types gpugraph does not support"
        return result
    from gpugraph.framework import graph_io, ops
    graph = ops.Graph()
    try:
        with graph.as_default():
            graph_io.import_graph_def(graph_def, name="")
        decisions = placement.Placer(graph, inventory).place()
    except Exception as e:  # noqa: BLE001 - inspect reports what it can
        result["placement"] = None
        result["note"] = f"not computed: {type(e).__name__}: {e}"
        return result
    table = collections.Counter((d.requested or "(none)", d.assigned) for d in decisions)
    result["placement"] = [{"requested": r, "assigned": a, "ops": n} for (r, a), n in sorted(table.items())]
    fallbacks = collections.Counter()
    for d in decisions:
        if _moved(d.requested, d.assigned):
            fallbacks[d.reason] += 1
    if fallbacks:
        result["moved"] = [{"reason": r, "ops": n} for r, n in fallbacks.most_common()]
    return result


def _moved(requested, assigned):
    """True when an op asked for a device type (and index) other than the one it gets."""
    from gpugraph.framework.device import DeviceSpec
    if not requested:
        return False
    want, got = DeviceSpec.from_string(requested), DeviceSpec.from_string(assigned)
    if want.device_type is None:
        return False
    return want.device_type != got.device_type or (want.device_index is not None and
                                                   want.device_index != got.device_index)


def inspect_path(path):
    """A JSON-ready report of ``path`` (see the module doc); ``report["unsupported_ops"]`` lists the
    op types gpugraph cannot run, over all its graphs."""
    description, graphs = _read_model_file(path)
    report = {"path": path, "format": description.split(" ", 1)[0], "graphs": []}
    all_unsupported = collections.OrderedDict()
    for g in graphs:
        gd = g.graph_def
        hist = collections.Counter(nd.op for nd in gd.node)
        unsupported = _unsupported(gd)
        for op, names in unsupported.items():
            all_unsupported.setdefault(op, []).extend(names)
        entry = {"kind": g.kind, "nodes": len(gd.node),
                 "functions": len(gd.library.function),
                 "producer": gd.versions.producer if gd.HasField("versions") else None,
                 "op_histogram": dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
                 "placeholders": _placeholders(gd),
                 "unsupported_ops": {op: names for op, names in unsupported.items()}}
        mg = g.meta_graph_def
        if g.tags is not None:
            entry["tags"] = g.tags
        if mg is not None:
            entry["tensorflow_version"] = mg.meta_info_def.tensorflow_version
            entry["signatures"] = {
                name: {"method_name": sig.method_name,
                       "inputs": {k: _tensor_info_dict(v) for k, v in sorted(sig.inputs.items())},
                       "outputs": {k: _tensor_info_dict(v) for k, v in sorted(sig.outputs.items())}}
                for name, sig in sorted(mg.signature_def.items())}
            entry["collections"] = _collections(mg)
            if mg.HasField("saver_def"):
                entry["saver"] = {"restore_op": mg.saver_def.restore_op_name, "sharded": mg.saver_def.sharded}
        if not entry.get("signatures"):
            entry["outputs"] = _sinks(gd)
        entry["devices"] = _placement(gd, bool(unsupported))
        report["graphs"].append(entry)
    report["unsupported_ops"] = {op: sorted(set(names))[:20] for op, names in all_unsupported.items()}
    if report["format"] == "SavedModel":
        prefix = os.path.join(path if os.path.isdir(path) else os.path.dirname(path), "variables", "variables")
        count, size = _checkpoint_bytes(prefix)
        report["variables"] = {"prefix": prefix, "tensors": count, "bytes": size}
    return report


def _print_inspect(report, out):
    w = out.write
    w(f"{report['format']}: {report['path']}\n")
    if "variables" in report and report["variables"]["tensors"] is not None:
        v = report["variables"]
        w(f"variables: {v['tensors']} tensors, {v['bytes'] / (1 << 20):.2f} MB ({v['prefix']})\n")
    for i, g in enumerate(report["graphs"]):
        head = f"\n== graph {i}" + (f" (tags: {', '.join(g['tags'])})" if g.get("tags") is not None else "")
        w(head + f": {g['nodes']} nodes" + (f", {g['functions']} functions" if g["functions"] else "") + "\n")
        if g["unsupported_ops"]:
            w("UNSUPPORTED ops (gpugraph cannot run this graph):\n")
            for op, names in g["unsupported_ops"].items():
                more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
                w(f"  {op}: {', '.join(names[:3])}{more}\n")
        if g.get("signatures"):
            w("signatures:\n")
            for name, sig in g["signatures"].items():
                w(f"  {name} ({sig['method_name'] or 'no method'})\n")
                for side in ("inputs", "outputs"):
                    for key, t in sig[side].items():
                        w(f"    {side[:-1]:6s} {key}: {t['dtype']} {t['shape']}  ({t['name']})\n")
        if g["placeholders"]:
            w("placeholders:\n")
            for p in g["placeholders"]:
                w(f"  {p['name']}: {p['dtype']} {p['shape']}" + ("  (with default)" if p["op"] != "Placeholder"
                                                                 else "") + "\n")
        if g.get("outputs"):
            w("outputs (nodes nobody reads):\n")
            for o in g["outputs"][:20]:
                w(f"  {o['name']} ({o['op']})" + (f": {o.get('dtype', '?')} {o['shape']}" if "shape" in o else "")
                  + "\n")
            if len(g["outputs"]) > 20:
                w(f"  ... {len(g['outputs']) - 20} more\n")
        w("op histogram:\n")
        for op, n in g["op_histogram"].items():
            w(f"  {n:6d}  {op}\n")
        if g.get("collections"):
            w("collections:\n")
            for key, c in g["collections"].items():
                w(f"  {key}: {c['size']} ({c['kind']})\n")
        d = g["devices"]
        w("devices requested: " + ", ".join(f"{k} x{v}" for k, v in d["requested"].items()) + "\n")
        if d.get("host_devices"):
            w("this host: " + ", ".join(d["host_devices"]) + "\n")
        if d.get("placement"):
            w("placement on this host:\n")
            for p in d["placement"]:
                w(f"  {p['requested']} -> {p['assigned']}: {p['ops']} ops\n")
            for m in d.get("moved", []):
                w(f"  moved: {m['ops']} ops ({m['reason']})\n")
        elif d.get("note"):
            w(f"placement: {d['note']}\n")
    if report["unsupported_ops"]:
        w(f"\n{len(report['unsupported_ops'])} unsupported op type(s): {', '.join(report['unsupported_ops'])}\n")


def cmd_inspect(args):
    report = inspect_path(args.path)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _print_inspect(report, sys.stdout)
    return EXIT_UNSUPPORTED if report["unsupported_ops"] else EXIT_OK


