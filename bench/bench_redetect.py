"""Frame rate while LOST with whole-frame re-detection (issue 19, item 5), printed as JSON.

The bundled small model on 640x480 frames (the demo clip, resized), one target of --target px:
per backend, the update wall time (track + memorize) per frame while TRACKING (default
parameters) and while LOST with `redetect_tiles` crops scanned per frame (thresholds at 1 keep
it LOST and searching on every frame). Rows are interleaved pass by pass over --rounds so that
the host's load falls on every row alike. Goal: >= 15 fps while LOST.

    source scripts/env.sh && python bench/bench_redetect.py [--frames 30] [--rounds 3]
        [--backends torch,onnxruntime] [--tiles 1,2,4] [--threads 2] [--out FILE]
"""
import argparse
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as bench_tracker.py: shared cores
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint  # noqa: E402
from stmtrack_ros.tracker import Tracker, TrackerParams  # noqa: E402

DEMO = REPO / "stmtrack_ros" / "data" / "demo" / "bigbuckbunny_100.mp4"
LOAD_AT_START = round(os.getloadavg()[0], 2)


def demo_frames(n: int):
    cap = cv2.VideoCapture(str(DEMO))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, (640, 480)))
    cap.release()
    if not frames:
        raise SystemExit(f"{DEMO} unreadable")
    return frames


def one_pass(tracker, frames, box) -> list:
    tracker.init(frames[0], box)
    ms = []
    for f in frames[1:]:
        t0 = time.perf_counter()
        tracker.update(f)
        ms.append((time.perf_counter() - t0) * 1000.0)
    return ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backends", default="torch,onnxruntime")
    ap.add_argument("--tiles", default="1,2,4", help="redetect_tiles values to measure")
    ap.add_argument("--target", type=float, default=60.0, help="target side in px")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="also write the JSON to this file (e.g. docs/bench/...)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    frames = demo_frames(args.frames + 1)
    s = args.target
    box = (320 - s / 2, 240 - s / 2, s, s)
    net = load_checkpoint(default_checkpoint_path())
    lost = dict(lost_threshold=1.0, recover_threshold=1.0, lost_frames=1)
    rows = {}
    for backend in args.backends.split(","):
        base = dict(backend=backend, threads=args.threads)
        rows[f"{backend} tracking"] = Tracker(net, TrackerParams(**base))
        for k in (int(v) for v in args.tiles.split(",")):
            rows[f"{backend} lost, redetect_tiles {k}"] = Tracker(
                net, TrackerParams(**base, **lost, redetect_tiles=k))
    for tr in rows.values():
        tr.warm_up()
    times = {name: [] for name in rows}
    tiles = {}
    for _ in range(args.rounds):
        for name, tr in rows.items():
            times[name] += one_pass(tr, frames, box)
            tiles[name] = tr.redetection.tiles
    out = {
        "what": "update wall ms per frame, small model, 640x480, target "
                f"{s:.0f}x{s:.0f} px; LOST rows scan redetect_tiles crops per frame",
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "threads": args.threads,
                 "load_at_start": LOAD_AT_START, "load_at_end": round(os.getloadavg()[0], 2)},
        "frames": args.frames, "rounds": args.rounds,
        "runs": {name: {"ms_median": round(statistics.median(v), 1),
                        "ms_p90": round(sorted(v)[int(0.9 * (len(v) - 1))], 1),
                        "fps_median": round(1000.0 / statistics.median(v), 1),
                        "grid_tiles": tiles[name]}
                 for name, v in times.items()},
        "goal": "LOST with re-detection >= 15 fps (small model, 640x480)",
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
