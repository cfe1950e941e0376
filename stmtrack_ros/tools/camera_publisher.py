"""A camera stand-in: publishes a video file or an image folder at a fixed rate as
sensor_msgs/Image (any supported encoding) or CompressedImage, stamped with the node clock.
Used by `make demo` and the tests; on a robot the real camera driver takes its place.

    python -m stmtrack_ros.tools.camera_publisher SOURCE [--fps 30] [--encoding rgb8|jpeg|...]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ..datasets import DatasetError
from ..datasets.frame_source import FrameSource

RAW_ENCODINGS = ("bgr8", "rgb8", "bgra8", "rgba8", "mono8", "mono16")
COMPRESSED = ("jpeg", "png")


def read_frames(source: str | Path, max_frames: int | None = None,
                size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """BGR frames of a video file or an image folder (in frame order, as `stmtrack track`
    reads them: `datasets.FrameSource`), at most `max_frames`, resized to `size` (w, h)."""
    frames = list(itertools.islice(FrameSource(source), max_frames))
    if not frames:
        raise DatasetError(f"no frames decoded from {source}")
    if size is not None:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


def parse_ranges(text: str) -> set[int]:
    """'10:20,30' -> {10..19, 30} (frame indexes to blank)."""
    out = set()
    for part in filter(None, text.split(",")):
        if ":" in part:
            a, b = part.split(":")
            out.update(range(int(a), int(b)))
        else:
            out.add(int(part))
    return out


def main(argv=None) -> int:
    from ..node.tracker_node import GIL_SWITCH_INTERVAL_S
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # its publishing thread, as in the node
    ap = argparse.ArgumentParser(prog="camera_publisher", description=__doc__.split("\n")[0])
    ap.add_argument("source", help="video file or folder of images")
    ap.add_argument("--topic", default="image", help="raw topic (compressed: TOPIC/compressed)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--encoding", default="rgb8", choices=RAW_ENCODINGS + COMPRESSED)
    ap.add_argument("--frame-id", default="camera",
                    help="header.frame_id; 'index' puts the frame number there (tests)")
    ap.add_argument("--max-frames", type=int, help="read at most this many frames")
    ap.add_argument("--loop", type=int, default=1, help="times to play the source (0 = forever)")
    ap.add_argument("--blank", default="", help="frame indexes to publish black, e.g. 30:60")
    ap.add_argument("--reliable", action="store_true", help="RELIABLE QoS (default: sensor data)")
    ap.add_argument("--wait-subscribers", type=float, default=10.0, metavar="S",
                    help="wait up to S s for --subscribers subscribers before starting")
    ap.add_argument("--subscribers", type=int, default=1, help="subscribers to wait for")
    ap.add_argument("--start-delay", type=float, default=0.0, metavar="S",
                    help="extra pause after a subscriber appeared")
    args = ap.parse_args(argv)

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import Header

    from ..node.convert import bgr_to_compressed, bgr_to_image

    try:
        frames = read_frames(args.source, args.max_frames)
    except ValueError as e:  # DatasetError: missing, empty or unreadable
        print(f"camera_publisher: error: {e}", file=sys.stderr)
        return 2
    blank = parse_ranges(args.blank)
    rclpy.init()
    node = rclpy.create_node("camera_publisher")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE) if args.reliable \
        else qos_profile_sensor_data
    compressed = args.encoding in COMPRESSED
    pub = node.create_publisher(CompressedImage if compressed else Image,
                                args.topic + "/compressed" if compressed else args.topic, qos)
    sent = 0
    try:
        deadline = time.monotonic() + args.wait_subscribers
        while pub.get_subscription_count() < args.subscribers and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(args.start_delay)
        period = 1.0 / args.fps
        t_next = time.monotonic()
        rnd = 0
        while args.loop == 0 or rnd < args.loop:
            for i, bgr in enumerate(frames):
                if i in blank:
                    bgr = np.zeros_like(bgr)
                if not rclpy.ok():  # SIGINT/SIGTERM shut the context down
                    raise KeyboardInterrupt
                header = Header(stamp=node.get_clock().now().to_msg(),
                                frame_id=str(sent) if args.frame_id == "index" else args.frame_id)
                msg = bgr_to_compressed(bgr, args.encoding, header) if compressed \
                    else bgr_to_image(bgr, args.encoding, header)
                pub.publish(msg)
                sent += 1
                t_next += period
                time.sleep(max(0.0, t_next - time.monotonic()))
            rnd += 1
    except KeyboardInterrupt:
        pass
    finally:
        print(f"camera_publisher: published {sent} frames", flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
