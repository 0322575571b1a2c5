"""Sharded over 8 forced CPU devices == single device (subprocess: XLA_FLAGS before import)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run_check(*args):
    script = Path(__file__).parent / "scripts" / "sharded_check.py"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    out = subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=480
    )
    assert out.returncode == 0 and "ALL OK" in out.stdout, (out.stdout[-2000:], out.stderr[-4000:])


@pytest.mark.multidevice
def test_sharded_equals_single_device_one_case_per_mechanism():
    """Each closed form, a path integral, the blocked sums, a pre-sharded array, a user's
    values and the refused callable (tests/scripts/sharded_check.py --quick)."""
    _run_check("--quick")


@pytest.mark.slow  # ~3 min on 2 cores; the default suite runs the case-per-mechanism subset
@pytest.mark.multidevice
def test_sharded_equals_single_device():
    """Every value, method and baseline kind on the mesh."""
    _run_check()
