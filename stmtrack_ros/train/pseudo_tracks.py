"""`stmtrack pseudo-tracks`: training videos of random targets, labelled by a teacher tracker.

The labelled training videos are 20 short DAVIS clips with one salient object each: too few
targets for a network to learn to follow "whatever the memory marks" rather than "the salient
thing". Any textured region of a video is a target, though, with real appearance change from
frame to frame. This tool draws random textured boxes (`sampler.random_textured_box`) in
videos or image folders, follows each with a teacher tracker (NanoTrack v2 through OpenCV,
Apache-2.0, the evaluation peer) and keeps a track only while the teacher is confident and
where it can follow the box back to where it started (the forward-backward check of
self-supervised tracking): a teacher that drifted rarely finds its way back.

Output: the `shared/train_data` layout, read by the `train_data_sequences` training layout:
`frames/<video>/<n>.jpg`, `sequence_boxes.csv` (one row per box, one track id per track) and
`pseudo_tracks.json` (the settings, the teacher files and the counts).
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from ..datasets import DatasetError
from ..datasets.frame_source import FrameSource
from ..eval import peers
from ..eval.metrics import rect_iou
from .sampler import random_textured_box


def read_frames(source, step: int = 1, max_side: int = 640) -> list:
    """BGR frames of a video file or an image folder (`datasets.FrameSource`): every `step`-th
    one, shrunk so that the longer side is at most `max_side`."""
    source = Path(source)
    if not (source.is_dir() or source.is_file()):
        raise FileNotFoundError(f"{source}: not an image folder or a video file")
    frames = list(itertools.islice(FrameSource(source), 0, None, step))
    if len(frames) < 2:
        raise DatasetError(f"{source}: fewer than 2 readable frames")
    scale = min(1.0, max_side / max(frames[0].shape[:2]))
    if scale < 1.0:
        frames = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


def follow(teacher, frames: list, box, min_score: float) -> list:
    """The teacher's boxes from frames[0] (given `box`) on, up to the first frame where it
    reports failure or a score below `min_score`, or its box leaves the frame."""
    teacher.init(frames[0], box)
    boxes = [np.asarray(box, dtype=np.float64)]
    h, w = frames[0].shape[:2]
    for frame in frames[1:]:
        result = teacher.update(frame)
        b = np.asarray(result.box, dtype=np.float64)
        inside = b[2] > 1 and b[3] > 1 and b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= w and b[1] + b[3] <= h
        if not result.ok or not inside or teacher.score() < min_score:
            break
        boxes.append(b)
    return boxes


def forward_backward(teacher, frames: list, box, min_score: float, min_iou: float):
    """(boxes of the frames the teacher followed, IoU of the way back) or None when it
    followed fewer than 2 frames or came back elsewhere than `box` (IoU < `min_iou`)."""
    forward = follow(teacher, frames, box, min_score)
    if len(forward) < 2:
        return None
    backward = follow(teacher, frames[:len(forward)][::-1], forward[-1], 0.0)
    if len(backward) < len(forward):
        return None
    back_iou = float(rect_iou(backward[-1][None], np.asarray(box, dtype=np.float64)[None])[0])
    return (forward, back_iou) if back_iou >= min_iou else None


def video_tracks(teacher, frames: list, rng, tracks: int, length: int, min_length: int,
                 min_score: float, min_iou: float, tries: int = 4) -> list:
    """Up to `tracks` accepted (start frame, boxes) of one video; each track is given `tries`
    random boxes to be accepted. Tracks run forwards or backwards in time at random."""
    out = []
    for _ in range(tracks):
        for _ in range(tries):
            reverse = bool(rng.random() < 0.5)
            order = frames[::-1] if reverse else frames
            start = int(rng.integers(0, max(len(order) - min_length, 0) + 1))
            box = random_textured_box(order[start], rng)
            if box is None:
                continue
            got = forward_backward(teacher, order[start:start + length], box, min_score, min_iou)
            if got is None or len(got[0]) < min_length:
                continue
            boxes = got[0]
            indexes = list(range(start, start + len(boxes)))
            if reverse:  # back to the video's own order
                indexes = [len(frames) - 1 - i for i in indexes][::-1]
                boxes = boxes[::-1]
            out.append((indexes, boxes))
            break
    return out


def write_pseudo_tracks(out: Path, videos: dict, args, teacher_files) -> dict:
    """Runs the teacher over `videos` (name -> frames) and writes the train_data layout."""
    rng = np.random.default_rng(args.seed)
    teacher = peers.nano(args.teacher_dir)
    rows, counts = [], {}
    for name, frames in videos.items():
        tracks = video_tracks(teacher, frames, rng, args.tracks_per_video, args.length,
                              args.min_length, args.min_score, args.min_iou)
        counts[name] = {"frames": len(frames), "tracks": len(tracks),
                        "boxes": int(sum(len(b) for _, b in tracks))}
        used = sorted({i for idx, _ in tracks for i in idx})
        folder = out / "frames" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in used:
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), frames[i], [cv2.IMWRITE_JPEG_QUALITY, 90])
        for tid, (idx, boxes) in enumerate(tracks):
            for i, b in zip(idx, boxes):
                rows.append([name, i, f"{i:05d}.jpg", f"frames/{name}/{i:05d}.jpg", tid,
                             *(f"{v:.2f}" for v in b), "random", "pseudo_nanotrack_v2"])
        print(f"pseudo-tracks: {name}: {len(tracks)} tracks, {counts[name]['boxes']} boxes", flush=True)
    with open(out / "sequence_boxes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sequence", "frame_index", "frame", "image", "track_id", "x", "y", "w", "h",
                    "class", "source"])
        w.writerows(rows)
    summary = {
        "what": "random textured boxes followed by a teacher tracker, forward-backward checked",
        "teacher": {"name": "NanoTrack v2 (cv2.TrackerNano)", "files": [str(p) for p in teacher_files],
                    "license": "Apache-2.0"},
        "settings": {k: getattr(args, k) for k in ("seed", "tracks_per_video", "length", "min_length",
                                                   "min_score", "min_iou", "step", "max_side")},
        "videos": counts,
        "tracks": int(sum(c["tracks"] for c in counts.values())),
        "boxes": len(rows),
    }
    (out / "pseudo_tracks.json").write_text(json.dumps(summary, indent=1))
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", action="append", required=True, metavar="PATH",
                   help="a video file or a folder of frames (repeatable)")
    p.add_argument("--out", required=True, help="output folder (train_data layout)")
    p.add_argument("--tracks-per-video", type=int, default=40)
    p.add_argument("--length", type=int, default=30, help="longest track, in kept frames")
    p.add_argument("--min-length", type=int, default=8, help="shortest track kept")
    p.add_argument("--min-score", type=float, default=0.6, help="teacher score below which a track ends")
    p.add_argument("--min-iou", type=float, default=0.6,
                   help="IoU of the way back with the start box below which a track is dropped")
    p.add_argument("--step", type=int, default=1, help="keep every N-th frame of the videos")
    p.add_argument("--max-side", type=int, default=640, help="frames shrunk to this longer side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--teacher-dir", default=None,
                   help=f"NanoTrack v2 ONNX folder (default {peers.NANOTRACK_DIR})")


def run(args) -> int:
    try:
        teacher_files = peers.nanotrack_files(args.teacher_dir)
        videos = {}
        for v in args.video:
            name = Path(v).stem if Path(v).is_file() else Path(v).name
            if name in videos:
                raise FileNotFoundError(f"{v}: a second video named {name!r}; rename one")
            videos[name] = read_frames(v, args.step, args.max_side)
    except (FileNotFoundError, DatasetError, peers.PeerUnavailable) as e:
        print(f"stmtrack pseudo-tracks: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = write_pseudo_tracks(out, videos, args, teacher_files)
    print(f"pseudo-tracks: {summary['tracks']} tracks, {summary['boxes']} boxes in {out}", flush=True)
    return 0
