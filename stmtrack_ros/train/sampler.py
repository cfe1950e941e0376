"""The paper's training-pair sampler: T memory frames + 1 query frame (reference spec §7.2).

Choices where the official code differs from the paper's intent (spec §6 item 14):
* Frame gap: the official candidate set is every frame from idx1 - max_gap to the *end* of
  the video (its upper range is always empty). We use the intended window
  [idx1 - max_gap, idx1 + max_gap] (`symmetric_gap=True`, the default); `False` restores
  the official one-sided window.
* Filter: the official area-ratio tests never fire (they sit in a tuple). We apply them as
  intended: a pair is redrawn while any box has aspect ratio >= max_aspect or covers a
  fraction of its image outside (min_area_ratio, max_area_ratio). Setting the ratios to
  (0, inf) gives the official behaviour.
Kept as official: negative pairs with probability 0.33 (memory from one sequence of a
dataset, query from another sequence of the same dataset); the 4 frames of a positive pair
are idx1 plus T distinct candidates (which may include idx1 itself), shuffled, the last being
the query; a still image gives T + 1 copies of one object.

Beyond the official recipe (off by default): `random_box_prob` replaces a still's annotated
target by a random textured box of the same image. The annotated objects are few (about 4,000
boxes) and salient, so a network can score them by objectness alone and never read the memory's
label map; a random box is marked by nothing but that map, and its extent (drawn, not learnt
per class) only the map can tell. The real boxes stay as the still's other objects, so the
distractor options (augment.py) centre crops on real objects around the random target.

`still_motion_prob` turns a still's T + 1 frames into a short video of it seen by a moving camera
(still_motion.py: one smooth path of rotation, scale and perspective per sample, the query at its
far end, per-frame motion blur), so the target's appearance changes between memory and query as
in real video. It applies after `random_box_prob` (the random box is drawn on the unwarped still
and warped with the real ones). A negative's query (another still) is warped by its own path's
far end: left sharp and unwarped, it would tell negatives apart by the look of the image alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..datasets import DatasetError, StillImage
from .still_motion import camera_path, motion_blur, warp_boxes, warp_image
from .training_set import TrainingSet

#: the PairSampler fields (and data.* config keys) of the camera-motion option
STILL_MOTION = ("still_motion_prob", "still_motion_rotate", "still_motion_scale",
                "still_motion_perspective", "still_motion_blur_prob")


def random_textured_box(image: np.ndarray, rng, sides=(0.06, 0.45), min_std: float = 12.0):
    """x, y, w, h of a box of `image` with a log-uniform side (a fraction `sides` of
    sqrt(image area)), a log-uniform aspect in 1/3..3 and a uniform position, redrawn up to 10
    times while its grey levels are flatter than `min_std`; None if every draw was flat."""
    ih, iw = image.shape[:2]
    lo, hi = np.log(sides)
    for _ in range(10):
        side = np.sqrt(ih * iw) * np.exp(rng.uniform(lo, hi))
        root_aspect = np.exp(rng.uniform(-0.5, 0.5) * np.log(3.0))
        w = min(side * root_aspect, 0.9 * iw)
        h = min(side / root_aspect, 0.9 * ih)
        x, y = rng.uniform(0, iw - w), rng.uniform(0, ih - h)
        patch = image[int(y):int(y + h), int(x):int(x + w)]
        if patch.size and cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).std() >= min_std:
            return np.array([x, y, w, h], dtype=np.float64)
    return None


@dataclass
class Frame:
    image: np.ndarray  # H x W x 3 uint8 BGR
    box: np.ndarray  # x, y, w, h float64
    source: str  # image path (for messages)
    others: np.ndarray | None = None  # a still's other boxes (K-1, 4): distractors to centre on
    warp: np.ndarray | None = None  # still_motion: 3x3 homography, original still -> this frame


@dataclass
class PairSample:
    memory: list  # T Frames
    query: Frame
    negative: bool


def read_image(path: str) -> np.ndarray:
    im = cv2.imread(path, cv2.IMREAD_COLOR)
    if im is None:
        raise DatasetError(f"training image {path} is missing or unreadable")
    return im


@dataclass
class PairSampler:
    sets: list  # TrainingSet
    num_memory: int = 3
    negative_prob: float = 0.33
    max_aspect: float = 10.0
    min_area_ratio: float = 0.001
    max_area_ratio: float = 0.6
    symmetric_gap: bool = True
    max_tries: int = 100
    random_box_prob: float = 0.0  # a still's target replaced by a random textured box
    random_box_sides: tuple = (0.06, 0.45)  # box side range / sqrt(image area), log-uniform
    random_box_min_std: float = 12.0  # grey-level std a random box must have (not flat sky)
    still_motion_prob: float = 0.0  # a still's frames warped along a camera path (still_motion.py)
    still_motion_rotate: float = 10.0  # degrees, the path's end rotation in +-this
    still_motion_scale: float = 0.15  # the path's end scale in [1/(1+s), 1+s]
    still_motion_perspective: float = 0.06  # corner moves, a fraction of the image's width/height
    still_motion_blur_prob: float = 0.3  # per warped frame: a 3-9 px linear motion blur

    def __post_init__(self):
        if not self.sets:
            raise DatasetError("no training datasets configured (data.datasets is empty)")
        for key, lo, hi in (("still_motion_prob", 0, 1), ("still_motion_blur_prob", 0, 1),
                            ("still_motion_rotate", 0, 90), ("still_motion_scale", 0, 1),
                            ("still_motion_perspective", 0, 0.25)):
            v = getattr(self, key)
            if not lo <= v <= hi:
                raise DatasetError(f"data.{key} {v}: use a value in [{lo}, {hi}]")
        ratios = np.array([s.ratio for s in self.sets], dtype=np.float64)
        if (ratios < 0).any() or ratios.sum() <= 0:
            raise DatasetError(f"dataset ratios must be >= 0 with a positive sum, got {ratios.tolist()}")
        self.probs = ratios / ratios.sum()

    # ---- index choice (no image I/O) ----------------------------------------------------
    def _memory_and_query_indexes(self, n: int, max_gap: int, rng) -> list:
        """T + 1 frame indexes of one video; the last is the query."""
        idx1 = int(rng.integers(n))
        lo = max(0, idx1 - max_gap)
        hi = min(n - 1, idx1 + max_gap) if self.symmetric_gap else n - 1
        candidates = np.arange(lo, hi + 1)
        pick = rng.choice(candidates, self.num_memory, replace=len(candidates) < self.num_memory)
        order = np.append(pick, idx1)
        rng.shuffle(order)
        return [int(i) for i in order]

    def draw_indexes(self, rng):
        """(set index, [(item, frame or object index)] * (T + 1), negative) — the plan of one
        sample before any image is read."""
        si = int(rng.choice(len(self.sets), p=self.probs))
        ts: TrainingSet = self.sets[si]
        negative = bool(rng.random() < self.negative_prob) and len(ts) > 1
        a = int(rng.integers(len(ts)))
        item = ts.items[a]
        if isinstance(item, StillImage):
            k = int(rng.integers(len(item.boxes)))
            plan = [(a, k)] * (self.num_memory + 1)
        else:
            plan = [(a, i) for i in self._memory_and_query_indexes(len(item), ts.max_gap, rng)]
        if negative:
            b = int(rng.integers(len(ts) - 1))
            b += b >= a  # a different item of the same set
            other = ts.items[b]
            n = len(other.boxes)
            plan[-1] = (b, int(rng.integers(n)))
        return si, plan, negative

    # ---- with images ---------------------------------------------------------------------
    def _frame(self, ts: TrainingSet, item_index: int, k: int, cache: dict) -> Frame:
        item = ts.items[item_index]
        path = item.image if isinstance(item, StillImage) else item.frames[k]
        if path not in cache:
            cache[path] = read_image(path)
        if isinstance(item, StillImage):
            return Frame(cache[path], item.boxes[k].copy(), path, np.delete(item.boxes, k, axis=0))
        return Frame(cache[path], item.boxes[k].copy(), path)

    def _with_random_target(self, frames: list, negative: bool, rng) -> list:
        """Frames of a still sample with the target swapped for a random box (the memory
        frames, and the query too unless it is a negative); the real boxes become `others`.
        Draws nothing when `random_box_prob` is 0 (official sample streams kept)."""
        first = frames[0]
        if self.random_box_prob <= 0 or first.others is None or rng.random() >= self.random_box_prob:
            return frames
        box = random_textured_box(first.image, rng, self.random_box_sides, self.random_box_min_std)
        if box is None:
            return frames
        real = np.vstack([first.box[None], first.others])
        swapped = frames if not negative else frames[:-1]
        for f in swapped:
            f.box, f.others = box.copy(), real
        return frames

    def _with_camera_motion(self, frames: list, negative: bool, rng) -> list:
        """Frames of a still sample warped along one camera path (frame j by its j-th homography,
        the query last, at the far end) and blurred per frame with `still_motion_blur_prob`; a
        negative still query gets its own path's far end. Boxes that leave the image come back
        degenerate, so `box_ok` redraws the sample. Draws nothing when `still_motion_prob` is 0
        (old sample streams kept); videos are left as they are (they move already)."""
        if self.still_motion_prob <= 0 or frames[0].others is None or rng.random() >= self.still_motion_prob:
            return frames
        args = (self.still_motion_rotate, self.still_motion_scale, self.still_motion_perspective)
        n = len(frames)
        path = camera_path(rng, frames[0].image.shape[:2], n, *args)
        if negative and frames[-1].others is not None:
            path[-1] = camera_path(rng, frames[-1].image.shape[:2], n, *args)[-1]
        elif negative:  # a video's frame as the query of a still: left as it is
            path[-1] = None
        out = []
        for f, hom in zip(frames, path):
            if hom is None:
                out.append(f)
                continue
            hw = f.image.shape[:2]
            image = warp_image(f.image, hom)
            if self.still_motion_blur_prob > 0 and rng.random() < self.still_motion_blur_prob:
                image = motion_blur(image, rng)
            others = warp_boxes(f.others, hom, hw)
            others = others[(others[:, 2] > 0) & (others[:, 3] > 0)]  # left the image: gone
            out.append(Frame(image, warp_boxes(f.box, hom, hw)[0], f.source, others, hom))
        return out

    def box_ok(self, box, image_shape) -> bool:
        _, _, w, h = box
        if w <= 0 or h <= 0 or max(w / h, h / w) >= self.max_aspect:
            return False
        ratio = w * h / float(image_shape[0] * image_shape[1])
        return self.min_area_ratio < ratio < self.max_area_ratio

    def sample(self, rng) -> PairSample:
        """One pair; redrawn (up to max_tries) while any box fails the filter."""
        for _ in range(self.max_tries):
            si, plan, negative = self.draw_indexes(rng)
            cache = {}
            frames = [self._frame(self.sets[si], a, k, cache) for a, k in plan]
            frames = self._with_random_target(frames, negative, rng)
            frames = self._with_camera_motion(frames, negative, rng)
            if all(self.box_ok(f.box, f.image.shape) for f in frames):
                return PairSample(frames[:-1], frames[-1], negative)
        raise DatasetError(
            f"no training pair passed the box filter in {self.max_tries} draws (aspect < "
            f"{self.max_aspect}, area ratio in ({self.min_area_ratio}, {self.max_area_ratio})); "
            "check the datasets' boxes or relax data.max_aspect / data.*_area_ratio")
