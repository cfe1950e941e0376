"""The official crop and fg/bg label map, reproduced bit for bit (reference spec §5.4, §5.5).

The warp itself is OpenCV 4.x's fixed-point bilinear sampling (see `_fixed_point_maps`).
Deliberately kept quirks (they change numbers): the centre is truncated toward zero, scales
>= 2.1 pre-subsample the image with a plain stride, the warp divides by S - 1, the returned
scale is S / ((L + 1) d), the border is the truncated mean colour, and the label map truncates
its corners and slices with Python semantics (a negative start wraps around)."""
from __future__ import annotations

import cv2
import numpy as np


def border_colour(avg_chans) -> tuple:
    """The constant border colour: the per-channel mean truncated to int, as the official code."""
    return tuple(int(c) for c in avg_chans)


def crop_warp(pos_cxcy, scale: float, size: int):
    """Geometry of one crop: (subsample d, row offset, col offset, 2x3 warp matrix, returned scale)."""
    p = np.array([pos_cxcy[1], pos_cxcy[0]]).astype(np.int64)   # (row, col), toward zero
    z = np.float64(scale) * size
    d = max(int(z / size - 0.1), 1)
    zd = z / d
    off = np.zeros(2, dtype=np.int64)
    if d > 1:
        off = p % d
        p = (p - off) // d
    side = max(int(np.round(zd)), 2)
    tl = p - (side - 1) // 2
    br = p + side // 2 + 1
    m = np.array([[(br[1] - tl[1]) / np.int64(size - 1), 0.0, tl[1]],
                  [0.0, (br[0] - tl[0]) / np.int64(size - 1), tl[0]]], dtype=np.float64)
    returned = size / float((br[1] - tl[1] + 1) * d)
    return d, off, m, returned


def _fixed_point_maps(m: np.ndarray, size: int):
    """The integer source pixel and 1/32-px fraction index of every output pixel, computed as
    OpenCV 4.x's warpAffine does (10-bit accumulators, rounded to 5 fractional bits). OpenCV 5
    changed warpAffine's arithmetic (crops differ by up to 4 grey levels), so the official
    numbers are reproduced by building these maps here and calling `cv2.remap`, whose fixed-point
    bilinear path (15-bit weights) is unchanged.

    The crop's warp is axis-aligned (`crop_warp`: m[0, 1] = m[1, 0] = 0), so a source column
    depends on the output column alone and a source row on the output row: two vectors of
    `size` values, broadcast into the maps (the 2-D accumulation gave the same integers at
    ten times the cost: 3.2 ms of CPU per crop, a tenth of the small model's frame)."""
    if m[0, 1] != 0 or m[1, 0] != 0:
        raise ValueError("the crop warp must be axis-aligned")
    ab_scale = 1 << 10
    xs = np.arange(size, dtype=np.float64)
    adelta = np.rint(m[0, 0] * xs * ab_scale).astype(np.int64)                  # per column
    x = (np.int64(np.rint(m[0, 2] * ab_scale)) + 16 + adelta) >> 5
    y = (np.rint((m[1, 1] * xs + m[1, 2]) * ab_scale).astype(np.int64) + 16) >> 5   # per row
    xy = np.empty((size, size, 2), dtype=np.int16)
    xy[..., 0] = np.clip(x >> 5, -32768, 32767).astype(np.int16)[None, :]
    xy[..., 1] = np.clip(y >> 5, -32768, 32767).astype(np.int16)[:, None]
    frac = ((y & 31)[:, None] * 32 + (x & 31)[None, :]).astype(np.uint16)
    return xy, frac


def get_crop(image: np.ndarray, pos_cxcy, scale: float, size: int, avg_chans):
    """S x S crop centred (official style) on `pos_cxcy` at `scale` source px per crop px.
    Returns (crop uint8 HxWx3, crop px per source px)."""
    d, off, m, returned = crop_warp(pos_cxcy, scale, size)
    src = image[off[0]::d, off[1]::d] if d > 1 else image
    if src.size == 0:  # the stride skips every row or column: the crop is all border
        return np.full((size, size, 3), border_colour(avg_chans), dtype=np.uint8), returned
    xy, frac = _fixed_point_maps(m, size)
    crop = cv2.remap(src, xy, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=border_colour(avg_chans))
    return crop, returned


def fg_bg_map(size: int, box_w, box_h) -> np.ndarray:
    """size x size float32 map, 1 inside a w x h box centred on the crop centre (the memory
    branch's target tag). Corners are float32 then truncated; slices keep Python's wrap-around."""
    c = np.float32((size - 1) / 2)
    wh = np.asarray([box_w, box_h], dtype=np.float32)
    half = (wh - np.float32(1)) / np.float32(2)
    x0, y0 = (c - half).astype(np.int64)
    x1, y1 = (c + half).astype(np.int64)
    out = np.zeros((size, size), dtype=np.float32)
    out[int(y0):int(y1) + 1, int(x0):int(x1) + 1] = 1.0
    return out


def box_in_centred_crop(box_xywh, centre, r: float, size: int) -> np.ndarray:
    """x0, y0, x1, y1 (w = x1 - x0 + 1) of a frame box in the size x size crop centred on
    `centre` at `r` crop px per frame px: the inverse of the tracker's box decoding (the crop
    centre is pixel size // 2, as in `postprocess.choose_step`)."""
    x, y, w, h = (float(v) for v in box_xywh)
    c = size // 2
    x0, y0 = (x - centre[0]) * r + c, (y - centre[1]) * r + c
    return np.array([x0, y0, x0 + w * r - 1, y0 + h * r - 1])


def box_label_map(size: int, box_xyxy) -> np.ndarray:
    """size x size float32 map, 1 on the pixels of a box anywhere in the crop (xyxy, w = x1 - x0
    + 1; corners truncated, inclusive): the label of training's memory frames and of a query
    crop reused as memory. Unlike `fg_bg_map` a negative corner clips at 0 instead of wrapping
    around (the official quirk, spec §5.5 / §6 item 7, which only differs beyond 16:1 boxes)."""
    x0, y0, x1, y1 = (int(v) for v in box_xyxy)  # int() truncates toward zero, as astype(int)
    out = np.zeros((size, size), dtype=np.float32)
    out[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = 1.0
    return out
