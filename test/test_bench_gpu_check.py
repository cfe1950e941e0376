"""bench/gpu_check.sh on a machine without CUDA: one JSON object saying it skipped and why,
exit status 0 (so CI and a robot's setup script can run it anywhere)."""
import json
import subprocess

import pytest
import torch

from conftest import REPO


def test_gpu_check_skips_cleanly_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: the check would run for real (minutes)")
    run = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout
    out = json.loads(lines[0])
    assert out["check"] == "gpu" and out["skipped"] is True
    assert "no CUDA device" in out["reason"] and torch.__version__ in out["reason"]
