"""The ``tf.compat.v1.train`` optimizers: GradientDescent, Momentum, Adam, Adagrad and RMSProp.

Each builds TensorFlow's own update op (``ApplyAdam``, ``ResourceApplyAdam``, …) with TF's slot names —
``w/Momentum``, ``w/Adam`` and ``w/Adam_1`` (m, v) plus ``beta1_power``/``beta2_power``,
``w/Adagrad``, ``w/RMSProp`` and ``w/RMSProp_1`` (rms, momentum; centered adds ``mg`` between) —
so checkpoints written here restore in TensorFlow and the other way round.

Example:
    >>> opt = tf.train.AdamOptimizer(learning_rate=1e-3)
    >>> train_op = opt.minimize(loss)
    >>> sorted(v.op.name for v in opt.variables())[:2]
    ['beta1_power', 'beta2_power']
"""

from gpugraph.framework import ops
from gpugraph.framework.op_builder import apply_op, convert_to_tensor
from gpugraph.ops import core_ops, init_ops, state_ops
from gpugraph.train.optimizer import Optimizer


def _tensor(value, name):
    return value if isinstance(value, ops.Tensor) else convert_to_tensor(value, name=name)


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad`` (ApplyGradientDescent).

    Example:
        >>> train_op = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    """

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._learning_rate_tensor = None

    def _prepare(self):
        self._learning_rate_tensor = _tensor(self._call_if_callable(self._learning_rate), "learning_rate")

    def _apply_dense(self, grad, var):
        alpha = self._cast(self._learning_rate_tensor, var.dtype.base_dtype)
        return apply_op("ApplyGradientDescent", var=var, alpha=alpha, delta=grad,
                        use_locking=self._use_locking).op

    def _resource_apply_dense(self, grad, var):
        return apply_op("ResourceApplyGradientDescent", var=var.handle,
                        alpha=self._cast(self._learning_rate_tensor, grad.dtype.base_dtype), delta=grad,
                        use_locking=self._use_locking)


class MomentumOptimizer(Optimizer):
    """``accum = momentum * accum + grad; var -= lr * accum`` (Nesterov: ``var -= lr * (grad +
    momentum * accum)``); one slot per variable, ``<var>/Momentum``.

    Example:
        >>> train_op = tf.train.MomentumOptimizer(0.01, 0.9, use_nesterov=True).minimize(loss)
    """

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._use_nesterov = use_nesterov

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = _tensor(self._call_if_callable(self._learning_rate), "learning_rate")
        self._momentum_tensor = _tensor(self._call_if_callable(self._momentum), "momentum")

    def _apply_dense(self, grad, var):
        dtype = var.dtype.base_dtype
        return apply_op("ApplyMomentum", var=var, accum=self.get_slot(var, "momentum"),
                        lr=self._cast(self._learning_rate_tensor, dtype), grad=grad,
                        momentum=self._cast(self._momentum_tensor, dtype), use_locking=self._use_locking,
                        use_nesterov=self._use_nesterov).op

    def _resource_apply_dense(self, grad, var):
        dtype = grad.dtype.base_dtype
        return apply_op("ResourceApplyMomentum", var=var.handle, accum=self.get_slot(var, "momentum").handle,
                        lr=self._cast(self._learning_rate_tensor, dtype), grad=grad,
                        momentum=self._cast(self._momentum_tensor, dtype), use_locking=self._use_locking,
                        use_nesterov=self._use_nesterov)


class AdamOptimizer(Optimizer):
    """Adam (Kingma & Ba): slots ``<var>/Adam`` (m) and ``<var>/Adam_1`` (v); the bias corrections
    come from the ``beta1_power``/``beta2_power`` variables, multiplied by beta1/beta2 after each step.

    Example:
        >>> train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, use_locking=False,
                 name="Adam"):
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon
        self._lr_t = self._beta1_t = self._beta2_t = self._epsilon_t = None

    def _get_beta_accumulators(self):
        graph = ops.get_default_graph()
        return (self._get_non_slot_variable("beta1_power", graph=graph),
                self._get_non_slot_variable("beta2_power", graph=graph))

    def _create_slots(self, var_list):
        first_var = min(var_list, key=lambda x: x.name)
        self._create_non_slot_variable(initial_value=self._beta1, name="beta1_power", colocate_with=first_var)
        self._create_non_slot_variable(initial_value=self._beta2, name="beta2_power", colocate_with=first_var)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _prepare(self):
        self._lr_t = _tensor(self._call_if_callable(self._lr), "learning_rate")
        self._beta1_t = _tensor(self._call_if_callable(self._beta1), "beta1")
        self._beta2_t = _tensor(self._call_if_callable(self._beta2), "beta2")
        self._epsilon_t = _tensor(self._call_if_callable(self._epsilon), "epsilon")

    def _adam_inputs(self, dtype):
        beta1_power, beta2_power = self._get_beta_accumulators()
        return dict(beta1_power=self._cast(beta1_power, dtype), beta2_power=self._cast(beta2_power, dtype),
                    lr=self._cast(self._lr_t, dtype), beta1=self._cast(self._beta1_t, dtype),
                    beta2=self._cast(self._beta2_t, dtype), epsilon=self._cast(self._epsilon_t, dtype))

    def _apply_dense(self, grad, var):
        return apply_op("ApplyAdam", var=var, m=self.get_slot(var, "m"), v=self.get_slot(var, "v"),
                        grad=grad, use_locking=self._use_locking,
                        **self._adam_inputs(var.dtype.base_dtype)).op

    def _resource_apply_dense(self, grad, var):
        return apply_op("ResourceApplyAdam", var=var.handle, m=self.get_slot(var, "m").handle,
                        v=self.get_slot(var, "v").handle, grad=grad, use_locking=self._use_locking,
                        **self._adam_inputs(grad.dtype.base_dtype))

    def _finish(self, update_ops, name_scope):
        with ops.control_dependencies(update_ops):
            beta1_power, beta2_power = self._get_beta_accumulators()
            with ops.colocate_with(beta1_power.op):
                update_beta1 = _assign(beta1_power, _mul(beta1_power, self._beta1_t), self._use_locking)
                update_beta2 = _assign(beta2_power, _mul(beta2_power, self._beta2_t), self._use_locking)
        return core_ops.group(*update_ops, update_beta1, update_beta2, name=name_scope)


def _mul(variable, factor):
    with ops.name_scope("mul") as scope:
        value = convert_to_tensor(variable)
        return apply_op("Mul", x=value, y=Optimizer._cast(factor, value.dtype.base_dtype), name=scope)


def _assign(variable, value, use_locking):
    if hasattr(variable, "handle") and not hasattr(variable, "_ref"):
        return variable.assign(value, use_locking=use_locking)
    return state_ops.assign(variable, value, use_locking=use_locking)


class AdagradOptimizer(Optimizer):
    """``accum += grad ** 2; var -= lr * grad / sqrt(accum)``; slot ``<var>/Adagrad`` starting at
    ``initial_accumulator_value``.

    Example:
        >>> train_op = tf.train.AdagradOptimizer(0.1).minimize(loss)
    """

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"):
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: {initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._initial_accumulator_value = initial_accumulator_value
        self._learning_rate_tensor = None

    def _create_slots(self, var_list):
        for v in var_list:
            dtype = v.dtype.base_dtype
            if v.get_shape().is_fully_defined():
                init = init_ops.constant_initializer(self._initial_accumulator_value, dtype=dtype)
            else:
                value = self._initial_accumulator_value

                def init(shape=None, dtype=dtype, partition_info=None, v=v, value=value):
                    filled = apply_op("Fill", dims=apply_op("Shape", input=v.initial_value),
                                      value=convert_to_tensor(value, dtype=dtype))
                    return filled
            self._get_or_make_slot_with_initializer(v, init, v.get_shape(), dtype, "accumulator", self._name)

    def _prepare(self):
        self._learning_rate_tensor = _tensor(self._call_if_callable(self._learning_rate), "learning_rate")

    def _apply_dense(self, grad, var):
        return apply_op("ApplyAdagrad", var=var, accum=self.get_slot(var, "accumulator"),
                        lr=self._cast(self._learning_rate_tensor, var.dtype.base_dtype), grad=grad,
                        use_locking=self._use_locking).op

    def _resource_apply_dense(self, grad, var):
        return apply_op("ResourceApplyAdagrad", var=var.handle, accum=self.get_slot(var, "accumulator").handle,
                        lr=self._cast(self._learning_rate_tensor, grad.dtype.base_dtype), grad=grad,
                        use_locking=self._use_locking)


class RMSPropOptimizer(Optimizer):
    """RMSProp: ``ms = decay * ms + (1 - decay) * grad ** 2``, ``mom = momentum * mom + lr * grad /
    sqrt(ms + epsilon)``, ``var -= mom``; ``centered`` also tracks the mean gradient ``mg``.
    Slots: ``<var>/RMSProp`` (rms, starting at 1), [``mg``], ``<var>/RMSProp_1`` (momentum).

    Example:
        >>> train_op = tf.train.RMSPropOptimizer(0.01, momentum=0.9).minimize(loss)
    """

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False,
                 centered=False, name="RMSProp"):
        super().__init__(use_locking, name)
        self._learning_rate, self._decay, self._momentum, self._epsilon = learning_rate, decay, momentum, epsilon
        self._centered = centered

    def _create_slots(self, var_list):
        for v in var_list:
            dtype = v.dtype.base_dtype
            if v.get_shape().is_fully_defined():
                init_rms = init_ops.ones_initializer(dtype=dtype)
            else:
                init_rms = apply_op("OnesLike", x=v.initial_value)
            self._get_or_make_slot_with_initializer(v, init_rms, v.get_shape(), dtype, "rms", self._name)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = _tensor(self._call_if_callable(self._learning_rate), "learning_rate")
        self._decay_tensor = _tensor(self._call_if_callable(self._decay), "decay")
        self._momentum_tensor = _tensor(self._call_if_callable(self._momentum), "momentum")
        self._epsilon_tensor = _tensor(self._call_if_callable(self._epsilon), "epsilon")

    def _inputs(self, dtype):
        return dict(lr=self._cast(self._learning_rate_tensor, dtype), rho=self._cast(self._decay_tensor, dtype),
                    momentum=self._cast(self._momentum_tensor, dtype),
                    epsilon=self._cast(self._epsilon_tensor, dtype))

    def _apply_dense(self, grad, var):
        rms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        inputs = self._inputs(var.dtype.base_dtype)
        if self._centered:
            return apply_op("ApplyCenteredRMSProp", var=var, mg=self.get_slot(var, "mg"), ms=rms, mom=mom,
                            grad=grad, use_locking=self._use_locking, **inputs).op
        return apply_op("ApplyRMSProp", var=var, ms=rms, mom=mom, grad=grad, use_locking=self._use_locking,
                        **inputs).op

    def _resource_apply_dense(self, grad, var):
        rms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        inputs = self._inputs(grad.dtype.base_dtype)
        if self._centered:
            return apply_op("ResourceApplyCenteredRMSProp", var=var.handle, mg=self.get_slot(var, "mg").handle,
                            ms=rms.handle, mom=mom.handle, grad=grad, use_locking=self._use_locking, **inputs)
        return apply_op("ResourceApplyRMSProp", var=var.handle, ms=rms.handle, mom=mom.handle, grad=grad,
                        use_locking=self._use_locking, **inputs)
