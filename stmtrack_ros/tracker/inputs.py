"""Checks and conversions of what callers hand the tracker. Each refusal is a one-line
`TrackerInputError` that says what to do.

Documented conversions: a grey frame (HxW or HxWx1 uint8) is replicated to 3 channels; a
4-channel frame is taken as BGRA (OpenCV's and ROS `bgra8` order) and its alpha dropped.
Anything else that is not uint8 HxWx3 is refused, as are frames smaller than 2x2."""
from __future__ import annotations

import math

import numpy as np

from .result import TrackerInputError


def as_bgr(frame) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        raise TrackerInputError(f"frame must be a numpy array (uint8 HxWx3 BGR), got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TrackerInputError(f"frame dtype is {frame.dtype}; convert to uint8 0..255 BGR "
                                "(e.g. cv2.convertScaleAbs or (x*255).astype(np.uint8))")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = np.ascontiguousarray(frame[:, :, :3])
    elif not (frame.ndim == 3 and frame.shape[2] == 3):
        raise TrackerInputError(f"frame shape {frame.shape} is not HxW, HxWx1, HxWx3 or HxWx4")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise TrackerInputError(f"frame is {frame.shape[1]}x{frame.shape[0]} px; need at least 2x2")
    return frame


def check_box(box, image_hw) -> tuple:
    """A finite x,y,w,h box with positive size that overlaps the image (partly outside is fine)."""
    try:
        vals = [float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1)]
    except (TypeError, ValueError):
        raise TrackerInputError(f"box {box!r} is not 4 numbers x,y,w,h") from None
    if len(vals) != 4:
        raise TrackerInputError(f"box has {len(vals)} numbers; give 4 numbers x,y,w,h")
    if not all(math.isfinite(v) for v in vals):
        raise TrackerInputError(f"box {vals} has NaN or infinite values")
    x, y, w, h = vals
    if w <= 0 or h <= 0:
        raise TrackerInputError(f"box size {w}x{h} must be positive (x,y,w,h: width and height > 0)")
    im_h, im_w = image_hw
    if x + w <= 0 or y + h <= 0 or x >= im_w or y >= im_h:
        raise TrackerInputError(f"box {vals} lies wholly outside the {im_w}x{im_h} image")
    return x, y, w, h
