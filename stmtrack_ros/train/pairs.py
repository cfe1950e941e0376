"""The torch side of the data: sample index -> network inputs + targets, and the batch order.

Sample `i` is drawn from its own generator seeded by (seed, i), so a run is reproducible
whatever the worker count, a resumed run sees the same samples it would have seen, and
DDP processes simply take disjoint slices of each global batch.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..model.config import ModelConfig
from ..tracker.crop import box_label_map
from .augment import CropJitter, draw_look, jitter_map_box, random_crop
from .sampler import PairSampler
from .targets import make_targets


class PairDataset(Dataset):
    """Item i -> dict im_m (T,3,S,S) uint8 BGR, maps_m (T,1,S,S) uint8, im_q (3,S,S) uint8,
    cls_gt / ctr_gt (P,1), box_gt (P,4) float32, negative (bool)."""

    def __init__(self, sampler: PairSampler, jitter: CropJitter, model_config: ModelConfig,
                 seed: int, length: int):
        if jitter.size != model_config.q_size:
            raise ValueError(f"crop size {jitter.size} != model q_size {model_config.q_size}")
        self.sampler, self.jitter, self.model_config = sampler, jitter, model_config
        self.seed, self.length = int(seed), int(length)

    def __len__(self):
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index)])
        pair = self.sampler.sample(rng)
        s = self.jitter.size
        look = draw_look(rng, self.jitter)
        ims, maps = [], []
        memory_centre = self._other_centre(pair.memory[0], pair.negative, rng,
                                           self.jitter.offcentre_memory_prob)
        for k, f in enumerate(pair.memory):
            crop, box = random_crop(f.image, f.box, rng, self.jitter, look, memory_centre)
            if k > 0 and self.jitter.map_jitter > 0:
                box = jitter_map_box(box, rng, self.jitter.map_jitter, look.map_sides)
            ims.append(crop)
            maps.append(box_label_map(s, box))
        q_crop, q_box = random_crop(pair.query.image, pair.query.box, rng, self.jitter, look,
                                    self._other_centre(pair.query, pair.negative, rng,
                                                       self.jitter.distractor_prob))
        cls, ctr, boxes = make_targets(q_box, self.model_config, pair.negative)
        return {
            "im_m": torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).contiguous(),
            "maps_m": torch.from_numpy(np.stack(maps).astype(np.uint8))[:, None],
            "im_q": torch.from_numpy(q_crop).permute(2, 0, 1).contiguous(),
            "cls_gt": torch.from_numpy(cls),
            "ctr_gt": torch.from_numpy(ctr),
            "box_gt": torch.from_numpy(boxes),
            "negative": torch.tensor(pair.negative),
        }

    @staticmethod
    def _other_centre(frame, negative: bool, rng, prob: float):
        """With probability `prob`, the centre of another box of `frame`'s still, else None.
        Centring a crop there puts a distractor where a label-blind model looks (the crop
        centre): only the memory's fg/bg map tells which object is the target. Draws nothing
        when `prob` is 0, so the official sample streams are kept."""
        others = frame.others
        if prob <= 0 or negative or others is None or not len(others) or rng.random() >= prob:
            return None
        x, y, w, h = others[int(rng.integers(len(others)))]
        return (x + w / 2, y + h / 2)


def to_device(batch: dict, device) -> dict:
    """uint8 crops/maps -> float32 on `device` (the network wants BGR 0..255 floats)."""
    out = {}
    for k, v in batch.items():
        v = v.to(device, non_blocking=True)
        out[k] = v.float() if k in ("im_m", "maps_m", "im_q") else v
    return out


class IterationBatches(Sampler):
    """Batches of global sample indexes for iterations [start, iterations) of one epoch; this
    process's slice of each global batch (rank r of W takes items r·b .. r·b + b - 1)."""

    def __init__(self, epoch: int, iterations: int, global_batch: int, rank: int = 0,
                 world: int = 1, start: int = 0):
        if global_batch % world:
            raise ValueError(f"batch_size {global_batch} does not split over {world} processes")
        self.epoch, self.iterations, self.start = epoch, iterations, start
        self.global_batch, self.local = global_batch, global_batch // world
        self.rank = rank

    def __len__(self):
        return max(self.iterations - self.start, 0)

    def __iter__(self):
        per_epoch = self.iterations * self.global_batch
        for it in range(self.start, self.iterations):
            base = self.epoch * per_epoch + it * self.global_batch + self.rank * self.local
            yield list(range(base, base + self.local))


def worker_init(_worker_id: int):
    """Crops run in worker processes: one thread each, no OpenCV thread pool."""
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
