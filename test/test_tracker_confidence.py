"""`TrackerParams.confidence`: the official memory score, or frame 0's read alone, which drops
when the tracker has moved onto something else and its memory has followed."""
import cv2
import numpy as np
import pytest
import torch

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.tracker import Tracker, TrackerParams
from tracker_support import one_thread  # noqa: F401

DEMO = default_checkpoint_path().parent.parent / "data" / "demo"


@pytest.mark.parametrize("optimize", [False, True])
def test_the_first_frame_score_is_the_read_of_a_one_frame_memory(optimize):
    net = load_checkpoint(default_checkpoint_path())  # trained: its scores differ by cell
    net = net.optimized_copy() if optimize else net
    s = net.config.q_size
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, s, s, generator=g) * 255
    maps = torch.zeros(3, 1, s, s)
    maps[:, :, s // 3:2 * s // 3, s // 3:2 * s // 3] = 1
    with torch.inference_mode():
        fq = net.query_features(torch.rand(1, 3, s, s, generator=g) * 255)
        memory = net.memorize(images, maps)
        alone, _, _, _ = net.read_memory(fq, memory[:, :, :1])
        first = net.first_frame_score(fq, memory)
        full, _, _, _ = net.read_memory(fq, memory)
    assert torch.allclose(first, alone, rtol=1e-5, atol=0)
    assert not torch.allclose(first, full, rtol=1e-3, atol=0)  # the other frames change the read
    # one cell at a time (a window of the grid inside, the whole grid at the edge): the same
    with torch.inference_mode():
        cells = torch.cat([net.first_frame_score(fq, memory, k) for k in range(first.shape[1])], 1)
    assert cells.shape == first.shape and torch.allclose(cells, first, rtol=1e-4, atol=1e-6)


def test_confidence_must_be_a_known_read():
    with pytest.raises(ValueError, match="confidence='frame0'"):
        TrackerParams(confidence="frame0").check()


def _swapped_video(n=24, swap_at=6):
    """The demo clip's frame 0 repeated; from `swap_at` on, the bunny's box shows another part
    of the picture: what a tracker sees once it has switched to something else."""
    cap = cv2.VideoCapture(str(DEMO / "bigbuckbunny_100.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok, "demo clip unreadable"
    x, y, w, h = 150, 110, 125, 175  # clip.json init box
    other = frame[180:355, 480:605].copy()
    video = []
    for t in range(n):
        f = frame.copy()
        if t >= swap_at:
            f[y:y + h, x:x + w] = other
        video.append(f)
    return video, (x, y, w, h)


@pytest.mark.parametrize("mode", ["exact", "bounded"])
def test_after_a_switch_the_first_frame_confidence_stays_low(mode):
    torch.set_num_threads(1)
    video, box = _swapped_video()
    runs = {}
    for read in ("memory", "first_frame"):
        # thresholds 0: every frame is memorised, as when a drift goes unnoticed
        p = TrackerParams(mode=mode, confidence=read, memory_threshold=0.0, lost_threshold=0.0,
                          recover_threshold=0.0)
        tr = Tracker.from_checkpoint(default_checkpoint_path(), p)
        tr.init(video[0], box)
        runs[read] = [tr.update(f) for f in video[1:]]
    # the confidence is reported, it does not steer: the same boxes either way
    assert all(np.allclose(a.box, b.box) for a, b in zip(runs["memory"], runs["first_frame"]))
    memory = np.array([r.confidence for r in runs["memory"]])
    first = np.array([r.confidence for r in runs["first_frame"]])
    before, after = slice(0, 4), slice(12, None)  # updates 1..4 see the bunny, 13.. the swap
    assert np.abs(memory[before] - first[before]).max() < 0.05 and first[before].min() > 0.5
    # the memory has learnt the new content as the target; frame 0 still knows the bunny
    assert memory[after].mean() > 0.5
    assert first[after].mean() < memory[after].mean() - 0.25
