#!/usr/bin/env python3
"""Generate the Python protobuf bindings in ``gpugraph/protos/`` from ``protos/``.

The ``.proto`` sources live at ``protos/gpugraph/protos/*.proto`` and are
compiled with ``-I protos --python_out=<repo root>``, so the bindings land in
``gpugraph/protos/*_pb2.py`` and import each other as
``from gpugraph.protos import x_pb2``.

Usage (from anywhere; uses ``grpc_tools.protoc`` so no system protoc is needed)::

    python protos/generate.py          # regenerate gpugraph/protos/*_pb2.py
    python protos/generate.py --check  # regenerate into a temp dir, diff, exit 1 on any change

The generated files are committed and never edited by hand; ``--check`` is
what the test-suite runs to make sure they match the sources.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import pathlib
import shutil
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "protos"
PROTO_DIR = PROTO_ROOT / "gpugraph" / "protos"
OUT_PACKAGE = REPO / "gpugraph" / "protos"


def proto_sources() -> list[pathlib.Path]:
    """All ``.proto`` files, sorted so the protoc invocation is deterministic."""
    return sorted(PROTO_DIR.glob("*.proto"))


def run_protoc(out_root: pathlib.Path) -> None:
    """Compile every source into ``out_root/gpugraph/protos/``."""
    try:
        from grpc_tools import protoc
        import grpc_tools
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "protos/generate.py needs grpcio-tools (pip install 'grpcio-tools==1.85.1'): %s" % exc
        )
    # grpc_tools ships google/protobuf/*.proto (for any.proto) next to itself.
    well_known = pathlib.Path(grpc_tools.__file__).resolve().parent / "_proto"
    sources = [str(p.relative_to(PROTO_ROOT)) for p in proto_sources()]
    args = [
        "grpc_tools.protoc",
        "-I%s" % PROTO_ROOT,
        "-I%s" % well_known,
        "--python_out=%s" % out_root,
        *sources,
    ]
    # protoc resolves relative source paths against the -I roots, but run it
    # from the proto root so error messages point at readable paths.
    cwd = os.getcwd()
    os.chdir(PROTO_ROOT)
    try:
        rc = protoc.main(args)
    finally:
        os.chdir(cwd)
    if rc != 0:
        raise SystemExit("protoc failed with exit status %d" % rc)


def generated_names(directory: pathlib.Path) -> set[str]:
    return {p.name for p in directory.glob("*_pb2.py")}


def check() -> int:
    """Regenerate into a temp dir and compare with the committed bindings."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_root = pathlib.Path(tmp)
        (tmp_root / "gpugraph" / "protos").mkdir(parents=True)
        run_protoc(tmp_root)
        fresh_dir = tmp_root / "gpugraph" / "protos"
        fresh = generated_names(fresh_dir)
        committed = generated_names(OUT_PACKAGE)
        differing = []
        for name in sorted(fresh | committed):
            if name not in committed:
                differing.append("%s (missing from gpugraph/protos/)" % name)
            elif name not in fresh:
                differing.append("%s (stale: no .proto source generates it)" % name)
            elif not filecmp.cmp(fresh_dir / name, OUT_PACKAGE / name, shallow=False):
                differing.append("%s (content differs)" % name)
    if differing:
        print("gpugraph/protos/ is out of date with protos/; run `python protos/generate.py`:")
        for line in differing:
            print("  " + line)
        return 1
    print("gpugraph/protos/ is up to date (%d files)" % len(fresh))
    return 0


def generate() -> int:
    """Regenerate in place, removing bindings whose source has gone."""
    OUT_PACKAGE.mkdir(parents=True, exist_ok=True)
    init = OUT_PACKAGE / "__init__.py"
    if not init.exists():
        init.write_text('"""Generated protobuf bindings (see protos/generate.py)."""\n')
    with tempfile.TemporaryDirectory() as tmp:
        tmp_root = pathlib.Path(tmp)
        (tmp_root / "gpugraph" / "protos").mkdir(parents=True)
        run_protoc(tmp_root)
        fresh_dir = tmp_root / "gpugraph" / "protos"
        fresh = generated_names(fresh_dir)
        for stale in generated_names(OUT_PACKAGE) - fresh:
            (OUT_PACKAGE / stale).unlink()
        for name in sorted(fresh):
            shutil.copyfile(fresh_dir / name, OUT_PACKAGE / name)
    print("generated %d files in %s" % (len(fresh), OUT_PACKAGE.relative_to(REPO)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 and list the files that would change",
    )
    args = parser.parse_args(argv)
    return check() if args.check else generate()


if __name__ == "__main__":
    sys.exit(main())
