"""The TRACKING <-> LOST rule (tracker/lost.py) on hand-made confidence sequences: LOST after
`lost_frames` consecutive low frames (a high frame resets the count), back at the first frame
at or above `recover_threshold` (hysteresis), and `replay` equal to stepping `advance`."""
from stmtrack_ros.tracker import TrackerParams, TrackState
from stmtrack_ros.tracker.lost import advance, replay

T, L = int(TrackState.TRACKING), int(TrackState.LOST)


def test_lost_after_consecutive_low_frames():
    p = TrackerParams(lost_threshold=0.3, recover_threshold=0.5, lost_frames=3)
    #            low  low  high low  low  low  -> LOST on the third low in a row
    conf = [0.1, 0.2, 0.9, 0.1, 0.2, 0.29]
    assert replay(conf, p).tolist() == [T, T, T, T, T, L]
    assert replay([0.3, 0.3, 0.3], p).tolist() == [T, T, T]        # at the threshold is not low


def test_recover_needs_the_higher_threshold():
    p = TrackerParams(lost_threshold=0.3, recover_threshold=0.5, lost_frames=1)
    conf = [0.1, 0.4, 0.49, 0.5, 0.35, 0.2]
    assert replay(conf, p).tolist() == [L, L, L, T, T, L]
    state, low = advance(TrackState.LOST, 7, 0.45, p)              # LOST keeps its count
    assert (state, low) == (TrackState.LOST, 7)
    assert advance(TrackState.LOST, 7, 0.6, p) == (TrackState.TRACKING, 0)
