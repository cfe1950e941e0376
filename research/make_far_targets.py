#!/usr/bin/env python3
"""Write a "far" copy of training-data videos: every frame shrunk by a factor, boxes scaled.

Why: the small model is judged on small, low-resolution targets (15-65 px in `shared/data`),
while the held-out DAVIS videos show large, sharp objects; a model can read sizes on the
second and not on the first (docs/research_log.md, the held-out check). Shrinking held-out videos 3-5x gives
targets of that size and blur without touching the evaluation set, so training choices can be
steered on them (`val.datasets` with layout `got10k`, or `stmtrack eval --data OUT`).

Output: GOT-10k layout, `OUT/<sequence>/{00000001.jpg..., groundtruth.txt}` (1-based frame
names, one `x,y,w,h` line per frame), plus `far_targets.json` saying what was made from what.
With several factors each copy is named `f<factor>_<sequence>`: one folder to evaluate, with
more tracking events, so that a single chaotic failure decides less (docs/research_log.md, stage 2l).

    python -m research.make_far_targets --train-data ../shared/train_data --factor 4 \
        --only davis2016_val/blackswan davis2016_val/dog --out runs/far_val
    python -m research.make_far_targets --train-data ../shared/train_data --factor 2 3 4 \
        --source davis2016_val --out runs/far_davis234
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from stmtrack_ros.datasets import DatasetError
from stmtrack_ros.train.training_set import load_manifest_sequences


def shrink_video(frames, boxes, factor: float, out_dir: Path) -> dict:
    """Frames resized by 1/factor (INTER_AREA, as a camera further away would see them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    size = None
    for i, path in enumerate(frames, 1):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f"cannot read frame {path}")
        h, w = img.shape[:2]
        size = (max(int(round(w / factor)), 1), max(int(round(h / factor)), 1))
        small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        if not cv2.imwrite(str(out_dir / f"{i:08d}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"cannot write {out_dir / f'{i:08d}.jpg'}")
    scaled = np.asarray(boxes, dtype=np.float64) / factor
    np.savetxt(out_dir / "groundtruth.txt", scaled, fmt="%.3f", delimiter=",")
    return {"frames": len(frames), "image_size": list(size),
            "median_box_wh": np.median(scaled[:, 2:], axis=0).round(1).tolist()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-data", required=True, help="a train_data folder (sequence_boxes.csv)")
    pick = ap.add_mutually_exclusive_group(required=True)
    pick.add_argument("--only", nargs="+", help="sequence names, e.g. davis2016_val/dog")
    pick.add_argument("--source", nargs="+", help="every sequence of these sources, e.g. davis2016_val")
    ap.add_argument("--factor", type=float, nargs="+", default=[4.0],
                    help="shrink factor(s) (> 1); several: one copy per factor, named f<factor>_...")
    ap.add_argument("--out", required=True, help="output folder (GOT-10k layout)")
    args = ap.parse_args(argv)
    bad = [f for f in args.factor if not f > 1.0]
    if bad:
        ap.error(f"--factor must be > 1, got {bad[0]}")
    try:
        videos = load_manifest_sequences(args.train_data, sources=args.source, only=args.only)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    asked = args.only or args.source
    # sequence names are "<source>/<name>#<track>" in train_data
    found = {v.name.split("#")[0] if args.only else v.name.split("/")[0] for v in videos}
    missing = sorted(set(asked) - found)
    if missing:
        print(f"error: no such sequence(s) or source(s) in {args.train_data}: {', '.join(missing)}",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    made = {}
    for factor in args.factor:
        prefix = f"f{factor:g}_" if len(args.factor) > 1 else ""
        for v in videos:
            name = prefix + v.name.replace("/", "_").replace("#", "_")
            made[name] = dict(source=v.name, factor=factor,
                              **shrink_video(v.frames, v.boxes, factor, out / name))
    (out / "far_targets.json").write_text(json.dumps(
        {"train_data": str(args.train_data), "factors": args.factor, "sequences": made}, indent=1))
    print(json.dumps(made, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
