"""gpugraph.runtime.host_memory: malloc's thresholds are raised once per process (glibc), and
GPUGRAPH_MALLOC_TUNING=0 leaves them alone. Run in fresh processes: the setting is process-wide."""

import os
import platform
import subprocess
import sys

import pytest

CODE = ("import gpugraph as tf\n"
        "from gpugraph.runtime import host_memory\n"
        "tf.Session().close()\n"
        "print(host_memory._result)\n")


def _run(env_value):
    env = dict(os.environ)
    env.pop("GPUGRAPH_MALLOC_TUNING", None)
    if env_value is not None:
        env["GPUGRAPH_MALLOC_TUNING"] = env_value
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="malloc tuning applies to glibc only")
def test_the_first_session_tunes_glibc_malloc():
    assert _run(None) == "True"


def test_the_switch_leaves_malloc_alone():
    assert _run("0") == "False"
