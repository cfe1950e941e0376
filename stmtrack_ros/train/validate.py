"""Periodic validation during training: run the real tracker on held-out sequences and score
it with the evaluation toolkit (GOT-10k AO / SR0.5 pooled over frames, OTB success AUC).

The sequences come from `val.datasets` (video layouts as in `data.datasets`; keep them out of
the training entries). Frames where the target is absent are dropped on load, so this is a
quick training signal, not a benchmark number. The scale and label probes that steered the
small model's recipes run on saved checkpoints instead (research/checkpoint_probes.py).
"""
from __future__ import annotations

import copy

import cv2
import numpy as np

from ..eval.metrics import aggregate, evaluate_sequence
from ..tracker import Tracker, TrackerParams
from .training_set import Video, build_training_set


def load_val_videos(val_cfg: dict) -> list:
    videos = []
    for entry in val_cfg["datasets"]:
        videos += [v for v in build_training_set(entry).items if isinstance(v, Video)]
    return videos[:int(val_cfg["max_sequences"])]


def track_video(tracker: Tracker, video: Video, max_frames: int):
    """(pred boxes, gt boxes, (W, H)) over the first max_frames frames of `video`."""
    n = min(len(video), max_frames)
    pred = np.zeros((n, 4))
    size = None
    for i in range(n):
        frame = cv2.imread(video.frames[i], cv2.IMREAD_COLOR)
        if frame is None:
            raise RuntimeError(f"validation: cannot read frame {video.frames[i]}")
        size = (frame.shape[1], frame.shape[0])
        if i == 0:
            tracker.init(frame, tuple(video.boxes[0]))
            pred[0] = video.boxes[0]
        else:
            pred[i] = tracker.update(frame).box
    return pred, video.boxes[:n], size


def validate(model, val_cfg: dict, device) -> dict:
    """{'ao', 'sr50', 'auc'} of a copy of `model` (the training model is left untouched)."""
    videos = load_val_videos(val_cfg)
    net = copy.deepcopy(getattr(model, "module", model)).eval()
    dev = "cuda" if getattr(device, "type", str(device)).startswith("cuda") else "cpu"
    tracker = Tracker(net, TrackerParams(hp=str(val_cfg["hp"]), device=dev))
    per_seq = []
    for v in videos:
        pred, gt, size = track_video(tracker, v, int(val_cfg["max_frames"]))
        per_seq.append(evaluate_sequence(pred, gt, image_size=size))
    agg = aggregate(per_seq)
    return {k: float(agg[k]) for k in ("ao", "sr50", "auc")} if agg else {}
