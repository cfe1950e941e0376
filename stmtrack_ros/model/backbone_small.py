"""Small CPU backbone: the MobileNetV3-small feature stack of NanoTrack v1.

Why this one: it is the only small backbone here that was *tracking*-trained
(GOT-10k, Apache-2.0), it loads with ``weights_only=True``, and at stride 16 it
costs ~1/200 of the official Inception-v3 per crop. Input is raw BGR 0..255
(NanoTrack's own convention), so no normalisation happens inside.

Geometry: every stride-2 layer pads symmetrically (k//2), so output cell j is
centred on input pixel 16*j. For a crop side of 16*n + 1 (e.g. 289) the cells
are exactly symmetric about the crop centre; ``crop_pad`` cells are then
dropped from each border, like the official ``crop_pad``.

The memory variant adds the fg/bg label-map projection to the stem output
(after its activation), as the official memory backbone does after Conv2d_1a.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .config import NANOTRACK_V1, ModelConfig

# NanoTrack v1 block rows: kernel, expansion, out channels, SE, h-swish, stride.
NANO_V1_BLOCKS = (
    (3, 1.0, 16, True, False, 2),
    (3, 4.5, 24, False, False, 2),
    (3, 3.67, 24, False, False, 1),
    (5, 4.0, 40, True, True, 2),
    (5, 6.0, 40, True, True, 1),
    (5, 6.0, 40, True, True, 1),
    (5, 3.0, 48, True, True, 1),
    (5, 3.0, 48, True, True, 1),
)
STEM_CHANNELS = 16
OUT_CHANNELS = 48
STRIDE = 16
# The fg/bg projection's output is multiplied by this fixed gain: the stem output is on a
# raw-pixel scale (std ~5), and with gain 1 a short CPU run barely moved the tag (measured: the
# projection weights changed ~1e-2 in 2,200 steps). A gain g scales the tag's effective
# learning rate by g^2 without touching the rest of the network.
LABEL_MAP_GAIN = 10.0
# Key prefix of the backbone inside the NanoTrack checkpoint.
NANOTRACK_PREFIX = "backbone."


def _round8(v: float) -> int:
    """Round channels to a multiple of 8, never below 90% of v (MobileNet rule)."""
    r = max(8, int(v + 4) // 8 * 8)
    return r + 8 if r < 0.9 * v else r


class HSigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


class HSwish(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        hidden = _round8(c // 4)
        self.fc = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, c), HSigmoid())

    def forward(self, x):
        w = self.fc(x.mean((2, 3)))
        return x * w[:, :, None, None]


class InvertedResidual(nn.Module):
    """MobileNetV3 block; module indexes follow the NanoTrack checkpoint keys."""

    def __init__(self, cin: int, hidden: int, cout: int, k: int, stride: int, se: bool, hs: bool):
        super().__init__()
        self.residual = stride == 1 and cin == cout
        act = HSwish if hs else nn.ReLU
        dw = [nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden)]
        tail = [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        se_layer = SqueezeExcite(hidden) if se else nn.Identity()
        if cin == hidden:
            layers = dw + [act(), se_layer] + tail
        else:
            layers = ([nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act()] + dw
                      + [se_layer, act()] + tail)
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.residual else y


class NanoBackbone(nn.Module):
    """NanoTrack v1 MobileNetV3-small features; optional fg/bg label-map input.

    ``forward(img)`` (query) or ``forward(img, label_map)`` (memory):
    img (N,3,S,S) float BGR 0..255, label_map (N,1,S,S) 0/1 → (N, 48, s, s)
    with s = (S - 1) // 16 + 1 - 2 * config.crop_pad.

    ``freeze_bn`` keeps every BatchNorm in eval mode even under ``.train()``:
    the small CPU batches would only spoil the pretrained statistics.
    """

    out_channels = OUT_CHANNELS
    stride = STRIDE

    def __init__(self, config: ModelConfig, with_label_map: bool = False, freeze_bn: bool = True):
        super().__init__()
        if config.backbone_channels != OUT_CHANNELS or config.total_stride != STRIDE:
            raise ValueError(f"the {NANOTRACK_V1} backbone gives {OUT_CHANNELS} channels at stride {STRIDE}; "
                             f"config has backbone_channels={config.backbone_channels}, "
                             f"total_stride={config.total_stride}")
        self.crop_pad = config.crop_pad
        self.freeze_bn = freeze_bn
        layers = [nn.Sequential(nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False),
                                nn.BatchNorm2d(STEM_CHANNELS), HSwish())]
        cin = STEM_CHANNELS
        for k, t, c, se, hs, s in NANO_V1_BLOCKS:
            cout = _round8(c)
            layers.append(InvertedResidual(cin, _round8(cin * t), cout, k, s, se, hs))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.with_label_map = with_label_map
        if with_label_map:
            # Same geometry as the stem conv, so the sum lines up pixel for pixel. Init
            # N(0, 0.01) as official; with LABEL_MAP_GAIN the tag starts at std ~0.1 x 3.
            self.proj_fg_bg_label_map = nn.Conv2d(1, STEM_CHANNELS, 3, 2, 1, bias=False)
            nn.init.normal_(self.proj_fg_bg_label_map.weight, 0.0, 0.01)

    def forward(self, img: torch.Tensor, label_map: torch.Tensor | None = None) -> torch.Tensor:
        n = len(self.features)
        return self.blocks_after(self.blocks_before(img, label_map, n), n)

    def blocks_before(self, img: torch.Tensor, label_map: torch.Tensor | None, split: int) -> torch.Tensor:
        """The output of ``features[0:split]`` (the stem, with the label-map projection on the
        memory variant, then blocks 1 .. split-1), uncropped: what a split feature cache stores."""
        if self.with_label_map and label_map is None:
            raise ValueError("the memory backbone needs a fg/bg label map (N,1,S,S)")
        x = self.features[0](img)
        if self.with_label_map:
            x = x + LABEL_MAP_GAIN * self.proj_fg_bg_label_map(label_map)
        for block in self.features[1:split]:
            x = block(x)
        return x

    def blocks_after(self, x: torch.Tensor, split: int) -> torch.Tensor:
        """``features[split:]`` on `blocks_before`'s output, then the ``crop_pad`` crop: forward's rest."""
        for block in self.features[split:]:
            x = block(x)
        p = self.crop_pad
        return x[:, :, p:-p, p:-p] if p > 0 else x

    def before_split(self, name: str, split: int) -> bool:
        """Whether parameter or buffer `name` (of this module) feeds `blocks_before(..., split)`:
        ``features.j.*`` with j < split, and the label-map projection (it adds at the stem)."""
        if name.startswith("proj_fg_bg_label_map"):
            return True
        parts = name.split(".")
        return parts[0] == "features" and int(parts[1]) < split

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def load_nanotrack(self, path: str | Path) -> None:
        """Load the ``backbone.*`` tensors of a NanoTrack v1 state_dict or v2 checkpoint, strictly."""
        from .nanotrack_weights import read_state_dict
        sd = read_state_dict(path)  # v1 state_dict or v2 checkpoint, weights_only=True
        own = {k[len(NANOTRACK_PREFIX):]: v for k, v in sd.items() if k.startswith(NANOTRACK_PREFIX)}
        if not own:
            raise ValueError(f"{path} holds no '{NANOTRACK_PREFIX}*' tensors: not a NanoTrack checkpoint")
        missing, unexpected = self.load_state_dict(own, strict=False)
        missing = [k for k in missing if not k.startswith("proj_fg_bg_label_map")]
        if missing or unexpected:
            raise ValueError(f"{path} does not match the NanoTrack v1 backbone: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")


#: The backbone class `network.build_backbone` builds for this kind.
Backbone = NanoBackbone


def feature_size(q_size: int, crop_pad: int) -> int:
    """Side of the backbone output for a q_size crop (stride-2 layers pad k//2)."""
    s = q_size
    for _ in range(4):
        s = (s - 1) // 2 + 1
    return s - 2 * crop_pad


def small_config(**overrides) -> ModelConfig:
    """The bundled small model's config (sizes chosen by measurement, see models/MODEL_CARD.md).

    289-px crop (16*18+1, so the stride-16 cells are symmetric), 19x19 backbone grid minus
    one border cell = 17x17 score map at offset 16; 64-wide neck and 3-conv towers; Siamese
    keys and the label read-out (without them the model learned to ignore its memory); the box
    branch reads the first memory frame alone (its size copied the tracker's own boxes). About
    26 ms per frame (track + memorize, T=6) on this 2-core CPU after BN folding.
    """
    base = dict(backbone=NANOTRACK_V1, q_size=289, total_stride=STRIDE, score_size=17, crop_pad=1,
                backbone_channels=OUT_CHANNELS, neck_channels=64, neck_kernel=3, head_width=64,
                head_convs=3, label_readout=1, siamese_keys=1, reg_first_frame=1)
    base.update(overrides)
    return ModelConfig(**base)
