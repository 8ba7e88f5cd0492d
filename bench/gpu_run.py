"""Run gpugraph's test suite and its GPU benchmarks on a GPU machine in one go, and write a report.

It records the date (UTC), the git commit, the GPUs with the CUDA driver and runtime versions and the
CuPy/NumPy/PyTorch versions; runs ``pytest tests`` (with a GPU the ``gpu``-marked tests run too) and
the GPU benchmarks of ``bench/``, each in a subprocess with a timeout; and writes
``DIR/gpu-results-<date>-<gpu>.md``: the command lines, pass/fail/skip counts, the names of failed
tests, and each benchmark group's medians with the ratio gpugraph / peer against its target. The raw
logs and the pytest-benchmark JSON are written beside it.

The exit status is 0 only when a GPU was found and everything that ran passed (a target not met is
reported, not an error).

Example (from the repository root):
    PYTHONPATH=. python bench/gpu_run.py --out bench/results
    # -> bench/results/gpu-results-2026-05-09-H100.md, ...-tests.log, ...-bench.log, ...-bench.json
"""

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_MODULES = ["test_gpu_session_run", "test_gpu_fusion"]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"]
SUMMARY_WORDS = {"passed", "failed", "skipped", "error", "errors", "xfailed", "xpassed",
                 "deselected", "warning", "warnings"}


@dataclasses.dataclass
class PytestRun:
    command: list
    returncode: int = None      # None: timed out
    seconds: float = 0.0
    counts: dict = dataclasses.field(default_factory=dict)
    failed: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return self.returncode == 0


def gpu_environment():
    """Date, commit, library versions and the GPUs CuPy sees (``no_gpu`` says why there are none)."""
    env = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "commit": git_commit(), "gpus": [], "no_gpu": "", "driver": "", "runtime": ""}
    env["numpy"] = _version("numpy")
    env["torch"] = _version("torch")
    try:
        import cupy
        env["cupy"] = cupy.__version__
        runtime = cupy.cuda.runtime
        # the versions first: they are known even where no device can be used, and say why
        env["driver"] = _cuda_version(runtime.driverGetVersion())
        env["runtime"] = _cuda_version(runtime.runtimeGetVersion())
        env["gpus"] = [_text(runtime.getDeviceProperties(i)["name"])
                       for i in range(runtime.getDeviceCount())]
    except Exception as exc:  # no CuPy, no driver, no device: all mean the same here
        env.setdefault("cupy", "not installed")
        env["no_gpu"] = f"{type(exc).__name__}: {exc}"
    if not env["gpus"] and not env["no_gpu"]:
        env["no_gpu"] = "CUDA reports no device"
    return env


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _cuda_version(number):
    """CUDA's encoding, 1000 * major + 10 * minor: 12040 -> "12.4"."""
    return f"{number // 1000}.{number % 1000 // 10}"


def gpu_short_name(env):
    """A file-name-safe short name of the first GPU: "NVIDIA H100 80GB HBM3" -> "H100"."""
    if not env["gpus"]:
        return "nogpu"
    words = [w for w in env["gpus"][0].split() if w not in ("NVIDIA", "GeForce", "Tesla")]
    return re.sub(r"[^A-Za-z0-9.-]", "", words[0] if words else "gpu") or "gpu"


def parse_summary(output):
    """The counts of pytest's final summary line ("3 failed, 120 passed, 5 skipped in 12.3s"),
    as {"failed": 3, "passed": 120, "skipped": 5}; {} when there is none (a crash or a timeout)."""
    for line in reversed(output.strip().splitlines()):
        pairs = re.findall(r"(\d+) (\w+)", line)
        if pairs and re.search(r" in [\d.]+s", line) and all(w in SUMMARY_WORDS for _, w in pairs):
            counts = {}
            for number, word in pairs:
                word = {"error": "errors", "warning": "warnings"}.get(word, word)
                counts[word] = counts.get(word, 0) + int(number)
            return counts
    return {}


def parse_failed(output):
    """The test ids of the "FAILED id - reason" and "ERROR id" lines of pytest's short summary."""
    return re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.MULTILINE)


def run_pytest(args, log_path, timeout):
    """Runs pytest with ``args`` from the repository root; its output goes to ``log_path``."""
    run = PytestRun(PYTEST + args)
    start = time.monotonic()
    try:
        done = subprocess.run(run.command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        run.returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout or "") + _text(exc.stderr or "") + f"\n[timed out after {timeout} s]\n"
    run.seconds = time.monotonic() - start
    log_path.write_text(output)
    run.counts, run.failed = parse_summary(output), parse_failed(output)
    return run


def benchmark_groups(bench_json):
    """group -> {runtime: median seconds} from pytest-benchmark's JSON; the runtime is the last
    "_" part of a benchmark's name, before any parameters (``test_x_gpugraph[case]`` -> gpugraph)."""
    groups = {}
    for bench in bench_json.get("benchmarks", []):
        runtime = bench["name"].split("[")[0].rsplit("_", 1)[-1]
        groups.setdefault(bench["group"], {})[runtime] = bench["stats"]["median"]
    return groups


def ratio_rows(groups, targets):
    """One row per (group, peer): group, gpugraph's and the peer's medians, ratio, target, met.
    Groups with a target but no complete pair get a row with None in place of what is missing."""
    rows = []
    for group in sorted(set(groups) | set(targets)):
        by_runtime = groups.get(group, {})
        ours = by_runtime.get("gpugraph")
        peers = sorted(p for p in by_runtime if p != "gpugraph") or [None]
        for peer in peers:
            theirs = by_runtime.get(peer)
            ratio = ours / theirs if ours is not None and theirs else None
            target = targets.get(group)
            met = None if ratio is None or target is None else ratio <= target
            rows.append((group, ours, peer, theirs, ratio, target, met))
    return rows


def registered_targets():
    """group -> target ratio of the GPU benchmarks, as their modules register them in bench/conftest
    on import."""
    sys.path.insert(0, str(REPO / "bench"))
    import conftest
    # test_gpu_session_run imports the CPU benchmarks' module, whose targets are no part of this run.
    importlib.import_module("test_session_run")
    cpu_groups = set(conftest.TARGETS)
    for module in BENCH_MODULES:
        importlib.import_module(module)
    return {group: t for group, t in conftest.TARGETS.items() if group not in cpu_groups}


def _seconds(value):
    if value is None:
        return "—"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _run_section(title, run, skipped_by):
    if run is None:
        return [f"## {title}", "", f"Not run ({skipped_by}).", ""]
    counts = ", ".join(f"{n} {word}" for word, n in sorted(run.counts.items())) or "no summary line"
    status = f"timed out after {run.seconds:.0f} s" if run.returncode is None else f"exit {run.returncode}"
    lines = [f"## {title}", "", f"Command: `python {' '.join(run.command[1:])}`", "",
             f"Result: {counts} ({status}, {run.seconds:.0f} s)", ""]
    if run.failed:
        lines += ["Failed:", ""] + [f"- `{name}`" for name in run.failed] + [""]
    return lines


def problems(env, tests, bench):
    """What makes this run not a clean GPU result, one line each (empty: all good)."""
    found = [f"no GPU: {env['no_gpu']}"] if env["no_gpu"] else []
    for name, run in (("tests", tests), ("benchmarks", bench)):
        if run is not None and not run.ok:
            found.append(f"{name}: " + ("timed out" if run.returncode is None else
                                        f"pytest exited {run.returncode}, {len(run.failed)} failed"))
    return found


def render_report(env, tests, bench, rows, log_names):
    gpus = "; ".join(f"{i}: {name}" for i, name in enumerate(env["gpus"])) or f"no GPU ({env['no_gpu']})"
    lines = [f"# gpugraph GPU results, {env['date'][:10]} ({gpu_short_name(env)})", "",
             f"- Date (UTC): {env['date']}", f"- Commit: {env['commit']}", f"- GPUs: {gpus}",
             f"- CUDA driver: {env['driver'] or '—'}, CUDA runtime: {env['runtime'] or '—'}",
             f"- CuPy {env['cupy']}, NumPy {env['numpy']}, PyTorch {env['torch']}", ""]
    found = problems(env, tests, bench)
    lines += ["## Problems", ""] + ([f"- {p}" for p in found] or ["None."]) + [""]
    lines += _run_section("Test suite", tests, "--skip-tests")
    lines += _run_section("GPU benchmarks", bench, "--skip-bench")
    if bench is not None:
        lines += ["| group | gpugraph | peer | peer median | gpugraph / peer | target | met |",
                  "|---|---|---|---|---|---|---|"]
        for group, ours, peer, theirs, ratio, target, met in rows:
            lines.append(
                f"| {group} | {_seconds(ours)} | {peer or '—'} | {_seconds(theirs)} | "
                f"{'—' if ratio is None else f'{ratio:.3f}'} | "
                f"{'—' if target is None else f'<= {target:.2f}'} | "
                f"{'—' if met is None else ('met' if met else 'NOT met')} |")
        lines.append("")
    lines += ["## Logs", ""] + [f"- {name}" for name in log_names] + [""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the report and the logs")
    parser.add_argument("--skip-tests", action="store_true", help="do not run the test suite")
    parser.add_argument("--skip-bench", action="store_true", help="do not run the GPU benchmarks")
    parser.add_argument("--tests-timeout", type=float, default=3600, help="seconds (default 3600)")
    parser.add_argument("--bench-timeout", type=float, default=1800, help="seconds (default 1800)")
    args = parser.parse_args(argv)

    env = gpu_environment()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"gpu-results-{env['date'][:10]}-{gpu_short_name(env)}"
    log_names, tests, bench, rows = [], None, None, []
    if not args.skip_tests:
        log_names.append(f"{stem}-tests.log")
        tests = run_pytest(["tests"], args.out / log_names[-1], args.tests_timeout)
    if not args.skip_bench:
        json_path = args.out / f"{stem}-bench.json"
        json_path.unlink(missing_ok=True)  # a stale file must not pass for this run's results
        log_names += [f"{stem}-bench.log", json_path.name]
        bench = run_pytest([f"bench/{m}.py" for m in BENCH_MODULES] + [f"--benchmark-json={json_path}"],
                           args.out / log_names[-2], args.bench_timeout)
        groups = benchmark_groups(json.loads(json_path.read_text())) if json_path.exists() else {}
        rows = ratio_rows(groups, registered_targets())
    log_names = [name for name in log_names if (args.out / name).exists()]  # no JSON if none ran
    report = args.out / f"{stem}.md"
    report.write_text(render_report(env, tests, bench, rows, log_names))
    found = problems(env, tests, bench)
    print(f"wrote {report}" + "".join(f"\n  problem: {p}" for p in found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
