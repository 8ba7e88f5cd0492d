"""Inspecting checkpoints: ``tf.train.list_variables`` / ``load_variable`` / ``NewCheckpointReader``.

Every function takes a checkpoint prefix or a directory (whose ``checkpoint`` file names the latest
checkpoint).

Example:
    >>> import numpy as np, tempfile, os
    >>> from gpugraph.train.bundle import BundleWriter
    >>> d = tempfile.mkdtemp()
    >>> with BundleWriter(os.path.join(d, "model-1")) as w:
    ...     w.add("dense/bias", np.zeros(3, np.float32))
    >>> list_variables(os.path.join(d, "model-1"))
    [('dense/bias', [3])]
    >>> load_variable(os.path.join(d, "model-1"), "dense/bias:0")
    array([0., 0., 0.], dtype=float32)
"""

import os

from gpugraph.protos import types_pb2
from gpugraph.train import checkpoint_management
from gpugraph.train.bundle import BundleReader

__all__ = ["CheckpointReader", "NewCheckpointReader", "load_checkpoint", "load_variable", "list_variables"]


class CheckpointReader:
    """TF's ``CheckpointReader`` API over a :class:`~gpugraph.train.bundle.BundleReader`.

    Example:
        >>> r = NewCheckpointReader("/tmp/train/model.ckpt-1000")   # doctest: +SKIP
        >>> r.has_tensor("global_step"), r.get_tensor("global_step")  # doctest: +SKIP
        (True, 1000)
    """

    def __init__(self, prefix):
        self._reader = BundleReader(prefix)

    @property
    def prefix(self):
        return self._reader.prefix

    def has_tensor(self, name):
        return name in self._reader

    def get_tensor(self, name):
        """The tensor's value; a 0-d tensor comes back as a numpy scalar (bytes for a string), as in TF.

        Raises ``TensorNotFoundError`` (an ``errors.NotFoundError`` and a ``KeyError``) for an unknown name.
        """
        value = self._reader.read(name)
        return value[()] if value.ndim == 0 else value

    def get_variable_to_shape_map(self):
        """``{name: [dims]}`` for every tensor (slices of partitioned variables are not listed)."""
        return {k: list(self._reader.dtype_and_shape(k)[1]) for k in self._reader.keys()}

    def get_variable_to_dtype_map(self):
        """``{name: DType}`` for every tensor."""
        return {k: self._reader.dtype_and_shape(k)[0] for k in self._reader.keys()}

    def debug_string(self):
        """One line per index entry, ``name (DT_FLOAT) [2,3]``, as bytes, exactly like TF's
        ``debug_string()``: a partitioned variable shows as its per-slice keys, not its full entry."""
        lines = []
        for key, entry in self._reader.raw_entries():
            if len(entry.slices):
                continue
            shape = ",".join(str(d.size) for d in entry.shape.dim)
            lines.append(b"%s (%s) [%s]\n" % (key, types_pb2.DataType.Name(entry.dtype).encode(), shape.encode()))
        return b"".join(lines)

    def close(self):
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def NewCheckpointReader(filepattern):  # noqa: N802 (TensorFlow's name)
    """Opens the checkpoint at prefix ``filepattern``; same as ``tf.compat.v1.train.NewCheckpointReader``."""
    return CheckpointReader(filepattern)


def _checkpoint_prefix(ckpt_dir_or_file):
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        prefix = checkpoint_management.latest_checkpoint(path)
        if prefix is None:
            raise ValueError("Couldn't find 'checkpoint' file or checkpoints in given directory %s" % path)
        return prefix
    return path


def load_checkpoint(ckpt_dir_or_file):
    """A :class:`CheckpointReader` for a prefix, or for the latest checkpoint of a directory."""
    return CheckpointReader(_checkpoint_prefix(ckpt_dir_or_file))


def load_variable(ckpt_dir_or_file, name):
    """The value of variable ``name`` (``"dense/kernel"`` or ``"dense/kernel:0"``) in a checkpoint."""
    if name.endswith(":0"):
        name = name[:-2]
    with load_checkpoint(ckpt_dir_or_file) as reader:
        return reader.get_tensor(name)


def list_variables(ckpt_dir_or_file):
    """Sorted ``[(name, shape list)]`` of the checkpoint's variables."""
    with load_checkpoint(ckpt_dir_or_file) as reader:
        shapes = reader.get_variable_to_shape_map()
    return sorted(shapes.items())
