"""NanoTrack v2's PyTorch checkpoint as the small model's backbone: read with weights_only=True
(numpy scalars allowed, nothing else), reproduces NanoTrack v2's own ONNX backbone, and gives
the small model's 48-channel stride-16 grid; v3 and foreign pickles are refused in one line."""
import collections

import numpy as np
import pytest
import torch
from test_small_backbone import assert_matches_onnx_backbone

from conftest import shared_path
from stmtrack_ros.model import STMTrackNet
from stmtrack_ros.model.backbone_small import NanoBackbone, small_config
from stmtrack_ros.model.nanotrack_weights import read_state_dict


def _v(n):
    return shared_path("weights", "nanotrack", "pytorch", f"nanotrackv{n}.pth")


def test_v2_checkpoint_reproduces_nanotrack_v2_onnx_backbone():
    cv2 = pytest.importorskip("cv2")
    img = cv2.imread(str(next(iter(sorted(shared_path("train_data").rglob("*.jpg"))))))
    x = cv2.resize(img, (255, 255)).transpose(2, 0, 1)[None].astype(np.float32)  # BGR 0..255
    assert_matches_onnx_backbone(_v(2), 2, x)


def test_v2_fills_both_backbones_of_the_small_model_with_its_own_weights():
    v1 = read_state_dict(shared_path("weights", "nanotrack_v1_got10k_state_dict.pth"))
    v2 = read_state_dict(_v(2))
    assert [k for k in v2 if k.startswith("backbone.")] == [k for k in v1 if k.startswith("backbone.")]
    net = STMTrackNet(small_config())
    for bb in (net.basemodel_m, net.basemodel_q):
        bb.load_nanotrack(_v(2))
    key = "features.4.conv.0.weight"
    assert torch.equal(net.basemodel_q.state_dict()[key], v2["backbone." + key])
    assert not torch.equal(v1["backbone." + key], v2["backbone." + key])
    x = torch.rand(2, 3, 289, 289) * 255
    with torch.inference_mode():
        f = net.basemodel_q(x)
        mem = net.memorize(x, (torch.rand(2, 1, 289, 289) > 0.5).float())
    assert f.shape == (2, 48, 17, 17) and torch.isfinite(f).all()
    assert mem.shape == (1, net.config.memory_channels, 2, 17, 17)


class _NotWeights:
    pass


def test_v3_and_foreign_pickles_are_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"nanotrackv3\.pth does not match the NanoTrack v1 backbone"):
        NanoBackbone(small_config()).load_nanotrack(_v(3))
    bad = tmp_path / "code.pth"
    torch.save({"state_dict": collections.OrderedDict(), "x": _NotWeights()}, bad)
    with pytest.raises(ValueError, match=r"^cannot read NanoTrack weights .*code\.pth: [^\n]*$"):
        read_state_dict(bad)
