"""Inference-only rewrites of a trained network: BN folding, channels-last layout, and oneDNN
for the small convolutions PyTorch's size rule sends to its slow native kernel.

Folding finds conv->BN pairs in the two shapes this project's modules use: a module with
children `conv` (Conv2d) and `bn` (BatchNorm2d), and consecutive Conv2d, BatchNorm2d
entries of an nn.Sequential. A light backbone built from either pattern is folded too.
"""
from __future__ import annotations

import copy
import platform

import torch
from torch import nn


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold eval-mode BN statistics into `conv` in place (computed in float64)."""
    w = conv.weight.detach().double()
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(scale)
    new_b = bn.bias.detach().double() + (b - bn.running_mean.double()) * scale
    dt = conv.weight.dtype
    conv.weight = nn.Parameter((w * scale.reshape(-1, 1, 1, 1)).to(dt), requires_grad=False)
    conv.bias = nn.Parameter(new_b.to(dt), requires_grad=False)


def fold_batchnorm(module: nn.Module) -> int:
    """Fold every conv->BN pair below `module` in place; returns how many were folded."""
    n = 0
    for m in list(module.modules()):
        conv, bn = getattr(m, "conv", None), getattr(m, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            fold_conv_bn(conv, bn)
            m.bn = nn.Identity()
            n += 1
        if isinstance(m, nn.Sequential):
            keys = list(m._modules)
            for a, b in zip(keys, keys[1:]):
                if isinstance(m._modules[a], nn.Conv2d) and isinstance(m._modules[b], nn.BatchNorm2d):
                    fold_conv_bn(m._modules[a], m._modules[b])
                    m._modules[b] = nn.Identity()
                    n += 1
    return n


#: PyTorch runs a one-image, non-grouped conv with a kernel over 1x1 on its native im2col
#: kernel up to this many input values (its size rule; oneDNN above). Between the bound below
#: and it, oneDNN is faster on x86: 0.34 against 1.34 ms for the bundled model's 64->64 head
#: tower convs on the 17x17 grid (2 threads); torch tracking 29.0 -> 33.4 fps on Crossing,
#: boxes within 1e-4 px over 80 frames. Under the bound (a cell's 7x7 window) and for 1x1
#: kernels the native one is faster. The official network's convs are all larger: unchanged.
NATIVE_CONV_MAX_VALUES = 20480
ONEDNN_FROM_VALUES = 8192
ONEDNN_SMALL_CONVS = platform.machine().lower() in ("x86_64", "amd64")   # measured there only


class OneDnnConv2d(nn.Conv2d):
    """A Conv2d that runs oneDNN's kernel on the small CPU inputs PyTorch would give its native
    kernel (ONEDNN_FROM_VALUES .. NATIVE_CONV_MAX_VALUES values); nn.Conv2d otherwise, and
    under torch.compile (its fake tensors do not enter oneDNN)."""

    def forward(self, x):
        if (x.shape[0] == 1 and ONEDNN_FROM_VALUES <= x.numel() <= NATIVE_CONV_MAX_VALUES
                and x.device.type == "cpu" and x.dtype == torch.float32
                and torch.backends.mkldnn.enabled
                and not torch.compiler.is_compiling()):   # fake tensors: inductor chooses
            return torch.mkldnn_convolution(x, self.weight, self.bias, self.padding, self.stride,
                                            self.dilation, self.groups)
        return super().forward(x)


def use_onednn_for_small_convs(module: nn.Module) -> int:
    """Swap every non-grouped Conv2d with a kernel over 1x1 (zero padding) below `module` for
    an OneDnnConv2d holding the same parameters, in place; returns how many."""
    n = 0
    for parent in list(module.modules()):
        for name, conv in list(parent._modules.items()):
            if (type(conv) is nn.Conv2d and conv.groups == 1 and conv.kernel_size != (1, 1)
                    and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple)):
                new = OneDnnConv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                                   conv.stride, conv.padding, conv.dilation, bias=False,
                                   device="meta")
                new.weight, new.bias = conv.weight, conv.bias
                parent._modules[name] = new
                n += 1
    return n


def optimized_copy(net, fold_bn: bool = True, channels_last: bool = True):
    """Deep copy of `net` in eval mode with BN folded and/or NHWC weights, small convolutions on
    oneDNN (x86; OneDnnConv2d); `net` is untouched."""
    out = copy.deepcopy(net).eval()
    out.optimized = True
    for p in out.parameters():
        p.requires_grad_(False)
    if fold_bn:
        fold_batchnorm(out)
    if ONEDNN_SMALL_CONVS:
        use_onednn_for_small_convs(out)
    if channels_last:
        out.to(memory_format=torch.channels_last)
        out.channels_last = True
    return out
