#!/usr/bin/env python3
"""Attention response of a checkpoint (research/attention_probe.py), printed as JSON:
the fg fraction query cells read from the memory, at the target and elsewhere, with the
model's own keys and with query-path keys. A read that matches appearance: near 1 at the
target, near 0 elsewhere.

    source scripts/env.sh && python -m research.attention_response [--checkpoint PATH]
        --train-data ../shared/train_data [--sources davis2016_val] [--pairs 32] [--out FILE.json]
"""
import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see test/conftest.py
from stmtrack_ros.train.training_set import load_manifest_sequences  # noqa: E402

from .attention_probe import attention_response  # noqa: E402
from .probe_cli import add_model_args, add_train_data_args, emit, load_net, sources_of  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(ap)
    add_train_data_args(ap, "its labelled videos are used", "davis2016_val", 32)
    args = ap.parse_args(argv)
    ckpt, net, _ = load_net(args)
    videos = load_manifest_sequences(args.train_data, sources_of(args))
    if not videos:
        raise SystemExit(f"attention_response: no labelled video in {args.train_data} ({args.sources})")
    res = attention_response(net, videos, args.pairs)
    return emit(args, ckpt, f"{args.train_data} ({args.sources or 'all'})", res)


if __name__ == "__main__":
    main()
