"""Tracking metrics as the official toolkits compute them (OTB, LaSOT, GOT-10k).

Boxes are `x, y, w, h` in one convention for both arguments (IoU and centre errors do not
depend on a common shift; this package passes 0-based boxes). A prediction that is NaN
(a tracker that reported failure) counts as IoU 0 and an infinite centre error.

Per-sequence protocol (`evaluate_sequence`): the init frame is excluded by default, as in
GOT-10k and the peer figures in shared/weights (one-pass evaluation of frames 2..N);
`count_init_frame=True` reproduces the OTB toolkit, which sets the first result row to the
ground truth and keeps it. Frames whose ground truth is unusable (`valid` false) are dropped.
"""
from __future__ import annotations

import numpy as np

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)          # OTB success plot
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)  # OTB precision plot, 0..50 px
NORM_THRESHOLDS = np.linspace(0.0, 0.5, 51)         # LaSOT normalized precision
PRECISION_PX = 20


def rect_iou(pred, gt, bound=None) -> np.ndarray:
    """Intersection over union of axis-aligned boxes using continuous areas w*h (no +1),
    clipped to [0, 1]. With `bound=(W, H)` both boxes are first clipped to the image
    (GOT-10k). NaN predictions give 0."""
    a = np.array(pred, dtype=np.float64, copy=True).reshape(-1, 4)
    b = np.array(gt, dtype=np.float64, copy=True).reshape(-1, 4)
    if a.shape != b.shape:
        raise ValueError(f"box arrays differ in shape: {a.shape} vs {b.shape}")
    if bound is not None:
        a, b = clip_boxes(a, bound), clip_boxes(b, bound)
    iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (union + np.finfo(np.float64).eps)
    return np.nan_to_num(np.clip(iou, 0.0, 1.0), nan=0.0)


def clip_boxes(boxes, bound) -> np.ndarray:
    """Clip x, y to [0, W/H] and w, h to what is left of the image (the GOT-10k `bound`)."""
    out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    width, height = float(bound[0]), float(bound[1])
    out[:, 0] = np.clip(out[:, 0], 0, width)
    out[:, 1] = np.clip(out[:, 1], 0, height)
    out[:, 2] = np.clip(out[:, 2], 0, width - out[:, 0])
    out[:, 3] = np.clip(out[:, 3], 0, height - out[:, 1])
    return out


def _centres(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return b[:, :2] + b[:, 2:] / 2.0


def center_error(pred, gt) -> np.ndarray:
    """Euclidean distance between box centres in pixels (OTB precision). The toolkit's centres
    x + (w-1)/2 differ from x + w/2 by the same constant for both boxes, so the distance is equal.
    NaN predictions give +inf."""
    d = np.linalg.norm(_centres(pred) - _centres(gt), axis=1)
    return np.where(np.isnan(d), np.inf, d)


def normalized_center_error(pred, gt) -> np.ndarray:
    """LaSOT: centre offset divided per axis by the ground-truth width and height (each at
    least 1 px), then the L2 norm. NaN predictions give +inf."""
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    d = (_centres(pred) - _centres(g)) / np.maximum(g[:, 2:], 1.0)
    d = np.linalg.norm(d, axis=1)
    return np.where(np.isnan(d), np.inf, d)


def success_curve(ious, thresholds=IOU_THRESHOLDS) -> np.ndarray:
    """Fraction of frames with IoU strictly greater than each threshold."""
    ious = np.asarray(ious, dtype=np.float64)
    if ious.size == 0:
        return np.full(len(thresholds), np.nan)
    return np.mean(ious[:, None] > np.asarray(thresholds)[None, :], axis=0)


def precision_curve(errors, thresholds=PIXEL_THRESHOLDS) -> np.ndarray:
    """Fraction of frames with centre error at most each threshold."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        return np.full(len(thresholds), np.nan)
    return np.mean(errors[:, None] <= np.asarray(thresholds)[None, :], axis=0)


def auc(curve) -> float:
    """OTB success score: the mean of the 21-point success curve (area under it)."""
    return float(np.mean(curve))


def fps(times) -> float:
    """Frames per second of the tracker's own calls: frames / summed seconds (frames timed 0
    are kept; decoding is not timed). NaN when nothing was timed."""
    t = np.asarray(times, dtype=np.float64)
    t = t[np.isfinite(t)]
    total = float(t.sum())
    return float(len(t) / total) if len(t) and total > 0 else float("nan")


def evaluate_sequence(pred, gt, valid=None, image_size=None, times=None,
                      count_init_frame: bool = False) -> dict:
    """All per-sequence metrics for 0-based boxes `pred` and `gt` (N, 4).

    * success curve (21 IoU thresholds) and `auc`: OTB success score
    * precision curve (0..50 px) and `precision` = value at 20 px (OTB)
    * normalized precision curve (51 thresholds 0..0.5) and `norm_precision` = its mean (LaSOT toolkit)
    * `ao` = mean IoU, `sr50` / `sr75` = fraction with IoU > 0.5 / 0.75 (GOT-10k); these use
      boxes clipped to `image_size` = (W, H) when given, as the GOT-10k toolkit does
    * `fps` over frames 2..N (`times` per frame in seconds, row 0 = init)
    Also returns the per-frame arrays (`ious`, `ious_bounded`, `errors`) so that dataset-level
    pooling (GOT-10k) can reuse them.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predicted boxes for {len(gt)} ground-truth rows")
    keep = np.ones(len(gt), bool) if valid is None else np.asarray(valid, bool).copy()
    if count_init_frame:
        pred = pred.copy()
        pred[0] = gt[0]
    else:
        keep[0] = False
    p, g = pred[keep], gt[keep]
    ious = rect_iou(p, g)
    ious_b = rect_iou(p, g, bound=image_size) if image_size is not None else ious
    errors = center_error(p, g)
    s_curve = success_curve(ious)
    p_curve = precision_curve(errors)
    n_curve = precision_curve(normalized_center_error(p, g), NORM_THRESHOLDS)
    out = {
        "frames": int(keep.sum()),
        "auc": auc(s_curve),
        "precision": float(p_curve[PRECISION_PX]),
        "norm_precision": float(np.mean(n_curve)),
        "ao": float(np.mean(ious_b)) if len(ious_b) else float("nan"),
        "sr50": float(np.mean(ious_b > 0.5)) if len(ious_b) else float("nan"),
        "sr75": float(np.mean(ious_b > 0.75)) if len(ious_b) else float("nan"),
        "fps": fps(np.asarray(times)[1:]) if times is not None else float("nan"),
        "success_curve": s_curve,
        "precision_curve": p_curve,
        "norm_precision_curve": n_curve,
        "ious": ious,
        "ious_bounded": ious_b,
        "errors": errors,
    }
    return out


def aggregate(per_seq: list, times=None) -> dict:
    """Dataset-level numbers from `evaluate_sequence` outputs.

    OTB/LaSOT style: curves are averaged over sequences (each sequence weighs the same) and
    the scores are taken from the mean curves. GOT-10k style: AO and SR pool the IoUs of all
    frames of all sequences. FPS: all timed frames / all their seconds (`times`: list of arrays,
    row 0 = init, excluded)."""
    per_seq = [m for m in per_seq if m["frames"] > 0]
    if not per_seq:
        return {}
    s_curve = np.mean([m["success_curve"] for m in per_seq], axis=0)
    p_curve = np.mean([m["precision_curve"] for m in per_seq], axis=0)
    n_curve = np.mean([m["norm_precision_curve"] for m in per_seq], axis=0)
    pooled = np.concatenate([m["ious_bounded"] for m in per_seq])
    t = np.concatenate([np.asarray(x, dtype=np.float64)[1:] for x in times]) if times else []
    return {
        "sequences": len(per_seq),
        "frames": int(sum(m["frames"] for m in per_seq)),
        "auc": auc(s_curve),
        "precision": float(p_curve[PRECISION_PX]),
        "norm_precision": float(np.mean(n_curve)),
        "ao": float(np.mean(pooled)),
        "sr50": float(np.mean(pooled > 0.5)),
        "sr75": float(np.mean(pooled > 0.75)),
        "fps": fps(t) if len(t) else float("nan"),
        "success_curve": s_curve,
        "precision_curve": p_curve,
        "norm_precision_curve": n_curve,
    }
