"""Shared pieces of the ``gpugraph`` command: errors, exit codes, progress lines, reading model files."""

import contextlib
import os
import re
import sys
import threading
import time

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


