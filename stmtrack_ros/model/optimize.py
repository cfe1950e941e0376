"""Inference-only rewrites of a trained network: BN folding and channels-last layout.

Folding finds conv->BN pairs in the two shapes this project's modules use: a module with
children `conv` (Conv2d) and `bn` (BatchNorm2d), and consecutive Conv2d, BatchNorm2d
entries of an nn.Sequential. A light backbone built from either pattern is folded too.
"""
from __future__ import annotations

import copy

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


def optimized_copy(net, fold_bn: bool = True, channels_last: bool = True):
    """Deep copy of `net` in eval mode with BN folded and/or NHWC weights; `net` is untouched."""
    out = copy.deepcopy(net).eval()
    out.optimized = True
    for p in out.parameters():
        p.requires_grad_(False)
    if fold_bn:
        fold_batchnorm(out)
    if channels_last:
        out.to(memory_format=torch.channels_last)
        out.channels_last = True
    return out
