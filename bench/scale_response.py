"""Does a model read the target's size from the image, or repeat a size it has learnt?

One-step probe with ground-truth context, printed as JSON. For frame t of each sequence the
memory holds frame 0 and frame t-1, each cropped and labelled at its ground-truth box exactly
as the tracker memorises; the query (frame t) is cropped around the ground-truth centre of
frame t-1 at `factor` x the ground-truth scale. The box at the raw score peak (no window, no
penalty, no smoothing) is compared with frame t's ground truth.

A model that reads the size keeps `size_ratio` (sqrt of predicted / true area) near 1 at every
factor, so a tracker whose box has grown by x1.5 shrinks back. A model that has learnt one
size in crop pixels gives `size_ratio` near `factor`: while tracking, its box size drifts
without a restoring force (what stage 1 of the bundled model does on unseen targets, see
stmtrack_ros/models/MODEL_CARD.md).

    source scripts/env.sh && python bench/scale_response.py [--checkpoint PATH]
        [--data ../shared/data | --train-data ../shared/train_data] [--sequences A,B]
        [--factors 0.67,1,1.5] [--per-sequence 40] [--out FILE.json]
"""
import argparse
import json
import math
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint  # noqa: E402
from stmtrack_ros.tracker.crop import fg_bg_map, get_crop  # noqa: E402
from stmtrack_ros.tracker.params import HP_PRESETS  # noqa: E402


def load_sequences(args):
    """[(name, frame paths, (N,4) 0-based xywh)]: an evaluation set or the training videos."""
    if args.train_data:
        from stmtrack_ros.train.datasets import Video, build_training_set
        ts = build_training_set({"layout": "train_data_sequences", "root": args.train_data})
        seqs = [(v.name, list(v.frames), np.asarray(v.boxes, float)) for v in ts.items
                if isinstance(v, Video)]
    else:
        from stmtrack_ros.eval.datasets import load_dataset
        seqs = [(s.name, list(s.frames), s.gt) for s in load_dataset(args.data)]
    if args.sequences:
        keep = set(args.sequences.split(","))
        seqs = [s for s in seqs if s[0] in keep or s[0].split("/")[-1] in keep]
    return seqs


def _tensor(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a)).float()
    return t.permute(2, 0, 1)[None] if t.dim() == 3 else t[None, None]


def _iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-12)


class Probe:
    def __init__(self, net, search_area_factor: float):
        self.net, self.s, self.f = net, net.config.q_size, search_area_factor

    def _crop(self, frame, box, factor=1.0):
        x, y, w, h = box
        scale = factor * math.sqrt(w * h * self.f ** 2) / self.s
        avg = tuple(float(frame[..., c].mean()) for c in range(3))
        return get_crop(frame, np.array([x + w / 2, y + h / 2]), scale, self.s, avg)

    def memory(self, frame, box):
        crop, r = self._crop(frame, box)
        label = fg_bg_map(self.s, box[2] * r, box[3] * r)
        return self.net.memorize(_tensor(crop), _tensor(label))

    def predict(self, frame, prev_box, memory, factor: float):
        """xywh in frame pixels at the raw score peak."""
        crop, r = self._crop(frame, prev_box, factor)
        score, boxes, _, _ = self.net.track(_tensor(crop), memory)
        x0, y0, x1, y1 = boxes[0, int(score[0, :, 0].argmax())].tolist()
        half = (self.s // 2) / r
        cx = (x0 + x1) / 2 / r + prev_box[0] + prev_box[2] / 2 - half
        cy = (y0 + y1) / 2 / r + prev_box[1] + prev_box[3] / 2 - half
        w, h = (x1 - x0) / r, (y1 - y0) / r
        return [cx - w / 2, cy - h / 2, w, h]


def summarise(rows: list) -> dict:
    a = np.array(rows)  # iou, size ratio, w ratio, h ratio
    return {"pairs": len(a), "mean_iou": round(float(a[:, 0].mean()), 4),
            "sr50": round(float((a[:, 0] > 0.5).mean()), 4),
            "size_ratio_median": round(float(np.median(a[:, 1])), 4),
            "w_ratio_median": round(float(np.median(a[:, 2])), 4),
            "h_ratio_median": round(float(np.median(a[:, 3])), 4)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="default: the bundled small model")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--data", default=str(REPO.parent / "shared" / "data"),
                     help="evaluation dataset folder (any stmtrack eval layout)")
    src.add_argument("--train-data", default=None, help="shared/train_data: its videos instead")
    ap.add_argument("--sequences", default="", help="comma-separated subset")
    ap.add_argument("--factors", default="0.67,1,1.5")
    ap.add_argument("--per-sequence", type=int, default=40, help="query frames per sequence")
    ap.add_argument("--hp", default="got10k", help="preset giving the search area factor")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = args.checkpoint or str(default_checkpoint_path())
    net = load_checkpoint(ckpt).eval()
    probe = Probe(net, HP_PRESETS[args.hp].search_area_factor)
    factors = [float(f) for f in args.factors.split(",")]
    seqs = load_sequences(args)
    if not seqs:
        raise SystemExit("scale_response: no sequences found (check --data/--train-data/--sequences)")
    rows = {f: [] for f in factors}
    per_seq = {}
    with torch.inference_mode():
        for name, frames, gt in seqs:
            ok = [t for t in range(2, len(frames))
                  if np.all(gt[t, 2:] > 0) and np.all(gt[t - 1, 2:] > 0)]
            if not ok:
                continue
            pick = [ok[i] for i in np.linspace(0, len(ok) - 1, min(len(ok), args.per_sequence)).astype(int)]
            first = probe.memory(cv2.imread(str(frames[0])), gt[0])
            mine = {f: [] for f in factors}
            for t in pick:
                prev = cv2.imread(str(frames[t - 1]))
                memory = torch.cat([first, probe.memory(prev, gt[t - 1])], dim=2)
                frame = cv2.imread(str(frames[t]))
                for f in factors:
                    p = probe.predict(frame, gt[t - 1], memory, f)
                    g = gt[t]
                    mine[f].append((_iou(p, g), math.sqrt(max(p[2] * p[3], 1e-9) / (g[2] * g[3])),
                                    p[2] / g[2], p[3] / g[3]))
            for f in factors:
                rows[f] += mine[f]
            per_seq[name] = {str(f): summarise(mine[f]) for f in factors}
    result = {"checkpoint": ckpt, "source": args.train_data or args.data, "hp": args.hp,
              "factors": {str(f): summarise(rows[f]) for f in factors}, "sequences": per_seq}
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
