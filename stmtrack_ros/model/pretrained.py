"""ImageNet initialisation of both Inception backbones from torchvision's Inception-v3 file.

Training starts from `inception_v3_google-*.pth` (torchvision layout, keys without prefix),
loaded separately into basemodel_m and basemodel_q. Expected differences, and only these:
the file's Mixed_7*/AuxLogits/fc entries are unused, and the backbones' fg/bg projection and
BN `num_batches_tracked` counters are not in the file.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import CheckpointError, _names, _read, _unpack
from .config import INCEPTION_V3
from .network import STMTrackNet

#: Top-level blocks of torchvision's Inception3 that the truncated backbones do not have.
UNUSED_BLOCKS = ("Mixed_7a.", "Mixed_7b.", "Mixed_7c.", "AuxLogits.", "fc.")


def _optional(key: str) -> bool:
    return key.startswith("proj_fg_bg_label_map.") or key.endswith(".num_batches_tracked")


def load_inception_pretrained(net: STMTrackNet, path) -> dict:
    """Copy the ImageNet weights at `path` into net.basemodel_m and net.basemodel_q (in place).

    Returns {'loaded': entries copied per backbone, 'ignored': file entries not used}.
    Raises CheckpointError (one line) for a file that does not fit the truncated Inception-v3.
    """
    if net.config.backbone != INCEPTION_V3:
        raise CheckpointError(f"ImageNet Inception-v3 weights fit only the {INCEPTION_V3} backbone, "
                              f"this network has {net.config.backbone!r}")
    path = Path(path).expanduser()
    sd, _ = _unpack(_read(path), path)
    used = {k: v for k, v in sd.items() if not k.startswith(UNUSED_BLOCKS)}
    ignored = len(sd) - len(used)
    loaded = 0
    for backbone in (net.basemodel_m, net.basemodel_q):
        want = backbone.state_dict()
        missing = {k for k in want if k not in used and not _optional(k)}
        unexpected = set(used) - set(want)
        shapes = {k for k in set(want) & set(used) if want[k].shape != used[k].shape}
        if missing or unexpected or shapes:
            parts = [f"{len(s)} {what} ({_names(s)})" for what, s in
                     (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)) if s]
            raise CheckpointError(f"{path} is not torchvision's Inception-v3 layout: " + ", ".join(parts))
        with torch.no_grad():
            for k, v in used.items():
                want[k].copy_(v)  # state_dict tensors share storage with the parameters
        loaded = len(used)
    return {"loaded": loaded, "ignored": ignored}
