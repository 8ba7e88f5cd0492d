"""Sample fused-elementwise chains: compiled by NVRTC (test_nvrtc_compile.py) and run in the CPU
emulation against gpugraph's NumPy kernels (test_cpu_emulation.py).

Each case: an id and a function of a dtype name returning the expression; inputs are numbered
0..k-1 with their broadcast kinds.
"""

from gpugraph.runtime.cuda import fusion as F


def _bias_relu(dt):  # relu(x * a + b): the planner's canonical example
    return F.relu(F.input(0, "full", dt) * F.input(1, "scalar", dt) + F.input(2, "row", dt))


def _gelu_like(dt):  # x * sigmoid(1.702 * x), an input used twice
    x = F.input(0, "full", dt)
    return x * F.sigmoid(1.702 * x)


def _batchnorm_apply(dt):  # (x - mean) * rsqrt(var + eps) * gamma + beta, per-row statistics
    x = F.input(0, "full", dt)
    mean, var = F.input(1, "col", dt), F.input(2, "col", dt)
    gamma, beta = F.input(3, "row", dt), F.input(4, "row", dt)
    return (x - mean) * F.rsqrt(var + 1e-3) * gamma + beta


def _mixed(dt):  # every other unary and binary op once
    x, y = F.input(0, "full", dt), F.input(1, "full", dt)
    t = F.maximum(F.tanh(x), F.minimum(y, 0.25)) - F.squared_difference(x, y) / 3.0
    t = F.relu6(F.elu(t) + F.selu(-t)) + F.softplus(F.leaky_relu(t, alpha=0.3))
    return F.exp(-F.square(t)) + F.log1p(F.abs(x)) + F.log(F.sqrt(F.abs(y) + 1.0)) - F.neg(t)


CASES = [("bias_relu", _bias_relu), ("gelu_like", _gelu_like),
         ("batchnorm_apply", _batchnorm_apply), ("mixed", _mixed)]
DTYPES = ("float32", "float64", "float16", "bfloat16")


def kernels():
    """Every (case id, dtype, FusedKernel)."""
    return [(cid, dt, F.build(fn(dt))) for cid, fn in CASES for dt in DTYPES]
