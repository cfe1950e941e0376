"""STMTrackNet: memory backbone + neck, query backbone + neck, STM head; the three phases.

Inputs are float32 crops, BGR 0..255, (N, 3, S, S); label maps float32 0/1 (N, 1, S, S).
Nothing here switches grad mode: callers wrap inference in `torch.inference_mode()`.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import INCEPTION_V3, NANOTRACK_V1, ModelConfig
from .head import STMHead, label_cells

#: Scale of the fg-fraction channel of the memory (label_readout). The feature channels of the
#: small model's read-out spread about 5.5; a 0..1 channel beside them contributed 500x less
#: than they did to the towers' first conv (measured after 8 epochs of stage 2d), so it stayed
#: unused. x10 brings it to their scale.
LABEL_READOUT_GAIN = 10.0


class AdjustLayer(nn.Module):
    """Neck: one conv with bias, no BN, no activation (official `adjustor`)."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__()
        self.adjustor = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        nn.init.normal_(self.adjustor.weight, std=0.01)

    def forward(self, x):
        return self.adjustor(x)


def build_backbone(config: ModelConfig, with_label_map: bool) -> nn.Module:
    """Backbone for `config.backbone`. Contract: forward(x_bgr, label_map=None) ->
    (N, backbone_channels, score_size, score_size); with_label_map adds the fg/bg projection."""
    return _backbone_module(config.backbone).Backbone(config, with_label_map)


def check_geometry(config: ModelConfig) -> None:
    """ValueError, before anything is built, when `config` does not fit its backbone: another
    channel count or stride, or a score_size other than the grid the backbone gives for q_size
    and crop_pad (each backbone module computes its grid as its layers do; tested)."""
    kind = _backbone_module(config.backbone)
    if config.backbone_channels != kind.OUT_CHANNELS or config.total_stride != kind.STRIDE:
        raise ValueError(f"the {config.backbone} backbone gives {kind.OUT_CHANNELS} channels at stride "
                         f"{kind.STRIDE}; config has backbone_channels={config.backbone_channels}, "
                         f"total_stride={config.total_stride}")
    grid = kind.feature_size(config.q_size, config.crop_pad)
    if grid != config.score_size:
        hint = f"set score_size={grid}" if grid >= 1 else "lower crop_pad or raise q_size"
        raise ValueError(f"score_size={config.score_size} does not match the {max(grid, 0)}x{max(grid, 0)} "
                         f"grid the {config.backbone} backbone gives for q_size={config.q_size}, "
                         f"crop_pad={config.crop_pad}; {hint}")


def _backbone_module(kind: str):
    """The module of backbone `kind`: its `Backbone` class, OUT_CHANNELS, STRIDE and
    feature_size(q_size, crop_pad) (imported on demand)."""
    if kind == INCEPTION_V3:
        from . import inception
        return inception
    if kind == NANOTRACK_V1:
        from . import backbone_small
        return backbone_small
    raise ValueError(f"unknown backbone kind {kind[:40]!r} "
                     f"(this version builds: {INCEPTION_V3}, {NANOTRACK_V1})")


class STMTrackNet(nn.Module):
    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config if config is not None else ModelConfig()
        cfg = self.config
        check_geometry(cfg)
        # registration order = official state_dict order
        self.basemodel_m = build_backbone(cfg, with_label_map=True)
        self.basemodel_q = build_backbone(cfg, with_label_map=False)
        self.neck_m = AdjustLayer(cfg.backbone_channels, cfg.neck_channels, cfg.neck_kernel)
        self.neck_q = AdjustLayer(cfg.backbone_channels, cfg.neck_channels, cfg.neck_kernel)
        self.head = STMHead(cfg)
        self.channels_last = False  # set by optimized_copy(); inputs are converted to match
        self.optimized = False  # True on an optimized_copy() (inference only, BN folded)

    # ---- phases -------------------------------------------------------------------------
    def memory_features(self, images: torch.Tensor, label_maps: torch.Tensor,
                        keys: torch.Tensor | None = None) -> torch.Tensor:
        """(N,3,S,S) + (N,1,S,S) -> per-frame memory (N, ModelConfig.memory_channels, s, s):
        the labelled features; with `label_readout` each cell's fg fraction x
        LABEL_READOUT_GAIN; with `siamese_keys` the query path's features of the same crop,
        or `keys` when the caller has them already (the tracker reuses a track pass's)."""
        self._check_images(images, "images")
        self._check_maps(label_maps, images.shape[0])
        fb = self.basemodel_m(self._fmt(images), self._fmt(label_maps))
        if self.config.siamese_keys and keys is None:
            keys = self.query_features(images)
        return self.memory_from_backbone(fb, label_maps, keys)

    def memory_from_backbone(self, fb: torch.Tensor, label_maps: torch.Tensor,
                             keys: torch.Tensor | None = None) -> torch.Tensor:
        """`memory_features` after the memory backbone, from its output `fb`; with
        `siamese_keys`, `keys` are required. Frozen-backbone training feeds cached outputs."""
        if keys is not None and not self.config.siamese_keys:
            raise ValueError("keys are only taken by a model with siamese_keys")
        feats = self._check_grid(self.neck_m(fb))
        parts = [feats]
        if self.config.label_readout:
            parts.append(LABEL_READOUT_GAIN * label_cells(label_maps, self.config).to(feats.dtype))
        if self.config.siamese_keys:
            if keys is None:
                raise ValueError("a model with siamese_keys needs the keys (query features of the crops)")
            if keys.shape != feats.shape[:1] + (self.config.neck_channels,) + feats.shape[2:]:
                raise ValueError(f"keys must be the query features of the same crops "
                                 f"{tuple(feats.shape)}, got {tuple(keys.shape)}")
            parts.append(keys.to(feats.dtype))
        return torch.cat(parts, dim=1) if len(parts) > 1 else feats

    def memorize(self, images: torch.Tensor, label_maps: torch.Tensor,
                 keys: torch.Tensor | None = None) -> torch.Tensor:
        """Memory of N frames as (1, M, N, s, s), M = ModelConfig.memory_channels: the batch
        axis becomes time. `keys`: see memory_features."""
        return self.memory_features(images, label_maps, keys).permute(1, 0, 2, 3).unsqueeze(0)

    def query_features(self, query: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) -> (B, C, s, s)."""
        self._check_images(query, "query")
        return self._check_grid(self.neck_q(self.basemodel_q(self._fmt(query))))

    def track(self, query: torch.Tensor, memory: torch.Tensor):
        """query (B,3,S,S), memory (B,C,T,s,s) -> score, boxes_xyxy, cls_prob, ctr_prob,
        shapes (B,P,1) (B,P,4) (B,P,1) (B,P,1), boxes in crop pixels."""
        self._check_images(query, "query")
        return self.read_memory(self.query_features(query), memory)

    def read_memory(self, fq: torch.Tensor, memory: torch.Tensor):
        """`track` from query features (B, C, s, s) already computed by `query_features`."""
        self._check_memory(memory, fq.shape[0])
        cls, ctr, boxes = self.head(memory.to(fq.dtype), fq)
        cls_prob, ctr_prob = torch.sigmoid(cls), torch.sigmoid(ctr)
        return cls_prob * ctr_prob, boxes, cls_prob, ctr_prob

    def first_frame_score(self, fq: torch.Tensor, memory: torch.Tensor,
                          cell: int | None = None) -> torch.Tensor:
        """(B,P,1) score, sigmoid(cls)·sigmoid(ctr), of the memory's frame 0 read alone
        (STMHead.first_frame_logits); equal to `read_memory`'s when the memory is that frame.
        With `cell`: that cell's score alone, (B,1,1)."""
        self._check_memory(memory, fq.shape[0])
        cls, ctr = self.head.first_frame_logits(memory.to(fq.dtype), fq, cell)
        return torch.sigmoid(cls) * torch.sigmoid(ctr)

    def forward_train(self, im_m: torch.Tensor, maps_m: torch.Tensor, im_q: torch.Tensor) -> dict:
        """im_m (B,T,3,S,S), maps_m (B,T,1,S,S), im_q (B,3,S,S) -> dict of
        cls_logits (B,P,1), ctr_logits (B,P,1), boxes (B,P,4) xyxy crop px."""
        if im_m.dim() != 5 or maps_m.dim() != 5 or maps_m.shape[:2] != im_m.shape[:2]:
            raise ValueError(f"forward_train wants im_m (B,T,3,S,S) and maps_m (B,T,1,S,S), "
                             f"got {tuple(im_m.shape)} and {tuple(maps_m.shape)}")
        b, t = im_m.shape[:2]
        f = self.memory_features(im_m.flatten(0, 1), maps_m.flatten(0, 1))  # (B·T, C, s, s)
        return self._train_outputs(f, b, t, self.query_features(im_q))

    def forward_train_from_backbone(self, fb_m: torch.Tensor, maps_m: torch.Tensor,
                                    fb_q: torch.Tensor, fbk_m: torch.Tensor | None = None) -> dict:
        """`forward_train` from the backbones' outputs: fb_m (B,T,Cb,s,s) memory backbone,
        maps_m (B,T,1,S,S), fb_q (B,Cb,s,s) query backbone, fbk_m (B,T,Cb,s,s) the query
        backbone on the memory crops (with `siamese_keys`). What a frozen backbone's feature
        cache trains the neck, memory read and head on."""
        b, t = fb_m.shape[:2]
        keys = None
        if self.config.siamese_keys:
            if fbk_m is None:
                raise ValueError("a model with siamese_keys needs fbk_m (query backbone on the memory crops)")
            keys = self._check_grid(self.neck_q(fbk_m.flatten(0, 1)))
        f = self.memory_from_backbone(fb_m.flatten(0, 1), maps_m.flatten(0, 1), keys)
        return self._train_outputs(f, b, t, self._check_grid(self.neck_q(fb_q)))

    def _train_outputs(self, f: torch.Tensor, b: int, t: int, fq: torch.Tensor) -> dict:
        fm = f.reshape(b, t, *f.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, C, T, s, s)
        cls, ctr, boxes = self.head(fm, fq)
        return {"cls_logits": cls, "ctr_logits": ctr, "boxes": boxes}

    def forward(self, im_m, maps_m, im_q):
        return self.forward_train(im_m, maps_m, im_q)

    # ---- speed --------------------------------------------------------------------------
    def optimized_copy(self, fold_bn: bool = True, channels_last: bool = True) -> STMTrackNet:
        """Inference copy: eval mode, BN folded into the preceding convs, optional NHWC.
        Outputs agree with this module to float32 rounding; this module is left as is."""
        from .optimize import optimized_copy
        return optimized_copy(self, fold_bn=fold_bn, channels_last=channels_last)

    # ---- input checks (cheap; clear errors instead of deep conv shape errors) ------------
    def _fmt(self, x):
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _check_images(self, x, what):
        s = self.config.q_size
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (3, s, s):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{what} must be a float tensor (N,3,{s},{s}) BGR 0..255, got {got}")

    def _check_maps(self, m, n):
        s = self.config.q_size
        if not isinstance(m, torch.Tensor) or tuple(m.shape) != (n, 1, s, s):
            got = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
            raise ValueError(f"label_maps must be a float tensor ({n},1,{s},{s}) of 0/1, got {got}")

    def _check_memory(self, mem, b):
        c, s = self.config.memory_channels, self.config.score_size
        ok = (isinstance(mem, torch.Tensor) and mem.dim() == 5 and mem.shape[0] == b
              and mem.shape[1] == c and tuple(mem.shape[3:]) == (s, s) and mem.shape[2] >= 1)
        if not ok:
            got = tuple(mem.shape) if isinstance(mem, torch.Tensor) else type(mem).__name__
            raise ValueError(f"memory must be ({b},{c},T,{s},{s}) with T >= 1 (memorize() outputs "
                             f"concatenated on dim 2), got {got}")

    def _check_grid(self, f):
        s = self.config.score_size
        if tuple(f.shape[2:]) != (s, s):
            raise ValueError(f"backbone gives a {tuple(f.shape[2:])} grid but config.score_size is {s}; "
                             "q_size / crop_pad / score_size do not fit together")
        return f
