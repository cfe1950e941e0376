"""BN folding finds both conv->BN patterns (children `conv`/`bn`, and Sequential neighbours)
and keeps the outputs; the parity of the folded full network is in test_model_parity.py."""
import torch
from torch import nn

from stmtrack_ros.model import STMTrackNet
from stmtrack_ros.model.backbone_small import small_config
from stmtrack_ros.model.optimize import fold_batchnorm


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
