"""The bundled default model: loads through load_checkpoint as the small config, fits the size
budget, and runs the tracker on real frames."""
import numpy as np
import pytest
import torch

from conftest import shared_path
from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.model.backbone_small import small_config

MAX_BYTES = 20 * 1024 * 1024


def test_bundled_checkpoint_is_the_small_model():
    path = default_checkpoint_path()
    assert path.is_file(), f"bundled model missing: {path}"
    assert path.stat().st_size <= MAX_BYTES
    net = load_checkpoint(path)
    assert net.config == small_config()
    assert not net.training
    assert all(torch.isfinite(v).all() for v in net.state_dict().values() if v.is_floating_point())
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert "optimizer_state_dict" not in raw  # weights only: the optimizer state is not shipped


def test_bundled_backbones_keep_the_pretrained_stem():
    """The stem stays frozen in training, so it must still equal the NanoTrack v1 stem."""
    sd = torch.load(shared_path("weights", "nanotrack_v1_got10k_state_dict.pth"), map_location="cpu",
                    weights_only=True)
    net = load_checkpoint(default_checkpoint_path())
    for name in ("basemodel_m", "basemodel_q"):
        got = getattr(net, name).features[0][0].weight
        assert torch.equal(got, sd["backbone.features.0.0.weight"].to(got.dtype))


def _sequence(name, n):
    import cv2
    root = shared_path("data", name)
    gt = np.loadtxt(root / "groundtruth.txt", delimiter=",")[:n]
    gt[:, :2] -= 1.0  # OTB 1-based -> 0-based
    frames = [cv2.imread(str(root / "img" / f"{i:08d}.jpg")) for i in range(1, n + 1)]
    return frames, gt


def _iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize("mode", ["exact", "bounded"])
def test_bundled_model_follows_a_real_target(mode):
    """Crossing (an evaluation sequence, never trained on): the box overlaps the target on
    most of the first 40 frames in both memory modes."""
    from stmtrack_ros.tracker import Tracker, TrackerParams
    frames, gt = _sequence("Crossing", 40)
    tr = Tracker.from_checkpoint(default_checkpoint_path(), TrackerParams(mode=mode))
    tr.init(frames[0], gt[0])
    ious = [_iou(tr.update(f).box, g) for f, g in zip(frames[1:], gt[1:])]
    assert np.mean(np.array(ious) > 0.3) >= 0.7, f"{mode}: IoUs {np.round(ious, 2).tolist()}"


@pytest.mark.parametrize("offset", [(0, 0), (70, 0), (-70, 0), (0, 70)])
def test_bundled_model_finds_what_its_memory_labels(offset):
    """The memory, not the crop centre, says what to track: one real crop (Crossing's first
    frame around its target) as memory and query, labelled with a target-sized box moved by
    `offset` crop px; the score peak follows the label to within a cell. (Stage 1 ignored its
    memory and kept the centre: docs/research_log.md, "label swap".)"""
    from stmtrack_ros.tracker.crop import box_label_map, get_crop
    net = load_checkpoint(default_checkpoint_path())
    s, cell = net.config.q_size, net.config.total_stride
    frames, gt = _sequence("Crossing", 1)
    box = gt[0]
    centre = box[:2] + box[2:] / 2
    crop, r = get_crop(frames[0], centre, np.sqrt(box[2] * box[3]) * 4.0 / s, s,
                       frames[0].reshape(-1, 3).mean(0))
    w, h = box[2] * r, box[3] * r
    cx, cy = s // 2 + offset[0], s // 2 + offset[1]
    label = box_label_map(s, (cx - w / 2, cy - h / 2, cx + w / 2 - 1, cy + h / 2 - 1))
    q = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
    with torch.inference_mode():
        score, boxes, _, _ = net.track(q, net.memorize(q, torch.from_numpy(label)[None, None]))
    peak = boxes[0, int(score[0, :, 0].argmax())].numpy()
    got = (peak[:2] + peak[2:]) / 2
    assert np.hypot(got[0] - cx, got[1] - cy) <= cell, f"peak at {got}, label at {(cx, cy)}"
