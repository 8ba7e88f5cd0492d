"""``Session``: runs fetches of a graph, compiling one plan per (fetches, feeds, targets) signature.

Example:
    >>> import gpugraph as tf
    >>> x = tf.placeholder(tf.float32, [None, 2], name="x")
    >>> y = tf.reduce_sum(x * 2.0)
    >>> with tf.Session() as sess:
    ...     sess.run(y, feed_dict={x: [[1, 2]]})
    6.0
"""

import collections
import dataclasses
import threading

import numpy as np

from gpugraph import errors
from gpugraph.framework import dtypes, ops
from gpugraph.runtime import devices, host_memory
from gpugraph.runtime import placement as placement_lib
from gpugraph.runtime import plan as plan_lib
from gpugraph.runtime.rewrites import PlanRewrites
from gpugraph.runtime.state import SessionState


class _SessionStack(threading.local):
    def __init__(self):
        super().__init__()
        self.stack = []


_session_stack = _SessionStack()


def get_default_session():
    """The innermost session entered with ``with sess:`` or ``sess.as_default()``, or None."""
    return _session_stack.stack[-1] if _session_stack.stack else None


def _reset_default_session_stack():
    _session_stack.stack = []


def _eval_using_default_session(tensors, feed_dict, graph, session=None):
    session = session or get_default_session()
    if session is None:
        raise ValueError("Cannot evaluate tensor using `eval()`: No default session is registered. Use "
                         "`with sess.as_default()` or pass an explicit session to `eval(session=sess)`")
    if session.graph is not graph:
        raise ValueError("Cannot use the given session to evaluate tensor: the tensor's graph is "
                         "different from the session's graph.")
    return session.run(tensors, feed_dict)


def _run_using_default_session(operation, feed_dict, graph, session=None):
    session = session or get_default_session()
    if session is None:
        raise ValueError("Cannot execute operation using `run()`: No default session is registered. Use "
                         "`with sess.as_default():` or pass an explicit session to `run(session=sess)`")
    if session.graph is not graph:
        raise ValueError("Cannot use the given session to execute operation: the operation's graph is "
                         "different from the session's graph.")
    session.run(operation, feed_dict)


class _FeedSpec:
    """How to check and convert a value fed to one tensor (cached per tensor)."""

    __slots__ = ("tensor", "np_dtype", "dims", "is_string", "name")

    def __init__(self, tensor):
        self.tensor = tensor
        dtype = tensor.dtype.base_dtype
        self.is_string = dtype == dtypes.string
        self.np_dtype = np.dtype(object) if self.is_string or dtype in (dtypes.resource, dtypes.variant) \
            else np.dtype(dtype.as_numpy_dtype)
        shape = tensor.shape
        self.dims = None if shape.ndims is None else tuple(d.value for d in shape.dims)
        self.name = tensor.name

    def convert(self, value):
        if value.__class__ is np.ndarray and value.dtype == self.np_dtype:
            # A view: a kernel that stores the feed (Assign) then copies it (state.freeze copies
            # arrays that are not their own base) instead of freezing the caller's array.
            arr = value.view()
        else:
            arr = self._convert_slow(value)
        dims = self.dims
        if dims is not None:
            shape = arr.shape
            if len(shape) != len(dims) or any(d is not None and d != s for d, s in zip(dims, shape)):
                raise ValueError(f"Cannot feed value of shape {shape} for Tensor '{self.name}', which has "
                                 f"shape {self.tensor.shape}")
        return arr

    def _convert_slow(self, value):
        if isinstance(value, (ops.Tensor, ops.Operation)):
            raise TypeError(f"The value of a feed cannot be a gpugraph Tensor ({value.name}); feed NumPy "
                            f"arrays, Python scalars, lists, strings or bytes")
        if self.is_string:
            arr = np.asarray(value, dtype=object)
            flat = arr.reshape(-1)
            for i, v in enumerate(flat):
                if isinstance(v, str):
                    flat[i] = v.encode("utf-8")
                elif not isinstance(v, bytes):
                    raise TypeError(f"Cannot feed {type(v).__name__} value {v!r} to string tensor "
                                    f"'{self.name}'")
            return arr
        given = np.asarray(value)
        if given.dtype == object or given.dtype.kind in "USV":
            raise TypeError(f"Cannot feed value of dtype {given.dtype} to Tensor '{self.name}' of dtype "
                            f"{self.tensor.dtype.name}")
        want = self.np_dtype
        if given.dtype != want:
            if isinstance(value, (int, float, bool, list, tuple)) or given.ndim == 0:
                converted = given.astype(want)
                # Python numbers must survive the conversion exactly (or be float precision changes).
                if want.kind in "iub" and given.dtype.kind == "f" and not np.array_equal(converted, given):
                    raise TypeError(f"Cannot feed non-integer value {value!r} to Tensor '{self.name}' "
                                    f"of dtype {self.tensor.dtype.name}")
                if want.kind in "iu" and given.dtype.kind in "iu" and not np.array_equal(converted, given):
                    raise TypeError(f"Value {value!r} does not fit in dtype {self.tensor.dtype.name} of "
                                    f"Tensor '{self.name}'")
                return converted
            if not np.can_cast(given.dtype, want, casting="same_kind") and \
                    not (given.dtype.kind in "iub" and want.kind in "fc"):
                raise TypeError(f"Cannot feed value of dtype {given.dtype} to Tensor '{self.name}' of dtype "
                                f"{self.tensor.dtype.name} (the conversion would lose information)")
            return given.astype(want)
        return given


class BaseSession:
    """Shared by :class:`Session` and :class:`InteractiveSession`."""

    def __init__(self, target="", graph=None, config=None, placement_policy=None):
        if graph is None:
            graph = ops.get_default_graph()
        if not isinstance(graph, ops.Graph):
            raise TypeError(f"graph must be a gpugraph Graph, got {type(graph).__name__}")
        if target not in ("", None) and not str(target).startswith(("local", "grpc://localhost")):
            raise errors.UnimplementedError(None, None, f"distributed session targets are not supported: {target!r}")
        self._graph = graph
        self._config = config
        self._target = target
        self._closed = False
        host_memory.tune()  # once per process: intermediates reuse heap memory, no page faults
        self._state = SessionState()
        self._plans = {}
        self._feed_specs = {}
        self._lock = threading.RLock()
        self._default_stack = []
        self._placement_policy = placement_lib.resolve_policy(placement_policy)
        self._inventory = devices.inventory()   # detected once per process; fixed for the session
        self._placer = None                      # created on first use (see _place)
        self._device_placement = None            # set on hosts with a GPU
        self._placed_version = None

    graph = property(lambda self: self._graph)
    sess_str = property(lambda self: self._target or "")

    @property
    def graph_def(self):
        return self._graph.as_graph_def()

    def list_devices(self):
        """This session's devices, CPU first: objects with ``name``
        (``/job:localhost/replica:0/task:0/device:CPU:0``), ``device_type``, ``memory_limit_bytes``."""
        return list(self._session_inventory().devices)

    def placement(self, fetches=None, feed_dict=None):
        """Where each op runs and why, as a list of
        :class:`~gpugraph.runtime.placement.PlacementDecision` (op_name, op_type, requested,
        assigned, reason): for the ops that running ``fetches`` with ``feed_dict``'s keys fed
        executes, in execution order — or, without ``fetches``, for every op of the graph.
        Compiles (and caches) the plan like ``run`` would, but runs nothing.

        Example:
            >>> [str(d) for d in sess.placement(y, {x: None})]                # doctest: +SKIP
            ['MatMul: (MatMul): /job:localhost/replica:0/task:0/device:GPU:0  # default: a GPU kernel exists']
        """
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        if fetches is None:
            with self._lock:
                self._place()
                return [self._placer.decisions[op] for op in self._graph.get_operations()]
        flat, _ = _flatten_fetches(self._graph, fetches)
        feed_tensors = tuple(self._feed_spec(k).tensor for k in (feed_dict or {}))
        fetch_tensors, targets, _ = _split_fetches(flat)
        plan = self._get_plan(fetch_tensors, feed_tensors, targets)
        decisions = [self._placer.decisions[op] for op in plan.placed_ops]
        if getattr(plan, "runs_on_cpu", False):  # v1 control flow: the whole plan runs on the host
            cpu = self._placer.inventory.cpu.name
            decisions = [d if d.assigned == cpu else dataclasses.replace(
                d, assigned=cpu, reason=f"v1 control flow runs on the CPU (placed on {d.assigned}: {d.reason})")
                for d in decisions]
        return decisions

    # -- devices and placement ------------------------------------------------------------------
    def _session_inventory(self):
        """The host's devices as this session's config restricts them: ``device_count={"GPU": n}``
        keeps the first n GPUs, ``gpu_options.visible_device_list`` picks and orders them."""
        inv = self._inventory
        config = self._config
        if config is None or not inv.num_gpus:
            return inv
        visible = getattr(getattr(config, "gpu_options", None), "visible_device_list", "")
        if visible:
            try:
                keep = [int(p) for p in visible.split(",") if p.strip()]
            except ValueError:
                raise ValueError(f"gpu_options.visible_device_list must list GPU numbers, got {visible!r}") \
                    from None
            inv = inv.with_gpus(keep)
        count = dict(getattr(config, "device_count", {}) or {})
        if "GPU" in count and count["GPU"] < inv.num_gpus:
            inv = inv.with_gpus(range(max(count["GPU"], 0)))
        return inv

    def _place(self):
        """Places the graph's new ops (under the session lock); prints them for log_device_placement."""
        if self._placer is None:
            inv = self._session_inventory()
            config = self._config
            soft = bool(config is not None and getattr(config, "allow_soft_placement", False))
            if inv.num_gpus:
                from gpugraph.runtime import cuda
                from gpugraph.runtime.device_plan import DevicePlacement
                cuda.register_kernels()
                placer = placement_lib.Placer(self._graph, inv, soft, self._placement_policy)
                gpu_options = config.gpu_options if config is not None and config.HasField("gpu_options") \
                    else None
                self._device_placement = DevicePlacement(placer, cuda.get_backend(inv), gpu_options)
            else:
                placer = placement_lib.Placer(self._graph, inv, soft, self._placement_policy)
            self._placer = placer
        if self._device_placement is not None and self._placed_version != self._graph._mutation_version:
            self._device_placement.const_cache.clear()  # an op changed: its constant may have too
            self._placed_version = self._graph._mutation_version
        new = self._placer.place()
        if new and self._config is not None and getattr(self._config, "log_device_placement", False):
            for decision in new:
                print(decision)

    # -- context management ---------------------------------------------------------------------
    def as_default(self):
        return _DefaultSessionContext(self)

    def __enter__(self):
        ctx = self.as_default()
        graph_ctx = self._graph.as_default()
        graph_ctx.__enter__()
        ctx.__enter__()
        self._default_stack.append((ctx, graph_ctx))
        return self

    def __exit__(self, exc_type, exc, tb):
        ctx, graph_ctx = self._default_stack.pop()
        ctx.__exit__(exc_type, exc, tb)
        graph_ctx.__exit__(exc_type, exc, tb)
        self.close()
        return False

    def close(self):
        """Releases the session's variables and plans. Running afterwards raises RuntimeError."""
        self._closed = True
        self._plans = {}
        self._state = None
        self._device_placement = None  # releases the constants uploaded to GPUs

    # -- running --------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Computes ``fetches`` (Tensors, Operations, names, or nested lists/tuples/dicts of them).

        Returns values in the same structure: NumPy arrays for tensors, None for operations.
        """
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        flat, rebuild = _flatten_fetches(self._graph, fetches)
        feed_tensors, feed_values = self._process_feeds(feed_dict)
        fetch_tensors, targets, index = _split_fetches(flat)
        plan = self._get_plan(fetch_tensors, feed_tensors, targets)
        values = plan.run(feed_values)
        return rebuild([None if i is None else values[i] for i in index])

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        """Returns ``f(*feed_values)`` that runs ``fetches`` with ``feed_list`` fed, skipping per-call
        fetch/feed analysis.

        Example:
            >>> f = sess.make_callable(y, [x])
            >>> f(np.ones((1, 2), np.float32))                                # doctest: +SKIP
        """
        flat, rebuild = _flatten_fetches(self._graph, fetches)
        fetch_tensors, targets, index = _split_fetches(flat)
        feed_tensors = [self._feed_spec(k).tensor for k in (feed_list or [])]
        specs = [self._feed_spec(t) for t in feed_tensors]
        plan = self._get_plan(fetch_tensors, feed_tensors, targets)
        index = [None if i is None else i for i in index]

        def call(*args, **kwargs):
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.")
            if len(args) != len(specs):
                raise TypeError(f"this callable takes {len(specs)} feed values, got {len(args)}")
            values = plan.run([s.convert(a) for s, a in zip(specs, args)])
            return rebuild([None if i is None else values[i] for i in index])
        return call

    def _feed_spec(self, key):
        spec = self._feed_specs.get(key)
        if spec is None:
            tensor = self._feed_tensor(key)
            spec = self._feed_specs.get(tensor)
            if spec is None:
                spec = _FeedSpec(tensor)
                self._feed_specs[tensor] = spec
            try:
                self._feed_specs[key] = spec
            except TypeError:
                pass
        return spec

    def _feed_tensor(self, key):
        if hasattr(key, "_as_graph_element") and not isinstance(key, ops.Tensor):
            key = key._as_graph_element()
        try:
            tensor = self._graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
        except (KeyError, ValueError, TypeError) as e:
            raise TypeError(f"Cannot interpret feed_dict key {key!r} as a Tensor: {e}") from None
        if not self._graph.is_feedable(tensor):
            raise ValueError(f"Tensor {tensor.name} may not be fed.")
        return tensor

    def _process_feeds(self, feed_dict):
        if not feed_dict:
            return (), ()
        tensors, values = [], []
        for key, value in feed_dict.items():
            spec = self._feed_spec(key)
            try:
                values.append(spec.convert(value))
            except (TypeError, ValueError) as e:
                placeholder = spec.tensor.op
                kind = "placeholder" if placeholder.type.startswith("Placeholder") else "tensor"
                raise type(e)(f"feed for {kind} '{placeholder.name}' (expects dtype "
                              f"{spec.tensor.dtype.name}, shape {spec.tensor.shape}): {e}") from None
            tensors.append(spec.tensor)
        return tuple(tensors), values

    def _get_plan(self, fetch_tensors, feed_tensors, targets):
        key = (tuple(fetch_tensors), tuple(feed_tensors), tuple(targets))
        plan = self._plans.get(key)
        if plan is None or plan.graph_version != self._graph._mutation_version:
            with self._lock:
                # Another thread may have compiled it while this one waited: one plan per
                # signature (its CUDA graphs and caches are shared by every thread).
                plan = self._plans.get(key)
                if plan is not None and plan.graph_version == self._graph._mutation_version:
                    return plan
                self._place()
                plan = plan_lib.compile_plan(self._graph, list(fetch_tensors), list(feed_tensors),
                                             list(targets), self._state, placement=self._device_placement,
                                             rewrites=PlanRewrites.from_config(self._config))
                plan.graph_version = self._graph._mutation_version
                self._plans[key] = plan
                if self._config is not None and getattr(self._config, "log_device_placement", False):
                    for group in getattr(plan, "fused_groups", ()):
                        print(group)
        return plan


class _DefaultSessionContext:
    def __init__(self, session):
        self._session = session

    def __enter__(self):
        _session_stack.stack.append(self._session)
        return self._session

    def __exit__(self, *exc):
        if _session_stack.stack and _session_stack.stack[-1] is self._session:
            _session_stack.stack.pop()
        return False


class Session(BaseSession):
    """``tf.compat.v1.Session(target='', graph=None, config=None)``, plus gpugraph's
    ``placement_policy`` (``"remap"``, the default, or ``"strict"``; the ``GPUGRAPH_PLACEMENT``
    environment variable sets the default): see :mod:`gpugraph.runtime.placement`.

    Example:
        >>> with tf.Session() as sess:
        ...     sess.run(tf.constant([1, 2]) * 3)
        array([3, 6], dtype=int32)
    """


class InteractiveSession(BaseSession):
    """A Session that installs itself as the default session on construction."""

    def __init__(self, target="", graph=None, config=None, placement_policy=None):
        super().__init__(target, graph, config, placement_policy)
        self._interactive_ctx = self.as_default()
        self._interactive_ctx.__enter__()

    def close(self):
        if not self._closed:
            self._interactive_ctx.__exit__(None, None, None)
        super().close()


# -- fetch structures ---------------------------------------------------------------------------
def _resolve_fetch(graph, fetch):
    if isinstance(fetch, (ops.Tensor, ops.Operation)):
        if fetch.graph is not graph:
            raise ValueError(f"Fetch argument {fetch!r} is not an element of this graph")
        return fetch
    if hasattr(fetch, "_as_graph_element"):
        return _resolve_fetch(graph, fetch._as_graph_element())
    if isinstance(fetch, (str, bytes)):
        try:
            return graph.as_graph_element(fetch, allow_tensor=True, allow_operation=True)
        except (KeyError, ValueError) as e:
            raise ValueError(f"Fetch argument {fetch!r} cannot be interpreted as a Tensor: {e}") from None
    if fetch is None:
        raise TypeError("Fetch argument None has invalid type <class 'NoneType'>")
    raise TypeError(f"Fetch argument {fetch!r} has invalid type {type(fetch)}, must be a string, Tensor "
                    f"or Operation (or a list, tuple, dict or namedtuple of them)")


def _flatten_fetches(graph, fetches):
    """Flattens nested fetches; returns (elements, rebuild(values) -> same structure)."""
    if isinstance(fetches, ops.Tensor) and fetches.graph is graph:
        return [fetches], _first
    flat = []

    def walk(f):
        if isinstance(f, (list, tuple)) and not hasattr(f, "_as_graph_element"):
            builders = [walk(x) for x in f]
            if hasattr(f, "_fields"):  # namedtuple
                return lambda vals, b=builders, t=type(f): t(*[g(vals) for g in b])
            return lambda vals, b=builders, t=type(f): t(g(vals) for g in b) if t is not list else \
                [g(vals) for g in b]
        if isinstance(f, collections.abc.Mapping):
            items = [(k, walk(v)) for k, v in f.items()]
            kind = type(f)
            return lambda vals, it=items, t=kind: _make_mapping(t, [(k, g(vals)) for k, g in it])
        pos = len(flat)
        flat.append(_resolve_fetch(graph, f))
        return lambda vals, p=pos: vals[p]

    builder = walk(fetches)
    return flat, builder


def _make_mapping(kind, pairs):
    try:
        return kind(pairs)
    except TypeError:
        return dict(pairs)


def _first(values):
    return values[0]


def _split_fetches(flat):
    """Unique fetch tensors, target ops, and for each element its index into the fetched values."""
    tensors, targets, index, pos = [], [], [], {}
    for e in flat:
        if isinstance(e, ops.Tensor):
            if e not in pos:
                pos[e] = len(tensors)
                tensors.append(e)
            index.append(pos[e])
        else:
            if e not in targets:
                targets.append(e)
            index.append(None)
    return tensors, targets, index
