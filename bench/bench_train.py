"""Training speed of a config on this machine, printed as JSON: the real `stmtrack train` loop
(data workers, forward, losses, backward, SGD step) run for --iters iterations into a temp
folder; reports the median and best seconds per iteration (the first iteration, which starts
the workers, is dropped), samples/s and the data-wait share. On a shared machine wall time
mostly measures the other jobs; compare runs taken at the same load.

--cache N: the same config twice in this process, through the frozen backbones and then on a
feature cache of N samples (train/feature_cache.py; both backbones wholly frozen in both
runs), each with its own JSON block plus the speed-up and the time to build the pool.

    source scripts/env.sh && python bench/bench_train.py [--config config/train/small_default.yaml]
        [--iters 8] [--set key=value ...] [--cache N] [--out docs/bench/train_cache.json]
"""
import argparse
import contextlib
import csv
import io
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `stmtrack train` does


FREEZE_BACKBONES = "optim.freeze=[{from_epoch: 0, frozen: ['^basemodel_[mq]\\.']}]"


def run(config: str, overrides: list, iters: int) -> dict:
    """One timed `train` run; its JSON block."""
    import torch

    from stmtrack_ros.train.config import load_config
    from stmtrack_ros.train.engine import train
    with tempfile.TemporaryDirectory() as out:
        base = load_config(config, overrides)
        batch = int(base["optim"]["batch_size"])
        cfg = load_config(config, overrides + [
            f"out_dir={out}", "optim.epochs=1", f"optim.samples_per_epoch={batch * (iters + 1)}",
            "log.every=1", "log.progress=false", "log.tensorboard=false", "log.checkpoint_every=0",
            "val.every_epochs=0"])
        t0, c0 = time.perf_counter(), time.process_time()
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            train(cfg)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        with open(os.path.join(out, "train_log.csv")) as f:
            rows = list(csv.DictReader(f))[1:]
    built = re.search(r"feature cache \S+ ready in ([0-9.]+) s", printed.getvalue())
    per_it = [float(r["s_per_iter"]) for r in rows]
    data = [float(r["data_s"]) for r in rows]
    return {
        "config": config, "overrides": overrides, "batch_size": batch,
        "model": cfg["model"], "threads": cfg["threads"] or torch.get_num_threads(),
        "num_workers": cfg["data"]["num_workers"], "feature_cache": cfg["data"]["feature_cache"],
        "cache_build_s": float(built.group(1)) if built else None, "iterations_timed": len(per_it),
        "s_per_iter_median": round(statistics.median(per_it), 3), "s_per_iter_best": round(min(per_it), 3),
        "samples_per_s": round(batch / statistics.median(per_it), 2),
        "data_wait_share": round(sum(data) / max(sum(per_it), 1e-9), 3),
        "total_wall_s": round(wall, 1), "main_process_cpu_s": round(cpu, 1),
        "load_avg_1min": os.getloadavg()[0], "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="config/train/small_default.yaml")
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--cache", type=int, default=0, help="also run on a feature cache of N samples")
    ap.add_argument("--out", help="also write the JSON here")
    a = ap.parse_args()
    if not a.cache:
        result = run(a.config, a.overrides, a.iters)
    else:
        frozen = a.overrides + [FREEZE_BACKBONES]
        direct = run(a.config, frozen + ["data.feature_cache=0"], a.iters)
        cached = run(a.config, frozen + [f"data.feature_cache={a.cache}"], a.iters)
        result = {"through_backbones": direct, "feature_cache": cached,
                  "speedup_samples_per_s": round(cached["samples_per_s"] / direct["samples_per_s"], 2),
                  "note": "same process, one after the other; the host is shared, so wall times "
                          "are indicative"}
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
