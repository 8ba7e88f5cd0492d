"""Calling gpugraph's NumPy kernels directly — the reference every CUDA kernel is compared with."""

import warnings

import numpy as np

import gpugraph  # noqa: F401  (registers every op and its NumPy kernel)
from gpugraph.framework.registry import get_op_spec


class KernelError(Exception):
    """What the fake context's ``error()`` builds: the NumPy kernel rejected its input."""


class FakeContext:
    """The parts of a KernelContext that NumPy kernels use, for calling them directly."""

    def __init__(self, op_type, attrs, output_dtypes=()):
        self.op_type = op_type
        self.node_name = f"emulation_{op_type}"
        self.attrs = attrs
        self.output_dtypes = [np.dtype(d) for d in output_dtypes]
        self.cache = {}
        self.state = None

    def error(self, message, cls=None):
        return KernelError(message)


class FakeCell:
    """A ref variable slot for the Apply* kernels."""

    def __init__(self, value):
        self.value = value

    def read(self):
        return self.value

    def assign(self, value):
        self.value = value


def numpy_kernel(op_type, *inputs, output_dtypes=(), **attrs):
    """Runs gpugraph's NumPy kernel of ``op_type`` on ``inputs`` with ``attrs``."""
    kernel = get_op_spec(op_type).kernel_for("CPU")
    with np.errstate(all="ignore"), warnings.catch_warnings():  # NaN/inf/empty inputs are deliberate
        warnings.simplefilter("ignore", RuntimeWarning)
        return kernel(FakeContext(op_type, attrs, output_dtypes), *inputs)
