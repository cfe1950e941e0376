"""Random crop with scale/shift jitter and the memory fg/bg map (reference spec §7.3).

One call per frame (each memory frame and the query get independent jitter). The crop side
in source pixels is `c = ceil(sqrt(w h) · context · U(1/(1+r), 1+r))`, the window is shifted
by U(-shift, shift) · c/2 per axis, then moved inside the image where it fits (the overhang is
split evenly where it does not), and warped to S x S with `cv2.warpAffine` (source pixel of
crop pixel u = x1 + u·c/(S-1)), border = the frame's truncated mean colour.

The box is mapped with scale S/c (not (S-1)/c), as the official code does: the tracker
decodes predictions with its own S/((L+1)d) scale, so keeping the official label scale keeps
training and tracking consistent.

Beyond the official recipe (all off by default, used by the small model's recipe), the
augmentations of the Siamese trackers (pysot): `stretch_jitter` scales the window's width and
height apart (the crop side becomes c·a by c/a), so box aspect ratios no longer follow the
dataset's and the box head has to read the extent from the image; per sample (every frame of a
pair alike, as a video would) a horizontal flip, a grey conversion and a loss of detail
(`lowres_*`: the crop shrunk and enlarged back, as a small or far target looks once the tracker
scales it up to the crop; robot and drone footage is full of these, the training images
hardly); per frame a small brightness/contrast change (illumination varies along a video).
`map_jitter` perturbs the fg/bg map of every memory frame but the first: while tracking, those
maps come from the tracker's own boxes, so the network must not copy a wrong extent from memory
(a box that is too wide would otherwise grow, frame after frame); `map_shared_prob` gives all
those frames of a sample one size error, as a drifting track does (independent errors could be
averaged away, a drift cannot). `distractor_prob` (pairs.py) centres the query window of a still on another
object of the image when the target still fits in the window: a model that tracks "the
salient thing at the centre" is then wrong, so it has to read the memory's label map (the
stage-1 small model hardly did, see research/label_probe.py).
`offcentre_memory_prob` does the same to the memory frames: the object at their centre is then
not the one their label map marks, so "the thing at the memory's centre" is no shortcut either.
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
    stretch_jitter: float = 0.0  # a in [1/(1+q), 1+q]: window c·a wide, c/a high (0 = square)
    flip_prob: float = 0.0  # per sample: mirror every frame left-right
    gray_prob: float = 0.0  # per sample: every frame to grey (3 equal channels)
    photometric: float = 0.0  # per frame: gain in 1 ± p, offset in ± 64·p grey levels
    map_jitter: float = 0.0  # memory frames after the first: label-map box sides x [1/(1+m), 1+m]
    map_shared_prob: float = 0.0  # per sample: those frames share one side scale (a drift)
    lowres_prob: float = 0.0  # per sample: every crop shrunk by U(1, lowres_max) and enlarged back
    lowres_max: float = 3.0
    distractor_prob: float = 0.0  # query of a still: window centred on another of its boxes
    offcentre_memory_prob: float = 0.0  # memory of a still: windows centred on another box


@dataclass(frozen=True)
class SampleLook:
    """What a whole sample shares: drawn once per pair by `draw_look`."""
    flip: bool = False
    gray: bool = False
    lowres: float = 1.0  # > 1: the crops carry 1/lowres of their detail (a small, far target)
    map_sides: tuple[float, float] | None = None  # label side scales of all later memory frames


def draw_look(rng, jitter: CropJitter) -> SampleLook:
    """Per-sample flip/grey/detail loss; draws nothing when all are off (official sample streams
    kept)."""
    flip = bool(rng.random() < jitter.flip_prob) if jitter.flip_prob > 0 else False
    gray = bool(rng.random() < jitter.gray_prob) if jitter.gray_prob > 0 else False
    lowres = 1.0
    if jitter.lowres_prob > 0 and rng.random() < jitter.lowres_prob:
        lowres = float(rng.uniform(1.0, jitter.lowres_max))
    map_sides = None
    if jitter.map_shared_prob > 0 and rng.random() < jitter.map_shared_prob:
        map_sides = tuple(float(v) for v in map_side_scales(rng, jitter.map_jitter))
    return SampleLook(flip, gray, lowres, map_sides)


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


def warp_crop(image: np.ndarray, x1: int, y1: int, c: int, size: int,
              c_y: int | None = None) -> np.ndarray:
    """S x S crop of the c x c_y window at (x1, y1) (c_y = c: square); border = truncated
    per-channel mean."""
    c_y = c if c_y is None else c_y
    border = tuple(int(v) for v in image.reshape(-1, image.shape[2]).mean(axis=0))
    m = np.array([[c / (size - 1), 0.0, x1], [0.0, c_y / (size - 1), y1]], dtype=np.float64)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def box_in_crop(box_xywh, x1: int, y1: int, c: int, size: int,
                c_y: int | None = None) -> np.ndarray:
    """x0, y0, x1, y1 of the box in crop pixels (scale S/c; x1' = x' + w' - 1, as official)."""
    x, y, w, h = (float(v) for v in box_xywh)
    sx, sy = size / c, size / (c if c_y is None else c_y)
    bx, by, bw, bh = (x - x1) * sx, (y - y1) * sy, w * sx, h * sy
    return np.array([bx, by, bx + bw - 1, by + bh - 1], dtype=np.float64)


def random_crop(image: np.ndarray, box_xywh, rng, jitter: CropJitter,
                look: SampleLook = SampleLook(), centre_on=None):
    """(crop S x S x 3 uint8, box xyxy in the crop) for one frame. `centre_on` (x, y): put the
    window's centre there instead of the random shift, if the box still fits inside it."""
    _, _, w, h = (float(v) for v in box_xywh)
    r = jitter.scale_jitter
    f = jitter.context * rng.uniform(1.0 / (1.0 + r), 1.0 + r)
    side = math.sqrt(w * h) * f
    a = 1.0
    if jitter.stretch_jitter > 0:
        q = jitter.stretch_jitter
        a = rng.uniform(1.0 / (1.0 + q), 1.0 + q)
    c = max(int(math.ceil(side * a)), 2)
    c_y = max(int(math.ceil(side / a)), 2)
    d = rng.uniform(-jitter.shift_jitter, jitter.shift_jitter, 2)
    shift = np.array([d[0] * c / 2, d[1] * c_y / 2])
    if centre_on is not None:
        to = np.asarray(centre_on, dtype=np.float64) - [box_xywh[0] + w / 2, box_xywh[1] + h / 2]
        if abs(to[0]) + w / 2 < c / 2 and abs(to[1]) + h / 2 < c_y / 2:
            shift = to
    ih, iw = image.shape[:2]
    x1, _ = crop_window(box_xywh, (ih, iw), c, shift[0], 0.0)
    _, y1 = crop_window(box_xywh, (ih, iw), c_y, 0.0, shift[1])
    crop = warp_crop(image, x1, y1, c, jitter.size, c_y)
    box = box_in_crop(box_xywh, x1, y1, c, jitter.size, c_y)
    if look.flip:
        crop = np.ascontiguousarray(crop[:, ::-1])
        box = np.array([jitter.size - 1 - box[2], box[1], jitter.size - 1 - box[0], box[3]])
    if look.lowres > 1.0:
        small = max(int(round(jitter.size / look.lowres)), 8)
        crop = cv2.resize(cv2.resize(crop, (small, small), interpolation=cv2.INTER_AREA),
                          (jitter.size, jitter.size), interpolation=cv2.INTER_LINEAR)
    if look.gray:
        crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if jitter.photometric > 0:
        p = jitter.photometric
        gain, offset = rng.uniform(1.0 - p, 1.0 + p), rng.uniform(-64.0 * p, 64.0 * p)
        crop = cv2.convertScaleAbs(crop, alpha=gain, beta=offset)
    return crop, box


def map_side_scales(rng, m: float) -> np.ndarray:
    """Width and height factors of a jittered label box, drawn apart from U(1/(1+m), 1+m).
    These linear draws are biased (median 1.11 for m = 0.6: labels mostly too large, and the
    model learns to shrink the box it copies from them; stage 2h narrowed its targets), which
    matters little since the bundled model's box branch reads frame 0 alone
    (docs/research_log.md, stages 2i and 2k)."""
    return rng.uniform(1.0 / (1.0 + m), 1.0 + m, 2)


def jitter_map_box(box_xyxy, rng, m: float, sides: tuple[float, float] | None = None) -> np.ndarray:
    """The box resized by `map_side_scales` (or the given `sides`: while tracking, the boxes of
    the memory frames drift together, so one error can be shared by all of them) and its
    centre moved by up to m/2 of the size per axis: a tracker's imperfect box for a memory
    frame's label map."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    sw, sh = map_side_scales(rng, m) if sides is None else sides
    dx, dy = rng.uniform(-m / 2, m / 2, 2)
    cx, cy = (x0 + x1) / 2 + dx * w, (y0 + y1) / 2 + dy * h
    w, h = w * sw, h * sh
    return np.array([cx - (w - 1) / 2, cy - (h - 1) / 2, cx + (w - 1) / 2, cy + (h - 1) / 2])
