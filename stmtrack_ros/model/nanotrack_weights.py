"""Reading NanoTrack's PyTorch checkpoints (v1 state_dict, v2/v3 training checkpoints).

The v2/v3 files (HonglinChu/SiamTrackers, Apache-2.0) are whole training checkpoints: beside
`state_dict` they hold `epoch` and the optimizer state, pickled with numpy scalars. They load
with `weights_only=True` once exactly those two numpy globals are allowed, so nothing else in
the file can run code. Their `backbone.*` tensors have v1's key names and shapes (v2: the same
MobileNetV3-small, 48 channels at stride 16; v3 adds a 96-channel block, not built here), so
`NanoBackbone.load_nanotrack` takes either file.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

# numpy >= 2 keeps the scalar constructor in numpy._core; files pickled by numpy 1 name it
# numpy.core.multiarray.scalar
try:
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # numpy 1
    from numpy.core.multiarray import scalar as _np_scalar

#: the non-tensor globals of NanoTrack's training checkpoints (epoch, optimizer hyper-parameters)
NUMPY_GLOBALS = [(_np_scalar, "numpy.core.multiarray.scalar"), np.dtype,
                 *(getattr(np.dtypes, n) for n in ("Float64DType", "Float32DType", "Int64DType"))]


def read_state_dict(path: str | Path) -> dict:
    """The state_dict in a NanoTrack file (plain, or a checkpoint's `state_dict`), read with
    weights_only=True; ValueError in one line when the file cannot be read."""
    try:
        with torch.serialization.safe_globals(NUMPY_GLOBALS):
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot read NanoTrack weights {path}: {first}") from None
    if not isinstance(sd, dict):
        raise ValueError(f"cannot read NanoTrack weights {path}: it holds a {type(sd).__name__}, not a dict")
    sd = sd.get("state_dict", sd)
    return sd if isinstance(sd, dict) else {}
