"""numpy crops and label maps -> the network's input tensors, written once.

The passes take (N, 3, S, S) float32 BGR 0..255 crops and (N, 1, S, S) 0/1 maps. From an
H x W x 3 crop (or an H x W map) `input_tensor` makes the (1, C, H, W) float32 tensor:
NCHW memory by default, or the NHWC memory of a channels-last network (the array's own
layout, no copy before the cast)."""
from __future__ import annotations

import numpy as np
import torch


def input_tensor(arr: np.ndarray, device="cpu", channels_last: bool = False) -> torch.Tensor:
    if channels_last:
        t = torch.from_numpy(np.ascontiguousarray(arr))
        t = t.permute(2, 0, 1)[None] if t.dim() == 3 else t[None, None]
        return t.to(device, dtype=torch.float32, non_blocking=True)
    chw = arr.transpose(2, 0, 1) if arr.ndim == 3 else arr[None]
    return torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32)[None]).to(device, non_blocking=True)
