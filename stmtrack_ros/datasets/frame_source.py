"""Frames for the offline CLI: an image folder (or a sequence folder with `img/`) or a video file,
plus the first line of an optional `groundtruth.txt` as the init box.

Ground-truth numbers are returned unchanged: the official toolkits pass the first line of
OTB-style (1-based) files straight to `init`, and so does `stmtrack track`, so its output
matches the official result files (the parity fixtures were made that way)."""
from __future__ import annotations

from pathlib import Path

import cv2

from .files import list_images, parse_box
from .records import DatasetError


class FrameSource:
    """Iterates BGR uint8 frames; `len()` is the frame count (a video's count is its header's)."""

    def __init__(self, path):
        self.path = Path(path)
        self.files: list[Path] | None = None
        self.fps = 30.0
        if self.path.is_dir():
            folder = self.path / "img" if (self.path / "img").is_dir() else self.path
            self.files = list_images(folder)
            self._count = len(self.files)
        elif self.path.is_file():
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise DatasetError(f"cannot open {self.path} as a video")
            self._count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            self.fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            cap.release()
        else:
            raise DatasetError(f"sequence not found: {self.path} (give an image folder or a video file)")

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        if self.files is not None:
            for p in self.files:
                im = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if im is None:
                    raise DatasetError(f"cannot read image {p}")
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
                    raise DatasetError(f"{gt} is empty")
                return parse_box(lines[0], f"{gt}:1")
        return None

