"""Crash-safe file writes: every file gpugraph saves (meta graphs, checkpoint indexes, the
``checkpoint`` state file, SavedModels) appears whole or not at all.

Example:
    >>> atomic_write("runs/checkpoint", b'model_checkpoint_path: "model-10"\\n')   # doctest: +SKIP
    >>> with atomic_open("runs/model-10.index") as f:                             # doctest: +SKIP
    ...     f.write(index_bytes)
"""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, sync=True):
    """Yields a binary file written aside (same directory); on success it is flushed, fsynced when
    ``sync``, and renamed onto ``path``; on any error the temporary file is removed and ``path`` is
    untouched. Readers therefore see the old file or the new one, never a torn one."""
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write(path, data, sync=True):
    """Writes ``data`` (bytes, or str as UTF-8) to ``path`` through :func:`atomic_open`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_open(path, sync) as f:
        f.write(data)


def fsync_path(path):
    """fsyncs a file or a directory by name (a directory: makes renames in it durable). Paths that
    vanished meanwhile, and platforms that cannot fsync directories, are skipped."""
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
