"""The node with `backend: onnxruntime` as a real process: it exports the bundled model into
its cache at start, tracks the bundled clip frame by frame (lockstep), and publishes the boxes
the in-process torch tracker gives on the same frames."""
import json
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, node_env, test_checkpoint  # noqa: E402
from stmtrack_ros.tools.camera_publisher import read_frames  # noqa: E402
from stmtrack_ros.tracker import Tracker, TrackerParams  # noqa: E402

pytestmark = pytest.mark.ros


def _wait_frame(client, frame_id, timeout=30.0):
    client.wait_for(lambda: any(m.header.frame_id == frame_id for _, m in client.tracks),
                    timeout, f"the Track of frame {frame_id}")


@pytest.mark.slow
def test_node_on_onnxruntime_publishes_the_torch_boxes(tmp_path):
    frames = read_frames(BUNDLED_CLIP, max_frames=16)
    box = tuple(float(v) for v in json.loads(CLIP_INFO.read_text())["init_box_xywh"])
    d = domain_id(11)
    env = {**node_env(d), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint(), params={"backend": "onnxruntime"},
                     env=env) as proc:
        client = RosClient(d)
        try:
            client.wait_ready(proc, timeout=120.0)
            t_end = time.monotonic() + 20
            while client.track_count() == 0:  # discovery
                client.publish_bgr(frames[0], 99_999)
                time.sleep(0.1)
                assert time.monotonic() < t_end, "the node never answered a frame"
            warm = client.track_count()
            for i, f in enumerate(frames):
                stamp = client.publish_bgr(f, i)
                if i == 0:
                    _wait_frame(client, "0")
                    res = client.init_target(box, stamp)
                    assert res.success, res.message
                _wait_frame(client, str(i))
        finally:
            client.close()
        assert proc.stop() == 0, proc.log()
    # the export the node made at start, in the cache it was given
    assert list((tmp_path / "cache" / "stmtrack_ros" / "onnx").glob("*/manifest.json"))
    live = {int(m.header.frame_id): m for m in client.track_msgs()[warm:] if m.track_id == 1}
    assert set(range(1, len(frames))) <= set(live)
    ref = Tracker.from_checkpoint(test_checkpoint(), TrackerParams(backend="torch"))
    ref.init(frames[0], box)
    for i in range(1, len(frames)):
        want = ref.update(frames[i]).box
        m = live[i]
        got = (m.x, m.y, m.width, m.height)          # float32 in the message
        assert np.abs(np.array(got) - want).max() <= 1e-3, (i, got, want)
