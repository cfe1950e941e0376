#!/usr/bin/env python3
"""The probes on a training run's checkpoints, as training validation logged them for stages
2f-2p (`val_log.csv`): the scale probe on labelled videos (`scale_x<f>`: median predicted /
true size with the query cropped at f x the true scale; `probe_iou_x<f>`) and the label probe
on stills (`memory_unrelated_corr` near 1 = the score ignores the memory, `label_swap_corr`,
`distractor_hits` near 1 = a neighbour at the crop centre does not fool it). One JSON line per
checkpoint, so a run's `epoch-*.pt` files give the curve training used to log.

    source scripts/env.sh && python -m research.checkpoint_probes \
        --label-root ../shared/train_data [--label-sources voc_mAP_sample,coco_mini] [--pairs 60] \
        [--videos ../shared/train_data --video-sources davis2016_val --scale-factors 0.67,1.5] \
        runs/small_regfirst/checkpoints/epoch-*.pt
"""
from __future__ import annotations

import argparse
import copy
import json
import sys

from stmtrack_ros.datasets import DatasetError
from stmtrack_ros.model import load_checkpoint
from stmtrack_ros.model.checkpoint import CheckpointError
from stmtrack_ros.tracker.params import HP_PRESETS
from stmtrack_ros.train.training_set import load_manifest_images
from stmtrack_ros.train.validate import load_val_videos

from .label_probe import label_response
from .scale_probe import probe_sequences

#: label_response keys -> the names training validation logged them under
LABEL_SCORES = {"unrelated_memory_score_corr": "memory_unrelated_corr", "score_corr_mean": "label_swap_corr",
                "distractor_centred_peak_on_target": "distractor_hits"}


def probe_scores(net, val_cfg: dict, scale_factors=(), label_probe: dict | None = None) -> dict:
    """{'scale_x<f>', 'probe_iou_x<f>'} on the videos of `val_cfg` (train/validate.py's
    `val` section: datasets, max_sequences, max_frames, hp) for each factor, and with
    `label_probe` ({root, sources, pairs}) the label probe's three scores on its stills.
    `net` is used in eval mode on the cpu; a training model is left as it was."""
    net = copy.deepcopy(getattr(net, "module", net)).eval().cpu()
    saf = HP_PRESETS[str(val_cfg["hp"])].search_area_factor
    scores = {}
    if scale_factors:
        n = int(val_cfg["max_frames"])
        seqs = [(v.name, v.frames[:n], v.boxes) for v in load_val_videos(val_cfg)]
        probe = probe_sequences(net, seqs, [float(f) for f in scale_factors], per_sequence=n,
                                search_area_factor=saf)
        for f, summary in probe["factors"].items():
            if summary["pairs"]:
                scores[f"scale_x{f}"] = float(summary["size_ratio_median"])
                scores[f"probe_iou_x{f}"] = float(summary["mean_iou"])
    if label_probe and label_probe.get("root"):
        items = load_manifest_images(label_probe["root"], label_probe.get("sources") or None)
        res = label_response(net, [(it.image, it.boxes) for it in items], int(label_probe.get("pairs", 60)),
                             saf)
        scores.update({name: float(res[key]) for key, name in LABEL_SCORES.items()
                       if res.get(key) is not None})
    return scores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--hp", default="got10k", choices=sorted(HP_PRESETS))
    ap.add_argument("--label-root", default=None, help="a train_data folder: the label probe on its stills")
    ap.add_argument("--label-sources", default="voc_mAP_sample,coco_mini")
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--videos", default=None, help="a train_data folder: the scale probe on its videos")
    ap.add_argument("--video-sources", default="", help="comma-separated video sources (default all)")
    ap.add_argument("--scale-factors", default="0.67,1.5")
    ap.add_argument("--max-sequences", type=int, default=10)
    ap.add_argument("--max-frames", type=int, default=100)
    args = ap.parse_args(argv)
    if not args.label_root and not args.videos:
        ap.error("nothing to probe: give --label-root and/or --videos")
    entry = {"layout": "train_data_sequences", "root": args.videos}
    if args.video_sources:
        entry["sources"] = args.video_sources.split(",")
    val = {"datasets": [entry] if args.videos else [], "max_sequences": args.max_sequences,
           "max_frames": args.max_frames, "hp": args.hp}
    factors = [float(f) for f in args.scale_factors.split(",") if f] if args.videos else []
    label = {"root": args.label_root, "sources": [s for s in args.label_sources.split(",") if s],
             "pairs": args.pairs}
    for ckpt in args.checkpoints:
        try:
            scores = probe_scores(load_checkpoint(ckpt), val, factors, label)
        except (CheckpointError, DatasetError) as e:
            print(f"checkpoint_probes: {ckpt}: {e}", file=sys.stderr)
            return 2
        print(json.dumps({"checkpoint": ckpt, **scores}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
