"""Tracker speed on this machine, printed as JSON (issue 3, item 6), measured side by side:

* `official_recorded`: the official tracker's per-frame wall time on this CPU, from the parity
  fixture (`time_wall_s`, portable seed-1 weights, GOT-10k hp, same sequence and frames);
* `baseline`: our exact-mode tracker with the speed-ups off (plain module, no BN folding,
  no channels-last): an in-process "official-like" run under today's load;
* `exact`: exact mode as shipped (BN-folded channels-last copy, inference mode);
* `bounded`: bounded mode (note: memory passes run only for confident frames);
* with --checkpoint: the same two modes on that model (e.g. the bundled small model).

Per run: update wall time (track + memorize) per frame, image-to-result latency (the `track`
call: crop + query pass + post-processing, what the node publishes on), memorize time, and the
achieved GFLOP/s (FlopCounterMode counts of the passes actually run) against a measured fp32
matmul ceiling. Goals: exact-mode throughput >= official; latency <= 0.65 x official frame time.

    source scripts/env.sh && python bench/bench_tracker.py [--frames 20] [--sequence DIR]
        [--checkpoint PATH] [--device cpu|cuda] [--threads N] [--no-baseline]
"""
import argparse
import json
import os

# before torch loads: spinning OpenMP waits make 2-thread torch several times slower when other
# jobs share the cores (see test/conftest.py); passive waiting costs a few % when idle
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stmtrack_ros.model import STMTrackNet, load_checkpoint  # noqa: E402
from stmtrack_ros.model.portable import portable_state_dict  # noqa: E402
from stmtrack_ros.tracker import Tracker, TrackerParams  # noqa: E402

SHARED = Path(os.environ.get("STMTRACK_SHARED", REPO.parent / "shared"))


def frames_of(seq: str, n: int):
    folder = SHARED / "data" / seq / "img"
    if not folder.is_dir():
        raise SystemExit(f"needs {folder} (the shared data); pass --sequence")
    files = sorted(folder.glob("*.jpg"))[:n]
    return [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]


def official_recorded(seq: str, n: int):
    fx = REPO / "test" / "data" / "parity" / f"track_seed1_{seq}.npz"
    if not fx.is_file():
        return None, None
    d = np.load(fx)
    wall = d["time_wall_s"][1:n]
    return {"frames": int(len(wall)), "mean_s": round(float(wall.mean()), 4),
            "cpu_mean_s": round(float(d["time_cpu_s"][1:n].mean()), 4),
            "median_s": round(float(np.median(wall)), 4), "min_s": round(float(wall.min()), 4),
            "source": f"test/data/parity/{fx.name} time_wall_s (official tracker, this CPU, 2 threads)"}, \
        d["init_box_xywh"]


def flop_model(net):
    """GFLOPs of one memorize and of track as a function of T (linear in T)."""
    s = net.config.q_size
    img = torch.full((1, 3, s, s), 100.0)
    lab = torch.zeros(1, 1, s, s)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as fc:
            f = net.memorize(img, lab)
        mem = fc.get_total_flops() / 1e9
        tr = []
        for t in (1, 2):
            with FlopCounterMode(display=False) as fc:
                net.track(img, torch.cat([f] * t, dim=2))
            tr.append(fc.get_total_flops() / 1e9)
    return mem, tr[0], tr[1] - tr[0]


def matmul_ceiling(n=2048, repeats=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best = min(_t(lambda: a @ b) for _ in range(repeats))
    return round(2 * n ** 3 / best / 1e9, 1)


def _t(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(net, params, frames, init_box, flops, warmup: int = 1):
    """Timings of frames after the first `warmup` updates (allocator and oneDNN primitive
    caches; with torch.compile, the compilations: the memory grows to its full T = 6 by the
    6th update), whose total time is reported as warmup_s."""
    tr = Tracker(net, params)
    mem_gf, trk1_gf, per_t = flops
    upd, lat, memo, cpu, gflop, warm = [], [], [], [], 0.0, 0.0
    tr.init(frames[0], init_box)
    tr.memorize()
    for k, frame in enumerate(frames[1:], 1):
        c0 = time.process_time()
        t0 = time.perf_counter()
        r = tr.track(frame)
        t1 = time.perf_counter()
        m = tr.memorize()
        t2 = time.perf_counter()
        c1 = time.process_time()
        if k <= warmup:
            warm += t2 - t0
            continue
        upd.append(t2 - t0)
        lat.append(t1 - t0)
        memo.append(t2 - t1)
        cpu.append(c1 - c0)
        gflop += trk1_gf + per_t * (len(r.memory_frames) - 1) + (mem_gf if m > 0 else 0.0)
    total = sum(upd)
    return {"frames_timed": len(upd), "warmup_s": round(warm, 2),
            "update_mean_s": round(statistics.mean(upd), 4),
            "update_median_s": round(statistics.median(upd), 4),
            "fps": round(len(upd) / total, 3),
            "update_cpu_mean_s": round(statistics.mean(cpu), 4),
            "latency_track_median_s": round(statistics.median(lat), 4),
            "latency_track_min_s": round(min(lat), 4),
            "memorize_median_s": round(statistics.median(memo), 4),
            "memorize_passes": sum(1 for m in memo if m > 1e-4),
            "gflop_per_frame": round(gflop / len(upd), 2),
            "achieved_gflop_per_s": round(gflop / total, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sequence", default="Crossing", help="a sequence of shared/data with a parity fixture")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--checkpoint", help="also benchmark this model (e.g. the bundled small model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (official: 2)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unoptimised in-process run")
    ap.add_argument("--compile", action="store_true",
                    help="also time the --checkpoint model with compile: true (bounded)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    frames = frames_of(args.sequence, args.frames + 1)
    official, init_box = official_recorded(args.sequence, len(frames))
    if init_box is None:
        init_box = np.loadtxt(SHARED / "data" / args.sequence / "groundtruth.txt", delimiter=",")[0]
    net = STMTrackNet()
    net.load_state_dict(portable_state_dict(1, include_unused=False))
    net.eval()
    flops = flop_model(net)
    ceiling = matmul_ceiling()
    base = TrackerParams(device=args.device)
    runs = {}
    if not args.no_baseline:
        runs["baseline"] = run(net, base.replace(mode="exact", optimize=False), frames, init_box, flops)
    runs["exact"] = run(net, base.replace(mode="exact"), frames, init_box, flops)
    runs["bounded"] = run(net, base.replace(mode="bounded"), frames, init_box, flops)
    small = {}
    if args.checkpoint:
        snet = load_checkpoint(args.checkpoint)
        sfl = flop_model(snet)
        small = {"checkpoint": args.checkpoint, "config": snet.config.to_dict(),
                 "gflops": {"memorize": round(sfl[0], 3), "track_T6": round(sfl[1] + 5 * sfl[2], 3)},
                 "exact": run(snet, base.replace(mode="exact"), frames, init_box, sfl),
                 "bounded": run(snet, base.replace(mode="bounded"), frames, init_box, sfl)}
        if args.compile:
            small["bounded_compiled"] = run(snet, base.replace(mode="bounded", compile=True),
                                            frames, init_box, sfl, warmup=6)
    for r in runs.values():
        r["fraction_of_matmul_ceiling"] = round(r["achieved_gflop_per_s"] / ceiling, 3)
    goals = {}
    ref = official or ({"mean_s": runs["baseline"]["update_mean_s"],
                        "median_s": runs["baseline"]["update_median_s"]} if "baseline" in runs else None)
    if ref:
        goals = {
            "exact_throughput_vs_official": round(ref["mean_s"] / runs["exact"]["update_mean_s"], 3),
            "exact_throughput_goal_met (>= 1)": ref["mean_s"] / runs["exact"]["update_mean_s"] >= 1,
            "latency_vs_official_frame": round(runs["exact"]["latency_track_median_s"] / ref["median_s"], 3),
            "latency_goal_met (<= 0.65)": runs["exact"]["latency_track_median_s"] / ref["median_s"] <= 0.65,
        }
        if "baseline" in runs:
            b = runs["baseline"]
            goals["exact_throughput_vs_inprocess_baseline"] = round(
                b["update_mean_s"] / runs["exact"]["update_mean_s"], 3)
            goals["latency_vs_inprocess_baseline_frame"] = round(
                runs["exact"]["latency_track_median_s"] / b["update_median_s"], 3)
    out = {"bench": "tracker", "sequence": args.sequence, "frames": len(frames),
           "device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(),
           "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
           "weights": "portable seed-1 (speed does not depend on the values)",
           "gflops_official_model": {"memorize": round(flops[0], 3), "track_T1": round(flops[1], 3),
                                     "track_per_extra_T": round(flops[2], 3),
                                     "frame_T6": round(flops[0] + flops[1] + 5 * flops[2], 3)},
           "matmul_ceiling_gflop_per_s": ceiling, "official_recorded": official,
           "runs": runs, "goals": goals}
    if small:
        out["small_model"] = small
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
