"""The TRACKING <-> LOST rule (tracker/lost.py) on hand-made confidence sequences: LOST after
`lost_frames` consecutive low frames (a high frame resets the count), back at the first frame
at or above `recover_threshold` (hysteresis), and `replay` equal to stepping `advance`."""
from stmtrack_ros.tracker import TrackerParams, TrackState
from stmtrack_ros.tracker.lost import advance, replay

T, L = int(TrackState.TRACKING), int(TrackState.LOST)


def test_lost_after_consecutive_low_frames():
    p = TrackerParams(backend="torch", lost_threshold=0.3, recover_threshold=0.5, lost_frames=3)
    #            low  low  high low  low  low  -> LOST on the third low in a row
    conf = [0.1, 0.2, 0.9, 0.1, 0.2, 0.29]
    assert replay(conf, p).tolist() == [T, T, T, T, T, L]
    assert replay([0.3, 0.3, 0.3], p).tolist() == [T, T, T]        # at the threshold is not low


def test_recover_needs_the_higher_threshold():
    p = TrackerParams(backend="torch", lost_threshold=0.3, recover_threshold=0.5, lost_frames=1)
    conf = [0.1, 0.4, 0.49, 0.5, 0.35, 0.2]
    assert replay(conf, p).tolist() == [L, L, L, T, T, L]
    state, low = advance(TrackState.LOST, 7, 0.45, p)              # LOST keeps its count
    assert (state, low) == (TrackState.LOST, 7)
    assert advance(TrackState.LOST, 7, 0.6, p) == (TrackState.TRACKING, 0)


def test_lost_follow_moves_the_search_not_the_box():
    """bounded, lost_follow: while LOST the published box stays frozen and nothing enters
    memory, but the search window follows the best candidate (without it, it stays put)."""
    import numpy as np

    from stmtrack_ros.tracker import Tracker
    from tracker_support import SQUARE_BOX, square_frame, tiny_net
    net = tiny_net()
    pos = {}
    for follow in (False, True):
        p = TrackerParams(backend="torch",
                          optimize=False, mode="bounded", lost_threshold=1.0, recover_threshold=1.0,
                          lost_frames=1, lost_follow=follow)
        tr = Tracker(net, p)
        tr.init(square_frame(0), SQUARE_BOX)
        r = tr.update(square_frame(1))
        assert r.state == TrackState.LOST
        frozen, stored, start = r.box, tr.memory_stats()["frames"], tr._target.pos.copy()
        for t in range(2, 6):
            r = tr.update(square_frame(t))
            assert r.state == TrackState.LOST and r.box == frozen
        assert tr.memory_stats()["frames"] == stored
        pos[follow] = (start, tr._target.pos.copy())
    assert np.array_equal(*pos[False])                           # the search stayed on the frozen box
    assert not np.array_equal(*pos[True])                        # it moved with the candidate
