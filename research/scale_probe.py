"""Does a model read the target's size from the image, or repeat a size it has learnt?

One-step probe with ground-truth context. For frame t of a sequence the memory holds frame 0
and frame t-1, each cropped and labelled at its ground-truth box as the tracker memorises; the
query (frame t) is cropped around the ground-truth centre of frame t-1 at `factor` x the
ground-truth scale. The box at the raw score peak (no window, penalty or smoothing) is compared
with frame t's ground truth.

A model that reads the size keeps `size_ratio` (sqrt of predicted / true area) near 1 at every
factor, so a tracker whose box has grown shrinks back. A model that has learnt one size in crop
pixels gives `size_ratio` near `factor`: while tracking, its box drifts with no restoring force
(the stage-1 small model on unseen targets, docs/research_log.md). Used by
`research/scale_response.py` and `research/checkpoint_probes.py`.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from stmtrack_ros.eval.metrics import rect_iou
from stmtrack_ros.model.input_tensor import input_tensor
from stmtrack_ros.tracker.crop import fg_bg_map, get_crop


def image_tensor(a: np.ndarray) -> torch.Tensor:
    """H x W x 3 crop -> (1, 3, H, W) float; H x W label map -> (1, 1, H, W) (the layout the
    probes were measured with)."""
    return input_tensor(a, channels_last=True)


class Probe:
    """Memory and query passes of `net` (eval mode, on the cpu) at ground-truth boxes."""

    def __init__(self, net, search_area_factor: float):
        self.net, self.s, self.f = net, net.config.q_size, search_area_factor

    def crop(self, frame, box, factor=1.0):
        """(crop, crop px per frame px) around `box` at `factor` x the tracker's scale."""
        x, y, w, h = box
        scale = factor * math.sqrt(w * h * self.f ** 2) / self.s
        avg = tuple(float(frame[..., c].mean()) for c in range(3))
        return get_crop(frame, np.array([x + w / 2, y + h / 2]), scale, self.s, avg)

    def memory(self, frame, box, label_scale=(1.0, 1.0)) -> torch.Tensor:
        """The frame cropped at `box`, its label map drawn at the box's width and height x
        `label_scale` (a tracker's imperfect box for that frame)."""
        crop, r = self.crop(frame, box)
        label = fg_bg_map(self.s, box[2] * r * label_scale[0], box[3] * r * label_scale[1])
        return self.net.memorize(image_tensor(crop), image_tensor(label))

    def predict(self, frame, prev_box, memory, factor: float) -> list:
        """x, y, w, h in frame pixels at the raw score peak."""
        crop, r = self.crop(frame, prev_box, factor)
        score, boxes, _, _ = self.net.track(image_tensor(crop), memory)
        x0, y0, x1, y1 = boxes[0, int(score[0, :, 0].argmax())].tolist()
        half = (self.s // 2) / r
        cx = (x0 + x1) / 2 / r + prev_box[0] + prev_box[2] / 2 - half
        cy = (y0 + y1) / 2 / r + prev_box[1] + prev_box[3] / 2 - half
        w, h = (x1 - x0) / r, (y1 - y0) / r
        return [cx - w / 2, cy - h / 2, w, h]


def summarise(rows: list) -> dict:
    """rows of (iou, size ratio, w ratio, h ratio) -> mean IoU, SR0.5 and median ratios."""
    a = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if not len(a):
        return {"pairs": 0}
    return {"pairs": len(a), "mean_iou": round(float(a[:, 0].mean()), 4),
            "sr50": round(float((a[:, 0] > 0.5).mean()), 4),
            "size_ratio_median": round(float(np.median(a[:, 1])), 4),
            "w_ratio_median": round(float(np.median(a[:, 2])), 4),
            "h_ratio_median": round(float(np.median(a[:, 3])), 4)}


#: Frames between the mis-labelled memory frames of `probe_sequences` (label_frames > 1).
LABEL_FRAME_GAP = 3


def probe_sequences(net, sequences, factors, per_sequence: int = 40,
                    search_area_factor: float = 4.0, label_scale=(1.0, 1.0),
                    label_frames: int = 1) -> dict:
    """sequences: [(name, frame paths, (N, 4) 0-based x, y, w, h)] ->
    {"factors": {factor: summary}, "sequences": {name: {factor: summary}}}.

    `label_scale` (sw, sh) draws frame t-1's label map at sw x its true width and sh x its true
    height (frame 0 stays true): how much of a memory label's size error the prediction copies.
    Copying it all (w_ratio near sw) makes a tracker's size error compound, since its memory
    labels are its own boxes; reading the image keeps the ratio near 1. `label_frames` N puts
    N such frames in the memory (t-1, t-1-LABEL_FRAME_GAP, ...), all with the same error: a
    drifting tracker's memory, where only the first frame's label is right."""
    if label_frames < 1:
        raise ValueError(f"label_frames must be >= 1, got {label_frames}")
    probe = Probe(net, search_area_factor)
    rows = {f: [] for f in factors}
    per_seq = {}
    back = [1 + k * LABEL_FRAME_GAP for k in range(label_frames)]
    with torch.inference_mode():
        for name, frames, gt in sequences:
            gt = np.asarray(gt, dtype=np.float64)
            ok = [t for t in range(1 + back[-1], len(frames))
                  if all(np.all(gt[t - b, 2:] > 0) for b in [0] + back)]
            if not ok or not np.all(gt[0, 2:] > 0):
                continue
            pick = [ok[i] for i in np.linspace(0, len(ok) - 1, min(len(ok), per_sequence)).astype(int)]
            first = probe.memory(cv2.imread(str(frames[0])), gt[0])
            mine = {f: [] for f in factors}
            for t in pick:
                memory = torch.cat([first] + [probe.memory(cv2.imread(str(frames[t - b])), gt[t - b],
                                                           label_scale) for b in reversed(back)],
                                   dim=2)
                frame = cv2.imread(str(frames[t]))
                g = gt[t]
                for f in factors:
                    p = probe.predict(frame, gt[t - 1], memory, f)
                    mine[f].append((float(rect_iou(p, g)[0]),
                                    math.sqrt(max(p[2] * p[3], 1e-9) / (g[2] * g[3])),
                                    p[2] / g[2], p[3] / g[3]))
            for f in factors:
                rows[f] += mine[f]
            per_seq[name] = {str(f): summarise(mine[f]) for f in factors}
    return {"factors": {str(f): summarise(rows[f]) for f in factors}, "sequences": per_seq}


SMALL_AREA = 0.02  # target area / image area below which a still's box counts as small


#: Aspect (w/h) bins of `probe_stills(by="aspect")`: tall and thin, near square, wide and flat.
ASPECT_BINS = {"thin": (0.0, 0.45), "square": (0.8, 1.25), "wide": (2.2, float("inf"))}


def _still_bin(g, frame_area: float, by: str):
    """The bin of a still's box, or None when it falls between the aspect bins."""
    if by == "area":
        return "small" if g[2] * g[3] / frame_area < SMALL_AREA else "large"
    a = g[2] / g[3]
    return next((k for k, (lo, hi) in ASPECT_BINS.items() if lo <= a < hi), None)


def probe_stills(net, stills, factors, per_bin: int = 80, search_area_factor: float = 4.0,
                 seed: int = 0, by: str = "area") -> dict:
    """The probe on still images with boxes ([(image path, (K, 4) x, y, w, h)]): memory = the
    image at its box, twice; query = the same image around the box shifted by up to 10 % of
    its size, at each factor. The easiest pair there is; a model that cannot read the size
    here cannot while tracking. Boxes are binned by area fraction (`by="area"`, `SMALL_AREA`:
    the bundled model fails most on small targets in clutter, like those of shared/data) or
    by aspect (`by="aspect"`, `ASPECT_BINS`: a box too narrow for a thin target, even by a few
    per cent, compounds while tracking since the memory labels are the tracker's boxes)."""
    if by not in ("area", "aspect"):
        raise ValueError(f"by must be 'area' or 'aspect', got {by!r}")
    probe = Probe(net, search_area_factor)
    rng = np.random.default_rng(seed)
    pairs = [(path, np.asarray(b, dtype=np.float64)) for path, boxes in stills for b in boxes]
    order = rng.permutation(len(pairs))
    names = ("small", "large") if by == "area" else tuple(ASPECT_BINS)
    rows = {k: {f: [] for f in factors} for k in names}
    with torch.inference_mode():
        for i in order:
            if all(len(rows[k][factors[0]]) >= per_bin for k in names):
                break
            path, g = pairs[i]
            if min(g[2], g[3]) < 12:
                continue
            frame = cv2.imread(str(path))
            if frame is None:
                continue
            area = frame.shape[0] * frame.shape[1]
            key = _still_bin(g, area, by)
            if key is None or g[2] * g[3] / area > 0.5 or len(rows[key][factors[0]]) >= per_bin:
                continue
            mem = probe.memory(frame, g)
            memory = torch.cat([mem, mem], dim=2)
            dx, dy = rng.uniform(-0.1, 0.1, 2) * g[2:]
            prev = np.array([g[0] + dx, g[1] + dy, g[2], g[3]])
            for f in factors:
                p = probe.predict(frame, prev, memory, f)
                rows[key][f].append((float(rect_iou(p, g)[0]),
                                     math.sqrt(max(p[2] * p[3], 1e-9) / (g[2] * g[3])),
                                     p[2] / g[2], p[3] / g[3]))
    out = {"bins": {k: {str(f): summarise(v[f]) for f in factors} for k, v in rows.items()}}
    if by == "area":
        out["small_area_fraction"] = SMALL_AREA
    else:
        out["aspect_bins"] = {k: [lo, None if hi == float("inf") else hi]
                              for k, (lo, hi) in ASPECT_BINS.items()}
    return out
