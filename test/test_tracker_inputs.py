"""Bad input (issue item 8): each case is a clear TrackerInputError or a documented conversion,
and a refused call leaves the tracker as it was."""
import math

import numpy as np
import pytest

from stmtrack_ros.tracker import Tracker, TrackerInputError, TrackerParams, TrackState
from tracker_support import SQUARE_BOX, one_thread, square_frame, tiny_net  # noqa: F401


@pytest.fixture(scope="module")
def tracker():
    return Tracker(tiny_net(), TrackerParams(backend="torch", optimize=False, mode="bounded"))


def test_update_before_init(tracker):
    tracker.reset()
    with pytest.raises(TrackerInputError, match="call init"):
        tracker.update(square_frame(0))
    assert tracker.state == TrackState.IDLE


@pytest.mark.parametrize("box, word", [
    ((np.nan, 10, 20, 20), "NaN"), ((10, 10, 0, 20), "at least 1 px"), ((10, 10, 20, -3), "at least 1 px"),
    ((500, 10, 20, 20), "outside"), ((-50, -50, 20, 20), "outside"), ((1, 2, 3), "4 numbers"),
    ("abc", "4 numbers"), ((10, 10, math.inf, 5), "NaN or infinite"),
])
def test_bad_boxes(tracker, box, word):
    with pytest.raises(TrackerInputError, match=word):
        tracker.init(square_frame(0), box)


@pytest.mark.parametrize("frame, word", [
    (np.zeros((0, 0, 3), np.uint8), "at least 2x2"),
    (np.zeros((40, 40, 3), np.float32), "dtype"),
    (np.zeros((40, 40, 2), np.uint8), "shape"),
    (np.zeros((2, 40, 40, 3), np.uint8), "shape"),
    ([[1, 2], [3, 4]], "numpy array"),
])
def test_bad_frames(tracker, frame, word):
    with pytest.raises(TrackerInputError, match=word):
        tracker.init(frame, (1, 1, 5, 5))


def test_refused_call_keeps_state_and_process_goes_on(tracker):
    tracker.init(square_frame(0), SQUARE_BOX)
    before = tracker.update(square_frame(1))
    with pytest.raises(TrackerInputError, match="dtype"):
        tracker.update(square_frame(2).astype(np.float64))
    with pytest.raises(TrackerInputError, match="size changed from 160x120 to 80x60"):
        tracker.update(square_frame(2)[:60, :80])
    assert tracker.frame_index == before.frame_index and tracker.state == before.state
    after = tracker.update(square_frame(2))
    assert after.frame_index == before.frame_index + 1


def test_grey_and_bgra_are_converted(tracker):
    bgr = square_frame(3)
    grey = bgr[:, :, 1].copy()
    tracker.init(grey, SQUARE_BOX)
    r1 = tracker.update(grey[:, :, None])
    # grey == the BGR frame whose three channels are that grey
    ref = Tracker(tracker.net, tracker.params)
    ref.init(np.repeat(grey[:, :, None], 3, axis=2), SQUARE_BOX)
    assert ref.update(np.repeat(grey[:, :, None], 3, axis=2)).box == r1.box
    # BGRA: alpha dropped, BGR kept
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    tracker.init(bgra, SQUARE_BOX)
    ref.init(bgr, SQUARE_BOX)
    assert tracker.update(bgra).box == ref.update(bgr).box


def test_box_partly_outside_is_tracked(tracker):
    res = tracker.init(square_frame(0), (-10, -5, 30, 30))
    assert res.state == TrackState.TRACKING
    r = tracker.update(square_frame(1))
    x, y, w, h = r.box
    assert all(math.isfinite(v) for v in r.box) and w >= 10 and h >= 10


def test_reinit_replaces_everything(tracker):
    tracker.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 6):
        tracker.update(square_frame(t))
    r0 = tracker.init(square_frame(10), (50, 50, 20, 20))
    assert r0.frame_index == 0 and r0.box == (50.0, 50.0, 20.0, 20.0)
    assert tracker.memory_stats()["features"] == 0      # frame 0 not memorized yet
    r1 = tracker.update(square_frame(11))
    assert r1.frame_index == 1 and r1.memory_frames == (0,)
    # same as a fresh tracker
    fresh = Tracker(tracker.net, tracker.params)
    fresh.init(square_frame(10), (50, 50, 20, 20))
    assert fresh.update(square_frame(11)).box == r1.box


# ---- issue #18 item 2: boxes and frames that passed validation and then broke the tracker ----
@pytest.fixture(scope="module")
def bundled():
    from stmtrack_ros.model import default_checkpoint_path
    return Tracker.from_checkpoint(default_checkpoint_path(), TrackerParams(backend="torch", mode="bounded"))


@pytest.mark.parametrize("box, word", [
    ((10, 10, 1e-46, 10), "at least 1 px"),          # 0 in float32
    ((10, 10, 1e39, 10), "more than 4x"),            # inf in float32
    ((0, 0, 3.4e38, 3.4e38), "more than 4x"),
    ((0, 0, 1e6, 1e6), "more than 4x"),              # centre outside, crop stride > frame
    ((0, 0, 10 ** 400, 1), "too large for a float"),  # OverflowError in check_box itself
    ((10, 10, 1e-40, 1e-40), "at least 1 px"),       # target scale 0, a 2-px crop
])
def test_issue_boxes_are_refused_in_one_line(bundled, box, word):
    f = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(TrackerInputError, match=word) as e:
        bundled.init(f, box)
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


def test_frames_beyond_the_crop_limit_are_refused(bundled):
    from stmtrack_ros.tracker.inputs import MAX_FRAME_SIDE
    for shape in ((2, MAX_FRAME_SIDE + 1, 3), (MAX_FRAME_SIDE + 1, 2)):
        with pytest.raises(TrackerInputError, match=f"up to {MAX_FRAME_SIDE} px"):
            bundled.init(np.zeros(shape, np.uint8), (0, 0, 2, 2))


@pytest.mark.parametrize("shape, box", [
    ((240, 320, 3), (-1279, -959, 1280, 960)),                 # largest box, 1 px in the frame
    ((240, 320, 3), (319, 239, 1280, 960)),
    ((240, 320, 3), (0, 0, 1, 1)),                             # smallest box
    ((2, 30000, 3), (29000, 0, 100000, 8)),                    # crop stride skips every row
    ((3, 32766, 3), (32000, 0, 4 * 32766, 12)),                # widest frame
])
def test_boxes_at_the_limits_are_tracked(bundled, shape, box):
    import warnings
    rng = np.random.default_rng(0)
    f = rng.integers(0, 256, shape, dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # no numpy RuntimeWarning either
        bundled.init(f, box)
        for _ in range(3):
            r = bundled.update(f)
    assert all(math.isfinite(v) for v in r.box) and r.box[2] >= 1 and 0 <= r.confidence <= 1


@pytest.mark.parametrize("scale", [1e30, -1e30, 1e15])
def test_a_diverged_network_gives_a_miss_not_warnings(scale):
    """Issue #18 item 8: extreme (finite) weights make the network put out inf/NaN; the step is
    a miss (box kept, confidence 0), with no numpy RuntimeWarning."""
    import warnings

    import torch
    net = tiny_net()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("head."):
                p.mul_(scale)
    tr = Tracker(net, TrackerParams(backend="torch", optimize=False, mode="bounded"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr.init(square_frame(0), SQUARE_BOX)
        for t in range(1, 4):
            r = tr.update(square_frame(t))
            assert all(math.isfinite(v) for v in r.box) and 0.0 <= r.confidence <= 1.0
