"""Plan pass for NumPy plans: a layer's bias-add and ReLU run inside its convolution or matmul step.

``relu(conv2d(x, w) + b)`` is three steps on the NumPy backend, each writing a fresh activation
tensor. When the three are consecutive in the plan, the intermediate values are read by nothing
else and the tensors are float32/float64 in NHWC, they become one step that adds the bias and
clamps in place on the convolution's freshly computed output: two passes and two allocations of
the activation tensor saved, with the same NumPy operations in the same order (bitwise the same
results). Shapes that do not fit at run time go through the original BiasAdd kernel, with its
checks and errors. ``remapping`` in the session's ``RewriterConfig`` or ``GPUGRAPH_FUSION=0``
turns it off (:mod:`gpugraph.runtime.rewrites`).

Example:
    >>> steps = fuse_epilogues(steps, fetch_slots, state)   # doctest: +SKIP
"""

import numpy as np

PRODUCERS = frozenset({"Conv2D", "DepthwiseConv2dNative", "MatMul"})
ACTIVATIONS = frozenset({"Relu"})
_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})


def fuse_epilogues(steps_spec, fetch_slots, state, device_kind="CPU"):
    """``steps_spec`` (``(op, kernel, ins, outs, ctx, single_output)``, plan order) with each
    producer → BiasAdd [→ Relu] run of consecutive steps replaced by one step."""
    readers = {}
    for spec in steps_spec:
        for slot in spec[2]:
            readers[slot] = readers.get(slot, 0) + 1
    fetched = set(fetch_slots)

    def only_read_by_next(spec):
        (slot,) = spec[3]
        return readers.get(slot) == 1 and slot not in fetched and not spec[0]._control_outputs

    out, i = [], 0
    while i < len(steps_spec):
        spec = steps_spec[i]
        chain = _chain(steps_spec, i, only_read_by_next)
        if chain is None:
            out.append(spec)
            i += 1
            continue
        producer, bias_add = steps_spec[i], steps_spec[i + 1]
        activation = steps_spec[i + 2] if chain == 3 else None
        last = activation or bias_add
        from gpugraph.runtime.plan import KernelContext
        kernel = _fused_kernel(producer[1], len(producer[2]), bias_add[1],
                               KernelContext(bias_add[0], state, device_kind), activation is not None)
        ins = tuple(producer[2]) + (bias_add[2][1],)
        out.append((last[0], kernel, ins, last[3], KernelContext(producer[0], state, device_kind), True))
        i += chain
    return out


def _chain(steps_spec, i, only_read_by_next):
    """2 or 3 (the length of the fusable run starting at ``i``), or None."""
    if i + 1 >= len(steps_spec):
        return None
    producer, bias_add = steps_spec[i], steps_spec[i + 1]
    op = producer[0]
    if op.type not in PRODUCERS or len(producer[3]) != 1 or producer[4] is not None:
        return None
    if op.type != "MatMul" and op.get_attr("data_format") not in (b"NHWC", "NHWC"):
        return None
    if np.dtype(op.outputs[0].dtype.base_dtype.as_numpy_dtype) not in _DTYPES:
        return None
    b_op = bias_add[0]
    if b_op.type != "BiasAdd" or bias_add[4] is not None or b_op.get_attr("data_format") not in (b"NHWC", "NHWC"):
        return None
    if bias_add[2][0] != producer[3][0] or not only_read_by_next(producer):
        return None
    if i + 2 < len(steps_spec):
        act = steps_spec[i + 2]
        if act[0].type in ACTIVATIONS and act[4] is None and act[2] == bias_add[3] and only_read_by_next(bias_add):
            return 3
    return 2


def _fused_kernel(producer_kernel, n_inputs, bias_kernel, bias_ctx, relu):
    """The producer's kernel, then BiasAdd (in place where the output is the producer's own fresh
    array and the shapes fit; else BiasAdd's kernel with its checks and errors), then Relu."""
    def kernel(ctx, *args):  # ctx: the producer's
        y = producer_kernel(ctx, *args[:n_inputs])
        bias = args[n_inputs]
        if (isinstance(y, np.ndarray) and y.flags.writeable and y.flags.owndata and y.flags.c_contiguous
                and y.ndim >= 2 and bias.ndim == 1 and bias.shape[0] == y.shape[-1] and bias.dtype == y.dtype):
            np.add(y, bias, out=y)  # BiasAdd's np.add(value, bias), on the output just computed
        else:
            y = bias_kernel(bias_ctx, y, bias)
        if relu:
            np.maximum(y, y.dtype.type(0), out=y)  # Relu's np.maximum(x, 0)
        return y
    return kernel
