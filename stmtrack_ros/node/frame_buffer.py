"""The last few received frames, so `init_target` can start on the frame the user drew on
(an operator's click arrives some hundred milliseconds after that frame), plus the
one-slot "latest frame" hand-over to the tracking thread."""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One received, converted camera frame."""
    seq: int                 # arrival order in this node (stamps may go backwards; this never does)
    stamp_ns: int            # header.stamp in nanoseconds
    frame_id: str
    bgr: np.ndarray
    received: float          # time.monotonic() at arrival, for latency

    @property
    def wh(self) -> tuple[int, int]:
        return int(self.bgr.shape[1]), int(self.bgr.shape[0])


class FrameBuffer:
    """Thread-safe ring of the newest frames, looked up by stamp: at most `capacity` frames and
    `max_bytes` of pixels (4K frames are 25 MB each), the oldest going first; the newest frame
    is always kept, whatever its size."""

    def __init__(self, capacity: int, max_bytes: int | None = None):
        if capacity < 1:
            raise ValueError(f"frame buffer capacity {capacity} must be >= 1")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"frame buffer max_bytes {max_bytes} must be >= 1")
        self._frames: deque[Frame] = deque()
        self.capacity, self.max_bytes = int(capacity), max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    def push(self, frame: Frame) -> None:
        with self._lock:
            self._frames.append(frame)
            self._bytes += frame.bgr.nbytes
            while len(self._frames) > 1 and (len(self._frames) > self.capacity or (
                    self.max_bytes is not None and self._bytes > self.max_bytes)):
                self._bytes -= self._frames.popleft().bgr.nbytes

    @property
    def nbytes(self) -> int:
        """Pixel bytes held now."""
        with self._lock:
            return self._bytes

    def find(self, stamp_ns: int, tolerance_ns: int = 0) -> Frame | None:
        """The frame whose stamp is nearest `stamp_ns` within the tolerance (the newest on ties)."""
        with self._lock:
            best, best_d = None, None
            for f in reversed(self._frames):
                d = abs(f.stamp_ns - stamp_ns)
                if d <= tolerance_ns and (best_d is None or d < best_d):
                    best, best_d = f, d
            return best

    def after(self, seq: int) -> list[Frame]:
        """The buffered frames that arrived after frame `seq`, oldest first."""
        with self._lock:
            return [f for f in self._frames if f.seq > seq]

    def newest(self) -> Frame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def stamp_range(self) -> tuple[int, int] | None:
        with self._lock:
            if not self._frames:
                return None
            stamps = [f.stamp_ns for f in self._frames]
            return min(stamps), max(stamps)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)


class LatestSlot:
    """Holds only the newest unprocessed frame: a put replaces (and counts as dropped) the
    one still waiting, a take empties the slot, so no frame is processed twice and no queue
    builds up while the tracker is busy."""

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify()

    def take(self, timeout: float | None = None) -> Frame | None:
        """The waiting frame (removing it), or None after `timeout` s or once closed."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout)  # a put, wake or close ends the wait
            frame, self._frame = self._frame, None
            return frame

    def discard_up_to(self, seq: int) -> None:
        """Forget a waiting frame that arrived at or before `seq` (it is older than an init)."""
        with self._cond:
            if self._frame is not None and self._frame.seq <= seq:
                self._frame = None
                self.dropped += 1

    def wake(self) -> None:
        """Make a waiting take() return now (with None if no frame waits)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
