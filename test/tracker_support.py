"""Helpers for the tracker tests: a tiny random network (fast enough for thousands of frames)
and synthetic frames with a moving square."""
import numpy as np
import pytest
import torch

from stmtrack_ros.model import STMTrackNet
from stmtrack_ros.model.backbone_small import small_config


def tiny_net(seed: int = 0, **config) -> STMTrackNet:
    """A random NanoTrack-backbone STMTrack at 127 px / 6x6 grid: the tracker must take all its
    geometry from `net.config`, so this exercises a non-official size too. `config`: more
    ModelConfig fields (label_readout, siamese_keys)."""
    torch.manual_seed(seed)
    cfg = small_config(q_size=127, score_size=6, neck_channels=16, head_width=16, head_convs=2,
                       **config)
    return STMTrackNet(cfg).eval()


def square_frame(t: int, size=(120, 160)) -> np.ndarray:
    """A grey textured frame with a bright square drifting right."""
    h, w = size
    rng = np.random.default_rng(t)
    im = (rng.integers(60, 90, size=(h, w, 3))).astype(np.uint8)
    x = 30 + (t % 60)
    im[40:70, x:x + 30] = (40, 200, 220)
    return im


SQUARE_BOX = (30.0, 40.0, 30.0, 30.0)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run far faster on one thread when the CPU is shared (no OpenMP barriers
    waiting for descheduled threads); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def snapshot(tracker) -> dict:
    """Everything a caller can observe of a tracker, memory tensors included (cloned), to
    check that a refused or failed call changed nothing."""
    stats = tracker.memory_stats()
    target = tracker._target
    memory = target.memory.gather(stats["frames"]).clone() if stats["frames"] else None
    pending = target.pending if target is not None else None
    return {"state": tracker.state, "frame_index": tracker.frame_index,
            "result": tracker.last_result, "step": _plain_step(tracker.last_step),
            "memorize_ms": tracker.last_memorize_ms, "stats": stats, "memory": memory,
            "pending": None if pending is None else (pending.index, pending.store),
            "params": tracker.params, "levels": target.levels if target is not None else ()}


def same_snapshot(a: dict, b: dict) -> bool:
    ma, mb = a.pop("memory"), b.pop("memory")
    same = a == b and ((ma is None and mb is None) or
                       (ma is not None and mb is not None and torch.equal(ma, mb)))
    a["memory"], b["memory"] = ma, mb
    return same


def _plain_step(step):
    if step is None:
        return None
    return (tuple(float(v) for v in step.pos), tuple(float(v) for v in step.sz), step.best,
            step.score, step.pscore, step.penalty)
