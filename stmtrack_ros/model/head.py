"""STMHead: space-time memory read, cls/ctr and reg towers, box decoding on the score grid.

All widths, the tower depth and the grid come from ModelConfig, so a light backbone with
other sizes reuses this head unchanged. Names match the official state_dict (`head.*`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

HEAD_BN_EPS = 1e-5  # PyTorch default; the backbones use 1e-3
#: Similarity logits more than this below their column's maximum get weight 0 in the memory
#: read's softmax. Their weights (< e^-70 = 4e-31 of the largest) are below float32's resolution
#: of any sum they enter, but on trained features many land in the subnormal range (< 1.2e-38),
#: where x86 arithmetic is ~100x slower: the bundled model's read took 270 ms instead of 12 ms
#: on the Crossing frames (its logits spread over 270). The read-out moves by < 1e-28, the
#: network's outputs keep every bit (tested).
READ_LOGIT_RANGE = 70.0


class ConvTower(nn.Module):
    """conv1 then (ReLU, conv) x (n-1); no ReLU after the last conv (official ConvModule)."""

    def __init__(self, cin: int, width: int, n_convs: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, padding=1)
        layers = []
        for _ in range(n_convs - 1):
            layers += [nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, padding=1)]
        self.conv_layers = nn.Sequential(*layers)
        self.radius = n_convs  # an output cell sees the input cells this far away

    def forward(self, x):
        return self.conv_layers(self.conv1(x))


class ConvBN(nn.Module):
    """1x1 conv with bias, then BN (eps 1e-5), no activation: the official output layers."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.bn = nn.BatchNorm2d(cout, eps=HEAD_BN_EPS)

    def forward(self, x):
        return self.bn(self.conv(x))


def memory_read(fm: torch.Tensor, fq: torch.Tensor, values: int | None = None) -> torch.Tensor:
    """Attention of every query cell over all T·s·s memory cells.

    fm (B, M, T, s, s), fq (B, C, s, s) -> read-out (B, V, s, s). With `values` = V < M the
    memory holds V value channels then C key channels (siamese_keys); otherwise (V = M) the
    first C channels are the keys and all M the values (the official read: memory is key and
    value; M = C + 1 with label_readout, the last channel the fg fraction).
    """
    b, c, h, w = fq.shape
    flat = fm.reshape(b, fm.shape[1], -1)  # (B, M, N), N in (t, y, x) order
    values = flat.shape[1] if values is None else values
    v = flat[:, :values]
    k = flat[:, values:] if values < flat.shape[1] else flat[:, :c]
    q = fq.reshape(b, c, h * w)  # (B, C, P)
    sim = torch.bmm(k.transpose(1, 2), q) / math.sqrt(c)  # (B, N, P)
    sim = sim.masked_fill(sim < sim.amax(dim=1, keepdim=True) - READ_LOGIT_RANGE, float("-inf"))
    weights = torch.softmax(sim, dim=1)  # over all memory positions
    return torch.bmm(v, weights).reshape(b, values, h, w)


def cell_window(cell: int, s: int, radius: int):
    """The query cells one score cell's towers see: ((row0, row1, col0, col1), the cell's index
    in that window). A cell under `radius` cells from the grid's edge keeps the whole grid."""
    row, col = divmod(cell, s)
    if radius <= row < s - radius and radius <= col < s - radius:
        side = 2 * radius + 1
        return (row - radius, row + radius + 1, col - radius, col + radius + 1), \
            radius * side + radius
    return (0, s, 0, s), cell


def label_cells(label_maps: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """(N, 1, S, S) 0/1 maps -> (N, 1, s, s): the fg fraction of the stride x stride square
    of crop pixels around each score cell's centre (outside the crop counts as background)."""
    st, s = config.total_stride, config.score_size
    start = config.score_offset - st // 2
    pad = max(0, -start, start + s * st - label_maps.shape[-1])
    x = F.pad(label_maps, (pad, pad, pad, pad)) if pad else label_maps
    lo = start + pad
    return F.avg_pool2d(x[..., lo:lo + s * st, lo:lo + s * st], st)


class STMHead(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c, width = config.neck_channels, config.head_width
        read = config.value_channels  # read-out channels
        self.value_channels = read
        self.reg_first_frame = bool(config.reg_first_frame)
        self.total_stride = config.total_stride
        self.score_size = config.score_size
        # registration order as official: bi, si, towers, output layers
        self.bi = nn.Parameter(torch.tensor(0.0))
        self.si = nn.Parameter(torch.tensor(1.0))
        self.cls_ctr = ConvTower(read + c, width, config.head_convs)
        self.reg = ConvTower(read + c, width, config.head_convs)
        self.cls_score = ConvBN(width, 1)
        self.ctr_score = ConvBN(width, 1)
        self.reg_offsets = ConvBN(width, 4)
        self.register_buffer("fm_ctr", make_grid(config), persistent=False)
        self._init_training_weights()

    def _init_training_weights(self):
        # official from-scratch init (matters only for training): conv weights N(0, 1e-4),
        # cls bias at prior 0.01, other biases PyTorch default, BN weight 1 / bias 0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=1e-4)
        nn.init.constant_(self.cls_score.conv.bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, fm: torch.Tensor, fq: torch.Tensor):
        """fm (B, M, T, s, s) with M = ModelConfig.memory_channels, fq (B, C, s, s) -> cls
        logits (B,P,1), ctr logits (B,P,1), boxes xyxy in crop px (B,P,4), with P = s·s in
        (row, col) order.

        With `reg_first_frame` the reg tower reads memory frame 0 alone (fm[:, :, :1])."""
        b = fq.shape[0]
        y = torch.cat([memory_read(fm, fq, self.value_channels), fq], dim=1)
        cls_feat = self.cls_ctr(y)
        if self.reg_first_frame and fm.shape[2] > 1:  # with one frame the read above is the same
            y = torch.cat([memory_read(fm[:, :, :1], fq, self.value_channels), fq], dim=1)
        reg_feat = self.reg(y)
        cls, ctr = self._cls_ctr(cls_feat)
        raw = self.reg_offsets(reg_feat).permute(0, 2, 3, 1).reshape(b, -1, 4)
        offsets = torch.exp(self.si * raw + self.bi) * self.total_stride  # (l, t, r, b)
        boxes = torch.cat([self.fm_ctr - offsets[..., :2], self.fm_ctr + offsets[..., 2:]], dim=-1)
        return cls, ctr, boxes

    def first_frame_logits(self, fm: torch.Tensor, fq: torch.Tensor, cell: int | None = None):
        """cls and ctr logits (B,P,1) of the score branch reading memory frame 0 alone: how much
        each query cell looks like the target of the first frame (the user's box, never the
        tracker's own), a check on a read that later memory frames may have led astray.

        With `cell` (k = row·s + col), that cell's logits (B,1,1) alone. A cell at least
        `radius` cells from the grid's edge is computed on the window of query cells its
        towers see (3x3 convs, 1x1 outputs): the same numbers for a sixth of the work."""
        if cell is not None:
            (r0, r1, c0, c1), cell = cell_window(int(cell), fq.shape[-1], self.cls_ctr.radius)
            fq = fq[:, :, r0:r1, c0:c1]
        cls, ctr = self._cls_ctr(self.cls_ctr(
            torch.cat([memory_read(fm[:, :, :1], fq, self.value_channels), fq], dim=1)))
        if cell is None:
            return cls, ctr
        return cls[:, cell:cell + 1], ctr[:, cell:cell + 1]

    def _cls_ctr(self, feat: torch.Tensor):
        """Score tower features (B, width, s, s) -> cls and ctr logits (B, P, 1)."""
        b = feat.shape[0]
        return (self.cls_score(feat).permute(0, 2, 3, 1).reshape(b, -1, 1),
                self.ctr_score(feat).permute(0, 2, 3, 1).reshape(b, -1, 1))


def make_grid(config: ModelConfig) -> torch.Tensor:
    """(P, 2) float32 crop coordinates (x, y) of the score cells, k = row·s + col."""
    s, st, off = config.score_size, config.total_stride, config.score_offset
    idx = torch.arange(s, dtype=torch.float32) * st + off
    ys, xs = torch.meshgrid(idx, idx, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
