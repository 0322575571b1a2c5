"""Sharded over 8 forced CPU devices == single device (subprocess: XLA_FLAGS before import)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.multidevice
def test_sharded_equals_single_device():
    script = Path(__file__).parent / "scripts" / "sharded_check.py"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=480
    )
    assert out.returncode == 0 and "ALL OK" in out.stdout, (out.stdout[-2000:], out.stderr[-4000:])
