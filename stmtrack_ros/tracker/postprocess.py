"""From network output to the next box, as the official tracker does it (reference spec §5.7)
with numpy 1.x dtypes (§5.9): the state is float32 on the init frame and float64 afterwards,
penalties are float32, the windowed score is float64. Under numpy >= 2 a numpy scalar combined
with a Python float keeps float32, so the promotions are written out explicitly here."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .boxes import xyxy_to_cxywh
from .params import HyperParams


def cosine_window(score_size: int) -> np.ndarray:
    return np.outer(np.hanning(score_size), np.hanning(score_size)).reshape(-1)


def _change(r):
    return np.maximum(r, 1.0 / r)


def _size_array(w, h):
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


def _size_scalar(w, h) -> np.float64:
    pad = np.float64(w + h) * 0.5          # a numpy 1.x scalar times a Python float is float64
    return np.sqrt((np.float64(w) + pad) * (np.float64(h) + pad))


@dataclass
class Step:
    pos: np.ndarray          # new centre (float64)
    sz: np.ndarray           # new size (float64)
    best: int                # chosen location
    score: float             # raw score there (the reported confidence)
    pscore: float            # windowed, penalised score there (the official memory gate)
    penalty: float
    pred_sz: np.ndarray | None = None   # the network's raw box size there, before smoothing


def choose_step(score, boxes_xyxy, prior_pos, prior_sz, scale_q: float, window, hp: HyperParams,
                image_hw, q_size: int) -> Step:
    """The official post-processing of one read: the chosen cell and the smoothed box. score
    (P,) and boxes (P,4) float32 in crop pixels of a crop taken around prior_pos at
    `scale_q` crop px per source px."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # non-finite: below
        score = np.asarray(score, dtype=np.float32).reshape(-1)
        box = xyxy_to_cxywh(np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4))
        bw, bh = box[:, 2], box[:, 3]
        tc = prior_sz * scale_q                      # keeps prior_sz's dtype (python float operand)
        tw, th = tc[0], tc[1]
        s_c = _change(_size_array(bw, bh) / np.float32(_size_scalar(tw, th)))
        r_c = _change(np.float32(tw / th) / (bw / bh))
        penalty = np.exp(-(r_c * s_c - 1) * hp.penalty_k)
        pscore = penalty * score
        pscore = pscore * (1 - hp.window_influence) + window * hp.window_influence
        best = int(np.argmax(np.where(np.isfinite(pscore), pscore, -np.inf)))
        pred = box[best] / np.float32(scale_q)
        lr = np.float64(penalty[best] * score[best]) * hp.test_lr
        half = (q_size // 2) / scale_q
        cx = np.float64(pred[0] + prior_pos[0]) - half
        cy = np.float64(pred[1] + prior_pos[1]) - half
        w = prior_sz[0] * (1 - lr) + pred[2] * lr
        h = prior_sz[1] * (1 - lr) + pred[3] * lr
    if not all(math.isfinite(float(v)) for v in (cx, cy, w, h, score[best], pscore[best])):
        # a diverged network (inf or NaN out of a file's extreme weights): a miss, box kept
        return Step(pos=np.asarray(prior_pos, dtype=np.float64).copy(),
                    sz=np.asarray(prior_sz, dtype=np.float64).copy(), best=best, score=0.0,
                    pscore=0.0, penalty=0.0,
                    pred_sz=np.asarray(prior_sz, dtype=np.float64).copy())
    im_h, im_w = image_hw
    cx = max(0.0, min(float(im_w), float(cx)))
    cy = max(0.0, min(float(im_h), float(cy)))
    w = max(float(hp.min_w), min(float(im_w), float(w)))
    h = max(float(hp.min_h), min(float(im_h), float(h)))
    return Step(pos=np.array([cx, cy], dtype=np.float64), sz=np.array([w, h], dtype=np.float64),
                best=best, score=float(score[best]), pscore=float(pscore[best]),
                penalty=float(penalty[best]),
                pred_sz=np.array([pred[2], pred[3]], dtype=np.float64))
