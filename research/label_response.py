#!/usr/bin/env python3
"""Label response of a checkpoint (research/label_probe.py), printed as JSON: does the
model follow the object its memory's fg/bg map labels, or the salient thing near the centre?
`peak_on_b_when_b_labelled` near 1 and `score_corr_mean` well below 1 = it follows the label;
0.5 and ~1 = it ignores the label. `distractor_centred_peak_on_target` near 1 = it finds its
target with a neighbour at the crop centre (0.5: it jumps to similar neighbours while tracking);
`unrelated_memory_score_corr` near 1 = its score hardly depends on the memory at all.

    source scripts/env.sh && python -m research.label_response [--checkpoint PATH]
        --train-data ../shared/train_data [--sources voc_mAP_sample,coco_mini] [--pairs 60]
        [--out FILE.json]
"""
import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see test/conftest.py
from stmtrack_ros.train.training_set import load_manifest_images  # noqa: E402

from .label_probe import label_response  # noqa: E402
from .probe_cli import add_model_args, add_train_data_args, emit, load_net, sources_of  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(ap)
    add_train_data_args(ap, "its still images with 2+ boxes (cluttered scenes) are used",
                        "voc_mAP_sample,coco_mini", 60)
    args = ap.parse_args(argv)
    ckpt, net, saf = load_net(args)
    items = load_manifest_images(args.train_data, sources_of(args))
    res = label_response(net, [(it.image, it.boxes) for it in items], args.pairs, saf)
    if not res["pairs"]:
        raise SystemExit("label_response: no usable pair of boxes (need images with 2+ boxes "
                         "inside one crop; check --train-data/--sources)")
    return emit(args, ckpt, f"{args.train_data} ({args.sources or 'all'})", res)


if __name__ == "__main__":
    main()
