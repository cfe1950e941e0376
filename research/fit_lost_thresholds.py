#!/usr/bin/env python3
"""Fit the LOST thresholds on recorded confidences: replay the tracker's own TRACKING <-> LOST
rule (tracker/lost.py) over a grid of (lost_threshold, recover_threshold, lost_frames) and score
each: recall on the frames where the target is absent, precision against the wrong frames
(IoU < 0.1 or absent), ranked by the goal (both >= 0.8) and then their F.

Why: a run per grid point costs minutes of CPU; replaying the rule on one run's confidences
costs milliseconds. It is an approximation in bounded mode, where LOST also freezes the box
and stops memory writes (so the later confidences would differ): validate the chosen point
with one real `stmtrack eval` run. Fit on a proxy (research.make_longterm_proxy output),
never on the evaluation set; `--report` scores a fitted point on other results unchanged.

    python -m research.fit_lost_thresholds --data runs/lt_proxy \
        --results runs/lt_proxy_res/stmtrack-bounded-got10k-confidencefirst_frame
    python -m research.fit_lost_thresholds --data ../shared/data --results runs/lt_shared/<label> \
        --report 0.35 0.5 3

`--combined` replays the `combined` confidence (tracker/combined.py) computed from the run's
recorded signals instead of the confidence it reported; `--relative` the `relative` one
(tracker/relative.py: its level and the LOST rule replayed with it, open loop).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from stmtrack_ros.datasets import DatasetError, load_dataset
from stmtrack_ros.eval import longterm
from stmtrack_ros.eval.report import image_size
from stmtrack_ros.eval.runner import load_result, load_scores, load_signals
from stmtrack_ros.tracker import combined, relative
from stmtrack_ros.tracker.lost import replay
from stmtrack_ros.tracker.params import TrackerParams
from stmtrack_ros.tracker.result import TrackState
from stmtrack_ros.tracker.signals import SIGNALS

LOST_THRESHOLDS = np.round(np.arange(0.05, 0.71, 0.05), 2)
RECOVER_MARGINS = (0.0, 0.05, 0.1, 0.2)      # recover_threshold = lost_threshold + this
LOST_FRAMES = (1, 2, 3, 5)
GOAL = 0.8   # LOST precision (LOST frames that are wrong, absent included) and recall on absent frames


def load_tables(data, results: Path) -> list:
    """Per-sequence long-term frame tables (init frame dropped) of one tracker folder."""
    tables = []
    for seq in load_dataset(data):
        res = load_result(results.parent, results.name, seq)
        scores = load_scores(results.parent, results.name, seq)
        if res is None or scores is None:
            raise DatasetError(f"{results}: no complete results with confidences for {seq.name}")
        tables.append(longterm.frame_table(res[0][1:], seq.gt[1:], ~seq.absent()[1:], scores[0][1:],
                                           scores[1][1:], image_size(seq)))
    return tables


def with_signals(data, results: Path, tables: list) -> list:
    """`tables` (load_tables of the same folder) each with a `signals` array (frames,
    len(SIGNALS)), init frame dropped."""
    for seq, table in zip(load_dataset(data), tables):
        signals = load_signals(results.parent, results.name, seq)
        if signals is None:
            raise DatasetError(f"{results}: no signals file for {seq.name} (rerun stmtrack eval)")
        table["signals"] = np.stack([signals[n][1:] for n in SIGNALS], axis=1)
    return tables


def combined_confidences(tables: list) -> list:
    """`tables` with their confidence replaced by the combined score of their signals."""
    for t in tables:
        t["confidence"] = np.array([combined.score(dict(zip(SIGNALS, row))) for row in t["signals"]])
    return tables


def relative_confidences(tables: list, params: TrackerParams) -> list:
    """`tables` with their confidence replaced by the relative score replayed on their
    recorded first_frame reads (`relative.replay`, at `params`' thresholds)."""
    col = SIGNALS.index("first_frame")
    for t in tables:
        t["confidence"] = relative.replay(np.nan_to_num(t["signals"][:, col]), params)
    return tables


def score(tables, lost_threshold, recover_threshold, lost_frames) -> dict:
    params = TrackerParams(lost_threshold=float(lost_threshold), recover_threshold=float(recover_threshold),
                           lost_frames=int(lost_frames))
    lost = np.concatenate([replay(t["confidence"], params) == TrackState.LOST for t in tables])
    absent = np.concatenate([~t["present"] for t in tables])
    wrong = np.concatenate([t["wrong"] for t in tables])
    ap, ar = longterm.detection_scores(lost, absent)
    wp, wr = longterm.detection_scores(lost, wrong)
    # the goal: LOST fires on the absent frames (recall) and only where the box is wrong
    # (precision against wrong frames: once the target is back, a LOST tracker that has not
    # found it again is right to say so)
    f = 2 * wp * ar / (wp + ar) if np.isfinite(wp + ar) and wp + ar > 0 else 0.0
    return {"lost_threshold": float(lost_threshold), "recover_threshold": float(recover_threshold),
            "lost_frames": int(lost_frames), "lost_frames_count": int(lost.sum()),
            "absent_precision": ap, "absent_recall": ar, "goal_f": f,
            "wrong_precision": wp, "wrong_recall": wr}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the dataset the results are for")
    ap.add_argument("--results", required=True, help="one tracker folder of a `stmtrack eval` --out")
    ap.add_argument("--report", nargs=3, type=float, metavar=("LOST", "RECOVER", "FRAMES"),
                    help="score this point only (no fit)")
    ap.add_argument("--top", type=int, default=8, help="grid points to print")
    ap.add_argument("--combined", action="store_true",
                    help="replay the combined confidence of the recorded signals")
    ap.add_argument("--relative", action="store_true",
                    help="replay the relative confidence of the recorded first_frame reads "
                         "(its level follows the default thresholds)")
    args = ap.parse_args(argv)
    try:
        tables = load_tables(args.data, Path(args.results))
        if args.combined:
            tables = combined_confidences(with_signals(args.data, Path(args.results), tables))
        elif args.relative:
            tables = relative_confidences(with_signals(args.data, Path(args.results), tables),
                                          TrackerParams())
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.report:
        print(json.dumps(score(tables, *args.report), indent=1))
        return 0
    grid = [score(tables, lt, round(lt + m, 2), k) for lt, m, k in
            itertools.product(LOST_THRESHOLDS, RECOVER_MARGINS, LOST_FRAMES) if lt + m <= 1.0]
    # the goal first (both >= GOAL), then the best F on absent frames
    grid.sort(key=lambda g: (not (g["wrong_precision"] >= GOAL and g["absent_recall"] >= GOAL), -g["goal_f"]))
    for g in grid[:args.top]:
        print(json.dumps(g))
    return 0


if __name__ == "__main__":
    sys.exit(main())
