"""One picture of a track, in one style everywhere (`stmtrack track --video-out`, the node's
debug_image, the demo's contact sheet): the box in its state's colour and a caption
"STATE tag confidence" on a copy of the frame. IDLE draws no box."""
from __future__ import annotations

import cv2
import numpy as np

from .result import TrackState

STATE_COLOURS = {TrackState.IDLE: (160, 160, 160), TrackState.TRACKING: (0, 220, 0),
                 TrackState.LOST: (0, 0, 255)}  # BGR
UNKNOWN_COLOUR = (255, 255, 255)


def draw_track(bgr: np.ndarray, state: int, box, confidence: float, tag: str = "") -> np.ndarray:
    """A copy of `bgr` with box (x, y, w, h, image px) and caption; `tag` names the track or
    frame (e.g. "#1", "frame 12")."""
    img = bgr.copy()
    try:
        state = TrackState(int(state))
        colour, label = STATE_COLOURS[state], state.name
    except ValueError:  # a Track message from a newer tracker: still drawn, in white
        colour, label = UNKNOWN_COLOUR, str(int(state))
    if state != TrackState.IDLE:
        x, y, w, h = (float(v) for v in box)
        cv2.rectangle(img, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), colour, 2)
        label = " ".join(p for p in (label, tag, f"{float(confidence):.2f}") if p)
    cv2.putText(img, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    return img
