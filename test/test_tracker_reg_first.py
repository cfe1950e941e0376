"""A model whose box branch reads the first memory frame alone (`ModelConfig.reg_first_frame`):
the tracker puts frame 0 first in every read, in both memory modes, and reads the same frames
it would otherwise."""
import pytest

from stmtrack_ros.tracker import Tracker, TrackerParams
from tracker_support import SQUARE_BOX, one_thread, square_frame, tiny_net  # noqa: F401


@pytest.mark.parametrize("mode", ["exact", "bounded"])
def test_frame_0_is_read_first_and_the_read_set_is_unchanged(mode):
    # preset vot: confidence threshold 0, so the previous frame is always read, and first in
    # the official order; thresholds 0: every frame enters the bounded memory
    p = TrackerParams(backend="torch", hp="vot", mode=mode, memory_capacity=4, memory_threshold=0.0,
                      lost_threshold=0.0, recover_threshold=0.0, optimize=False)
    first = Tracker(tiny_net(label_readout=1, siamese_keys=1, reg_first_frame=1), p)
    plain = Tracker(tiny_net(label_readout=1, siamese_keys=1, reg_first_frame=0), p)
    for tr in (first, plain):
        tr.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 16):
        a, b = first.update(square_frame(t)), plain.update(square_frame(t))
        assert a.memory_frames[0] == 0 and sorted(a.memory_frames) == sorted(b.memory_frames)
        if t > 4:  # official order past the first num_segments updates: the previous frame first
            assert b.memory_frames[0] == t - 1
