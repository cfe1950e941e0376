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


SIAMESE = default_checkpoint_path().parent / "stmtrack_small_siamese.pt"


@pytest.mark.parametrize("mode", ["exact", "bounded"])
def test_siamese_candidate_loads_as_its_config_and_follows_a_real_target(mode):
    """The stage-2e candidate (MODEL_CARD, "Stage 2e"): Siamese keys and label read-out,
    weights only, and it tracks Crossing's first 40 frames like the default model."""
    from stmtrack_ros.tracker import Tracker, TrackerParams
    assert SIAMESE.is_file() and SIAMESE.stat().st_size <= MAX_BYTES
    net = load_checkpoint(SIAMESE)
    assert net.config == small_config(label_readout=1, siamese_keys=1)
    assert "optimizer_state_dict" not in torch.load(SIAMESE, map_location="cpu", weights_only=True)
    frames, gt = _sequence("Crossing", 40)
    tr = Tracker.from_checkpoint(SIAMESE, TrackerParams(mode=mode))
    tr.init(frames[0], gt[0])
    ious = [_iou(tr.update(f).box, g) for f, g in zip(frames[1:], gt[1:])]
    assert np.mean(np.array(ious) > 0.3) >= 0.7, f"{mode}: IoUs {np.round(ious, 2).tolist()}"
