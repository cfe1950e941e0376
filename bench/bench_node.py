"""Live node numbers on this machine, printed as JSON: the node process tracks the bundled
640x360 clip published at camera rate; measured are output rate, frames skipped (latest-frame
only), latency (image stamp -> Track received here, and the node's own arrival -> publish),
and service round trips while the tracker runs (a refused init = the service thread alone; a
real init = waiting for the tracking thread between two frames).

    source scripts/env.sh && python bench/bench_node.py [--seconds 8] [--fps 30] [--param backend=onnxruntime]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))

from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, test_checkpoint  # noqa: E402
from stmtrack_ros.tools.camera_publisher import read_frames  # noqa: E402


def pct(v, q):
    return round(float(np.percentile(v, q)), 1) if len(v) else None


def main() -> int:
    # This process stands in for a camera driver (C++ on a robot): with Python's default 5 ms
    # GIL switch interval its own threads throttle the publishing, as in the node.
    from stmtrack_ros.node.tracker_node import GIL_SWITCH_INTERVAL_S
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--checkpoint", default=str(test_checkpoint()))
    ap.add_argument("--encoding", default="rgb8")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a node parameter, e.g. backend=onnxruntime or device=cuda (repeatable)")
    args = ap.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    frames = read_frames(BUNDLED_CLIP)
    box = json.loads(CLIP_INFO.read_text())["init_box_xywh"]
    d = domain_id(60)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_node_{os.getpid()}.log"
    with NodeProcess(d, log, Path(args.checkpoint), params=params) as proc:
        c = RosClient(d)
        try:
            c.wait_ready(proc)
            t_end = time.monotonic() + 20
            while c.track_count() == 0 and time.monotonic() < t_end:
                c.publish_bgr(frames[0], 0, args.encoding)
                time.sleep(0.1)
            warm = c.track_count()
            sent = {}
            rtt_refused, rtt_init = [], []
            period = 1.0 / args.fps
            n = int(args.seconds * args.fps)
            t_next = time.monotonic()
            t_start = t_next
            for i in range(n):
                sent[str(i)] = c.publish_bgr(frames[i % len(frames)], i, args.encoding)
                if i == 2:
                    t0 = time.monotonic()
                    r = c.init_target(box, sent["0"])
                    rtt_init.append((time.monotonic() - t0) * 1e3)
                    assert r.success, r.message
                elif i > 2 and i % 10 == 0:
                    t0 = time.monotonic()
                    r = c.init_target((float("nan"), 0, 1, 1), 0)
                    rtt_refused.append((time.monotonic() - t0) * 1e3)
                t_next += period
                time.sleep(max(0.0, t_next - time.monotonic()))
            elapsed = time.monotonic() - t_start
            time.sleep(1.0)
            with c.lock:
                got = c.tracks[warm:]
            backend = c.latest_diag_values().get("backend", "")   # what auto chose
        finally:
            c.close()
    clock = [(t, m) for t, m in got if m.track_id == 1 and m.frame_index > 0]
    # stamp -> here: both clocks are this machine's system clock
    e2e = [(time.time() - time.monotonic() + t) * 1e3 - (m.header.stamp.sec * 1e3 +
                                                        m.header.stamp.nanosec / 1e6)
           for t, m in clock]
    node_lat = [m.latency_ms for _, m in clock]
    processed = {m.header.frame_id for _, m in got}
    out = {
        "device": params.get("device", "cpu"), "params": params, "backend": backend,
        "checkpoint": Path(args.checkpoint).name,
        "image": f"{frames[0].shape[1]}x{frames[0].shape[0]} {args.encoding}",
        "camera_fps": args.fps, "frames_published": n,
        "frames_processed": len(processed), "frames_skipped": n - len(processed),
        "output_hz": round(len(clock) / elapsed, 2),
        "latency_stamp_to_track_ms": {"p50": pct(e2e, 50), "p95": pct(e2e, 95)},
        "latency_in_node_ms": {"p50": pct(node_lat, 50), "p95": pct(node_lat, 95)},
        "service_refused_init_rtt_ms": {"p50": pct(rtt_refused, 50), "max": pct(rtt_refused, 100)},
        "service_init_rtt_ms": round(rtt_init[0], 1),
        "load_avg_1min": os.getloadavg()[0],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
