"""Training material as videos and still images, read from the common on-disk layouts.

Everything becomes one of two records:
* `Video`: frame paths in temporal order with one x,y,w,h box per frame (frames where the
  target is absent are dropped on load, keeping the order);
* `StillImage`: one image with its K annotated objects (a pseudo-video: the sampler crops it
  with independent random jitter, as the paper does with COCO/DET).

Boxes are 0-based pixel x, y, w, h floats. The x,y,w,h text files of GOT-10k, LaSOT and
TrackingNet are read as stored (as the official code does); VOC/ILSVRC xml corners are
1-based inclusive and converted. Loaders check what they read and raise `DatasetError`
with one line naming the file.
"""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class DatasetError(ValueError):
    """A training dataset is missing or malformed (one-line message naming the file)."""


@dataclass(frozen=True)
class Video:
    name: str
    frames: tuple  # image paths (str), temporal order
    boxes: np.ndarray  # (L, 4) float64 x, y, w, h

    def __len__(self):
        return len(self.frames)


@dataclass(frozen=True)
class StillImage:
    name: str
    image: str
    boxes: np.ndarray  # (K, 4) float64 x, y, w, h


@dataclass
class TrainingSet:
    """One named source with its sampling ratio and (for videos) max frame gap."""
    name: str
    items: list = field(default_factory=list)  # Video | StillImage
    ratio: float = 1.0
    max_gap: int = 50

    def __len__(self):
        return len(self.items)


@dataclass(frozen=True)
class BoxFilter:
    """Load-time box filter: drops boxes no tracker should be trained on.

    min_area_px follows the train_data README (w*h < 100 px² skipped). The aspect-ratio and
    area-ratio tests of the official `TrackPairFilter` are applied at sample time, where the
    image size is known (see sampler.py)."""
    min_side: float = 1.0
    min_area_px: float = 100.0

    def keep(self, box) -> bool:
        x, y, w, h = (float(v) for v in box)
        if not all(np.isfinite((x, y, w, h))):
            return False
        return w >= self.min_side and h >= self.min_side and w * h >= self.min_area_px


def _video(name, frames, boxes, flt: BoxFilter):
    keep = [i for i, b in enumerate(boxes) if flt.keep(b)]
    if len(keep) < 2:
        return None
    return Video(name, tuple(str(frames[i]) for i in keep),
                 np.asarray([boxes[i] for i in keep], dtype=np.float64).reshape(-1, 4))


def _still(name, image, boxes, flt: BoxFilter):
    kept = [b for b in boxes if flt.keep(b)]
    if not kept:
        return None
    return StillImage(name, str(image), np.asarray(kept, dtype=np.float64).reshape(-1, 4))


def _read_box_lines(path: Path) -> np.ndarray:
    """x,y,w,h rows separated by commas, tabs or spaces; 'NaN'/'nan' allowed (absent)."""
    rows = []
    try:
        text = path.read_text()
    except OSError as e:
        raise DatasetError(f"cannot read boxes {path}: {e.strerror}") from None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) < 4:
            raise DatasetError(f"{path}:{n}: expected x,y,w,h, got {line!r}")
        try:
            rows.append([float(v) for v in parts[:4]])
        except ValueError:
            raise DatasetError(f"{path}:{n}: expected numbers x,y,w,h, got {line!r}") from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _frames_in(folder: Path) -> list:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _need_dir(root: Path, what: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{what} root {root} is not a directory")
    return root


def _paired_video(name, frames, boxes, flt, where):
    if len(frames) != len(boxes):
        raise DatasetError(f"{where}: {len(boxes)} boxes for {len(frames)} frames")
    return _video(name, frames, boxes, flt)


# ---- video layouts ------------------------------------------------------------------------

def load_got10k(root, split="train", flt=BoxFilter()) -> list:
    """GOT-10k: <root>/<split>/<seq>/{00000001.jpg..., groundtruth.txt, absence.label?}."""
    base = _need_dir(root, "GOT-10k")
    base = base / split if (base / split).is_dir() else base
    out = []
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        gt = seq / "groundtruth.txt"
        if not gt.exists():
            continue
        boxes = _read_box_lines(gt)
        absent = seq / "absence.label"
        if absent.exists():
            flags = np.loadtxt(absent, dtype=np.int64, ndmin=1)
            boxes[flags[:len(boxes)] == 1] = np.nan
        v = _paired_video(seq.name, _frames_in(seq), boxes, flt, gt)
        if v:
            out.append(v)
    return out


def load_lasot(root, flt=BoxFilter(), sequences=None) -> list:
    """LaSOT: <root>/<class>/<class-n>/{img/00000001.jpg..., groundtruth.txt,
    full_occlusion.txt, out_of_view.txt}. `sequences` (names) restricts to a split."""
    base = _need_dir(root, "LaSOT")
    wanted = set(sequences) if sequences else None
    out = []
    for cls in sorted(p for p in base.iterdir() if p.is_dir()):
        for seq in sorted(p for p in cls.iterdir() if p.is_dir()):
            if wanted is not None and seq.name not in wanted:
                continue
            gt = seq / "groundtruth.txt"
            if not gt.exists():
                continue
            boxes = _read_box_lines(gt)
            for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
                f = seq / flag_file
                if f.exists():
                    flags = np.array([int(v) for v in f.read_text().replace(",", " ").split()])
                    boxes[:len(flags)][flags[:len(boxes)] == 1] = np.nan
            v = _paired_video(seq.name, _frames_in(seq / "img"), boxes, flt, gt)
            if v:
                out.append(v)
    return out


def load_trackingnet(root, chunks=None, flt=BoxFilter()) -> list:
    """TrackingNet: <root>/TRAIN_<k>/{frames/<seq>/<i>.jpg, anno/<seq>.txt}; frames are
    numbered 0..N-1 without padding, so they are sorted numerically."""
    base = _need_dir(root, "TrackingNet")
    chunk_dirs = sorted(p for p in base.iterdir() if p.is_dir() and (p / "anno").is_dir())
    if chunks is not None:
        chunk_dirs = [p for p in chunk_dirs if p.name in set(chunks)]
    out = []
    for chunk in chunk_dirs:
        for anno in sorted((chunk / "anno").glob("*.txt")):
            folder = chunk / "frames" / anno.stem
            if not folder.is_dir():
                continue
            frames = sorted(_frames_in(folder), key=lambda p: (len(p.stem), p.stem))
            v = _paired_video(anno.stem, frames, _read_box_lines(anno), flt, anno)
            if v:
                out.append(v)
    return out


def load_imagenet_vid(root, split="train", flt=BoxFilter()) -> list:
    """ILSVRC VID: <root>/Data/VID/<split>/.../<snippet>/<frame>.JPEG with matching
    <root>/Annotations/VID/<split>/.../<snippet>/<frame>.xml; every trackid is its own video."""
    base = _need_dir(root, "ImageNet-VID")
    ann_root = base / "Annotations" / "VID" / split
    data_root = base / "Data" / "VID" / split
    if not ann_root.is_dir():
        raise DatasetError(f"ImageNet-VID: {ann_root} is not a directory")
    snippets = sorted({p.parent for p in ann_root.rglob("*.xml")})
    out = []
    for snip in snippets:
        rel = snip.relative_to(ann_root)
        tracks = {}
        xmls = sorted(snip.glob("*.xml"))
        for i, xml in enumerate(xmls):
            for obj in _parse_voc(xml, keep_difficult=True)[1]:
                tracks.setdefault(obj["trackid"], {})[i] = obj["box"]
        frames = [data_root / rel / (x.stem + ".JPEG") for x in xmls]
        for tid, by_frame in sorted(tracks.items()):
            idx = sorted(by_frame)
            v = _video(f"{rel.as_posix()}#{tid}", [frames[i] for i in idx],
                       [by_frame[i] for i in idx], flt)
            if v:
                out.append(v)
    return out


# ---- still-image layouts ------------------------------------------------------------------

def load_coco(annotation_json, image_dir, flt=BoxFilter()) -> list:
    """COCO instances json; `iscrowd` boxes are skipped."""
    path = Path(annotation_json)
    try:
        data = json.loads(path.read_text())
        images = {im["id"]: im["file_name"] for im in data["images"]}
        per_image = {}
        for a in data["annotations"]:
            if a.get("iscrowd", 0):
                continue
            per_image.setdefault(a["image_id"], []).append([float(v) for v in a["bbox"]])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"COCO annotations {path} unreadable: {e}") from None
    out = []
    for iid, boxes in sorted(per_image.items()):
        if iid in images:
            s = _still(images[iid], Path(image_dir) / images[iid], boxes, flt)
            if s:
                out.append(s)
    return out


def _parse_voc(xml: Path, keep_difficult: bool):
    """(filename, [{box x,y,w,h, trackid}]) of a VOC/ILSVRC xml. VOC corners are 1-based
    inclusive pixels: x = xmin - 1, w = xmax - xmin + 1."""
    try:
        root = ET.parse(xml).getroot()
        objs = []
        for o in root.iter("object"):
            if not keep_difficult and (o.findtext("difficult") or "0").strip() == "1":
                continue
            bb = o.find("bndbox")
            x0, y0, x1, y1 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            objs.append({"box": [x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1],
                         "trackid": (o.findtext("trackid") or "0").strip()})
        return (root.findtext("filename") or "").strip(), objs
    except (ET.ParseError, TypeError, ValueError, AttributeError) as e:
        raise DatasetError(f"VOC annotation {xml} unreadable: {e}") from None


def load_voc(annotation_dir, image_dir, flt=BoxFilter(), keep_difficult=False) -> list:
    """Pascal VOC xml files (one per image); `difficult` objects are skipped by default."""
    ann = _need_dir(annotation_dir, "VOC annotations")
    out = []
    for xml in sorted(ann.glob("*.xml")):
        filename, objs = _parse_voc(xml, keep_difficult)
        image = Path(image_dir) / (filename or xml.stem + ".jpg")
        if not image.exists():
            hits = [p for p in Path(image_dir).glob(xml.stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES]
            if not hits:
                continue
            image = hits[0]
        s = _still(xml.stem, image, [o["box"] for o in objs], flt)
        if s:
            out.append(s)
    return out


def load_yolo(image_dir, label_dir=None, flt=BoxFilter()) -> list:
    """YOLO txt labels (`class cx cy w h`, normalised to the image size) beside or in a
    parallel `labels/` folder; image sizes are read from the image headers."""
    import cv2
    images = _need_dir(image_dir, "YOLO images")
    labels = Path(label_dir) if label_dir else None
    out = []
    for img in sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        txt = (labels / img.relative_to(images)).with_suffix(".txt") if labels else img.with_suffix(".txt")
        if not txt.exists():
            continue
        rows = [r.split() for r in txt.read_text().splitlines() if r.strip()]
        if not rows:
            continue
        im = cv2.imread(str(img), cv2.IMREAD_UNCHANGED)
        if im is None:
            raise DatasetError(f"YOLO image {img} unreadable")
        h, w = im.shape[:2]
        boxes = []
        for n, r in enumerate(rows, 1):
            try:
                cx, cy, bw, bh = (float(v) for v in r[1:5])
            except ValueError:
                raise DatasetError(f"{txt}:{n}: expected 'class cx cy w h', got {' '.join(r)!r}") from None
            boxes.append([(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h])
        s = _still(str(img.relative_to(images)), img, boxes, flt)
        if s:
            out.append(s)
    return out


# ---- the shared/train_data manifests --------------------------------------------------------

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


def load_manifest_images(root, sources=None, exclude_sources=(), flt=BoxFilter()) -> list:
    """Still images of `boxes.csv` (train_data layout), grouped per image; `sources`
    restricts to some `source` values, iscrowd boxes are skipped."""
    root = _need_dir(root, "train_data")
    crowd = _crowd_keys(root)
    per_image = {}
    for r in _csv_rows(root / "boxes.csv", ("image", "x", "y", "w", "h", "source")):
        if (sources and r["source"] not in sources) or r["source"] in exclude_sources:
            continue
        box = [float(r[k]) for k in ("x", "y", "w", "h")]
        if (r["image"], tuple(round(v, 1) for v in box)) in crowd:
            continue
        per_image.setdefault(r["image"], []).append(box)
    out = []
    for image, boxes in per_image.items():
        s = _still(image, root / image, boxes, flt)
        if s:
            out.append(s)
    return out


def load_manifest_sequences(root, sources=None, exclude=(), only=None, flt=BoxFilter()) -> list:
    """Videos of `sequence_boxes.csv`: one `Video` per (sequence, track_id). `exclude` /
    `only` take sequence names (e.g. to hold some out for validation)."""
    root = _need_dir(root, "train_data")
    tracks = {}
    for r in _csv_rows(root / "sequence_boxes.csv",
                       ("sequence", "frame_index", "image", "track_id", "x", "y", "w", "h", "source")):
        if sources and r["source"] not in sources:
            continue
        if r["sequence"] in exclude or (only is not None and r["sequence"] not in only):
            continue
        key = (r["sequence"], r["track_id"])
        tracks.setdefault(key, []).append(
            (int(r["frame_index"]), root / r["image"], [float(r[k]) for k in ("x", "y", "w", "h")]))
    out = []
    for (seq, tid), rows in sorted(tracks.items()):
        rows.sort(key=lambda t: t[0])
        v = _video(f"{seq}#{tid}", [r[1] for r in rows], [r[2] for r in rows], flt)
        if v:
            out.append(v)
    return out


# ---- config entry point -------------------------------------------------------------------

def _layout_loaders():
    """layout name -> (loader, the keys it accepts besides `root`)."""
    return {
        "got10k": lambda c, f: load_got10k(c["root"], c.get("split", "train"), f),
        "lasot": lambda c, f: load_lasot(c["root"], f, c.get("sequences")),
        "trackingnet": lambda c, f: load_trackingnet(c["root"], c.get("chunks"), f),
        "imagenet_vid": lambda c, f: load_imagenet_vid(c["root"], c.get("split", "train"), f),
        "coco": lambda c, f: load_coco(c["annotations"], c["images"], f),
        "voc": lambda c, f: load_voc(c["annotations"], c["images"], f, c.get("keep_difficult", False)),
        "yolo": lambda c, f: load_yolo(c["images"], c.get("labels"), f),
        "train_data_images": lambda c, f: load_manifest_images(
            c["root"], c.get("sources"), tuple(c.get("exclude_sources", ())), f),
        "train_data_sequences": lambda c, f: load_manifest_sequences(
            c["root"], c.get("sources"), tuple(c.get("exclude", ())), c.get("only"), f),
    }


LAYOUTS = tuple(_layout_loaders())


def build_training_set(entry: dict) -> TrainingSet:
    """One `data.datasets` entry of a training config -> TrainingSet.

    Keys: layout (one of LAYOUTS), name, ratio, max_gap, min_area_px and the layout's paths."""
    layout = entry.get("layout")
    loaders = _layout_loaders()
    if layout not in loaders:
        raise DatasetError(f"dataset layout {layout!r} unknown; use one of {', '.join(LAYOUTS)}")
    flt = BoxFilter(min_area_px=float(entry.get("min_area_px", BoxFilter.min_area_px)))
    try:
        items = loaders[layout](entry, flt)
    except KeyError as e:
        raise DatasetError(f"dataset {entry.get('name', layout)!r} ({layout}) needs key {e}") from None
    name = entry.get("name", layout)
    if not items:
        raise DatasetError(f"dataset {name!r} ({layout}) has no usable sequences or images")
    return TrainingSet(name, items, float(entry.get("ratio", 1.0)), int(entry.get("max_gap", 50)))
