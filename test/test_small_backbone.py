"""The small NanoTrack-v1 backbone: pretrained load, ONNX parity, geometry, label-map path."""
import numpy as np
import pytest
import torch

from conftest import shared_path
from stmtrack_ros.model import STMTrackNet
from stmtrack_ros.model.backbone_small import NanoBackbone, feature_size, small_config


def _weights():
    return shared_path("weights", "nanotrack_v1_got10k_state_dict.pth")


def init_small_net(nanotrack_weights):
    """The small config with both backbones loaded from NanoTrack v1 weights (neck and head keep
    their training init), as training starts it (`init.backbone_weights`)."""
    net = STMTrackNet(small_config())
    net.basemodel_m.load_nanotrack(nanotrack_weights)
    net.basemodel_q.load_nanotrack(nanotrack_weights)
    return net


def assert_matches_onnx_backbone(weights, version: int, x: np.ndarray):
    """Our module with NanoTrack `weights` gives what NanoTrack v`version`'s own ONNX backbone
    gives (cv2.dnn) on the 1x3x255x255 BGR input `x`."""
    cv2 = pytest.importorskip("cv2")
    onnx = shared_path("weights", "nanotrack", f"nanotrackv{version}", "nanotrack_backbone_sim.onnx")
    bb = NanoBackbone(small_config(crop_pad=0, score_size=16, q_size=255)).eval()
    bb.load_nanotrack(weights)
    net = cv2.dnn.readNetFromONNX(str(onnx))
    net.setInput(x)
    ref = net.forward()
    with torch.inference_mode():
        out = bb(torch.from_numpy(x)).numpy()
    assert out.shape == ref.shape == (1, 48, 16, 16)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max() + 1e-4


def test_matches_nanotrack_onnx_backbone():
    """Our module with the v1 weights reproduces the repo's own ONNX export (cv2.dnn)."""
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 255, 255)).astype(np.float32)
    assert_matches_onnx_backbone(_weights(), 1, x)


def test_load_refuses_wrong_file(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"head.w": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="no 'backbone"):
        NanoBackbone(small_config()).load_nanotrack(bad)
    with pytest.raises(ValueError, match="cannot read"):
        NanoBackbone(small_config()).load_nanotrack(tmp_path / "absent.pth")


@pytest.mark.parametrize("q_size,crop_pad", [(289, 1), (257, 1), (255, 0)])
def test_feature_size_matches_module(q_size, crop_pad):
    s = feature_size(q_size, crop_pad)
    bb = NanoBackbone(small_config(q_size=q_size, crop_pad=crop_pad, score_size=s)).eval()
    with torch.inference_mode():
        assert bb(torch.zeros(1, 3, q_size, q_size)).shape == (1, 48, s, s)


def test_grid_is_symmetric_about_crop_centre():
    """An impulse at the crop centre answers most at the centre cell (score_offset geometry)."""
    cfg = small_config()
    assert cfg.score_offset + (cfg.score_size // 2) * cfg.total_stride == (cfg.q_size - 1) // 2
    bb = NanoBackbone(cfg).eval()
    for p in bb.parameters():  # flip-symmetric (constant) kernels: only the geometry is tested
        if p.dim() > 1:
            p.data.fill_(1.0 / p[0].numel())
    x = torch.zeros(1, 3, cfg.q_size, cfg.q_size)
    c = (cfg.q_size - 1) // 2
    x[..., c, c] = 255.0
    with torch.inference_mode():
        r = (bb(x) - bb(torch.zeros_like(x))).abs().sum(1)[0]
    assert divmod(int(r.argmax()), cfg.score_size) == (cfg.score_size // 2, cfg.score_size // 2)
    assert torch.allclose(r, r.flip(0), rtol=1e-4) and torch.allclose(r, r.t(), rtol=1e-4)


def test_memory_variant_uses_label_map_and_requires_it():
    bb = NanoBackbone(small_config(), with_label_map=True).eval()
    x = torch.rand(1, 3, 289, 289) * 255
    m0 = torch.zeros(1, 1, 289, 289)
    m1 = m0.clone()
    m1[..., 100:190, 110:180] = 1.0
    with torch.inference_mode():
        a, b = bb(x, m0), bb(x, m1)
        with pytest.raises(ValueError, match="label map"):
            bb(x)
    assert not torch.allclose(a, b)
    assert bb.proj_fg_bg_label_map.weight.shape == (16, 1, 3, 3)


def test_frozen_bn_stays_in_eval_under_train():
    bb = NanoBackbone(small_config()).train()
    bns = [m for m in bb.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = bns[0].running_mean.clone()
    bb(torch.rand(2, 3, 289, 289) * 255)
    assert torch.equal(before, bns[0].running_mean)


def test_config_refuses_wrong_widths():
    with pytest.raises(ValueError, match="48 channels at stride 16"):
        NanoBackbone(small_config(backbone_channels=96))


def test_small_net_phases_shapes_and_folding():
    net = init_small_net(_weights()).eval()
    cfg = net.config
    s, S = cfg.score_size, cfg.q_size
    img = torch.rand(1, 3, S, S) * 255
    lm = torch.zeros(1, 1, S, S)
    lm[..., 110:180, 110:180] = 1
    with torch.inference_mode():
        mem = torch.cat([net.memorize(img, lm)] * 5, 2)
        out = net.track(img, mem)
        fast = net.optimized_copy().track(img, mem)
    assert mem.shape == (1, cfg.memory_channels, 5, s, s)
    assert [tuple(o.shape) for o in out] == [(1, s * s, 1), (1, s * s, 4), (1, s * s, 1), (1, s * s, 1)]
    for a, b in zip(out, fast):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3)
    boxes = out[1][0]
    assert bool((boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all())


def test_small_net_trains_label_map_projection():
    """Gradients reach the fg/bg projection and the heads through forward_train."""
    torch.manual_seed(0)
    net = STMTrackNet(small_config()).train()
    S = net.config.q_size
    maps = torch.zeros(1, 2, 1, S, S)
    maps[..., 100:190, 100:190] = 1.0
    out = net.forward_train(torch.rand(1, 2, 3, S, S) * 255, maps, torch.rand(1, 3, S, S) * 255)
    # random weights: a plain sum of a BatchNorm output is constant (zero gradient)
    w = torch.rand_like(out["cls_logits"])
    ((out["cls_logits"] * w).sum() + out["boxes"].sum() * 1e-3).backward()
    assert net.basemodel_m.proj_fg_bg_label_map.weight.grad.abs().sum() > 0
    assert net.head.cls_ctr.conv1.weight.grad.abs().sum() > 0


def test_label_readout_reads_the_fg_fraction_of_the_attended_cells():
    from stmtrack_ros.model.head import label_cells, memory_read
    cfg = small_config()
    maps = torch.zeros(1, 1, 289, 289)
    maps[..., 100:180, 120:170] = 1
    cells = label_cells(maps, cfg)[0, 0]
    # cell k covers crop pixels 8 + 16k .. 23 + 16k: rows 100..179 give 0.25 (k 5), 1 (k 6-9), 0.75 (k 10)
    assert cells[5, 8] == 0.25 and cells[6:10, 7:10].eq(1).all() and cells[10, 8] == 0.75
    assert cells[8, 10] == 2 / 16 and cells[:5].eq(0).all() and cells.sum() == pytest.approx(80 * 50 / 256)
    # a query cell whose feature matches one memory cell's key attends (almost) only to it:
    # the read-out's last channel is then that cell's fg fraction
    c = cfg.neck_channels
    fm = torch.zeros(1, c + 1, 1, 17, 17)
    fm[0, c, 0] = cells
    fq = torch.zeros(1, c, 17, 17)
    picks = {(5, 8): 0.25, (8, 10): 2 / 16, (7, 8): 1.0, (2, 2): 0.0}
    for i, ((r, col), _) in enumerate(picks.items()):
        fm[0, i, 0, r, col] = 50.0
        fq[0, i, 16 - r, 16 - col] = 50.0  # read at another query cell
    read = memory_read(fm, fq)
    assert read.shape == (1, c + 1, 17, 17)
    for (r, col), frac in picks.items():
        assert read[0, c, 16 - r, 16 - col].item() == pytest.approx(frac, abs=1e-4)


def test_siamese_keys_match_query_path_features_and_read_the_labelled_values():
    from stmtrack_ros.model.head import memory_read
    cfg = small_config(label_readout=1, siamese_keys=1)
    assert cfg.value_channels == 65 and cfg.memory_channels == 129
    net = STMTrackNet(cfg).eval()
    torch.manual_seed(0)
    ims, maps = torch.rand(2, 3, 289, 289) * 255, torch.zeros(2, 1, 289, 289)
    maps[..., 100:180, 120:170] = 1
    with torch.no_grad():
        mem = net.memory_features(ims, maps)
        assert mem.shape == (2, 129, 17, 17)
        assert torch.equal(mem[:, 65:], net.query_features(ims))  # the keys: query path, same crop
        assert torch.equal(mem[:, :64], net.neck_m(net.basemodel_m(ims, maps)))  # the values
    # memory layout: V value channels, then C keys; a query cell equal to one key reads its values
    c = 64
    fm = torch.zeros(1, 65 + c, 1, 17, 17)
    fm[0, :65, 0, 4, 9] = torch.arange(65.0)  # the values of memory cell (4, 9)
    fm[0, 65 + 3, 0, 4, 9] = 50.0  # its key: unit vector 3
    fq = torch.zeros(1, c, 17, 17)
    fq[0, 3, 12, 2] = 50.0
    read = memory_read(fm, fq, 65)
    assert read.shape == (1, 65, 17, 17)
    assert torch.allclose(read[0, :, 12, 2], torch.arange(65.0), atol=1e-3)
