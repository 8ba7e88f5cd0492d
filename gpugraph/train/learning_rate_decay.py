"""Learning-rate schedules of ``tf.compat.v1.train`` as graph ops of the global step:
``exponential_decay``, ``piecewise_constant``, ``inverse_time_decay``, ``natural_exp_decay`` and
``polynomial_decay``.

Example:
    >>> step = tf.train.get_or_create_global_step()
    >>> lr = tf.train.exponential_decay(0.1, step, decay_steps=1000, decay_rate=0.96, staircase=True)
    >>> opt = tf.train.GradientDescentOptimizer(lr)
"""

from gpugraph.framework import dtypes, ops
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.ops import grad_util as gu


def _scoped(op_type, scope_name, x, y):
    with ops.name_scope(scope_name) as scope:
        return apply_op(op_type, x=x, y=y, name=scope)


def _check_step(global_step, fn_name):
    if global_step is None:
        raise ValueError(f"global_step is required for {fn_name}.")


def _decay_terms(learning_rate, lr_name, global_step, decay_steps, decay_rate, staircase):
    """In the schedule's name scope: the learning rate as a tensor named ``lr_name``, the decay
    rate in its dtype, and ``global_step / decay_steps`` (floored with ``staircase``)."""
    lr = convert_to_tensor(learning_rate, name=lr_name)
    dtype = lr.dtype.base_dtype
    steps = gu.cast(convert_to_tensor(decay_steps), dtype)
    rate = gu.cast(convert_to_tensor(decay_rate), dtype)
    p = _scoped("RealDiv", "truediv", gu.cast(convert_to_tensor(global_step), dtype), steps)
    if staircase:
        p = apply_op("Floor", x=p)
    return lr, rate, p


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate * decay_rate ** (global_step / decay_steps)`` (the exponent floored with
    ``staircase``).

    Example:
        >>> lr = tf.train.exponential_decay(0.1, step, 100000, 0.96, staircase=True)
    """
    _check_step(global_step, "exponential_decay")
    with ops.name_scope(name, "ExponentialDecay", [learning_rate, global_step, decay_steps, decay_rate]) as scope:
        lr, rate, p = _decay_terms(learning_rate, "initial_learning_rate", global_step, decay_steps,
                                   decay_rate, staircase)
        return apply_op("Mul", x=lr, y=apply_op("Pow", x=rate, y=p), name=scope)


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate / (1 + decay_rate * global_step / decay_steps)``.

    Example:
        >>> lr = tf.train.inverse_time_decay(0.1, step, 1000, 0.5)
    """
    _check_step(global_step, "inverse_time_decay")
    with ops.name_scope(name, "InverseTimeDecay", [learning_rate, global_step, decay_rate]) as scope:
        lr, rate, p = _decay_terms(learning_rate, "learning_rate", global_step, decay_steps, decay_rate,
                                   staircase)
        one = convert_to_tensor(1.0, dtype=lr.dtype.base_dtype)
        denom = _scoped("AddV2", "Add", one, _scoped("Mul", "Mul", rate, p))
        return apply_op("RealDiv", x=lr, y=denom, name=scope)


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate * exp(-decay_rate * global_step / decay_steps)``.

    Example:
        >>> lr = tf.train.natural_exp_decay(0.1, step, 1000, 0.5)
    """
    _check_step(global_step, "natural_exp_decay")
    with ops.name_scope(name, "NaturalExpDecay", [learning_rate, global_step, decay_rate]) as scope:
        lr, rate, p = _decay_terms(learning_rate, "learning_rate", global_step, decay_steps, decay_rate,
                                   staircase)
        exponent = apply_op("Exp", x=_scoped("Mul", "Mul", apply_op("Neg", x=rate), p))
        return apply_op("Mul", x=lr, y=exponent, name=scope)


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001, power=1.0,
                     cycle=False, name=None):
    """``(lr - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end`` (with ``cycle``,
    decay_steps grows to the next multiple of itself above the step).

    Example:
        >>> lr = tf.train.polynomial_decay(0.1, step, 10000, end_learning_rate=0.01, power=0.5)
    """
    _check_step(global_step, "polynomial_decay")
    with ops.name_scope(name, "PolynomialDecay", [learning_rate, global_step, decay_steps,
                                                  end_learning_rate, power]) as scope:
        lr = convert_to_tensor(learning_rate, name="learning_rate")
        dtype = lr.dtype.base_dtype
        end_lr = gu.cast(convert_to_tensor(end_learning_rate), dtype)
        power_t = gu.cast(convert_to_tensor(power), dtype)
        step = gu.cast(convert_to_tensor(global_step), dtype)
        steps = gu.cast(convert_to_tensor(decay_steps), dtype)
        if cycle:
            ratio = apply_op("Ceil", x=_scoped("RealDiv", "truediv", step, steps))
            one = convert_to_tensor(1.0, dtype=dtype)
            multiplier = gu.where_v2(apply_op("Equal", x=step, y=convert_to_tensor(0.0, dtype=dtype)), one, ratio)
            steps = _scoped("Mul", "Mul", steps, multiplier)
        else:
            step = apply_op("Minimum", x=step, y=steps)
        fraction = _scoped("RealDiv", "truediv", step, steps)
        base = _scoped("Sub", "sub", convert_to_tensor(1.0, dtype=dtype), fraction)
        scaled = _scoped("Mul", "Mul", _scoped("Sub", "sub", lr, end_lr), apply_op("Pow", x=base, y=power_t))
        return apply_op("AddV2", x=scaled, y=end_lr, name=scope)


def piecewise_constant(x, boundaries, values, name=None):
    """``values[0]`` while ``x <= boundaries[0]``, ``values[i]`` while ``boundaries[i-1] < x <=
    boundaries[i]``, ``values[-1]`` after the last boundary.

    Example:
        >>> lr = tf.train.piecewise_constant(step, [1000, 2000], [0.1, 0.01, 0.001])
    """
    boundaries, values = list(boundaries), list(values)
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    with ops.name_scope(name, "PiecewiseConstant", [x]):
        x = convert_to_tensor(x)
        bounds = []
        for b in boundaries:
            b = convert_to_tensor(b)
            if b.dtype.base_dtype != x.dtype.base_dtype:
                # Python int boundaries (int32) promote losslessly to an int64 step; anything else
                # could compare wrongly, so TensorFlow refuses it.
                if not (b.dtype.base_dtype == dtypes.int32 and x.dtype.base_dtype == dtypes.int64):
                    raise ValueError(f"Boundaries ({b.dtype.name}) must have the same dtype as x "
                                     f"({x.dtype.name}).")
                b = gu.cast(b, x.dtype.base_dtype)
            bounds.append(b)
        vals = [convert_to_tensor(v) for v in values]
        dtype = vals[0].dtype.base_dtype
        for v in vals[1:]:
            if v.dtype.base_dtype != dtype:
                raise ValueError(f"Values must have elements all with the same dtype ({dtype.name} vs "
                                 f"{v.dtype.name}).")
        # The intervals are disjoint and cover everything: pick from the last one backwards.
        result = vals[-1]
        for i in range(len(bounds) - 1, -1, -1):
            result = gu.where_v2(apply_op("LessEqual", x=x, y=bounds[i]), vals[i], result)
        return result
