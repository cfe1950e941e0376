"""`make demo` (scripts/demo.sh) end to end without ../shared: node, camera publisher and
recorder as separate processes, init_target by stamp on the bundled clip, an MCAP bag, a
contact sheet, a summary, in $DEMO_OUT on the caller's ROS_DOMAIN_ID."""
import json
import subprocess

import cv2
import pytest

from conftest import REPO
from node_support import domain_id, node_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_demo_runs_end_to_end(tmp_path):
    pytest.importorskip("rclpy")
    from stmtrack_ros.tools.bags import read_tracks
    out = tmp_path / "demo_out"
    d = domain_id(5)
    # As `make demo` runs it, with the caller's ROS_DOMAIN_ID and DEMO_OUT honoured.
    env = {**node_env(d), "DEMO_OUT": str(out)}
    r = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), "--timeout", "400"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=500)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"[demo] ROS_DOMAIN_ID={d} " in r.stdout
    assert "init_target(stamp of frame 0" in r.stdout and "success=True" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_published"] == 100 and summary["tracked_frames"] > 0
    assert sum(summary["states"].values()) == summary["track_messages"]
    tracks = [m for _, m in read_tracks(out / "stmtrack_demo")]
    assert len(tracks) == summary["track_messages"]
    mine = [m for m in tracks if m.track_id == 1]
    assert mine[0].header.frame_id == "0" and mine[0].frame_index == 0
    ids = [int(m.header.frame_id) for m in mine]
    assert ids == sorted(set(ids))  # each frame at most once, in order
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] == 4 * 320
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(mine)
    from rosbags.highlevel import AnyReader
    with AnyReader([out / "stmtrack_demo"]) as reader:
        topics = {c.topic for c in reader.connections}
    assert topics == {"/track", "/diagnostics"}
