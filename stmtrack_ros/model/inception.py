"""Inception-v3 truncated after Mixed_6e: the official STMTrack backbones (memory and query).

Parameter names follow torchvision's Inception3 so the official checkpoints and torchvision's
ImageNet file load without key mapping. Differences from torchvision, all from the spec:
no max-pool after Conv2d_4a (total stride 8), the output is cropped by `crop_pad` cells on
every side, and the memory variant adds a projection of the fg/bg label map to the output
of Conv2d_1a (after its ReLU).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

BACKBONE_BN_EPS = 1e-3
STEM_CHANNELS = 32  # Conv2d_1a output, where the label-map projection is added
OUT_CHANNELS = 768  # Mixed_6e output
STRIDE = 8  # crop pixels per output cell


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BN (eps 1e-3) -> ReLU. `fold_batchnorm` may turn bn into Identity."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BACKBONE_BN_EPS)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg3(x):
    # count_include_pad=True (PyTorch default): border divisor 9, as the official model
    return F.avg_pool2d(x, 3, stride=1, padding=1)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, 3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        c = self.branch7x7dbl_3(self.branch7x7dbl_2(c))
        c = self.branch7x7dbl_5(self.branch7x7dbl_4(c))
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], 1)


class Inception3(nn.Module):
    """Inception3_Q (`with_label_map=False`) or Inception3_M (`True`, adds the fg/bg projection).

    Input: (N, 3, S, S) float32 **BGR 0..255**; the RGB swap and the [-1, 1] scaling happen
    here. Output: (N, 768, s, s) with s = score_size (25 for a 289 crop).
    """

    def __init__(self, config: ModelConfig, with_label_map: bool):
        super().__init__()
        if config.backbone_channels != OUT_CHANNELS:
            raise ValueError(f"inception_v3 backbone outputs {OUT_CHANNELS} channels, "
                             f"config says {config.backbone_channels}")
        self.crop_pad = config.crop_pad
        self.Conv2d_1a_3x3 = BasicConv2d(3, STEM_CHANNELS, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        if with_label_map:
            # registered last, as in the official state_dict order
            self.proj_fg_bg_label_map = nn.Conv2d(1, STEM_CHANNELS, 3, stride=2, bias=False)
            nn.init.normal_(self.proj_fg_bg_label_map.weight, std=0.01)
        else:
            self.proj_fg_bg_label_map = None

    @property
    def with_label_map(self) -> bool:
        return self.proj_fg_bg_label_map is not None

    def forward(self, x, label_map=None):
        x = torch.flip(x, dims=(1,))  # BGR -> RGB
        x = (x - 127.5) / 127.5  # exactly this (sub then div) for bit parity
        x = self.Conv2d_1a_3x3(x)
        if self.proj_fg_bg_label_map is not None:
            if label_map is None:
                raise ValueError("the memory backbone needs the fg/bg label map (N,1,S,S)")
            x = x + self.proj_fg_bg_label_map(label_map)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)  # no max-pool here: total stride 8
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        x = self.Mixed_5d(x)
        x = self.Mixed_6a(x)
        x = self.Mixed_6b(x)
        x = self.Mixed_6c(x)
        x = self.Mixed_6d(x)
        x = self.Mixed_6e(x)
        p = self.crop_pad
        if p:
            x = x[:, :, p:-p, p:-p]
        return x


#: The backbone class `network.build_backbone` builds for this kind.
Backbone = Inception3


def feature_size(q_size: int, crop_pad: int) -> int:
    """Side of the output grid for a q_size crop, as the layers above compute it (unpadded 3x3
    convs and pools; Mixed_6a halves), minus crop_pad cells on each side; < 1 when too small."""
    s = (q_size - 3) // 2 + 1              # Conv2d_1a, stride 2
    s -= 2                                  # Conv2d_2a
    s = (s - 3) // 2 + 1                    # max-pool, stride 2
    s -= 2                                  # Conv2d_4a
    s = (s - 3) // 2 + 1                    # Mixed_6a, stride 2
    return s - 2 * crop_pad if s >= 1 else 0
