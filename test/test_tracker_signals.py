"""The per-frame signals (tracker/signals.py) a combined confidence is built from: named once,
computed from the track pass on every frame, equal to the reported confidence they name, and
reacting to a covered target as they should. Real pictures: the demo clip's first frame, the
bunny covered, then the view panned (test_tracker_redetect's video)."""
import math

import numpy as np
import pytest
from test_tracker_redetect import BOX, _panned_video

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.tracker import Tracker, TrackerParams, TrackState
from stmtrack_ros.tracker.signals import SIGNALS, frame_signals, sharpness
from tracker_support import one_thread  # noqa: F401


@pytest.fixture(scope="module")
def net():
    return load_checkpoint(default_checkpoint_path())


def test_sharpness_is_the_peak_over_the_best_cell_away_from_it():
    grid = np.zeros((7, 7))
    grid[3, 3], grid[3, 4], grid[0, 6] = 0.9, 0.8, 0.3     # a neighbour cell is not "away"
    assert sharpness(grid.ravel(), 3 * 7 + 3) == pytest.approx(0.9 - 0.3)
    grid[6, 0] = 0.95                                      # a stronger look-alike far off
    assert sharpness(grid.ravel(), 3 * 7 + 3) == pytest.approx(0.9 - 0.95)
    assert sharpness(np.full(9, 0.5), 4) == pytest.approx(0.5)   # 3x3: no cell that far


def test_frame_signals_formulas():
    s = frame_signals(0.8, 0.2, 0.5, (110.0, 100.0), (100.0, 100.0), (40.0, 10.0),
                      (20.0, 20.0), 3)
    assert tuple(s) == SIGNALS
    assert s["agreement"] == pytest.approx(0.25)
    assert s["jump"] == pytest.approx(10.0 / 20.0)
    assert s["scale_change"] == pytest.approx(abs(math.log(20.0 / 20.0)))
    assert s["aspect_change"] == pytest.approx(math.log(4.0))
    assert s["since_write"] == 3.0
    bad = frame_signals(float("nan"), 0.0, float("inf"), (0, 0), (0, 0), (0.0, 0.0), (1, 1), 1)
    assert all(math.isfinite(v) for v in bad.values())


def _run(net, **params):
    start, video = _panned_video()
    tr = Tracker(net, TrackerParams(backend="torch", **params))
    first = tr.init(start, BOX)
    return first, [(tr.update(f), tr.memory_stats()["frames"]) for f in video]


def test_every_frame_carries_the_signals_the_confidence_is_read_from(net):
    first, track = _run(net)                       # the defaults: confidence first_frame
    assert first.signals == {}
    prev = first
    for r, _ in track:
        assert tuple(r.signals) == SIGNALS and all(math.isfinite(v) for v in r.signals.values())
        assert r.confidence == pytest.approx(r.signals["first_frame"])
        lo, hi = sorted((r.signals["memory"], r.signals["first_frame"]))
        assert r.signals["agreement"] == pytest.approx(lo / hi)
        if prev.state == TrackState.TRACKING:     # the window was centred on the last box
            (x0, y0, w0, h0), (x1, y1, w1, h1) = prev.box, r.box
            if r.state == TrackState.TRACKING:
                jump = math.hypot(x1 + w1 / 2 - x0 - w0 / 2, y1 + h1 / 2 - y0 - h0 / 2)
                assert r.signals["jump"] == pytest.approx(jump / math.sqrt(w0 * h0), abs=1e-6)
        prev = r
    # since_write: 1 after a stored frame, counting up over the frames not stored
    for (r, _), (_, stored_before) in zip(track[1:], track[:-1]):
        assert r.signals["since_write"] == r.frame_index - max(stored_before)
    covered = [r for r, _ in track[3:9]]
    assert max(r.signals["since_write"] for r in covered) >= 5
    tracked = [r for r, _ in track[:3]]
    # the covered bunny: both reads and the peak drop against the tracked frames
    for name in ("memory", "first_frame", "sharpness"):
        assert max(r.signals[name] for r in covered) < min(r.signals[name] for r in tracked)
    memory = _run(net, confidence="memory")[1]
    for r, _ in memory:
        assert r.confidence == pytest.approx(r.signals["memory"])
