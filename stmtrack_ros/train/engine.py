"""The training loop: one CPU process, or DDP under torchrun (gloo on CPU, nccl on CUDA).

Recipe (reference spec §7.6): SGD momentum 0.9 (or AdamW: `optim.optimizer`), weight decay 1e-4
on all parameters, two groups (backbone lr x 0.1), per-iteration linear warm-up then cosine, a
per-epoch freeze schedule, AMP on CUDA, optional grad clipping. Checkpoints are
`save_checkpoint` files (atomic, with the model config), so `out_dir/checkpoints/final.pt`
drops into the tracker; `last.pt` is what `--resume` continues from.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..model.checkpoint import load_checkpoint, save_checkpoint
from ..model.config import ModelConfig
from ..model.network import STMTrackNet
from .augment import CropJitter
from .config import ConfigError
from .feature_cache import (
    CachedFeatures,
    CachedForward,
    check_split,
    load_or_build,
    trainable_backbone_parameters,
)
from .losses import LossWeights, stm_losses
from .pairs import IterationBatches, PairDataset, to_device, worker_init
from .sampler import STILL_MOTION, PairSampler
from .training_set import build_training_set

CSV_FIELDS = ("epoch", "iteration", "step", "lr", "loss", "cls", "ctr", "reg", "iou",
              "s_per_iter", "data_s", "samples_per_s")


# ---- distributed -------------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> Dist:
    """Join the torchrun group when WORLD_SIZE > 1 (env://); otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def sum_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """All-reduce sum (a no-op on one process); the loss normalisers' global counts."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        x = x.detach().clone()
        dist.all_reduce(x)
    return x


def mean_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """All-reduce mean (a no-op on one process); for logged values."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return sum_over_ranks(x) / dist.get_world_size()
    return x


def pick_device(name: str, d: Dist) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            print("train: CUDA requested but not available; using the CPU", flush=True)
            return torch.device("cpu")
        if dev.index is None:
            dev = torch.device("cuda", d.local_rank if d.world > 1 else torch.cuda.current_device())
        torch.cuda.set_device(dev)
    return dev


# ---- schedule and parameter groups -------------------------------------------------------

def lr_at(optim: dict, epoch: int, it: int, iters: int) -> float:
    """Linear warm-up start_lr -> lr over warmup_epochs, then cosine lr -> end_lr."""
    w, total = int(optim["warmup_epochs"]), int(optim["epochs"])
    pos = epoch * iters + it
    if pos < w * iters:
        return optim["start_lr"] + (optim["lr"] - optim["start_lr"]) * pos / (w * iters)
    span = max((total - w) * iters, 1)
    frac = min((pos - w * iters) / span, 1.0)
    return optim["lr"] + (optim["end_lr"] - optim["lr"]) * (1 - math.cos(math.pi * frac)) / 2


def param_groups(model: STMTrackNet, optim: dict) -> list:
    pat = re.compile(optim["backbone_pattern"])
    low = [p for n, p in model.named_parameters() if pat.search(n)]
    high = [p for n, p in model.named_parameters() if not pat.search(n)]
    return [{"params": high, "lr_mult": 1.0, "name": "head"},
            {"params": low, "lr_mult": float(optim["backbone_lr_mult"]), "name": "backbone"}]


def build_optimizer(groups: list, optim: dict) -> torch.optim.Optimizer:
    """SGD with momentum (the paper's), or AdamW (per-parameter step sizes: what small heads
    trained briefly on a CPU need; the recipe of the bundled small model)."""
    kind = str(optim["optimizer"]).lower()
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=optim["lr"], momentum=optim["momentum"],
                               weight_decay=optim["weight_decay"])
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=optim["lr"], weight_decay=optim["weight_decay"])
    raise ConfigError(f"optim.optimizer {optim['optimizer']!r}: use 'sgd' or 'adamw'")


def frozen_patterns(optim: dict, epoch: int) -> tuple:
    chosen = ()
    for entry in sorted(optim["freeze"], key=lambda e: int(e["from_epoch"])):
        if int(entry["from_epoch"]) <= epoch:
            chosen = tuple(entry.get("frozen") or ())
    return chosen


def apply_freeze(model: STMTrackNet, patterns) -> int:
    """requires_grad per the patterns; returns the number of frozen parameter tensors."""
    regs = [re.compile(p) for p in patterns]
    n = 0
    for name, p in model.named_parameters():
        frozen = any(r.search(name) for r in regs)
        p.requires_grad_(not frozen)
        n += frozen
    return n


def train_mode(model: torch.nn.Module) -> None:
    """`model.train()`, except that a BatchNorm whose affine parameters are frozen keeps its
    running statistics too, so a frozen branch computes exactly what it did before training."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine \
                and not any(p.requires_grad for p in m.parameters(recurse=False)):
            m.eval()


# ---- model construction ------------------------------------------------------------------

def load_weights(net: STMTrackNet, path, what: str) -> None:
    """Copy the weights of a checkpoint file into `net`; its model must be the config's, up to
    the options that add no weights (`siamese_keys`: the query path makes the keys;
    `reg_first_frame`: the same tower reads another memory), and `label_readout` 0 -> 1 (see
    `with_label_readout`)."""
    src = load_checkpoint(path)
    state = src.state_dict()
    like = dataclasses.replace(src.config, siamese_keys=net.config.siamese_keys,
                               reg_first_frame=net.config.reg_first_frame)
    if like != net.config and like.label_readout == 0 \
            and dataclasses.replace(like, label_readout=1) == net.config:
        state = with_label_readout(state, net.config)
    elif like != net.config:
        diff = {k: v for k, v in src.config.to_dict().items() if net.config.to_dict()[k] != v}
        raise ConfigError(f"{what} {path}: its model differs from the config's model section in {diff}")
    net.load_state_dict(state)


def with_label_readout(state: dict, config: ModelConfig) -> dict:
    """The weights of a model without label read-out, grown to one with it: both towers'
    first convs get a zero input channel for the read-out's fg fraction, so the network
    computes what it did until training gives that channel a weight."""
    out = dict(state)
    c = config.neck_channels
    for tower in ("cls_ctr", "reg"):
        key = f"head.{tower}.conv1.weight"
        w = state[key]
        out[key] = torch.cat([w[:, :c], w.new_zeros(w.shape[0], 1, *w.shape[2:]), w[:, c:]], dim=1)
    return out


def build_model(cfg: dict) -> STMTrackNet:
    try:
        mc = ModelConfig.from_dict(dict(cfg["model"]))
        net = STMTrackNet(mc)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"model section: {e}") from None
    init = cfg["init"]
    if init.get("checkpoint"):
        load_weights(net, init["checkpoint"], "init.checkpoint")
    if init.get("inception_imagenet"):
        from ..model.pretrained import load_inception_pretrained
        load_inception_pretrained(net, init["inception_imagenet"])
    if init.get("backbone_weights"):
        for name in ("basemodel_m", "basemodel_q"):
            bb = getattr(net, name)
            # the backbone's own pretrained loader (e.g. NanoBackbone.load_nanotrack)
            loaders = [getattr(bb, a) for a in dir(bb) if a.startswith("load_")
                       and a != "load_state_dict" and callable(getattr(bb, a))]
            if len(loaders) != 1:
                raise ConfigError(f"init.backbone_weights: backbone {mc.backbone!r} has no single "
                                  f"load_* method for pretrained weights")
            loaders[0](init["backbone_weights"])
    return net


def build_data(cfg: dict, mc: ModelConfig):
    data = cfg["data"]
    sets = [build_training_set(e) for e in data["datasets"]]
    sampler = PairSampler(sets, num_memory=int(data["num_memory"]),
                          negative_prob=float(data["negative_prob"]),
                          max_aspect=float(data["max_aspect"]),
                          min_area_ratio=float(data["min_area_ratio"]),
                          max_area_ratio=float(data["max_area_ratio"]),
                          symmetric_gap=bool(data["symmetric_gap"]),
                          random_box_prob=float(data["random_box_prob"]),
                          **{k: float(data[k]) for k in STILL_MOTION})
    floats = ("context", "scale_jitter", "shift_jitter", "stretch_jitter", "flip_prob",
              "gray_prob", "photometric", "map_jitter", "map_shared_prob",
              "lowres_prob", "lowres_max", "distractor_prob", "offcentre_memory_prob")
    jitter = CropJitter(size=mc.q_size, **{k: float(data[k]) for k in floats})
    return sets, sampler, jitter


def _cached_dataset(cfg: dict, model: STMTrackNet, dataset: PairDataset, jitter: CropJitter, size: int,
                    start_epoch: int, epochs: int, length: int, device, d: Dist) -> CachedFeatures:
    """The frozen backbones' outputs of a pool of `size` samples (feature_cache.py); refused
    unless what feeds the cache (both backbones whole, or with data.feature_cache_blocks k their
    entries 0 .. k-1 and the label-map projection) is frozen in every epoch left to run."""
    optim_cfg = cfg["optim"]
    split = int(cfg["data"]["feature_cache_blocks"])
    try:
        check_split(model, split)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    what = (f"the backbones' features.0-{split - 1} and label-map projection frozen" if split
            else "both backbones wholly frozen")
    fix = (f"freeze '^basemodel_[mq]\\.(features\\.[0-{split - 1}]\\.|proj_fg_bg_label_map)'" if split
           else "freeze '^basemodel_[mq]\\.'")  # check_split: split - 1 is one digit
    for epoch in range(start_epoch, epochs):
        apply_freeze(model, frozen_patterns(optim_cfg, epoch))
        live = trainable_backbone_parameters(model, split)
        if live:
            raise ConfigError(f"data.feature_cache needs {what} in every epoch, but "
                              f"epoch {epoch} trains {live[0]} (+{len(live) - 1} more); {fix} "
                              f"in optim.freeze or set data.feature_cache 0")
    apply_freeze(model, frozen_patterns(optim_cfg, start_epoch))
    train_mode(model)  # frozen BatchNorms in eval mode, as the training steps will run them
    t0 = time.perf_counter()
    pool, key = load_or_build(model, dataset, jitter, cfg["data"], int(cfg["seed"]), size,
                              int(optim_cfg["batch_size"]), int(cfg["data"]["num_workers"]), device,
                              cfg["data"]["feature_cache_dir"], log=print if d.main else (lambda _m: None),
                              save=d.main)
    if d.main:
        print(f"train: feature cache {key} ready in {time.perf_counter() - t0:.1f} s", flush=True)
    return CachedFeatures(pool, length)


# ---- the run -----------------------------------------------------------------------------

class CsvLog:
    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                with open(path, "w", newline="") as f:
                    csv.writer(f).writerow(CSV_FIELDS)

    def write(self, row: dict):
        if self.enabled:
            with open(self.path, "a", newline="") as f:
                csv.writer(f).writerow([row.get(k, "") for k in CSV_FIELDS])


def _tensorboard(out_dir: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("train: tensorboard not installed; logging to CSV only", flush=True)
        return None
    return SummaryWriter(str(out_dir / "tensorboard"))


def train(cfg: dict, resume=None) -> dict:
    """Run (or continue) the training described by `cfg`; returns a summary dict."""
    d = init_distributed("cuda" if cfg["device"] != "cpu" and torch.cuda.is_available() else "cpu")
    device = pick_device(str(cfg["device"]), d)
    if int(cfg["threads"]) > 0:
        torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(int(cfg["seed"]) + d.rank)
    optim_cfg = cfg["optim"]
    out_dir = Path(cfg["out_dir"])
    ckpt_dir = out_dir / "checkpoints"

    model = build_model(cfg)
    mc = model.config
    model.to(device)
    optimizer = build_optimizer(param_groups(model, optim_cfg), optim_cfg)
    use_amp = bool(optim_cfg["amp"]) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    epochs = int(optim_cfg["epochs"])
    batch = int(optim_cfg["batch_size"])
    iters = int(optim_cfg["samples_per_epoch"]) // batch
    if iters < 1:
        raise ConfigError(f"optim.samples_per_epoch {optim_cfg['samples_per_epoch']} < batch_size {batch}")
    if batch % d.world:
        raise ConfigError(f"optim.batch_size {batch} does not split over {d.world} processes")
    start_epoch, start_it, step = 0, 0, 0
    if resume:
        load_weights(model, resume, "--resume")  # validates the file, one-line errors
        state = torch.load(str(resume), map_location="cpu", weights_only=True)
        if "optimizer_state_dict" in state:
            optimizer.load_state_dict(state["optimizer_state_dict"])
        tstate = state.get("train_state", {})
        start_epoch = int(tstate.get("epoch", state.get("epoch", 0)))
        start_it = int(tstate.get("iteration", 0))
        step = int(tstate.get("step", start_epoch * iters + start_it))
        if "scaler" in tstate and use_amp:
            scaler.load_state_dict(tstate["scaler"])
        if d.main:
            print(f"train: resumed {resume} at epoch {start_epoch} iteration {start_it}", flush=True)

    sets, sampler, jitter = build_data(cfg, mc)
    dataset = PairDataset(sampler, jitter, mc, int(cfg["seed"]), epochs * iters * batch)
    cache_size = int(cfg["data"]["feature_cache"])
    if cache_size:
        dataset = _cached_dataset(cfg, model, dataset, jitter, cache_size, start_epoch, epochs,
                                  epochs * iters * batch, device, d)
    weights = LossWeights(float(optim_cfg["loss_cls"]), float(optim_cfg["loss_ctr"]),
                          float(optim_cfg["loss_reg"]), float(optim_cfg["focal_alpha"]),
                          float(optim_cfg["focal_gamma"]))
    cls_iou_target = bool(optim_cfg["cls_iou_target"])
    workers = 0 if cache_size else int(cfg["data"]["num_workers"])  # a cached item is a slice
    log = cfg["log"]
    csv_log = CsvLog(out_dir / "train_log.csv", d.main)
    tb = _tensorboard(out_dir, bool(log["tensorboard"]) and d.main)
    if d.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        import yaml
        (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        print(f"train: {sum(len(s) for s in sets)} sequences/images in {len(sets)} sets, "
              f"{epochs} epochs x {iters} iterations of batch {batch}, device {device}, "
              f"{d.world} process(es)", flush=True)

    def train_state(epoch, it):
        ts = {"epoch": epoch, "iteration": it, "step": step}
        if use_amp:
            ts["scaler"] = scaler.state_dict()
        return ts

    def save(name, epoch, it):
        if d.main:
            save_checkpoint(ckpt_dir / name, model, epoch=epoch, optimizer_state=optimizer.state_dict(),
                            extra={"train_state": train_state(epoch, it)})

    last = {}
    wrapped, frozen_now = None, None
    position = (start_epoch, start_it)  # (epoch, next iteration): where --resume continues
    try:
        for epoch in range(start_epoch, epochs):
            patterns = frozen_patterns(optim_cfg, epoch)
            if patterns != frozen_now or wrapped is None:
                n_frozen = apply_freeze(model, patterns)
                frozen_now = patterns
                split = int(cfg["data"]["feature_cache_blocks"])
                wrapped = CachedForward(model, split) if cache_size else model
                if d.world > 1:  # DDP registers the trainable set at construction: rebuild on change
                    wrapped = torch.nn.parallel.DistributedDataParallel(
                        wrapped, device_ids=[device.index] if device.type == "cuda" else None)
                if d.main:
                    print(f"train: epoch {epoch}: {n_frozen} parameter tensors frozen", flush=True)
            train_mode(model)
            first = start_it if epoch == start_epoch else 0
            batches = IterationBatches(epoch, iters, batch, d.rank, d.world, first)
            loader = DataLoader(dataset, batch_sampler=batches,
                                num_workers=workers, worker_init_fn=worker_init if workers else None,
                                pin_memory=device.type == "cuda", persistent_workers=False,
                                prefetch_factor=2 if workers else None)
            bar = None
            if log["progress"] and d.main:
                from tqdm import tqdm
                bar = tqdm(total=iters, initial=first, desc=f"epoch {epoch}", dynamic_ncols=True)
            t_last = t_window = time.perf_counter()
            data_time, window = 0.0, 0
            it = first
            for it, raw in enumerate(loader, start=first):
                t_data = time.perf_counter()
                data_time += t_data - t_last
                b = to_device(raw, device)
                lr = lr_at(optim_cfg, epoch, it, iters)
                for g in optimizer.param_groups:
                    g["lr"] = lr * g["lr_mult"]
                amp_ctx = torch.autocast("cuda", dtype=torch.float16) if use_amp else nullcontext()
                with amp_ctx:
                    out = wrapped(b) if cache_size else wrapped(b["im_m"], b["maps_m"], b["im_q"])
                losses = stm_losses(out, b["cls_gt"], b["ctr_gt"], b["box_gt"], weights, sum_over_ranks,
                                    d.world, cls_iou_target)
                if not torch.isfinite(losses["total"]):
                    raise FloatingPointError(f"train: loss is {losses['total'].item()} at epoch {epoch} "
                                             f"iteration {it}; lower optim.lr or set optim.grad_clip")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(losses["total"]).backward()
                if optim_cfg["grad_clip"] and optim_cfg["grad_clip"] > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad],
                                                   float(optim_cfg["grad_clip"]))
                scaler.step(optimizer)
                scaler.update()
                step += 1
                position = (epoch, it + 1)
                window += 1
                t_last = time.perf_counter()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses['total'].item():.3f}", iou=f"{losses['iou'].item():.2f}")
                if (it + 1) % int(log["every"]) == 0 or it + 1 == iters:
                    vals = {k: mean_over_ranks(v.detach().float()).item() for k, v in losses.items()}
                    row = {"epoch": epoch, "iteration": it + 1, "step": step, "lr": f"{lr:.6g}",
                           "loss": f"{vals['total']:.5f}", "cls": f"{vals['cls']:.5f}",
                           "ctr": f"{vals['ctr']:.5f}", "reg": f"{vals['reg']:.5f}",
                           "iou": f"{vals['iou']:.4f}"}
                    last = dict(vals, epoch=epoch, iteration=it + 1)
                    if tb is not None:
                        for k, v in vals.items():
                            tb.add_scalar(f"train/{k}", v, step)
                        tb.add_scalar("train/lr", lr, step)
                    per_it = (t_last - t_window) / window
                    row.update(s_per_iter=f"{per_it:.3f}", data_s=f"{data_time / window:.3f}",
                               samples_per_s=f"{batch / per_it:.2f}")
                    csv_log.write(row)
                    window, data_time, t_window = 0, 0.0, time.perf_counter()
                every = int(log["checkpoint_every"])
                if every and (it + 1) % every == 0 and it + 1 < iters:
                    save("last.pt", epoch, it + 1)
            if bar is not None:
                bar.close()
            position = (epoch + 1, 0)
            save(f"epoch-{epoch}.pt", epoch + 1, 0)
            save("last.pt", epoch + 1, 0)
            val_cfg = cfg["val"]
            if (int(val_cfg["every_epochs"]) and epoch >= int(val_cfg["from_epoch"])
                    and (epoch + 1) % int(val_cfg["every_epochs"]) == 0 and d.main):
                from .validate import validate
                scores = validate(model, val_cfg, device)
                train_mode(model)
                print(f"train: validation after epoch {epoch}: "
                      + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
                if tb is not None:
                    for k, v in scores.items():
                        tb.add_scalar(f"val/{k}", v, step)
                with open(out_dir / "val_log.csv", "a") as f:
                    f.write(f"{epoch},{','.join(f'{k}={v:.5f}' for k, v in scores.items())}\n")
            if d.world > 1:
                dist.barrier()
    except KeyboardInterrupt:  # Ctrl-C: keep the finished steps
        if d.main:
            save("last.pt", *position)
            print(f"\ntrain: interrupted; saved {ckpt_dir / 'last.pt'} at epoch {position[0]} "
                  f"iteration {position[1]}", flush=True)
        raise
    if d.main:
        save_checkpoint(ckpt_dir / "final.pt", model, epoch=epochs)
    if tb is not None:
        tb.close()
    if d.world > 1:
        dist.barrier()
    return {"final": str(ckpt_dir / "final.pt"), "steps": step, **last}

