"""The TRACKING <-> LOST rule, one frame at a time.

A pure function of (state, count of low frames, confidence, thresholds), so that the tracker
and an offline fit of the thresholds on recorded confidences (research/fit_lost_thresholds.py)
use one rule: TRACKING turns LOST after `lost_frames` consecutive frames below
`lost_threshold`; LOST turns TRACKING at the first frame at or above `recover_threshold`.
"""
from __future__ import annotations

import numpy as np

from .result import TrackState


def advance(state: TrackState, low_count: int, confidence: float, params) -> tuple:
    """(state, low_count) after a frame of this confidence; `params`: lost_threshold,
    lost_frames, recover_threshold (a TrackerParams)."""
    if state == TrackState.TRACKING:
        low = low_count + 1 if confidence < params.lost_threshold else 0
        return (TrackState.LOST if low >= params.lost_frames else state), low
    if confidence >= params.recover_threshold:
        return TrackState.TRACKING, 0
    return state, low_count


def trusted(state: TrackState, confidence: float, memory_threshold: float) -> bool:
    """Whether a frame is one bounded mode trusts enough to write into memory: TRACKING at
    memory_threshold or above (also what the relative confidence's level follows)."""
    return state == TrackState.TRACKING and confidence >= memory_threshold


def replay(confidences, params) -> np.ndarray:
    """States of a track that starts TRACKING and sees these confidences (one per frame after
    the init frame); what the rule alone decides, without the tracker's reaction to LOST."""
    state, low, out = TrackState.TRACKING, 0, []
    for c in confidences:
        state, low = advance(state, low, float(c), params)
        out.append(int(state))
    return np.asarray(out, dtype=int)
