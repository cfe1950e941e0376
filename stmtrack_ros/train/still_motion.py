"""A still image seen by a moving camera: the T + 1 frames of a still sample as a short video.

Without this a still gives T + 1 copies of one image, so the network never sees the target's
appearance change between memory and query (rotation, perspective, blur), as real video always
shows it. `camera_path` draws one smooth path of homographies per sample (frame 0 near the
identity, the last frame, the query, at the full motion), `warp_image` and `warp_boxes` apply
one of them to a whole image and its boxes, `motion_blur` smears a frame along a random direction.

Choices:
* Border: the image's mean colour, not a reflection. It is what the crop (augment.warp_crop) and
  the tracker already pad with, so no new image statistics appear, and a reflection would mirror
  objects near the edge into unlabelled copies of the target.
* Boxes: the tight box of the box's inscribed ellipse after the warp (sampled at 32 points),
  clipped to the image. The tight box of the 4 warped corners grows by a third in area on a 10
  degree turn of a square, though an object (rounder than its box) grows far less; the ellipse
  keeps a box exactly under scale alone and does not grow under rotation of a round object.
* No translation: the crop jitter already shifts the window.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

_ELLIPSE = np.linspace(0.0, 2 * np.pi, 32, endpoint=False)  # includes 0, pi/2, pi, 3pi/2


def camera_path(rng, image_hw, n: int, rotate: float, scale: float, perspective: float,
                noise: float = 0.1) -> list:
    """n 3x3 homographies (original still -> frame j); the parameters (rotation in degrees up
    to +-rotate about the image centre, log-uniform scale in [1/(1+scale), 1+scale], each
    corner moved by up to +-perspective of the image's width/height) go linearly from zero at
    j = 0 to their drawn end at j = n - 1, plus per-frame noise of +-`noise` of each range."""
    h, w = image_hw
    angle = rng.uniform(-rotate, rotate)
    log_s = rng.uniform(-1.0, 1.0) * math.log1p(scale)
    corners = rng.uniform(-perspective, perspective, (4, 2))
    t = np.arange(n) / max(n - 1, 1)
    jit = rng.uniform(-noise, noise, (n, 10))
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    centre = np.array([w / 2, h / 2])
    out = []
    for j in range(n):
        a = math.radians(t[j] * angle + jit[j, 0] * rotate)
        s = math.exp(t[j] * log_s + jit[j, 1] * math.log1p(scale))
        rot = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        d = (t[j] * corners + jit[j, 2:].reshape(4, 2) * perspective) * [w, h]
        dst = centre + (src - centre) @ rot.T + d
        out.append(cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
                   .astype(np.float64))
    return out


def warp_boxes(boxes: np.ndarray, hom: np.ndarray, image_hw) -> np.ndarray:
    """(K, 4) x, y, w, h -> the tight boxes of their inscribed ellipses warped by `hom`, clipped
    to the image (a box that left it comes back with w or h <= 0)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return boxes.copy()
    x, y, w, h = (boxes[:, i:i + 1] for i in range(4))
    px = x + w / 2 * (1 + np.cos(_ELLIPSE))
    py = y + h / 2 * (1 + np.sin(_ELLIPSE))
    pts = cv2.perspectiveTransform(np.stack([px, py], -1).reshape(1, -1, 2), hom).reshape(len(boxes), -1, 2)
    ih, iw = image_hw
    x0 = np.clip(pts[..., 0].min(1), 0, iw)
    x1 = np.clip(pts[..., 0].max(1), 0, iw)
    y0 = np.clip(pts[..., 1].min(1), 0, ih)
    y1 = np.clip(pts[..., 1].max(1), 0, ih)
    return np.stack([x0, y0, x1 - x0, y1 - y0], 1)


def warp_image(image: np.ndarray, hom: np.ndarray) -> np.ndarray:
    """The whole image warped by `hom` (same size), border = its per-channel mean colour."""
    border = tuple(float(v) for v in image.reshape(-1, image.shape[2]).mean(axis=0))
    ih, iw = image.shape[:2]
    return cv2.warpPerspective(image, hom, (iw, ih), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def blur_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised length x length kernel: a line through its centre at `angle` radians."""
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    for r in np.linspace(-c, c, 4 * length):
        k[int(round(c + r * math.sin(angle))), int(round(c + r * math.cos(angle)))] = 1.0
    return k / k.sum()


def motion_blur(image: np.ndarray, rng, lengths=(3, 9)) -> np.ndarray:
    """`image` smeared along a random direction by a linear kernel of lengths[0]..lengths[1] px."""
    length = int(rng.integers(lengths[0], lengths[1] + 1))
    return cv2.filter2D(image, -1, blur_kernel(length, rng.uniform(0.0, np.pi)),
                        borderType=cv2.BORDER_REFLECT_101)
