"""Variable initializers with ``tf.compat.v1``'s classes: ``zeros_initializer``, ``ones_initializer``,
``constant_initializer``, random ones, ``variance_scaling_initializer`` and its glorot/he/lecun
presets. Calling one, ``init(shape, dtype=None, partition_info=None)``, adds the ops that compute
the initial value — under ``<var>/Initializer/`` when ``get_variable`` calls it, so node names match
TensorFlow's (``dense/kernel/Initializer/random_uniform/RandomUniform`` …).

Example:
    >>> init = tf.glorot_uniform_initializer(seed=1)
    >>> w = tf.get_variable("w", [3, 4], initializer=init)
    >>> init.get_config()
    {'seed': 1, 'dtype': 'float32'}
"""

import math

import numpy as np

from gpugraph.framework import dtypes, ops, tensor_shape
from gpugraph.framework.op_builder import apply_op, constant
from gpugraph.ops import random_ops

# Below this many elements a filled tensor is a Const; above, a Fill op (as TF's zeros/ones).
_SMALL_CONSTANT_ELEMENTS = 1000


def _filled(shape, dtype, fill, default_name):
    """TF's ``array_ops.zeros``/``ones``: a Const when small, else ``Fill(shape_as_tensor, Const)``."""
    dtype = dtypes.as_dtype(dtype).base_dtype
    if dtype == dtypes.bool:
        value = bool(fill)
    elif dtype == dtypes.string:
        value = b"" if not fill else None
        if value is None:
            raise ValueError("ones_initializer does not support dtype string")
    else:
        value = fill
    with ops.name_scope(None, default_name, [shape]) as name:
        if isinstance(shape, ops.Tensor):
            dims_t = shape
        else:
            dims = [tensor_shape.dimension_value(d) for d in tensor_shape.as_shape(shape).as_list()]
            if int(np.prod(dims, dtype=np.int64)) < _SMALL_CONSTANT_ELEMENTS:
                return constant(value, dtype=dtype, shape=dims, name=name)
            index = np.int64 if max(dims, default=0) > np.iinfo(np.int32).max else np.int32
            dims_t = constant(np.array(dims, dtype=index), name="shape_as_tensor")
        return apply_op("Fill", dims=dims_t, value=constant(value, dtype=dtype), name=name)


def _assert_float_dtype(dtype):
    if not dtype.is_floating:
        raise ValueError(f"Argument `dtype` is expected to be floating point. Received: {dtype.name}.")
    return dtype


def _compute_fans(shape):
    """(fan_in, fan_out) of a weight shape: receptive field × in/out channels for conv kernels."""
    shape = [tensor_shape.dimension_value(d) for d in shape]
    if len(shape) < 1:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in, fan_out = shape
    else:
        receptive_field_size = 1
        for dim in shape[:-2]:
            receptive_field_size *= dim
        fan_in = shape[-2] * receptive_field_size
        fan_out = shape[-1] * receptive_field_size
    return int(fan_in), int(fan_out)


class Initializer:
    """Base class: ``init(shape, dtype=None, partition_info=None)`` returns the initial value Tensor."""

    def __call__(self, shape, dtype=None, partition_info=None):
        raise NotImplementedError

    def get_config(self):
        """A JSON-serialisable dict of constructor arguments (``from_config`` inverts it)."""
        return {}

    @classmethod
    def from_config(cls, config):
        """``cls(**config)``: e.g. ``RandomUniform.from_config(init.get_config())``."""
        return cls(**config)


class Zeros(Initializer):
    """``tf.compat.v1.zeros_initializer``: all zeros.

    Example:
        >>> b = tf.get_variable("b", [10], initializer=tf.zeros_initializer())
    """

    def __init__(self, dtype=dtypes.float32):
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return _filled(shape, self.dtype if dtype is None else dtype, 0, "zeros")

    def get_config(self):
        return {"dtype": self.dtype.name}


class Ones(Initializer):
    """``tf.compat.v1.ones_initializer``: all ones.

    Example:
        >>> g = tf.get_variable("gamma", [10], initializer=tf.ones_initializer())
    """

    def __init__(self, dtype=dtypes.float32):
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return _filled(shape, self.dtype if dtype is None else dtype, 1, "ones")

    def get_config(self):
        return {"dtype": self.dtype.name}


class Constant(Initializer):
    """``tf.compat.v1.constant_initializer``: a scalar, or a list/array laid out in row-major order;
    a list shorter than the shape is padded with its last element (TF1 semantics).

    Example:
        >>> init = tf.constant_initializer([1, 2, 3])
        >>> v = tf.get_variable("v", [2, 3], initializer=init)   # [[1, 2, 3], [3, 3, 3]]
    """

    def __init__(self, value=0, dtype=dtypes.float32, verify_shape=False):
        if not (np.isscalar(value) or isinstance(value, (list, tuple, np.ndarray))):
            raise TypeError(f"Invalid type for initial value={value} of type: {type(value).__name__}. "
                            "Expected Python scalar, list or tuple of values, or numpy.ndarray.")
        self.value = value
        self.dtype = dtypes.as_dtype(dtype)
        self._verify_shape = verify_shape

    def __call__(self, shape, dtype=None, partition_info=None, verify_shape=None):
        from gpugraph.framework import tensor_util
        dtype = dtypes.as_dtype(self.dtype if dtype is None else dtype)
        verify_shape = self._verify_shape if verify_shape is None else verify_shape
        # make_tensor_proto checks the values fit the dtype (TypeError "Expected int32, but got 0.5").
        value = tensor_util.MakeNdarray(tensor_util.make_tensor_proto(self.value, dtype=dtype))
        if shape is None:
            return constant(value, dtype=dtype, name="Const")
        dims = [tensor_shape.dimension_value(d) for d in tensor_shape.as_shape(shape).as_list()]
        if verify_shape and list(value.shape) != dims:
            raise TypeError(f"Expected Tensor's shape: {tuple(dims)}, got {value.shape}.")
        needed = int(np.prod(dims, dtype=np.int64))
        if value.size > needed:
            raise ValueError(f"Too many elements provided. Needed at most {needed}, but received "
                             f"{value.size}")
        if 0 < value.size < needed:
            flat = value.reshape(-1)
            value = np.concatenate([flat, np.repeat(flat[-1:], needed - flat.size)])
        if value.size == needed:
            value = value.reshape(dims)
        return constant(value, dtype=dtype, shape=dims, name="Const")

    def get_config(self):
        return {"value": self.value, "dtype": self.dtype.name}


class RandomUniform(Initializer):
    """``tf.compat.v1.random_uniform_initializer``: uniform in ``[minval, maxval)``.

    Example:
        >>> init = tf.random_uniform_initializer(-0.05, 0.05, seed=1)
    """

    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=dtypes.float32):
        self.minval = minval
        self.maxval = maxval
        self.seed = seed
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = self.dtype if dtype is None else dtype
        return random_ops.random_uniform(shape, self.minval, self.maxval, dtype, seed=self.seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed,
                "dtype": self.dtype.name}


class _MeanStddevInitializer(Initializer):
    """An initializer drawing from ``_sample(shape, mean, stddev, dtype, seed=...)``."""

    _sample = None

    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
        self.mean = mean
        self.stddev = stddev
        self.seed = seed
        self.dtype = _assert_float_dtype(dtypes.as_dtype(dtype))

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = self.dtype if dtype is None else dtype
        return self._sample(shape, self.mean, self.stddev, dtype, seed=self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed, "dtype": self.dtype.name}


class RandomNormal(_MeanStddevInitializer):
    """``tf.compat.v1.random_normal_initializer``: normal with ``mean`` and ``stddev``.

    Example:
        >>> init = tf.random_normal_initializer(stddev=0.02, seed=1)
    """

    _sample = staticmethod(random_ops.random_normal)


class TruncatedNormal(_MeanStddevInitializer):
    """``tf.compat.v1.truncated_normal_initializer``: normal, redrawn beyond two ``stddev``.

    Example:
        >>> init = tf.truncated_normal_initializer(stddev=0.1, seed=1)
    """

    _sample = staticmethod(random_ops.truncated_normal)


class UniformUnitScaling(Initializer):
    """``tf.compat.v1.uniform_unit_scaling_initializer`` (deprecated in TF): uniform in
    ``±factor·sqrt(3 / input_size)``, input_size the product of all but the last dimension.

    Example:
        >>> init = tf.uniform_unit_scaling_initializer(factor=1.43)
    """

    def __init__(self, factor=1.0, seed=None, dtype=dtypes.float32):
        self.factor = factor
        self.seed = seed
        self.dtype = _assert_float_dtype(dtypes.as_dtype(dtype))

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = self.dtype if dtype is None else dtype
        scale_shape = partition_info.full_shape if partition_info is not None else shape
        input_size = 1.0
        for dim in list(scale_shape)[:-1]:
            input_size *= float(tensor_shape.dimension_value(dim))
        input_size = max(input_size, 1.0)
        max_val = math.sqrt(3 / input_size) * self.factor
        return random_ops.random_uniform(shape, -max_val, max_val, dtype, seed=self.seed)

    def get_config(self):
        return {"factor": self.factor, "seed": self.seed, "dtype": self.dtype.name}


class VarianceScaling(Initializer):
    """``tf.compat.v1.variance_scaling_initializer``: variance ``scale / n`` where ``n`` is fan_in,
    fan_out or their average; "truncated_normal" (alias "normal"), "untruncated_normal" or "uniform".

    Example:
        >>> he = tf.variance_scaling_initializer(scale=2.0, mode="fan_in")
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=dtypes.float32):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be a positive float. Received: {scale}")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError("Argument `mode` should be one of ('fan_in', 'fan_out', 'fan_avg'). "
                             f"Received: {mode}")
        distribution = distribution.lower()
        if distribution not in {"normal", "uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError("Argument `distribution` should be one of ('normal', uniform', "
                             f"'truncated_normal', 'untruncated_normal'). Received: {distribution}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.seed = seed
        self.dtype = _assert_float_dtype(dtypes.as_dtype(dtype))

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = self.dtype if dtype is None else dtype
        scale = self.scale
        scale_shape = partition_info.full_shape if partition_info is not None else shape
        fan_in, fan_out = _compute_fans(scale_shape)
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        if self.distribution in ("normal", "truncated_normal"):
            # 0.8796… is the stddev of a unit normal truncated to [-2, 2].
            stddev = math.sqrt(scale) / 0.87962566103423978
            return random_ops.truncated_normal(shape, 0.0, stddev, dtype, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_ops.random_normal(shape, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_ops.random_uniform(shape, -limit, limit, dtype, seed=self.seed)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, "dtype": self.dtype.name}


class GlorotUniform(VarianceScaling):
    """``tf.compat.v1.glorot_uniform_initializer`` (Xavier): uniform, ``scale=1``, fan_avg.
    The default initializer of ``get_variable`` for float variables.

    Example:
        >>> init = tf.glorot_uniform_initializer(seed=0)
    """

    def __init__(self, seed=None, dtype=dtypes.float32):
        super().__init__(scale=1.0, mode="fan_avg", distribution="uniform", seed=seed, dtype=dtype)

    def get_config(self):
        return {"seed": self.seed, "dtype": self.dtype.name}


class GlorotNormal(VarianceScaling):
    """``tf.compat.v1.glorot_normal_initializer``: truncated normal, ``scale=1``, fan_avg.

    Example:
        >>> init = tf.glorot_normal_initializer(seed=0)
    """

    def __init__(self, seed=None, dtype=dtypes.float32):
        super().__init__(scale=1.0, mode="fan_avg", distribution="truncated_normal", seed=seed,
                         dtype=dtype)

    def get_config(self):
        return {"seed": self.seed, "dtype": self.dtype.name}


def lecun_normal(seed=None):
    """``tf.compat.v1.initializers.lecun_normal``: truncated normal, ``scale=1``, fan_in."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def lecun_uniform(seed=None):
    """``tf.compat.v1.initializers.lecun_uniform``: uniform, ``scale=1``, fan_in."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=seed)


def he_normal(seed=None):
    """``tf.compat.v1.initializers.he_normal``: truncated normal, ``scale=2``, fan_in.

    Example:
        >>> w = tf.get_variable("conv/w", [3, 3, 16, 32], initializer=tf.initializers.he_normal())
    """
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="truncated_normal", seed=seed)


def he_uniform(seed=None):
    """``tf.compat.v1.initializers.he_uniform``: uniform, ``scale=2``, fan_in."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=seed)


zeros_initializer = Zeros
ones_initializer = Ones
constant_initializer = Constant
random_uniform_initializer = RandomUniform
random_normal_initializer = RandomNormal
truncated_normal_initializer = TruncatedNormal
uniform_unit_scaling_initializer = UniformUnitScaling
variance_scaling_initializer = VarianceScaling
glorot_uniform_initializer = GlorotUniform
glorot_normal_initializer = GlorotNormal

EXPORTS = {
    "": ["zeros_initializer", "ones_initializer", "constant_initializer", "random_uniform_initializer",
         "random_normal_initializer", "truncated_normal_initializer",
         "uniform_unit_scaling_initializer", "variance_scaling_initializer",
         "glorot_uniform_initializer", "glorot_normal_initializer"],
    "initializers": ["zeros=Zeros", "ones=Ones", "constant=Constant", "random_uniform=RandomUniform",
                     "random_normal=RandomNormal", "truncated_normal=TruncatedNormal",
                     "uniform_unit_scaling=UniformUnitScaling", "variance_scaling=VarianceScaling",
                     "glorot_uniform=GlorotUniform", "glorot_normal=GlorotNormal", "he_normal",
                     "he_uniform", "lecun_normal", "lecun_uniform"],
}
