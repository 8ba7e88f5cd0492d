"""The ``checkpoint`` state file and checkpoint discovery, as ``tf.compat.v1.train`` does it.

The state file is the text format of CheckpointState::

    model_checkpoint_path: "model.ckpt-2000"
    all_model_checkpoint_paths: "model.ckpt-1000"
    all_model_checkpoint_paths: "model.ckpt-2000"

Relative paths are relative to the directory holding the file; readers return them joined with that
directory, as TensorFlow does, so files written by either are interchangeable.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> update_checkpoint_state(d, "model.ckpt-10", save_relative_paths=True)
    >>> get_checkpoint_state(d).model_checkpoint_path == os.path.join(d, "model.ckpt-10")
    True
    >>> latest_checkpoint(d) is None   # no model.ckpt-10.index exists
    True
"""

import logging
import os

from google.protobuf import text_format

from gpugraph.protos import checkpoint_state_pb2
from gpugraph.train.bundle import data_filename, index_filename
from gpugraph.util import fileio

__all__ = ["CheckpointState", "generate_checkpoint_state_proto", "update_checkpoint_state",
           "get_checkpoint_state", "latest_checkpoint", "checkpoint_exists", "get_checkpoint_mtimes",
           "remove_checkpoint"]

CheckpointState = checkpoint_state_pb2.CheckpointState
_log = logging.getLogger(__name__)


def _state_filename(save_dir, latest_filename):
    return os.path.join(save_dir, latest_filename or "checkpoint")


def generate_checkpoint_state_proto(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                                    all_model_checkpoint_timestamps=None, last_preserved_timestamp=None):
    """Builds a CheckpointState; ``model_checkpoint_path`` is appended to the list if it is not last.

    When ``save_dir`` is relative, relative paths are rewritten relative to it (TF's rule: the caller
    passed paths relative to the working directory, the file stores them relative to ``save_dir``).

    Example:
        >>> generate_checkpoint_state_proto("train", "train/m-2", ["train/m-1"]).all_model_checkpoint_paths
        ['m-1', 'm-2']
    """
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    timestamps = list(all_model_checkpoint_timestamps or [])
    if timestamps and len(timestamps) != len(paths):
        raise ValueError("Checkpoint timestamps, if provided, must match checkpoint paths (got paths %s and "
                         "timestamps %s)" % (paths, timestamps))
    if not os.path.isabs(save_dir):
        if not os.path.isabs(model_checkpoint_path):
            model_checkpoint_path = os.path.relpath(model_checkpoint_path, save_dir)
        paths = [p if os.path.isabs(p) else os.path.relpath(p, save_dir) for p in paths]
    state = CheckpointState(model_checkpoint_path=model_checkpoint_path, all_model_checkpoint_paths=paths,
                            all_model_checkpoint_timestamps=timestamps)
    if last_preserved_timestamp is not None:
        state.last_preserved_timestamp = last_preserved_timestamp
    return state


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None, all_model_checkpoint_timestamps=None,
                            last_preserved_timestamp=None, save_relative_paths=False):
    """Writes ``save_dir/checkpoint`` (or ``latest_filename``) atomically.

    ``save_relative_paths=True`` stores absolute paths relative to ``save_dir``, so the directory can be
    moved. Raises RuntimeError when the checkpoint path is the state file itself, as TF does.

    Example:
        >>> update_checkpoint_state("/tmp/run1", "/tmp/run1/model-5", save_relative_paths=True)  # doctest: +SKIP
        >>> print(open("/tmp/run1/checkpoint").read())                                          # doctest: +SKIP
        model_checkpoint_path: "model-5"
        all_model_checkpoint_paths: "model-5"
    """
    save_dir = os.fspath(save_dir)
    model_checkpoint_path = os.fspath(model_checkpoint_path)
    paths = [os.fspath(p) for p in (all_model_checkpoint_paths or [])]
    if save_relative_paths:
        def rel(p):
            return os.path.relpath(p, save_dir) if os.path.isabs(p) else p
        model_checkpoint_path = rel(model_checkpoint_path)
        paths = [rel(p) for p in paths]
    state = generate_checkpoint_state_proto(save_dir, model_checkpoint_path, paths,
                                            all_model_checkpoint_timestamps, last_preserved_timestamp)
    filename = _state_filename(save_dir, latest_filename)
    if filename == state.model_checkpoint_path:
        raise RuntimeError("Save path '%s' conflicts with path used for checkpoint state.  Please use a "
                           "different save path." % model_checkpoint_path)
    # Readers (and TF's get_checkpoint_state) must never see a half-written state file.
    fileio.atomic_write(filename, text_format.MessageToString(state))


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """Reads the state file of ``checkpoint_dir``; relative paths come back joined with the directory.

    Returns None when there is no state file or it cannot be parsed (logged, as TF does); raises
    ValueError when it parses but names no checkpoint.

    Example:
        >>> get_checkpoint_state("/nonexistent") is None
        True
    """
    checkpoint_dir = os.fspath(checkpoint_dir)
    filename = _state_filename(checkpoint_dir, latest_filename)
    try:
        with open(filename, "r", encoding="utf-8") as f:
            content = f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        _log.warning("%s: %s; checkpoint ignored", filename, e)
        return None
    state = CheckpointState()
    try:
        # Fields a newer writer added are skipped (TF would drop the whole file and lose the checkpoint).
        text_format.Merge(content, state, allow_unknown_field=True)
    except text_format.ParseError as e:
        _log.warning("%s: %s; checkpoint ignored", filename, e)
        return None
    if not state.model_checkpoint_path:
        raise ValueError("Invalid checkpoint state loaded from " + checkpoint_dir)
    if not os.path.isabs(state.model_checkpoint_path):
        state.model_checkpoint_path = os.path.join(checkpoint_dir, state.model_checkpoint_path)
    for i, p in enumerate(state.all_model_checkpoint_paths):
        if not os.path.isabs(p):
            state.all_model_checkpoint_paths[i] = os.path.join(checkpoint_dir, p)
    return state


def checkpoint_exists(checkpoint_prefix):
    """True when a V2 checkpoint (its ``.index``) exists at ``checkpoint_prefix``.

    Example:
        >>> checkpoint_exists("/nonexistent/model-1")
        False
    """
    return os.path.isfile(index_filename(os.fspath(checkpoint_prefix)))


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix named by the state file, if its ``.index`` exists; otherwise None (logged).

    Example:
        >>> latest_checkpoint("/tmp/train")   # doctest: +SKIP
        '/tmp/train/model.ckpt-2000'
    """
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state and state.model_checkpoint_path:
        if checkpoint_exists(state.model_checkpoint_path):
            return state.model_checkpoint_path
        _log.error("Couldn't match files for checkpoint %s", state.model_checkpoint_path)
    return None


def get_checkpoint_mtimes(checkpoint_prefixes):
    """Modification times (seconds since the epoch) of the checkpoints' ``.index`` files; prefixes
    without one are skipped, as TF does.

    Example:
        >>> get_checkpoint_mtimes(["/nonexistent/model-1"])
        []
    """
    mtimes = []
    for prefix in checkpoint_prefixes:
        try:
            mtimes.append(os.stat(index_filename(os.fspath(prefix))).st_mtime_ns / 1e9)
        except FileNotFoundError:
            continue
    return mtimes


def remove_checkpoint(checkpoint_prefix, checkpoint_format_version=2, meta_graph_suffix="meta"):
    """Deletes a checkpoint's ``.index``, ``.meta`` and every data shard; missing files are ignored.

    Example:
        >>> remove_checkpoint("/tmp/train/model.ckpt-1000")   # doctest: +SKIP
    """
    if checkpoint_format_version != 2:
        raise ValueError("only V2 checkpoints are supported (got format version %r)" % checkpoint_format_version)
    prefix = os.fspath(checkpoint_prefix)
    directory, base = os.path.split(prefix)
    victims = [index_filename(prefix), "%s.%s" % (prefix, meta_graph_suffix)]
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        names = []
    pattern = data_filename(base, 0, 1)[:-len("00000-of-00001")]  # "base.data-"
    victims += [os.path.join(directory, n) for n in names
                if n.startswith(pattern) and _is_data_suffix(n[len(pattern):])]
    for path in victims:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _is_data_suffix(rest):
    shard, sep, total = rest.partition("-of-")
    return bool(sep) and shard.isdigit() and total.isdigit()
