"""Torch device selection shared by the model and the tracker: CUDA when asked and present."""
from __future__ import annotations

import warnings

import torch


def resolve_device(device="cpu") -> torch.device:
    """torch.device for `device`; a CUDA request without CUDA falls back to CPU with a warning.

    Raises ValueError (one line) for a string torch does not understand, e.g. "gpu".
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r} (use 'cpu', 'cuda' or 'cuda:N'): {e}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            warnings.warn(f"device {device!r} requested but CUDA is not available; using the CPU",
                          RuntimeWarning, stacklevel=2)
            return torch.device("cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return dev
