"""Periodic validation during training: run the real tracker on held-out sequences and score
it with the evaluation toolkit (GOT-10k AO / SR0.5 pooled over frames, OTB success AUC).

The sequences come from `val.datasets` (video layouts as in `data.datasets`; keep them out of
the training entries). Frames where the target is absent are dropped on load, so this is a
quick training signal, not a benchmark number. With `val.scale_factors` the scale probe
(eval/scale_probe.py) runs on the same videos too: `scale_x<f>` is the median predicted/true
size with the query cropped at f x the true scale (1 at every f = the model reads sizes of
objects it never trained on; f = it repeats a learnt size). With `val.label_probe` the label
probe (eval/label_probe.py) runs on still images: `memory_unrelated_corr` near 1 = the score
ignores the memory, `distractor_hits` near 1 = a neighbour at the crop centre does not fool it.
"""
from __future__ import annotations

import copy

import cv2
import numpy as np

from ..eval.metrics import aggregate, evaluate_sequence
from ..eval.scale_probe import probe_sequences
from ..tracker import Tracker, TrackerParams
from ..tracker.params import HP_PRESETS
from .datasets import Video, build_training_set


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
    """{'ao', 'sr50', 'auc'[, 'scale_x<f>', 'probe_iou_x<f>']} of a copy of `model` (the training
    model is left untouched)."""
    videos = load_val_videos(val_cfg)
    net = copy.deepcopy(getattr(model, "module", model)).eval()
    dev = "cuda" if getattr(device, "type", str(device)).startswith("cuda") else "cpu"
    tracker = Tracker(net, TrackerParams(hp=str(val_cfg["hp"]), device=dev))
    per_seq = []
    for v in videos:
        pred, gt, size = track_video(tracker, v, int(val_cfg["max_frames"]))
        per_seq.append(evaluate_sequence(pred, gt, image_size=size))
    agg = aggregate(per_seq)
    scores = {k: float(agg[k]) for k in ("ao", "sr50", "auc")} if agg else {}
    factors = [float(f) for f in val_cfg.get("scale_factors") or ()]
    if factors:
        seqs = [(v.name, v.frames[:int(val_cfg["max_frames"])], v.boxes) for v in videos]
        probe = probe_sequences(net.cpu(), seqs, factors,
                                per_sequence=int(val_cfg["max_frames"]),
                                search_area_factor=HP_PRESETS[str(val_cfg["hp"])].search_area_factor)
        for f, summary in probe["factors"].items():
            if summary["pairs"]:
                scores[f"scale_x{f}"] = float(summary["size_ratio_median"])
                scores[f"probe_iou_x{f}"] = float(summary["mean_iou"])
    probe_cfg = val_cfg.get("label_probe") or {}
    if probe_cfg.get("root"):
        from ..eval.label_probe import label_response
        from .datasets import load_manifest_images
        items = load_manifest_images(probe_cfg["root"], probe_cfg.get("sources") or None)
        res = label_response(net.cpu(), [(it.image, it.boxes) for it in items],
                             int(probe_cfg.get("pairs", 60)),
                             HP_PRESETS[str(val_cfg["hp"])].search_area_factor)
        for key, name in (("unrelated_memory_score_corr", "memory_unrelated_corr"),
                          ("score_corr_mean", "label_swap_corr"),
                          ("distractor_centred_peak_on_target", "distractor_hits")):
            if res.get(key) is not None:
                scores[name] = float(res[key])
    return scores
