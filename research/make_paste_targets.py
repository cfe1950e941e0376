#!/usr/bin/env python3
"""Write copies of tracking videos with a moving distractor pasted in: a proxy for what the
small model fails at on the evaluation set (switching to a neighbour), built from training
videos only.

Why: the far-DAVIS proxy (`make_far_targets.py`) has one salient object per video, so it ranks
box quality but not target choice. Here each video gets a rectangular patch that crosses the
target's path: it reaches the target's mid-video centre at the middle frame (covering it) and
moves on in a straight line. `--kind other` pastes another video's first-frame target (a
different object); `--kind twin` pastes this video's own first-frame target (an identical
copy: only memory of the motion and of the context tells them apart). The patch is scaled to
the target's first-frame area. Ground truth is unchanged (the real target).

Input and output: GOT-10k layout (`<sequence>/{00000001.jpg..., groundtruth.txt}`, e.g. the
output of `make_far_targets.py`); output names end in `_other` / `_twin`.

    python -m research.make_paste_targets --src runs/far_davis3 --kind other twin --out runs/paste3
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from stmtrack_ros.datasets import DatasetError, load_dataset

from .paste import paste_at

KINDS = ("other", "twin")


def first_patch(seq, area: float) -> np.ndarray:
    """The sequence's first-frame target, resized to `area` px² (its own aspect ratio)."""
    img = cv2.imread(str(seq.frames[0]), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"cannot read frame {seq.frames[0]}")
    x, y, w, h = seq.gt[0]
    x0, y0 = max(int(x), 0), max(int(y), 0)
    patch = img[y0:max(int(np.ceil(y + h)), y0 + 1), x0:max(int(np.ceil(x + w)), x0 + 1)]
    s = np.sqrt(area / (patch.shape[0] * patch.shape[1]))
    size = (max(int(round(patch.shape[1] * s)), 2), max(int(round(patch.shape[0] * s)), 2))
    return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)


def path(seq, patch_hw, horizontal: bool) -> np.ndarray:
    """Patch centre per frame: from outside the left (or top) edge, through the target's centre
    at the middle frame, on at the same speed."""
    n = len(seq.frames)
    mid = n // 2
    valid = np.flatnonzero(np.isfinite(seq.gt).all(axis=1) & (seq.gt[:, 2] > 0) & (seq.gt[:, 3] > 0))
    at = valid[np.argmin(np.abs(valid - mid))]  # the labelled frame nearest the middle
    target = seq.gt[at, :2] + seq.gt[at, 2:] / 2
    start = np.array([-patch_hw[1] / 2, target[1]]) if horizontal else np.array([target[0], -patch_hw[0] / 2])
    step = (target - start) / max(mid, 1)
    return start + step * np.arange(n)[:, None]


def write_copy(seq, patch: np.ndarray, horizontal: bool, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    centres = path(seq, patch.shape[:2], horizontal)
    opaque = np.ones(patch.shape[:2], np.float32)  # a hard-edged rectangle
    for i, (frame, c) in enumerate(zip(seq.frames, centres), 1):
        img = cv2.imread(str(frame), cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f"cannot read frame {frame}")
        img = paste_at(img, patch, opaque, c)
        if not cv2.imwrite(str(out_dir / f"{i:08d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"cannot write {out_dir / f'{i:08d}.jpg'}")
    np.savetxt(out_dir / "groundtruth.txt", seq.gt, fmt="%.3f", delimiter=",")
    return {"frames": len(seq.frames), "patch_wh": [patch.shape[1], patch.shape[0]],
            "direction": "left to right" if horizontal else "top to bottom"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="videos in GOT-10k layout (e.g. make_far_targets.py output)")
    ap.add_argument("--kind", nargs="+", choices=KINDS, default=list(KINDS),
                    help="other: another video's target pasted; twin: the video's own target")
    ap.add_argument("--out", required=True, help="output folder (GOT-10k layout)")
    args = ap.parse_args(argv)
    try:
        seqs = load_dataset(args.src, "got10k")
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if len(seqs) < 2 and "other" in args.kind:
        print(f"error: --kind other needs at least 2 videos in {args.src}", file=sys.stderr)
        return 2
    out = Path(args.out)
    made = {}
    for kind in args.kind:
        for i, seq in enumerate(seqs):
            # "other": a fixed partner a third of the list away, so neighbours in name differ
            donor = seq if kind == "twin" else seqs[(i + max(len(seqs) // 3, 1)) % len(seqs)]
            patch = first_patch(donor, float(seq.gt[0, 2] * seq.gt[0, 3]))
            name = f"{seq.name}_{kind}"
            made[name] = dict(source=seq.name, distractor=donor.name,
                              **write_copy(seq, patch, i % 2 == 0, out / name))
    (out / "paste_targets.json").write_text(json.dumps(
        {"src": str(args.src), "kinds": args.kind, "sequences": made}, indent=1))
    print(f"wrote {len(made)} videos to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
