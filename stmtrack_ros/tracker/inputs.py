"""Checks and conversions of what callers hand the tracker. Each refusal is a one-line
`TrackerInputError` that says what to do. The limits are listed in docs/limits.md.

Documented conversions: a grey frame (HxW or HxWx1 uint8) is replicated to 3 channels; a
4-channel frame is taken as BGRA (OpenCV's and ROS `bgra8` order) and its alpha dropped; a
non-contiguous frame (a view, a negative stride) is copied. Anything else that is not uint8
HxWx3 is refused, as are frames smaller than 2x2 or with a side of MAX_FRAME_SIDE + 1 or more."""
from __future__ import annotations

import math

import numpy as np

from .result import TrackerInputError

#: Largest frame side: the crop's warp (cv2.remap) needs sides below SHRT_MAX (32767) and
#: addresses source pixels with 16-bit coordinates.
MAX_FRAME_SIDE = 32766
#: Smallest box side, in pixels. A box w pixels wide spans x .. x + w - 1 (the official
#: pixel-count convention), so below 1 px it covers no pixel and its corners cross; at 1 px
#: the search region is still search_area_factor (4) px wide.
MIN_BOX_SIDE = 1.0
#: Largest box side, as a multiple of the frame side. The tracker clamps the boxes it tracks to
#: the frame, so a larger init box is a caller's mistake of units (normalised coordinates,
#: another frame); up to 4x covers a target that overflows the frame.
MAX_BOX_TO_FRAME = 4.0


def as_bgr(frame) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        raise TrackerInputError(f"frame must be a numpy array (uint8 HxWx3 BGR), got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TrackerInputError(f"frame dtype is {frame.dtype}; convert to uint8 0..255 BGR "
                                "(e.g. cv2.convertScaleAbs or (x*255).astype(np.uint8))")
    frame = np.asarray(frame)                  # a subclass (masked array, memmap) as plain array
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3, 4))):
        raise TrackerInputError(f"frame shape {frame.shape} is not HxW, HxWx1, HxWx3 or HxWx4")
    h, w = frame.shape[:2]
    if h < 2 or w < 2:
        raise TrackerInputError(f"frame is {w}x{h} px; need at least 2x2")
    if max(h, w) > MAX_FRAME_SIDE:
        raise TrackerInputError(f"frame is {w}x{h} px; sides up to {MAX_FRAME_SIDE} px are supported "
                                "(resize it, e.g. cv2.resize)")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    return np.ascontiguousarray(frame[:, :, :3])


def check_box(box, image_hw) -> tuple:
    """A finite x,y,w,h box, each side MIN_BOX_SIDE .. MAX_BOX_TO_FRAME x the frame's side,
    that overlaps the image (partly outside is fine); returned as floats. Within these limits
    every value stays finite and the size positive in float32, the dtype the tracker stores."""
    try:
        arr = np.asarray(box, dtype=object).reshape(-1)
        if arr.size != 4:
            raise TrackerInputError(f"box has {arr.size} numbers; give 4 numbers x,y,w,h")
        vals = [float(v) for v in arr]
    except OverflowError:
        raise TrackerInputError(f"box {_short(box)} holds a number too large for a float; "
                                "give 4 pixel values x,y,w,h") from None
    except (TypeError, ValueError) as e:
        if isinstance(e, TrackerInputError):
            raise
        raise TrackerInputError(f"box {_short(box)} is not 4 numbers x,y,w,h") from None
    if not all(math.isfinite(v) for v in vals):
        raise TrackerInputError(f"box {vals} has NaN or infinite values")
    x, y, w, h = vals
    im_h, im_w = image_hw
    if w <= 0 or h <= 0:
        raise TrackerInputError(f"box size {w:g}x{h:g} must be positive (x,y,w,h: width and "
                                f"height at least {MIN_BOX_SIDE:g} px)")
    if not (w >= MIN_BOX_SIDE and h >= MIN_BOX_SIDE):
        raise TrackerInputError(f"box size {w:g}x{h:g} is too small: width and height must be at "
                                f"least {MIN_BOX_SIDE:g} px")
    if w > MAX_BOX_TO_FRAME * im_w or h > MAX_BOX_TO_FRAME * im_h:
        raise TrackerInputError(f"box size {w:g}x{h:g} is more than {MAX_BOX_TO_FRAME:g}x the "
                                f"{im_w}x{im_h} frame; give the box in this frame's pixels")
    if x + w <= 0 or y + h <= 0 or x >= im_w or y >= im_h:
        raise TrackerInputError(f"box {vals} lies wholly outside the {im_w}x{im_h} image")
    return x, y, w, h


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
