"""A small `ros2 bag record` stand-in (rosbag2 is not on PyPI): writes topics to an MCAP (or
sqlite3) bag with rosbags, taking the serialized bytes straight from DDS (raw subscription),
so what lands in the bag is byte for byte what was published.

    python -m stmtrack_ros.tools.recorder --out demo_out/track /track /diagnostics
It prints "recorder: recording ..." once every topic's subscription is matched with a
publisher (so nothing published after that line is missed). Stops on SIGINT/SIGTERM, after
--duration seconds or --count messages, and always closes the bag (an unclosed MCAP has no index).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time


def message_class(msgtype: str):
    """'pkg/msg/Name' -> the rclpy message class."""
    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def discover_types(node, topics: list[str], deadline: float) -> dict | None:
    """{topic: 'pkg/msg/Name'} once every topic is on the graph, or None (one error line
    logged) when `deadline` (monotonic) passes first."""
    import rclpy
    types = {}
    while len(types) < len(topics) and rclpy.ok():
        graph = dict(node.get_topic_names_and_types())
        for t in topics:
            name = t if t.startswith("/") else "/" + t
            if graph.get(name):
                types[t] = graph[name][0]
        if len(types) == len(topics):
            break
        if time.monotonic() > deadline:
            missing = sorted(set(topics) - set(types))
            node.get_logger().error(f"topics never appeared: {', '.join(missing)}")
            return None
        rclpy.spin_once(node, timeout_sec=0.05)
    return types if len(types) == len(topics) else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="recorder", description=__doc__.split("\n")[0])
    ap.add_argument("topics", nargs="+", help="topics to record (types found on the graph)")
    ap.add_argument("--out", required=True, help="bag folder to create")
    ap.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    ap.add_argument("--duration", type=float, default=0.0, help="stop after S s (0 = never)")
    ap.add_argument("--count", type=int, default=0,
                    help="stop after this many messages on the first topic (0 = never)")
    ap.add_argument("--discovery-timeout", type=float, default=20.0,
                    help="give up when a topic has not appeared (or matched) after S s")
    args = ap.parse_args(argv)

    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from .bags import open_writer, typestore

    rclpy.init()
    node = rclpy.create_node("stmtrack_recorder")
    store = typestore()
    counts = {t: 0 for t in args.topics}
    writer = None
    try:
        deadline = time.monotonic() + args.discovery_timeout
        types = discover_types(node, args.topics, deadline)
        if types is None:
            return 1
        writer = open_writer(args.out, args.storage)
        writer.open()
        subs = []
        for t, msgtype in types.items():
            conn = writer.add_connection(t if t.startswith("/") else "/" + t, msgtype,
                                         typestore=store)

            def on_msg(raw, conn=conn, t=t):
                writer.write(conn, node.get_clock().now().nanoseconds, raw)
                counts[t] += 1

            qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
            if msgtype.startswith("sensor_msgs/msg/"):  # cameras publish best effort
                qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
            subs.append(node.create_subscription(message_class(msgtype), t, on_msg, qos,
                                                 raw=True))
        # A topic on the graph is not yet a matched subscription: messages published before
        # DDS matched ours would be lost (the init result, the catch-up frames). Only then
        # say "recording", which callers wait for.
        while rclpy.ok():
            unmatched = [t for t, sub in zip(types, subs, strict=True)
                         if sub.get_publisher_count() == 0]
            if not unmatched:
                break
            if time.monotonic() > deadline:
                node.get_logger().error("no publisher matched on "
                                        f"{', '.join(unmatched)} (QoS mismatch?)")
                return 1
            rclpy.spin_once(node, timeout_sec=0.05)
        print(f"recorder: recording {', '.join(f'{t} ({m})' for t, m in types.items())} "
              f"to {args.out}", flush=True)
        t_end = time.monotonic() + args.duration if args.duration > 0 else None
        first = args.topics[0]
        while rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.05)
            if t_end is not None and time.monotonic() > t_end:
                break
            if args.count and counts[first] >= args.count:
                break
    except (KeyboardInterrupt, ExternalShutdownException):  # SIGINT, SIGTERM
        pass
    finally:
        if writer is not None:
            writer.close()
        print("recorder: " + ", ".join(f"{t}: {n} messages" for t, n in counts.items()),
              flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
