"""`confidence: combined` (tracker/combined.py): the logistic score over the frame's signals,
for the bundled model it was fitted for; first_frame with one warning for any other model.
Real pictures: the demo clip's bunny, covered, then the view panned (test_tracker_redetect)."""
import warnings

import pytest
from test_tracker_redetect import BOX, _panned_video

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.tracker import Tracker, TrackerParams, TrackState, combined
from tracker_support import SQUARE_BOX, one_thread, same_snapshot, snapshot, square_frame, tiny_net  # noqa: F401


@pytest.fixture(scope="module")
def net():
    return load_checkpoint(default_checkpoint_path())


def _formula(signals):
    """first_frame less the fitted jump penalty: the fit's logit in first_frame units."""
    w = combined.WEIGHTS
    assert set(w) == {"first_frame", "jump"} and w["jump"] < 0
    return min(max(signals["first_frame"] + w["jump"] / w["first_frame"] * signals["jump"], 0), 1)


def test_the_combined_score_is_the_fitted_formula_and_falls_on_a_covered_target(net):
    assert combined.fitted_for(net)
    start, video = _panned_video()
    tr = Tracker(net, TrackerParams(backend="torch", confidence="combined"))
    tr.init(start, BOX)
    track = [tr.update(f) for f in video]
    for r in track:
        assert 0.0 <= r.confidence <= 1.0
        assert r.confidence == pytest.approx(_formula(r.signals), abs=1e-12)
    tracked, covered = track[:3], track[3:9]
    assert min(r.confidence for r in tracked) > 0.6            # a right box: high
    assert max(r.confidence for r in covered) < 0.25           # the bunny covered: low
    assert TrackState.LOST in [r.state for r in covered]       # under the default thresholds
    # a box that jumps scores lower than its frame-0 read says
    jumped = [r for r in track if r.signals["jump"] > 0.1 and r.signals["first_frame"] < 0.9]
    assert jumped and all(r.confidence < r.signals["first_frame"] for r in jumped)


def test_another_model_reports_first_frame_with_one_warning():
    other = tiny_net()
    assert not combined.fitted_for(other)
    with pytest.warns(RuntimeWarning, match="fitted for the bundled model") as caught:
        tr = Tracker(other, TrackerParams(backend="torch", confidence="combined"))
    assert len(caught) == 1
    tr.init(square_frame(0), SQUARE_BOX)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                         # no warning per frame
        for t in range(1, 4):
            r = tr.update(square_frame(t))
            assert r.confidence == pytest.approx(min(max(r.signals["first_frame"], 0.0), 1.0))
    plain = Tracker(other, TrackerParams(backend="torch"))
    with pytest.warns(RuntimeWarning, match="fitted for the bundled model"):
        plain.set_params(TrackerParams(backend="torch", confidence="combined"))  # switching to it warns too


def test_a_refused_confidence_changes_nothing(net):
    tr = Tracker(net, TrackerParams(backend="torch", confidence="combined"))
    start, video = _panned_video()
    tr.init(start, BOX)
    tr.update(video[0])
    before = snapshot(tr)
    for bad in ("combo", "", 1):
        with pytest.raises(ValueError, match="confidence"):
            tr.set_params(TrackerParams(backend="torch", confidence=bad))
    assert same_snapshot(snapshot(tr), before)
