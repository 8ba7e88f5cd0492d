"""Device names: parsing, canonical form and nested-scope merging (FORMATS.md §5).

The full form is ``/job:NAME/replica:N/task:N/device:TYPE:N``; every part is
optional and ``*`` means "any". Legacy spellings (``/cpu:0``, ``/GPU:1``,
``gpu:0``, ``CPU``) are accepted. ``NodeDef.device`` always holds the
canonical string, in which CPU and GPU are upper-case.

Example:
    >>> canonical_name("/gpu:1")
    '/device:GPU:1'
    >>> DeviceSpec.from_string("/job:worker/task:1/cpu:0").to_string()
    '/job:worker/task:1/device:CPU:0'
    >>> merge_device("/job:worker/gpu:0")("/device:GPU:1")  # inner scope's GPU:1 wins
    '/job:worker/device:GPU:1'
"""

from __future__ import annotations

import re

# Device types accepted in the legacy short form "/TYPE:N" (TensorFlow's list).
# The long form "/device:TYPE:N" accepts any well-formed type name.
_LEGACY_DEVICE_TYPES = frozenset({"CPU", "GPU", "TPU", "CUSTOM", "EPU"})
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_JOB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-.]*\Z")

# Parsing is pure, and graphs repeat the same few device strings endlessly.
_PARSE_CACHE: dict[str, tuple] = {}


def _as_device_type(device_type):
    if device_type is None:
        return None
    device_type = str(device_type)
    # Only CPU and GPU are normalised (as TensorFlow does); "XLA_GPU" etc. are kept.
    return device_type.upper() if device_type.lower() in ("cpu", "gpu") else device_type


def _as_index(value, what):
    if value is None:
        return None
    try:
        index = int(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a non-negative integer, got %r" % (what, value)) from None
    if index < 0:
        raise ValueError("%s must be a non-negative integer, got %r" % (what, value))
    return index


class DeviceSpec:
    """A (possibly partial) device: job, replica, task, device type and index.

    Unset fields are ``None`` and mean "any". As in TF1, the fields can be
    assigned and :meth:`merge_from` updates in place; :meth:`make_merged_spec`
    and :meth:`replace` return new specs.

    Example:
        >>> spec = DeviceSpec(job="ps", device_type="gpu", device_index=0)
        >>> spec.to_string()
        '/job:ps/device:GPU:0'
        >>> spec.make_merged_spec(DeviceSpec(device_index=2)).to_string()
        '/job:ps/device:GPU:2'
    """

    __slots__ = ("_job", "_replica", "_task", "_device_type", "_device_index")

    def __init__(self, job=None, replica=None, task=None, device_type=None, device_index=None):
        self.job = job
        self.replica = replica
        self.task = task
        self.device_type = device_type
        self.device_index = device_index

    # -- fields --------------------------------------------------------------------

    @property
    def job(self):
        return self._job

    @job.setter
    def job(self, job):
        self._job = None if job is None else str(job)

    @property
    def replica(self):
        return self._replica

    @replica.setter
    def replica(self, replica):
        self._replica = _as_index(replica, "replica")

    @property
    def task(self):
        return self._task

    @task.setter
    def task(self, task):
        self._task = _as_index(task, "task")

    @property
    def device_type(self):
        return self._device_type

    @device_type.setter
    def device_type(self, device_type):
        self._device_type = _as_device_type(device_type)

    @property
    def device_index(self):
        return self._device_index

    @device_index.setter
    def device_index(self, device_index):
        self._device_index = _as_index(device_index, "device index")

    def _fields(self):
        return (self._job, self._replica, self._task, self._device_type, self._device_index)

    # -- parsing and printing --------------------------------------------------------

    @classmethod
    def from_string(cls, spec) -> "DeviceSpec":
        """Parse any accepted spelling; ``""`` and ``None`` give an empty spec.

        Raises:
            ValueError: quoting ``spec`` and naming the part that is wrong.
        """
        return cls(*_parse(spec or ""))

    def parse_from_string(self, spec) -> "DeviceSpec":
        """TF1: replace every field with those parsed from ``spec``; returns self."""
        (self.job, self.replica, self.task, self.device_type, self.device_index) = _parse(spec or "")
        return self

    def to_string(self) -> str:
        """The canonical string, e.g. ``/job:worker/replica:0/task:1/device:GPU:1``."""
        parts = []
        if self._job is not None:
            parts.append("/job:" + self._job)
        if self._replica is not None:
            parts.append("/replica:%d" % self._replica)
        if self._task is not None:
            parts.append("/task:%d" % self._task)
        if self._device_type is not None:
            index = "*" if self._device_index is None else str(self._device_index)
            parts.append("/device:%s:%s" % (self._device_type, index))
        return "".join(parts)

    # -- merging ---------------------------------------------------------------------

    def _combined(self, other):
        other = other if isinstance(other, DeviceSpec) else DeviceSpec.from_string(other)
        return tuple(o if o is not None else s for s, o in zip(self._fields(), other._fields()))

    def make_merged_spec(self, other) -> "DeviceSpec":
        """A new spec: ``other``'s set fields, and ours where ``other`` has none."""
        return DeviceSpec(*self._combined(other))

    def merge_from(self, other) -> None:
        """TF1: merge ``other`` into this spec in place (``other``'s set fields win)."""
        (self.job, self.replica, self.task, self.device_type, self.device_index) = self._combined(other)

    def replace(self, **kwargs) -> "DeviceSpec":
        """A copy with the given fields replaced (``None`` clears a field)."""
        fields = dict(zip(("job", "replica", "task", "device_type", "device_index"), self._fields()))
        unknown = set(kwargs) - set(fields)
        if unknown:
            raise TypeError("DeviceSpec.replace() got unknown fields: %s" % ", ".join(sorted(unknown)))
        fields.update(kwargs)
        return DeviceSpec(**fields)

    # -- comparison ------------------------------------------------------------------

    def __eq__(self, other):
        return isinstance(other, DeviceSpec) and self.to_string() == other.to_string()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.to_string())

    def __repr__(self):
        return "<DeviceSpec(job=%s, replica=%s, task=%s, device_type=%s, device_index=%s)>" % self._fields()


def _parse(spec):
    """The 5 fields of a device string (cached)."""
    if not isinstance(spec, str):
        raise TypeError("a device spec must be a string, got %r of type %s" % (spec, type(spec).__name__))
    cached = _PARSE_CACHE.get(spec)
    if cached is not None:
        return cached
    job = replica = task = device_type = device_index = None

    def bad(what):
        return ValueError("invalid device spec %r: %s" % (spec, what))

    def index_of(text, what):
        if text == "*":
            return None
        if not text.isdigit():
            raise bad("%s %r is not a non-negative integer or '*'" % (what, text))
        return int(text)

    for part in spec.split("/"):
        if not part:
            continue  # leading slash, doubled slashes
        fields = part.split(":")
        key = fields[0]
        if len(fields) == 2 and key == "job":
            if fields[1] != "*" and not _JOB_NAME.match(fields[1]):
                raise bad("job name %r is not a valid name" % fields[1])
            job = None if fields[1] == "*" else fields[1]
        elif len(fields) == 2 and key == "replica":
            replica = index_of(fields[1], "replica")
        elif len(fields) == 2 and key == "task":
            task = index_of(fields[1], "task")
        elif len(fields) in (2, 3) and key == "device":
            # "device:TYPE:N", or "device:TYPE" (any index) as TensorFlow's C++ parser allows.
            if device_type is not None:
                raise bad("more than one device type")
            if not _TYPE_NAME.match(fields[1]):
                raise bad("device type %r is not a valid name" % fields[1])
            device_type = _as_device_type(fields[1])
            device_index = index_of(fields[2], "device index") if len(fields) == 3 else None
        elif len(fields) in (1, 2) and key.upper() in _LEGACY_DEVICE_TYPES:
            # Legacy "/cpu:0", "/GPU:1", "gpu", "CPU".
            if device_type is not None:
                raise bad("more than one device type")
            device_type = key.upper()
            device_index = index_of(fields[1], "device index") if len(fields) == 2 else None
        elif key in ("job", "replica", "task", "device"):
            raise bad("%r should look like %s" % (part, _EXPECTED_FORM[key]))
        else:
            raise bad("unknown part %r (expected job:, replica:, task:, device:TYPE:N or CPU/GPU:N)" % part)
    result = (job, replica, task, device_type, device_index)
    if len(_PARSE_CACHE) < 4096:
        _PARSE_CACHE[spec] = result
    return result


_EXPECTED_FORM = {
    "job": "'job:NAME'",
    "replica": "'replica:N'",
    "task": "'task:N'",
    "device": "'device:TYPE:N'",
}


def canonical_name(device) -> str:
    """The canonical string for a device string, DeviceSpec or None (``""``).

    Example:
        >>> canonical_name("/job:localhost/replica:0/task:0/cpu:0")
        '/job:localhost/replica:0/task:0/device:CPU:0'
        >>> canonical_name(None)
        ''
    """
    if device is None:
        return ""
    if isinstance(device, DeviceSpec):
        return device.to_string()
    return DeviceSpec.from_string(device).to_string()


class MergeDevice:
    """A device function for an outer ``device()`` scope.

    Called with the device chosen so far by inner scopes (a string, or a
    NodeDef/Operation with a ``.device``), it returns the canonical merged
    device: the inner choice's set fields win, this scope fills the rest.
    """

    __slots__ = ("_spec",)

    def __init__(self, spec):
        self._spec = spec if isinstance(spec, DeviceSpec) else DeviceSpec.from_string(spec or "")

    @property
    def spec(self) -> DeviceSpec:
        return self._spec

    @property
    def is_null_merge(self) -> bool:
        """True if this scope sets nothing, so merging it changes nothing."""
        return not any(f is not None for f in self._spec._fields())

    def __call__(self, node_def_or_device) -> str:
        if node_def_or_device is None or isinstance(node_def_or_device, (str, DeviceSpec)):
            current = node_def_or_device
        else:
            current = node_def_or_device.device
        if not isinstance(current, DeviceSpec):
            current = DeviceSpec.from_string(current or "")
        return self._spec.make_merged_spec(current).to_string()

    def __repr__(self):
        return "MergeDevice(%r)" % self._spec.to_string()


def merge_device(spec) -> MergeDevice:
    """A device function that merges ``spec`` (outer scope) under an op's device.

    Example:
        >>> f = merge_device("/job:ps/device:CPU:0")
        >>> f(""), f("/device:GPU:1"), f("/job:worker")
        ('/job:ps/device:CPU:0', '/job:ps/device:GPU:1', '/job:worker/device:CPU:0')
    """
    return MergeDevice(spec)
