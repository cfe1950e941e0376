"""Portable random weights ("stmtrack-portable-v1", spec/parity-fixtures.md §2).

Every value depends only on (seed, entry name, entry shape) and is bit-exact on any machine,
so our network can be compared with outputs the official code computed on the same weights.
The values mean nothing for tracking; they exist for parity tests and benchmarks.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

VERSION = "stmtrack-portable-v1"
OFFICIAL_KEYS_JSON = Path(__file__).with_name("official_state_dict.json")
#: Prefixes of the 28 official entries no forward pass uses (SiamFC++ leftovers).
UNUSED_PREFIXES = ("r_z_k.", "c_z_k.", "r_x.", "c_x.")

_SQRT3 = math.sqrt(3.0)
_HEAD_OUT_BN = {  # R3: constants for the head output BNs
    "head.cls_score.bn.weight": 0.5, "head.cls_score.bn.bias": -0.5,
    "head.ctr_score.bn.weight": 0.5, "head.ctr_score.bn.bias": 1.0,
    "head.reg_offsets.bn.weight": 1.0, "head.reg_offsets.bn.bias": 0.0,
}
_BN_RANGES = {  # R4
    "weight": (0.5, 1.5), "bias": (-0.1 * _SQRT3, 0.1 * _SQRT3),
    "running_mean": (-0.1 * _SQRT3, 0.1 * _SQRT3), "running_var": (0.5, 1.5),
}
_CONV_GAINS = (  # R6, in table order: (full-name regex, gain, zero-mean filters)
    (re.compile(r"basemodel_[mq]\..*\.conv\.weight"), 1.2, False),
    (re.compile(r"neck_[mq]\.adjustor\.weight"), 10.0, True),
    (re.compile(r"head\.(cls_ctr|reg)\.(conv1|conv_layers\.\d+)\.weight"), math.sqrt(2.0), False),
    (re.compile(r"head\.(cls_score|ctr_score|reg_offsets)\.conv\.weight"), 1.0, False),
    (re.compile(r"(r_z_k|c_z_k|r_x|c_x)\.conv\.weight"), 1.0, False),
)
_BN_ENTRY = re.compile(r".*\.bn\.(weight|bias|running_mean|running_var)")


def official_entries() -> list[tuple[str, tuple[int, ...]]]:
    """The 924 (name, shape) pairs of the official state_dict, in registration order."""
    with open(OFFICIAL_KEYS_JSON) as f:
        return [(k, tuple(v)) for k, v in json.load(f, object_pairs_hook=list)]


def _value_range(name: str, shape: tuple[int, ...]):
    """(lo, hi, zero_mean) of the rule table, or None for int64-zero entries."""
    if name.endswith(".num_batches_tracked"):  # R1
        return None
    if name == "head.si":  # R2
        return 0.010, 0.015, False
    if name == "head.bi":
        return 1.4875, 1.4925, False
    if name in _HEAD_OUT_BN:  # R3
        c = _HEAD_OUT_BN[name]
        return c, c, False
    m = _BN_ENTRY.fullmatch(name)  # R4
    if m:
        return (*_BN_RANGES[m.group(1)], False)
    if name == "basemodel_m.proj_fg_bg_label_map.weight":  # R5
        return -0.5 * _SQRT3, 0.5 * _SQRT3, False
    if name.endswith(".weight") and len(shape) == 4:  # R6
        fan_in = shape[1] * shape[2] * shape[3]
        for pattern, gain, zero_mean in _CONV_GAINS:
            if pattern.fullmatch(name):
                a = gain * math.sqrt(3.0 / fan_in)
                return -a, a, zero_mean
    if name.endswith(".bias") and len(shape) == 1:  # R7
        return -0.1 * _SQRT3, 0.1 * _SQRT3, False
    raise ValueError(f"no portable-weight rule for entry {name!r} {shape}")


def portable_tensor(seed: int, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """One entry of the portable state_dict."""
    rule = _value_range(name, shape)
    if rule is None:
        return torch.zeros(shape, dtype=torch.int64)
    lo, hi, zero_mean = rule
    n = math.prod(shape)  # 1 for 0-dim
    g = torch.Generator(device="cpu")
    g.manual_seed((seed * 1_000_003 + zlib.crc32(name.encode("utf-8"))) % 2**32)
    u = torch.rand(n, generator=g, dtype=torch.float32).numpy().astype(np.float64)
    v = lo + (hi - lo) * u  # float64: one multiply, one add
    if zero_mean:
        rows = v.reshape(shape[0], -1)
        means = np.array([math.fsum(r) for r in rows.tolist()]) / rows.shape[1]
        v = rows - means[:, None]
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def portable_state_dict(seed: int = 1, include_unused: bool = True) -> OrderedDict[str, torch.Tensor]:
    """All official entries (924, or 896 without the unused layers) in official order."""
    sd = OrderedDict()
    for name, shape in official_entries():
        if include_unused or not name.startswith(UNUSED_PREFIXES):
            sd[name] = portable_tensor(seed, name, shape)
    return sd


def write_official_checkpoint(path, state_dict, epoch: int = -1) -> Path:
    """Write `state_dict` as the official snapshot layout {'epoch', 'model_state_dict'}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": epoch, "model_state_dict": state_dict}, path)
    return path


def write_portable_checkpoint(path, seed: int = 1) -> Path:
    """An official-format checkpoint holding the 924 portable entries of `seed`."""
    return write_official_checkpoint(path, portable_state_dict(seed))


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Little-endian row-major bytes of a tensor (the checksum's byte layout)."""
    a = t.detach().cpu().contiguous().numpy()
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def state_dict_sha256(sd) -> str:
    """SHA-256 over (name bytes, tensor bytes) in sorted-name order (parity-fixtures §3)."""
    h = hashlib.sha256()
    for name in sorted(sd):
        h.update(name.encode("utf-8"))
        h.update(tensor_bytes(sd[name]))
    return h.hexdigest()


def exact_sums(t: torch.Tensor) -> tuple[float, float]:
    """Exactly rounded (sum, sum of squares) of a float tensor, independent of order."""
    v = t.detach().cpu().double().reshape(-1).numpy()
    return math.fsum(v.tolist()), math.fsum((v * v).tolist())  # float32² is exact in float64
