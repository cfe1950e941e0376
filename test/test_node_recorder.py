"""The bag recorder says "recording" only once its subscription is matched, so the first Track
after an init (the init result and the catch-up frames) is in the bag."""
import json
import queue
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO
from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, node_env, test_checkpoint
from stmtrack_ros.tools.camera_publisher import read_frames

pytestmark = pytest.mark.ros


def _lines(proc) -> queue.Queue:
    q = queue.Queue()

    def pump():
        for line in proc.stdout:
            q.put(line)
    threading.Thread(target=pump, daemon=True).start()
    return q


def _wait_line(q: queue.Queue, text: str, timeout: float, seen: list) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            seen.append(q.get(timeout=0.1))
        except queue.Empty:
            continue
        if text in seen[-1]:
            return
    raise AssertionError(f"no {text!r} after {timeout} s:\n{''.join(seen)}")


def test_first_track_after_init_is_in_the_bag(tmp_path):
    from stmtrack_ros.tools.bags import read_tracks
    frames = read_frames(BUNDLED_CLIP, max_frames=12)
    box = json.loads(CLIP_INFO.read_text())["init_box_xywh"]
    d = domain_id(11)
    bag = tmp_path / "bag"
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint()) as node:
        client = RosClient(d)
        rec = None
        try:
            client.wait_ready(node)
            rec = subprocess.Popen([sys.executable, "-m", "stmtrack_ros.tools.recorder", "--out",
                                    str(bag), "/track"], cwd=REPO, env=node_env(d),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            out = []
            _wait_line(_lines(rec), "recorder: recording /track", 60, out)
            # No settling sleep: "recording" must already mean "matched".
            t_end = time.monotonic() + 30
            while not client.track_count():  # until the node's best-effort reader matched
                assert time.monotonic() < t_end, "the node never answered a frame"
                client.publish_bgr(frames[0], 100)
                time.sleep(0.2)
            stamps = []
            for i in range(4):
                stamps.append(client.publish_bgr(frames[i], i))
                time.sleep(0.15)
            res = client.init_target(box, stamps[1])  # an older frame: init + catch-up
            assert res.success, res.message
            for i in range(4, 8):
                client.publish_bgr(frames[i], i)
                time.sleep(0.1)
            client.wait_for(lambda: sum(m.track_id == 1 for _, m in client.tracks) >= 3, 60,
                            "Tracks of target 1")
            time.sleep(1.0)
        finally:
            if rec is not None:
                rec.send_signal(2)  # SIGINT: the recorder closes the bag
                rec.wait(20)
            client.close()
    assert rec.returncode == 0, "".join(out)
    live = [m for m in client.track_msgs() if m.track_id == 1]
    recorded = [m for _, m in read_tracks(bag) if m.track_id == 1]
    assert recorded and recorded[0].header.frame_id == "1" and recorded[0].frame_index == 0
    key = [(m.header.frame_id, m.frame_index) for m in live]
    assert [(m.header.frame_id, m.frame_index) for m in recorded[:len(key)]] == key
