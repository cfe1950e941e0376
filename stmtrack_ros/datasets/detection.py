"""Readers for detection-style annotations that training uses: ImageNet-VID (videos, one
`Sequence` per track id) and COCO, Pascal VOC, YOLO (still images, one `StillImage` each).

Boxes become 0-based pixel x, y, w, h floats: VOC/ILSVRC xml corners are 1-based inclusive,
COCO boxes are x, y, w, h already, YOLO's are normalised centres. Nothing is filtered here
(training drops tiny boxes with its BoxFilter)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from .files import IMAGE_SUFFIXES, need_dir
from .records import ZERO_BASED, DatasetError, Sequence, StillImage


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


def read_imagenet_vid(root, split="train") -> list:
    """ILSVRC VID: <root>/Data/VID/<split>/.../<snippet>/<frame>.JPEG with matching
    <root>/Annotations/VID/<split>/.../<snippet>/<frame>.xml; every trackid is its own
    sequence (the frames where it is annotated, named <snippet>#<trackid>)."""
    base = need_dir(root, "ImageNet-VID root")
    ann_root = need_dir(base / "Annotations" / "VID" / split, "ImageNet-VID annotations")
    data_root = base / "Data" / "VID" / split
    out = []
    for snip in sorted({p.parent for p in ann_root.rglob("*.xml")}):
        rel = snip.relative_to(ann_root)
        tracks = {}
        xmls = sorted(snip.glob("*.xml"))
        for i, xml in enumerate(xmls):
            for obj in _parse_voc(xml, keep_difficult=True)[1]:
                tracks.setdefault(obj["trackid"], {})[i] = obj["box"]
        frames = [data_root / rel / (x.stem + ".JPEG") for x in xmls]
        for tid, by_frame in sorted(tracks.items()):
            idx = sorted(by_frame)
            out.append(Sequence(f"{rel.as_posix()}#{tid}", [frames[i] for i in idx],
                                [by_frame[i] for i in idx], ZERO_BASED, "imagenet_vid"))
    return out


def read_coco(annotation_json, image_dir) -> list:
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
    return [StillImage(images[iid], Path(image_dir) / images[iid], boxes)
            for iid, boxes in sorted(per_image.items()) if iid in images]


def read_voc(annotation_dir, image_dir, keep_difficult=False) -> list:
    """Pascal VOC xml files (one per image); `difficult` objects are skipped by default, and
    so is an xml whose image is missing."""
    ann = need_dir(annotation_dir, "VOC annotations")
    out = []
    for xml in sorted(ann.glob("*.xml")):
        filename, objs = _parse_voc(xml, keep_difficult)
        image = Path(image_dir) / (filename or xml.stem + ".jpg")
        if not image.exists():
            hits = [p for p in Path(image_dir).glob(xml.stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES]
            if not hits:
                continue
            image = hits[0]
        out.append(StillImage(xml.stem, image, [o["box"] for o in objs]))
    return out


def read_yolo(image_dir, label_dir=None) -> list:
    """YOLO txt labels (`class cx cy w h`, normalised to the image size) beside or in a
    parallel `labels/` folder; image sizes are read from the image headers."""
    import cv2
    images = need_dir(image_dir, "YOLO images")
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
        out.append(StillImage(str(img.relative_to(images)), img, boxes))
    return out
