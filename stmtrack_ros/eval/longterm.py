"""Long-term tracking metrics: does the confidence say when the box is right, does LOST fire
when it is wrong, is the target found again after it was away.

Inputs per sequence (init frame excluded, as in `metrics.evaluate_sequence`): the IoU of each
reported box with the ground truth (0 where the target is absent or no box was reported),
which frames have the target `present`, which frames have a reported box, the confidence and
the state of every frame.

* Tracking precision / recall / F-score (VOT long-term, Lukezic et al. 2020; the VOT toolkit's
  `compute_tpr_curves`): at threshold t, precision = mean IoU over frames with a box and
  confidence >= t (an absent-target frame there counts with IoU 0), recall = summed IoU of those
  frames / number of present frames; 1 and 0 when no frame passes. Curves are averaged over
  sequences; F = 2PR/(P+R) of the averaged curves, the F-score is its maximum over t. The
  thresholds are 100 quantiles of the tracker's pooled confidences plus +inf and -inf.
* Confidence AUROC: frames with IoU >= RIGHT_IOU against wrong frames (IoU < WRONG_IOU, absent
  frames included), ties count one half; Spearman rank correlation of confidence with IoU
  over all frames (absent = IoU 0).
* LOST precision / recall: LOST frames that are wrong / wrong frames that are LOST; the same
  against absent frames only; and what one confidence threshold could do (the best recall of
  "confidence < t" on wrong frames at precision >= MIN_PRECISION).
* Re-detection: for every absence followed by the target's return, whether within REFOUND_WITHIN
  frames of its return one frame is TRACKING with IoU >= RIGHT_IOU.
"""
from __future__ import annotations

import math

import numpy as np

from stmtrack_ros.tracker.result import TrackState

RIGHT_IOU = 0.5
WRONG_IOU = 0.1
MIN_PRECISION = 0.8
REFOUND_WITHIN = 10
THRESHOLD_RESOLUTION = 100


def thresholds(confidences, resolution: int = THRESHOLD_RESOLUTION) -> np.ndarray:
    """Descending thresholds: +inf, `resolution - 2` evenly spaced order statistics of the
    finite confidences (all of them when there are fewer), -inf (the VOT toolkit's choice)."""
    c = np.sort(np.asarray(confidences, dtype=np.float64).ravel())[::-1]
    c = c[np.isfinite(c)]
    if len(c) > resolution - 2:
        delta = len(c) // (resolution - 2)
        c = c[np.round(np.linspace(delta, len(c) - delta, resolution - 2)).astype(int)]
    return np.concatenate([[np.inf], c, [-np.inf]])


def pr_curve(ious, confidence, has_box, present, thr) -> tuple:
    """(precision, recall) of one sequence at each threshold of `thr` (module docstring)."""
    ious = np.asarray(ious, dtype=np.float64)
    passed = np.asarray(has_box, bool)[:, None] & \
        (np.asarray(confidence, dtype=np.float64)[:, None] >= np.asarray(thr)[None, :])
    n = passed.sum(axis=0)
    summed = (ious[:, None] * passed).sum(axis=0)
    n_present = int(np.asarray(present, bool).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n > 0, summed / np.maximum(n, 1), 1.0)
        recall = np.where(n > 0, summed / n_present, 0.0) if n_present else np.zeros(len(thr))
    return precision, recall


def f_curve(precision, recall) -> np.ndarray:
    p, r = np.asarray(precision, dtype=np.float64), np.asarray(recall, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p + r > 0, 2 * p * r / (p + r), 0.0)


def auroc(scores, positive, negative) -> float:
    """Probability that a positive frame scores above a negative one (ties: 1/2), from ranks
    (Mann-Whitney U). NaN when either class is empty."""
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[np.asarray(positive, bool)], s[np.asarray(negative, bool)]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def rankdata(x) -> np.ndarray:
    """1-based ranks, ties get their mean rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return ranks


def spearman(x, y) -> float:
    """Pearson correlation of the ranks; NaN with fewer than 3 frames or a constant input."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3:
        return float("nan")
    rx, ry = rankdata(x) - (len(x) + 1) / 2.0, rankdata(y) - (len(y) + 1) / 2.0
    denom = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def detection_scores(flagged, truth) -> tuple:
    """(precision, recall) of a frame flag against a truth mask; NaN where undefined."""
    f, t = np.asarray(flagged, bool), np.asarray(truth, bool)
    hit = int((f & t).sum())
    return (hit / f.sum() if f.sum() else float("nan"), hit / t.sum() if t.sum() else float("nan"))


def recall_at_precision(confidence, wrong, min_precision: float = MIN_PRECISION) -> tuple:
    """Best recall of the rule "confidence < t" on `wrong` frames among the thresholds whose
    precision is >= min_precision: (recall, t); (0, NaN) when none reaches it."""
    c = np.asarray(confidence, dtype=np.float64)
    w = np.asarray(wrong, bool)
    if not w.any():
        return float("nan"), float("nan")
    order = np.argsort(c, kind="mergesort")
    cs, ws = c[order], w[order]
    last = np.r_[cs[1:] != cs[:-1], True]      # a rule flags whole groups of equal confidence
    hits, flagged = np.cumsum(ws)[last], np.arange(1, len(cs) + 1)[last]
    ok = hits / flagged >= min_precision
    if not ok.any():
        return 0.0, float("nan")
    best = np.flatnonzero(ok)[np.argmax(hits[ok])]
    above = np.r_[cs[last][1:], np.inf][best]  # the next confidence up: t between the two
    t = (cs[last][best] + above) / 2 if np.isfinite(above) else np.nextafter(cs[last][best], np.inf)
    return float(hits[best] / w.sum()), float(t)


def absences(present) -> list:
    """(first absent frame, first frame back) of every absence the target returns from."""
    p = np.asarray(present, bool)
    out, k = [], 0
    while k < len(p):
        if not p[k]:
            end = k
            while end < len(p) and not p[end]:
                end += 1
            if end < len(p):
                out.append((k, end))
            k = end
        k += 1
    return out


def refound(ious, state, present, within: int = REFOUND_WITHIN) -> tuple:
    """(returns, returns re-found): a return is re-found when one of its first `within` frames
    (the return frame included) is TRACKING with IoU >= RIGHT_IOU; an absence at the very start
    of the scored frames counts too."""
    ious, state = np.asarray(ious, dtype=np.float64), np.asarray(state)
    ok = (state == TrackState.TRACKING) & (ious >= RIGHT_IOU)
    back = absences(present)
    return len(back), sum(bool(ok[b:b + within].any()) for _, b in back)


def frame_table(pred, gt, present, confidence, state, image_size=None) -> dict:
    """Per-frame arrays of one sequence over all its frames (caller drops the init frame):
    IoU (0 when absent or no box), has_box, present, confidence, state, wrong, right, lost."""
    from .metrics import rect_iou
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    present = np.asarray(present, bool)
    has_box = np.all(np.isfinite(pred), axis=1) & (pred[:, 2] > 0) & (pred[:, 3] > 0)
    g = np.where(present[:, None], np.asarray(gt, dtype=np.float64).reshape(-1, 4), 0.0)
    ious = np.where(present & has_box, rect_iou(np.where(has_box[:, None], pred, 0.0), g, image_size), 0.0)
    state = np.asarray(state).astype(int)
    return {"ious": ious, "has_box": has_box, "present": present,
            "confidence": np.asarray(confidence, dtype=np.float64), "state": state,
            "wrong": (ious < WRONG_IOU) | ~present, "right": ious >= RIGHT_IOU,
            "lost": state == TrackState.LOST}


def summarize(tables: list) -> dict:
    """Dataset-level long-term numbers from `frame_table` outputs (one per sequence)."""
    tables = [t for t in tables if len(t["ious"])]
    if not tables:
        return {}
    pool = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    thr = thresholds(pool["confidence"])
    curves = [pr_curve(t["ious"], t["confidence"], t["has_box"], t["present"], thr) for t in tables]
    precision = np.mean([c[0] for c in curves], axis=0)
    recall = np.mean([c[1] for c in curves], axis=0)
    f = f_curve(precision, recall)
    best = int(np.argmax(f))
    lost_p, lost_r = detection_scores(pool["lost"], pool["wrong"])
    abs_p, abs_r = detection_scores(pool["lost"], ~pool["present"])
    r80, t80 = recall_at_precision(pool["confidence"], pool["wrong"])
    back = [refound(t["ious"], t["state"], t["present"]) for t in tables]
    returns, hits = sum(b[0] for b in back), sum(b[1] for b in back)
    return {
        "f_score": float(f[best]), "lt_precision": float(precision[best]),
        "lt_recall": float(recall[best]), "f_threshold": float(thr[best]),
        "auroc": auroc(pool["confidence"], pool["right"], pool["wrong"]),
        "spearman": spearman(pool["confidence"], pool["ious"]),
        "lost_precision": lost_p, "lost_recall": lost_r,
        "absent_lost_precision": abs_p, "absent_lost_recall": abs_r,
        "wrong_recall_at_p80": r80, "wrong_threshold_at_p80": t80,
        "frames": len(pool["ious"]), "absent_frames": int((~pool["present"]).sum()),
        "wrong_frames": int(pool["wrong"].sum()), "lost_frames": int(pool["lost"].sum()),
        "returns": returns, "refound_rate": hits / returns if returns else float("nan"),
        "pr_precision": precision, "pr_recall": recall, "pr_thresholds": thr,
    }
