"""The ``gpugraph`` command: inspect graphs and SavedModels, read checkpoints, run a model once, serve it.

    gpugraph inspect PATH [--json] [--tags serve]
    gpugraph checkpoint PREFIX [--export FILE.npz|FILE.safetensors] [--json]
    gpugraph run MODEL --feed NAME=VALUE ... [--fetch NAME ...] [--signature KEY] [--checkpoint PREFIX]
                 [--output OUT.npz]
    gpugraph serve --model_name=NAME --model_base_path=DIR [--rest_api_port=8501] [--rest_api_host=127.0.0.1]
                   [--max_request_bytes=N] [--enable_batching [--batching_parameters_file=F]]

``inspect`` reads ``.meta`` (MetaGraphDef), ``.pb`` (GraphDef, or a SavedModel's ``saved_model.pb``),
``.pbtxt`` (text GraphDef / MetaGraphDef / SavedModel) and SavedModel directories, and lists op
types gpugraph does not support before anything runs: the exit status is 2 when there are any.
Long checkpoint exports and loads report progress on stderr when it is a terminal, or with
``--progress``.

Example:
    $ gpugraph inspect models/mlp/1 --json | jq .meta_graphs[0].signatures
    $ gpugraph run models/mlp/1 --feed x='[[0.1, 0.2, 0.3]]'
    $ gpugraph serve --model_name=mlp --model_base_path=/models/mlp --rest_api_port=8501
"""

import argparse
import collections
import contextlib
import json
import logging
import os
import re
import sys
import threading
import time

import numpy as np

EXIT_OK, EXIT_ERROR, EXIT_UNSUPPORTED = 0, 1, 2


class CliError(Exception):
    """A user-facing failure: printed as ``gpugraph <command>: error: <message>``, exit status 1."""


# -- progress -------------------------------------------------------------------------------------
class Progress:
    """A one-line percentage on stderr (only when enabled: a terminal, or ``--progress``).

    Example:
        >>> p = Progress("exporting", total=1000, enabled=True)
        >>> p.advance(500)                  # stderr: "exporting:  50% (0.0/0.0 MB)"
        >>> p.done()
    """

    def __init__(self, label, total, enabled, unit="MB", scale=1 << 20):
        self.label, self.total, self.enabled = label, max(int(total), 0), enabled
        self.unit, self.scale = unit, scale
        self.value = 0
        self._last = -1
        self._started = time.monotonic()
        self._lock = threading.Lock()  # checkpoint reads report from several threads

    def advance(self, n):
        with self._lock:
            self._advance(n)

    def _advance(self, n):
        self.value += n
        if not self.enabled:
            return
        pct = 100 if not self.total else min(100, int(100 * self.value / self.total))
        tty = sys.stderr.isatty()
        # A terminal gets one line rewritten in place; a log file a line per 10%.
        step = pct if tty else pct - pct % 10
        if step != self._last:
            self._last = step
            lead, end = ("\r", "") if tty else ("", "\n")
            sys.stderr.write(f"{lead}{self.label}: {pct:3d}% ({self.value / self.scale:.1f}/"
                             f"{self.total / self.scale:.1f} {self.unit}){end}")
            sys.stderr.flush()

    def done(self):
        if self.enabled:
            if self._last != 100:
                self.value = max(self.value, self.total)
                self._last = -1
                self.advance(0)
            sys.stderr.write(f"{' ' if sys.stderr.isatty() else self.label + ': '}done in "
                             f"{time.monotonic() - self._started:.1f} s\n")
            sys.stderr.flush()


def _progress_enabled(args):
    return bool(getattr(args, "progress", False)) or sys.stderr.isatty()


def _phase(args, message):
    """A progress line for a step with no finer-grained measure (graph import, variable restore)."""
    if _progress_enabled(args):
        sys.stderr.write(f"[gpugraph] {message}\n")
        sys.stderr.flush()


def _checkpoint_bytes(prefix):
    from gpugraph.train import bundle
    try:
        with bundle.BundleReader(prefix) as reader:
            return len(reader), sum(e.size for _, e in reader.raw_entries())
    except Exception:  # noqa: BLE001 - only for the progress line
        return None, None


@contextlib.contextmanager
def _restoring(args, prefix):
    """Progress of a variable restore from ``prefix`` run inside the block: a percentage over the
    checkpoint's bytes, as the checkpoint reader reports each tensor (``io_bundle.progress_callback``)."""
    count, size = _checkpoint_bytes(prefix) if _progress_enabled(args) else (None, None)
    if count is None:
        yield
        return
    from gpugraph.ops import io_bundle
    progress = Progress(f"restoring {prefix}", size, True)
    with io_bundle.progress_callback(progress.advance):
        yield
    progress.done()


# -- reading model files --------------------------------------------------------------------------
class _Graph:
    """One graph to inspect: its GraphDef, and what the container adds (tags, signatures, ...)."""

    def __init__(self, graph_def, kind, tags=None, meta_graph_def=None):
        self.graph_def = graph_def
        self.kind = kind
        self.tags = tags
        self.meta_graph_def = meta_graph_def


def _read_model_file(path):
    """(description, [_Graph]) for any file or directory ``inspect`` accepts."""
    from google.protobuf import message as pb_message
    from google.protobuf import text_format

    from gpugraph.framework import meta_graph as meta_graph_lib
    from gpugraph.protos import graph_pb2, meta_graph_pb2, saved_model_pb2
    from gpugraph.saved_model import loader as sm_loader

    if os.path.isdir(path):
        if not sm_loader.maybe_saved_model_directory(path):
            versions = _numeric_subdirs(path)
            if versions:
                return _read_model_file(os.path.join(path, str(versions[-1])))
            raise CliError(f"{path} is a directory without saved_model.pb or saved_model.pbtxt (and without "
                           f"numeric version subdirectories)")
        return _saved_model_graphs(path, sm_loader.parse_saved_model(path))
    if not os.path.isfile(path):
        raise CliError(f"{path} does not exist")
    with open(path, "rb") as f:
        data = f.read()
    base = os.path.basename(path)
    if base in ("saved_model.pb", "saved_model.pbtxt"):
        export_dir = os.path.dirname(path) or "."
        return _saved_model_graphs(export_dir, sm_loader.parse_saved_model(export_dir))
    if path.endswith(".meta"):
        try:
            mg = meta_graph_lib.read_meta_graph_file(path)
        except OSError as e:
            raise CliError(str(e)) from None
        return f"MetaGraphDef {path}", [_Graph(mg.graph_def, "MetaGraphDef", list(mg.meta_info_def.tags), mg)]
    candidates = []
    if not path.endswith(".pbtxt"):  # binary first
        for cls, kind in ((graph_pb2.GraphDef, "GraphDef"), (meta_graph_pb2.MetaGraphDef, "MetaGraphDef"),
                          (saved_model_pb2.SavedModel, "SavedModel")):
            msg = cls()
            try:
                msg.ParseFromString(data)
            except (pb_message.DecodeError, RuntimeError, ValueError):
                continue
            if not _has_unknown_fields(msg) and _looks_like(msg, kind):
                candidates.append((msg, kind))
                break
    if not candidates:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            pool = sm_loader._text_pool()
            for cls, kind in ((graph_pb2.GraphDef, "GraphDef"), (meta_graph_pb2.MetaGraphDef, "MetaGraphDef"),
                              (saved_model_pb2.SavedModel, "SavedModel")):
                msg = cls()
                try:
                    text_format.Merge(text, msg, descriptor_pool=pool)
                except text_format.ParseError:
                    continue
                candidates.append((msg, kind))
                break
    if not candidates:
        raise CliError(f"cannot parse {path} ({len(data)} bytes) as a GraphDef, MetaGraphDef or SavedModel, "
                       f"binary or text")
    msg, kind = candidates[0]
    if kind == "SavedModel":
        return _saved_model_graphs(os.path.dirname(path) or ".", msg)
    if kind == "MetaGraphDef":
        return f"MetaGraphDef {path}", [_Graph(msg.graph_def, kind, list(msg.meta_info_def.tags), msg)]
    return f"GraphDef {path}", [_Graph(msg, kind)]


def _has_unknown_fields(message):
    from google.protobuf import unknown_fields
    try:
        return len(unknown_fields.UnknownFieldSet(message)) > 0
    except Exception:  # noqa: BLE001
        return False


def _looks_like(msg, kind):
    if kind == "GraphDef":  # other messages can parse as a (nonsense) GraphDef: real nodes have op names
        return len(msg.node) > 0 and all(_OP_NAME.fullmatch(nd.op) for nd in msg.node)
    if kind == "MetaGraphDef":
        return msg.HasField("graph_def")
    return len(msg.meta_graphs) > 0


_OP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_>.]*")


def _saved_model_graphs(export_dir, saved_model):
    graphs = [_Graph(mg.graph_def, "SavedModel", list(mg.meta_info_def.tags), mg) for mg in saved_model.meta_graphs]
    return f"SavedModel {export_dir}", graphs


def _numeric_subdirs(path):
    try:
        return sorted(int(e) for e in os.listdir(path) if e.isdigit() and os.path.isdir(os.path.join(path, e)))
    except OSError:
        return []


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


# -- checkpoint -----------------------------------------------------------------------------------
def _resolve_prefix(prefix):
    """A checkpoint prefix from a prefix, a training directory (its latest checkpoint) or a SavedModel."""
    from gpugraph.train import checkpoint_management
    if os.path.isdir(prefix):
        if os.path.isfile(os.path.join(prefix, "variables", "variables.index")):
            return os.path.join(prefix, "variables", "variables")
        latest = checkpoint_management.latest_checkpoint(prefix)
        if latest is None:
            raise CliError(f"{prefix} is a directory with no checkpoint (no 'checkpoint' state file naming one, and "
                           f"no SavedModel variables/)")
        return latest
    for suffix in (".index", ".meta"):
        if prefix.endswith(suffix):
            return prefix[:-len(suffix)]
    if ".data-" in os.path.basename(prefix):
        return prefix.rsplit(".data-", 1)[0]
    return prefix


_SAFETENSORS_DTYPES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
                       "float16": "F16", "bfloat16": "BF16", "int32": "I32", "uint32": "U32", "float32": "F32",
                       "float64": "F64", "int64": "I64", "uint64": "U64"}


def write_safetensors(path, tensors, metadata=None, progress=None):
    """Writes ``tensors`` (name → NumPy array) in the safetensors format: an 8-byte little-endian
    header length, a JSON header (``dtype``, ``shape``, ``data_offsets`` per tensor, keys sorted,
    padded with spaces to 8 bytes), then the raw little-endian bytes. Written to a temporary file
    and renamed into place.

    Example:
        >>> write_safetensors("/tmp/w.safetensors", {"w": np.ones((2, 2), np.float32)})
    """
    header, offset, order = {}, 0, sorted(tensors)
    for name in order:
        arr = tensors[name]
        code = _SAFETENSORS_DTYPES.get(arr.dtype.name)
        if code is None:
            raise CliError(f"tensor {name!r} has dtype {arr.dtype}, which safetensors cannot hold")
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(len(blob).to_bytes(8, "little"))
            f.write(blob)
            for name in order:
                arr = np.ascontiguousarray(tensors[name])
                if arr.dtype.byteorder == ">":
                    arr = arr.astype(arr.dtype.newbyteorder("<"))
                f.write(arr.tobytes())
                if progress is not None:
                    progress.advance(arr.nbytes)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_safetensors(path):
    """The tensors of a safetensors file (name → array), for checks and round trips."""
    import ml_dtypes
    codes = {v: k for k, v in _SAFETENSORS_DTYPES.items()}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = ml_dtypes.bfloat16 if info["dtype"] == "BF16" else np.dtype(codes[info["dtype"]])
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
    return out


def cmd_checkpoint(args):
    from gpugraph.train import bundle
    prefix = _resolve_prefix(args.prefix)
    try:
        reader = bundle.BundleReader(prefix)
    except Exception as e:  # noqa: BLE001 - named for the user
        raise CliError(f"cannot open checkpoint {prefix}: {e}") from None
    with reader:
        rows = []
        for key in reader.keys():
            dtype, shape = reader.dtype_and_shape(key)
            rows.append({"name": key, "dtype": dtype.name, "shape": list(shape), "bytes": reader.entry(key).size})
        total = sum(r["bytes"] for r in rows)
        if args.json:
            json.dump({"prefix": prefix, "tensors": rows, "bytes": total}, sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            width = max([len(r["name"]) for r in rows] + [4])
            print(f"checkpoint {prefix}: {len(rows)} tensors, {total / (1 << 20):.2f} MB")
            for r in rows:
                print(f"  {r['name']:{width}s}  {r['dtype']:10s} {r['shape']}")
        if args.export:
            _export(reader, rows, args.export, prefix, _progress_enabled(args))
    return EXIT_OK


def _export(reader, rows, path, prefix, progress_on):
    lower = path.lower()
    if not lower.endswith((".npz", ".safetensors")):
        raise CliError(f"--export {path}: the file name must end in .npz or .safetensors")
    progress = Progress(f"reading {prefix}", sum(r["bytes"] for r in rows), progress_on)
    tensors, skipped, converted = {}, [], []
    for r in rows:
        value = np.asarray(reader.read(r["name"]))
        progress.advance(r["bytes"])
        if value.dtype == object:
            if lower.endswith(".safetensors"):
                skipped.append(r["name"])
                continue
            value = value.astype(bytes)  # fixed-width bytes: loads without pickle
        elif value.dtype.name == "bfloat16" and lower.endswith(".npz"):
            value = value.astype(np.float32)  # exact; .npy has no bfloat16
            converted.append(r["name"])
        tensors[r["name"]] = value
    progress.done()
    writing = Progress(f"writing {os.path.basename(path)}", sum(v.nbytes for v in tensors.values()), progress_on)
    if lower.endswith(".npz"):
        tmp = f"{path}.tmp{os.getpid()}.npz"
        try:
            np.savez(tmp, **tensors)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        write_safetensors(path, tensors, {"format": "np", "source": prefix}, writing)
    writing.done()
    if skipped:
        sys.stderr.write(f"gpugraph checkpoint: skipped {len(skipped)} string tensor(s) safetensors cannot hold: "
                         f"{', '.join(skipped)}\n")
    if converted:
        sys.stderr.write(f"gpugraph checkpoint: wrote bfloat16 tensor(s) as float32 in the .npz: "
                         f"{', '.join(converted)}\n")
    print(f"wrote {len(tensors)} tensors to {path}")


# -- run ------------------------------------------------------------------------------------------
def _parse_feed(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CliError(f"--feed {text!r}: expected NAME=FILE.npy, NAME=FILE.npz[:KEY] or NAME=<JSON>")
    return name, value


def _load_feed_value(name, value):
    path, _, key = value.partition(":") if value.lower().split(":")[0].endswith(".npz") else (value, "", "")
    if os.path.isfile(path) and path.lower().endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if os.path.isfile(path) and path.lower().endswith(".npz"):
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            pick = key or (files[0] if len(files) == 1 else name if name in files else
                           name.split(":")[0] if name.split(":")[0] in files else None)
            if pick is None or pick not in files:
                raise CliError(f"--feed {name}: {path} holds {files}; name one as {path}:KEY")
            return npz[pick]
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        hint = " (no such file)" if value.lower().endswith((".npy", ".npz", ".json")) else ""
        raise CliError(f"--feed {name}={value!r}: not a .npy/.npz file{hint} and not JSON ({e.msg})") from None


def _load_for_run(args, graph, sess):
    """Loads MODEL into ``sess``; returns (feed name → tensor resolver, default fetches)."""
    from gpugraph.framework import graph_io
    from gpugraph.saved_model import loader as sm_loader
    from gpugraph.train import saver as saver_lib
    model = args.model
    if os.path.isdir(model):
        if not sm_loader.maybe_saved_model_directory(model):
            versions = _numeric_subdirs(model)
            if not versions:
                raise CliError(f"{model} is not a SavedModel directory")
            model = os.path.join(model, str(versions[-1]))
        _phase(args, f"loading SavedModel {model} (tags {args.tags})")
        with _restoring(args, sm_loader.get_variables_path(model)):
            mg = sm_loader.load(sess, args.tags.split(","), model)
        signature = args.signature
        if signature not in mg.signature_def:
            raise CliError(f"signature {signature!r} not in {model} (it has: {', '.join(sorted(mg.signature_def))})")
        sig = mg.signature_def[signature]
        return ({k: v.name for k, v in sig.inputs.items()}, {k: v.name for k, v in sig.outputs.items()})
    if not os.path.isfile(model):
        raise CliError(f"{model} does not exist")
    checkpoint = args.checkpoint
    if model.endswith(".meta"):
        _phase(args, f"importing {model}")
        saver, _ = saver_lib._import_meta_graph_with_return_elements(model)
        if checkpoint is None and os.path.isfile(model[:-len(".meta")] + ".index"):
            checkpoint = model[:-len(".meta")]
        if checkpoint is not None:
            checkpoint = _resolve_prefix(checkpoint)
            if saver is None:
                raise CliError(f"{model} has no variables to restore from {checkpoint}")
            with _restoring(args, checkpoint):
                saver.restore(sess, checkpoint)
        return {}, {}
    _phase(args, f"importing {model}")
    graph_io.import_graph_def(graph_io.read_graph_def_file(model), name="")
    if checkpoint is not None:
        _restore_graph_def_variables(args, graph, sess, _resolve_prefix(checkpoint))
    return {}, {}


def _restore_graph_def_variables(args, graph, sess, prefix):
    """Assigns checkpoint values to the variables of an imported GraphDef (which has no collections,
    so no Saver): every VariableV2 / VarHandleOp whose name is a checkpoint key."""
    from gpugraph.framework import op_builder
    from gpugraph.train import bundle
    assigns, feeds = [], {}
    with bundle.BundleReader(prefix) as reader, graph.as_default():
        for op in list(graph.get_operations()):
            if op.type not in ("VariableV2", "VarHandleOp", "Variable") or op.name not in reader:
                continue
            value = reader.read(op.name)
            dtype = op.get_attr("dtype")
            holder = op_builder.apply_op("Placeholder", dtype=dtype, name=f"gpugraph_restore/{op.name}")
            if op.type == "VarHandleOp":
                assigns.append(op_builder.apply_op("AssignVariableOp", resource=op.outputs[0], value=holder,
                                                   name=f"gpugraph_restore/{op.name}/assign"))
            else:
                assigns.append(op_builder.apply_op("Assign", ref=op.outputs[0], value=holder,
                                                   name=f"gpugraph_restore/{op.name}/assign").op)
            feeds[holder] = value
    if not assigns:
        raise CliError(f"no variable of the graph is in checkpoint {prefix}")
    with _restoring(args, prefix):
        sess.run(assigns, feeds)


def _format_array(name, value):
    arr = np.asarray(value)
    with np.printoptions(threshold=200, edgeitems=4, linewidth=120):
        return f"{name}: {arr.dtype} {list(arr.shape)}\n{arr!r}"


def cmd_run(args):
    from gpugraph.framework import ops
    from gpugraph.runtime.session import Session
    graph = ops.Graph()
    sess = Session(graph=graph)
    try:
        with graph.as_default():
            inputs, outputs = _load_for_run(args, graph, sess)
        feeds = {}
        for text in args.feed or []:
            name, value = _parse_feed(text)
            tensor = inputs.get(name, name if ":" in name else name + ":0")
            feeds[tensor] = _load_feed_value(name, value)
        fetch_names = args.fetch or list(outputs)
        if not fetch_names:
            raise CliError("nothing to fetch: name tensors with --fetch NAME (e.g. --fetch logits:0)")
        fetches = {n: outputs.get(n, n if ":" in n else n + ":0") for n in fetch_names}
        missing = [k for k, tensor in inputs.items() if tensor not in feeds]
        if missing:
            raise CliError(f"signature {args.signature!r} needs --feed for: {', '.join(missing)}")
        try:
            values = sess.run(fetches, feeds)
        except (KeyError, TypeError, ValueError) as e:
            raise CliError(str(e)) from None
    finally:
        sess.close()
    if args.output:
        _write_outputs(args.output, values)
        print(f"wrote {len(values)} output(s) to {args.output}")
    else:
        for name in fetch_names:
            print(_format_array(name, values[name]))
    return EXIT_OK


def _write_outputs(path, values):
    arrays = {}
    for name, value in values.items():
        arr = np.asarray(value)
        arrays[name] = arr.astype(bytes) if arr.dtype == object else arr
    if path.lower().endswith(".npy"):
        if len(arrays) != 1:
            raise CliError(f"--output {path}: a .npy file holds one array, but {len(arrays)} were fetched (use .npz)")
        np.save(path, next(iter(arrays.values())))
    elif path.lower().endswith(".npz"):
        np.savez(path, **arrays)
    else:
        raise CliError(f"--output {path}: the file name must end in .npz or .npy")


# -- serve ----------------------------------------------------------------------------------------
def cmd_serve(args):
    from gpugraph.serving import server
    from gpugraph.serving.batching import BatchingOptions
    from gpugraph.serving.model import ModelLoadError, ServedModel
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    batching = None
    if args.enable_batching:
        if args.batching_parameters_file:
            try:
                with open(args.batching_parameters_file) as f:
                    batching = BatchingOptions.from_text(f.read())
            except (OSError, ValueError) as e:
                raise CliError(f"--batching_parameters_file {args.batching_parameters_file}: {e}") from None
        else:
            batching = BatchingOptions()
    if args.model_base_path is None:
        if not os.environ.get("MODEL_BASE_PATH"):
            raise CliError("--model_base_path is required (or set MODEL_BASE_PATH: the model is then "
                           "$MODEL_BASE_PATH/<model_name>)")
        args.model_base_path = os.path.join(os.environ["MODEL_BASE_PATH"], args.model_name)
    if args.max_request_bytes < 1:
        raise CliError(f"--max_request_bytes must be positive, got {args.max_request_bytes}")
    model = ServedModel(args.model_name, args.model_base_path, tags=args.saved_model_tags.split(","),
                        poll_seconds=args.file_system_poll_wait_seconds,
                        on_load=server.attach_batchers(batching))
    try:
        versions = model._versions_or_error()
        _phase(args, f"loading model {args.model_name} version {versions[-1]} from {model.base_path}")
        with _restoring(args, os.path.join(model.base_path, str(versions[-1]), "variables", "variables")):
            servable = model.load_initial()
    except ModelLoadError as e:
        raise CliError(str(e)) from None
    options = server.ServerOptions(host=args.rest_api_host, port=args.rest_api_port,
                                   max_request_bytes=args.max_request_bytes, num_threads=args.rest_api_num_threads,
                                   uvicorn_log_level="info" if args.verbose else "warning")
    try:
        sock = server.bind(options.host, options.port)
    except OSError as e:
        raise CliError(str(e)) from None
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"gpugraph serve: model '{model.name}' version {servable.version} AVAILABLE "
          f"(signatures: {', '.join(sorted(servable.signatures))}); REST API on http://{shown}:{port}"
          + (f"; batching up to {batching.max_batch_size} rows" if batching else ""), flush=True)
    model.start_polling()
    app = server.create_app(model, options)
    server.run(app, sock, options)
    return EXIT_OK


# -- argument parsing -----------------------------------------------------------------------------
def _bool_flag(text):
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser():
    parser = argparse.ArgumentParser(prog="gpugraph", description="Inspect, run and serve TensorFlow-1 graphs "
                                     "and SavedModels with gpugraph.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="ops, inputs/outputs, signatures, collections, devices, unsupported ops",
                       description="Describe a .meta, .pb, .pbtxt or SavedModel directory. Exit status 2 when the "
                                   "graph uses op types gpugraph does not support.")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("checkpoint", help="list a checkpoint's variables; export them",
                       description="PREFIX is a checkpoint prefix, a training directory (its latest checkpoint) "
                                   "or a SavedModel directory.")
    p.add_argument("prefix")
    p.add_argument("--export", metavar="FILE", help="write every tensor to FILE.npz or FILE.safetensors")
    p.add_argument("--json", action="store_true")
    p.add_argument("--progress", action="store_true", help="show progress on stderr even when not a terminal")
    p.set_defaults(func=cmd_checkpoint)

    p = sub.add_parser("run", help="run a model once on given feeds",
                       description="MODEL is a SavedModel directory (feeds and fetches are signature keys or tensor "
                                   "names) or a .pb/.pbtxt/.meta graph (tensor names; --checkpoint restores "
                                   "variables; a .meta next to its checkpoint restores it by default).")
    p.add_argument("model")
    p.add_argument("--feed", action="append", metavar="NAME=VALUE",
                   help="VALUE: FILE.npy, FILE.npz[:KEY] or a JSON literal such as [[1, 2]]")
    p.add_argument("--fetch", action="append", metavar="NAME", help="default: every output of the signature")
    p.add_argument("--signature", default="serving_default")
    p.add_argument("--tags", default="serve", help="comma-separated SavedModel tags (default: serve)")
    p.add_argument("--checkpoint", metavar="PREFIX")
    p.add_argument("--output", metavar="FILE", help="save the outputs to FILE.npz (or FILE.npy for one)")
    p.add_argument("--progress", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("serve", help="serve a model over TF Serving's REST API",
                       description="Serves the highest numeric version under --model_base_path with TF Serving's "
                                   "REST API (/v1/models/NAME, /metadata, :predict).")
    p.add_argument("--model_name", default=os.environ.get("MODEL_NAME", "default"),
                   help="default: $MODEL_NAME, else 'default'")
    p.add_argument("--model_base_path", help="default: $MODEL_BASE_PATH/<model_name> (TF Serving's Docker layout)")
    p.add_argument("--rest_api_port", type=int, default=8501, help="0 picks a free port")
    p.add_argument("--rest_api_host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--rest_api_num_threads", type=int, default=32, help="threads running requests")
    p.add_argument("--max_request_bytes", type=int, default=64 << 20,
                   help="larger request bodies get HTTP 413 (default 64 MiB)")
    p.add_argument("--enable_batching", type=_bool_flag, nargs="?", const=True, default=False)
    p.add_argument("--batching_parameters_file", help="TF Serving's BatchingParameters text proto")
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                   help="how often to look for a newer version (0: never)")
    p.add_argument("--saved_model_tags", default="serve")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--verbose", action="store_true", help="log loads, versions and each HTTP request")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None):
    """The console script ``gpugraph``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as e:
        sys.stderr.write(f"gpugraph {args.command}: error: {e}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
