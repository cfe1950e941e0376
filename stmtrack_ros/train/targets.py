"""Dense-box targets on the model's score grid (reference spec §7.4).

Grid cell (row i, col j) sits at crop pixel (x, y) = (off + stride·j, off + stride·i), with
`off = ModelConfig.score_offset`: the same grid the head decodes boxes on (model.head.make_grid).

Negative pairs: cls is 0 at the cells inside the (unrelated) query box and -1 (ignored)
elsewhere, as official. The official code leaves ctr targets unchanged on negative pairs, so
its centerness loss trains on a box that is not the target (spec §7.5). We follow the
paper's intent and zero the ctr targets of negative pairs (no centerness loss there); box
targets need no change (the IoU loss only reads cells with cls = 1).
"""
from __future__ import annotations

import numpy as np

from ..model.config import ModelConfig

IGNORE = -1.0


def grid_xy(config: ModelConfig) -> np.ndarray:
    """(P, 2) float64 crop coordinates (x, y) of the score cells, k = row·s + col."""
    s, st, off = config.score_size, config.total_stride, config.score_offset
    idx = np.arange(s, dtype=np.float64) * st + off
    ys, xs = np.meshgrid(idx, idx, indexing="ij")
    return np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1)


def make_targets(box_xyxy, config: ModelConfig, negative: bool = False):
    """cls (P,1), ctr (P,1), box (P,4) float32 targets for one query box (xyxy crop px)."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    g = grid_xy(config)
    left, top = g[:, 0] - x0, g[:, 1] - y0
    right, bottom = x1 - g[:, 0], y1 - g[:, 1]
    inside = (left > 0) & (top > 0) & (right > 0) & (bottom > 0)
    lr = np.stack([left, right], 1)
    tb = np.stack([top, bottom], 1)
    ctr = np.sqrt(np.abs(lr.min(1) * tb.min(1) / (lr.max(1) * tb.max(1) + 1e-5)))
    ctr = np.where(inside, ctr, 0.0)
    box = np.where(inside[:, None], np.array([x0, y0, x1, y1])[None, :], 0.0)
    if negative:
        cls = np.where(inside, 0.0, IGNORE)
        ctr = np.zeros_like(ctr)
    else:
        cls = inside.astype(np.float64)
    return (cls[:, None].astype(np.float32), ctr[:, None].astype(np.float32),
            box.astype(np.float32))
