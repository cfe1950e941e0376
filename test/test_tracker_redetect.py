"""Re-detection while LOST (bounded mode, `redetect_tiles`): crops at the target's scale that
cover the whole frame, scanned a few per frame; a candidate at recover_threshold moves the
search there and the next frames' local searches confirm it (`redetect_confirm_frames` of
them, the candidate beating the local read by `redetect_margin`). Real pictures: the demo clip's
first frame seen through a camera that pans by half a frame while the target is covered."""
import cv2
import numpy as np
import pytest

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.tracker import Tracker, TrackerParams, TrackState
from stmtrack_ros.tracker.redetect import tile_centres
from tracker_support import SQUARE_BOX, one_thread, square_frame, tiny_net  # noqa: F401

DEMO = default_checkpoint_path().parent.parent / "data" / "demo"
BOX = (150, 110, 125, 175)    # the bunny (clip.json init box)
PAN = 330                     # px the view moves while the target is covered


@pytest.mark.parametrize("hw,scale,span", [((480, 640), 0.69, 256), ((360, 640), 2.3, 256),
                                           ((100, 100), 1.0, 256), ((720, 1280), 0.3, 192)])
def test_tiles_cover_the_frame_with_their_grids(hw, scale, span):
    tiles = tile_centres(hw, scale, span)
    reach = span * scale / 2
    xs, ys = sorted({x for x, _ in tiles}), sorted({y for _, y in tiles})
    assert len(tiles) == len(xs) * len(ys)
    for axis, length in ((xs, hw[1]), (ys, hw[0])):
        for p in np.linspace(0, length, 97):            # every point of the frame is in a grid
            assert min(abs(p - c) for c in axis) <= reach + 1e-9
        assert len(axis) == max(1, int(np.ceil(length / (2 * reach))))   # and no more crops


def _panned_video():
    cap = cv2.VideoCapture(str(DEMO / "bigbuckbunny_100.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok, "demo clip unreadable"
    x, y, w, h = BOX
    mosaic = np.concatenate([frame[:, ::-1], frame], axis=1)   # what lies left of the view
    width = frame.shape[1]
    start = np.ascontiguousarray(mosaic[:, width:])
    covered = start.copy()
    covered[y - 10:y + h + 10, x - 10:x + w + 10] = frame[165:360, 470:615]
    panned = np.ascontiguousarray(mosaic[:, width - PAN:2 * width - PAN])
    return start, [start] * 3 + [covered] * 6 + [panned] * 6


def _params(tiles=2, **more):
    return TrackerParams(backend="torch", redetect_tiles=tiles, lost_threshold=0.45, recover_threshold=0.5,
                         lost_frames=2, memory_threshold=0.5, **more)


def _track(net, tiles):
    start, video = _panned_video()
    tr = Tracker(net, _params(tiles))
    tr.init(start, BOX)
    out, frozen, stored = [], None, None
    for f in video:
        r = tr.update(f)
        if r.state == TrackState.LOST:
            if frozen is None:
                frozen, stored = r.box, tr.memory_stats()["frames"]
            assert r.box == frozen                        # the box stays frozen while searching
            assert tr.memory_stats()["frames"] == stored   # and nothing enters memory
        out.append((r, tr.redetection))
    return out


def test_a_target_that_reappears_far_away_is_found_again_only_with_redetection():
    net = load_checkpoint(default_checkpoint_path())
    x = BOX[0] + PAN                                       # where the bunny is after the pan
    found = _track(net, 2)
    states = [r.state for r, _ in found]
    assert TrackState.LOST in states[3:9]                  # covered: LOST
    back = [i for i, (r, _) in enumerate(found) if i >= 9 and r.state == TrackState.TRACKING]
    assert back and back[0] <= 9 + 3, states               # re-found within 3 frames of the pan
    r, search = found[-1]
    assert abs(r.box[0] - x) < 30 and abs(r.box[1] - BOX[1]) < 40, r.box
    assert search.recoveries == 1 and search.candidates >= 1 and not search.searching
    assert search.tiles_scanned == 2 * sum(s.searching for _, s in found)
    without = _track(net, 0)
    assert all(s.tiles_scanned == 0 and not s.searching for _, s in without)
    r, _ = without[-1]
    assert r.state == TrackState.LOST and abs(r.box[0] - BOX[0]) < 30   # still at the old place


def test_an_unconfirmed_candidate_sends_the_search_back_to_the_frozen_box():
    """The target shows for one frame at the new place (a candidate), then is covered there:
    the next frame's local search at the candidate fails, so the state stays LOST and the
    search window returns to the frozen box."""
    net = load_checkpoint(default_checkpoint_path())
    start, video = _panned_video()
    panned = video[-1]
    x, y, w, h = BOX
    hidden = panned.copy()
    hidden[y - 10:y + h + 10, x + PAN - 10:x + PAN + w + 10] = start[165:360, 470:615]
    tr = Tracker(net, _params())
    tr.init(start, BOX)
    for f in video[:9]:
        r = tr.update(f)
    assert r.state == TrackState.LOST
    frozen, home = r.box, tr._target.pos.copy()
    tr.update(panned)
    assert tr.redetection.candidate, "the panned view's target is a candidate"
    assert abs(tr._target.pos[0] - (x + PAN + w / 2)) < 30     # the search moved there
    r = tr.update(hidden)
    assert r.state == TrackState.LOST and r.box == frozen and not tr.redetection.candidate
    assert tr.redetection.recoveries == 0
    assert np.array_equal(tr._target.pos, home)


def _shown_then_hidden(video, shown):
    """The panned video cut after `shown` panned frames, then the target covered there."""
    x, y, w, h = BOX
    panned = video[-1]
    hidden = panned.copy()
    hidden[y - 10:y + h + 10, x + PAN - 10:x + PAN + w + 10] = video[0][165:360, 470:615]
    return video[:9] + [panned] * shown + [hidden] * 2


@pytest.mark.parametrize("k", [2, 3])
def test_a_candidate_turns_tracking_only_after_k_confirming_reads(k):
    """The target shows for 3 panned frames, then is covered: the scan finds it on the first
    and the local reads at it confirm it on the next ones, so k = 2 accepts it on the third
    while k = 3 would need a fourth, which the cover refuses: the search goes back to the
    frozen box and nothing was published or stored meanwhile."""
    net = load_checkpoint(default_checkpoint_path())
    start, video = _panned_video()
    tr = Tracker(net, _params(redetect_confirm_frames=k))
    tr.init(start, BOX)
    frames = _shown_then_hidden(video, 3)
    for f in frames[:9]:
        r = tr.update(f)
    assert r.state == TrackState.LOST
    frozen, home, stored = r.box, tr._target.pos.copy(), tr.memory_stats()["frames"]
    seen = []
    for f in frames[9:]:
        r = tr.update(f)
        seen.append((r.state, r.box, tr.redetection.candidate, tr.redetection.confirmed))
    holds = [(TrackState.LOST, frozen, True, c) for c in range(0, k)]   # scan, then confirming
    assert seen[:k] == holds, seen
    if k == 2:
        assert seen[2][0] == TrackState.TRACKING and abs(seen[2][1][0] - (BOX[0] + PAN)) < 30
        assert tr.redetection.recoveries == 1
    else:
        assert all(s[:3] == (TrackState.LOST, frozen, False) for s in seen[3:]), seen
        assert tr.redetection.recoveries == 0 and np.array_equal(tr._target.pos, home)
        assert tr.memory_stats()["frames"] == stored


@pytest.mark.parametrize("margin,accepted", [(0.3, True), (0.9, False)])
def test_a_candidate_must_beat_the_local_read_by_the_margin(margin, accepted):
    """The panned target reads well above the frozen box's local read (0.27 against the
    recover threshold 0.5): a margin of 0.3 (a bar of 0.57) keeps it a candidate, 0.9 refuses it."""
    net = load_checkpoint(default_checkpoint_path())
    start, video = _panned_video()
    tr = Tracker(net, _params(redetect_margin=margin))
    tr.init(start, BOX)
    for f in video + video[-1:] * 2:
        r = tr.update(f)
    assert (tr.redetection.candidates > 0) == accepted
    assert (r.state == TrackState.TRACKING) == accepted, r
    assert tr.redetection.recoveries == int(accepted)


def test_exact_mode_never_scans_and_bad_settings_are_refused():
    net = tiny_net()
    p = TrackerParams(backend="torch",
                      optimize=False, mode="exact", lost_threshold=1.0, recover_threshold=1.0,
                      lost_frames=1, redetect_tiles=4)
    tr = Tracker(net, p)
    tr.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 4):
        assert tr.update(square_frame(t)).state == TrackState.LOST
    assert tr.redetection.tiles_scanned == 0 and not tr.redetection.searching
    for bad in (-1, 65, True, 1.5):
        with pytest.raises(ValueError, match="redetect_tiles=.* must be an integer in 0..64"):
            tr.set_params(TrackerParams(**{**p.to_dict(), "redetect_tiles": bad}))
    for name, bad, words in (("redetect_confirm_frames", 0, "an integer in 1..100"),
                             ("redetect_confirm_frames", 101, "an integer in 1..100"),
                             ("redetect_confirm_frames", 2.0, "an integer in 1..100"),
                             ("redetect_margin", -0.1, r"a number in \[0, 1\]"),
                             ("redetect_margin", 1.5, r"a number in \[0, 1\]"),
                             ("redetect_margin", "0.1", r"a number in \[0, 1\]"),
                             ("redetect_after_frames", -1, "an integer in 0..10000"),
                             ("redetect_after_frames", 10001, "an integer in 0..10000"),
                             ("redetect_after_frames", 1.0, "an integer in 0..10000")):
        with pytest.raises(ValueError, match=f"{name}=.* must be {words}"):
            tr.set_params(TrackerParams(**{**p.to_dict(), name: bad}))
    assert tr.params is p                                  # a refused change changes nothing


def test_bounded_lost_scans_round_robin():
    """With a grid of several crops, each LOST frame scans the next `redetect_tiles` of them."""
    net = tiny_net()
    p = TrackerParams(backend="torch",
                      optimize=False, lost_threshold=1.0, recover_threshold=1.0, lost_frames=1,
                      redetect_tiles=3)
    tr = Tracker(net, p)
    tr.init(square_frame(0, size=(240, 320)), (30.0, 40.0, 12.0, 12.0))
    seen = []
    for t in range(1, 5):
        assert tr.update(square_frame(t, size=(240, 320))).state == TrackState.LOST
        seen.append(tr.redetection)
    n = seen[0].tiles
    assert n > 3 and not any(s.candidate for s in seen)     # recover 1.0: nothing accepted
    assert [s.next_tile for s in seen] == [(3 * k) % n for k in range(1, 5)]
    assert [s.tiles_scanned for s in seen] == [3, 6, 9, 12]


@pytest.mark.parametrize("k", [0, 2])
def test_the_scan_waits_redetect_after_frames_lost_frames(k):
    """With redetect_after_frames k the first k LOST frames only search at the frozen box and
    the scan starts on the next one; a TRACKING frame restarts the count."""
    net = tiny_net()
    p = TrackerParams(backend="torch",
                      optimize=False, lost_threshold=1.0, recover_threshold=1.0, lost_frames=1,
                      redetect_tiles=3, redetect_after_frames=k)
    tr = Tracker(net, p)
    size = (240, 320)
    tr.init(square_frame(0, size=size), (30.0, 40.0, 12.0, 12.0))

    def lost_run(start, frames):
        seen = []
        for t in range(start, start + frames):
            assert tr.update(square_frame(t, size=size)).state == TrackState.LOST
            seen.append((tr.redetection.lost_for, tr.redetection.searching))
        return seen

    first = lost_run(1, k + 2)
    assert first == [(i, i > k) for i in range(1, k + 3)]
    scanned = tr.redetection.tiles_scanned
    assert scanned == 3 * 2
    tr.set_params(p.replace(lost_threshold=0.0, recover_threshold=0.0))   # any read recovers
    assert tr.update(square_frame(k + 3, size=size)).state == TrackState.TRACKING
    assert tr.redetection.lost_for == 0 and not tr.redetection.searching
    tr.set_params(p)
    again = lost_run(k + 4, k + 1)
    assert again == [(i, i > k) for i in range(1, k + 2)]    # counted from 1 again
    assert tr.redetection.tiles_scanned == scanned + 3
