"""Every op conformance case (tests/ops/test_*.py ``CASES``) on the GPU backend, compared with the
NumPy kernels: same graph, one session on the CPU and one on a 1-GPU host.

Two backends: ``emulated`` runs everywhere (the CuPy backend over the NumPy emulation of CuPy: the
GPU kernels' logic, the plan's copy steps and device checks), ``cupy`` needs a CUDA GPU (marked
``gpu``; skipped with the reason when there is none) and runs the same cases on the real device.
"""

import importlib
import pathlib
import sys

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.framework import registry
from gpugraph.runtime import cuda, devices

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
BACKENDS = ["emulated", pytest.param("cupy", marks=pytest.mark.gpu)]


def _gpu_host(backend):
    """A context manager giving a host with one GPU of the requested backend (skips without one)."""
    if backend == "emulated":
        return devices.simulated(num_gpus=1)
    inv = devices.inventory()
    if inv.backend != "cupy" or not inv.num_gpus:
        pytest.skip(f"no CUDA GPU: {inv.reason or 'CuPy sees none'}")
    import contextlib
    return contextlib.nullcontext(inv)


def _run(case, graph, fetches):
    with gg.Session(graph=graph) as sess:
        for name in case.init:
            sess.run(graph.get_operation_by_name(name))
        feed = {graph.get_tensor_by_name(k if ":" in k else k + ":0"): v for k, v in case.feeds.items()}
        out = None
        for _ in range(case.runs):
            out = sess.run(fetches, feed)
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


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("placed", ["default", "gpu0"])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_case_on_gpu_matches_numpy(case, placed, backend):
    gpu_host = _gpu_host(backend)  # skips first when the backend is not there
    graph, fetches = build_graph(case) if placed == "default" else build_on_gpu(case)
    with devices.simulated(num_gpus=0):
        reference = _run(case, graph, fetches)
    with gpu_host:
        ours = _run(case, graph, fetches)
    _compare(case, fetches, ours, reference)


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
