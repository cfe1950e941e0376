"""Frozen-backbone feature cache: each training crop goes through the backbones once.

With both backbones frozen (every parameter, the memory backbone's label-map projection
included, and their BatchNorms in eval mode: `engine.train_mode`), what they compute for a
sample never changes during training, and on the small model they are most of a step's cost.
So a fixed pool of `size` samples (dataset items 0 .. size-1, each with its augmentation
drawn ONCE, from its own (seed, index) generator) is run through them once; training then
reads sample `i` as pool item `i % size` and trains the necks, the memory read and the head
on the stored outputs (`STMTrackNet.forward_train_from_backbone`).

Split cache (``data.feature_cache_blocks`` = k > 0): the pool stores each backbone's output
after its first k feature-stack entries (``features.0`` .. ``features.k-1``, the stem being
entry 0; `NanoBackbone.blocks_before`) and training runs the remaining blocks with the necks,
memory read and head (`CachedForward`), so those blocks can train. Frozen must be exactly what
feeds the cache: those entries and the memory backbone's label-map projection, which adds at the
stem, before the split, so it stays frozen. The trainable blocks' BatchNorms stay in eval mode
like the frozen ones (`NanoBackbone.freeze_bn`, on by default). k = 0: the whole backbone.

The pool is fingerprinted by the backbones' weights (with a split: those before it), the
model config, the crop settings (`CropJitter`), the data section, the split and the seed: a
saved pool (`cache_dir/<fingerprint>.pt`, read with weights_only=True) is reused only when all
of these are equal, and recomputed otherwise. Not in the key: the image files' contents and
the crop code; after changing those, empty `cache_dir`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..model.network import STMTrackNet
from .augment import CropJitter
from .pairs import to_device, worker_init
from .sampler import STILL_MOTION

BACKBONES = ("basemodel_m", "basemodel_q")
#: dataset keys the cache keeps as they are (targets and label maps)
PASSED = ("maps_m", "cls_gt", "ctr_gt", "box_gt", "negative")


def check_split(model: STMTrackNet, split: int) -> None:
    """ValueError unless `split` (data.feature_cache_blocks) fits the model's backbones:
    0, or 1 .. len(features) - 1 on a backbone with a block stack."""
    if split == 0:
        return
    bb = model.basemodel_q
    if not hasattr(bb, "blocks_before"):
        raise ValueError(f"data.feature_cache_blocks {split}: the {model.config.backbone} backbone has "
                         f"no block stack to split; set it 0")
    n = len(bb.features)
    if not 1 <= split < n:
        raise ValueError(f"data.feature_cache_blocks {split}: use 0 (the whole backbone) or 1 .. {n - 1} "
                         f"(the {model.config.backbone} backbone has {n} feature-stack entries)")


def _cached_part(model: STMTrackNet, b: str, name: str, split: int) -> bool:
    """Whether backbone `b`'s parameter or buffer `name` feeds the cached output."""
    return split == 0 or getattr(model, b).before_split(name, split)


def trainable_backbone_parameters(model: STMTrackNet, split: int = 0) -> list[str]:
    """Names of the backbones' parameters that feed the cache and train (a cache needs none):
    all of them with `split` 0, else those before the split."""
    return [f"{b}.{n}" for b in BACKBONES for n, p in getattr(model, b).named_parameters()
            if p.requires_grad and _cached_part(model, b, n, split)]


def fingerprint(model: STMTrackNet, jitter: CropJitter, data: dict, seed: int, size: int) -> str:
    """Hex digest of everything a cached backbone output depends on (with a split, the
    weights after it are not: they train)."""
    split = int(data.get("feature_cache_blocks", 0))
    h = hashlib.sha256()
    for b in BACKBONES:
        for name, t in getattr(model, b).state_dict().items():
            if not _cached_part(model, b, name, split):
                continue
            h.update(f"{b}.{name}{tuple(t.shape)}{t.dtype}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    skip = ("num_workers", "feature_cache_dir", "feature_cache_blocks")
    if not float(data.get("still_motion_prob", 0.0)):  # off: the keys pools had before it existed
        skip += STILL_MOTION
    data = {k: v for k, v in data.items() if k not in skip}
    key = {"model": model.config.to_dict(), "jitter": dataclasses.asdict(jitter),
           "data": data, "seed": int(seed), "size": int(size)}
    if split:  # absent at 0, so whole-backbone pools keep the keys they had before splits existed
        key["blocks"] = split
    h.update(json.dumps(key, sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


@torch.no_grad()
def backbone_outputs(model: STMTrackNet, batch: dict, split: int = 0) -> dict:
    """A float batch (see pairs.to_device) -> the backbone outputs the cache stores (with
    `split`, the outputs of the first `split` feature-stack entries)."""
    im_m, maps_m = batch["im_m"], batch["maps_m"]
    b, t = im_m.shape[:2]
    flat_im, flat_maps = im_m.flatten(0, 1), maps_m.flatten(0, 1)

    def run(bb, img, maps=None):
        img = model._fmt(img)
        maps = model._fmt(maps) if maps is not None else None
        return bb.blocks_before(img, maps, split) if split else bb(img, maps)

    out = {"fb_m": run(model.basemodel_m, flat_im, flat_maps), "fb_q": run(model.basemodel_q, batch["im_q"])}
    if model.config.siamese_keys:
        out["fbk_m"] = run(model.basemodel_q, flat_im)
    for k in ("fb_m", "fbk_m"):
        if k in out:
            out[k] = out[k].reshape(b, t, *out[k].shape[1:])
    return {k: v.float().contiguous() for k, v in out.items()}


class CachedFeatures(Dataset):
    """Item i -> pool item i % len(pool): fb_m, fbk_m (siamese keys), fb_q, maps_m, targets."""

    def __init__(self, pool: dict, length: int):
        self.pool, self.length = pool, int(length)
        self.size = int(pool["fb_q"].shape[0])

    def __len__(self):
        return self.length

    def __getitem__(self, index: int) -> dict:
        j = int(index) % self.size
        return {k: v[j] for k, v in self.pool.items()}


def build_pool(model: STMTrackNet, dataset: Dataset, size: int, batch: int, workers: int,
               device: torch.device, split: int = 0) -> dict:
    """Run dataset items 0 .. size-1 through the (frozen) backbones, or their parts before
    `split`; CPU tensors stacked."""
    batches = [list(range(i, min(i + batch, size))) for i in range(0, size, batch)]
    items = DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                       worker_init_fn=worker_init if workers else None)
    parts: dict[str, list] = {}
    for raw in items:
        feats = backbone_outputs(model, to_device(raw, device), split)
        for k, v in feats.items():
            parts.setdefault(k, []).append(v.cpu())
        for k in PASSED:
            parts.setdefault(k, []).append(raw[k])
    return {k: torch.cat(v) for k, v in parts.items()}


def load_or_build(model: STMTrackNet, dataset: Dataset, jitter: CropJitter, data: dict, seed: int,
                  size: int, batch: int, workers: int, device: torch.device, cache_dir=None,
                  log=print, save: bool = True) -> tuple[dict, str]:
    """The pool for this model and these crops: read from `cache_dir` when a pool with the
    same fingerprint was saved there, else computed (and saved when `cache_dir` is set and
    `save`: one DDP process writes it)."""
    key = fingerprint(model, jitter, data, seed, size)
    path = Path(cache_dir) / f"features-{key}.pt" if cache_dir else None
    if path is not None and path.exists():
        try:
            pool = torch.load(str(path), map_location="cpu", weights_only=True)
            log(f"train: feature cache {path} ({size} samples) reused")
            return pool, key
        except (OSError, RuntimeError, EOFError) as e:
            log(f"train: feature cache {path} unreadable ({e}); recomputing")
    pool = build_pool(model, dataset, size, batch, workers, device, int(data.get("feature_cache_blocks", 0)))
    if path is not None and save:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(pool, str(tmp))
        os.replace(tmp, path)
    mb = sum(v.numel() * v.element_size() for v in pool.values()) / 2**20
    log(f"train: feature cache of {size} samples computed ({mb:.0f} MB){f' -> {path}' if path else ''}")
    return pool, key


class CachedForward(torch.nn.Module):
    """The model's forward on cached backbone outputs (with `split`, the backbones' blocks
    from the split on run first, with gradients), as a module so DDP can wrap it."""

    def __init__(self, model: STMTrackNet, split: int = 0):
        super().__init__()
        self.model, self.split = model, int(split)

    def forward(self, b: dict) -> dict:
        fb_m, fb_q, fbk_m = b["fb_m"], b["fb_q"], b.get("fbk_m")
        if self.split:
            m, q = self.model.basemodel_m, self.model.basemodel_q

            def rest(bb, x):  # (B, T, C, s, s) or (B, C, s, s) -> the backbone's output
                if x.dim() == 5:
                    return bb.blocks_after(x.flatten(0, 1), self.split).unflatten(0, x.shape[:2])
                return bb.blocks_after(x, self.split)

            fb_m, fb_q = rest(m, fb_m), rest(q, fb_q)
            fbk_m = rest(q, fbk_m) if fbk_m is not None else None
        return self.model.forward_train_from_backbone(fb_m, b["maps_m"], fb_q, fbk_m)
