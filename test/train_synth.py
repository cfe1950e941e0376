"""Tiny synthetic training datasets written as real image files in the real on-disk layouts
(GOT-10k, LaSOT, TrackingNet, ImageNet-VID, COCO, VOC, YOLO, train_data manifests).

Each image is noise with one or two solid rectangles; the returned ground truth is what the
loaders must read back (0-based x, y, w, h)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

W, H = 96, 72


def _frame(rng, boxes, colours=((0, 0, 255), (255, 0, 0))):
    img = rng.integers(60, 140, (H, W, 3), dtype=np.uint8)
    for (x, y, w, h), c in zip(boxes, colours):
        img[int(y):int(y + h), int(x):int(x + w)] = c
    return img


def moving_boxes(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = 20.0, 20.0
    out = []
    for _ in range(n):
        x = float(np.clip(x + rng.integers(-3, 4), 2, W - 30))
        y = float(np.clip(y + rng.integers(-3, 4), 2, H - 25))
        out.append([x, y, 24.0, 18.0])
    return out


def _write(path: Path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def _gt_text(boxes, sep=","):
    return "\n".join(sep.join(f"{v:g}" for v in b) for b in boxes) + "\n"


def write_got10k(root: Path, n_seq=2, n=6):
    gts = {}
    rng = np.random.default_rng(1)
    for s in range(n_seq):
        seq = root / "train" / f"GOT-10k_Train_{s + 1:06d}"
        boxes = moving_boxes(n, s)
        for i, b in enumerate(boxes):
            _write(seq / f"{i + 1:08d}.jpg", _frame(rng, [b]))
        (seq / "groundtruth.txt").write_text(_gt_text(boxes))
        absent = [0] * n
        absent[2] = 1
        (seq / "absence.label").write_text("\n".join(map(str, absent)) + "\n")
        gts[seq.name] = [b for i, b in enumerate(boxes) if i != 2]
    return gts


def write_lasot(root: Path, n=6):
    rng = np.random.default_rng(2)
    seq = root / "cat" / "cat-1"
    boxes = moving_boxes(n, 3)
    for i, b in enumerate(boxes):
        _write(seq / "img" / f"{i + 1:08d}.jpg", _frame(rng, [b]))
    (seq / "groundtruth.txt").write_text(_gt_text(boxes))
    (seq / "full_occlusion.txt").write_text(",".join(["0"] * (n - 1) + ["1"]) + "\n")
    (seq / "out_of_view.txt").write_text(",".join(["0"] * n) + "\n")
    return {"cat-1": boxes[:-1]}


def write_trackingnet(root: Path, n=12):
    rng = np.random.default_rng(3)
    boxes = moving_boxes(n, 4)
    folder = root / "TRAIN_0" / "frames" / "vid_a"
    for i, b in enumerate(boxes):  # 0.jpg .. 11.jpg: numeric order differs from text order
        _write(folder / f"{i}.jpg", _frame(rng, [b]))
    (root / "TRAIN_0" / "anno").mkdir(parents=True)
    (root / "TRAIN_0" / "anno" / "vid_a.txt").write_text(_gt_text(boxes))
    return {"vid_a": boxes}


def _voc_xml(filename, objs, track=False):
    parts = [f"<annotation><filename>{filename}</filename>"]
    for k, (x, y, w, h) in enumerate(objs):
        tid = f"<trackid>{k}</trackid>" if track else ""
        parts.append(f"<object><name>thing</name>{tid}<difficult>0</difficult><bndbox>"
                     f"<xmin>{x + 1:g}</xmin><ymin>{y + 1:g}</ymin><xmax>{x + w:g}</xmax>"
                     f"<ymax>{y + h:g}</ymax></bndbox></object>")
    return "".join(parts) + "</annotation>"


def write_imagenet_vid(root: Path, n=5):
    rng = np.random.default_rng(4)
    a, b = moving_boxes(n, 5), moving_boxes(n, 6)
    b = [[W - 30 - bb[0] + 2, bb[1], 20.0, 16.0] for bb in b]
    snip = "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000"
    for i in range(n):
        _write(root / "Data" / "VID" / "train" / snip / f"{i:06d}.JPEG", _frame(rng, [a[i], b[i]]))
        x = root / "Annotations" / "VID" / "train" / snip / f"{i:06d}.xml"
        x.parent.mkdir(parents=True, exist_ok=True)
        x.write_text(_voc_xml(f"{i:06d}", [a[i], b[i]], track=True))
    return {f"{snip}#0": a, f"{snip}#1": b}


def _still_boxes(k):
    return [[10.0 + 8 * k, 12.0, 30.0, 24.0], [50.0, 30.0 + 2 * k, 20.0, 20.0]]


def write_voc(root: Path, n=3):
    rng = np.random.default_rng(5)
    out = {}
    for k in range(n):
        boxes = _still_boxes(k)
        _write(root / "JPEGImages" / f"im{k}.jpg", _frame(rng, boxes))
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"im{k}.xml").write_text(_voc_xml(f"im{k}.jpg", boxes))
        out[f"im{k}"] = boxes
    return out


def write_coco(root: Path, n=3):
    rng = np.random.default_rng(6)
    images, anns, out = [], [], {}
    for k in range(n):
        boxes = _still_boxes(k)
        _write(root / "images" / f"{k:012d}.jpg", _frame(rng, boxes))
        images.append({"id": k + 1, "file_name": f"{k:012d}.jpg", "width": W, "height": H})
        for b in boxes:
            anns.append({"id": len(anns) + 1, "image_id": k + 1, "bbox": b, "iscrowd": 0, "category_id": 1})
        anns.append({"id": len(anns) + 1, "image_id": k + 1, "bbox": [0, 0, 90, 70], "iscrowd": 1,
                     "category_id": 1})
        out[f"{k:012d}.jpg"] = boxes
    (root / "instances.json").write_text(json.dumps({"images": images, "annotations": anns}))
    return out


def write_yolo(root: Path, n=3):
    rng = np.random.default_rng(7)
    out = {}
    for k in range(n):
        boxes = _still_boxes(k)
        _write(root / "images" / f"y{k}.jpg", _frame(rng, boxes))
        lines = [f"0 {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}"
                 for x, y, w, h in boxes]
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"y{k}.txt").write_text("\n".join(lines) + "\n")
        out[f"y{k}.jpg"] = boxes
    return out


def write_train_data(root: Path, n_img=4, n_seq=2, n=8):
    """The shared/train_data layout: boxes.csv (+ manifest.json with one iscrowd box) and
    sequence_boxes.csv."""
    rng = np.random.default_rng(8)
    rows, manifest = [], {"images": []}
    for k in range(n_img):
        boxes = _still_boxes(k)
        rel = f"images/src/im{k}.jpg"
        _write(root / rel, _frame(rng, boxes))
        entry = {"image": rel, "width": W, "height": H, "boxes": []}
        for b in boxes:
            rows.append([rel, W, H, *b, "thing", "src"])
            entry["boxes"].append({"bbox": b, "class": "thing"})
        if k == 0:  # one crowd box: in the csv, flagged only in manifest.json
            crowd = [0.0, 0.0, 90.0, 70.0]
            rows.append([rel, W, H, *crowd, "thing", "src"])
            entry["boxes"].append({"bbox": crowd, "class": "thing", "iscrowd": True})
        manifest["images"].append(entry)
    with open(root / "boxes.csv", "w", newline="") as f:
        csv.writer(f).writerows([["image", "width", "height", "x", "y", "w", "h", "class", "source"], *rows])
    (root / "manifest.json").write_text(json.dumps(manifest))
    seq_rows, seqs = [], {}
    for s in range(n_seq):
        boxes = moving_boxes(n, 10 + s)
        name = f"vids/seq{s}"
        for i, b in enumerate(boxes):
            rel = f"sequences/{name}/{i:05d}.jpg"
            _write(root / rel, _frame(rng, [b]))
            seq_rows.append([name, i, 2 * i, rel, 1, *b, "thing", "vids"])
        seqs[f"{name}#1"] = boxes
    with open(root / "sequence_boxes.csv", "w", newline="") as f:
        csv.writer(f).writerows([["sequence", "frame_index", "frame", "image", "track_id", "x", "y", "w",
                                  "h", "class", "source"], *seq_rows])
    return {"images": {r[0]: None for r in rows}, "sequences": seqs}
