"""`stmtrack bag-track`: a camera bag in, a bag of Track messages out that rosbags (with only
the bag's own definitions), mcap-ros2-support and rclpy all decode; results equal the
offline tracker; bad arguments give one clear line."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from node_support import BUNDLED_CLIP, CLIP_INFO, test_checkpoint
from stmtrack_ros.datasets import parse_box
from stmtrack_ros.tools.bags import TRACK_TYPE, bag_track, open_writer, parse_stamp, read_tracks, typestore
from stmtrack_ros.tools.camera_publisher import read_frames
from stmtrack_ros.tracker import Tracker, TrackerParams

N = 8
T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def clip():
    info = json.loads(CLIP_INFO.read_text())
    return read_frames(BUNDLED_CLIP, max_frames=N), tuple(float(v) for v in info["init_box_xywh"])


def write_camera_bag(path, frames, storage="mcap", topic="/camera/image_raw", camera_info=None):
    """A camera bag as a driver + ros2 bag would make it: rgb8 Images, 25 Hz stamps; with
    `camera_info` (a rosbags CameraInfo), that first, once (latched), on /camera/camera_info."""
    from stmtrack_ros.node.convert import bgr_to_array
    store = typestore()
    Image = store.types["sensor_msgs/msg/Image"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    stamps = []
    with open_writer(path, storage) as w:
        if camera_info is not None:
            info_type = "sensor_msgs/msg/CameraInfo"
            ci = w.add_connection("/camera/camera_info", info_type, typestore=store)
            w.write(ci, T0 - 10**9, store.serialize_cdr(camera_info, info_type))
        conn = w.add_connection(topic, "sensor_msgs/msg/Image", typestore=store)
        for i, f in enumerate(frames):
            t = T0 + i * 40_000_000
            arr = bgr_to_array(f, "rgb8")
            msg = Image(header=Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9),
                                      frame_id=str(i)),
                        height=arr.shape[0], width=arr.shape[1], encoding="rgb8",
                        is_bigendian=0, step=arr.shape[1] * 3, data=arr.reshape(-1))
            w.write(conn, t, store.serialize_cdr(msg, "sensor_msgs/msg/Image"))
            stamps.append(t)
    return stamps


@pytest.fixture(scope="module")
def camera_bag(tmp_path_factory, clip):
    path = tmp_path_factory.mktemp("bags") / "camera"
    return path, write_camera_bag(path, clip[0])


def offline(frames, box, start):
    tracker = Tracker.from_checkpoint(test_checkpoint(), TrackerParams())
    out = [tracker.init(frames[start], box)]
    tracker.memorize()
    for f in frames[start + 1:]:
        out.append(tracker.track(f))
        tracker.memorize()
    return out


def test_cli_writes_a_track_bag_readable_everywhere(tmp_path, camera_bag, clip):
    frames, box = clip
    bag, stamps = camera_bag
    out = tmp_path / "tracks"
    cmd = [sys.executable, "-m", "stmtrack_ros.cli", "bag-track", str(bag),
           "--topic", "/camera/image_raw", "--init", ",".join(str(v) for v in box),
           "--init-stamp", f"{stamps[2] // 10**9}.{stamps[2] % 10**9:09d}",
           "--out", str(out), "--checkpoint", str(test_checkpoint()), "--copy-images"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"frames={N}" in r.stdout and "idle=2" in r.stdout

    # rosbags: a fresh reader, only the definitions stored in the bag
    msgs = read_tracks(out)
    assert len(msgs) == N
    for (t, m), s, i in zip(msgs, stamps, range(N)):
        assert t == s and m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == s
        assert m.header.frame_id == str(i)
        assert (m.image_width, m.image_height) == (frames[0].shape[1], frames[0].shape[0])
    assert [m.state for _, m in msgs[:2]] == [0, 0] and msgs[0][1].track_id == 0
    init = msgs[2][1]
    assert init.track_id == 1 and init.frame_index == 0 and init.state == 1
    assert (init.x, init.y, init.width, init.height) == pytest.approx(box)
    ref = offline(frames, box, 2)
    for (_, m), r_ in zip(msgs[2:], ref):
        assert (m.x, m.y, m.width, m.height) == pytest.approx(r_.box, abs=1e-3)
        assert m.state == int(r_.state) and m.confidence == pytest.approx(r_.confidence, abs=1e-5)
        assert m.frame_index == r_.frame_index

    # mcap-ros2-support: an independent decoder of the MCAP file and its ros2msg schemas
    from mcap_ros2.reader import read_ros2_messages
    mcap_file = next(out.glob("*.mcap"))
    decoded = [d for d in read_ros2_messages(str(mcap_file)) if d.channel.topic == "/track"]
    assert len(decoded) == N and decoded[0].schema.name == TRACK_TYPE
    assert decoded[0].schema.encoding == "ros2msg"
    assert [d.ros_msg.x for d in decoded] == [m.x for _, m in msgs]
    images = [d for d in read_ros2_messages(str(mcap_file)) if d.channel.topic == "/camera/image_raw"]
    assert len(images) == N  # --copy-images

    # rclpy (what ros2 bag play publishes): the generated Track type reads the bytes
    pytest.importorskip("rclpy")
    from rclpy.serialization import deserialize_message
    from rosbags.highlevel import AnyReader

    from stmtrack_ros.msg import Track
    with AnyReader([out]) as reader:
        conn = next(c for c in reader.connections if c.topic == "/track")
        raw = [r for _, _, r in reader.messages(connections=[conn])]
    live = deserialize_message(bytes(raw[5]), Track)
    assert (live.x, live.state, live.header.frame_id) == (msgs[5][1].x, msgs[5][1].state, "5")
    assert Track.STATE_LOST == 2


def test_sqlite3_storage_and_first_frame_init(tmp_path, clip):
    frames, box = clip
    bag = tmp_path / "cam_sqlite"
    write_camera_bag(bag, frames[:4], storage="sqlite3")
    out = tmp_path / "tracks_sqlite"
    summary = bag_track(bag, topic="/camera/image_raw", box=box, out=out, storage="sqlite3",
                        checkpoint=str(test_checkpoint()))
    assert summary["frames"] == 4 and summary["idle"] == 0
    msgs = [m for _, m in read_tracks(out)]
    assert next(out.glob("*.db3")).is_file()
    assert msgs[0].frame_index == 0 and all(m.track_id == 1 for m in msgs)
    ref = offline(frames[:4], box, 0)
    assert [m.width for m in msgs] == pytest.approx([r.box[2] for r in ref], abs=1e-3)


@pytest.mark.parametrize("args, needle", [
    (["--topic", "/nope", "--init", "1,2,3,4"], "topic '/nope' not in"),
    (["--topic", "/camera/image_raw", "--init", "1,2,3"], "expected x,y,w,h"),
    (["--topic", "/camera/image_raw", "--init", "1,2,3,4", "--init-stamp", "12.5"],
     "no image on /camera/image_raw has a stamp within"),
    (["--topic", "/camera/image_raw", "--init", "5000,5000,10,10"], "init box refused"),
    (["--topic", "/camera/image_raw", "--init", "1,2,0,4"], "init box refused"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, camera_bag, args, needle):
    from stmtrack_ros.cli import main
    bag, _ = camera_bag
    out = tmp_path / "o"
    code = main(["bag-track", str(bag), *args, "--out", str(out), "--checkpoint",
                 str(test_checkpoint())])
    assert code == 2
    assert not out.exists()  # no half-written bag left behind


def test_bad_argument_message(tmp_path, camera_bag, capsys):
    from stmtrack_ros.cli import main
    bag, _ = camera_bag
    main(["bag-track", str(bag), "--topic", "/x", "--init", "1,2,3,4", "--out",
          str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "topic '/x' not in" in err[0] and "/camera/image_raw" in err[0]


def test_existing_output_is_not_overwritten(tmp_path, camera_bag, clip):
    bag, _ = camera_bag
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError):
        bag_track(bag, topic="/camera/image_raw", box=clip[1], out=tmp_path / "exists")


def test_parsers():
    assert parse_stamp("1700000000.5") == 1_700_000_000_500_000_000
    assert parse_stamp("1700000000000000123") == 1_700_000_000_000_000_123
    assert parse_box(" 1, 2.5,3,4") == (1.0, 2.5, 3.0, 4.0)
    for bad in ("abc", "1.2.3"):
        with pytest.raises(ValueError):
            parse_stamp(bad)


def test_bad_images_in_a_bag_are_skipped(tmp_path, clip):
    """A corrupt frame in the camera bag is reported and skipped, like the live node does."""
    frames, box = clip
    store = typestore()
    Image = store.types["sensor_msgs/msg/Image"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    bag = tmp_path / "cam_bad"
    with open_writer(bag) as w:
        conn = w.add_connection("/cam", "sensor_msgs/msg/Image", typestore=store)
        for i in range(4):
            f = frames[i]
            data = f.reshape(-1) if i != 2 else np.zeros(10, np.uint8)  # truncated
            msg = Image(header=Header(stamp=Time(sec=i + 1, nanosec=0), frame_id=str(i)),
                        height=f.shape[0], width=f.shape[1], encoding="bgr8", is_bigendian=0,
                        step=f.shape[1] * 3, data=data)
            w.write(conn, (i + 1) * 10**9, store.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    out = tmp_path / "t"
    summary = bag_track(bag, topic="/cam", box=box, out=out, checkpoint=str(test_checkpoint()))
    assert summary["bad_images"] == 1 and summary["frames"] == 3
    assert [m.header.frame_id for _, m in read_tracks(out)] == ["0", "1", "3"]


def test_camera_info_in_the_bag_gives_the_bearing(tmp_path, clip):
    """camera_info beside the image topic, recorded once before the images (latched): every
    non-IDLE Track carries its box centre's bearing, as the live node computes it."""
    from stmtrack_ros.node.bearing import CameraModel, box_bearing
    frames, box = clip
    bag = tmp_path / "cam_and_info"
    k = [400.0, 0, 319.5, 0, 410.0, 179.5, 0, 0, 1]
    d = [-0.2, 0.05, 0.001, -0.001, 0.0]
    store = typestore()
    Info, Header = store.types["sensor_msgs/msg/CameraInfo"], store.types["std_msgs/msg/Header"]
    Roi, Time = store.types["sensor_msgs/msg/RegionOfInterest"], store.types["builtin_interfaces/msg/Time"]
    info = Info(header=Header(stamp=Time(sec=T0 // 10**9 - 1, nanosec=0), frame_id="cam"),
                height=frames[0].shape[0], width=frames[0].shape[1], distortion_model="plumb_bob",
                d=np.array(d), k=np.array(k), r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0,
                binning_y=0, roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    stamps = write_camera_bag(bag, frames[:5], camera_info=info)
    out = tmp_path / "tracks_info"
    summary = bag_track(bag, topic="/camera/image_raw", box=box, init_stamp_ns=stamps[1], out=out,
                        checkpoint=str(test_checkpoint()))
    assert summary["camera_info"] == "/camera/camera_info"
    msgs = [m for _, m in read_tracks(out)]
    cam = CameraModel.from_arrays(k, d, "plumb_bob", frames[0].shape[1], frames[0].shape[0])
    assert msgs[0].state == 0 and not msgs[0].bearing_valid
    for m in msgs[1:]:
        b = box_bearing(cam, (m.x, m.y, m.width, m.height))
        assert m.bearing_valid and m.azimuth == pytest.approx(b.azimuth, abs=1e-6)
        assert m.elevation == pytest.approx(b.elevation, abs=1e-6)
        assert m.offset_x == pytest.approx(b.offset_x, abs=1e-6)
    assert bag_track(bag, topic="/camera/image_raw", box=box, out=tmp_path / "off",
                     camera_info="none", checkpoint=str(test_checkpoint()))["camera_info"] == "none"
    assert not any(m.bearing_valid for _, m in read_tracks(tmp_path / "off"))
    with pytest.raises(ValueError, match="camera_info topic '/nope' not in the bag"):
        bag_track(bag, topic="/camera/image_raw", box=box, out=tmp_path / "x", camera_info="/nope")
