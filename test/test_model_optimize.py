"""BN folding finds both conv->BN patterns (children `conv`/`bn`, and Sequential neighbours)
and keeps the outputs; the parity of the folded full network is in test_model_parity.py."""
import pytest
import torch
from torch import nn

from stmtrack_ros.model import STMTrackNet, default_checkpoint_path, load_checkpoint, optimize
from stmtrack_ros.model.backbone_small import small_config
from stmtrack_ros.model.head import cell_window
from stmtrack_ros.model.optimize import fold_batchnorm
from stmtrack_ros.model.portable import portable_state_dict


def randomise_bn(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


class ConvBNPair(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=True)
        self.bn = nn.BatchNorm2d(8, eps=1e-3)

    def forward(self, x):
        return self.bn(self.conv(x))


def test_fold_both_patterns_keeps_outputs():
    m = nn.Sequential(ConvBNPair(), nn.ReLU(),
                      nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)))
    randomise_bn(m)
    m.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = m(x)
        assert fold_batchnorm(m) == 3
        got = m(x)
    assert not any(isinstance(k, nn.BatchNorm2d) for k in m.modules())
    assert torch.allclose(got, ref, atol=1e-5 * ref.abs().max().item())


def test_optimized_copy_of_the_small_variant():
    net = STMTrackNet(small_config())
    randomise_bn(net, seed=1)
    net.eval()
    fast = net.optimized_copy()
    assert not any(isinstance(k, nn.BatchNorm2d) for k in fast.modules())
    assert any(isinstance(k, nn.BatchNorm2d) for k in net.modules())  # original untouched
    s = net.config.q_size
    g = torch.Generator().manual_seed(2)
    img = torch.rand(2, 3, s, s, generator=g) * 255
    lab = torch.zeros(2, 1, s, s)
    lab[..., 100:180, 90:200] = 1
    with torch.inference_mode():
        m_ref, m_fast = net.memorize(img, lab), fast.memorize(img, lab)
        assert torch.allclose(m_fast, m_ref, atol=1e-4 * m_ref.abs().max().item())
        out_ref = net.track(img[:1], m_ref)
        out_fast = fast.track(img[:1], m_ref)
    for a, b in zip(out_ref, out_fast):
        assert torch.allclose(a, b, atol=1e-4 * max(1.0, a.abs().max().item()))


def _small_conv_calls(net) -> list:
    """The inputs (shapes) that took oneDNN's kernel in OneDnnConv2d over one memory pass,
    one read of 3 frames and both first-frame windows, and the read's outputs."""
    seen = []

    def hook(module, args):
        x = args[0]
        if x.shape[0] == 1 and optimize.ONEDNN_FROM_VALUES <= x.numel() <= optimize.NATIVE_CONV_MAX_VALUES:
            seen.append(tuple(x.shape))
    handles = [m.register_forward_pre_hook(hook) for m in net.modules()
               if isinstance(m, optimize.OneDnnConv2d)]
    s, g = net.config.q_size, net.config.score_size
    gen = torch.Generator().manual_seed(3)
    img = torch.rand(1, 3, s, s, generator=gen) * 255
    lab = (torch.rand(1, 1, s, s, generator=gen) > 0.5).float()
    with torch.inference_mode():
        mem = net.memorize(img, lab)
        fq = net.query_features(img)
        out = net.read_memory(fq, torch.cat([mem] * 3, dim=2))
        for cell in (0, g * g // 2):            # the whole grid, one cell's window
            (r0, r1, c0, c1), k = cell_window(cell, g, net.config.head_convs)
            net.first_frame_score(fq[:, :, r0:r1, c0:c1], mem, k)
    for h in handles:
        h.remove()
    return seen, out


@pytest.mark.skipif(not optimize.ONEDNN_SMALL_CONVS, reason="the oneDNN small-conv rewrite is x86 only")
def test_small_convs_take_onednn_and_keep_the_outputs_the_official_network_none():
    net = load_checkpoint(default_checkpoint_path())
    plain = net.optimized_copy()
    for m in plain.modules():                   # the same copy with PyTorch's own kernel choice
        if isinstance(m, optimize.OneDnnConv2d):
            m.forward = nn.Conv2d.forward.__get__(m)
    seen, got = _small_conv_calls(net.optimized_copy())
    assert {(1, 64, 17, 17), (1, 48, 17, 17)} <= set(seen)     # the head towers on the grid
    _, want = _small_conv_calls(plain)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())
    official = STMTrackNet()
    official.load_state_dict(portable_state_dict(1, include_unused=False))
    seen, _ = _small_conv_calls(official.eval().optimized_copy())
    assert seen == []                           # parity: every official conv as before

