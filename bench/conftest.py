"""Benchmarks compare gpugraph with a peer (TensorFlow, later PyTorch on GPU) measured in the same
run. Each group holds one benchmark per runtime, named ``..._gpugraph`` and ``..._<peer>``; the
summary prints gpugraph's median time as a ratio of each peer's, and the target from the issue."""

import pytest

# group -> target ratio (gpugraph / peer), as stated by the project's goals.
TARGETS = {}
# Peers that are reference points, not competitors: their ratio is printed without a verdict.
REFERENCE_PEERS = {"diskfloor"}


def register_target(group, ratio):
    TARGETS[group] = ratio


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = {}
    for bench in session.benchmarks:
        if not bench:
            continue
        runtime = bench.name.split("[")[0].rsplit("_", 1)[-1]
        groups.setdefault(bench.group, {})[runtime] = bench.stats.median
    terminalreporter.section("gpugraph / peer ratios (median time)")
    for group, by_runtime in sorted(groups.items()):
        ours = by_runtime.get("gpugraph")
        for peer, t in sorted(by_runtime.items()):
            if peer == "gpugraph" or ours is None:
                continue
            target = None if peer in REFERENCE_PEERS else TARGETS.get(group)
            verdict = "  (reference)" if peer in REFERENCE_PEERS else "" if target is None else (
                f"  (target <= {target:.2f}: {'met' if ours / t <= target else 'NOT met'})")
            terminalreporter.write_line(
                f"{group:28s} gpugraph {ours * 1e6:10.1f} us  {peer} {t * 1e6:10.1f} us  "
                f"ratio {ours / t:6.3f}{verdict}")


@pytest.fixture(scope="session")
def tensorflow():
    import tensorflow as tf
    return tf
