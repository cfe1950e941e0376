"""What every reader returns: `Sequence` (one annotated video) and `StillImage` (one image with
its objects), and the one error type, `DatasetError`.

Boxes are 0-based pixel `x, y, w, h`. `Sequence.offset` remembers the shift a reader applied
(1 for MATLAB/OTB-style files whose top-left pixel is (1, 1)), so results can be written back
in the dataset's own convention and training can read boxes as stored (`to_native`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

ONE_BASED = 1.0   # offset of MATLAB/OTB-style annotations
ZERO_BASED = 0.0

# per-frame label files (kept in Sequence.extra) and the value that means "target absent"
ABSENCE_FLAGS = (("absence", 1), ("cover", 0), ("full_occlusion", 1), ("out_of_view", 1))


class DatasetError(ValueError):
    """A dataset folder, annotation file or frame source that cannot be read (one line naming it)."""


@dataclass
class Sequence:
    """One annotated video: frame paths and 0-based ground truth (NaN rows: absent/unknown)."""
    name: str
    frames: list
    gt: np.ndarray                      # (N, 4) float64, 0-based x, y, w, h; N may be 1 (test splits)
    offset: float = ZERO_BASED          # dataset convention = 0-based + offset (x and y)
    dataset: str = "project"
    valid: np.ndarray | None = None     # (N,) bool: frames that count in the metrics
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.gt = np.asarray(self.gt, dtype=np.float64).reshape(-1, 4)
        if self.valid is None:
            self.valid = gt_valid(self.gt)
        if len(self.frames) == 0:
            raise DatasetError(f"{self.name}: no frames")

    def check_initialisable(self) -> Sequence:
        """A tracker starts from the first box: refuse a sequence whose first box is unusable."""
        if not has_box(self.gt[0]):
            raise DatasetError(f"{self.name}: the first frame's ground truth {self.gt[0].tolist()} "
                               "is not a usable box, cannot initialise a tracker")
        return self

    @property
    def has_full_gt(self) -> bool:
        """False for test splits that only publish the first box (GOT-10k/TrackingNet test)."""
        return len(self.gt) == len(self.frames)

    def truncated(self, max_frames: int | None) -> Sequence:
        if not max_frames or max_frames >= len(self.frames):
            return self
        n = max(2, int(max_frames))
        return dataclasses.replace(self, frames=self.frames[:n], gt=self.gt[:n], valid=self.valid[:n],
                                   extra={k: v[:n] if isinstance(v, np.ndarray) else v
                                          for k, v in self.extra.items()})

    def absent(self) -> np.ndarray:
        """(N,) bool: frames whose target is absent by the dataset's own labels, scored the
        long-term way (eval.longterm) and left out of training: no usable box (NaN rows:
        UAV123, VOT-LT, this project), GOT-10k absence.label 1 or cover.label 0, LaSOT
        full_occlusion or out_of_view 1."""
        out = ~gt_valid(self.gt)
        for label, absent_value in ABSENCE_FLAGS:
            flags = self.extra.get(label)
            if isinstance(flags, np.ndarray) and len(flags) == len(out):
                out |= flags == absent_value
        return out

    def to_native(self, boxes: np.ndarray) -> np.ndarray:
        """0-based boxes -> the dataset's own convention (for result files)."""
        out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, :2] += self.offset
        return out

    def from_native(self, boxes: np.ndarray) -> np.ndarray:
        out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, :2] -= self.offset
        return out


@dataclass(frozen=True)
class StillImage:
    """One image and its K annotated objects (COCO/VOC/YOLO, train_data boxes.csv)."""
    name: str
    image: str          # path
    boxes: np.ndarray   # (K, 4) float64 x, y, w, h

    def __post_init__(self):
        object.__setattr__(self, "image", str(self.image))
        object.__setattr__(self, "boxes", np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4))


def has_box(b) -> bool:
    b = np.asarray(b, dtype=np.float64)
    return bool(np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0)


def gt_valid(gt: np.ndarray) -> np.ndarray:
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    return np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
