"""Exact mode in the node has a memory budget: at exact_max_memory_mb the target goes on in
bounded mode from its current box, keeping its track_id, said once per target in the log and
on /diagnostics (a real node process with a 1 MB budget: the bundled model stores 146 KiB per
frame, so the switch comes after about 7 frames). The next target starts in exact mode again."""
import json

import pytest

pytest.importorskip("rclpy")

from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, test_checkpoint  # noqa: E402
from stmtrack_ros.tools.camera_publisher import read_frames  # noqa: E402

pytestmark = pytest.mark.ros


def test_exact_mode_switches_to_bounded_at_the_budget_keeping_the_target(tmp_path):
    frames = read_frames(BUNDLED_CLIP, max_frames=26)
    box = tuple(float(v) for v in json.loads(CLIP_INFO.read_text())["init_box_xywh"])
    d = domain_id(8)
    # capacity 4: a bounded memory (at most 6 frames, 0.86 MB) stays below the budget
    params = {"mode": "exact", "memory_capacity": 4, "exact_max_memory_mb": 1,
              "diagnostics_period": 0.2}
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint(), params=params) as proc:
        client = RosClient(d)
        try:
            client.wait_ready(proc)
            client.warm_up(frames[0], "bgr8")
            r = client.init_target(box, 0)
            assert r.success, r.message
            n0 = client.track_count()
            for i in range(1, len(frames)):  # lockstep: every frame is processed
                client.publish_bgr(frames[i], i, "bgr8")
                client.wait_track(str(i))
            k = len(client.diags)
            client.wait_for(lambda: len(client.diags) > k + 1, 10, "fresh diagnostics")
            diag = client.latest_diag_values()
            with client.lock:
                status = client.diags[-1].status[0]
            msgs = client.track_msgs()[n0:]
            # a new target starts in the mode the user set (exact), not the switched one's
            last = msgs[-1]
            r = client.init_target((last.x, last.y, last.width, last.height), 0)
            assert r.success, r.message
            n1 = client.track_count()
            for i in range(1, len(frames)):
                client.publish_bgr(frames[i], 100 + i, "bgr8")
                client.wait_track(str(100 + i))
            second = client.track_msgs()[n1:]
        finally:
            client.close()
        assert proc.stop() == 0, proc.log()
    log = proc.log()
    assert len(msgs) == len(frames) - 1 and {m.track_id for m in msgs} == {1}
    index = [m.frame_index for m in msgs]
    drops = [i for i in range(1, len(index)) if index[i] < index[i - 1]]
    assert len(drops) == 1, index                       # one switch, then bounded from 0
    at = drops[0]
    assert 3 <= index[at - 1] <= 10 and index[at] == 1, index
    assert index[at:] == list(range(1, len(index) - at + 1))
    assert max(m.memory_frames for m in msgs[at:]) <= 6  # bounded reads: <= num_segments + 2
    assert msgs[-1].state == 1
    assert log.count("exact-mode memory reached") == 2 and "continues in bounded mode" in log
    assert {m.track_id for m in second} == {2}
    index = [m.frame_index for m in second]             # exact again: it reaches the budget
    assert sum(index[i] < index[i - 1] for i in range(1, len(index))) == 1, index
    assert diag["memory_mode"].startswith("bounded (exact_max_memory_mb reached"), diag
    assert "exact_max_memory_mb reached" in status.message
    assert float(diag["memory_mb"]) < 2.0  # bounded: at most capacity + 2 frames of 146 KiB
