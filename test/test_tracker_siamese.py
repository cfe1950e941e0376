"""Siamese-key models: the memory pass of a tracked frame reuses its query crop and the track
pass's query features (tracker docstring). Checked against a recomputation from the public
results: the crop around the previous box, the new box labelled inside it."""
import math

import numpy as np
import pytest
import torch

from stmtrack_ros.model.input_tensor import input_tensor
from stmtrack_ros.tracker import Tracker, TrackerParams
from stmtrack_ros.tracker.crop import box_label_map, get_crop
from tracker_support import SQUARE_BOX, one_thread, square_frame, tiny_net  # noqa: F401


def test_given_keys_and_read_memory_match_the_full_passes():
    net = tiny_net(1, label_readout=1, siamese_keys=1)
    s = net.config.q_size
    img = torch.rand(2, 3, s, s) * 255
    maps = torch.zeros(2, 1, s, s)
    maps[..., 40:90, 30:70] = 1
    with torch.inference_mode():
        fq = net.query_features(img)
        assert torch.equal(net.memorize(img, maps, keys=fq), net.memorize(img, maps))
        mem = net.memorize(img[:1], maps[:1])
        for a, b in zip(net.read_memory(fq[1:], mem), net.track(img[1:], mem)):
            assert torch.equal(a, b)
        with pytest.raises(ValueError, match="query features of the same crops"):
            net.memorize(img, maps, keys=fq[:, :8])
    with pytest.raises(ValueError, match="only taken by a model with siamese_keys"):
        tiny_net(1, label_readout=0, siamese_keys=0).memorize(img, maps, keys=fq)


@pytest.mark.parametrize("mode", ["exact", "bounded"])
def test_memory_of_a_tracked_frame_is_its_query_crop_labelled_with_the_new_box(mode):
    net = tiny_net(2, label_readout=1, siamese_keys=1)
    s, saf = net.config.q_size, 4.0
    # thresholds 0: every bounded frame is stored; hp got10k: search area factor 4
    p = TrackerParams(backend="torch", mode=mode, memory_threshold=0.0, lost_threshold=0.0,
                      recover_threshold=0.0, optimize=False)
    assert p.hyper.search_area_factor == saf
    tr = Tracker(net, p)
    frames = [square_frame(t) for t in range(6)]
    tr.init(frames[0], SQUARE_BOX)
    avg = tuple(float(frames[0][..., c].mean()) for c in range(3))
    prev = SQUARE_BOX
    for t in range(1, 6):
        res = tr.update(frames[t])
        x, y, w, h = prev
        pos, scale = np.array([x + w / 2, y + h / 2]), math.sqrt(w * h) * saf / s
        crop, r = get_crop(frames[t], pos, scale, s, avg)
        bx, by, bw, bh = res.box
        cx, cy = (np.array([bx + bw / 2, by + bh / 2]) - pos) * r + s // 2
        box = (cx - bw * r / 2, cy - bh * r / 2, cx - bw * r / 2 + bw * r - 1, cy - bh * r / 2 + bh * r - 1)
        with torch.inference_mode():
            want = net.memorize(input_tensor(crop), input_tensor(box_label_map(s, box)))
        got = tr._target.memory.gather([t])
        assert torch.allclose(got, want, atol=1e-4), f"frame {t}"
        prev = res.box
