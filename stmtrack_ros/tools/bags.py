"""Bags without rosbag2 (not on PyPI): the `rosbags` library reads and writes them, MCAP by
default, sqlite3 too. Every bag we write carries the Track definition, so `ros2 bag`,
rosbags and mcap readers decode it on any machine.

`stmtrack bag-track IN_BAG --topic /camera/image_raw --init x,y,w,h [--init-stamp S] --out OUT`
replays a camera bag through the tracker and writes one Track per image, exactly the
messages the live node would publish had it processed every frame (IDLE before the init
frame, the init result on it, the query-pass result after it; see node.convert.track_fields),
with the bearing fields from the bag's camera_info beside the image topic when it has one.
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from ..datasets import parse_box

TRACK_TYPE = "stmtrack_ros/msg/Track"
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
STORAGES = ("mcap", "sqlite3")


def track_msg_path() -> Path:
    """msg/Track.msg: the source tree's, else the installed package's share/ copy."""
    src = Path(__file__).resolve().parents[2] / "msg" / "Track.msg"
    if src.is_file():
        return src
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory("stmtrack_ros")) / "msg" / "Track.msg"


def typestore():
    """The Kilted typestore plus our Track type."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg(track_msg_path().read_text(), TRACK_TYPE))
    return store


def open_writer(path: str | Path, storage: str = "mcap"):
    """A rosbags Writer (call .open() / use as a context manager). `path` is the bag folder."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    if storage not in STORAGES:
        raise ValueError(f"storage {storage!r}; use one of {', '.join(STORAGES)}")
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"output bag {path} exists; remove it or choose another --out")
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    return Writer(path, version=9, storage_plugin=plugin)


def stamp_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def parse_stamp(text: str) -> int:
    """'1700000000.123456789' (seconds) or '1700000000123456789' (integer ns) -> ns."""
    text = text.strip()
    if "." in text:
        sec, frac = text.split(".", 1)
        if not (sec.lstrip("-").isdigit() and frac.isdigit()):
            raise ValueError(f"stamp {text!r} is not SECONDS.FRACTION or integer nanoseconds")
        return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
    if not text.isdigit():
        raise ValueError(f"stamp {text!r} is not SECONDS.FRACTION or integer nanoseconds")
    return int(text)


def read_tracks(path: str | Path, topic: str | None = None) -> list:
    """All Track messages in a bag (rosbags, using only the definitions the bag holds), as
    (log_time_ns, message) pairs."""
    from rosbags.highlevel import AnyReader
    out = []
    with AnyReader([Path(path)]) as reader:
        conns = [c for c in reader.connections
                 if c.msgtype == TRACK_TYPE and (topic is None or c.topic == topic)]
        for conn, t, raw in reader.messages(connections=conns):
            out.append((t, reader.deserialize(raw, conn.msgtype)))
    return out


# ------------------------------------------------------------------ bag-track (CLI)

def add_arguments(parser) -> None:
    from ..node.params import config_file
    default_config = config_file()
    parser.add_argument("in_bag", help="rosbag2 folder (or .mcap file) with camera images")
    parser.add_argument("--topic", required=True,
                        help="image topic (sensor_msgs/Image or CompressedImage)")
    parser.add_argument("--init", required=True, metavar="X,Y,W,H",
                        help="target box in pixels (top-left, 0-based) on the init frame")
    parser.add_argument("--init-stamp", metavar="STAMP",
                        help="header stamp of the init frame, SECONDS.FRACTION or integer ns "
                             "(nearest within --stamp-tolerance); default: the first frame")
    parser.add_argument("--stamp-tolerance", type=float, default=0.001, metavar="S")
    parser.add_argument("--camera-info", metavar="TOPIC",
                        help="CameraInfo topic for the Tracks' bearing fields (default: the one "
                             "beside --topic, when the bag has it; 'none' = no bearings)")
    parser.add_argument("--out", help="output bag folder (default: IN_BAG_track)")
    parser.add_argument("--out-topic", default="/track", help="Track topic in the output bag")
    parser.add_argument("--storage", choices=STORAGES, default="mcap")
    parser.add_argument("--copy-images", action="store_true",
                        help="also copy the image topic into the output bag")
    parser.add_argument("--config", default=str(default_config) if default_config else None,
                        help="parameter file (the node's, default config/stmtrack.yaml); its "
                             "tracker values and checkpoint are used")
    parser.add_argument("--checkpoint", help="model checkpoint (default: the config's, else "
                                             "the bundled small model)")
    parser.add_argument("--device", help="override the config's device (cpu/cuda)")
    parser.add_argument("--mode", help="override the config's memory mode (exact/bounded)")
    parser.add_argument("--hp", help="override the config's hyper-parameter preset")


def run(args) -> int:
    try:
        summary = bag_track(
            args.in_bag, topic=args.topic, box=parse_box(args.init, "--init"),
            init_stamp_ns=parse_stamp(args.init_stamp) if args.init_stamp else None,
            stamp_tolerance_ns=int(args.stamp_tolerance * 1e9),
            out=args.out, out_topic=args.out_topic, storage=args.storage,
            camera_info=args.camera_info,
            copy_images=args.copy_images, config=args.config, checkpoint=args.checkpoint,
            overrides={k: v for k, v in (("device", args.device), ("mode", args.mode),
                                         ("hp", args.hp)) if v is not None})
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as e:
        print(f"stmtrack bag-track: error: {e}", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


def load_tracker(config: str | None, checkpoint: str | None, overrides: dict):
    """A Tracker built the way the node builds it (same parameter file, same defaults)."""
    from ..model import default_checkpoint_path
    from ..node.params import read_params_file, tracker_params_from
    from ..tracker import Tracker
    values = read_params_file(config) if config else {}
    values.update(overrides)
    params = tracker_params_from(values)
    ckpt = checkpoint or values.get("checkpoint") or str(default_checkpoint_path())
    return Tracker.from_checkpoint(ckpt, params), ckpt


def bag_track(in_bag, *, topic: str, box, init_stamp_ns: int | None = None,
              stamp_tolerance_ns: int = 1_000_000, out=None, out_topic: str = "/track",
              storage: str = "mcap", copy_images: bool = False, config=None,
              checkpoint=None, overrides=None, camera_info: str | None = None) -> dict:
    from rosbags.highlevel import AnyReader

    in_bag = Path(in_bag)
    if not in_bag.exists():
        raise FileNotFoundError(f"input bag {in_bag} not found")
    out = Path(out) if out else in_bag.with_name(in_bag.name.removesuffix(".mcap") + "_track")
    if out.exists():  # checked first: the cleanup below only ever removes what we wrote
        raise FileExistsError(f"output bag {out} exists; remove it or choose another --out")
    store = typestore()
    with AnyReader([in_bag], default_typestore=store) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            have = ", ".join(f"{c.topic} ({c.msgtype})" for c in reader.connections)
            raise ValueError(f"topic {topic!r} not in {in_bag}; it has: {have or 'nothing'}")
        if conns[0].msgtype not in (IMAGE_TYPE, COMPRESSED_TYPE):
            raise ValueError(f"topic {topic} is {conns[0].msgtype}, not an image topic")
        info_conns = _camera_info_connections(reader, topic, camera_info)
        init_at = None
        if init_stamp_ns is not None:  # first pass: which message is the init frame
            best = None
            for i, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
                s = stamp_ns(reader.deserialize(raw, conn.msgtype).header.stamp)
                if abs(s - init_stamp_ns) <= stamp_tolerance_ns and \
                        (best is None or abs(s - init_stamp_ns) < best[1]):
                    best = (i, abs(s - init_stamp_ns))
            if best is None:
                raise ValueError(f"no image on {topic} has a stamp within "
                                 f"{stamp_tolerance_ns / 1e9:g} s of {init_stamp_ns} ns")
            init_at = best[0]
        tracker, ckpt = load_tracker(config, checkpoint, overrides or {})
        try:
            counts, bad, confs, ms = _track_messages(reader, conns, info_conns, tracker, store,
                                                     box, init_at, out, out_topic, storage,
                                                     copy_images)
        except BaseException:
            if out.exists():  # never leave a half-written bag behind
                shutil.rmtree(out)
            raise
    n = sum(counts.values())
    return {"out": str(out), "frames": n, "bad_images": bad, **{k.lower(): v for k, v in counts.items()},
            "mean_confidence": round(sum(confs) / max(len(confs), 1), 4),
            "mean_ms": round(sum(ms) / max(len(ms), 1), 1), "checkpoint": ckpt,
            "camera_info": info_conns[0].topic if info_conns else "none"}


def _camera_info_connections(reader, image_topic: str, wanted: str | None) -> list:
    """The bag's CameraInfo connections for the bearing fields: `wanted`, else the topic beside
    the image topic (image_transport's rule) when the bag has it; none for 'none'."""
    from ..node.bearing import camera_info_beside
    if wanted == "none":
        return []
    name = wanted or camera_info_beside(image_topic)
    conns = [c for c in reader.connections if c.topic == name]
    if wanted and not conns:
        raise ValueError(f"camera_info topic {wanted!r} not in the bag; use --camera-info none "
                         "for Tracks without bearings")
    if conns and conns[0].msgtype != "sensor_msgs/msg/CameraInfo":
        raise ValueError(f"topic {name} is {conns[0].msgtype}, not sensor_msgs/msg/CameraInfo")
    return conns


def _track_messages(reader, conns, info_conns, tracker, store, box, init_at, out, out_topic,
                    storage, copy_images):
    """Write one Track per decodable image of `conns` (see the module docstring), with the
    bearing from the latest message of `info_conns` before it (as the live node has it)."""
    from ..node.bearing import LatestCamera, bearing_fields
    from ..node.convert import msg_to_bgr, track_fields
    from ..tracker import TrackerInputError
    topic = conns[0].topic
    counts = {"IDLE": 0, "TRACKING": 0, "LOST": 0}
    bad = 0
    confs, ms = [], []
    with open_writer(out, storage) as writer:
        out_conn = writer.add_connection(out_topic, TRACK_TYPE, typestore=store)
        img_conn = (writer.add_connection(topic, conns[0].msgtype, typestore=store)
                    if copy_images else None)
        started = False
        camera = LatestCamera()
        i = -1  # index among the image messages (init_at counts those)
        for conn, t, raw in reader.messages(connections=[*conns, *info_conns]):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn in info_conns:
                _, refused = camera.update(msg)
                if refused:
                    print(f"bag-track: camera_info at {t} ns refused: {refused}", file=sys.stderr)
                continue
            i += 1
            if img_conn is not None:
                writer.write(img_conn, t, raw)
            try:
                bgr = msg_to_bgr(msg)
            except ValueError as e:  # the node skips such frames too (no Track for them)
                bad += 1
                print(f"bag-track: skipping message {i} at {t} ns: {e}", file=sys.stderr)
                continue
            wh = (bgr.shape[1], bgr.shape[0])
            t0 = time.perf_counter()
            if not started and (init_at is None or i == init_at):
                try:
                    result = tracker.init(bgr, box)
                except TrackerInputError as e:
                    raise ValueError(f"init box refused: {e}") from None
                started = True
            elif started:
                try:
                    result = tracker.track(bgr)
                except TrackerInputError as e:  # e.g. a frame of another size: skipped live too
                    bad += 1
                    print(f"bag-track: skipping message {i} at {t} ns: {e}", file=sys.stderr)
                    continue
            else:
                result = None
            elapsed = (time.perf_counter() - t0) * 1e3
            fields = track_fields(result, track_id=1 if started else 0, image_wh=wh,
                                  latency_ms=elapsed)
            track = store.types[TRACK_TYPE](header=msg.header, **fields,
                                            **bearing_fields(camera.model, fields))
            writer.write(out_conn, t, store.serialize_cdr(track, TRACK_TYPE))
            if started:
                tracker.memorize()
                ms.append(elapsed)
                confs.append(fields["confidence"])
            counts[("IDLE", "TRACKING", "LOST")[fields["state"]]] += 1
    if not started:
        raise ValueError(f"the init frame never came (no decodable image on {topic})")
    return counts, bad, confs, ms
