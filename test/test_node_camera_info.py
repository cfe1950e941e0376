"""The live node with a camera the way robots have one: `-r image:=/cam/image_raw` moves the
compressed subscription and camera_info with it, a latched camera_info published before the
node started gives every Track the bearing of its box, and (with the vision_msgs package built
for the tests sourced) `detections` carries the same box as vision_msgs/Detection2DArray,
echoed by a separate process."""
import json
import math
import queue
import subprocess
import sys
import threading
import time

import pytest
from vision_msgs_support import vision_msgs_env

from conftest import REPO
from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, node_env, test_checkpoint
from stmtrack_ros.tools.camera_publisher import read_frames

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _camera_info(k, width, height):
    from sensor_msgs.msg import CameraInfo
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.header.frame_id = "cam_optical"
    info.k = [float(v) for v in k]
    info.d = [0.0] * 5
    return info


def _stamp(m) -> int:
    return m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec


def test_camera_info_bearing_detections_and_topic_names(tmp_path):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, CompressedImage
    from std_msgs.msg import Header

    from stmtrack_ros.node.convert import bgr_to_compressed
    frames = read_frames(BUNDLED_CLIP, max_frames=2)
    h, w = frames[0].shape[:2]
    x, y, bw, bh = json.loads(CLIP_INFO.read_text())["init_box_xywh"]
    cu, cv = x + (bw - 1) / 2, y + (bh - 1) / 2      # the box centre (tracker convention)
    f = 250.0  # principal point f to the left of the centre: azimuth 45 deg, elevation 0
    k = [f, 0, cu - f, 0, f, cv, 0, 0, 1]
    d = domain_id(13)
    env = vision_msgs_env(node_env(d))
    client = RosClient(d)
    echo = None
    try:
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        info_pub = client.node.create_publisher(CameraInfo, "/cam/camera_info", latched)
        info_pub.publish(_camera_info(k, w, h))  # once, before the node exists (latched)
        cam_pub = client.node.create_publisher(CompressedImage, "/cam/image_raw/compressed",
                                               QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))

        def publish(i):
            hd = Header(frame_id=str(i))
            hd.stamp.sec, hd.stamp.nanosec = divmod(client.node.get_clock().now().nanoseconds,
                                                    1_000_000_000)
            cam_pub.publish(bgr_to_compressed(frames[i % 2], "png", hd))
            time.sleep(0.1)

        with NodeProcess(d, tmp_path / "node.log", test_checkpoint(), env=env,
                         params={"use_compressed": True},
                         extra_args=["-r", "image:=/cam/image_raw"]) as proc:
            client.wait_for(lambda: proc.alive() and cam_pub.get_subscription_count() > 0
                            and client.init_cli.service_is_ready(), 90, "the node subscribed")
            assert client.image_pub.get_subscription_count() == 0  # not /image
            assert client.compressed_pub.get_subscription_count() == 0  # nor /image/compressed
            i = 0
            while not client.tracks:
                publish(i)
                i += 1
                assert i < 300, proc.log()
            echo = subprocess.Popen([sys.executable, "-m", "stmtrack_ros.tools.echo", "/detections",
                                     "--timeout", "60"], cwd=REPO, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=lambda: [lines.put(ln) for ln in echo.stdout], daemon=True).start()
            t_end = time.monotonic() + 60  # the echo process discovers /detections, subscribes
            while client.node.count_subscribers("/detections") == 0:
                assert time.monotonic() < t_end and echo.poll() is None, "echo never subscribed"
                time.sleep(0.1)
            time.sleep(1.0)
            for _ in range(3):
                publish(i)
                i += 1
            res = client.init_target((x, y, bw, bh))
            assert res.success and res.track_id == 1, res.message
            for _ in range(4):
                publish(i)
                i += 1
            client.wait_for(lambda: sum(m.track_id == 1 for _, m in client.tracks) >= 3, 60,
                            "Tracks of target 1")
            # camera_info for another image size: bearings stop, with a warning
            info_pub.publish(_camera_info(k, 1280, 720))
            time.sleep(0.5)
            n = client.track_count()
            for _ in range(3):
                publish(i)
                i += 1
            client.wait_for(lambda: len(client.tracks) >= n + 2, 30, "Tracks after the change")
            n_diag = len(client.diags)
            client.wait_for(lambda: len(client.diags) > n_diag + 1, 10, "fresh diagnostics")
            diag = client.latest_diag_values()
            log = proc.log()
    finally:
        if echo is not None:
            echo.send_signal(2)
            echo.wait(20)
        client.close()
    tracks = client.track_msgs()
    idle = [m for m in tracks if m.state == 0]
    assert idle and not any(m.bearing_valid for m in idle)
    first = next(m for m in tracks if m.track_id == 1)
    assert first.frame_index == 0 and first.bearing_valid, first
    assert math.degrees(first.azimuth) == pytest.approx(45.0, abs=1e-3)
    assert first.elevation == pytest.approx(0.0, abs=1e-5)
    assert first.offset_x == pytest.approx(1.0, abs=1e-5) and first.offset_y == pytest.approx(0, abs=1e-5)
    later = [m for m in tracks[n:] if m.track_id == 1]
    assert later and not any(m.bearing_valid for m in later)
    assert "no bearing: camera_info is for 1280x720" in log and "Traceback" not in log
    assert "camera_info: 640x360 plumb_bob" in log
    assert diag["camera_info"] == "1280x720 plumb_bob"  # /diagnostics says what bearings use
    # detections: the same header and box as the Track, for each Track while TRACKING
    out = []
    while not lines.empty():
        out.append(lines.get())
    dets = [json.loads(ln) for ln in out if ln.startswith("{")]
    assert dets, "".join(out)
    by_stamp = {(a["header"]["stamp"]["sec"], a["header"]["stamp"]["nanosec"]): a for a in dets}
    a = by_stamp[(first.header.stamp.sec, first.header.stamp.nanosec)]
    assert a["header"]["frame_id"] == first.header.frame_id
    (det,) = a["detections"]
    assert det["id"] == "1" and det["results"][0]["hypothesis"]["score"] == pytest.approx(1.0)
    assert det["bbox"]["center"]["position"]["x"] == pytest.approx(cu, abs=1e-3)
    assert det["bbox"]["center"]["position"]["y"] == pytest.approx(cv, abs=1e-3)
    assert (det["bbox"]["size_x"], det["bbox"]["size_y"]) == pytest.approx((bw, bh), abs=1e-3)
    idle_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in idle}
    assert any(by_stamp[s]["detections"] == [] for s in idle_stamps if s in by_stamp)
