"""`stmtrack train --config FILE [--resume CKPT] [--set key=value ...]`.

The same command runs on one CPU process or under torchrun (one process per GPU, any number
of nodes): `torchrun --nproc_per_node=N -m stmtrack_ros.cli train --config ...`.
"""
from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training YAML (see config/train/)")
    parser.add_argument("--resume", default=None, metavar="CKPT",
                        help="continue from a checkpoint written by a previous run "
                             "(e.g. OUT/checkpoints/last.pt)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, dotted keys, YAML values (e.g. optim.lr=0.01); "
                             "repeatable")


def run(args) -> int:
    # Spinning OpenMP waits make multi-thread torch ~10x slower on shared, busy cores (measured
    # on the 2-core dev VM); passive waits cost nothing when the cores are free. Must precede
    # the first torch import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ..datasets import DatasetError
    from ..model.checkpoint import CheckpointError
    from .config import ConfigError, load_config
    try:
        cfg = load_config(args.config, args.overrides)
        from .engine import train
        summary = train(cfg, resume=args.resume)
    except (ConfigError, DatasetError, CheckpointError, FileNotFoundError, FloatingPointError) as e:
        # errors raised in a DataLoader worker arrive with the worker's traceback: keep its last line
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()] or [type(e).__name__]
        print(f"stmtrack train: {lines[-1]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stmtrack train: interrupted; continue with --resume OUT/checkpoints/last.pt", file=sys.stderr)
        return 130
    print(f"train: done; final checkpoint {summary['final']}", flush=True)
    return 0
