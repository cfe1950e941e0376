"""Scores from stored results: summary.json, a Markdown table and the plots."""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
from pathlib import Path

import numpy as np

from ..datasets import Sequence
from . import longterm, metrics, plots
from .runner import STMTRACK, load_result, load_scores, recorded_backend

SCALARS = ("auc", "precision", "norm_precision", "ao", "sr50", "sr75", "fps")
HEADERS = {"auc": "AUC", "precision": "P@20px", "norm_precision": "norm. P", "ao": "AO",
           "sr50": "SR0.5", "sr75": "SR0.75", "fps": "FPS"}
CURVES = ("success_curve", "precision_curve", "norm_precision_curve")
LT_SCALARS = ("f_score", "lt_precision", "lt_recall", "auroc", "spearman", "lost_precision",
              "lost_recall", "absent_lost_recall", "wrong_recall_at_p80", "refound_rate")
LT_HEADERS = {"f_score": "F", "lt_precision": "Pr", "lt_recall": "Re", "auroc": "AUROC",
              "spearman": "Spearman", "lost_precision": "LOST P", "lost_recall": "LOST R",
              "absent_lost_recall": "LOST R absent", "wrong_recall_at_p80": "R@P0.8",
              "refound_rate": "re-found"}
LT_COUNTS = ("frames", "absent_frames", "wrong_frames", "lost_frames", "returns")


def image_size(seq: Sequence) -> tuple:
    """(W, H) from the sequence manifest when it has one, else from the first frame."""
    wh = seq.extra.get("manifest", {}).get("image_size_wh")
    if wh:
        return int(wh[0]), int(wh[1])
    import cv2
    im = cv2.imread(str(seq.frames[0]), cv2.IMREAD_UNCHANGED)
    if im is None:
        raise RuntimeError(f"{seq.name}: cannot read frame {seq.frames[0]}")
    return im.shape[1], im.shape[0]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, {platform.system()} {platform.release()}"


def _clean(v):
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return [_clean(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return round(v, 8) if math.isfinite(v) else None   # JSON has no NaN/inf
    if isinstance(v, np.integer):
        return int(v)
    return v


def summarize(out, labels: list, sequences: list, count_init_frame: bool = False, meta=None) -> dict:
    """Scores of every tracker folder in `labels` over `sequences` (those with results)."""
    sizes = {s.name: image_size(s) for s in sequences if s.has_full_gt}
    trackers = {}
    for label in labels:
        settings_file = Path(out) / label / "run.json"
        per_seq, times, missing, seq_out, tables = [], [], [], {}, []
        for seq in sequences:
            res = load_result(out, label, seq)
            if res is None:
                missing.append(seq.name)
                continue
            if not seq.has_full_gt:
                continue        # test split: results are for the evaluation server
            boxes, t = res
            m = metrics.evaluate_sequence(boxes, seq.gt, seq.valid, sizes[seq.name], t, count_init_frame)
            per_seq.append(m)
            times.append(t)
            seq_out[seq.name] = {k: m[k] for k in ("frames",) + SCALARS}
            seq_out[seq.name]["lost_frames"] = int(np.isnan(boxes[1:, 0]).sum())
            scores = load_scores(out, label, seq)
            if scores is not None:
                first = 0 if count_init_frame else 1
                table = longterm.frame_table(boxes[first:], seq.gt[first:], ~seq.absent()[first:],
                                             scores[0][first:], scores[1][first:], sizes[seq.name])
                tables.append(table)
                seq_out[seq.name]["absent_frames"] = int((~table["present"]).sum())
                seq_out[seq.name]["lost_state_frames"] = int(table["lost"].sum())
        overall = metrics.aggregate(per_seq, times)
        settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
        lt = longterm.summarize(tables) if tables and len(tables) == len(per_seq) else {}
        if lt:
            lt["confidence_source"] = "tracker" if settings.get("kind") == STMTRACK else "failure flag"
        trackers[label] = {
            "settings": settings,
            "backend": recorded_backend(out, label, settings) if settings.get("kind") == STMTRACK
            else None,
            "overall": {k: overall[k] for k in ("sequences", "frames") + SCALARS + CURVES} if overall else {},
            "longterm": lt,
            "sequences": seq_out,
            "missing": missing,
        }
    summary = {
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "protocol": {
            "evaluation": "one-pass: init on frame 1 with its ground truth, update on frames 2..N",
            "frames_scored": "1..N (OTB toolkit: row 1 = ground truth)" if count_init_frame
            else "2..N (init frame excluded, as GOT-10k)",
            "boxes": "results in the dataset's own convention; metrics on 0-based x,y,w,h",
            "auc": "mean over 21 thresholds linspace(0,1,21) of fraction(IoU > t); per-sequence curves "
                   "averaged over sequences",
            "precision": "fraction of frames with centre error <= 20 px (sequence mean)",
            "norm_precision": "mean over 51 thresholds linspace(0,0.5,51) of fraction(normalized centre "
                              "error <= t) (LaSOT toolkit)",
            "ao_sr": "GOT-10k: mean IoU and fraction IoU > 0.5 / 0.75 with boxes clipped to the image, "
                     "pooled over all frames",
            "fps": "frames / seconds spent in the tracker's update() (image decoding excluded)",
            "lost": "a frame where a tracker reported failure (NaN box) has IoU 0",
            "longterm": "frames as above, absent-target frames included (NaN ground truth, GOT-10k "
                        "absence/cover 0, LaSOT full_occlusion/out_of_view); IoU with the image-clipped "
                        "boxes, 0 where the target is absent. F/Pr/Re: VOT long-term tracking "
                        "precision/recall (mean IoU of boxes with confidence >= t / summed IoU over "
                        "present frames), sequence-averaged curves over 100 confidence quantiles, at the "
                        "threshold of the best F. AUROC: confidence of frames with IoU >= 0.5 vs wrong "
                        "frames (IoU < 0.1 or absent). Spearman: confidence vs IoU, all frames. LOST P/R: "
                        "LOST frames that are wrong / wrong frames that are LOST (absent: against absent "
                        "frames). R@P0.8: best recall of 'confidence < t' on wrong frames at precision "
                        ">= 0.8. re-found: returns after an absence with a TRACKING frame of IoU >= 0.5 "
                        "within 10 frames. Peers without a confidence (confidence_source 'failure "
                        "flag'): confidence 1 and TRACKING while they claim the target, 0 and LOST on "
                        "failure; pooled over a tracker's sequences, none when a sequence lacks them",
        },
        "trackers": trackers,
    }
    summary.update(meta or {})
    return _clean(summary)


def markdown(summary: dict) -> str:
    """Overall table (sorted by AUC) and a per-sequence AUC table."""
    trk = {k: v for k, v in summary["trackers"].items() if v["overall"]}
    order = sorted(trk, key=lambda k: -(trk[k]["overall"]["auc"] or 0))
    lines = ["| tracker | " + " | ".join(HEADERS[k] for k in SCALARS) + " | sequences | frames |",
             "|---" * (len(SCALARS) + 3) + "|"]
    for name in order:
        o = trk[name]["overall"]
        cells = [_fmt(o[k], k) for k in SCALARS]
        shown = name + (f" ({trk[name]['backend']})" if trk[name].get("backend") else "")
        lines.append(f"| {shown} | " + " | ".join(cells) + f" | {o['sequences']} | {o['frames']} |")
    seqs = sorted({s for v in trk.values() for s in v["sequences"]})
    if seqs and order:
        lines += ["", "AUC per sequence:", "",
                  "| sequence | " + " | ".join(order) + " |", "|---" * (len(order) + 1) + "|"]
        for s in seqs:
            cells = [_fmt(trk[n]["sequences"].get(s, {}).get("auc"), "auc") for n in order]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lt = {k: v["longterm"] for k, v in trk.items() if v.get("longterm")}
    if lt:
        lines += ["", "Long-term (confidence and state; protocol.longterm in summary.json):", "",
                  "| tracker | " + " | ".join(LT_HEADERS[k] for k in LT_SCALARS) + " | "
                  + " | ".join(c.replace("_", " ") for c in LT_COUNTS) + " | confidence |",
                  "|---" * (len(LT_SCALARS) + len(LT_COUNTS) + 2) + "|"]
        for name in sorted(lt, key=lambda k: -(lt[k]["f_score"] or 0)):
            cells = [_fmt(lt[name][k], k) for k in LT_SCALARS] + [str(lt[name][c]) for c in LT_COUNTS]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {lt[name]['confidence_source']} |")
    return "\n".join(lines) + "\n"


def _fmt(v, key) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if key == "fps" else f"{v:.3f}"


def write_report(summary: dict, out) -> dict:
    """summary.json, results.md, success.png, precision.png in `out`; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out / "summary.json", "table": out / "results.md"}
    paths["summary"].write_text(json.dumps(summary, indent=1) + "\n")
    paths["table"].write_text(markdown(summary))
    overall = {k: v["overall"] for k, v in summary["trackers"].items() if v["overall"]}
    if overall:
        paths["success_plot"] = plots.success_plot(overall, out / "success.png")
        paths["precision_plot"] = plots.precision_plot(overall, out / "precision.png")
    lt = {k: v["longterm"] for k, v in summary["trackers"].items() if v.get("longterm")}
    if lt:
        paths["pr_plot"] = plots.pr_plot(lt, out / "pr.png")
    return paths
