"""The pieces every reader shares: the one frame lister, the one box parser, annotation rows and
label files, folder checks. Errors are `DatasetError` with one line naming the file."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .records import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

_SPLIT = re.compile(r"[,\s;]+")


def frame_number(p: Path) -> int:
    """The trailing number of a frame file's stem (00000012.jpg, 12.jpg -> 12), -1 without one."""
    m = re.search(r"(\d+)$", p.stem)
    return int(m.group(1)) if m else -1


def list_images(folder) -> list:
    """The images of a folder in frame order (by trailing number, so 0.jpg, 1.jpg, ..., 10.jpg)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder not found: {folder}")
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    files.sort(key=lambda p: (frame_number(p), p.name))
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def check_contiguous(files: list, first: int, seq: str) -> None:
    """Numbered frames must have no gaps: a gap would misalign frames and ground truth."""
    for k, p in enumerate(files):
        if frame_number(p) != first + k:
            raise DatasetError(f"{seq}: missing frame number {first + k} (found {p.name} "
                               f"at position {k + 1})")


def parse_box(text: str, where: str = "box") -> tuple:
    """'x,y,w,h' as typed on a command line or as a ground-truth line (commas, spaces, tabs or
    semicolons between the numbers) -> four floats, unchanged."""
    parts = [p for p in _SPLIT.split(text.strip()) if p]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise DatasetError(f"{where}: {text!r} is not 4 numbers x,y,w,h") from None
    if len(vals) != 4:
        raise DatasetError(f"{where}: {text!r} has {len(vals)} numbers, want 4: expected x,y,w,h "
                           "(pixels, top-left)")
    return vals


def read_rows(path, columns=(4,)) -> np.ndarray:
    """Numeric rows separated by commas, spaces or tabs. NaN is allowed (absent target).
    Trailing blank lines are ignored; any other malformed line is an error naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"annotation file not found: {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    for i, line in enumerate(lines, 1):
        text = line.strip()
        parts = [p for p in _SPLIT.split(text) if p]
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise DatasetError(f"{path}:{i}: not numbers: {text[:60]!r}") from None
        if len(vals) not in columns:
            want = " or ".join(str(c) for c in columns)
            raise DatasetError(f"{path}:{i}: expected {want} numbers, got {len(vals)}: {text[:60]!r}")
        rows.append(vals)
    if not rows:
        raise DatasetError(f"{path}: empty annotation file")
    width = {len(r) for r in rows}
    if len(width) > 1:
        raise DatasetError(f"{path}: mixed row lengths {sorted(width)}")
    return np.asarray(rows, dtype=np.float64)


def read_flags(path, n: int) -> np.ndarray | None:
    """0/1 label files (GOT-10k absence/cover: one per line; LaSOT: one comma-separated line)."""
    path = Path(path)
    if not path.is_file():
        return None
    vals = [v for v in _SPLIT.split(path.read_text().strip()) if v]
    try:
        arr = np.asarray([float(v) for v in vals])
    except ValueError:
        raise DatasetError(f"{path}: expected integer labels") from None
    if len(arr) != n:
        raise DatasetError(f"{path}: {len(arr)} labels for {n} frames")
    return arr


def need_dir(path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{what} {path} not found or not a directory")
    return path


def dirs(root) -> list:
    """The visible sub-folders of root, sorted (none when root is not a folder)."""
    root = Path(root)
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")) \
        if root.is_dir() else []


def subdirs(root, pred, names=None) -> list:
    """Sub-folders of root that satisfy pred: those in `names` (that order), else all sorted."""
    root = need_dir(root, "folder")
    if names:
        return [root / n for n in names if pred(root / n)]
    return [d for d in dirs(root) if pred(d)]


def list_file(path) -> list | None:
    """The non-blank lines of a list file (list.txt, testing_set.txt), or None without one."""
    path = Path(path)
    if not path.is_file():
        return None
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
