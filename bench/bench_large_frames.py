"""How many large camera frames reach the node, printed as JSON: this process publishes
bgr8 frames of the given size (4K by default) at a fixed rate to a real node process (no
target: the node converts, buffers and publishes IDLE Tracks); the node's /diagnostics
`frames_received` is compared with the frames sent. Run once per DDS profile to size the
shared-memory segment (docs/limits.md, "Node").

    source scripts/env.sh && python bench/bench_large_frames.py [--profile config/fastdds_localhost.xml]
        [--width 3840 --height 2160 --fps 5 --seconds 8]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default=str(REPO / "config" / "fastdds_localhost.xml"))
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--reliability", default="best_effort", choices=("best_effort", "reliable"),
                    help="the node's image_qos_reliability")
    args = ap.parse_args()
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(Path(args.profile).resolve())  # both sides

    from node_support import NodeProcess, RosClient, domain_id, test_checkpoint
    d = domain_id(61)
    frame = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_large_frames_{os.getpid()}.log"
    params = {"diagnostics_period": 0.5, "image_qos_reliability": args.reliability}
    with NodeProcess(d, log, test_checkpoint(), params=params) as proc:
        c = RosClient(d)
        try:
            c.wait_ready(proc)
            t_end = time.monotonic() + 30
            while c.track_count() == 0:  # discovery, on a small frame
                c.publish_bgr(frame[:240, :320].copy(), 0, "bgr8")
                time.sleep(0.1)
                if time.monotonic() > t_end:
                    raise SystemExit("the node never answered a frame")
            time.sleep(1.0)
            c.wait_for(lambda: c.diags, 10, "diagnostics")
            before = int(c.latest_diag_values()["frames_received"])
            n = int(args.seconds * args.fps)
            period, t_next, t0 = 1.0 / args.fps, time.monotonic(), time.monotonic()
            publish_ms = []
            for i in range(n):
                t1 = time.perf_counter()
                c.publish_bgr(frame, i + 1, "bgr8")
                publish_ms.append((time.perf_counter() - t1) * 1e3)
                t_next += period
                time.sleep(max(0.0, t_next - time.monotonic()))
            sent_s = time.monotonic() - t0
            time.sleep(2.0)  # the last frames and a fresh diagnostics message
            k = len(c.diags)
            c.wait_for(lambda: len(c.diags) > k + 1, 10, "fresh diagnostics")
            diag = c.latest_diag_values()
        finally:
            c.close()
        proc.stop()
    received = int(diag["frames_received"]) - before
    tracked = {int(m.header.frame_id) for m in c.track_msgs()}
    missing = [i for i in range(1, n + 1) if i not in tracked]  # not received or replaced
    print(json.dumps({
        "profile": Path(args.profile).name, "reliability": args.reliability,
        "frame": f"{args.width}x{args.height} bgr8",
        "frame_mb": round(frame.nbytes / 2**20, 1), "fps": args.fps, "sent": n,
        "received": received, "received_pct": round(100.0 * received / n, 1),
        "send_seconds": round(sent_s, 2), "publish_ms_mean": round(float(np.mean(publish_ms)), 1),
        "no_track_for": missing, "node_frames_dropped": diag.get("frames_dropped"),
        "node_buffer_mb": diag.get("buffer_mb"), "node_bad_images": diag.get("bad_images"),
        "host": "shared 2-core host; indicative only",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
