"""Small `ros2 service call` / `ros2 lifecycle` stand-ins (ros2cli is not on PyPI) for the
node's services; each prints the answer as one line and exits 0 on success, 1 otherwise.

    python -m stmtrack_ros.tools.call init_target X Y W H [--stamp SECONDS.FRACTION]
    python -m stmtrack_ros.tools.call reset
    python -m stmtrack_ros.tools.call lifecycle get | configure | activate | deactivate |
                                                cleanup | shutdown
Service names are relative, so `--ros-args -r __ns:=/robot` reaches a namespaced node.
"""
from __future__ import annotations

import argparse
import sys
import time

TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")


def _call(node, srv_type, name: str, request, timeout: float):
    import rclpy
    cli = node.create_client(srv_type, name)
    if not cli.wait_for_service(timeout_sec=timeout):
        raise TimeoutError(f"service {node.resolve_service_name(name)} not available after "
                           f"{timeout:g} s "
                           "(is the node running, on this ROS_DOMAIN_ID?)")
    fut = cli.call_async(request)
    t_end = time.monotonic() + timeout
    while not fut.done():
        if time.monotonic() > t_end:
            raise TimeoutError(f"service {node.resolve_service_name(name)} did not answer in "
                               f"{timeout:g} s")
        rclpy.spin_once(node, timeout_sec=0.05)
    return fut.result()


def run(node, args) -> tuple[bool, str]:
    """(success, one-line answer) of the requested call."""
    if args.what == "init_target":
        from stmtrack_ros.srv import InitTarget

        from .bags import parse_stamp
        req = InitTarget.Request(x=args.x, y=args.y, width=args.width, height=args.height)
        req.stamp.sec, req.stamp.nanosec = divmod(parse_stamp(args.stamp), 1_000_000_000)
        res = _call(node, InitTarget, "init_target", req, args.timeout)
        return res.success, f"success={res.success} track_id={res.track_id}: {res.message}"
    if args.what == "reset":
        from std_srvs.srv import Trigger
        res = _call(node, Trigger, "reset", Trigger.Request(), args.timeout)
        return res.success, f"success={res.success}: {res.message}"
    from lifecycle_msgs.srv import ChangeState, GetState
    if args.transition == "get":
        res = _call(node, GetState, f"{args.node}/get_state", GetState.Request(), args.timeout)
        return True, res.current_state.label
    req = ChangeState.Request()
    req.transition.label = args.transition
    res = _call(node, ChangeState, f"{args.node}/change_state", req, args.timeout)
    state = _call(node, GetState, f"{args.node}/get_state", GetState.Request(), args.timeout)
    return res.success, (f"{args.transition}: success={res.success}, now "
                         f"{state.current_state.label}")


def main(argv=None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    ap = argparse.ArgumentParser(prog="call", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    init = sub.add_parser("init_target", parents=[common],
                          help="start tracking the box X Y W H (pixels)")
    for name in ("x", "y", "width", "height"):
        init.add_argument(name, type=float)
    init.add_argument("--stamp", default="0",
                      help="header stamp of the image the box was drawn on (default 0 = newest)")
    sub.add_parser("reset", parents=[common], help="forget the target (IDLE)")
    life = sub.add_parser("lifecycle", parents=[common], help="get the lifecycle state or change it")
    life.add_argument("transition", choices=("get", *TRANSITIONS))
    life.add_argument("--node", default="stmtrack", help="node name (default stmtrack)")
    import rclpy
    from rclpy.utilities import remove_ros_args
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(remove_ros_args(["call", *argv])[1:])

    rclpy.init(args=["call", *argv])
    node = rclpy.create_node("stmtrack_call")
    try:
        ok, answer = run(node, args)
    except (TimeoutError, ValueError) as e:
        ok, answer = False, f"error: {e}"
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    print(answer, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
