"""Training configuration: the defaults (one place), YAML files and `--set key=value` overrides.

A config is a nested dict. `DEFAULTS` lists every key; a file or override naming a key that
is not there is refused (typos fail loudly). Two sections are open-ended: `model` holds
`ModelConfig` fields (checked by ModelConfig itself) and `data.datasets` is a list of
dataset entries (checked by datasets.build_training_set).
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

DEFAULTS = {
    "out_dir": "runs/train",
    "seed": 1000000007,  # the official global seed
    "device": "auto",  # auto = cuda when available, else cpu; or cpu / cuda / cuda:N
    # torch threads of the training process (0 = torch's default). On a shared/busy CPU use 1:
    # measured here, 2 threads on 2 contended cores ran a step ~10x slower than 1 thread.
    "threads": 0,
    "model": {},  # ModelConfig fields; absent ones take ModelConfig defaults
    "init": {
        "checkpoint": None,  # a full STMTrack checkpoint to start from (fine-tuning)
        "inception_imagenet": None,  # torchvision inception_v3_google-*.pth -> both backbones
        "backbone_weights": None,  # small backbones: file given to the backbone's own loader
    },
    "data": {
        "datasets": [],  # entries: {layout, name, ratio, max_gap, min_area_px, <paths>}
        "num_memory": 3,  # T memory frames per sample
        "negative_prob": 0.33,
        "symmetric_gap": True,  # see sampler.py; False = official one-sided window
        "max_aspect": 10.0,
        "min_area_ratio": 0.001,
        "max_area_ratio": 0.6,
        "context": 4.0,
        "scale_jitter": 0.3,
        "shift_jitter": 0.4,
        # beyond the official recipe (augment.CropJitter): 0 = off
        "stretch_jitter": 0.0,
        "flip_prob": 0.0,
        "gray_prob": 0.0,
        "photometric": 0.0,
        "map_jitter": 0.0,
        "map_shared_prob": 0.0,  # per sample: those frames share one side scale (a drift)
        "lowres_prob": 0.0,
        "lowres_max": 3.0,
        "distractor_prob": 0.0,  # query of a still centred on another of its boxes
        "offcentre_memory_prob": 0.0,  # memory crops of a still centred on another of its boxes
        "random_box_prob": 0.0,  # a still's target replaced by a random textured box (sampler.py)
        # a still's frames as a video of it seen by a moving camera (sampler.py, still_motion.py)
        "still_motion_prob": 0.0,
        "still_motion_rotate": 10.0,  # degrees: the path's end rotation in +-this
        "still_motion_scale": 0.15,  # the path's end scale in [1/(1+s), 1+s]
        "still_motion_perspective": 0.06,  # corner moves, a fraction of the image side
        "still_motion_blur_prob": 0.3,  # per frame: a 3-9 px linear motion blur
        "num_workers": 2,
        # frozen backbones (train/feature_cache.py): a pool of this many samples, each augmented
        # once, goes through the backbones once; training reads sample i as pool item i % size
        "feature_cache": 0,  # 0 = off
        "feature_cache_dir": None,  # where pools are saved and reused (by fingerprint); None = RAM only
        # k > 0: cache each backbone's output after its first k feature-stack entries (features.0 =
        # the stem .. features.k-1; the label-map projection adds at the stem, so it is before the
        # split and stays frozen); the blocks from k on train with the rest. 0 = the whole backbone
        "feature_cache_blocks": 0,
    },
    "optim": {
        "epochs": 20,
        "samples_per_epoch": 150000,
        "batch_size": 32,  # global batch (split evenly over DDP processes)
        "lr": 0.08,  # peak (end of warm-up, start of cosine)
        "start_lr": 1e-6,  # warm-up start
        "end_lr": 1e-6,  # cosine end
        "warmup_epochs": 1,
        "optimizer": "sgd",  # "sgd" (official, with momentum) or "adamw"
        "momentum": 0.9,  # sgd only
        "weight_decay": 1e-4,
        "backbone_pattern": "^basemodel_",  # parameters in the low-lr group
        "backbone_lr_mult": 0.1,
        # [{from_epoch: E, frozen: [regex, ...]}]: from epoch E on, parameters whose name
        # matches one of the regexes are frozen; the last entry with from_epoch <= epoch wins.
        "freeze": [],
        "grad_clip": 0.0,  # max grad norm; 0 = off
        "amp": True,  # mixed precision, CUDA only
        "loss_cls": 1.0,
        "loss_ctr": 1.0,
        "loss_reg": 3.0,
        "focal_alpha": 0.75,
        "focal_gamma": 2.0,
        # classification target at positive cells = IoU of the cell's predicted box (quality
        # focal loss, train/losses.py); False = the paper's binary target
        "cls_iou_target": False,
    },
    "log": {
        "every": 10,  # iterations between CSV rows / TensorBoard points
        "tensorboard": True,
        "progress": True,  # tqdm bar
        "checkpoint_every": 0,  # iterations between `last.pt` saves inside an epoch; 0 = epoch ends only
    },
    "val": {
        "every_epochs": 0,  # 0 = no validation
        "from_epoch": 0,
        "datasets": [],  # video entries (layouts as in data.datasets); held-out sequences
        "max_sequences": 10,
        "max_frames": 100,
        "hp": "got10k",  # tracker hyper-parameter preset
    },
}

OPEN_SECTIONS = ("model", "data.datasets", "val.datasets", "optim.freeze")


class ConfigError(ValueError):
    """A training config key or value is wrong (one-line message)."""


def _merge(base: dict, over: dict, prefix: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        key = f"{prefix}{k}"
        if k not in base:
            raise ConfigError(f"unknown training config key {key!r} (known in {prefix or 'top level'}: "
                              f"{', '.join(base)})")
        if key in OPEN_SECTIONS:  # free-form: mappings are updated key by key, lists replaced
            if isinstance(base[k], dict) and isinstance(v, dict):
                out[k] = {**out[k], **copy.deepcopy(v)}
            elif isinstance(base[k], list) and isinstance(v, dict):  # --set data.datasets.0.root=...
                out[k] = _update_list(base[k], v, key)
            else:
                out[k] = copy.deepcopy(v)
        elif isinstance(base[k], dict):
            if not isinstance(v, dict):
                raise ConfigError(f"training config {key!r} must be a mapping, got {v!r}")
            out[k] = _merge(base[k], v, key + ".")
        else:
            out[k] = v
    return out


def _update_list(items: list, by_index: dict, key: str) -> list:
    out = copy.deepcopy(items)
    for i, v in by_index.items():
        if not str(i).isdigit() or int(i) >= len(out):
            raise ConfigError(f"training config {key!r} has {len(out)} entries; no entry {i!r}")
        i = int(i)
        out[i] = {**out[i], **copy.deepcopy(v)} if isinstance(out[i], dict) and isinstance(v, dict) else v
    return out


def parse_override(text: str) -> dict:
    """'optim.lr=0.01' -> {'optim': {'lr': 0.01}} (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set wants key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({e.problem})") from None
    out = value
    for part in reversed(key.strip().split(".")):
        if not part:
            raise ConfigError(f"--set key {key!r} has an empty part")
        out = {part: out}
    return out


def load_config(path=None, overrides=()) -> dict:
    """DEFAULTS <- YAML file <- each `key=value` override, checked key by key."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except OSError as e:
            raise ConfigError(f"cannot read training config {p}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"training config {p} is not valid YAML: {' '.join(str(e).split())}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"training config {p} must be a mapping at the top level")
        cfg = _merge(cfg, data)
    for text in overrides:
        cfg = _merge(cfg, parse_override(text))
    return cfg
