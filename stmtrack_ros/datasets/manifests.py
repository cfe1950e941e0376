"""Readers for this project's training material (shared/train_data): `boxes.csv` (still images,
with the `iscrowd` flags in manifest.json) and `sequence_boxes.csv` (videos, one `Sequence` per
sequence and track id). Boxes are 0-based x, y, w, h as stored."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .files import need_dir
from .records import ZERO_BASED, DatasetError, Sequence, StillImage


def _crowd_keys(root: Path) -> set:
    """(image, rounded box) of `iscrowd` boxes, from manifest.json when it is present
    (boxes.csv has no flag column)."""
    path = root / "manifest.json"
    if not path.exists():
        return set()
    keys = set()
    for e in json.loads(path.read_text()).get("images", []):
        for b in e.get("boxes", []):
            if b.get("iscrowd"):
                keys.add((e["image"], tuple(round(float(v), 1) for v in b["bbox"])))
    return keys


def _csv_rows(path: Path, columns):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e.strerror}") from None
    if rows and not set(columns) <= set(rows[0]):
        raise DatasetError(f"{path}: needs columns {', '.join(columns)}, has {', '.join(rows[0])}")
    return rows


def read_manifest_images(root, sources=None, exclude_sources=()) -> list:
    """Still images of `boxes.csv`, grouped per image; `sources` restricts to some `source`
    values, `exclude_sources` leaves some out; iscrowd boxes are skipped."""
    root = need_dir(root, "train_data root")
    crowd = _crowd_keys(root)
    per_image = {}
    for r in _csv_rows(root / "boxes.csv", ("image", "x", "y", "w", "h", "source")):
        if (sources and r["source"] not in sources) or r["source"] in exclude_sources:
            continue
        box = [float(r[k]) for k in ("x", "y", "w", "h")]
        if (r["image"], tuple(round(v, 1) for v in box)) in crowd:
            continue
        per_image.setdefault(r["image"], []).append(box)
    return [StillImage(image, root / image, boxes) for image, boxes in per_image.items()]


def read_manifest_sequences(root, sources=None, exclude=(), only=None) -> list:
    """Videos of `sequence_boxes.csv`: one `Sequence` per (sequence, track_id), named
    <sequence>#<track_id>, frames in frame_index order. `exclude` / `only` take sequence
    names (e.g. to hold some out for validation)."""
    root = need_dir(root, "train_data root")
    tracks = {}
    for r in _csv_rows(root / "sequence_boxes.csv",
                       ("sequence", "frame_index", "image", "track_id", "x", "y", "w", "h", "source")):
        if sources and r["source"] not in sources:
            continue
        if r["sequence"] in exclude or (only is not None and r["sequence"] not in only):
            continue
        tracks.setdefault((r["sequence"], r["track_id"]), []).append(
            (int(r["frame_index"]), root / r["image"], [float(r[k]) for k in ("x", "y", "w", "h")]))
    out = []
    for (seq, tid), rows in sorted(tracks.items()):
        rows.sort(key=lambda t: t[0])
        out.append(Sequence(f"{seq}#{tid}", [r[1] for r in rows], [r[2] for r in rows], ZERO_BASED,
                            "train_data"))
    return out
