"""Shared test fixtures. Tests that need ../shared skip with a reason when it is absent."""
import os
from pathlib import Path

import pytest

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
