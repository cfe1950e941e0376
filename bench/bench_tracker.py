"""Tracker speed on this machine, printed as JSON (issue 3, item 6), measured side by side:

* `official_recorded`: the official tracker's per-frame wall time on this CPU, from the parity
  fixture (`time_wall_s`, portable seed-1 weights, GOT-10k hp, same sequence and frames);
* `baseline`: our exact-mode tracker with the speed-ups off (plain module, no BN folding,
  no channels-last): an in-process "official-like" run under today's load;
* `exact`: exact mode as shipped (BN-folded channels-last copy, inference mode);
* `bounded`: bounded mode (note: memory passes run only for confident frames);
* with --checkpoint: the same two modes on that model (e.g. the bundled small model);
* with --backends torch,onnxruntime (and/or --nanotrack): the small model side by side in
  bounded mode on each backend, NanoTrack v2 through OpenCV on the same frames, interleaved
  pass by pass over --rounds passes so that the host's load falls on every row alike (and the
  official network in exact mode on each backend, unless --no-official).

Per run: update wall time (track + memorize) per frame, image-to-result latency (the `track`
call: crop + query pass + post-processing, what the node publishes on), memorize time, and the
achieved GFLOP/s (FlopCounterMode counts of the passes actually run) against a measured fp32
matmul ceiling. Goals: exact-mode throughput >= official; latency <= 0.65 x official frame time.

    source scripts/env.sh && python bench/bench_tracker.py [--frames 20] [--sequence DIR]
        [--checkpoint PATH] [--device cpu|cuda] [--threads N] [--no-baseline] [--no-official]
        [--backends auto,torch,onnxruntime] [--nanotrack [DIR]] [--mode bounded|exact]
        [--rounds N] [--out FILE]
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

from stmtrack_ros.model import STMTrackNet, default_checkpoint_path, load_checkpoint  # noqa: E402
from stmtrack_ros.model.portable import portable_state_dict  # noqa: E402
from stmtrack_ros.tracker import Tracker, TrackerParams  # noqa: E402

SHARED = Path(os.environ.get("STMTRACK_SHARED", REPO.parent / "shared"))
LOAD_AT_START = round(os.getloadavg()[0], 2)


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


class Timed:
    """Per-frame timings of one tracker configuration, gathered over one or more passes over
    the frames (interleaved with other configurations, so the host's changing load falls on
    all of them alike). The first `warmup` updates of each pass are not timed (allocator and
    oneDNN primitive caches; with torch.compile, the compilations: the memory grows to its
    full T = 6 by the 6th update); their total is reported as warmup_s."""

    def __init__(self, tracker, flops, warmup: int = 1):
        self.tracker, self.flops, self.warmup = tracker, flops, warmup
        self.upd, self.lat, self.memo, self.cpu, self.gflop, self.warm = [], [], [], [], 0.0, 0.0

    def one_pass(self, frames, init_box) -> None:
        tr = self.tracker
        mem_gf, trk1_gf, per_t = self.flops
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
            if k <= self.warmup:
                self.warm += t2 - t0
                continue
            self.upd.append(t2 - t0)
            self.lat.append(t1 - t0)
            self.memo.append(t2 - t1)
            self.cpu.append(c1 - c0)
            self.gflop += trk1_gf + per_t * (len(r.memory_frames) - 1) + (mem_gf if m > 0 else 0.0)

    def summary(self) -> dict:
        upd, total = self.upd, sum(self.upd)
        return {"frames_timed": len(upd), "warmup_s": round(self.warm, 2),
                "update_mean_s": round(statistics.mean(upd), 4),
                "update_median_s": round(statistics.median(upd), 4),
                "fps": round(len(upd) / total, 3),
                "fps_of_median": round(1.0 / statistics.median(upd), 1),
                "update_cpu_mean_s": round(statistics.mean(self.cpu), 4),
                "latency_track_median_s": round(statistics.median(self.lat), 4),
                "latency_track_min_s": round(min(self.lat), 4),
                "memorize_median_s": round(statistics.median(self.memo), 4),
                "memorize_passes": sum(1 for m in self.memo if m > 1e-4),
                "gflop_per_frame": round(self.gflop / len(upd), 2),
                "achieved_gflop_per_s": round(self.gflop / total, 1)}


def run(net, params, frames, init_box, flops, warmup: int = 1):
    """One configuration, one pass (see Timed)."""
    t = Timed(Tracker(net, params), flops, warmup)
    t.one_pass(frames, init_box)
    return t.summary()


class TimedNano:
    """NanoTrack v2 through OpenCV (cv2.TrackerNano, the eval peer) on the same frames."""

    def __init__(self, folder=None, warmup: int = 1):
        from stmtrack_ros.eval.peers import nano
        self.tracker, self.warmup, self.upd, self.cpu = nano(folder), warmup, [], []

    def one_pass(self, frames, init_box) -> None:
        self.tracker.init(frames[0], init_box)
        for k, frame in enumerate(frames[1:], 1):
            c0, t0 = time.process_time(), time.perf_counter()
            self.tracker.update(frame)
            t1, c1 = time.perf_counter(), time.process_time()
            if k > self.warmup:
                self.upd.append(t1 - t0)
                self.cpu.append(c1 - c0)

    def summary(self) -> dict:
        return {"frames_timed": len(self.upd), "update_median_s": round(statistics.median(self.upd), 4),
                "fps": round(len(self.upd) / sum(self.upd), 3),
                "fps_of_median": round(1.0 / statistics.median(self.upd), 1),
                "update_cpu_mean_s": round(statistics.mean(self.cpu), 4)}


def side_by_side(net, flops, backends, frames, init_box, rounds: int, nanotrack, device, compile_too,
                 mode: str = "bounded"):
    """The small model in `mode` on each backend (and torch.compile, and NanoTrack v2),
    interleaved pass by pass over `rounds` passes: one run, one load, comparable rows; each
    row says the backend it ran on (what `auto` chose)."""
    base = TrackerParams(device=device, mode=mode)
    timed = {}
    for b in backends:
        t0 = time.perf_counter()
        timed[f"{mode}_{b}"] = Timed(Tracker(net, base.replace(backend=b)), flops)
        timed[f"{mode}_{b}"].setup_s = round(time.perf_counter() - t0, 2)  # ORT: export + sessions
    if compile_too:
        timed[f"{mode}_torch_compiled"] = Timed(Tracker(net, base.replace(compile=True)), flops,
                                                warmup=6)
    if nanotrack is not None:
        timed["nanotrack_v2_opencv"] = TimedNano(nanotrack or None)
    for _ in range(rounds):
        for t in timed.values():
            t.one_pass(frames, init_box)
    out = {}
    for name, t in timed.items():
        out[name] = t.summary()
        if hasattr(t, "setup_s"):
            out[name]["setup_s"] = t.setup_s
        if isinstance(t, Timed):
            out[name]["backend"] = t.tracker.backend.name
    ref = out.get(f"{mode}_torch")
    for name, r in out.items():
        if ref is not None and name != f"{mode}_torch":
            r["speedup_vs_torch_median"] = round(ref["update_median_s"] / r["update_median_s"], 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sequence", default="Crossing", help="a sequence of shared/data with a parity fixture")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--checkpoint", help="also benchmark this model (e.g. the bundled small model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads (official: 2)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unoptimised in-process run")
    ap.add_argument("--no-official", action="store_true", help="skip the official network's runs")
    ap.add_argument("--compile", action="store_true",
                    help="also time the --checkpoint model with compile: true (bounded)")
    ap.add_argument("--backends", default="torch",
                    help="comma-separated backends (auto, torch, onnxruntime): with more than torch, the "
                         "--checkpoint model runs side by side on each (bounded), and the official "
                         "network in exact mode on each")
    ap.add_argument("--nanotrack", nargs="?", const="", default=None, metavar="DIR",
                    help="also time NanoTrack v2 through OpenCV beside the --checkpoint model "
                         "(DIR: its ONNX folder; default the eval peer's)")
    ap.add_argument("--mode", default="bounded", choices=("bounded", "exact"),
                    help="side by side: the --checkpoint model's memory mode (default bounded)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="side by side: passes over the frames, interleaved between the rows")
    ap.add_argument("--out", help="also write the JSON to this file (e.g. docs/bench/...)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    backends = [b for b in args.backends.split(",") if b]
    frames = frames_of(args.sequence, args.frames + 1)
    official, init_box = official_recorded(args.sequence, len(frames))
    if init_box is None:
        init_box = np.loadtxt(SHARED / "data" / args.sequence / "groundtruth.txt", delimiter=",")[0]
    ceiling = matmul_ceiling()
    base = TrackerParams(device=args.device, threads=args.threads, backend="torch")  # rows name others
    runs, flops, goals = {}, None, {}
    if not args.no_official:
        net = STMTrackNet()
        net.load_state_dict(portable_state_dict(1, include_unused=False))
        net.eval()
        flops = flop_model(net)
        if not args.no_baseline:
            runs["baseline"] = run(net, base.replace(mode="exact", optimize=False), frames, init_box, flops)
        runs["exact"] = run(net, base.replace(mode="exact"), frames, init_box, flops)
        runs["bounded"] = run(net, base.replace(mode="bounded"), frames, init_box, flops)
        for b in backends:
            if b != "torch":
                runs[f"exact_{b}"] = run(net, base.replace(mode="exact", backend=b), frames, init_box, flops)
        for r in runs.values():
            r["fraction_of_matmul_ceiling"] = round(r["achieved_gflop_per_s"] / ceiling, 3)
        goals = official_goals(official, runs)
    small = {}
    ckpt = args.checkpoint or (str(default_checkpoint_path()) if backends != ["torch"] or
                               args.nanotrack is not None else None)
    if ckpt:
        snet = load_checkpoint(ckpt)
        sfl = flop_model(snet)
        small = {"checkpoint": ckpt, "config": snet.config.to_dict(),
                 "gflops": {"memorize": round(sfl[0], 3), "track_T6": round(sfl[1] + 5 * sfl[2], 3)}}
        if backends == ["torch"] and args.nanotrack is None:
            small["exact"] = run(snet, base.replace(mode="exact"), frames, init_box, sfl)
            small["bounded"] = run(snet, base.replace(mode="bounded"), frames, init_box, sfl)
            if args.compile:
                small["bounded_compiled"] = run(snet, base.replace(mode="bounded", compile=True),
                                                frames, init_box, sfl, warmup=6)
        else:
            small["side_by_side"] = side_by_side(snet, sfl, backends, frames, init_box, args.rounds,
                                                 args.nanotrack, args.device, args.compile, args.mode)
            fps = {k: v["fps_of_median"] for k, v in small["side_by_side"].items()}
            small["goal_100fps_bounded"] = {k: v >= 100 for k, v in fps.items() if k.startswith("bounded")}
    out = {"bench": "tracker", "sequence": args.sequence, "frames": len(frames),
           "device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "onnxruntime": _version("onnxruntime"), "opencv": cv2.__version__,
           "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_avg_1min_at_start_and_end": [LOAD_AT_START, round(os.getloadavg()[0], 2)],
           "note": "wall times follow the host's load: compare rows of one run, read the CPU column",
           "matmul_ceiling_gflop_per_s": ceiling}
    if not args.no_official:
        out.update({"weights": "portable seed-1 (speed does not depend on the values)",
                    "gflops_official_model": {"memorize": round(flops[0], 3), "track_T1": round(flops[1], 3),
                                              "track_per_extra_T": round(flops[2], 3),
                                              "frame_T6": round(flops[0] + flops[1] + 5 * flops[2], 3)},
                    "official_recorded": official, "runs": runs, "goals": goals})
    if small:
        out["small_model"] = small
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


def official_goals(official, runs) -> dict:
    ref = official or ({"mean_s": runs["baseline"]["update_mean_s"],
                        "median_s": runs["baseline"]["update_median_s"]} if "baseline" in runs else None)
    if not ref:
        return {}
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
    return goals


def _version(module: str):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    sys.exit(main())
