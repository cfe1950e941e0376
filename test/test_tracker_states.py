"""Target states, hysteresis, LOST behaviour, the track/memorize split and geometry from
net.config, on a tiny random network."""
import pytest

from stmtrack_ros.tracker import Tracker, TrackerParams, TrackState
from tracker_support import SQUARE_BOX, one_thread, square_frame, tiny_net  # noqa: F401


@pytest.fixture(scope="module")
def net():
    return tiny_net()


def test_lost_after_n_low_frames_then_recovers(net):
    p = TrackerParams(backend="torch",
                      optimize=False, mode="bounded", lost_threshold=1.0, recover_threshold=1.0,
                      lost_frames=3)
    tr = Tracker(net, p)
    assert tr.state == TrackState.IDLE
    assert tr.init(square_frame(0), SQUARE_BOX).state == TrackState.TRACKING
    states = [tr.update(square_frame(t)).state for t in range(1, 6)]
    assert states == [TrackState.TRACKING, TrackState.TRACKING, TrackState.LOST,
                      TrackState.LOST, TrackState.LOST]
    # while LOST: the box is frozen at the last tracked box, the search is widened,
    # nothing is written to memory
    last_box = tr.last_result.box
    stored = tr.memory_stats()["frames"]
    scale_tracking = tr._target.target_scale
    r = tr.update(square_frame(6))
    assert r.state == TrackState.LOST and r.box == last_box
    assert tr.memory_stats()["frames"] == stored
    assert tr._target.target_scale == scale_tracking
    assert 0.0 <= r.confidence <= 1.0
    # hysteresis: recovers when confidence reaches recover_threshold
    tr.set_params(p.replace(lost_threshold=0.0, recover_threshold=0.0))
    r = tr.update(square_frame(7))
    assert r.state == TrackState.TRACKING and r.box != last_box


def test_exact_mode_only_labels_states(net):
    p = TrackerParams(backend="torch",
                      optimize=False, mode="exact", lost_threshold=1.0, recover_threshold=1.0, lost_frames=2)
    tr = Tracker(net, p)
    tr.init(square_frame(0), SQUARE_BOX)
    ref = Tracker(net, TrackerParams(backend="torch",
                                     optimize=False, mode="exact", lost_threshold=0.0, recover_threshold=0.0))
    ref.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 12):
        a, b = tr.update(square_frame(t)), ref.update(square_frame(t))
        assert a.box == b.box and a.memory_frames == b.memory_frames
    assert a.state == TrackState.LOST and b.state == TrackState.TRACKING
    assert tr.memory_stats()["features"] == 12


def test_memorize_after_track_gives_identical_results(net):
    """The split API (track, publish, memorize) = update = lazy memorize inside the next track."""
    runs = []
    for style in ("update", "split", "lazy"):
        tr = Tracker(net, TrackerParams(backend="torch", optimize=False, mode="exact"))
        tr.init(square_frame(0), SQUARE_BOX)
        if style == "split":
            assert tr.memorize() > 0 and tr.memorize() == 0.0     # idempotent
        out = []
        for t in range(1, 10):
            if style == "update":
                r = tr.update(square_frame(t))
            else:
                r = tr.track(square_frame(t))
                assert "network" in r.timings_ms and "track" in r.timings_ms
                if style == "split":
                    tr.memorize()
            out.append((r.box, r.memory_frames, r.confidence))
        runs.append(out)
    assert runs[0] == runs[1] == runs[2]


def test_geometry_comes_from_net_config(net):
    tr = Tracker(net, TrackerParams(backend="torch", optimize=False, mode="bounded"))
    tr.init(square_frame(0), SQUARE_BOX)
    r = tr.update(square_frame(1))
    assert tr._window.shape == (net.config.score_size ** 2,)
    assert 0 <= tr.last_step.best < net.config.score_size ** 2
    assert r.memory_frames == (0,) and r.frame_index == 1


def test_cuda_request_falls_back_to_cpu(net):
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA present: no fallback to check")
    with pytest.warns(RuntimeWarning, match="CUDA is not available"):
        tr = Tracker(net, TrackerParams(backend="torch", device="cuda", fp16=True))
    assert tr.device.type == "cpu"
    tr.init(square_frame(0), SQUARE_BOX)
    assert tr.update(square_frame(1)).state == TrackState.TRACKING


def test_set_params_refuses_device_change(net):
    tr = Tracker(net, TrackerParams(backend="torch", optimize=False))
    with pytest.raises(ValueError, match="device"):
        tr.set_params(TrackerParams(backend="torch", device="cuda"))
    with pytest.raises(ValueError, match="invalid"):
        tr.set_params(TrackerParams(backend="torch", lost_frames=0))


def test_warm_up_leaves_no_trace():
    """The node warms the tracker up at start (compilation, kernel choice): afterwards it is
    IDLE, keeps its parameters, and tracks exactly as a fresh one."""
    p = TrackerParams(backend="torch", mode="bounded", memory_capacity=4, optimize=False)
    warm, fresh = Tracker(tiny_net(siamese_keys=1), p), Tracker(tiny_net(siamese_keys=1), p)
    assert warm.warm_up() > 0
    assert warm.state == TrackState.IDLE and warm.frame_index == -1 and warm.params == p
    assert warm.memory_stats()["features"] == 0
    for tr in (warm, fresh):
        tr.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 8):
        a, b = warm.update(square_frame(t)), fresh.update(square_frame(t))
        assert a.box == b.box and a.confidence == b.confidence and a.memory_frames == b.memory_frames
