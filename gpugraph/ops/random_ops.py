"""Stateful random ops (``RandomUniform``, ``RandomStandardNormal``, ``TruncatedNormal``,
``RandomUniformInt``), TensorFlow's seed rules (``get_seed``), and the ``tf.compat.v1`` random API.

Seeds follow TensorFlow exactly: an op gets ``(seed, seed2)`` attrs from the graph-level seed
(``set_random_seed``) and its op-level seed. Each random node owns one Philox generator per Session,
keyed by its seeds, that advances on every run — so the same seeds give the same sequence in a new
Session, and ``seed == seed2 == 0`` (no seed anywhere) draws fresh entropy per Session. The streams
are NumPy's, not TensorFlow's: seeded values are reproducible within gpugraph, not bit-equal to TF.

Example:
    >>> tf.set_random_seed(1)
    >>> x = tf.random_uniform([2, 3], seed=7)
    >>> x.op.type, x.op.get_attr("seed"), x.op.get_attr("seed2")
    ('RandomUniform', 1, 7)
"""

import secrets
import weakref

import numpy as np

from gpugraph.framework import dtypes, ops, shape_fns, tensor_shape
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.framework.ops import set_random_seed  # noqa: F401  (re-exported as random.set_random_seed)
from gpugraph.framework.registry import register_op

DEFAULT_GRAPH_SEED = 87654321
_MAXINT32 = 2**31 - 1
_MASK64 = (1 << 64) - 1

# TF 2.x's fallback op seed when only the graph seed is set: a per-graph counter of seeded ops.
_graph_to_seed_dict = weakref.WeakKeyDictionary()


def _truncate_seed(seed):
    return seed % _MAXINT32  # fits in a 32-bit int, as TF does


def get_seed(op_seed):
    """The ``(seed, seed2)`` an op should use given its op-level seed (``tf.compat.v1.get_seed``).

    No graph seed and no op seed gives ``(None, None)`` (fresh randomness); only an op seed gives
    ``(DEFAULT_GRAPH_SEED, op_seed)``; a graph seed without an op seed uses a per-graph counter for
    the op seed; ``(0, 0)`` is mapped to ``(0, 2**31 - 1)`` so it still means "seeded".

    Example:
        >>> with tf.Graph().as_default():
        ...     tf.get_seed(5)
        (87654321, 5)
    """
    graph = ops.get_default_graph()
    global_seed = graph.seed
    if global_seed is not None:
        if op_seed is None:
            op_seed = _graph_to_seed_dict.setdefault(graph, 0)
            _graph_to_seed_dict[graph] += 1
        seeds = _truncate_seed(global_seed), _truncate_seed(op_seed)
    elif op_seed is not None:
        seeds = DEFAULT_GRAPH_SEED, _truncate_seed(op_seed)
    else:
        seeds = None, None
    if seeds == (0, 0):
        return 0, _MAXINT32
    return seeds


# -- op declarations ----------------------------------------------------------------------------
def _random_shape(op):
    """TF's RandomShape: the output shape is the value of the 1-D ``shape`` input."""
    shape_t = op.inputs[0]
    rank = shape_t.shape.ndims
    if rank is not None and rank != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {rank} for input 'shape' {shape_t.name}")
    value = shape_fns.constant_value(shape_t)
    if value is not None and (np.asarray(value) < -1).any():
        raise ValueError(f"shape {np.asarray(value).tolist()} has negative dimensions")
    return [shape_fns.constant_value_as_shape(shape_t)]


def _fmt_shape(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _output_dims(ctx, shape):
    shape = np.asarray(shape)
    if shape.ndim != 1:
        raise ctx.error(f"shape must be a vector of {{int32,int64}}, got shape {_fmt_shape(shape.shape)}")
    dims = tuple(shape.tolist())
    if any(d < 0 for d in dims):
        raise ctx.error(f"Shape dimensions must be non-negative, got {list(dims)}")
    return dims


def _generator(ctx):
    gen = ctx.cache.get("rng")
    if gen is None:
        seed, seed2 = ctx.attrs["seed"], ctx.attrs["seed2"]
        if seed == 0 and seed2 == 0:
            key = secrets.randbits(128)  # unseeded: fresh entropy for every Session
        else:
            key = (seed & _MASK64) | ((seed2 & _MASK64) << 64)
        gen = ctx.state.rng((ctx.node_name, seed, seed2), key)
        ctx.cache["rng"] = gen
    return gen


def _uniform_kernel(ctx, shape):
    dims = _output_dims(ctx, shape)
    gen = _generator(ctx)
    dt = np.dtype(ctx.output_dtypes[0])
    if dt == np.float32 or dt == np.float64:
        return gen.random(dims, dtype=dt)
    # Low-precision floats: draw exactly as many mantissa bits as the type holds, so values stay in
    # [0, 1) (rounding a float32 sample could give 1.0) — what TF's kernels do too.
    bits = 10 if dt == np.float16 else 7
    k = gen.integers(0, 1 << bits, dims, dtype=np.uint16).astype(np.float32)
    return (k * np.float32(2.0 ** -bits)).astype(dt)


def _normal_kernel(ctx, shape):
    dims = _output_dims(ctx, shape)
    dt = np.dtype(ctx.output_dtypes[0])
    gen = _generator(ctx)
    if dt == np.float32 or dt == np.float64:
        return gen.standard_normal(dims, dtype=dt)
    return gen.standard_normal(dims, dtype=np.float32).astype(dt)


def _truncated_normal_kernel(ctx, shape):
    dims = _output_dims(ctx, shape)
    dt = np.dtype(ctx.output_dtypes[0])
    gen = _generator(ctx)
    work = dt if dt in (np.float32, np.float64) else np.dtype(np.float32)
    x = gen.standard_normal(dims, dtype=work)
    # Redraw samples beyond two standard deviations; each round redraws ~4.6% of the last.
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = gen.standard_normal(int(bad.sum()), dtype=work)
        bad = np.abs(x) > 2.0
    return x if work == dt else x.astype(dt)


def _uniform_int_shape(op):
    for i, what in ((1, "minval"), (2, "maxval")):
        rank = op.inputs[i].shape.ndims
        if rank is not None and rank != 0:
            raise ValueError(f"{what} must be a scalar (rank 0), got shape {op.inputs[i].shape}")
    return _random_shape(op)


def _uniform_int_kernel(ctx, shape, minval, maxval):
    dims = _output_dims(ctx, shape)
    for what, v in (("minval", minval), ("maxval", maxval)):
        if np.ndim(v) != 0:
            raise ctx.error(f"{what} must be 0-D, got shape {_fmt_shape(np.shape(v))}")
    dt = np.dtype(ctx.output_dtypes[0])
    if 0 in dims:
        return np.zeros(dims, dt)  # TF returns early before checking the range
    lo, hi = int(minval), int(maxval)
    if lo >= hi:
        raise ctx.error(f"Need minval < maxval: {lo} >= {hi}")
    return _generator(ctx).integers(lo, hi, size=dims, dtype=dt)


_SEED_ATTRS = ["seed: int = 0", "seed2: int = 0"]

for _name, _kernel in (("RandomUniform", _uniform_kernel), ("RandomStandardNormal", _normal_kernel),
                       ("TruncatedNormal", _truncated_normal_kernel)):
    register_op(_name, inputs=["shape: T"], outputs=["output: dtype"],
                attrs=_SEED_ATTRS + ["dtype: {half, bfloat16, float, double}", "T: {int32, int64}"],
                shape=_random_shape, cpu=_kernel, stateful=True, host_memory=("shape",))

register_op("RandomUniformInt", inputs=["shape: T", "minval: Tout", "maxval: Tout"],
            outputs=["output: Tout"],
            attrs=_SEED_ATTRS + ["Tout: {int32, int64}", "T: {int32, int64}"],
            shape=_uniform_int_shape, cpu=_uniform_int_kernel, stateful=True,
            host_memory=("shape", "minval", "maxval"))


# -- API ----------------------------------------------------------------------------------------
def _shape_tensor(shape):
    """TF's shape_util.shape_tensor: a 1-D int32 (or int64) tensor named "shape"."""
    if isinstance(shape, ops.Tensor):
        return shape
    if isinstance(shape, tensor_shape.TensorShape):
        if not shape.is_fully_defined():
            raise ValueError(f"Cannot convert a partially known TensorShape {shape} to a shape tensor")
        shape = shape.as_list()
    if isinstance(shape, (tuple, list)):
        if not shape:
            return convert_to_tensor(np.zeros([0], np.int32), name="shape")
        dims = [tensor_shape.dimension_value(d) for d in shape]
        if any(isinstance(d, ops.Tensor) for d in dims):
            return _pack_shape(dims)
        shape = dims
    return convert_to_tensor(shape, name="shape")


def _pack_shape(dims):
    """A shape list mixing Python ints and scalar Tensors, packed as TF's auto-packing does."""
    dtype = next(d.dtype.base_dtype for d in dims if isinstance(d, ops.Tensor))
    with ops.name_scope("shape") as scope:
        elems = [d if isinstance(d, ops.Tensor) else convert_to_tensor(d, dtype=dtype, name=str(i))
                 for i, d in enumerate(dims)]
        return apply_op("Pack", values=elems, axis=0, name=scope)


def _seed_attrs(seed):
    seed1, seed2 = get_seed(seed)
    return {"seed": seed1 or 0, "seed2": seed2 or 0}


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    """``tf.compat.v1.random_uniform``: uniform values in ``[minval, maxval)``.

    Example:
        >>> u = tf.random_uniform([2, 3], minval=-1.0, maxval=1.0, seed=3)
        >>> u.shape.as_list()
        [2, 3]
    """
    dtype = dtypes.as_dtype(dtype)
    accepted = (dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64, dtypes.int32,
                dtypes.int64)
    if dtype not in accepted:
        raise ValueError(f"Argument `dtype` got invalid value {dtype}. Accepted dtypes are "
                         f"{[d.name for d in accepted]}.")
    if maxval is None:
        if dtype.is_integer:
            raise ValueError(f"Must specify maxval for integer dtype {dtype.name}")
        maxval = 1
    with ops.name_scope(name, "random_uniform", [shape, minval, maxval]) as name:
        shape = _shape_tensor(shape)
        minval_is_zero = isinstance(minval, int) and not isinstance(minval, bool) and minval == 0
        maxval_is_one = isinstance(maxval, int) and not isinstance(maxval, bool) and maxval == 1
        if not minval_is_zero or not maxval_is_one or dtype.is_integer:
            minval = convert_to_tensor(minval, dtype=dtype, name="min")
            maxval = convert_to_tensor(maxval, dtype=dtype, name="max")
        seeds = _seed_attrs(seed)
        if dtype.is_integer:
            return apply_op("RandomUniformInt", shape=shape, minval=minval, maxval=maxval, name=name,
                            **seeds)
        result = apply_op("RandomUniform", shape=shape, dtype=dtype, **seeds)
        if minval_is_zero:
            if not maxval_is_one:
                result = apply_op("Mul", x=result, y=maxval)
            return result
        span = apply_op("Sub", x=maxval, y=minval, name="sub")
        return apply_op("AddV2", x=apply_op("Mul", x=result, y=span, name="mul"), y=minval, name=name)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """``tf.compat.v1.random_normal``: normal values with the given mean and standard deviation.

    Example:
        >>> z = tf.random_normal([100], mean=1.0, stddev=0.5, seed=1)
    """
    return _scaled_normal("RandomStandardNormal", "random_normal", shape, mean, stddev, dtype, seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """``tf.compat.v1.truncated_normal``: normal values redrawn when beyond 2 standard deviations.

    Example:
        >>> w = tf.truncated_normal([3, 4], stddev=0.1, seed=2)
    """
    return _scaled_normal("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype, seed, name)


def _scaled_normal(op_type, default_name, shape, mean, stddev, dtype, seed, name):
    dtype = dtypes.as_dtype(dtype)
    with ops.name_scope(name, default_name, [shape, mean, stddev]) as name:
        shape_t = _shape_tensor(shape)
        mean_t = convert_to_tensor(mean, dtype=dtype, name="mean")
        stddev_t = convert_to_tensor(stddev, dtype=dtype, name="stddev")
        rnd = apply_op(op_type, shape=shape_t, dtype=dtype, **_seed_attrs(seed))
        mul = apply_op("Mul", x=rnd, y=stddev_t, name="mul")
        return apply_op("AddV2", x=mul, y=mean_t, name=name)


EXPORTS = {
    "": ["random_uniform", "random_normal", "truncated_normal", "get_seed"],
    "random": ["uniform=random_uniform", "normal=random_normal", "truncated_normal", "get_seed",
               "set_random_seed"],
}
