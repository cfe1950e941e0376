"""Box conversions in the official "pixel-count" convention (a box of width w spans
x .. x + w - 1, so centres are x + (w - 1)/2 and xyxy widths carry +1), float32 like the
official helpers (reference spec §5.2), plus IoU for tests and evaluation."""
from __future__ import annotations

import numpy as np


def xywh_to_cxywh(box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float32)
    return np.concatenate([b[..., :2] + (b[..., 2:] - 1) / 2, b[..., 2:]], axis=-1)


def cxywh_to_xywh(box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float32)
    return np.concatenate([b[..., :2] - (b[..., 2:] - 1) / 2, b[..., 2:]], axis=-1)


def cxywh_to_xyxy(box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float32)
    half = (b[..., 2:] - 1) / 2
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def xyxy_to_cxywh(box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float32)
    return np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2] + 1], axis=-1)


def iou_xywh(a, b) -> np.ndarray:
    """IoU of x,y,w,h boxes (continuous areas, no +1), broadcast over leading axes."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    x0 = np.maximum(a[..., 0], b[..., 0])
    y0 = np.maximum(a[..., 1], b[..., 1])
    x1 = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    y1 = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
