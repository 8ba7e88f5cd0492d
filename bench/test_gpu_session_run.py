"""Session.run on a GPU: gpugraph beside PyTorch eager on the same GPU with the same weights, for the
MLP 784-256-256-10 at batch 1 and 256 and the 3-layer CNN (32x32x3, NHWC) at batch 32 of
``test_session_run.py``. gpugraph replays its plan as a CUDA graph (the batch-1 benchmark checks that
it does; the others record their CUDA graph counts in ``extra_info``). Both sides include the
host-to-device copy of the input and the device-to-host copy of the logits, as a serving call does.

Before it is timed, each gpugraph benchmark checks its logits against PyTorch's on the same input
(when torch is there), so a wrong weight layout on the PyTorch side fails loudly instead of timing a
different function. PyTorch's convolutions run in full float32 here (TF32 off, as gpugraph's are).
Targets (gpugraph / PyTorch): MLP batch 1 <= 0.5, MLP batch 256 <= 1.0, CNN batch 32 <= 1.0.

Multi-GPU placement (needs >= 2 GPUs): two towers of the MLP, each on half of a batch of 4096,
placed on /gpu:0 and /gpu:1, beside the same graph with both towers on /gpu:0 (benchmark names
``..._gpugraph`` and ``..._onegpu``). A ratio below 1 means the two GPUs worked concurrently; there
is no target. CUDA graphs are off for both: a plan spanning two GPUs is never captured, so leaving
them on would compare a replay with a normal run instead of one placement with the other.

Needs a CUDA GPU with CuPy for gpugraph, and torch with CUDA for the peer; each skips cleanly
without them (torch is not a dependency of gpugraph).
"""

import contextlib

import numpy as np
import pytest

import gpugraph as gg
from conftest import register_target
from gpugraph.runtime import devices, rewrites
from gpugraph.runtime.cuda import graphs
from test_session_run import CASES, _dense, build_mlp

pytestmark = pytest.mark.gpu

GROUPS = {case: f"gpu_{case}" for case in CASES}
B1_WITH_CUDA_GRAPHS = "mlp_784_256_256_10_b1"
register_target(GROUPS[B1_WITH_CUDA_GRAPHS], 0.5)
register_target(GROUPS["mlp_784_256_256_10_b256"], 1.0)
register_target(GROUPS["cnn_32x32x3_b32"], 1.0)

# The layers behind each builder of test_session_run, in order: variable scopes "<name>/kernel" and
# "<name>/bias".
LAYERS = {"build_mlp": ["dense1", "dense2", "logits"],
          "build_cnn": ["conv0", "conv1", "conv2", "logits"]}

TOWERS_GROUP = "gpu_mlp_towers_b4096_2gpus_vs_1gpu"
TOWERS_BATCH = 4096


def _require_gpus(count=1):
    inv = devices.inventory()
    if inv.backend != "cupy" or not inv.num_gpus:
        pytest.skip(f"no CUDA GPU: {inv.reason or 'CuPy sees none'}")
    if inv.num_gpus < count:
        pytest.skip(f"needs {count} GPUs, this host has {inv.num_gpus}")


def _torch_cuda():
    """torch, when it is installed and sees a CUDA GPU; otherwise None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _require_torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    return torch


@contextlib.contextmanager
def _full_float32(torch):
    """PyTorch's cuDNN convolutions in IEEE float32 (by default they may use TF32, which keeps 10
    mantissa bits: a different function from gpugraph's, and not within 1e-4 of it)."""
    cudnn = torch.backends.cudnn
    if hasattr(getattr(cudnn, "conv", None), "fp32_precision"):
        # torch >= 2.9 deprecates allow_tf32; conv and rnn are set together because torch raises
        # when they differ and anything reads the legacy flag.
        saved = cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision
        cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = "ieee"
        try:
            yield
        finally:
            cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision = saved
    else:
        saved = cudnn.allow_tf32
        cudnn.allow_tf32 = False
        try:
            yield
        finally:
            cudnn.allow_tf32 = saved


def _feed(shape):
    return np.random.default_rng(2).standard_normal(shape).astype(np.float32)


def _gpugraph_session(case):
    """(session, x, logits, feed, layer weights as NumPy (kernel, bias) pairs) for one case."""
    _require_gpus()
    builder, shape = CASES[case]
    g, x, y, init = builder()
    sess = gg.Session(graph=g)
    sess.run(g.get_operation_by_name(init))
    layers = LAYERS[builder.__name__]
    weights = sess.run([(g.get_tensor_by_name(f"{n}/kernel:0"), g.get_tensor_by_name(f"{n}/bias:0"))
                        for n in layers])
    return sess, g.get_tensor_by_name(x), g.get_tensor_by_name(y), _feed(shape), weights


def _torch_runner(torch, case, weights, feed):
    """A call running ``case``'s model on PyTorch eager: upload ``feed``, compute, download logits."""
    device = torch.device("cuda")
    F = torch.nn.functional

    def to_gpu(array):
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)

    *hidden, (dense_w, dense_b) = weights
    dense_w, dense_b = to_gpu(dense_w), to_gpu(dense_b)

    if CASES[case][0].__name__ == "build_mlp":
        hidden = [(to_gpu(w), to_gpu(b)) for w, b in hidden]

        def model(t):
            for w, b in hidden:
                t = torch.relu(t @ w + b)
            return t @ dense_w + dense_b
    else:
        # HWIO kernels -> OIHW, stored channels_last like the activations (the NHWC feed viewed as
        # NCHW is channels_last without a copy), so cuDNN needs no layout conversions.
        convs = [(to_gpu(w.transpose(3, 2, 0, 1)).contiguous(memory_format=torch.channels_last),
                  to_gpu(b)) for w, b in hidden]

        def model(t):
            t = t.permute(0, 3, 1, 2)
            for w, b in convs:
                # 3x3, stride 1, SAME == padding 1 each side; then 2x2 stride-2 VALID max pooling.
                t = F.max_pool2d(torch.relu(F.conv2d(t, w, b, padding=1)), 2)
            # gpugraph flattens NHWC, so features go in (h, w, c) order: back to NHWC first.
            t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
            return t @ dense_w + dense_b

    @torch.no_grad()
    def run():
        return model(torch.from_numpy(feed).to(device)).cpu().numpy()
    return run


@pytest.mark.parametrize("case", sorted(CASES))
def test_session_run_gpu_gpugraph(benchmark, case):
    sess, x, y, feed, weights = _gpugraph_session(case)
    run = lambda: sess.run(y, {x: feed})  # noqa: E731
    for _ in range(3):  # normal run, capture, first replay
        out = run()
    torch = _torch_cuda()
    if torch is not None:
        with _full_float32(torch):
            expected = _torch_runner(torch, case, weights, feed)()
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4,
                                   err_msg="gpugraph and PyTorch compute different logits")
    before = graphs.session_stats(sess)
    benchmark.group = GROUPS[case]
    out = benchmark(run)
    assert out.shape == (feed.shape[0], 10)
    after = graphs.session_stats(sess)
    benchmark.extra_info.update(cuda_graph_replays=after.replays - before.replays,
                                cuda_graph_capture_failures=after.capture_failures)
    if case == B1_WITH_CUDA_GRAPHS:
        assert after.replays > before.replays, "the plan was not replayed as a CUDA graph"
    sess.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_session_run_gpu_torch(benchmark, case):
    torch = _require_torch_cuda()
    sess, _, _, feed, weights = _gpugraph_session(case)
    sess.close()
    run = _torch_runner(torch, case, weights, feed)
    with _full_float32(torch):
        run()  # cuDNN picks its algorithms and the caching allocator fills on the first call
        benchmark.group = GROUPS[case]
        out = benchmark(run)
    assert out.shape == (feed.shape[0], 10)


def _towers_session(placement):
    """The MLP twice, tower k on ``placement[k]`` fed half of the batch, with the bench MLP's weights
    in both; returns (session, run) where run() gives the logits of the whole batch."""
    g = gg.Graph()
    feeds, logits = [], []
    with g.as_default():
        for k, device in enumerate(placement):
            rng = np.random.default_rng(0)  # build_mlp's seed: the same weights in every tower
            with gg.device(device), gg.variable_scope(f"tower{k}"):
                x = gg.placeholder(gg.float32, [None, 784], name="x")
                h = _dense(x, 784, 256, rng, "dense1")
                h = _dense(h, 256, 256, rng, "dense2")
                logits.append(_dense(h, 256, 10, rng, "logits", activation=False))
                feeds.append(x)
        init = gg.global_variables_initializer()
    sess = gg.Session(graph=g)
    sess.run(init)
    halves = np.split(_feed((TOWERS_BATCH, 784)), len(placement))
    feed_dict = dict(zip(feeds, halves))
    return sess, lambda: np.concatenate(sess.run(logits, feed_dict))


@pytest.fixture
def no_cuda_graphs(monkeypatch):
    monkeypatch.setenv(rewrites.CUDA_GRAPHS_ENV, "0")  # read when a plan is compiled, i.e. on the first run


def test_mlp_towers_gpugraph(benchmark, no_cuda_graphs):
    """Two GPUs, one tower each."""
    _require_gpus(2)
    sess, run = _towers_session(["/gpu:0", "/gpu:1"])
    g, x, y, init = build_mlp()  # each tower is the bench MLP: the logits of one MLP on the batch
    mlp_sess = gg.Session(graph=g)
    mlp_sess.run(g.get_operation_by_name(init))
    whole = mlp_sess.run(g.get_tensor_by_name(y), {g.get_tensor_by_name(x): _feed((TOWERS_BATCH, 784))})
    mlp_sess.close()
    np.testing.assert_allclose(run(), whole, rtol=1e-4, atol=1e-4)
    benchmark.group = TOWERS_GROUP
    benchmark(run)
    sess.close()


def test_mlp_towers_onegpu(benchmark, no_cuda_graphs):
    """Both towers on /gpu:0: the baseline of the two-GPU placement."""
    _require_gpus(2)
    sess, run = _towers_session(["/gpu:0", "/gpu:0"])
    run()
    benchmark.group = TOWERS_GROUP
    benchmark(run)
    sess.close()
