"""docs/node.md and the README as a user reads them: the sessions under "Here" run as written
(real processes: node, camera publisher, recorder, echo, call), and the one Interface table
lists every parameter with its real type and default and every lifecycle state."""
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import REPO
from node_support import domain_id, node_env
from stmtrack_ros.node.params import all_defaults

DOC = (REPO / "docs" / "node.md").read_text()
README = (REPO / "README.md").read_text()
KINDS = {bool: "bool", int: "int", float: "double", str: "string"}


def _here_block(text: str = DOC, heading: str = "## Here (make's environment)") -> str:
    section = text[text.index(heading):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def _run_session(script: str, domain: int) -> str:
    """Run a documented shell session; its output, once it has ended with status 0."""
    proc = subprocess.Popen(["bash", "-c", script], cwd=REPO, env=node_env(domain),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the session's background jobs too
        out, _ = proc.communicate()
        raise AssertionError(f"the documented session did not end:\n{out}") from None
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    return out


def _tracks(out: str) -> list[dict]:
    return [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]


def _init_track_recorded(bag: str) -> None:
    """The bag holds the init frame's Track with the user's box (the recorder lost none)."""
    from stmtrack_ros.tools.bags import read_tracks
    recorded = [m for _, m in read_tracks(bag)]
    init = [m for m in recorded if m.track_id == 1 and m.frame_index == 0]
    assert len(init) == 1 and (init[0].x, init[0].y, init[0].width, init[0].height) == \
        pytest.approx((150, 110, 125, 175))


def test_one_interface_table_with_every_parameter_and_state():
    tables = [t for t in re.findall(r"(?:^\|.*\|\n)+", DOC, re.M) if "| lifecycle state |" in t]
    assert len(tables) == 1
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in tables[0].splitlines()[2:]]
    params = {r[1].strip("`"): r[2] for r in rows if r[0] == "parameter"}
    assert set(params) == set(all_defaults())
    for name, default in all_defaults().items():
        shown = '""' if default == "" else (str(default).lower() if isinstance(default, bool)
                                             else str(default))
        assert params[name].startswith(f"{KINDS[type(default)]} `{shown}`"), (name, params[name])
    states = {r[1].strip("`") for r in rows if r[0] == "lifecycle state"}
    assert states == {"unconfigured", "inactive", "active", "finalized"}
    names = " ".join(r[1] for r in rows if r[0] in ("topic in", "topic out", "service"))
    for name in ("image", "compressed", "camera_info", "track", "detections", "debug_image",
                 "/diagnostics", "init_target", "reset", "change_state", "get_state"):
        assert name in names, name


@pytest.mark.ros
@pytest.mark.slow
def test_the_here_session_runs_as_written():
    out = _run_session(_here_block() + 'echo "BAG=$BAG"\n', domain_id(16))
    tracks = _tracks(out)
    assert len(tracks) == 1 + 3 + 2, out
    assert tracks[0]["state"] == 0 and tracks[0]["track_id"] == 0
    assert all(t["track_id"] == 1 and t["state"] in (1, 2) for t in tracks[1:]), out
    assert (tracks[1]["header"]["stamp"]["sec"], tracks[1]["image_width"]) > (0, 0)
    assert re.search(r"^success=True track_id=1: tracking target 1", out, re.M), out
    assert "deactivate: success=True, now inactive" in out
    assert "activate: success=True, now active" in out
    _init_track_recorded(re.search(r"^BAG=(.+)$", out, re.M).group(1))


@pytest.mark.ros
@pytest.mark.slow
def test_the_readme_session_runs_as_written():
    out = _run_session(_here_block(README, "### Here, in the environment"), domain_id(17))
    tracks = _tracks(out)
    assert len(tracks) == 1 + 3, out
    assert tracks[0]["state"] == 0 and tracks[0]["track_id"] == 0
    assert all(t["track_id"] == 1 and t["state"] in (1, 2) for t in tracks[1:]), out
    assert re.search(r"^success=True track_id=1: tracking target 1", out, re.M), out
    _init_track_recorded(re.search(r"^bag: (.+)$", out, re.M).group(1))
