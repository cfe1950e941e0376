"""A small `ros2 topic echo` stand-in (ros2cli is not on PyPI): prints each message of one
topic as a JSON line, its type found on the graph.

    python -m stmtrack_ros.tools.echo /track --count 5
Exits 0 after --count messages (or at --timeout without --count); 1 when the topic never
appears, or --timeout passes before --count messages.
"""
from __future__ import annotations

import argparse
import array
import json
import sys
import time

LONG_SEQUENCE = 64  # longer arrays (image data) are shown as their length only


def to_plain(value):
    """A message (or field value) as JSON-able Python: nested dicts, lists, numbers, text."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: to_plain(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, (bytes, bytearray, array.array)) or type(value).__name__ == "ndarray":
        return f"<{len(value)} items>" if len(value) > LONG_SEQUENCE else \
            [to_plain(v) for v in list(value)]
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="echo", description=__doc__.split("\n")[0])
    ap.add_argument("topic")
    ap.add_argument("--count", type=int, default=0, help="stop after N messages (0 = never)")
    ap.add_argument("--timeout", type=float, default=0.0,
                    help="stop after S s (0 = never); with --count, failing if fewer came")
    ap.add_argument("--best-effort", action="store_true",
                    help="best-effort QoS (for sensor-data publishers); default reliable")
    args = ap.parse_args(argv)

    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from .recorder import discover_types, message_class

    rclpy.init()
    node = rclpy.create_node("stmtrack_echo")
    seen = 0
    t_end = time.monotonic() + args.timeout if args.timeout > 0 else float("inf")
    try:
        types = discover_types(node, [args.topic], min(t_end, time.monotonic() + 3600))
        if types is None:
            return 1

        def on_msg(msg):
            nonlocal seen
            seen += 1
            print(json.dumps(to_plain(msg)), flush=True)

        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT if args.best_effort
                         else ReliabilityPolicy.RELIABLE)
        node.create_subscription(message_class(types[args.topic]), args.topic, on_msg, qos)
        while rclpy.ok() and not (args.count and seen >= args.count):
            if time.monotonic() > t_end:
                if not args.count:
                    break
                node.get_logger().error(f"{seen} of {args.count} messages on {args.topic} "
                                        f"in {args.timeout:g} s")
                return 1
            rclpy.spin_once(node, timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):  # SIGINT, SIGTERM
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
