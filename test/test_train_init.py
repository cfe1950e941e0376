"""Initialisation from pretrained weights through the training config (`init:` section)."""
import pytest
import torch
import yaml

from conftest import shared_path
from stmtrack_ros.model import (
    ModelConfig,
    STMTrackNet,
    default_checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from stmtrack_ros.model.backbone_small import small_config
from stmtrack_ros.model.head import label_cells
from stmtrack_ros.model.nanotrack_weights import read_state_dict
from stmtrack_ros.model.network import LABEL_READOUT_GAIN
from stmtrack_ros.train.config import ConfigError, load_config
from stmtrack_ros.train.engine import build_model

SMALL = dict(backbone="nanotrack_v1", q_size=97, total_stride=16, score_size=5, crop_pad=1,
             backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)


def _cfg(tmp_path, model, **init):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"model": model, "init": init}))
    return load_config(p)


def test_nanotrack_backbone_weights_go_into_both_backbones(tmp_path):
    path = shared_path("weights", "nanotrack_v1_got10k_state_dict.pth")
    net = build_model(_cfg(tmp_path, SMALL, backbone_weights=str(path)))
    sd = torch.load(path, map_location="cpu", weights_only=True)
    sd = sd.get("state_dict", sd)
    w = sd["backbone.features.0.0.weight"]
    assert torch.equal(net.basemodel_m.features[0][0].weight, w)
    assert torch.equal(net.basemodel_q.features[0][0].weight, w)


def test_inception_imagenet_layout_goes_into_both_backbones(tmp_path):
    # a file in torchvision's layout: the backbone's own keys plus the classifier-side blocks
    src = STMTrackNet(ModelConfig()).basemodel_q.state_dict()
    for v in src.values():
        if v.is_floating_point():
            v.normal_()
    tv = {k: v for k, v in src.items() if not k.endswith("num_batches_tracked")}
    tv["fc.weight"] = torch.zeros(1000, 2048)
    tv["Mixed_7a.branch3x3_1.conv.weight"] = torch.zeros(192, 768, 1, 1)
    torch.save(tv, tmp_path / "inception_v3_google.pth")
    net = build_model(_cfg(tmp_path, {}, inception_imagenet=str(tmp_path / "inception_v3_google.pth")))
    for bb in (net.basemodel_m, net.basemodel_q):
        assert torch.equal(bb.Mixed_6e.branch_pool.conv.weight, tv["Mixed_6e.branch_pool.conv.weight"])
        assert torch.equal(bb.Conv2d_1a_3x3.bn.running_var, tv["Conv2d_1a_3x3.bn.running_var"])


def test_init_checkpoint_must_match_the_model_section(tmp_path):
    torch.manual_seed(1)
    src = STMTrackNet(ModelConfig(**SMALL))
    save_checkpoint(tmp_path / "a.pt", src)
    net = build_model(_cfg(tmp_path, SMALL, checkpoint=str(tmp_path / "a.pt")))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), src.state_dict().values()))
    other = dict(SMALL, head_width=8)
    with pytest.raises(ConfigError, match="head_width"):
        build_model(_cfg(tmp_path, other, checkpoint=str(tmp_path / "a.pt")))


def test_init_checkpoint_without_label_readout_grows_into_one_computing_the_same(tmp_path):
    torch.manual_seed(2)
    src = STMTrackNet(ModelConfig(**SMALL)).eval()
    for p in src.head.parameters():  # away from the near-zero training init
        p.data.normal_(0, 0.1)
    save_checkpoint(tmp_path / "a.pt", src)
    net = build_model(_cfg(tmp_path, dict(SMALL, label_readout=1), checkpoint=str(tmp_path / "a.pt"))).eval()
    w = net.head.cls_ctr.conv1.weight
    assert w.shape[1] == 2 * 16 + 1 and torch.count_nonzero(w[:, 16]) == 0  # the new channel
    im, q = torch.rand(2, 3, 97, 97) * 255, torch.rand(1, 3, 97, 97) * 255
    maps = torch.zeros(2, 1, 97, 97)
    maps[:, :, 30:60, 40:70] = 1
    with torch.no_grad():
        mem = net.memorize(im, maps)
        assert mem.shape == (1, 17, 2, 5, 5)
        fg = LABEL_READOUT_GAIN * label_cells(maps, net.config)[:, 0]  # (2, 5, 5): cells 1-3 inside
        assert torch.equal(mem[0, 16], fg) and fg.max() == LABEL_READOUT_GAIN and fg[:, 0].eq(0).all()
        a, b = src.track(q, src.memorize(im, maps)), net.track(q, mem)
    assert torch.allclose(a[0], b[0], atol=1e-6) and torch.allclose(a[1], b[1], atol=1e-4)
    # the reverse (a read-out model into an official-read config) is refused
    save_checkpoint(tmp_path / "b.pt", net)
    with pytest.raises(ConfigError, match="label_readout"):
        build_model(_cfg(tmp_path, SMALL, checkpoint=str(tmp_path / "b.pt")))


def test_reg_first_frame_takes_the_same_weights_and_reads_boxes_from_frame_0_only(tmp_path):
    torch.manual_seed(3)
    src = STMTrackNet(ModelConfig(**SMALL, label_readout=1)).eval()
    for p in src.head.parameters():
        p.data.normal_(0, 0.1)
    save_checkpoint(tmp_path / "a.pt", src)
    net = build_model(_cfg(tmp_path, dict(SMALL, label_readout=1, reg_first_frame=1),
                           checkpoint=str(tmp_path / "a.pt"))).eval()
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), src.state_dict().values()))
    im, q = torch.rand(3, 3, 97, 97) * 255, torch.rand(1, 3, 97, 97) * 255
    maps = torch.zeros(3, 1, 97, 97)
    maps[:, :, 30:60, 40:70] = 1
    other = maps.clone()
    other[1:] = 0
    other[1:, :, 35:50, 45:60] = 1  # later frames' labels too small, frame 0's unchanged
    with torch.no_grad():
        s1, b1 = net.track(q, net.memorize(im, maps))[:2]
        s2, b2 = net.track(q, net.memorize(im, other))[:2]
        s0, b0 = src.track(q, src.memorize(im, other))[:2]
        one = net.memorize(im[:1], maps[:1])
        s3, b3 = net.track(q, one)[:2]
        assert torch.allclose(b3, src.track(q, one)[1])  # one frame: both reads are the same
    assert torch.equal(b1, b2) and not torch.allclose(s1, s2)  # boxes from frame 0, scores from all
    assert torch.equal(s0, s2) and not torch.allclose(b0, b2)  # the score branch is unchanged


def test_checkpoint_then_backbone_weights_puts_v2_under_the_bundled_necks_and_head(tmp_path):
    # the warm start of research/train_configs/small_2p_v2_warm.yaml: 2p's necks, memory read,
    # head and label-map projection, NanoTrack v2's backbones
    v2_path = shared_path("weights", "nanotrack", "pytorch", "nanotrackv2.pth")
    bundled_path = default_checkpoint_path()
    bundled = load_checkpoint(bundled_path).state_dict()
    v2 = read_state_dict(v2_path)
    net = build_model(_cfg(tmp_path, small_config().to_dict(), checkpoint=str(bundled_path),
                           backbone_weights=str(v2_path)))
    got = net.state_dict()
    assert got.keys() == bundled.keys()
    from_v2, from_2p = 0, set()
    for k, t in got.items():
        backbone, _, rest = k.partition(".")
        if backbone in ("basemodel_m", "basemodel_q") and not rest.startswith("proj_fg_bg_label_map"):
            assert torch.equal(t, v2["backbone." + rest]), k
            from_v2 += 1
        else:
            assert torch.equal(t, bundled[k]), k
            from_2p.add(backbone if backbone != "basemodel_m" else rest.split(".")[0])
    assert from_v2 == 2 * 168  # every backbone tensor of both backbones
    assert from_2p == {"neck_m", "neck_q", "head", "proj_fg_bg_label_map"}
    key = "basemodel_q.features.8.conv.0.weight"  # a block 2p trained: now v2's, not 2p's
    assert not torch.equal(got[key], bundled[key])
    assert torch.count_nonzero(got["basemodel_m.proj_fg_bg_label_map.weight"]) > 0
