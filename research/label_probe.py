"""Does a model follow the object its memory labels, or the salient thing near the crop centre?

STMTrack knows its target only through its memory: frames cropped around the target, each
tagged with a fg/bg label map. Three probes on a still image with two boxes A and B:

* Label swap: one crop around A used as memory and as query, the memory labelled once at A
  and once at B. A model that reads the label moves its score peak to B when B is labelled;
  one that ignores it gives almost the same score map both times (the bundled stage-1 model:
  the maps correlate 0.97).
* Distractor at the centre: the memory is the crop around A labelled A, as the tracker makes
  it; the query is the same image cropped around B at the same scale. A model that matches
  the memory puts its peak on A; one that picks the salient thing near the centre finds A
  about half the time (stage 1: 0.60), and so jumps to similar neighbours while tracking.
* Unrelated memory: the crop around A tracked with the memory of the previous pair's image.
  A model that uses its memory changes its score map; stage 1's correlates 0.97 with the map
  from its own memory: it hardly reads the memory at all.

Used by `research/label_response.py` and `research/checkpoint_probes.py`.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from stmtrack_ros.tracker.crop import box_in_centred_crop, box_label_map, get_crop

from .scale_probe import Probe, image_tensor


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when a map is constant (an untrained head), skipped by the means."""
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _nanmean(v: np.ndarray):
    v = v[np.isfinite(v)]
    return round(float(v.mean()), 4) if len(v) else None


def label_response(net, stills, pairs: int = 60, search_area_factor: float = 4.0,
                   seed: int = 0) -> dict:
    """stills: [(image path, (K, 4) x, y, w, h)]. Uses pairs (A, B) of one image whose boxes
    are at least 12 px, lie inside A's crop and whose centres are 2+ cells apart there."""
    probe = Probe(net, search_area_factor)
    s, stride = probe.s, net.config.total_stride
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(stills))
    rows, previous = [], None
    with torch.inference_mode():
        for i in order:
            if len(rows) >= pairs:
                break
            path, boxes = stills[i]
            boxes = [np.asarray(b, dtype=np.float64) for b in boxes if min(b[2], b[3]) >= 12]
            if len(boxes) < 2:
                continue
            a, b = (boxes[j] for j in rng.choice(len(boxes), 2, replace=False))
            frame = cv2.imread(str(path))
            if frame is None:
                continue
            crop, r = probe.crop(frame, a)
            centre = a[:2] + a[2:] / 2
            in_a, in_b = (box_in_centred_crop(box, centre, r, s) for box in (a, b))
            ca, cb = (in_a[:2] + in_a[2:]) / 2, (in_b[:2] + in_b[2:]) / 2
            if in_b[:2].min() < 0 or in_b[2:].max() > s - 1 or np.hypot(*(ca - cb)) < 2 * stride:
                continue
            query = image_tensor(crop)
            scores, peaks, memories = [], [], []
            for box in (in_a, in_b):
                mem = net.memorize(query, image_tensor(box_label_map(s, box)))
                memories.append(torch.cat([mem, mem], dim=2))
                score, pred, _, _ = net.track(query, memories[-1])
                k = int(score[0, :, 0].argmax())
                scores.append(score[0, :, 0].numpy().astype(np.float64))
                peaks.append(((pred[0, k, :2] + pred[0, k, 2:]) / 2).numpy())
            near = [np.hypot(*(p - cb)) < np.hypot(*(p - ca)) for p in peaks]
            # the distractor query: the crop around B; A and B move by (centre_a - centre_b) r
            avg = tuple(float(frame[..., c].mean()) for c in range(3))
            q_b, _ = get_crop(frame, b[:2] + b[2:] / 2, 1.0 / r, s, avg)
            score, pred, _, _ = net.track(image_tensor(q_b), memories[0])
            k = int(score[0, :, 0].argmax())
            peak = ((pred[0, k, :2] + pred[0, k, 2:]) / 2).numpy()
            shift = ca - cb  # B sits at A's old place: the crop centre
            on_a = np.hypot(*(peak - (ca + shift))) < np.hypot(*(peak - ca))
            unrelated = np.nan
            if previous is not None:
                score, _, _, _ = net.track(query, previous)
                unrelated = _corr(scores[0], score[0, :, 0].numpy().astype(np.float64))
            previous = memories[0]
            rows.append((np.abs(scores[0] - scores[1]).mean(), _corr(scores[0], scores[1]),
                         not near[0], near[1], on_a, unrelated))
    if not rows:
        return {"pairs": 0}
    a = np.array(rows, dtype=np.float64)
    return {"pairs": len(a),
            "score_change_mean": round(float(a[:, 0].mean()), 4),  # mean |s_A - s_B| per cell
            "score_corr_mean": _nanmean(a[:, 1]),  # 1 = label ignored
            "peak_on_a_when_a_labelled": round(float(a[:, 2].mean()), 4),
            "peak_on_b_when_b_labelled": round(float(a[:, 3].mean()), 4),  # 0 = label ignored
            "distractor_centred_peak_on_target": round(float(a[:, 4].mean()), 4),  # 0.5 = coin flip
            "unrelated_memory_score_corr": _nanmean(a[:, 5])}  # 1 = memory unused
