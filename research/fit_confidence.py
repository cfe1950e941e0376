#!/usr/bin/env python3
"""Fit the `combined` confidence (tracker/combined.py): a logistic regression over a few of the
per-frame signals (tracker/signals.py) that `stmtrack eval` writes beside the boxes, label 1 on
frames with IoU >= 0.5 and 0 on wrong ones (IoU < 0.1 or target absent), the frames between
left out. Prints each signal's AUROC and the model's, on the fitted videos and on the held-out
ones, then the coefficients to paste into tracker/combined.py.

Why a fit and not a rule: the frame-0 read alone ranks frames well (AUROC 0.87-0.96) but is
blind to a target that is gone while something like it sits in the window; the memory read,
their agreement and the peak's sharpness see other parts of that. Fit on training-data proxies
only (research.make_longterm_proxy), never on the evaluation set: `--fit` names the source
videos fitted on (the part of a proxy sequence's name before its last `_`), the others are
scored as held out, and `--also` scores other result folders unchanged.

    python -m research.fit_confidence --data runs/lt_proxy150 \
        --results runs/conf_p150/stmtrack-bounded-got10k --fit blackswan bmx-trees car-roundabout dog \
        --also runs/conf_heldout150 runs/conf_h150/stmtrack-bounded-got10k
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from research.fit_lost_thresholds import load_tables, with_signals
from stmtrack_ros.datasets import DatasetError, load_dataset
from stmtrack_ros.eval import longterm
from stmtrack_ros.tracker.signals import SIGNALS

FEATURES = ("first_frame", "memory", "agreement", "sharpness")   # the default model's inputs
L2 = 1e-2          # ridge on the standardised coefficients: keeps a near-collinear pair tame


def load_frames(data, results: Path) -> list:
    """(source video, frame table with a `signals` (frames, len(SIGNALS)) array) per sequence."""
    tables = with_signals(data, results, load_tables(data, results))
    return [(seq.name.rsplit("_", 1)[0], t) for seq, t in zip(load_dataset(data), tables)]


def pooled(frames: list, keep=lambda source: True) -> dict:
    tables = [t for s, t in frames if keep(s)]
    return {k: np.concatenate([t[k] for t in tables]) for k in ("signals", "right", "wrong", "ious")}


def design(signals: np.ndarray, features) -> np.ndarray:
    return np.stack([signals[:, SIGNALS.index(f)] for f in features], axis=1)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 50) -> tuple:
    """(intercept, weights) of a ridge logistic regression by Newton steps on standardised
    inputs, returned for the raw inputs."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.concatenate([np.ones((len(x), 1)), (x - mu) / sd], axis=1)
    w = np.zeros(z.shape[1])
    ridge = np.diag([0.0] + [l2 * len(x)] * x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        grad = z.T @ (p - y) + ridge @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z + ridge
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    weights = w[1:] / sd
    return float(w[0] - (weights * mu).sum()), weights


def predict(intercept: float, weights, x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(intercept + x @ np.asarray(weights))))


def aurocs(score_of, sets: dict) -> dict:
    """AUROC of `score_of(pool)` on each named pool."""
    return {name: round(longterm.auroc(score_of(p), p["right"], p["wrong"]), 4)
            for name, p in sets.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the proxy the results are for")
    ap.add_argument("--results", required=True, help="one tracker folder of a `stmtrack eval` --out")
    ap.add_argument("--fit", nargs="+", required=True, help="source videos to fit on")
    ap.add_argument("--also", nargs=2, action="append", default=[], metavar=("DATA", "RESULTS"),
                    help="score another result folder with the fitted model (repeatable)")
    ap.add_argument("--features", nargs="+", default=list(FEATURES), choices=SIGNALS)
    args = ap.parse_args(argv)
    try:
        frames = load_frames(args.data, Path(args.results))
        others = {Path(d).name: pooled(load_frames(d, Path(r))) for d, r in args.also}
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    fit = set(args.fit)
    sets = {"fit": pooled(frames, lambda s: s in fit),
            "held_out": pooled(frames, lambda s: s not in fit), **others}
    train = sets["fit"]
    labelled = train["right"] | train["wrong"]
    x = design(train["signals"][labelled], args.features)
    intercept, weights = fit_logistic(x, train["right"][labelled].astype(float))
    for name in SIGNALS:
        col = SIGNALS.index(name)
        print(f"signal {name:14s}", json.dumps(aurocs(lambda p, c=col: p["signals"][:, c], sets)))
    print("frames (right / wrong):", json.dumps({k: [int(p["right"].sum()), int(p["wrong"].sum())]
                                               for k, p in sets.items()}))
    model = aurocs(lambda p: predict(intercept, weights, design(p["signals"], args.features)), sets)
    print("combined AUROC", json.dumps(model))
    print("coefficients", json.dumps({"intercept": round(intercept, 4),
                                      "weights": {f: round(float(w), 4)
                                                  for f, w in zip(args.features, weights)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
