"""Training material as the sampler wants it: the records of the dataset layer
(`stmtrack_ros.datasets`), filtered with a `BoxFilter`.

* `Video`: frame paths in temporal order with one x,y,w,h box per frame; frames where the
  target is absent by the dataset's labels (`Sequence.absent`) or whose box fails the filter
  are dropped, keeping the order;
* `StillImage`: one image with its K annotated objects (a pseudo-video: the sampler crops it
  with independent random jitter, as the paper does with COCO/DET).

Boxes are 0-based pixel x, y, w, h floats. The x,y,w,h text files of GOT-10k, LaSOT and
TrackingNet are read as stored (`Sequence.to_native`, as the official code does); VOC/ILSVRC
xml corners are 1-based inclusive and converted. Problems raise `DatasetError` with one line
naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..datasets import (
    DatasetError,
    StillImage,
    read_coco,
    read_got10k,
    read_imagenet_vid,
    read_lasot,
    read_manifest_images,
    read_manifest_sequences,
    read_trackingnet,
    read_voc,
    read_yolo,
)


@dataclass(frozen=True)
class Video:
    name: str
    frames: tuple  # image paths (str), temporal order
    boxes: np.ndarray  # (L, 4) float64 x, y, w, h

    def __len__(self):
        return len(self.frames)


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


def videos(seqs: list, flt: BoxFilter) -> list:
    """Sequences -> Videos of their present frames with boxes the filter keeps (>= 2 of them)."""
    out = []
    for seq in seqs:
        if not seq.has_full_gt:
            raise DatasetError(f"{seq.name}: {len(seq.gt)} ground-truth rows for {len(seq.frames)} "
                               "frames (a test split?), nothing to train on")
        boxes, absent = seq.to_native(seq.gt), seq.absent()
        keep = [i for i, b in enumerate(boxes) if not absent[i] and flt.keep(b)]
        if len(keep) >= 2:
            out.append(Video(seq.name, tuple(str(seq.frames[i]) for i in keep), boxes[keep]))
    return out


def stills(images: list, flt: BoxFilter) -> list:
    """StillImages with only the boxes the filter keeps (images left with none are dropped)."""
    out = []
    for im in images:
        kept = [b for b in im.boxes if flt.keep(b)]
        if kept:
            out.append(StillImage(im.name, im.image, kept))
    return out


# ---- one loader per layout: the dataset layer's reader, filtered ----------------------------

def load_got10k(root, split="train", flt=BoxFilter()) -> list:
    """GOT-10k: <root>/<split>/<seq>/{00000001.jpg..., groundtruth.txt, absence.label?}."""
    return videos(read_got10k(root, split), flt)


def load_lasot(root, flt=BoxFilter(), sequences=None) -> list:
    """LaSOT: <root>/<class>/<class-n>/{img/..., groundtruth.txt, full_occlusion.txt,
    out_of_view.txt}. `sequences` (names) restricts to a split."""
    return videos(read_lasot(root, sequences), flt)


def load_trackingnet(root, chunks=None, flt=BoxFilter()) -> list:
    """TrackingNet: <root>/TRAIN_<k>/{frames/<seq>/<i>.jpg, anno/<seq>.txt}."""
    return videos(read_trackingnet(root, chunks), flt)


def load_imagenet_vid(root, split="train", flt=BoxFilter()) -> list:
    return videos(read_imagenet_vid(root, split), flt)


def load_coco(annotation_json, image_dir, flt=BoxFilter()) -> list:
    return stills(read_coco(annotation_json, image_dir), flt)


def load_voc(annotation_dir, image_dir, flt=BoxFilter(), keep_difficult=False) -> list:
    return stills(read_voc(annotation_dir, image_dir, keep_difficult), flt)


def load_yolo(image_dir, label_dir=None, flt=BoxFilter()) -> list:
    return stills(read_yolo(image_dir, label_dir), flt)


def load_manifest_images(root, sources=None, exclude_sources=(), flt=BoxFilter()) -> list:
    return stills(read_manifest_images(root, sources, exclude_sources), flt)


def load_manifest_sequences(root, sources=None, exclude=(), only=None, flt=BoxFilter()) -> list:
    return videos(read_manifest_sequences(root, sources, exclude, only), flt)


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
