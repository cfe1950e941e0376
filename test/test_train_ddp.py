"""DDP on CPU (gloo): two processes on half batches give the gradients of one process on the
whole batch (the loss normalisers are global counts), and torchrun runs the CLI unchanged."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml
from torch.utils.data import DataLoader

import train_synth as synth
from stmtrack_ros.model import ModelConfig, STMTrackNet
from stmtrack_ros.train import training_set as ds
from stmtrack_ros.train.augment import CropJitter
from stmtrack_ros.train.engine import sum_over_ranks
from stmtrack_ros.train.losses import stm_losses
from stmtrack_ros.train.pairs import IterationBatches, PairDataset, to_device
from stmtrack_ros.train.sampler import PairSampler

REPO = Path(__file__).resolve().parents[1]
TINY = dict(backbone="nanotrack_v1", q_size=65, total_stride=16, score_size=5, crop_pad=0,
            backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)
BATCH = 4


def _grads(data_root, rank, world):
    """Gradients of one step on this process's slice of global batch 0 (BN in eval mode:
    batch statistics would differ between half and whole batches by design)."""
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY)
    net = STMTrackNet(cfg).eval()
    sets = [ds.build_training_set({"layout": "train_data_images", "root": data_root}),
            ds.build_training_set({"layout": "train_data_sequences", "root": data_root})]
    data = PairDataset(PairSampler(sets), CropJitter(cfg.q_size), cfg, seed=3, length=1000)
    batch = next(iter(DataLoader(data, batch_sampler=IterationBatches(0, 1, BATCH, rank, world))))
    b = to_device(batch, "cpu")
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    out = model(b["im_m"], b["maps_m"], b["im_q"])
    losses = stm_losses(out, b["cls_gt"], b["ctr_gt"], b["box_gt"], sum_count=sum_over_ranks, world=world)
    losses["total"].backward()
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


def _worker(rank, world, data_root, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.save(_grads(data_root, rank, world), os.path.join(out_dir, f"grads{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    synth.write_train_data(data)
    mp.spawn(_worker, args=(2, str(data), str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    one = _grads(str(data), 0, 1)
    g0 = torch.load(tmp_path / "grads0.pt", weights_only=True)
    g1 = torch.load(tmp_path / "grads1.pt", weights_only=True)
    assert set(one) == set(g0) == set(g1) and len(one) > 20
    for k in one:
        assert torch.allclose(g0[k], g1[k]), k  # DDP all-reduced: both ranks agree
        assert torch.allclose(g0[k], one[k], rtol=1e-4, atol=1e-6), (k, (g0[k] - one[k]).abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("feature_cache", [0, 8])  # 8: frozen backbones, DDP over CachedForward
def test_torchrun_two_cpu_processes_train_and_write_one_checkpoint(tmp_path, feature_cache):
    data = tmp_path / "data"
    data.mkdir()
    synth.write_train_data(data)
    freeze = [{"from_epoch": 0, "frozen": [r"^basemodel_[mq]\."]}] if feature_cache else []
    cfg = {"out_dir": str(tmp_path / "run"), "device": "cpu", "threads": 1, "model": TINY,
           "data": {"num_workers": 0, "feature_cache": feature_cache,
                    "datasets": [{"layout": "train_data_images", "root": str(data)}]},
           "optim": {"epochs": 1, "samples_per_epoch": 12, "batch_size": 4, "lr": 0.01, "freeze": freeze},
           "log": {"every": 1, "tensorboard": False, "progress": False}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "stmtrack_ros.cli", "train", "--config", str(tmp_path / "c.yaml")],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 process(es)" in r.stdout
    from stmtrack_ros.model import load_checkpoint
    net = load_checkpoint(tmp_path / "run" / "checkpoints" / "final.pt")
    assert net.config == ModelConfig(**TINY)
    rows = (tmp_path / "run" / "train_log.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3  # header + 3 iterations, written once (rank 0 only)
