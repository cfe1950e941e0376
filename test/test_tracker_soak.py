"""Soak (not timed): in bounded mode the memory stays flat over thousands of frames, while
exact mode grows by one feature per frame. A tiny network on 63-px crops keeps it quick."""
import gc
import tracemalloc

import pytest
import torch

from stmtrack_ros.model import STMTrackNet
from stmtrack_ros.model.backbone_small import small_config
from stmtrack_ros.tracker import Tracker, TrackerParams
from tracker_support import SQUARE_BOX, one_thread, square_frame  # noqa: F401

FRAMES = 2000


def _micro_net():
    torch.manual_seed(0)
    cfg = small_config(q_size=63, score_size=2, neck_channels=8, head_width=8, head_convs=1)
    return STMTrackNet(cfg).eval()


@pytest.mark.slow
def test_bounded_memory_is_flat():
    cap = 6
    # thresholds 0: every frame is confident and offered to the memory (the worst case)
    p = TrackerParams(backend="torch", mode="bounded", memory_capacity=cap, memory_threshold=0.0,
                      lost_threshold=0.0, recover_threshold=0.0, optimize=False)
    tr = Tracker(_micro_net(), p)
    frames = [square_frame(t) for t in range(8)]
    tr.init(frames[0], SQUARE_BOX)
    feat_bytes = None
    tracemalloc.start()
    try:
        snap = {}
        prev_pscore = 1.0
        for t in range(1, FRAMES + 1):
            if t == FRAMES:
                prev_pscore = tr.last_step.pscore
            r = tr.update(frames[t % 8])
            st = tr.memory_stats()
            feat_bytes = feat_bytes or st["bytes"]       # one feature after frame 0
            assert st["features"] <= cap + 2
            assert st["bytes"] <= (cap + 2) * feat_bytes
            assert len(r.memory_frames) <= 6
            if t in (FRAMES // 3, FRAMES):
                gc.collect()
                snap[t] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert st["frames"][0] == 0 and st["frames"][-1] == FRAMES
    # Python-side allocations do not grow with the stream (a per-frame leak of even
    # 50 bytes would show as 66 kB over the last 1333 frames)
    assert snap[FRAMES] - snap[FRAMES // 3] < 32 * 1024, snap
    # the read spreads over the whole history, first frame included; the newest frame only
    # when the previous frame was confident (the official rule)
    newest = prev_pscore > p.hyper.confidence_threshold
    assert (r.memory_frames[0] == FRAMES - 1) == newest and 0 in r.memory_frames
    reps = r.memory_frames[2:] if newest else r.memory_frames[1:]
    assert max(reps) - min(reps) > FRAMES // 2


def test_exact_memory_grows_for_contrast():
    tr = Tracker(_micro_net(), TrackerParams(backend="torch", mode="exact", optimize=False))
    tr.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 41):
        tr.update(square_frame(t))
    st = tr.memory_stats()
    assert st["features"] == 41 and st["bytes"] == 41 * st["bytes"] // 41
