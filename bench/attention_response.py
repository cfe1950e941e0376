#!/usr/bin/env python3
"""Attention response of a checkpoint (stmtrack_ros/eval/attention_probe.py), printed as JSON:
the fg fraction query cells read from the memory, at the target and elsewhere, with the
model's own keys and with query-path keys. A read that matches appearance: near 1 at the
target, near 0 elsewhere.

    source scripts/env.sh && python bench/attention_response.py [--checkpoint PATH]
        --train-data ../shared/train_data [--sources davis2016_val] [--pairs 32] [--out FILE.json]
"""
import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
from probe_cli import add_model_args, emit, load_net  # noqa: E402
from stmtrack_ros.eval.attention_probe import attention_response  # noqa: E402
from stmtrack_ros.train.datasets import load_manifest_sequences  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(ap)
    ap.add_argument("--train-data", default=str(REPO.parent / "shared" / "train_data"),
                    help="a train_data folder: its labelled videos are used")
    ap.add_argument("--sources", default="davis2016_val", help="comma-separated video sources")
    ap.add_argument("--pairs", type=int, default=32)
    args = ap.parse_args(argv)
    ckpt, net, _ = load_net(args)
    videos = load_manifest_sequences(args.train_data, args.sources.split(",") if args.sources else None)
    if not videos:
        raise SystemExit(f"attention_response: no labelled video in {args.train_data} ({args.sources})")
    res = attention_response(net, videos, args.pairs)
    return emit(args, ckpt, f"{args.train_data} ({args.sources or 'all'})", res)


if __name__ == "__main__":
    main()
