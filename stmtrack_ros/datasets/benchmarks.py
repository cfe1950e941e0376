"""Readers for the single-object-tracking benchmark layouts (eval reads them; train reads the
GOT-10k, LaSOT and TrackingNet ones too).

Every reader returns `Sequence` objects whose boxes are 0-based pixel `x, y, w, h`
(the project convention). Datasets annotated in the MATLAB/OTB convention (top-left pixel
is (1, 1): OTB, UAV123, LaSOT and this project's `shared/data` layout) are shifted by -1 on
read; `Sequence.offset` remembers the shift so results can be written back in the
dataset's own convention (what its official toolkit compares against). GOT-10k,
TrackingNet and VOT are already 0-based (offset 0).

A frame counts in the metrics when its ground truth is finite with positive width and
height (NaN rows are UAV123's "target absent") and, for GOT-10k, `cover.label` > 0
(the GOT-10k protocol). OTB keeps a box during full occlusion, so all its frames count.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .files import (
    check_contiguous,
    dirs,
    frame_number,
    list_file,
    list_images,
    need_dir,
    read_flags,
    read_rows,
    subdirs,
)
from .records import ONE_BASED, ZERO_BASED, DatasetError, Sequence, gt_valid

FORMATS = ("project", "otb", "got10k", "lasot", "uav123", "trackingnet", "vot")

# OTB-2015 sequences whose annotation starts after image 1 (the benchmark's configSeqs);
# sequences whose annotation ends early (Football1, Freeman3/4, Diving) use the first N images.
OTB_START_FRAME = {"BlurCar1": 247, "BlurCar3": 3, "BlurCar4": 18, "David": 300, "Tiger1": 6}


def polygons_to_boxes(rows: np.ndarray) -> np.ndarray:
    """VOT polygons (x1,y1,...,x4,y4) -> axis-aligned enclosing x, y, w, h (min/max of corners)."""
    if rows.shape[1] == 4:
        return rows.copy()
    xs, ys = rows[:, 0::2], rows[:, 1::2]
    x0, y0 = xs.min(axis=1), ys.min(axis=1)
    return np.stack([x0, y0, xs.max(axis=1) - x0, ys.max(axis=1) - y0], axis=1)


def _match(name: str, frames: list, gt: np.ndarray) -> None:
    if len(gt) > len(frames):
        raise DatasetError(f"{name}: {len(gt)} ground-truth rows but only {len(frames)} frames "
                           "(missing frames?)")
    if 1 < len(gt) < len(frames):
        raise DatasetError(f"{name}: {len(gt)} ground-truth rows for {len(frames)} frames")


def _img_and_groundtruth(d: Path):
    """<d>/img/00000001.jpg... and <d>/groundtruth.txt (1-based), checked and made 0-based."""
    frames = list_images(d / "img")
    check_contiguous(frames, 1, d.name)
    gt = read_rows(d / "groundtruth.txt")
    _match(d.name, frames, gt)
    gt[:, :2] -= ONE_BASED
    return frames, gt


# --------------------------------------------------------------------------- formats

def read_project(root) -> list:
    """This project's layout (shared/data): <seq>/img/00000001.jpg..., groundtruth.txt (1-based)."""
    seqs = []
    for d in subdirs(root, lambda d: (d / "img").is_dir() and (d / "groundtruth.txt").is_file()):
        frames, gt = _img_and_groundtruth(d)
        extra = {}
        if (d / "manifest.json").is_file():
            try:
                extra["manifest"] = json.loads((d / "manifest.json").read_text())
            except json.JSONDecodeError as e:
                raise DatasetError(f"{d / 'manifest.json'}: invalid JSON ({e})") from None
        seqs.append(Sequence(d.name, frames, gt, ONE_BASED, "project", extra=extra))
    return seqs


def read_otb(root) -> list:
    """OTB: <seq>/img/0001.jpg..., groundtruth_rect.txt (or .1/.2 for two targets), 1-based,
    separators comma/space/tab."""
    seqs = []
    for d in subdirs(root, lambda d: (d / "img").is_dir() and any(d.glob("groundtruth_rect*.txt"))):
        frames = list_images(d / "img")
        start = OTB_START_FRAME.get(d.name, 1)
        frames = [p for p in frames if frame_number(p) >= start]
        check_contiguous(frames, start, d.name)
        for gt_file in sorted(d.glob("groundtruth_rect*.txt")):
            tag = gt_file.name[len("groundtruth_rect"):-len(".txt")]       # "", ".1", ".2"
            name = d.name + ("-" + tag.strip(".") if tag else "")
            gt = read_rows(gt_file)
            if len(gt) > len(frames):
                raise DatasetError(f"{name}: {len(gt)} ground-truth rows but only {len(frames)} frames")
            gt[:, :2] -= ONE_BASED
            seqs.append(Sequence(name, frames[:len(gt)], gt, ONE_BASED, "otb"))
    return seqs


def read_got10k(root, split: str | None = None) -> list:
    """GOT-10k split folder: <seq>/00000001.jpg..., groundtruth.txt (0-based; one row in the test
    split), absence.label, cover.label (frames with cover 0 do not count). With `split`, a
    root that holds that split's folder (train, val, test) is read there."""
    root = need_dir(root, "GOT-10k root")
    if split and (root / split).is_dir():
        root = root / split
    names = list_file(root / "list.txt")
    seqs = []
    for d in subdirs(root, lambda d: (d / "groundtruth.txt").is_file(), names):
        gt = read_rows(d / "groundtruth.txt")
        frames = list_images(d)
        check_contiguous(frames, 1, d.name)
        _match(d.name, frames, gt)
        extra, valid = {}, gt_valid(gt)
        for label in ("absence", "cover"):
            flags = read_flags(d / f"{label}.label", len(gt)) if len(gt) == len(frames) else None
            if flags is not None:
                extra[label] = flags
        if "cover" in extra:
            valid &= extra["cover"] > 0
        elif "absence" in extra:
            valid &= extra["absence"] == 0
        seqs.append(Sequence(d.name, frames, gt, ZERO_BASED, "got10k", valid=valid, extra=extra))
    return seqs


def read_lasot(root, sequences=None) -> list:
    """LaSOT: <class>/<class>-<k>/img/00000001.jpg..., groundtruth.txt (1-based),
    full_occlusion.txt / out_of_view.txt (kept in `extra`; like the LaSOT toolkit, every frame with
    a usable ground-truth box counts). `sequences` (names) limits the sequences read."""
    root = need_dir(root, "LaSOT root")
    names = set(sequences or [])
    seqs = []
    for cls in subdirs(root, lambda d: d.is_dir()):
        for d in subdirs(cls, lambda d: (d / "img").is_dir() and (d / "groundtruth.txt").is_file()):
            if names and d.name not in names:
                continue
            frames, gt = _img_and_groundtruth(d)
            extra = {}
            for label in ("full_occlusion", "out_of_view"):
                flags = read_flags(d / f"{label}.txt", len(gt))
                if flags is not None:
                    extra[label] = flags
            seqs.append(Sequence(d.name, frames, gt, ONE_BASED, "lasot", extra=extra))
    return seqs


_UAV_CONFIG = re.compile(r"'name'\s*,\s*'([^']+)'\s*,\s*'path'\s*,\s*'([^']*)'\s*,\s*'startFrame'\s*,"
                         r"\s*(\d+)\s*,\s*'endFrame'\s*,\s*(\d+)")


def uav123_ranges(root) -> dict:
    """name -> (folder, start, end) from the benchmark's configSeqs*.m (sub-sequences such as
    bird1_1 are frame ranges of one folder); empty when no config file is present."""
    ranges = {}
    for cfg in sorted(Path(root).rglob("configSeqs*.m")):
        for name, path, start, end in _UAV_CONFIG.findall(cfg.read_text(errors="replace")):
            folder = [p for p in re.split(r"[\\/]", path) if p][-1]
            ranges[name] = (folder, int(start), int(end))
    return ranges


def read_uav123(root) -> list:
    """UAV123 / UAV20L: anno/<version>/<seq>.txt (1-based, NaN = absent) and
    data_seq/UAV123/<folder>/000001.jpg; sub-sequence frame ranges come from configSeqs*.m.
    Without a config, an annotation must cover its whole folder."""
    root = Path(root)
    ranges = uav123_ranges(root)
    img_root = root / "data_seq" / "UAV123"
    if not img_root.is_dir():
        raise DatasetError(f"{root}: no data_seq/UAV123 folder (UAV123 layout)")
    seqs = []
    for version_dir in subdirs(root / "anno", lambda d: d.is_dir() and d.name != "att"):
        for anno in sorted(version_dir.glob("*.txt")):
            name = anno.stem
            gt = read_rows(anno)
            folder, start, end = ranges.get(name, (name, 1, None))
            if not (img_root / folder).is_dir():
                raise DatasetError(f"{name}: no frame folder {img_root / folder} and no configSeqs.m "
                                   "naming its folder and frame range (copy the benchmark's "
                                   "configSeqs.m into the dataset root)")
            all_frames = list_images(img_root / folder)
            frames = [p for p in all_frames if start <= frame_number(p) <= (end or 10 ** 9)]
            if end is None and len(frames) != len(gt):
                raise DatasetError(f"{name}: {len(gt)} annotation rows for {len(frames)} frames and no "
                                   "configSeqs.m giving its frame range (copy the benchmark's "
                                   "configSeqs.m into the dataset root)")
            check_contiguous(frames, start, name)
            if len(frames) != len(gt):
                raise DatasetError(f"{name}: frames {start}..{end} ({len(frames)} found) vs "
                                   f"{len(gt)} annotation rows")
            gt[:, :2] -= ONE_BASED
            seqs.append(Sequence(name, frames, gt, ONE_BASED, "uav123"))
    return seqs


def read_trackingnet(root, chunks=None) -> list:
    """TrackingNet: [TRAIN_k|TEST]/anno/<seq>.txt (0-based; first row only in TEST) and
    frames/<seq>/0.jpg, 1.jpg, ... The root may be the top folder or one chunk folder;
    `chunks` (folder names) limits the chunks read."""
    root = need_dir(root, "TrackingNet root")
    chunk_dirs = [root] if (root / "anno").is_dir() else \
        [d for d in sorted(root.iterdir()) if d.is_dir() and (d / "anno").is_dir()]
    if chunks is not None:
        chunk_dirs = [d for d in chunk_dirs if d.name in set(chunks)]
    seqs = []
    for chunk in chunk_dirs:
        for anno in sorted((chunk / "anno").glob("*.txt")):
            frames = list_images(chunk / "frames" / anno.stem)
            check_contiguous(frames, 0, anno.stem)
            gt = read_rows(anno)
            _match(anno.stem, frames, gt)
            seqs.append(Sequence(anno.stem, frames, gt, ZERO_BASED, "trackingnet"))
    return seqs


def read_vot(root) -> list:
    """VOT: <seq>/groundtruth.txt (4-corner polygons or x,y,w,h rectangles, 0-based) with images in
    <seq>/color/ (VOT2019+) or <seq>/ itself. Polygons become their axis-aligned enclosing box,
    as the official tracker's init does. Mask annotations (VOT2020+ 'm...' lines) are refused."""
    root = Path(root)
    names = list_file(root / "list.txt")
    seqs = []
    for d in subdirs(root, lambda d: (d / "groundtruth.txt").is_file(), names):
        first = (d / "groundtruth.txt").read_text(errors="replace").lstrip()[:1]
        if first == "m":
            raise DatasetError(f"{d / 'groundtruth.txt'}: VOT mask annotations are not supported "
                               "(use a VOT2015-2019 rectangle/polygon release)")
        rows = read_rows(d / "groundtruth.txt", columns=(4, 8))
        frames = list_images(d / "color" if (d / "color").is_dir() else d)
        _match(d.name, frames, rows)
        extra = {"polygons": rows} if rows.shape[1] == 8 else {}
        seqs.append(Sequence(d.name, frames, polygons_to_boxes(rows), ZERO_BASED, "vot", extra=extra))
    return seqs


def read_lasot_testing_set(root) -> list:
    """LaSOT as benchmarked: a testing_set.txt in the root limits the sequences."""
    return read_lasot(root, list_file(Path(root) / "testing_set.txt"))


READERS = {"project": read_project, "otb": read_otb, "got10k": read_got10k, "lasot": read_lasot_testing_set,
           "uav123": read_uav123, "trackingnet": read_trackingnet, "vot": read_vot}


def detect_format(root) -> str:
    """Guess the layout from folder structure (see each reader's docstring)."""
    root = need_dir(root, "dataset folder")
    if (root / "anno").is_dir() and (root / "data_seq").is_dir():
        return "uav123"
    if (root / "anno").is_dir() and (root / "frames").is_dir() or \
            any((d / "anno").is_dir() and (d / "frames").is_dir() for d in dirs(root)):
        return "trackingnet"
    if (root / "img").is_dir():
        raise DatasetError(f"{root} looks like a single sequence; pass its parent folder")
    for d in dirs(root):
        if (d / "img").is_dir() and (d / "groundtruth.txt").is_file():
            return "project"
        if (d / "img").is_dir() and any(d.glob("groundtruth_rect*.txt")):
            return "otb"
        if (d / "groundtruth.txt").is_file():
            if (d / "absence.label").is_file() or (d / "cover.label").is_file() or \
                    (d / "meta_info.ini").is_file():
                return "got10k"
            if (d / "color").is_dir() or read_rows(d / "groundtruth.txt", (4, 8)).shape[1] == 8:
                return "vot"
            return "got10k"
        if any((s / "img").is_dir() and (s / "groundtruth.txt").is_file() for s in dirs(d)):
            return "lasot"
    raise DatasetError(f"{root}: no known dataset layout found (expected one of: {', '.join(FORMATS)})")


def load_dataset(root, fmt: str = "auto", names=None) -> list:
    """All sequences of a dataset folder (optionally only `names`, in that order), each with a
    usable first box (a tracker starts from it)."""
    if fmt == "auto":
        fmt = detect_format(root)
    if fmt not in READERS:
        raise DatasetError(f"unknown format {fmt!r}; choose auto or one of {', '.join(FORMATS)}")
    seqs = [s.check_initialisable() for s in READERS[fmt](Path(root))]
    if not seqs:
        raise DatasetError(f"{root}: no {fmt} sequences found")
    if names:
        by_name = {s.name: s for s in seqs}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DatasetError(f"unknown sequence(s) {', '.join(missing)}; available: "
                               f"{', '.join(sorted(by_name))}")
        seqs = [by_name[n] for n in names]
    return seqs

