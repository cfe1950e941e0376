"""What the node reports on /diagnostics (diagnostic_updater is not on PyPI, so the
DiagnosticArray is built here): rates, latency, drops, bad input, tracker state."""
from __future__ import annotations

import threading
import time
from collections import deque

STATE_NAMES = {0: "IDLE", 1: "TRACKING", 2: "LOST"}


class RateMeter:
    """Events per second over a sliding window of wall (steady) time."""

    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._t: deque[float] = deque()
        self.count = 0

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._t.append(now)
        self.count += 1
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._t and now - self._t[0] > self.window_s:
            self._t.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._t) < 2:
            return 0.0
        span = now - self._t[0]
        return (len(self._t) - 1) / span if span > 0 else 0.0


class WindowStats:
    """Mean / max / p95 of the last `size` samples."""

    def __init__(self, size: int = 100):
        self._v: deque[float] = deque(maxlen=size)

    def add(self, v: float) -> None:
        self._v.append(float(v))

    def summary(self) -> dict:
        if not self._v:
            return {"mean": 0.0, "p95": 0.0, "max": 0.0}
        v = sorted(self._v)
        return {"mean": sum(v) / len(v), "p95": v[min(len(v) - 1, int(0.95 * len(v)))],
                "max": v[-1]}


class NodeStats:
    """Counters shared by the node's threads (one lock; everything here is cheap)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.input_rate = RateMeter()
        self.output_rate = RateMeter()
        self.latency_ms = WindowStats()
        self.track_ms = WindowStats()
        self.bad_images = 0            # every refused frame, oversized ones included
        self.oversized_images = 0      # refused for max_image_pixels
        self.last_bad_reason = ""
        self.last_bad_time = -1e9
        self.stamps_backwards = 0
        self.processing_errors = 0
        self.callback_errors = 0      # callbacks that raised (answered as refusals, logged)
        self.last_error = ""

    def bad_image(self, reason: str, oversized: bool = False) -> None:
        with self.lock:
            self.bad_images += 1
            self.oversized_images += int(oversized)
            self.last_bad_reason = reason
            self.last_bad_time = time.monotonic()


def build_status(name: str, hardware_id: str, stats: NodeStats, *, dropped: int, state: int,
                 track_id: int, memory_size: int, device: str, backend: str = "",
                 memory_bytes: int = 0,
                 memory_mode: str = "", buffer_frames: int = 0,
                 buffer_bytes: int = 0, camera_info: str = "none", stale_after_s: float = 3.0,
                 confidence: float = 0.0, redetect_tiles: int = 0, search=None):
    """One diagnostic_msgs/DiagnosticStatus for the node; level WARN while frames are being
    refused or none arrive, ERROR while the tracker keeps failing. `confidence`: the last
    published one; `backend`: what runs the network (the one `auto` chose); `search`: the
    tracker's `Redetection` (its counts are the current target's), `redetect_tiles` the
    setting (0: re-detection off)."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
    now = time.monotonic()
    with stats.lock:
        in_hz, out_hz = stats.input_rate.rate(now), stats.output_rate.rate(now)
        lat, trk = stats.latency_ms.summary(), stats.track_ms.summary()
        values = {
            "input_rate_hz": f"{in_hz:.2f}",
            "output_rate_hz": f"{out_hz:.2f}",
            "frames_received": str(stats.input_rate.count),
            "frames_processed": str(stats.output_rate.count),
            "frames_dropped": str(dropped),
            "latency_ms_mean": f"{lat['mean']:.1f}",
            "latency_ms_p95": f"{lat['p95']:.1f}",
            "latency_ms_max": f"{lat['max']:.1f}",
            "tracker_ms_mean": f"{trk['mean']:.1f}",
            "bad_images": str(stats.bad_images),
            "oversized_images": str(stats.oversized_images),
            "buffer_frames": str(buffer_frames),
            "buffer_mb": f"{buffer_bytes / 2**20:.1f}",
            "last_bad_image": stats.last_bad_reason,
            "stamps_backwards": str(stats.stamps_backwards),
            "processing_errors": str(stats.processing_errors),
            "callback_errors": str(stats.callback_errors),
            "last_error": stats.last_error,
            "state": STATE_NAMES.get(state, str(state)),
            "confidence": f"{confidence:.3f}",
            "redetect": ("off" if not redetect_tiles or memory_mode.startswith("exact") else
                         "searching" if search is not None and search.searching else "standby"),
            "redetect_grid_tiles": str(search.tiles if search is not None else 0),
            "redetect_tiles_scanned": str(search.tiles_scanned if search is not None else 0),
            "redetect_candidates": str(search.candidates if search is not None else 0),
            "redetect_recoveries": str(search.recoveries if search is not None else 0),
            "track_id": str(track_id),
            "memory_size": str(memory_size),
            "memory_mb": f"{memory_bytes / 2**20:.1f}",
            "memory_mode": memory_mode,
            "device": device,
            "backend": backend,
            "camera_info": camera_info,  # what the Tracks' bearings come from
        }
        recent_input = stats.input_rate._t and now - stats.input_rate._t[-1] < stale_after_s
        recent_bad = now - stats.last_bad_time < stale_after_s
        recent_error = stats.processing_errors and stats.last_error
    level, message = DiagnosticStatus.OK, f"{values['state']}, {out_hz:.1f} Hz out"
    if not recent_input:
        level, message = DiagnosticStatus.WARN, "no camera frames received"
    if recent_bad:
        message += f"; {values['bad_images']} bad images (last: {values['last_bad_image']})"
        level = DiagnosticStatus.WARN
    elif recent_error:
        message += f"; {values['processing_errors']} tracker errors (last: {values['last_error']})"
    if "exact_max_memory_mb" in memory_mode:
        message += f"; {memory_mode}"
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
    return status


def status_values(status) -> dict:
    """DiagnosticStatus key/values as a dict (for tests and tools)."""
    return {kv.key: kv.value for kv in status.values}
