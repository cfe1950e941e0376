"""A distractor object pasted next to the target in every frame of a training sample.

Why: what the small model gets wrong on real footage is a switch to a neighbour that looks
alike (MODEL_CARD, Limitations), and most training samples hold one salient object. The space-
time memory can tell a neighbour apart only if the neighbour is in the memory frames, outside
the target's label map: then query pixels that match it read "background". So one object patch
(another box of the same still, a same-kind neighbour, or any training object) is pasted into
each memory frame beside the target and into the query closer, partly over it, at a new place
in every frame (it moves). The labels stay the target's. The patch is an ellipse with a soft
edge, so a pasted object has no straight border to be recognised by.

All in source-image pixels, before the crop, so the crop's jitter, flip, grey and detail loss
apply to the patch as to the scene.
"""
from __future__ import annotations

import cv2
import numpy as np

# the distance between the patch's and the target's centres, in units of the mean of their
# sides sqrt(w h) (1 = two squares side by side): memory frames keep the patch clear of the
# target, the query lets it overlap; the crop (4 sides wide) holds both
MEMORY_DISTANCE = (0.9, 1.6)
QUERY_DISTANCE = (0.5, 1.3)
AREA_RATIO = (0.5, 1.5)  # patch area / target area, log-uniform, one draw per sample


def object_patch(image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray] | None:
    """(patch uint8 h x w x 3, soft elliptical alpha h x w float32 in 0..1) of `box` (x, y, w, h)
    of `image`; None where the box holds fewer than 4 x 4 pixels inside the image."""
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), image.shape[1]), min(int(np.ceil(y + h)), image.shape[0])
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    patch = image[y0:y1, x0:x1].copy()
    return patch, ellipse_alpha(patch.shape[0], patch.shape[1])


def ellipse_alpha(h: int, w: int) -> np.ndarray:
    """1 inside the inscribed ellipse, falling to 0 at its rim over about a tenth of the size."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx + 0.5 - w / 2) / (w / 2), (yy + 0.5 - h / 2) / (h / 2))
    return np.clip((1.0 - r) / 0.2, 0.0, 1.0)


def paste_at(image: np.ndarray, patch: np.ndarray, alpha: np.ndarray, centre) -> np.ndarray:
    """A copy of `image` with `patch` blended in by `alpha`, centred at (x, y), clipped."""
    out = image.copy()
    ph, pw = patch.shape[:2]
    x0, y0 = int(round(centre[0] - pw / 2)), int(round(centre[1] - ph / 2))
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + pw, out.shape[1]), min(y0 + ph, out.shape[0])
    if xb <= xa or yb <= ya:
        return out
    a = alpha[ya - y0:yb - y0, xa - x0:xb - x0, None]
    src = patch[ya - y0:yb - y0, xa - x0:xb - x0].astype(np.float32)
    dst = out[ya:yb, xa:xb].astype(np.float32)
    out[ya:yb, xa:xb] = np.clip(a * src + (1.0 - a) * dst + 0.5, 0, 255).astype(np.uint8)
    return out


def sized_patch(patch: np.ndarray, alpha: np.ndarray, target_box, area_ratio: float):
    """The patch (and alpha) resized, aspect kept, to `area_ratio` x the target's area."""
    _, _, w, h = (float(v) for v in target_box)
    s = np.sqrt(area_ratio * w * h / (patch.shape[0] * patch.shape[1]))
    size = (max(int(round(patch.shape[1] * s)), 2), max(int(round(patch.shape[0] * s)), 2))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(patch, size, interpolation=interp), cv2.resize(alpha, size, interpolation=interp)


def beside(target_box, patch_hw, distance: tuple[float, float], rng) -> np.ndarray:
    """A centre for the patch in a random direction from the target's centre, `distance`
    (uniform in the range) x the mean of both sides sqrt(w h) away."""
    x, y, w, h = (float(v) for v in target_box)
    reach = 0.5 * (np.sqrt(w * h) + np.sqrt(patch_hw[0] * patch_hw[1]))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    d = rng.uniform(*distance) * reach
    return np.array([x + w / 2 + d * np.cos(angle), y + h / 2 + d * np.sin(angle)])


def paste_distractor(frames: list, patch: np.ndarray, alpha: np.ndarray, rng) -> list:
    """Frames (memory..., query) with their images replaced by copies holding the patch beside
    their target; boxes and everything else unchanged. One size draw per sample."""
    ratio = float(np.exp(rng.uniform(*np.log(AREA_RATIO))))
    for k, f in enumerate(frames):
        p, a = sized_patch(patch, alpha, f.box, ratio)
        distance = QUERY_DISTANCE if k == len(frames) - 1 else MEMORY_DISTANCE
        f.image = paste_at(f.image, p, a, beside(f.box, p.shape[:2], distance, rng))
    return frames
