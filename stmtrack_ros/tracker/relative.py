"""The `relative` confidence (TrackerParams.confidence): the frame-0 read of the chosen cell
(signals "first_frame") moved toward a common scale by THIS target's own trusted level,

    relative = clip(first_frame + SHIFT * (REFERENCE - level), 0, 1)
    level    = the mean of first_frame over the last WINDOW trusted frames

Why: first_frame ranks a target's frames well, but its absolute value depends on the target
(a deforming or re-lit one reads 0.2 against frame 0 while right, a rigid one 0.8), so one
absolute threshold serves no two targets (docs/longterm.md, Phase E). A target whose right
frames read at REFERENCE reports first_frame; one that reads lower is lifted by SHIFT of the
gap, one that reads higher lowered. A trusted frame is one the tracker would write into memory
(TRACKING and the reported confidence at or above memory_threshold); the first read after
init is trusted whatever it reads (the user's box was just given), so a target that reads low
from the start gets its own level. The level is frozen while LOST (nothing is trusted then),
so a vanished target cannot drag its level down, and it starts anew at init. Before any
trusted read the level is REFERENCE (relative = first_frame).

`history` is the tuple of trusted first_frame reads, newest last, at most WINDOW long: it lives
in the tracker's immutable per-target state and is replaced, never changed.

Provenance of WINDOW, SHIFT and REFERENCE: an open-loop replay on the training-data proxies
only (the pure ratio first_frame / level, the full difference and this half one, windows 4-64),
    python -m research.fit_lost_thresholds --data runs/lt_proxy150 \
        --results runs/conf_p150/stmtrack-bounded-got10k --relative --report 0.25 0.3 5
(docs/longterm.md, Phase E).
"""
from __future__ import annotations

import math

import numpy as np

from .lost import advance
from .lost import trusted as writes_memory
from .result import TrackState

WINDOW = 32       # trusted frames the level averages
REFERENCE = 0.6   # the level at which relative = first_frame
SHIFT = 0.5       # the part of a target's gap to REFERENCE that its reads are moved by


def level(history: tuple) -> float:
    """The mean of `history`; REFERENCE when empty."""
    return sum(history) / len(history) if history else REFERENCE


def score(first_frame: float, history: tuple) -> float:
    """The relative confidence of one read, in [0, 1] (0 for a non-finite read)."""
    value = first_frame + SHIFT * (REFERENCE - level(history))
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0


def remembered(history: tuple, first_frame: float, window: int = WINDOW) -> tuple:
    """`history` after one more trusted read (the oldest falls out past `window`)."""
    return ((*history, float(first_frame)) if math.isfinite(first_frame) else history)[-window:]


def trusted(first_read: bool, state: TrackState, confidence: float, memory_threshold: float) -> bool:
    """Whether this frame's read joins the level: the first read after init, or a TRACKING
    frame at memory_threshold (the frames bounded mode writes into memory)."""
    return first_read or writes_memory(state, confidence, memory_threshold)


def replay(first_frames, params) -> np.ndarray:
    """The relative confidences of a track that starts TRACKING and reads these first_frame
    values (one per frame after the init frame), the LOST rule (tracker/lost.py) and the trust
    rule replayed with them: open loop (the boxes, and so the reads, are the recorded ones)."""
    state, low, history, out = TrackState.TRACKING, 0, (), []
    for i, ff in enumerate(first_frames):
        c = score(float(ff), history)
        state, low = advance(state, low, c, params)
        if trusted(i == 0, state, c, params.memory_threshold):
            history = remembered(history, float(ff))
        out.append(c)
    return np.asarray(out, dtype=np.float64)
