"""Network cost on this machine, printed as JSON: FLOPs per pass (torch FlopCounterMode: conv
and matmul, 2 per MAC) and wall time (median of --repeats) of memorize (1 frame) and track
(T memory frames), for the plain module, the BN-folded copy and the BN-folded channels-last
copy (what the tracker runs), against a measured large fp32 matmul ceiling. Wall times on a
shared machine mostly measure the other jobs: each timing also reports process CPU time, and
`--threads 1` gives the cleanest per-core figures (ceiling measured with the same threads).

    source scripts/env.sh && python bench/bench_model.py [--config official|small]
        [--checkpoint PATH] [--device cpu|cuda] [--T 6] [--repeats 8] [--threads N]

Without --checkpoint the official config runs on the portable seed-1 weights (speed does
not depend on the values) and the small config on the bundled checkpoint when present.
Official reference (this 2-core VM, torch 2.13, 2 threads): 32.3 GFLOPs memorize,
51.9 GFLOPs track at T=6; about 0.26 s and 0.38 s per pass.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

# spinning OpenMP waits make multi-thread torch several times slower on shared cores
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from stmtrack_ros.model import STMTrackNet, default_checkpoint_path, load_checkpoint, resolve_device  # noqa: E402

OFFICIAL_REFERENCE = {"memorize_gflops": 32.315, "track_gflops_T6": 51.851,
                      "memorize_s": 0.26, "track_s_T6": 0.38, "tracker_frame_s": 0.65}


def build(args):
    if args.checkpoint:
        return load_checkpoint(args.checkpoint, device=args.device), args.checkpoint
    if args.config == "small":
        p = default_checkpoint_path()
        if p.exists():
            return load_checkpoint(p, device=args.device), str(p)
        from stmtrack_ros.model.backbone_small import small_config
        net = STMTrackNet(small_config()).to(resolve_device(args.device)).eval()
        return net, "random init (small_config)"
    from stmtrack_ros.model.portable import portable_state_dict
    net = STMTrackNet()
    net.load_state_dict(portable_state_dict(1, include_unused=False))
    return net.to(resolve_device(args.device)).eval(), "portable seed-1 weights"


def inputs(net, t, device):
    s = net.config.q_size
    g = torch.Generator().manual_seed(0)
    img = (torch.rand(1, 3, s, s, generator=g) * 255).floor().to(device)
    lab = torch.zeros(1, 1, s, s)
    lab[..., s // 3: 2 * s // 3, s // 3: 2 * s // 3] = 1
    with torch.inference_mode():
        mem = torch.cat([net.memorize(img, lab.to(device)) for _ in range(t)], dim=2)
    return img, lab.to(device), mem


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeats, device, warmup=2):
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        ts, cpu = [], []
        for _ in range(repeats):
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            sync(device)
            ts.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    # process CPU time (all threads) is what the pass costs when other jobs share the cores
    return {"median_s": round(statistics.median(ts), 4), "min_s": round(min(ts), 4),
            "cpu_median_s": round(statistics.median(cpu), 4), "runs": len(ts)}


def flops(fn):
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def matmul_ceiling(device, n=2048, repeats=5):
    """Large fp32 matmul GFLOP/s: by wall time (best run) and by process CPU time (per
    core-second, comparable with the cpu-based figures of the passes)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    t = timed(lambda: a @ b, repeats, device)
    gf = 2 * n ** 3 / 1e9
    return {"wall": round(gf / t["min_s"], 1), "cpu": round(gf / t["cpu_median_s"], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=("official", "small"), default="official")
    ap.add_argument("--checkpoint", default=None, help="a checkpoint file (overrides --config)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--T", type=int, default=6, help="memory frames read by track")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    net, weights = build(args)
    img, lab, mem = inputs(net, args.T, device)

    gf_mem = flops(lambda: net.memorize(img, lab)) / 1e9
    gf_trk = flops(lambda: net.track(img, mem)) / 1e9
    ceiling = matmul_ceiling(device)
    variants = {"plain": net,
                "bn_folded": net.optimized_copy(fold_bn=True, channels_last=False),
                "bn_folded_channels_last": net.optimized_copy(fold_bn=True, channels_last=True)}
    results = {}
    for name, m in variants.items():
        tm = timed(lambda m=m: m.memorize(img, lab), args.repeats, device)
        tt = timed(lambda m=m: m.track(img, mem), args.repeats, device)
        frame = tm["median_s"] + tt["median_s"]
        frame_cpu = tm["cpu_median_s"] + tt["cpu_median_s"]
        results[name] = {
            "memorize": tm, "track": tt, "frame_s": round(frame, 4), "frame_cpu_s": round(frame_cpu, 4),
            "memorize_gflop_per_s": round(gf_mem / tm["median_s"], 1),
            "track_gflop_per_s": round(gf_trk / tt["median_s"], 1),
            "fraction_of_matmul_ceiling_wall": round((gf_mem + gf_trk) / frame / ceiling["wall"], 3),
            "fraction_of_matmul_ceiling_cpu": round((gf_mem + gf_trk) / frame_cpu / ceiling["cpu"], 3),
        }
    best = min(results, key=lambda k: results[k]["frame_s"])
    official_frame_s = OFFICIAL_REFERENCE["memorize_s"] + OFFICIAL_REFERENCE["track_s_T6"]
    best_cpu = min(results, key=lambda k: results[k]["frame_cpu_s"])
    out = {
        "bench": "model", "config": net.config.to_dict(), "weights": weights, "device": str(device),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_avg_1min": round(os.getloadavg()[0], 2), "T": args.T,
        "gflops": {"memorize": round(gf_mem, 3), "track": round(gf_trk, 3),
                   "frame": round(gf_mem + gf_trk, 3)},
        "matmul_ceiling_gflop_per_s": ceiling,
        "variants": results, "fastest_wall": best, "fastest_cpu": best_cpu,
        "speedup_vs_official_network": (round(official_frame_s / results[best]["frame_s"], 2)
                                        if args.T == 6 else None),
        "official_reference": OFFICIAL_REFERENCE,
    }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
