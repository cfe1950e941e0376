"""The node as a real process on its own ROS_DOMAIN_ID, fed by real camera frames from this
test process (rclpy), checked against the offline Tracker on the frames it processed."""
import json
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from conftest import shared_path  # noqa: E402
from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, test_checkpoint  # noqa: E402
from stmtrack_ros.tools.camera_publisher import read_frames  # noqa: E402
from stmtrack_ros.tracker import Tracker, TrackerParams  # noqa: E402

pytestmark = pytest.mark.ros


def _crossing():
    root = shared_path("data", "Crossing")
    frames = read_frames(root / "img", max_frames=70)
    gt = np.loadtxt(root / "groundtruth.txt", delimiter=",")[:70]
    gt[:, :2] -= 1  # OTB is 1-based
    return frames, gt


def _publish(client, frames, indexes, stamps, rate=30.0, encoding="rgb8"):
    period = 1.0 / rate
    t_next = time.monotonic()
    for i in indexes:
        stamps[str(i)] = client.publish_bgr(frames[i], i, encoding)
        t_next += period
        time.sleep(max(0.0, t_next - time.monotonic()))


def _warm_up(client, frame, extra_wait=20.0):
    """Publish until the node answers (discovery of a best-effort reader takes a moment)."""
    t_end = time.monotonic() + extra_wait
    k = 0
    while client.track_count() == 0:
        client.publish_bgr(frame, 10_000 + k)
        k += 1
        time.sleep(0.1)
        assert time.monotonic() < t_end, "the node never answered a frame"


def _replay_offline(frames, init_index, box, processed):
    """The in-process Tracker over exactly the frames the node processed, in its order: its
    results and its re-detection counts."""
    tracker = Tracker.from_checkpoint(test_checkpoint(), TrackerParams())
    results = [tracker.init(frames[init_index], box)]
    tracker.memorize()
    for i in processed:
        results.append(tracker.track(frames[i]))
        tracker.memorize()
    return results, tracker.redetection


@pytest.mark.slow
def test_live_node_stamps_catch_up_offline_equality_reset(tmp_path):
    frames, gt = _crossing()
    d = domain_id(1)
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint()) as proc:
        client = RosClient(d)
        try:
            client.wait_ready(proc)
            _warm_up(client, frames[0])
            warm = client.track_count()
            stamps = {}
            _publish(client, frames, range(0, 10), stamps)
            init_at = 3
            box = tuple(float(v) for v in gt[init_at])
            t0 = time.monotonic()
            res = client.init_target(box, stamps[str(init_at)])
            init_ms = (time.monotonic() - t0) * 1e3
            assert res.success and res.track_id == 1, res.message
            _publish(client, frames, range(10, 60), stamps)
            client.wait_for(lambda: client.tracks[-1][1].header.frame_id == "59", 30,
                            "the Track of the last frame")
            n_diag = len(client.diags)
            client.wait_for(lambda: len(client.diags) > n_diag + 1, 10, "diagnostics while tracking")
            tracking_diag, last = client.latest_diag_values(), client.tracks[-1][1]
            rst = client.reset()
            assert rst.success
            _publish(client, frames, range(60, 66), stamps, rate=10)
            client.wait_for(lambda: client.tracks[-1][1].header.frame_id == "65", 30,
                            "the Track after reset")
            n_diag = len(client.diags)
            client.wait_for(lambda: len(client.diags) > n_diag + 1, 10, "fresh diagnostics")
            diag = client.latest_diag_values()
        finally:
            client.close()
        assert proc.stop() == 0, proc.log()
    msgs = client.track_msgs()[warm:]
    # stamps and frame_ids are the inputs', unchanged
    for m in msgs:
        assert (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec) == stamps[m.header.frame_id]
        assert (m.image_width, m.image_height) == (frames[0].shape[1], frames[0].shape[0])
    # no frame processed twice within a target; results in frame order
    mine = [m for m in msgs if m.track_id == 1]
    ids = [int(m.header.frame_id) for m in mine]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    assert [m.frame_index for m in mine] == list(range(len(mine)))
    # init on the stamped (older) frame, then catch-up over buffered frames 4..9
    first = mine[0]
    assert first.header.frame_id == str(init_at) and first.frame_index == 0
    assert (first.x, first.y, first.width, first.height) == pytest.approx(box, abs=1e-4)
    assert first.state == 1 and first.confidence == pytest.approx(1.0)
    assert set(range(4, 10)) & set(ids), f"no catch-up over buffered frames: {ids}"
    # before init: IDLE with no target; after reset: IDLE again
    before = [m for m in msgs if int(m.header.frame_id) < init_at]
    assert before and all(m.state == 0 and m.track_id == 0 for m in before)
    after = [m for m in msgs if int(m.header.frame_id) >= 60]
    assert after and all(m.state == 0 and m.track_id == 0 for m in after)
    # never a stale frame: the node skips ahead rather than queueing
    processed = ids[1:]
    assert processed[-1] == 59
    # boxes, states and confidences equal the offline tracker on the same frames
    offline, search = _replay_offline(frames, init_at, box, processed)
    for m, r in zip(mine, offline):
        assert (m.x, m.y, m.width, m.height) == pytest.approx(r.box, abs=1e-3), m.header.frame_id
        assert m.state == int(r.state) and m.confidence == pytest.approx(r.confidence, abs=1e-4)
        assert m.memory_frames == len(r.memory_frames)
    # diagnostics report the pipeline
    for key in ("input_rate_hz", "output_rate_hz", "latency_ms_mean", "frames_dropped",
                "state", "memory_size", "device"):
        assert key in diag, diag
    # processed counts the init frame and the catch-up frames too
    assert 0 < int(diag["frames_processed"]) <= int(diag["frames_received"]) + 1 + 10
    assert int(diag["frames_received"]) >= 50 and int(diag["frames_dropped"]) >= 0
    assert diag["device"] == "cpu" and diag["state"] == "IDLE" and diag["confidence"] == "0.000"
    # the default backend (auto) on a CPU with onnxruntime installed: onnxruntime, as offline
    assert diag["backend"] == "onnxruntime" == Tracker.from_checkpoint(test_checkpoint()).backend.name
    # while tracking: the state, the last published confidence, re-detection standing by
    assert tracking_diag["state"] == {1: "TRACKING", 2: "LOST"}[last.state]
    assert float(tracking_diag["confidence"]) == pytest.approx(last.confidence, abs=5e-4)
    assert tracking_diag["redetect"] == ("off" if not TrackerParams().redetect_tiles else
                                         "searching" if last.state == 2 else "standby")
    for key in ("tiles_scanned", "candidates", "recoveries"):   # as the same tracker offline
        assert int(tracking_diag[f"redetect_{key}"]) == getattr(search, key), tracking_diag
    print(json.dumps({"init_target_ms": round(init_ms, 1), "processed": len(ids),
                      "published": 60, "latency_ms_mean": diag["latency_ms_mean"]}))


def _clip():
    info = json.loads(CLIP_INFO.read_text())
    return read_frames(BUNDLED_CLIP, max_frames=40), tuple(float(v) for v in info["init_box_xywh"])


def _wait_frame(client, frame_id, timeout=30.0):
    client.wait_for(lambda: any(m.header.frame_id == frame_id for _, m in client.tracks),
                    timeout, f"the Track of frame {frame_id}")
    return next(m for _, m in reversed(client.tracks) if m.header.frame_id == frame_id)


def test_bad_inputs_encodings_sim_time_and_parameters(tmp_path):
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    frames, box = _clip()
    small = frames[0]
    d = domain_id(2)
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint(),
                     params={"use_sim_time": True}) as proc:
        client = RosClient(d)
        clock_pub = client.node.create_publisher(Clock, "/clock", 10)
        sim = {"ns": 1000 * 10**9}

        def tick():
            sim["ns"] += 20_000_000
            c = Clock()
            c.clock.sec, c.clock.nanosec = divmod(sim["ns"], 10**9)
            clock_pub.publish(c)

        clock_timer = client.node.create_timer(0.02, tick)
        try:
            client.wait_ready(proc)
            _warm_up(client, small)
            # every supported encoding is processed, at the source's size
            for k, enc in enumerate(["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16"]):
                client.publish_bgr(frames[k], f"enc{k}", enc, stamp_ns=sim["ns"])
                m = _wait_frame(client, f"enc{k}")
                assert (m.image_width, m.image_height) == (small.shape[1], small.shape[0])
            # init on the newest frame (stamp 0)
            res = client.init_target(box, 0)
            assert res.success and res.track_id == 1, res.message
            # bad images: each refused, counted; the node keeps serving
            bad = [
                Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32)),
                Image(height=8, width=8, encoding="rgb8", step=10, data=bytes(80)),
                Image(height=8, width=8, encoding="rgb8", step=24, data=bytes(100)),
                Image(height=0, width=0, encoding="rgb8", step=0, data=b""),
                Image(height=2, width=2, encoding="mono16", step=3, data=bytes(6)),
            ]
            for k, msg in enumerate(bad):
                msg.header.frame_id = f"bad{k}"
                client.image_pub.publish(msg)
                time.sleep(0.05)
                client.publish_bgr(frames[6 + k], f"good{k}")
                m = _wait_frame(client, f"good{k}")
                assert m.track_id == 1 and m.state in (1, 2)
            # a burst of bad images: all counted, but the log is rate-limited
            logged = proc.log().count("bad image refused")
            for _ in range(10):
                client.image_pub.publish(Image(height=4, width=4, encoding="yuv422", step=8,
                                               data=bytes(32)))
                time.sleep(0.02)
            client.publish_bgr(frames[11], "after-burst")
            _wait_frame(client, "after-burst")
            assert proc.log().count("bad image refused") - logged <= 1
            # a frame of another size mid-track: refused by the tracker, node survives
            client.publish_bgr(np.zeros((50, 60, 3), np.uint8), "resized")
            time.sleep(0.5)
            client.publish_bgr(frames[12], "after-resize")
            _wait_frame(client, "after-resize")
            # bad boxes: refused with a message, the old target kept
            n_before = client.track_count()
            for bad_box, needle in [((float("nan"), 10, 20, 20), "NaN"),
                                    ((10, 10, 0, 20), "positive"),
                                    ((10, 10, -5, 20), "positive"),
                                    ((5000, 5000, 20, 20), "outside")]:
                r = client.init_target(bad_box, 0)
                assert not r.success and needle in r.message and "still tracking target 1" \
                    in r.message and r.track_id == 1, r.message
            r = client.init_target(box, 123_456_789)  # no such frame in the buffer
            assert not r.success and "no buffered frame" in r.message, r.message
            client.publish_bgr(frames[13], "still")
            m = _wait_frame(client, "still")
            assert m.track_id == 1 and m.state in (1, 2) and client.track_count() > n_before
            # stamps going backwards (a looping bag): published as is, logged, counted
            old = sim["ns"] - 500 * 10**6
            client.publish_bgr(frames[14], "backwards", stamp_ns=old)
            m = _wait_frame(client, "backwards")
            assert m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == old
            assert m.track_id == 1
            # debug_image: drawn only for a subscriber, same header as the source frame
            debug = []
            client.node.create_subscription(Image, "debug_image", debug.append, 10)
            t_end = time.monotonic() + 20
            while not any(m.header.frame_id == "dbg" for m in debug):
                client.publish_bgr(frames[15], "dbg")
                time.sleep(0.3)
                assert time.monotonic() < t_end, "no debug_image for a subscriber"
            dbg = next(m for m in debug if m.header.frame_id == "dbg")
            assert dbg.encoding == "bgr8" and (dbg.width, dbg.height) == (small.shape[1],
                                                                         small.shape[0])
            # parameters: runtime threshold change accepted, bad values rejected with a reason
            assert client.set_param("lost_threshold", 0.2).successful
            assert client.get_param("lost_threshold") == 0.2
            r = client.set_param("lost_threshold", 7.0)
            assert not r.successful and r.reason
            r = client.set_param("recover_threshold", 0.1)
            assert not r.successful and "hysteresis" in r.reason
            r = client.set_param("device", "cuda")
            assert not r.successful and "read-only" in r.reason
            time.sleep(1.5)
            client.wait_for(lambda: client.diags, 10, "diagnostics")
            diag = client.latest_diag_values()
            with client.lock:
                diag_stamp = client.diags[-1].header.stamp
            assert proc.alive()
        finally:
            client.node.destroy_timer(clock_timer)
            client.close()
        assert proc.stop() == 0, proc.log()
    log = proc.log()
    # each paced bad image is counted; the burst may be lost whole in DDS (depth 1: the good
    # frame sent right after it can replace the last one before the node reads it)
    assert int(diag["bad_images"]) >= len(bad), diag
    assert int(diag["stamps_backwards"]) >= 1 and int(diag["processing_errors"]) >= 1
    assert "went backwards" in log and "bad image refused" in log
    # use_sim_time: the node's clock (diagnostics stamps) is the simulated one
    assert 999 <= diag_stamp.sec <= sim["ns"] // 10**9 + 1
    assert "Traceback" not in log


@pytest.mark.slow
def test_compressed_lockstep_lost_and_live_equals_bag_track(tmp_path):
    """use_compressed, every frame processed (lockstep), target blanked -> LOST; the camera
    frames are written to a bag and `bag-track` over it gives the live node's messages."""
    from rosbags.typesys import Stores, get_typestore
    from sensor_msgs.msg import CompressedImage

    from node_support import track_fields_of
    from stmtrack_ros.node.convert import bgr_to_compressed
    from stmtrack_ros.tools.bags import bag_track, open_writer, read_tracks

    frames, box = _clip()
    frames = frames[:28]
    blank = set(range(10, 24))
    d = domain_id(3)
    sent = []
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint(),
                     params={"use_compressed": True}) as proc:
        client = RosClient(d)
        try:
            client.wait_ready(proc)
            t_end = time.monotonic() + 20
            while client.track_count() == 0:  # discovery
                client.publish_bgr(frames[0], 99_999, "png")
                time.sleep(0.1)
                assert time.monotonic() < t_end, "the node never answered a frame"
            # bad compressed data: refused and counted, no crash
            for k, data in enumerate([b"", b"\xff\xd8\xff garbage" * 20]):
                client.compressed_pub.publish(CompressedImage(format="jpeg", data=data))
                time.sleep(0.05)
                client.publish_bgr(frames[0], f"ok{k}", "jpeg")
                _wait_frame(client, f"ok{k}")
            warm = client.track_count()
            for i, f in enumerate(frames):
                img = np.zeros_like(f) if i in blank else f
                enc = "png" if i % 2 else "jpeg"
                stamp = client.node.get_clock().now().nanoseconds
                msg = bgr_to_compressed(img, enc)
                msg.header.frame_id = str(i)
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
                client.compressed_pub.publish(msg)
                sent.append((stamp, msg))
                if i == 0:
                    _wait_frame(client, "0")
                    res = client.init_target(box, stamp)
                    assert res.success, res.message
                _wait_frame(client, str(i))
            diag_ok = proc.alive()
        finally:
            client.close()
        assert proc.stop() == 0, proc.log()
    assert diag_ok
    live = [m for m in client.track_msgs()[warm:] if m.track_id == 1]
    assert [m.header.frame_id for m in live] == [str(i) for i in range(len(frames))]
    states = {int(m.header.frame_id): m.state for m in live}
    assert any(states[i] == 2 for i in blank), "no LOST while the target was blanked"
    assert states[len(frames) - 1] == 1, "not TRACKING again after the target came back"
    assert "bad image refused" in proc.log()

    # the same camera frames as a bag -> bag-track -> equal Track messages
    store = get_typestore(Stores.ROS2_KILTED)
    cam = tmp_path / "camera_bag"
    from rclpy.serialization import serialize_message
    with open_writer(cam, "mcap") as w:
        conn = w.add_connection("/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage",
                                typestore=store)
        for stamp, msg in sent:
            w.write(conn, stamp, serialize_message(msg))
    out = tmp_path / "track_bag"
    summary = bag_track(cam, topic="/camera/image_raw/compressed", box=box,
                        init_stamp_ns=sent[0][0], out=out, checkpoint=str(test_checkpoint()))
    assert summary["frames"] == len(frames) and summary["bad_images"] == 0
    offline = [m for _, m in read_tracks(out)]
    assert [track_fields_of(m) for m in offline] == [track_fields_of(m) for m in live]
