"""Frames over max_image_pixels are refused before decoding and counted apart on /diagnostics,
the node keeps tracking the frames that fit, and the frame buffer stays within its MB budget
(a real node process fed by this test process)."""
import json
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")

from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, test_checkpoint  # noqa: E402
from stmtrack_ros.tools.camera_publisher import read_frames  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.mark.parametrize("encoding", ["bgr8", "jpeg"])
def test_oversized_frames_are_refused_counted_and_tracking_goes_on(tmp_path, encoding):
    info = json.loads(CLIP_INFO.read_text())
    frames = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA)
              for f in read_frames(BUNDLED_CLIP, max_frames=12)]
    box = tuple(v / 2 for v in info["init_box_xywh"])
    big = np.zeros((400, 640, 3), np.uint8)            # 256000 px > the limit below
    d = domain_id(6 + (encoding == "jpeg"))
    params = {"max_image_pixels": 100_000, "frame_buffer_max_mb": 1,
              "use_compressed": encoding == "jpeg", "diagnostics_period": 0.2}
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint(), params=params) as proc:
        client = RosClient(d)
        try:
            client.wait_ready(proc)
            client.warm_up(frames[0], encoding)
            assert client.init_target(box, 0).success
            for k in range(10):
                client.publish_bgr(big, f"big{k}", encoding)
                time.sleep(0.03)
                client.publish_bgr(frames[1 + k], f"ok{k}", encoding)
                m = client.wait_track(f"ok{k}")
                assert m.track_id == 1 and m.state == 1 and (m.image_width, m.image_height) == (320, 180)
            n = len(client.diags)
            client.wait_for(lambda: len(client.diags) > n + 1, 10, "fresh diagnostics")
            diag = client.latest_diag_values()
            assert proc.alive()
        finally:
            client.close()
        assert proc.stop() == 0, proc.log()
    assert not any(m.header.frame_id.startswith("big") for m in client.track_msgs())
    # paced: each big frame reaches the node (DDS may merge at most a few under load)
    assert 5 <= int(diag["oversized_images"]) <= 10 and diag["bad_images"] == diag["oversized_images"]
    assert "over max_image_pixels 100000" in diag["last_bad_image"]
    # 1 MB holds six 320x180 bgr frames (169 KB each)
    assert 1 <= int(diag["buffer_frames"]) <= 6 and float(diag["buffer_mb"]) <= 1.0, diag
    assert "over max_image_pixels" in proc.log() and "Traceback" not in proc.log()
