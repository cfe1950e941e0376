"""Shared test fixtures. Tests that need ../shared skip with a reason when it is absent."""
import os
from pathlib import Path

# Before anything imports torch: OpenMP threads that spin while waiting make 2-thread torch
# 4-5x slower (wall) when other jobs share the 2 cores (measured: Inception pass 13 s vs
# 2.6 s). Passive waiting costs a few % on an idle machine. Subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
from hypothesis import HealthCheck, settings

# Property tests: the same cases on every run (CI is reproducible), no per-case deadline on a
# shared CPU, no example database written into the tree. HYPOTHESIS_PROFILE=dev explores anew.
settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "test" / "data"
SHARED = Path(os.environ.get("STMTRACK_SHARED", REPO.parent / "shared")).resolve()


def shared_path(*parts) -> Path:
    """Path inside ../shared, or skip the calling test with a clear reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (the project's shared/ folder beside the repo; absent on a plain clone)")
    return p


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(scope="session")
def portable_seed1_checkpoint(tmp_path_factory) -> Path:
    """Official-format checkpoint ({'epoch','model_state_dict'}, all 924 entries) of the
    seed-1 portable weights (spec/parity-fixtures.md §2), written once per test session."""
    from stmtrack_ros.model.portable import write_portable_checkpoint
    return write_portable_checkpoint(tmp_path_factory.mktemp("portable") / "seed1_official.pkl", seed=1)
