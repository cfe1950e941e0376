"""The test-only vision_msgs package (test/interfaces/vision_msgs, built by
scripts/build_test_interfaces.sh): an environment in which its generated classes import."""
from __future__ import annotations

import subprocess

from conftest import REPO

PREFIX = REPO / "build" / "test_interfaces" / "install"


def vision_msgs_env(env: dict) -> dict:
    """`env` with the vision_msgs prefix sourced, as a user sources an overlay (its setup.bash
    sets PYTHONPATH, LD_LIBRARY_PATH, AMENT_PREFIX_PATH). Builds the package first when it is
    missing or stale (setup.sh normally has; then this takes a fraction of a second)."""
    subprocess.run(["bash", str(REPO / "scripts" / "build_test_interfaces.sh")], cwd=REPO,
                   env=env, check=True, timeout=900)
    out = subprocess.run(["bash", "-c", f'source "{PREFIX}/setup.bash" >/dev/null && env -0'],
                         env=env, capture_output=True, check=True, timeout=60).stdout
    return dict(kv.split("=", 1) for kv in out.decode().split("\0") if "=" in kv)
