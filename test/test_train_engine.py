"""The training loop end to end on a tiny synthetic set: the loss falls, checkpoints load in
the tracker, a resumed run ends where an uninterrupted one does, the CLI reports bad input."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import train_synth as synth
from stmtrack_ros.model import load_checkpoint
from stmtrack_ros.train import train_cli
from stmtrack_ros.train.config import ConfigError, load_config
from stmtrack_ros.train.engine import lr_at, train

TINY_MODEL = dict(backbone="nanotrack_v1", q_size=65, total_stride=16, score_size=5, crop_pad=0,
                  backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)


def _config(tmp_path, out="run", **optim):
    data = tmp_path / "data"
    if not data.exists():
        data.mkdir()
        synth.write_train_data(data)
    cfg = {
        "out_dir": str(tmp_path / out), "device": "cpu", "threads": 1, "model": TINY_MODEL,
        # no jitter, no negatives: 8 fixed samples the net can fit in a few dozen steps
        "data": {"num_workers": 0, "negative_prob": 0.0, "scale_jitter": 0.0, "shift_jitter": 0.0,
                 "datasets": [{"layout": "train_data_images", "root": str(data)}]},
        "optim": {"epochs": 2, "samples_per_epoch": 48, "batch_size": 4, "lr": 0.05, "start_lr": 0.05,
                  "end_lr": 0.01, "warmup_epochs": 0, "backbone_lr_mult": 1.0, "grad_clip": 10.0, **optim},
        "log": {"every": 1, "tensorboard": False, "progress": False},
    }
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_loss_falls_checkpoint_loads_in_tracker_and_resume_matches(tmp_path):
    cfg_path = _config(tmp_path)
    summary = train(load_config(cfg_path))
    rows = np.genfromtxt(tmp_path / "run" / "train_log.csv", delimiter=",", names=True)
    loss = rows["loss"]
    assert len(loss) == 24 and np.isfinite(loss).all()
    assert loss[-5:].mean() < 0.7 * loss[:5].mean(), loss
    final = Path(summary["final"])
    assert final.exists() and (tmp_path / "run" / "checkpoints" / "last.pt").exists()

    # the tracker loads it and tracks a frame
    from stmtrack_ros.tracker import Tracker, TrackerParams
    net = load_checkpoint(final)
    assert net.config.q_size == 65 and net.config.score_size == 5
    tr = Tracker.from_checkpoint(final, TrackerParams(backend="torch"))  # no export of these weights
    img = np.random.default_rng(0).integers(0, 255, (72, 96, 3), dtype=np.uint8)
    tr.init(img, (20, 20, 24, 18))
    res = tr.update(img)
    assert len(res.box) == 4 and np.isfinite(res.box).all()

    # resume from the end of epoch 0 into a new folder: same final weights
    cfg2 = _config(tmp_path, out="resumed")
    train(load_config(cfg2), resume=tmp_path / "run" / "checkpoints" / "epoch-0.pt")
    a = torch.load(final, weights_only=True)["model_state_dict"]
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "final.pt", weights_only=True)["model_state_dict"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    rows2 = np.genfromtxt(tmp_path / "resumed" / "train_log.csv", delimiter=",", names=True)
    assert rows2["epoch"].min() == 1 and rows2["step"].min() == 13


def test_adamw_option_trains_and_a_wrong_optimizer_is_a_config_error(tmp_path):
    cfg = load_config(_config(tmp_path, out="adamw", optimizer="adamw", lr=0.003, start_lr=0.003,
                              end_lr=0.001, epochs=1))
    train(cfg)
    rows = np.genfromtxt(tmp_path / "adamw" / "train_log.csv", delimiter=",", names=True)
    assert np.isfinite(rows["loss"]).all() and rows["loss"][-4:].mean() < rows["loss"][:4].mean()
    state = torch.load(tmp_path / "adamw" / "checkpoints" / "last.pt", weights_only=True)
    assert "exp_avg_sq" in next(iter(state["optimizer_state_dict"]["state"].values()))  # Adam moments
    with pytest.raises(ConfigError, match="optim.optimizer 'adam'.*'sgd' or 'adamw'"):
        train(load_config(_config(tmp_path, out="bad", optimizer="adam")))


def test_lr_schedule_warmup_then_cosine():
    o = {"warmup_epochs": 1, "epochs": 20, "lr": 0.08, "start_lr": 1e-6, "end_lr": 1e-6}
    assert lr_at(o, 0, 0, 100) == pytest.approx(1e-6)
    assert lr_at(o, 0, 50, 100) == pytest.approx(1e-6 + (0.08 - 1e-6) / 2)
    assert lr_at(o, 1, 0, 100) == pytest.approx(0.08)
    # official cosine: e >= 1: 0.08 + (1e-6 - 0.08)(1 - cos(pi((e-1)I + i)/(19 I)))/2
    assert lr_at(o, 10, 50, 100) == pytest.approx(
        0.08 + (1e-6 - 0.08) * (1 - np.cos(np.pi * (9 * 100 + 50) / 1900)) / 2)
    assert lr_at(o, 19, 99, 100) == pytest.approx(1e-6, abs=1e-5)


def test_config_overrides_and_errors(tmp_path):
    p = _config(tmp_path)
    cfg = load_config(p, ["optim.lr=0.001", "model.head_width=8", "out_dir=x"])
    assert cfg["optim"]["lr"] == 0.001 and cfg["out_dir"] == "x"
    assert cfg["model"]["head_width"] == 8 and cfg["model"]["q_size"] == 65  # merged, not replaced
    with pytest.raises(ConfigError, match="unknown training config key 'optim.lrr'"):
        load_config(p, ["optim.lrr=1"])
    cfg = load_config(p, ["data.datasets.0.root=/elsewhere"])
    assert cfg["data"]["datasets"][0] == {"layout": "train_data_images", "root": "/elsewhere"}
    with pytest.raises(ConfigError, match="no entry '3'"):
        load_config(p, ["data.datasets.3.root=/x"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(p, ["optim.lr"])


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    import argparse
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    p = _config(tmp_path)
    assert train_cli.run(parser.parse_args(["--config", str(tmp_path / "missing.yaml")])) == 2
    assert "cannot read training config" in capsys.readouterr().err
    assert train_cli.run(parser.parse_args(["--config", str(p), "--set", "model.q_size=64"])) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stmtrack train: model section") and "\n" not in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    assert train_cli.run(parser.parse_args(["--config", str(p), "--resume", str(bad)])) == 2
    assert "corrupt" in capsys.readouterr().err


def test_config_files_parse():
    repo = Path(__file__).resolve().parents[1]
    files = [f for d in ("config/train", "research/train_configs") for f in sorted((repo / d).glob("*.yaml"))]
    assert len(files) >= 10
    for f in files:
        cfg = load_config(f)
        from stmtrack_ros.model import ModelConfig
        ModelConfig.from_dict(cfg["model"])
        assert cfg["data"]["datasets"], f


def test_validation_tracks_held_out_videos_with_the_real_tracker(tmp_path):
    from stmtrack_ros.model import ModelConfig, STMTrackNet
    from stmtrack_ros.train.validate import validate
    synth.write_train_data(tmp_path)
    torch.manual_seed(0)
    net = STMTrackNet(ModelConfig(**TINY_MODEL)).train()
    val = {"datasets": [{"layout": "train_data_sequences", "root": str(tmp_path), "only": ["vids/seq1"]}],
           "max_sequences": 3, "max_frames": 5, "hp": "got10k"}
    scores = validate(net, val, "cpu")
    assert set(scores) == {"ao", "sr50", "auc"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert net.training  # the training model is left as it was


def test_paper_freeze_schedule_on_the_inception_model():
    from stmtrack_ros.model import ModelConfig, STMTrackNet
    from stmtrack_ros.train.engine import apply_freeze, frozen_patterns, param_groups
    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "train" / "got10k_paper.yaml")
    net = STMTrackNet(ModelConfig())
    # epoch 0..9: all 70 backbone conv weights of each backbone frozen
    assert apply_freeze(net, frozen_patterns(cfg["optim"], 0)) == 140
    assert net.basemodel_m.proj_fg_bg_label_map.weight.requires_grad
    assert net.basemodel_q.Mixed_6e.branch1x1.bn.weight.requires_grad  # BN affine trains
    # from epoch 10: only the 5 stem convs of each backbone stay frozen
    assert apply_freeze(net, frozen_patterns(cfg["optim"], 12)) == 10
    assert net.basemodel_q.Mixed_5b.branch1x1.conv.weight.requires_grad
    assert not net.basemodel_q.Conv2d_4a_3x3.conv.weight.requires_grad
    head, backbone = param_groups(net, cfg["optim"])
    assert backbone["lr_mult"] == 0.1 and head["lr_mult"] == 1.0
    assert len(head["params"]) + len(backbone["params"]) == len(list(net.parameters()))
    assert any(p is net.basemodel_m.proj_fg_bg_label_map.weight for p in backbone["params"])


def test_a_frozen_branch_keeps_its_weights_and_batchnorm_statistics(tmp_path):
    """Training only the box branch (stage 2m) must leave the score branch bit-identical: its
    BatchNorm running statistics are held, not only its affine parameters."""
    base = load_config(_config(tmp_path, out="base", epochs=1))
    start = Path(train(base)["final"])
    path = _config(tmp_path, out="boxonly", epochs=1,
                   freeze=[{"from_epoch": 0, "frozen": ["^(basemodel_|neck_)",
                                                        "^head\\.(cls_ctr|cls_score|ctr_score)\\."]}])
    cfg = load_config(path)
    cfg["init"]["checkpoint"] = str(start)
    after = torch.load(train(cfg)["final"], weights_only=True)["model_state_dict"]
    before = torch.load(start, weights_only=True)["model_state_dict"]
    boxes = ("head.reg.", "head.reg_offsets.", "head.bi", "head.si")
    for k in before:
        if k.startswith(boxes) and "num_batches" not in k and k.endswith(("weight", "bias", "bi", "si")):
            assert not torch.equal(before[k], after[k]), f"{k} did not train"
        elif not k.startswith(boxes):
            assert torch.equal(before[k], after[k]), f"{k} changed although frozen"
    key = "head.reg_offsets.bn.running_mean"
    assert not torch.equal(before[key], after[key])


@pytest.mark.slow
def test_ctrl_c_saves_last_and_resume_finishes(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    repo = Path(__file__).resolve().parents[1]
    cfg = _config(tmp_path, epochs=1, samples_per_epoch=40000)  # 10000 iterations: never finishes first
    cmd = [sys.executable, "-m", "stmtrack_ros.cli", "train", "--config", str(cfg)]
    # A shell that runs this suite in the background starts it with SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: give the child the default disposition.
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = tmp_path / "run" / "train_log.csv"
    deadline = time.time() + 300
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-1500:]
    assert "interrupted; saved" in out
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["train_state"]
    assert state["epoch"] == 0 and 2 <= state["iteration"] < 10000
    # resuming continues at the saved iteration
    r = subprocess.run(cmd + ["--resume", str(tmp_path / "run" / "checkpoints" / "last.pt"),
                              "--set", "optim.samples_per_epoch=" + str(4 * (state["iteration"] + 2))],
                       cwd=repo, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    assert f"epoch 0 iteration {state['iteration']}" in r.stdout
    assert (tmp_path / "run" / "checkpoints" / "final.pt").exists()
