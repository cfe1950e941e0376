"""Frozen-backbone feature cache: training on the cached backbone outputs is training through
the frozen backbones on the same samples (losses, gradients, final weights), and a saved pool
is reused only for the same backbone weights, crops and data."""
import dataclasses

import pytest
import torch
import yaml

import train_synth as synth
from stmtrack_ros.model.config import ModelConfig
from stmtrack_ros.model.network import STMTrackNet
from stmtrack_ros.train.config import ConfigError, load_config
from stmtrack_ros.train.engine import apply_freeze, build_data, train, train_mode
from stmtrack_ros.train.feature_cache import (
    CachedFeatures,
    backbone_outputs,
    build_pool,
    fingerprint,
    load_or_build,
)
from stmtrack_ros.train.losses import LossWeights, stm_losses
from stmtrack_ros.train.pairs import PairDataset, to_device

# the bundled model's three additions on, so every cached path (keys, read-out) is exercised
TINY_MODEL = dict(backbone="nanotrack_v1", q_size=65, total_stride=16, score_size=5, crop_pad=0,
                  backbone_channels=48, neck_channels=16, head_width=16, head_convs=2,
                  label_readout=1, siamese_keys=1, reg_first_frame=1)
FROZEN = [{"from_epoch": 0, "frozen": [r"^basemodel_[mq]\."]}]


def _cfg(tmp_path, out, cache=0, freeze=FROZEN, **data):
    root = tmp_path / "data"
    if not root.exists():
        root.mkdir()
        synth.write_train_data(root)
    cfg = {"out_dir": str(tmp_path / out), "device": "cpu", "threads": 1, "model": TINY_MODEL,
           "data": {"num_workers": 0, "num_memory": 2, "feature_cache": cache,
                    "datasets": [{"layout": "train_data_images", "root": str(root)},
                                 {"layout": "train_data_sequences", "root": str(root)}], **data},
           "optim": {"epochs": 2, "samples_per_epoch": 12, "batch_size": 4, "lr": 0.02, "start_lr": 0.02,
                     "end_lr": 0.005, "warmup_epochs": 0, "grad_clip": 10.0, "freeze": freeze},
           "log": {"every": 1, "tensorboard": False, "progress": False}}
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return load_config(path)


def _net_and_data(tmp_path):
    cfg = _cfg(tmp_path, "x")
    torch.manual_seed(0)
    net = STMTrackNet(ModelConfig.from_dict(TINY_MODEL))
    # a trained-looking label-map projection (its init is tiny), so the maps matter
    torch.nn.init.normal_(net.basemodel_m.proj_fg_bg_label_map.weight, 0, 0.1)
    _sets, sampler, jitter = build_data(cfg, net.config)
    return cfg, net, PairDataset(sampler, jitter, net.config, int(cfg["seed"]), 64), jitter


def test_cached_features_give_the_same_loss_and_gradients_as_the_frozen_backbones(tmp_path):
    cfg, net, dataset, _jitter = _net_and_data(tmp_path)
    apply_freeze(net, [r"^basemodel_[mq]\."])
    train_mode(net)
    weights = LossWeights(1.0, 1.0, 3.0, 0.25, 2.0)
    idx = [3, 7, 8, 11]
    raw = torch.utils.data.default_collate([dataset[i] for i in idx])
    b = to_device(raw, "cpu")

    def loss_and_grads(out):
        net.zero_grad(set_to_none=True)
        losses = stm_losses(out, b["cls_gt"], b["ctr_gt"], b["box_gt"], weights)
        losses["total"].backward()
        return losses, {n: p.grad.clone() for n, p in net.named_parameters() if p.requires_grad}

    direct, g_direct = loss_and_grads(net(b["im_m"], b["maps_m"], b["im_q"]))
    pool = build_pool(net, dataset, 12, 4, 0, torch.device("cpu"))
    item = CachedFeatures(pool, 64)
    c = to_device(torch.utils.data.default_collate([item[i] for i in idx]), "cpu")
    assert torch.equal(c["cls_gt"], b["cls_gt"]) and torch.equal(c["maps_m"], b["maps_m"])
    cached, g_cached = loss_and_grads(net.forward_train_from_backbone(c["fb_m"], c["maps_m"], c["fb_q"],
                                                                      c["fbk_m"]))
    assert direct["total"].item() > 0
    for k in ("total", "cls", "ctr", "reg"):
        assert torch.allclose(direct[k], cached[k], rtol=1e-5, atol=1e-6), k
    assert set(g_direct) == set(g_cached) and any(n.startswith("neck_m") for n in g_direct)
    for n, g in g_direct.items():
        assert torch.allclose(g, g_cached[n], rtol=1e-4, atol=1e-6), n
    # item i of a longer run reads pool item i % size: same features, same augmentation
    assert torch.equal(item[12 + 5]["fb_q"], item[5]["fb_q"])
    assert torch.allclose(item[5]["fb_q"], backbone_outputs(net, to_device(
        torch.utils.data.default_collate([dataset[5]]), "cpu"))["fb_q"][0], atol=1e-5)


def test_training_on_the_cache_ends_where_training_through_the_backbones_does(tmp_path):
    direct = train(_cfg(tmp_path, "direct"))
    cached = train(_cfg(tmp_path, "cached", cache=24))  # 2 epochs x 12: every sample its own
    assert abs(direct["total"] - cached["total"]) < 1e-4 * max(1.0, abs(direct["total"]))
    a = torch.load(direct["final"], weights_only=True)["model_state_dict"]
    b = torch.load(cached["final"], weights_only=True)["model_state_dict"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-4, atol=1e-5), k


def test_a_trainable_backbone_part_is_refused_in_one_line(tmp_path):
    features_only = [{"from_epoch": 0, "frozen": [r"^basemodel_[mq]\.features\."]}]
    cfg = _cfg(tmp_path, "bad", cache=8, freeze=features_only)
    with pytest.raises(ConfigError, match=r"feature_cache.*trains basemodel_m\.proj_fg_bg_label_map"):
        train(cfg)


def test_a_saved_pool_is_reused_only_for_the_same_backbones_and_crops(tmp_path):
    cfg, net, dataset, jitter = _net_and_data(tmp_path)
    train_mode(net)
    cache_dir, seen = tmp_path / "cache", []

    def pool(model=net, jit=jitter, data=cfg["data"]):
        p, key = load_or_build(model, dataset, jit, data, int(cfg["seed"]), 8, 4, 0, torch.device("cpu"),
                               cache_dir, log=seen.append)
        return p, key, seen[-1]

    p1, k1, m1 = pool()
    p2, k2, m2 = pool()
    assert "computed" in m1 and "reused" in m2 and k1 == k2 and torch.equal(p1["fb_m"], p2["fb_m"])
    # other backbone weights: a new pool, whose features differ
    other = STMTrackNet(net.config)
    other.load_state_dict(net.state_dict())
    with torch.no_grad():
        other.basemodel_q.features[1].conv[0].weight.mul_(1.5)
    train_mode(other)
    p3, k3, m3 = pool(model=other)
    assert k3 != k1 and "computed" in m3 and not torch.equal(p3["fb_q"], p1["fb_q"])
    # other crop settings, other data: new keys (the dataset's own crops are checked above)
    _, k4, m4 = pool(jit=dataclasses.replace(jitter, scale_jitter=jitter.scale_jitter + 0.1))
    _, k5, m5 = pool(data=dict(cfg["data"], num_memory=3))
    assert len({k1, k3, k4, k5}) == 4 and "computed" in m4 and "computed" in m5
    # the head's weights are not part of the key: training them keeps the pool
    with torch.no_grad():
        net.head.cls_ctr.conv1.weight.add_(1.0)
    assert pool()[1] == k1 and "reused" in seen[-1]
    assert len(list(cache_dir.glob("features-*.pt"))) == 4


# a split cache at entry 7: features.0-6 and the label-map projection frozen, blocks 7-8 train
SPLIT = 7
SPLIT_FROZEN = [{"from_epoch": 0, "frozen": [r"^basemodel_[mq]\.(features\.[0-6]\.|proj_fg_bg_label_map)"]}]


def test_a_split_cache_trains_the_last_blocks_as_the_uncached_model_does(tmp_path):
    def run(out, **kw):
        cfg = _cfg(tmp_path, out, freeze=SPLIT_FROZEN, **kw)
        cfg["optim"].update(epochs=1, samples_per_epoch=8)  # two steps of batch 4
        return train(cfg), int(cfg["seed"])

    direct, seed = run("direct")
    cached, _ = run("split", feature_cache=8, feature_cache_blocks=SPLIT)
    assert abs(direct["total"] - cached["total"]) < 1e-6 * max(1.0, abs(direct["total"]))
    a = torch.load(direct["final"], weights_only=True)["model_state_dict"]
    b = torch.load(cached["final"], weights_only=True)["model_state_dict"]
    torch.manual_seed(seed)  # as train() does: the weights both runs started from
    init = STMTrackNet(ModelConfig.from_dict(TINY_MODEL)).state_dict()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-6, atol=1e-6), k
    moved = {k for k in a if a[k].is_floating_point() and not torch.equal(a[k], init[k])}
    assert any(k.startswith("basemodel_q.features.8.") for k in moved)
    assert any(k.startswith("basemodel_m.features.7.") for k in moved)
    assert not any(k.startswith(("basemodel_m.features.6.", "basemodel_q.features.0.",
                                 "basemodel_m.proj_fg_bg_label_map")) for k in moved)


def test_a_split_backbone_computes_what_the_whole_one_does_and_keys_its_pool_by_the_prefix(tmp_path):
    cfg, net, dataset, jitter = _net_and_data(tmp_path)
    train_mode(net)
    b = to_device(torch.utils.data.default_collate([dataset[i] for i in (1, 2)]), "cpu")
    img, maps = b["im_m"].flatten(0, 1), b["maps_m"].flatten(0, 1)
    bb = net.basemodel_m
    with torch.no_grad():
        assert torch.equal(bb(img, maps), bb.blocks_after(bb.blocks_before(img, maps, SPLIT), SPLIT))
    split_data = dict(cfg["data"], feature_cache_blocks=SPLIT)

    def key(model, data):
        return fingerprint(model, jitter, data, int(cfg["seed"]), 8)

    whole = {k: v for k, v in cfg["data"].items() if k != "feature_cache_blocks"}
    assert key(net, cfg["data"]) == key(net, whole)  # k = 0: the key it had before splits
    k_split, k_whole = key(net, split_data), key(net, cfg["data"])
    assert k_split != k_whole
    with torch.no_grad():
        net.basemodel_q.features[SPLIT].conv[0].weight.mul_(1.5)  # after the split: trains, not in its key
        assert key(net, split_data) == k_split and key(net, cfg["data"]) != k_whole
        net.basemodel_m.proj_fg_bg_label_map.weight.mul_(1.5)  # before the split: in the key
        assert key(net, split_data) != k_split


def test_a_trainable_part_before_the_split_is_refused_in_one_line(tmp_path):
    six = [{"from_epoch": 0, "frozen": [r"^basemodel_[mq]\.(features\.[0-5]\.|proj_fg_bg_label_map)"]}]
    cfg = _cfg(tmp_path, "bad", cache=8, freeze=six, feature_cache_blocks=SPLIT)
    with pytest.raises(ConfigError, match=r"features\.0-6 .*trains basemodel_m\.features\.6\.") as e:
        train(cfg)
    assert "\n" not in str(e.value)
    cfg = _cfg(tmp_path, "bad9", cache=8, freeze=SPLIT_FROZEN, feature_cache_blocks=9)
    with pytest.raises(ConfigError, match=r"feature_cache_blocks 9: use 0 .* or 1 \.\. 8"):
        train(cfg)
