"""bench/gpu_run.py: the parsing of pytest's output and pytest-benchmark's JSON, the report, and the
script end to end on this host (which may have no GPU: it must then say so and exit nonzero)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "gpu_run.py"

_spec = importlib.util.spec_from_file_location("gpu_run", SCRIPT)
gpu_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_run)

PYTEST_OUTPUT = """\
tests/a_test.py ..F.s                                                    [ 50%]
tests/b_test.py .E..                                                     [100%]
=========================== short test summary info ============================
FAILED tests/a_test.py::test_three[2 4] - AssertionError: 3 != 4
ERROR tests/b_test.py::test_two - RuntimeError: fixture broke
=== 1 failed, 7 passed, 1 skipped, 2 warnings, 1 error in 12.34s ===
"""

# pytest-benchmark's JSON layout, trimmed to what the script reads (seconds).
BENCH_JSON = {
    "machine_info": {"node": "gpu-host"},
    "benchmarks": [
        {"group": "gpu_mlp_b1", "name": "test_session_run_gpu_gpugraph[mlp_b1]",
         "stats": {"median": 40e-6, "mean": 41e-6}},
        {"group": "gpu_mlp_b1", "name": "test_session_run_gpu_torch[mlp_b1]",
         "stats": {"median": 100e-6, "mean": 101e-6}},
        {"group": "gpu_cnn_b32", "name": "test_session_run_gpu_gpugraph[cnn_b32]",
         "stats": {"median": 3e-3, "mean": 3e-3}},
        {"group": "gpu_cnn_b32", "name": "test_session_run_gpu_torch[cnn_b32]",
         "stats": {"median": 2e-3, "mean": 2e-3}},
        {"group": "towers", "name": "test_mlp_towers_gpugraph", "stats": {"median": 0.6e-3}},
        {"group": "towers", "name": "test_mlp_towers_onegpu", "stats": {"median": 1e-3}},
    ],
    "datetime": "2026-05-09T12:00:00",
    "version": "5.1.0",
}
TARGETS = {"gpu_mlp_b1": 0.5, "gpu_cnn_b32": 1.0, "gpu_fused": 1.2}

ENV = {"date": "2026-05-09T12:00:00Z", "commit": "abc123", "gpus": ["NVIDIA H100 80GB HBM3"],
       "no_gpu": "", "driver": "12.8", "runtime": "12.9", "cupy": "14.0.0", "numpy": "2.4.6",
       "torch": "2.9.0"}


def test_parse_summary_counts_every_outcome():
    assert gpu_run.parse_summary(PYTEST_OUTPUT) == {
        "failed": 1, "passed": 7, "skipped": 1, "warnings": 2, "errors": 1}


def test_parse_summary_of_quiet_output_and_of_a_crash():
    assert gpu_run.parse_summary("....\n8 skipped in 0.52s\n") == {"skipped": 8}
    assert gpu_run.parse_summary("Traceback (most recent call last):\n  ...\n[timed out after 5 s]\n") == {}


def test_parse_failed_names_failures_and_errors():
    assert gpu_run.parse_failed(PYTEST_OUTPUT) == ["tests/a_test.py::test_three[2 4]",
                                                   "tests/b_test.py::test_two"]


def test_medians_and_ratios_per_group():
    groups = gpu_run.benchmark_groups(BENCH_JSON)
    assert groups["gpu_mlp_b1"] == {"gpugraph": 40e-6, "torch": 100e-6}
    rows = {(row[0], row[2]): row for row in gpu_run.ratio_rows(groups, TARGETS)}
    _, ours, _, theirs, ratio, target, met = rows["gpu_mlp_b1", "torch"]
    assert (ours, theirs, target, met) == (40e-6, 100e-6, 0.5, True) and ratio == pytest.approx(0.4)
    assert rows["gpu_cnn_b32", "torch"][4:] == (pytest.approx(1.5), 1.0, False)
    assert rows["towers", "onegpu"][4:] == (pytest.approx(0.6), None, None)  # no target: no verdict
    assert rows["gpu_fused", None] == ("gpu_fused", None, None, None, None, 1.2, None)  # did not run


def _run(command, returncode, output):
    run = gpu_run.PytestRun(command, returncode, 12.0)
    run.counts, run.failed = gpu_run.parse_summary(output), gpu_run.parse_failed(output)
    return run


def test_report_lists_counts_failures_and_verdicts():
    tests = _run(gpu_run.PYTEST + ["tests"], 1, PYTEST_OUTPUT)
    bench = _run(gpu_run.PYTEST + ["bench/test_gpu_fusion.py"], 0, "6 passed in 30.0s\n")
    rows = gpu_run.ratio_rows(gpu_run.benchmark_groups(BENCH_JSON), TARGETS)
    report = gpu_run.render_report(ENV, tests, bench, rows, ["x-tests.log"])
    assert report.startswith("# gpugraph GPU results, 2026-05-09 (H100)")
    assert "- GPUs: 0: NVIDIA H100 80GB HBM3" in report and "CUDA driver: 12.8" in report
    assert "- tests: pytest exited 1, 2 failed" in report  # under Problems
    assert "Command: `python -m pytest -q -p no:cacheprovider -rfE tests`" in report
    assert "Result: 1 errors, 1 failed, 7 passed, 1 skipped, 2 warnings (exit 1, 12 s)" in report
    assert "- `tests/a_test.py::test_three[2 4]`" in report and "- `tests/b_test.py::test_two`" in report
    assert "| gpu_mlp_b1 | 40 us | torch | 100 us | 0.400 | <= 0.50 | met |" in report
    assert "| gpu_cnn_b32 | 3 ms | torch | 2 ms | 1.500 | <= 1.00 | NOT met |" in report
    assert "| towers | 600 us | onegpu | 1 ms | 0.600 | — | — |" in report
    assert "| gpu_fused | — | — | — | — | <= 1.20 | — |" in report


def test_report_without_gpu_or_runs_says_so():
    env = dict(ENV, gpus=[], no_gpu="CUDARuntimeError: no driver")
    report = gpu_run.render_report(env, None, None, [], [])
    assert "(nogpu)" in report.splitlines()[0]
    assert "- no GPU: CUDARuntimeError: no driver" in report
    assert "Not run (--skip-tests)." in report and "Not run (--skip-bench)." in report
    assert gpu_run.problems(env, None, None) == ["no GPU: CUDARuntimeError: no driver"]
    assert gpu_run.problems(ENV, None, gpu_run.PytestRun([], None)) == ["benchmarks: timed out"]


def test_gpu_short_names():
    assert gpu_run.gpu_short_name(ENV) == "H100"
    assert gpu_run.gpu_short_name(dict(ENV, gpus=["NVIDIA GeForce RTX 4090"])) == "RTX"
    assert gpu_run.gpu_short_name(dict(ENV, gpus=[])) == "nogpu"


def _script(tmp_path, *options):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), *options],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    reports = list(tmp_path.glob("gpu-results-*.md"))
    assert len(reports) == 1, done.stdout + done.stderr
    return done, reports[0].read_text()


HOST = gpu_run.gpu_environment()


def test_script_end_to_end_without_runs(tmp_path):
    done, report = _script(tmp_path, "--skip-tests", "--skip-bench")
    assert f"- Commit: {gpu_run.git_commit()}" in report
    if HOST["gpus"]:
        assert done.returncode == 0, done.stdout + done.stderr
        assert HOST["gpus"][0] in report and "## Problems\n\nNone." in report
    else:
        assert done.returncode == 1, done.stdout + done.stderr
        assert "no GPU" in done.stdout and "- no GPU: " in report


@pytest.mark.skipif(bool(HOST["gpus"]), reason="with a GPU this would run the real GPU benchmarks")
def test_script_end_to_end_benchmarks_skip_without_gpu(tmp_path):
    done, report = _script(tmp_path, "--skip-tests")
    assert done.returncode == 1, done.stdout + done.stderr  # no GPU, though pytest itself passed
    assert "skipped (exit 0" in report and "- benchmarks:" not in report
    # the targets the benchmark modules register are listed, with no results
    assert "| gpu_mlp_784_256_256_10_b1 | — | — | — | — | <= 0.50 | — |" in report
    assert "| mlp_784_256_256_10_b1 |" not in report  # a CPU benchmark's target: not this run's
    # no benchmark ran, so pytest-benchmark wrote no JSON: only the log is listed, and it exists
    logs = [line[2:] for line in report.split("## Logs")[1].splitlines() if line.startswith("- ")]
    assert logs == [p.name for p in tmp_path.glob("*-bench.log")] and len(logs) == 1
