"""Load and save STMTrack checkpoints safely (weights-only), with one-line actionable errors.

Integrity: a checkpoint with a `<file>.sha256` beside it (the bundled model has one; the
`sha256sum` format) is checked against it before it is read, and `load_checkpoint(...,
sha256=...)` checks any file against a digest the caller holds.

Accepted: the official snapshot `{'epoch', 'model_state_dict', 'optimizer_state_dict'}`
(e.g. the authors' `epoch-19.pkl`), a bare state_dict, and files written by
`save_checkpoint`, which add `'model_config'` so small variants load through the same call.
The 28 unused official entries (r_z_k, c_z_k, r_x, c_x) are dropped; every other key must
match the network exactly.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from .config import ModelConfig
from .device import resolve_device
from .network import STMTrackNet
from .portable import UNUSED_PREFIXES

PACKAGE_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_CHECKPOINT_NAME = "stmtrack_small.pt"
_DDP_PREFIX = "module."
_SHOW = 4  # names quoted per problem in an error line
_KEY_CHARS = 48  # a quoted key name is cut to this many characters
MAX_MESSAGE_CHARS = 500  # a CheckpointError message is at most this long
SHA256_SUFFIX = ".sha256"  # the digest file beside a checkpoint: <file>.sha256


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line of at most MAX_MESSAGE_CHARS
    (a longer one keeps its start and its end, which says what to do)."""

    def __init__(self, message):
        text = " ".join(str(message).split())
        if len(text) > MAX_MESSAGE_CHARS:
            tail = MAX_MESSAGE_CHARS // 3
            text = text[:MAX_MESSAGE_CHARS - tail - 5] + " ... " + text[-tail:]
        super().__init__(text)


def default_checkpoint_path() -> Path:
    """The checkpoint bundled with the package (the small model)."""
    return PACKAGE_MODELS_DIR / DEFAULT_CHECKPOINT_NAME


def _key(k) -> str:
    k = str(k)
    return repr(k if len(k) <= _KEY_CHARS else k[:_KEY_CHARS] + "...")


def _names(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(_key(k) for k in keys[:_SHOW])
    return shown + (f" and {len(keys) - _SHOW} more" if len(keys) > _SHOW else "")


def _read(path: Path, sha256: str | None = None):
    """torch.load(weights_only=True), after the digest check, with every failure turned into a
    CheckpointError."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (give the path of an official "
                              "epoch-*.pkl or a .pt written by stmtrack_ros)")
    if path.is_dir():
        raise CheckpointError(f"checkpoint path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint file is empty: {path} (re-download or re-save it)")
    _verify(path, sha256)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol chatter from the safe unpickler
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types here; all mean "unusable file"
        msg = " ".join(str(e).split())
        if "Weights only load failed" in msg:
            m = re.search(r"Unsupported (global: GLOBAL [\w.]*\w|operand \d+)", msg)
            why = f" ({m.group(0)})" if m else ""
            raise CheckpointError(
                f"{path} is not a weights-only checkpoint: it holds Python objects that safe "
                f"loading refuses{why}; save a plain state_dict with torch.save") from None
        if isinstance(e, OSError):
            raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or msg}") from None
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: "
                              f"{msg[:120]}); re-download or re-save it") from None


def file_sha256(path) -> str:
    """Hex sha256 of a file (read in chunks)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_sha256(path) -> Path:
    """Write `<path>.sha256` (sha256sum format), so that loading checks the file; run it
    again whenever the checkpoint is replaced (the bundled model's is tested)."""
    path = Path(path)
    out = path.with_name(path.name + SHA256_SUFFIX)
    out.write_text(f"{file_sha256(path)}  {path.name}\n")
    return out


def _expected_sha256(path: Path, sha256: str | None) -> str | None:
    """The digest to check `path` against: the caller's, else its .sha256 file's, else None."""
    source, text = "sha256", sha256
    side = path.with_name(path.name + SHA256_SUFFIX)
    if text is None and side.is_file():
        source, text = str(side), side.read_text(errors="replace")[:200]
        text = text.split()[0] if text.split() else ""
    if text is None:
        return None
    text = str(text).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise CheckpointError(f"{source} {text[:80]!r} is not a sha256 digest (64 hex digits)")
    return text


def _verify(path: Path, sha256: str | None) -> None:
    want = _expected_sha256(path, sha256)
    if want is None:
        return
    got = file_sha256(path)
    if got != want:
        raise CheckpointError(f"{path} has sha256 {got[:16]}..., not the expected {want[:16]}...: "
                              "the file is damaged or another file; re-download or re-copy it")


def _unpack(obj, path: Path):
    """(state_dict, config dict or None) from a loaded object."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint: expected a "
                              "dict with 'model_state_dict' (official snapshot) or a state_dict")
    cfg = None
    if "model_state_dict" in obj:
        sd, cfg = obj["model_state_dict"], obj.get("model_config")
        if not isinstance(sd, Mapping):
            raise CheckpointError(f"{path}: 'model_state_dict' is a {type(sd).__name__}, not a state_dict")
    else:
        sd = obj
    if not sd:
        raise CheckpointError(f"{path} holds an empty state_dict")
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{path} is not a state_dict checkpoint: entries {_names(map(str, bad))} are not tensors "
            f"(top-level keys: {_names(map(str, obj.keys()))}); expected 'model_state_dict' or a state_dict")
    odd = [k for k, v in sd.items() if v.layout != torch.strided or v.is_meta or v.is_quantized
           or v.is_complex() or v.dtype == torch.bool]
    if odd:
        v = sd[odd[0]]
        raise CheckpointError(f"{path}: entries {_names(odd)} are not plain tensors (e.g. layout "
                              f"{v.layout}, dtype {v.dtype}, device {v.device.type}); save dense "
                              "real-valued weights (state_dict() of the network)")
    keys = list(sd)
    if keys and all(k.startswith(_DDP_PREFIX) for k in keys):  # saved from a DDP/DataParallel wrapper
        sd = {k[len(_DDP_PREFIX):]: v for k, v in sd.items()}
    return sd, cfg


def check_state_dict(sd: Mapping, net: STMTrackNet, source: str, has_config: bool = True) -> dict:
    """`sd` without the unused official entries, or CheckpointError naming the missing,
    unexpected and mis-shaped keys for `net`."""
    config = net.config
    sd = {k: v for k, v in sd.items() if not k.startswith(UNUSED_PREFIXES)}
    net_sd = net.state_dict()
    want = {k: tuple(v.shape) for k, v in net_sd.items()}
    missing = set(want) - set(sd)
    unexpected = set(sd) - set(want)
    if not set(want) & set(sd):
        raise CheckpointError(
            f"{source} is not an STMTrack checkpoint for backbone {config.backbone!r}: none of "
            f"its {len(sd)} keys match (e.g. {_names(list(sd)[:_SHOW])}); this loader reads official "
            "STMTrack snapshots and stmtrack_ros checkpoints")
    shapes = {k for k in set(want) & set(sd) if want[k] != tuple(sd[k].shape)}
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_names(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
        if shapes:
            k = sorted(shapes)[0]
            parts.append(f"{len(shapes)} mis-shaped ({_names(shapes)}; e.g. {_key(k)} is "
                         f"{tuple(sd[k].shape)}, the network wants {want[k]})")
        hint = ("; a checkpoint of a non-default model needs its 'model_config' (write it with "
                "save_checkpoint)" if not has_config else "")
        raise CheckpointError(f"{source} does not fit the {config.backbone} STMTrack network: "
                              + ", ".join(parts) + hint)
    kinds = [k for k, v in sd.items() if v.is_floating_point() != net_sd[k].is_floating_point()]
    if kinds:
        k = kinds[0]
        raise CheckpointError(f"{source}: entries {_names(kinds)} have the wrong kind of number "
                              f"(e.g. {_key(k)} is {sd[k].dtype}, the network holds {net_sd[k].dtype})")
    for k, v in sd.items():  # a finite sum proves finite entries; check fully only if not
        if v.is_floating_point() and not torch.isfinite(v.sum()) and not torch.isfinite(v).all():
            raise CheckpointError(f"{source}: entry {_key(k)} holds NaN or infinite values; "
                                  "the file is damaged")
    return sd


def load_checkpoint(path, device="cpu", sha256: str | None = None) -> STMTrackNet:
    """The network of a checkpoint file, in eval mode on `device`.

    `device` "cuda"/"cuda:N" falls back to CPU with a warning when CUDA is unavailable.
    `sha256`: the file's expected hex digest; without it a `<file>.sha256` beside the file
    (as the bundled model has) is used when present. Every ModelConfig field is range-checked
    before the network is built. Raises CheckpointError (one line) for anything that is not a
    usable checkpoint.
    """
    path = Path(path).expanduser()
    dev = resolve_device(device)
    sd, cfg_dict = _unpack(_read(path, sha256), path)
    if cfg_dict is None:
        config = ModelConfig()
    else:
        try:
            config = ModelConfig.from_dict(dict(cfg_dict) if isinstance(cfg_dict, Mapping) else cfg_dict)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: bad 'model_config': {e}") from None
    try:
        net = STMTrackNet(config)
    except ValueError as e:
        raise CheckpointError(f"{path}: checkpoint of another architecture: {e}") from None
    sd = check_state_dict(sd, net, str(path), has_config=cfg_dict is not None)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: the weights do not load ({e})") from None
    return net.to(dev).eval()


def save_checkpoint(path, model: STMTrackNet, epoch: int = 0, optimizer_state=None, extra=None) -> Path:
    """Write the official layout plus 'model_config' (plain types; loads weights-only).

    The write is atomic (temp file + rename), so a crash never leaves a truncated checkpoint.
    """
    model = getattr(model, "module", model)  # unwrap DDP / DataParallel
    if not isinstance(model, STMTrackNet):
        raise TypeError(f"save_checkpoint wants an STMTrackNet, got {type(model).__name__}")
    if model.optimized:
        raise ValueError("save_checkpoint needs the trainable network, not an optimized_copy()")
    obj = {"epoch": int(epoch),
           "model_state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
           "model_config": model.config.to_dict()}
    if optimizer_state is not None:
        obj["optimizer_state_dict"] = optimizer_state
    for k, v in (extra or {}).items():
        if k in obj:
            raise ValueError(f"save_checkpoint: extra key {k!r} would overwrite the checkpoint's own entry")
        obj[k] = v
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

