"""``gpugraph run``: run a model once on feeds from .npy/.npz files or JSON literals."""

import json
import os

import numpy as np

from gpugraph.cli._common import CliError, EXIT_OK, _numeric_subdirs, _phase, _restoring
from gpugraph.cli.checkpoint import _resolve_prefix


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


