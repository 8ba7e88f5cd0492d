"""Every op conformance case (tests/ops/test_*.py ``CASES``) on the GPU backend, compared with the
NumPy kernels: same graph, one session on the CPU and one on a 1-GPU host.

Three backends: ``emulated`` runs everywhere (the CuPy backend over the NumPy emulation of CuPy: the
GPU kernels' logic, the plan's copy steps and device checks), ``emulated-kernels`` is the same
backend launching the custom kernels of ``kernels/`` through their C++ CPU build (skipped only
without a C++ compiler), and ``cupy`` needs a CUDA GPU (marked ``gpu``; skipped with the reason
when there is none) and runs the same cases on the real device.

``emulated-kernels`` runs the cases of the ops that have a custom kernel (``KERNEL_FAMILIES``),
with every op requested on the GPU, and also checks that the kernels those ops need were launched:
a silent fallback to the ``ctx.xp`` path fails the test (test_custom_kernel_ops.py checks the
kernels of each op by name).
"""

import importlib
import pathlib
import sys

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework import registry
from gpugraph.ops.control_flow_ops import CONTROL_FLOW_OPS
from gpugraph.runtime import cuda, devices

from kernel_recording import RecordingEmulator, emulated_kernels_host

OPS_TESTS = pathlib.Path(__file__).resolve().parent.parent / "ops"
if str(OPS_TESTS) not in sys.path:
    sys.path.insert(0, str(OPS_TESTS))
from conformance import build_graph  # noqa: E402


def build_on_gpu(case):
    """The case's graph with every op requesting /gpu:0 — so int32-only ops, which the placer
    otherwise keeps on the host (as TensorFlow keeps int32 in host memory), run their GPU kernels."""
    g = gg.Graph()
    with g.as_default(), gg.device("/gpu:0"):
        out = case.build()
    return g, list(out) if isinstance(out, (list, tuple)) else [out]


def _load_cases():
    cases = []
    for path in sorted(OPS_TESTS.glob("test_*.py")):
        if path.stem == "test_op_coverage":
            continue
        module = importlib.import_module(path.stem)
        cases.extend(getattr(module, "CASES", []))
    return cases


def _extra_cases():
    """Ops the tests/ops cases build only for dtypes the GPU does not take (TF's v1 ``Add`` appears
    there only for strings, since ``tf.add`` builds AddV2)."""
    from conformance import Case, ph
    from gpugraph.framework.op_builder import apply_op
    rng = np.random.default_rng(7)
    return [Case("gpu_add_v1_broadcast_f32",
                 lambda: apply_op("Add", x=ph("a", gg.float32, [2, 3]), y=ph("b", gg.float32, [3])),
                 feeds={"a": rng.standard_normal((2, 3)).astype(np.float32),
                        "b": rng.standard_normal(3).astype(np.float32)})]


CASES = _load_cases() + _extra_cases()

# Ops with a custom kernel: op type -> (kernel name prefix, the dtypes it takes). A case with one of
# them (in one of those dtypes, placed on the GPU, non-empty) must launch that kernel.
_FLOATS = frozenset({"float16", "float32", "float64"})
_NUMERIC = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                      "float16", "float32", "float64", "complex64", "complex128"})
_UNARY_OPS = ("Neg", "Abs", "Square", "Sqrt", "Rsqrt", "Exp", "Log", "Log1p", "Tanh", "Sigmoid",
              "Relu", "Relu6", "Elu", "Selu", "Softplus", "LeakyRelu")
BINARY_OPS = ("Add", "AddV2", "Sub", "Mul", "Div", "RealDiv", "Maximum", "Minimum", "SquaredDifference")
_ORDERED_BINARY_OPS = ("Sub", "Div", "RealDiv")  # only their second operand may broadcast
KERNEL_FAMILIES = {
    **{op: ("gg_ew_unary", _FLOATS) for op in _UNARY_OPS},
    **{op: ("gg_ew_binary", _FLOATS) for op in BINARY_OPS},
    "Softmax": ("gg_softmax", _FLOATS), "LogSoftmax": ("gg_softmax", _FLOATS),
    "BiasAdd": ("gg_bias_act", _FLOATS),
    **{op: ("gg_reduce", _FLOATS | {"int32", "int64"}) for op in ("Sum", "Mean", "Max", "Min", "Prod")},
    "ArgMax": ("gg_argmax", _FLOATS | {"int32", "int64", "uint8"}),
    "ArgMin": ("gg_argmax", _FLOATS | {"int32", "int64", "uint8"}),
    "GatherV2": ("gg_gather", _NUMERIC),
    "MaxPool": ("gg_max_pool_nhwc", _FLOATS | {"int32", "int64", "uint8", "int8"}),
    "AvgPool": ("gg_avg_pool_nhwc", _FLOATS),
    "Conv2D": ("gg_im2col_nhwc", _FLOATS | {"int32"}),
    "DepthwiseConv2dNative": ("gg_depthwise_conv2d_nhwc", _FLOATS),
    "SoftmaxCrossEntropyWithLogits": ("gg_softmax_xent", _FLOATS),
    "SparseSoftmaxCrossEntropyWithLogits": ("gg_sparse_softmax_xent", _FLOATS),
    **{f"{prefix}Apply{name}": (f"gg_apply_{kernel}", _FLOATS) for prefix in ("", "Resource")
       for name, kernel in (("Adam", "adam"), ("Momentum", "momentum"),
                            ("GradientDescent", "gradient_descent"))},
}


def _op_dtype(op):
    for attr in ("T", "Tparams"):
        try:
            return op.get_attr(attr).base_dtype.name
        except (KeyError, ValueError, AttributeError):
            continue
    return op.inputs[0].dtype.base_dtype.name if op.inputs else None


def _expects_kernel(op):
    """Whether ``op`` (statically) must run through its custom kernel: a known op and dtype, inputs
    not known to be empty, and for the binary ops operands of one shape or a scalar (second, for
    Sub and the divisions). Depth-wise max pooling has no kernel."""
    family = KERNEL_FAMILIES.get(op.type)
    if family is None or _op_dtype(op) not in family[1]:
        return False
    if op.type == "MaxPool":
        ksize, layout = op.get_attr("ksize"), op.get_attr("data_format")
        if ksize[1 if layout in ("NCHW", b"NCHW") else 3] != 1:
            return False
    shapes = [t.shape for t in op.inputs if t.dtype.base_dtype.name != "resource"]
    if any(s.rank is not None and 0 in s.as_list() for s in shapes):
        return False
    if op.type in BINARY_OPS:
        a, b = shapes
        if not (a.is_fully_defined() and b.is_fully_defined()):
            return False
        return a == b or b.num_elements() == 1 or (a.num_elements() == 1 and op.type not in _ORDERED_BINARY_OPS)
    return True


def _kernel_cases():
    """The cases with an op that must launch a custom kernel. Graphs with v1 control flow
    (cond, while_loop) run on the CPU, so they are not among them."""
    out = []
    for case in CASES:
        graph, _ = build_on_gpu(case)
        ops = graph.get_operations()
        if not any(op.type in CONTROL_FLOW_OPS for op in ops) and any(_expects_kernel(op) for op in ops):
            out.append(case)
    return out


KERNEL_CASES = _kernel_cases()


def _params():
    """(case, placement, backend): every case on ``emulated`` and ``cupy`` with both placements;
    the cases of ops with custom kernels on ``emulated-kernels``, every op requested on the GPU
    (where those kernels run)."""
    params = []
    for case in CASES:
        for placed in ("default", "gpu0"):
            params.append(pytest.param(case, placed, "emulated", id=f"{case!r}-{placed}-emulated"))
            params.append(pytest.param(case, placed, "cupy", id=f"{case!r}-{placed}-cupy",
                                       marks=pytest.mark.gpu))
    for case in KERNEL_CASES:
        params.append(pytest.param(case, "gpu0", "emulated-kernels", id=f"{case!r}-gpu0-emulated-kernels"))
    return params


def _gpu_host(backend, request):
    """A context manager giving a host with one GPU of the requested backend (skips without one)."""
    if backend == "emulated":
        return devices.simulated(num_gpus=1)
    if backend == "emulated-kernels":
        recorder = RecordingEmulator(request.getfixturevalue("kernel_emulator"))
        request.node.kernel_recorder = recorder
        return emulated_kernels_host(recorder)
    inv = devices.inventory()
    if inv.backend != "cupy" or not inv.num_gpus:
        pytest.skip(f"no CUDA GPU: {inv.reason or 'CuPy sees none'}")
    import contextlib
    return contextlib.nullcontext(inv)


def _run(case, graph, fetches, fused=None):
    """The case's fetches after its runs; ``fused`` (a set) receives the names of the ops that
    plans fused into generated kernels (they launch that kernel, not their own)."""
    with gg.Session(graph=graph) as sess:
        for name in case.init:
            sess.run(graph.get_operation_by_name(name))
        feed = {graph.get_tensor_by_name(k if ":" in k else k + ":0"): v for k, v in case.feeds.items()}
        out = None
        for _ in range(case.runs):
            out = sess.run(fetches, feed)
        if fused is not None:
            fused.update(n for plan in sess._plans.values()
                         for group in getattr(plan, "fused_groups", ()) for n in group.nodes)
        return out


def _tolerance(case, dtype):
    if dtype == np.float16:
        return max(case.rtol, 2e-3), max(case.atol, 2e-3)
    # Different summation orders (im2col, cuBLAS) than the NumPy kernels: a few float32 ulps.
    return max(case.rtol, 2e-5), max(case.atol, 2e-5)


def _compare(case, fetches, ours, reference):
    for t, a, b in zip(fetches, ours, reference):
        a, b = np.asarray(a), np.asarray(b)
        assert type(a) is np.ndarray, f"{case.name}: {t.name} came back as {type(a).__name__}"
        assert a.shape == b.shape and a.dtype == b.dtype, \
            f"{case.name}: {t.name} GPU {a.shape} {a.dtype} vs NumPy {b.shape} {b.dtype}"
        if case.compare != "values":
            continue
        if a.dtype == object or a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, b, err_msg=f"{case.name}: {t.name}")
        else:
            rtol, atol = _tolerance(case, a.dtype)
            np.testing.assert_allclose(a.astype(np.complex128 if a.dtype.kind == "c" else np.float64),
                                       b.astype(np.complex128 if b.dtype.kind == "c" else np.float64),
                                       rtol=rtol, atol=atol, err_msg=f"{case.name}: {t.name}")


def _kernels_expected(graph, fetches, case, fused):
    """The kernel name prefixes that the ops of the case placed on the GPU, and not fused into a
    generated kernel, must launch."""
    with gg.Session(graph=graph) as sess:
        feed = {graph.get_tensor_by_name(k if ":" in k else k + ":0"): v for k, v in case.feeds.items()}
        on_gpu = {d.op_name for d in sess.placement(fetches, feed) if "GPU" in d.assigned}
    return {KERNEL_FAMILIES[op.type][0]: op.name for op in graph.get_operations()
            if op.name in on_gpu and op.name not in fused and _expects_kernel(op)}


@pytest.mark.parametrize("case,placed,backend", _params())
def test_case_on_gpu_matches_numpy(case, placed, backend, request):
    gpu_host = _gpu_host(backend, request)  # skips first when the backend is not there
    graph, fetches = build_graph(case) if placed == "default" else build_on_gpu(case)
    with devices.simulated(num_gpus=0):
        reference = _run(case, graph, fetches)
    fused = set()
    with gpu_host:
        ours = _run(case, graph, fetches, fused)
        expected = _kernels_expected(graph, fetches, case, fused) if backend == "emulated-kernels" else {}
    _compare(case, fetches, ours, reference)
    if expected:
        launched = request.node.kernel_recorder.launches
        missing = {prefix: op for prefix, op in expected.items()
                   if not any(name.startswith(prefix) for name in launched)}
        assert not missing, (f"{case.name}: ops that fell back to the xp path instead of launching "
                             f"their custom kernel: {missing} (launched: {sorted(set(launched))})")


def test_every_gpu_kernel_runs_on_the_gpu_in_some_case():
    """The comparison above proves something only for ops that actually ran on the GPU."""
    cuda.register_kernels()
    with_gpu_kernel = {name for name in registry.registered_ops()
                       if registry.get_op_spec(name).kernel_for("GPU") is not None}
    seen = set()
    with devices.simulated(num_gpus=1):
        for case in CASES:
            graph, fetches = build_on_gpu(case)
            with gg.Session(graph=graph) as sess:
                seen |= {d.op_type for d in sess.placement() if "GPU" in d.assigned}
    # Placeholders are fed (never steps); every other op with a GPU kernel must be exercised.
    missing = sorted(with_gpu_kernel - seen - {"Placeholder"})
    assert not missing, f"GPU kernels never placed on a GPU by any conformance case: {missing}"
