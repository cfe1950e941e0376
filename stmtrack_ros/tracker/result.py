"""What the tracker returns, and the error it raises for bad input."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class TrackState(enum.IntEnum):
    """Target state; the values equal the constants of `Track.msg`."""
    IDLE = 0
    TRACKING = 1
    LOST = 2


class TrackerInputError(ValueError):
    """A frame, box or call the tracker refuses; the tracker's state is unchanged."""


@dataclass(frozen=True)
class TrackResult:
    box: tuple                       # x, y, w, h in image pixels (0-based top-left), floats
    confidence: float                # raw network score at the chosen location, 0..1
    state: TrackState
    frame_index: int                 # 0 = the init frame
    memory_frames: tuple = ()        # frame indexes of the memory read for this frame
    timings_ms: dict = field(default_factory=dict)
    signals: dict = field(default_factory=dict)   # signals.SIGNALS of the frame's read; {} at init
