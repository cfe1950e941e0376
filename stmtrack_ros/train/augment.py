"""Random crop with scale/shift jitter and the memory fg/bg map (reference spec §7.3).

One call per frame (each memory frame and the query get independent jitter). The crop side
in source pixels is `c = ceil(sqrt(w h) · context · U(1/(1+r), 1+r))`, the window is shifted
by U(-shift, shift) · c/2 per axis, then moved inside the image where it fits (the overhang is
split evenly where it does not), and warped to S x S with `cv2.warpAffine` (source pixel of
crop pixel u = x1 + u·c/(S-1)), border = the frame's truncated mean colour.

The box is mapped with scale S/c (not (S-1)/c), as the official code does: the tracker
decodes predictions with its own S/((L+1)d) scale, so keeping the official label scale keeps
training and tracking consistent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropJitter:
    size: int = 289  # S, the model's q_size
    context: float = 4.0  # crop side / sqrt(w h) before jitter
    scale_jitter: float = 0.3  # r: scale factor in [1/(1+r), 1+r]
    shift_jitter: float = 0.4  # shift in [-shift, shift] · c/2 = ±0.2 c


def crop_window(box_xywh, image_hw, c: int, dx: float, dy: float):
    """Top-left (x1, y1) of the c x c window around the jittered box centre, moved inside."""
    x, y, w, h = (float(v) for v in box_xywh)
    ih, iw = image_hw
    out = []
    for centre, shift, size in ((x + w / 2, dx, iw), (y + h / 2, dy, ih)):
        lo = int(round(centre - c / 2 + shift))  # Python round: half to even, as official
        if c <= size:
            lo = min(max(lo, 0), size - c)
        else:
            lo = -((c - size) // 2)  # larger than the image: equal overhang both sides
        out.append(lo)
    return out[0], out[1]


def warp_crop(image: np.ndarray, x1: int, y1: int, c: int, size: int) -> np.ndarray:
    """S x S crop of the c x c window at (x1, y1); border = truncated per-channel mean."""
    border = tuple(int(v) for v in image.reshape(-1, image.shape[2]).mean(axis=0))
    m = np.array([[c / (size - 1), 0.0, x1], [0.0, c / (size - 1), y1]], dtype=np.float64)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def box_in_crop(box_xywh, x1: int, y1: int, c: int, size: int) -> np.ndarray:
    """x0, y0, x1, y1 of the box in crop pixels (scale S/c; x1' = x' + w' - 1, as official)."""
    x, y, w, h = (float(v) for v in box_xywh)
    s = size / c
    bx, by, bw, bh = (x - x1) * s, (y - y1) * s, w * s, h * s
    return np.array([bx, by, bx + bw - 1, by + bh - 1], dtype=np.float64)


def random_crop(image: np.ndarray, box_xywh, rng, jitter: CropJitter):
    """(crop S x S x 3 uint8, box xyxy in the crop) for one frame."""
    _, _, w, h = (float(v) for v in box_xywh)
    r = jitter.scale_jitter
    f = jitter.context * rng.uniform(1.0 / (1.0 + r), 1.0 + r)
    c = max(int(math.ceil(math.sqrt(w * h) * f)), 2)
    dx, dy = rng.uniform(-jitter.shift_jitter, jitter.shift_jitter, 2) * c / 2
    x1, y1 = crop_window(box_xywh, image.shape[:2], c, dx, dy)
    return warp_crop(image, x1, y1, c, jitter.size), box_in_crop(box_xywh, x1, y1, c, jitter.size)


def fg_bg_map(size: int, box_xyxy) -> np.ndarray:
    """size x size float32 map, 1 on the box's pixels (corners truncated, inclusive).

    The official code slices with the raw truncated corners, so a negative corner wraps
    around (spec §5.5 / §6 item 7). For training we clip at 0 instead (the intent: mark the
    box); the tracker keeps the official quirk, which only differs beyond 16:1 boxes."""
    x0, y0, x1, y1 = (int(v) for v in box_xyxy)  # int() truncates toward zero, as astype(int)
    out = np.zeros((size, size), dtype=np.float32)
    out[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = 1.0
    return out
