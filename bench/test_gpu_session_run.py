"""Session.run of the MLP at batch 1 on a GPU: gpugraph (its plan replayed as a CUDA graph) beside
PyTorch eager on the same GPU with the same weights. Both include the host-to-device copy of the
input and the device-to-host copy of the logits, as a serving call does.

Needs a CUDA GPU with CuPy for gpugraph, and torch with CUDA for the peer; each skips cleanly
without them (torch is not a dependency of gpugraph).
"""

import numpy as np
import pytest

import gpugraph as gg
from gpugraph.runtime import devices
from gpugraph.runtime.cuda import graphs
from test_session_run import build_mlp

GROUP = "mlp_784_256_256_10_b1_gpu_cuda_graphs"
SHAPE = (1, 784)


def _require_gpu():
    inv = devices.inventory()
    if inv.backend != "cupy" or not inv.num_gpus:
        pytest.skip(f"no CUDA GPU: {inv.reason or 'CuPy sees none'}")


def _gpugraph_session():
    _require_gpu()
    g, x, y, init = build_mlp()
    sess = gg.Session(graph=g)
    sess.run(g.get_operation_by_name(init))
    return sess, g, g.get_tensor_by_name(x), g.get_tensor_by_name(y)


def _feed():
    return np.random.default_rng(2).standard_normal(SHAPE).astype(np.float32)


@pytest.mark.gpu
def test_mlp_b1_gpu_cuda_graphs_gpugraph(benchmark):
    sess, _, x, y = _gpugraph_session()
    feed = _feed()
    run = lambda: sess.run(y, {x: feed})  # noqa: E731
    for _ in range(3):  # normal run, capture, first replay
        run()
    before = graphs.session_stats(sess).replays
    benchmark.group = GROUP
    out = benchmark(run)
    assert out.shape == (1, 10)
    assert graphs.session_stats(sess).replays > before, "the plan was not replayed as a CUDA graph"


@pytest.mark.gpu
def test_mlp_b1_gpu_cuda_graphs_torch(benchmark):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    sess, g, x, y = _gpugraph_session()
    names = ["dense1", "dense2", "logits"]
    weights = sess.run({n: (g.get_tensor_by_name(f"{n}/kernel:0"), g.get_tensor_by_name(f"{n}/bias:0"))
                        for n in names})
    device = torch.device("cuda")
    layers = [(torch.from_numpy(w).to(device), torch.from_numpy(b).to(device)) for w, b in
              (weights[n] for n in names)]

    def model(t):
        for i, (w, b) in enumerate(layers):
            t = t @ w + b
            if i < len(layers) - 1:
                t = torch.relu(t)
        return t

    feed = _feed()

    @torch.no_grad()
    def run():
        return model(torch.from_numpy(feed).to(device)).cpu().numpy()

    benchmark.group = GROUP
    out = benchmark(run)
    np.testing.assert_allclose(out, sess.run(y, {x: feed}), rtol=1e-4, atol=1e-4)
