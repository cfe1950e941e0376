"""`confidence: relative` (tracker/relative.py): first_frame moved by the gap between this
target's own trusted level and REFERENCE; the level follows the trusted reads only (frozen
while LOST), starts anew at init, and a refused call leaves it as it was. Real pictures: the
demo clip's bunny, covered, then the view panned (test_tracker_redetect)."""
import numpy as np
import pytest
from test_tracker_redetect import BOX, _panned_video

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.tracker import Tracker, TrackerInputError, TrackerParams, TrackState, relative
from tracker_support import same_snapshot, snapshot


@pytest.fixture(scope="module")
def net():
    return load_checkpoint(default_checkpoint_path())


def _params(**more):
    return TrackerParams(backend="torch", confidence="relative", **more)


def _tracked(net, frames: int):
    """A relative-confidence tracker on the bunny after `frames` updates, and the video."""
    start, video = _panned_video()
    tr = Tracker(net, _params())
    tr.init(start, BOX)
    for f in video[:frames]:
        tr.update(f)
    return tr, start, video


def test_the_level_follows_trusted_frames_and_is_frozen_while_lost(net):
    start, video = _panned_video()
    tr = Tracker(net, _params())
    tr.init(start, BOX)
    assert tr._target.levels == ()
    rows = []
    for f in video:
        before = tr._target.levels
        r = tr.update(f)
        rows.append((before, r, tr._target.levels))
    for i, (before, r, after) in enumerate(rows):
        ff = r.signals["first_frame"]
        assert 0.0 <= r.confidence <= 1.0
        level = np.mean(before) if before else relative.REFERENCE
        want = ff + relative.SHIFT * (relative.REFERENCE - level)
        assert r.confidence == pytest.approx(min(max(want, 0.0), 1.0), abs=1e-12)
        trusted = i == 0 or (r.state == TrackState.TRACKING and r.confidence >= tr.params.memory_threshold)
        assert after == ((*before, ff)[-relative.WINDOW:] if trusted else before)
    lost = [after for before, r, after in rows if r.state == TrackState.LOST]
    assert lost, "the covered bunny should turn LOST under the default thresholds"
    assert all(after == before for before, r, after in rows if r.state == TrackState.LOST)
    tracked, covered = rows[:3], rows[3:9]
    assert min(r.confidence for _, r, _ in tracked) > 0.6          # a right box: high
    assert max(r.confidence for _, r, _ in covered) < 0.3          # covered: low
    level = np.mean(rows[2][2])
    assert level > 0.5 and np.mean(rows[8][2]) == pytest.approx(level)   # covered: not dragged down


def test_a_target_that_reads_low_gets_its_own_level():
    """Replayed rule (pure): a target whose right frames read 0.2 (under every threshold as
    first_frame) reports 0.4 once its level is set; its vanishing reads do not enter the
    level, LOST fires, and its return recovers at once."""
    p = TrackerParams()
    reads = [0.2] * 10 + [0.0] * 10 + [0.2] * 3
    c = relative.replay(reads, p)
    assert c[0] == pytest.approx(0.2)                                # no level yet: first_frame
    assert c[1:10] == pytest.approx(np.full(9, 0.2 + relative.SHIFT * (relative.REFERENCE - 0.2)))
    assert max(c[10:20]) < p.lost_threshold                          # gone: 0.2, not 0.0 + a sagging lift
    assert c[20:] == pytest.approx(c[1:4])                           # back: the same level
    from stmtrack_ros.tracker.lost import replay as states
    s = states(c, p)
    assert (s[14:20] == int(TrackState.LOST)).all() and (s[20:] == int(TrackState.TRACKING)).all()


def test_init_resets_the_level(net):
    tr, _, video = _tracked(net, 3)
    assert len(tr._target.levels) == 3
    tr.init(video[-1], BOX)
    assert tr._target.levels == ()
    r = tr.update(video[-1])
    assert tr._target.levels == (r.signals["first_frame"],)          # the first read seeds it


def test_a_refused_call_changes_nothing(net):
    tr, start, _ = _tracked(net, 2)
    before = snapshot(tr)
    assert before["levels"]
    for bad in ("relativ", "", 1):
        with pytest.raises(ValueError, match="confidence"):
            tr.set_params(TrackerParams(backend="torch", confidence=bad))
    with pytest.raises(TrackerInputError, match="frame size changed"):
        tr.update(start[:100])
    assert same_snapshot(snapshot(tr), before)
