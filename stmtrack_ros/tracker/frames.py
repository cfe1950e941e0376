"""Frames for the offline CLI: an image folder (or a sequence folder with `img/`) or a video file,
plus the first line of an optional `groundtruth.txt` as the init box.

Ground-truth numbers are returned unchanged: the official toolkits pass the first line of
OTB-style (1-based) files straight to `init`, and so does `stmtrack track`, so its output
matches the official result files (the parity fixtures were made that way)."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class FrameSourceError(ValueError):
    """A sequence path that cannot be read."""


def _number(p: Path):
    m = re.search(r"(\d+)$", p.stem)
    return (int(m.group(1)) if m else -1, p.name)


class FrameSource:
    """Iterates BGR uint8 frames; `len()` is the frame count (a video's count is its header's)."""

    def __init__(self, path):
        self.path = Path(path)
        self.files: list[Path] | None = None
        self.fps = 30.0
        if self.path.is_dir():
            folder = self.path / "img" if (self.path / "img").is_dir() else self.path
            self.files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                                key=_number)
            if not self.files:
                raise FrameSourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
            self._count = len(self.files)
        elif self.path.is_file():
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise FrameSourceError(f"cannot open {self.path} as a video")
            self._count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            self.fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            cap.release()
        else:
            raise FrameSourceError(f"sequence not found: {self.path} (give an image folder or a video file)")

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        if self.files is not None:
            for p in self.files:
                im = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if im is None:
                    raise FrameSourceError(f"cannot read image {p}")
                yield im
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, im = cap.read()
                if not ok:
                    return
                yield im
        finally:
            cap.release()

    def groundtruth_init(self):
        """First line of groundtruth.txt (or OTB's groundtruth_rect.txt) beside the frames
        (x,y,w,h, unchanged), or None."""
        base = self.path if self.path.is_dir() else self.path.parent
        for name in ("groundtruth.txt", "groundtruth_rect.txt"):
            gt = base / name
            if gt.is_file():
                lines = gt.read_text().strip().splitlines()
                if not lines:
                    raise FrameSourceError(f"{gt} is empty")
                return parse_box(lines[0], f"{gt}:1")
        return None


def parse_box(text: str, where: str = "box") -> tuple:
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise FrameSourceError(f"{where}: {text!r} is not 4 numbers x,y,w,h") from None
    if len(vals) != 4:
        raise FrameSourceError(f"{where}: {text!r} has {len(vals)} numbers, want 4 (x,y,w,h)")
    return vals
