"""Per-frame signals a confidence can be built from (issue 19, "one published confidence").

Each is computed from what the track pass already has (the memory read's score map, the
frame-0 read of the chosen cell, the chosen box against the search window's prior box, the
memory's last write), so they cost no extra network pass. `SIGNALS` is the one list of their
names: the tracker's `TrackResult.signals`, the eval's `<seq>_001_signals.csv` columns and
research/fit_confidence.py read it.

* memory: the official score of the chosen cell (the read of every memory frame).
* first_frame: the same cell read against frame 0 alone (the user's box).
* agreement: min / max of those two (1 = they agree; a memory that followed a neighbour
  reads it high while frame 0 reads it low).
* sharpness: the memory score at the chosen cell minus the best score of the cells more than
  SHARP_RADIUS cells away from it (a look-alike elsewhere in the crop lowers it).
* jump: distance of the new centre from the search window's centre (the last box while
  TRACKING, the frozen box or a candidate while LOST), in units of the prior box's size
  sqrt(w h); 0 for a whole-frame tile read while LOST (a tile's centre is no prior box).
* scale_change, aspect_change: |log| of the network's raw box (before the official size
  smoothing) against the prior box: sqrt(w h) ratio and (w / h) ratio.
* since_write: frames since the last frame written into memory (1 = the previous frame).
"""
from __future__ import annotations

import math

import numpy as np

SIGNALS = ("memory", "first_frame", "agreement", "sharpness", "jump", "scale_change",
           "aspect_change", "since_write")
SHARP_RADIUS = 2   # cells: what counts as "away from" the chosen peak


def sharpness(score: np.ndarray, best: int, radius: int = SHARP_RADIUS) -> float:
    """score[best] minus the highest score farther than `radius` cells (Chebyshev) from it,
    on the square grid `score` (P,) flattens; score[best] when no cell is that far."""
    n = int(round(math.sqrt(score.size)))
    grid = np.asarray(score, dtype=np.float64).reshape(n, n)
    r, c = divmod(int(best), n)
    away = grid.copy()
    away[max(0, r - radius):r + radius + 1, max(0, c - radius):c + radius + 1] = -np.inf
    far = float(away.max())
    peak = float(grid[r, c])
    return peak - far if math.isfinite(far) else peak


def _log_ratio(a: float, b: float) -> float:
    return abs(math.log(a / b)) if a > 0 and b > 0 and math.isfinite(a / b) else 0.0


def frame_signals(memory: float, first_frame: float, sharp: float, pos, prior_pos, pred_sz,
                  prior_sz, since_write: int) -> dict:
    """The SIGNALS of one read, as floats (non-finite inputs give 0)."""
    def finite(v):
        v = float(v)
        return v if math.isfinite(v) else 0.0
    memory, first_frame = finite(memory), finite(first_frame)
    hi = max(memory, first_frame)
    size = math.sqrt(max(float(prior_sz[0]) * float(prior_sz[1]), 1e-12))
    jump = math.hypot(float(pos[0]) - float(prior_pos[0]), float(pos[1]) - float(prior_pos[1]))
    pw, ph = float(pred_sz[0]), float(pred_sz[1])
    qw, qh = float(prior_sz[0]), float(prior_sz[1])
    values = {
        "memory": memory, "first_frame": first_frame,
        "agreement": min(memory, first_frame) / hi if hi > 0 else 1.0,
        "sharpness": finite(sharp), "jump": finite(jump / size),
        "scale_change": _log_ratio(math.sqrt(max(pw * ph, 0.0)), size),
        "aspect_change": _log_ratio(pw / ph if ph > 0 else 0.0, qw / qh if qh > 0 else 0.0),
        "since_write": float(since_write),
    }
    return {name: values[name] for name in SIGNALS}
