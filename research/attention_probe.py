"""Where does the memory read look? The fg fraction a query cell reads from the memory.

For training-style pairs of a labelled video (memory frames and a later query frame), each
query cell's attention over the memory cells is weighted by those cells' fg fractions (their
share of the label map). A read that matches appearance gives query cells on the target a
value near 1 and background cells one near 0. Measured with the model's own keys and, for
comparison, with keys from the query path run on the memory crops (the model's
`siamese_keys`). The bundled stage-1 model reads 0.46 at the target and 0.19 elsewhere with
its own keys, 0.94 and 0.29 with query-path keys: its keys, which carry the label, point
query cells at the label-marked cells rather than at the cells that look like them.

Used by `research/attention_response.py`.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from stmtrack_ros.model.head import label_cells
from stmtrack_ros.train.augment import CropJitter
from stmtrack_ros.train.pairs import PairDataset
from stmtrack_ros.train.sampler import PairSampler
from stmtrack_ros.train.training_set import TrainingSet


def _fg_read(keys: torch.Tensor, fq: torch.Tensor, fg: torch.Tensor):
    """keys (B, C, N), fq (B, C, P), fg (B, N) -> (fg read (B, P), mean attention entropy)."""
    w = torch.softmax(torch.bmm(keys.transpose(1, 2), fq) / math.sqrt(fq.shape[1]), dim=1)
    entropy = float((-(w * (w + 1e-12).log()).sum(1)).mean())
    return torch.bmm(fg[:, None], w)[:, 0], entropy


def attention_response(net, videos: list, pairs: int = 32, num_memory: int = 2, seed: int = 0,
                       batch: int = 8) -> dict:
    """videos: train.training_set.Video list. Pairs as the official sampler draws them (positive
    only, frame gap <= 25, official crop jitter)."""
    cfg = net.config
    c, t = cfg.neck_channels, num_memory
    sampler = PairSampler([TrainingSet("videos", videos, max_gap=25)], num_memory=t,
                          negative_prob=0.0, max_area_ratio=0.85)
    ds = PairDataset(sampler, CropJitter(size=cfg.q_size), cfg, seed, pairs)
    sums = {k: [] for k in ("own", "query_path")}
    entropies = []
    with torch.inference_mode():
        for start in range(0, pairs, batch):
            items = [ds[i] for i in range(start, min(start + batch, pairs))]
            b = len(items)
            im_m = torch.stack([x["im_m"] for x in items]).float().flatten(0, 1)
            maps = torch.stack([x["maps_m"] for x in items]).float().flatten(0, 1)
            target = torch.stack([x["cls_gt"][:, 0] for x in items]) > 0  # (B, P)
            fq = net.query_features(torch.stack([x["im_q"] for x in items]).float()).reshape(b, c, -1)
            fg = label_cells(maps, cfg).reshape(b, -1)  # (B, T·s·s) in (t, y, x) order
            mem = net.memory_features(im_m, maps)
            own = mem[:, cfg.value_channels:] if cfg.siamese_keys else mem[:, :c]
            keys = {"own": own, "query_path": net.query_features(im_m)}
            for name, k in keys.items():
                k = k.reshape(b, t, c, -1).permute(0, 2, 1, 3).reshape(b, c, -1)
                read, entropy = _fg_read(k, fq, fg)
                sums[name].append((read[target].sum().item(), int(target.sum()),
                                   read[~target].sum().item(), int((~target).sum())))
                if name == "own":
                    entropies.append(entropy)
    out = {"pairs": pairs, "memory_frames": t, "siamese_keys": cfg.siamese_keys}
    for name, rows in sums.items():
        a = np.array(rows, dtype=np.float64)
        out[f"fg_read_target_{name}_keys"] = round(a[:, 0].sum() / max(a[:, 1].sum(), 1), 4)
        out[f"fg_read_background_{name}_keys"] = round(a[:, 2].sum() / max(a[:, 3].sum(), 1), 4)
    out["attention_entropy_own_keys"] = round(float(np.mean(entropies)), 3)
    out["attention_entropy_uniform"] = round(math.log(t * cfg.num_positions), 3)
    return out
