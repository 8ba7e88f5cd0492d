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
import os
import sys

from gpugraph.cli._common import EXIT_ERROR, EXIT_OK, EXIT_UNSUPPORTED, CliError, Progress  # noqa: F401
from gpugraph.cli.inspect import cmd_inspect
from gpugraph.cli.checkpoint import cmd_checkpoint, read_safetensors, write_safetensors  # noqa: F401
from gpugraph.cli.run import cmd_run
from gpugraph.cli.serve import cmd_serve


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


__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_ERROR", "EXIT_UNSUPPORTED", "CliError", "Progress",
           "read_safetensors", "write_safetensors"]
