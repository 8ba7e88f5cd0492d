"""Per-session state that kernels touch: variables (ref and resource), random generators.

Ref variables (``VariableV2``) are :class:`RefCell` objects; an op that reads a ref input sees the
cell's value at the moment it runs, like TensorFlow. Stored arrays are read-only so a value fetched
or held elsewhere can never change a variable behind the session's back; writers replace the array.

Example:
    >>> cell = RefCell("w")
    >>> cell.assign(np.zeros(3, np.float32))
    >>> cell.value.flags.writeable
    False
"""

import threading

import numpy as np

from gpugraph import errors


def freeze(array):
    """Marks a stored array read-only (copying first if it is someone else's, e.g. a feed)."""
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    if array.flags.writeable:
        if array.base is not None or not array.flags.owndata:
            array = array.copy()
        array.flags.writeable = False
    return array


class RefCell:
    """A mutable variable buffer: the value a ``VariableV2`` output refers to."""

    __slots__ = ("name", "value", "dtype", "shape")

    def __init__(self, name, dtype=None, shape=None):
        self.name = name
        self.value = None
        self.dtype = dtype
        self.shape = shape

    def read(self):
        value = self.value
        if value is None:
            raise errors.FailedPreconditionError(
                None, None, f"Attempting to use uninitialized value {self.name}")
        return value

    def assign(self, value):
        self.value = freeze(value)

    def __repr__(self):
        state = "uninitialized" if self.value is None else f"shape={self.value.shape} dtype={self.value.dtype}"
        return f"<RefCell {self.name} {state}>"


class ResourceHandle:
    """The value of a ``VarHandleOp`` output: names a variable in the session's resource store."""

    __slots__ = ("container", "name", "dtype", "shape")

    def __init__(self, container, name, dtype=None, shape=None):
        self.container = container
        self.name = name
        self.dtype = dtype
        self.shape = shape

    @property
    def key(self):
        return (self.container, self.name)

    def __repr__(self):
        return f"<ResourceHandle {self.container}/{self.name}>"


class SessionState:
    """Everything a Session owns across runs: variables and per-op random generators."""

    def __init__(self):
        self.lock = threading.RLock()
        self._ref_cells = {}
        self._resources = {}
        self._rngs = {}

    def ref_cell(self, key, dtype=None, shape=None):
        cell = self._ref_cells.get(key)
        if cell is None:
            with self.lock:
                cell = self._ref_cells.setdefault(key, RefCell(key, dtype, shape))
        return cell

    def resource_cell(self, handle):
        """The RefCell behind a resource handle (created on first use, uninitialized)."""
        cell = self._resources.get(handle.key)
        if cell is None:
            with self.lock:
                cell = self._resources.setdefault(handle.key, RefCell(handle.name, handle.dtype, handle.shape))
        return cell

    def delete_resource(self, handle, ignore_lookup_error=True):
        """Drops a resource variable (DestroyResourceOp); NotFoundError if absent unless ignored."""
        with self.lock:
            if self._resources.pop(handle.key, None) is None and not ignore_lookup_error:
                raise errors.NotFoundError(None, None, f"resource {handle.container}/{handle.name} does not exist")

    def has_resource(self, handle):
        cell = self._resources.get(handle.key)
        return cell is not None and cell.value is not None

    def rng(self, key, seed):
        """A NumPy Philox generator for one random op, advanced by every run (like TF's kernels)."""
        gen = self._rngs.get(key)
        if gen is None:
            with self.lock:
                gen = self._rngs.setdefault(key, np.random.Generator(np.random.Philox(key=seed)))
        return gen

    def variables(self):
        """Name → current value of every initialized ref variable (for debugging and tests)."""
        return {k: c.value for k, c in self._ref_cells.items() if c.value is not None}
