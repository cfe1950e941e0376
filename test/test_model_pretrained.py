"""ImageNet init of both backbones from a file in torchvision's inception_v3_google layout
(synthesised here: the real 100 MB file is not available offline)."""
import pytest
import torch

from stmtrack_ros.model import CheckpointError, STMTrackNet
from stmtrack_ros.model.pretrained import load_inception_pretrained


@pytest.fixture(scope="module")
def net():
    return STMTrackNet()


def torchvision_layout(net):
    """Every backbone key (no prefix, no num_batches_tracked, as the 2018 file) with distinct
    values, plus the blocks the truncated backbone lacks."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.rand(v.shape, generator=g) for k, v in net.basemodel_q.state_dict().items()
          if not k.endswith("num_batches_tracked")}
    sd.update({"Mixed_7a.branch3x3_1.conv.weight": torch.zeros(192, 768, 1, 1),
               "Mixed_7c.branch_pool.bn.running_var": torch.ones(192),
               "AuxLogits.conv0.conv.weight": torch.zeros(128, 768, 1, 1),
               "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)})
    return sd


def test_loads_into_both_backbones(net, tmp_path):
    sd = torchvision_layout(net)
    torch.save(sd, tmp_path / "inception_v3_google.pth")
    proj = net.basemodel_m.proj_fg_bg_label_map.weight.detach().clone()
    neck = net.neck_m.adjustor.weight.detach().clone()
    report = load_inception_pretrained(net, tmp_path / "inception_v3_google.pth")
    assert report == {"loaded": len(sd) - 5, "ignored": 5}
    for prefix in ("basemodel_m.", "basemodel_q."):
        got = net.state_dict()
        for k, v in sd.items():
            if not k.startswith(("Mixed_7", "AuxLogits", "fc")):
                assert torch.equal(got[prefix + k], v), prefix + k
    # not in the file: left as they were
    assert torch.equal(net.basemodel_m.proj_fg_bg_label_map.weight, proj)
    assert torch.equal(net.neck_m.adjustor.weight, neck)
    # separate copies, not shared weights
    stem_m, stem_q = net.basemodel_m.Conv2d_1a_3x3.conv.weight, net.basemodel_q.Conv2d_1a_3x3.conv.weight
    assert stem_m.data_ptr() != stem_q.data_ptr()


def test_refuses_files_that_do_not_fit(net, tmp_path):
    sd = torchvision_layout(net)
    del sd["Mixed_6e.branch_pool.conv.weight"]
    torch.save(sd, tmp_path / "miss.pth")
    with pytest.raises(CheckpointError, match=r"1 missing \('Mixed_6e.branch_pool.conv.weight'\)"):
        load_inception_pretrained(net, tmp_path / "miss.pth")
    sd = torchvision_layout(net)
    sd["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 3, 5, 5)
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"1 mis-shaped \('Conv2d_1a_3x3.conv.weight'\)"):
        load_inception_pretrained(net, tmp_path / "shape.pth")
    sd = {"basemodel_q." + k: v for k, v in torchvision_layout(net).items()}
    torch.save(sd, tmp_path / "prefixed.pth")
    with pytest.raises(CheckpointError, match="not torchvision's Inception-v3 layout"):
        load_inception_pretrained(net, tmp_path / "prefixed.pth")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_inception_pretrained(net, tmp_path / "absent.pth")


def test_refuses_another_backbone_kind():
    from stmtrack_ros.model.backbone_small import small_config
    with pytest.raises(CheckpointError, match="fit only the inception_v3 backbone"):
        load_inception_pretrained(STMTrackNet(small_config()), "unused.pth")
