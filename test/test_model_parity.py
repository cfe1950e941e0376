"""Parity of STMTrackNet with the official implementation on the portable seed-1 weights.

Fixtures (copied from shared/parity, see test/data/parity): the official outputs and exact
summaries of every intermediate for 6 memory crops + 1 query crop of Crossing. Tolerances
are those of shared/parity/README.md §1.
"""
import hashlib
import json
import math
import struct

import numpy as np
import pytest
import torch

from conftest import TEST_DATA
from stmtrack_ros.model import STMTrackNet, load_checkpoint
from stmtrack_ros.model.portable import (
    UNUSED_PREFIXES,
    exact_sums,
    official_entries,
    portable_state_dict,
    state_dict_sha256,
    tensor_bytes,
)

PARITY = TEST_DATA / "parity"


@pytest.fixture(scope="module")
def fixture():
    return dict(np.load(PARITY / "forward_seed1_Crossing.npz"))


@pytest.fixture(scope="module")
def seed1_sd():
    return portable_state_dict(1)


@pytest.fixture(scope="module")
def net(portable_seed1_checkpoint):
    # the official-format file (924 entries) through the public loader
    return load_checkpoint(portable_seed1_checkpoint)


def _inputs(fx):
    im_m = torch.from_numpy(fx["in_im_m"]).float()
    fg_m = torch.from_numpy(fx["in_fg_m"]).float()
    im_q = torch.from_numpy(fx["in_im_q"]).float()
    return im_m, fg_m, im_q


def run_with_intermediates(net, fx):
    """The official tracker's calls (per-frame memorize, concat on T, track), recording the
    tensors the fixture summarises through forward hooks."""
    rec = {}

    def keep(name, pre=False):
        def hook(module, inp, out=None):
            t = inp[0] if pre else out
            rec.setdefault(name, []).append(t.detach().float().contiguous().clone())
        return hook

    bm, h = net.basemodel_m, net.head
    hooks = [
        bm.Conv2d_1a_3x3.register_forward_hook(keep("m_stem")),
        bm.proj_fg_bg_label_map.register_forward_hook(keep("m_label_proj")),
        bm.register_forward_hook(keep("m_backbone")),
        net.neck_m.register_forward_hook(keep("fm")),
        net.basemodel_q.register_forward_hook(keep("q_backbone")),
        net.neck_q.register_forward_hook(keep("fq")),
        h.cls_ctr.register_forward_pre_hook(keep("concat", pre=True)),
        h.cls_ctr.register_forward_hook(keep("cls_feat")),
        h.reg.register_forward_hook(keep("reg_feat")),
        h.cls_score.register_forward_hook(keep("cls_logits")),
        h.ctr_score.register_forward_hook(keep("ctr_logits")),
        h.reg_offsets.register_forward_hook(keep("reg_raw")),
    ]
    im_m, fg_m, im_q = _inputs(fx)
    try:
        with torch.inference_mode():
            fm = torch.cat([net.memorize(im_m[t:t + 1], fg_m[t:t + 1]) for t in range(6)], dim=2)
            score, boxes, cls_prob, ctr_prob = net.track(im_q, fm)
    finally:
        for hk in hooks:
            hk.remove()
    out = {k: torch.cat(v).numpy() for k, v in rec.items()}
    out.update(memory=fm.numpy(), score=score[0, :, 0].numpy(), bbox=boxes[0].numpy(),
               cls_prob=cls_prob[0, :, 0].numpy(), ctr_prob=ctr_prob[0, :, 0].numpy())
    for k in ("cls_logits", "ctr_logits"):
        out[k] = out[k].reshape(-1)
    out["reg_raw"] = out["reg_raw"][0].reshape(4, -1).T
    return out


@pytest.fixture(scope="module")
def ours(net, fixture):
    return run_with_intermediates(net, fixture)


def _summary(a):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    return np.array([a.sum(), (a * a).sum(), np.abs(a).sum(), a.min(), a.max()])


def _check_summary(name, got_rows, ref_rows):
    ref_rows = np.atleast_2d(ref_rows)
    assert len(got_rows) == len(ref_rows), name
    for i, (got, ref) in enumerate(zip(got_rows, ref_rows)):
        s = _summary(got)
        amax = max(abs(ref[3]), abs(ref[4]))
        tol = np.array([1e-5 * ref[2], 1e-4 * ref[1], 1e-5 * ref[2], 1e-4 * amax, 1e-4 * amax])
        bad = np.abs(s - ref) > tol
        assert not bad.any(), (f"sum_{name} row {i}: got {s}, official {ref} "
                               f"(columns sum, sum_sq, sum_abs, min, max; out of tolerance: {bad})")


def _check_slice(name, got, ref, tensor):
    tol = 1e-4 * float(np.abs(tensor).max())
    assert got.shape == ref.shape, name
    err = float(np.abs(got - ref).max())
    assert err <= tol, f"{name}: max |diff| {err:.3g} > {tol:.3g}"


# ---- the weights ---------------------------------------------------------------------------

def test_portable_weights_match_checksums(seed1_sd):
    ref = json.loads((PARITY / "weights_seed1_checksum.json").read_text())
    per = json.loads((PARITY / "weights_seed1_per_tensor.json").read_text())
    assert ref["version"] == "stmtrack-portable-v1"
    assert len(seed1_sd) == ref["entries"] == 924
    assert list(seed1_sd) == [k for k, _ in official_entries()]  # official file order
    floats = [v for v in seed1_sd.values() if v.dtype == torch.float32]
    assert len(floats) == ref["float32_entries"]
    assert sum(v.numel() for v in floats) == ref["float_values"]
    # entry by entry first, so that a failure names the wrong entry
    wrong = [k for k, v in seed1_sd.items()
             if hashlib.sha256(tensor_bytes(v)).hexdigest() != per[k]["sha256"]]
    assert not wrong, f"entries differing from the official generator: {wrong[:5]}"
    assert state_dict_sha256(seed1_sd) == ref["sha256"]
    for probe in ref["probes"]:
        v = float(seed1_sd[probe["name"]][tuple(probe["index"])])
        assert struct.pack(">f", v).hex() == probe["float32_hex"], probe
    # exact per-entry sums for a few entries; totals in float64 (the sha256 above is exact)
    for k in ("neck_m.adjustor.weight", "basemodel_m.Conv2d_1a_3x3.conv.weight", "head.si"):
        assert exact_sums(seed1_sd[k]) == (per[k]["sum"], per[k]["sum_sq"]), k
    flat = torch.cat([v.reshape(-1) for v in floats]).double()
    assert float(flat.sum()) == pytest.approx(ref["sum"], rel=1e-9)
    assert float((flat * flat).sum()) == pytest.approx(ref["sum_sq"], rel=1e-9)
    assert all(v.dtype == torch.int64 and v.dim() == 0 and int(v) == 0
               for k, v in seed1_sd.items() if k.endswith("num_batches_tracked"))


def test_load_checkpoint_takes_the_official_924_entry_file(net, seed1_sd):
    assert not net.training
    loaded = net.state_dict()
    assert len(loaded) == 924 - 28
    for k, v in seed1_sd.items():
        if k.startswith(UNUSED_PREFIXES):
            assert k not in loaded
        else:
            assert torch.equal(loaded[k], v), k


# ---- the network ---------------------------------------------------------------------------

def test_memorize_track_match_official_outputs(ours, fixture):
    fx = fixture
    assert ours["memory"].shape == (1, 512, 6, 25, 25)
    for k in ("cls_logits", "ctr_logits", "reg_raw"):
        err = np.abs(ours[k] - fx[k]).max()
        assert err <= 5e-4, f"{k}: {err}"
    for k in ("score", "cls_prob", "ctr_prob"):
        assert ours[k].shape == (625,)
        err = np.abs(ours[k] - fx[k]).max()
        assert err <= 5e-5, f"{k}: {err}"
    assert ours["bbox"].shape == (625, 4)
    assert np.abs(ours["bbox"] - fx["bbox"]).max() <= 1e-3
    assert int(ours["score"].argmax()) == int(fx["score"].argmax()) == 128
    np.testing.assert_allclose(ours["score"], ours["cls_prob"] * ours["ctr_prob"], rtol=1e-6)


@pytest.mark.parametrize("name", ["m_stem", "m_label_proj", "m_backbone", "fm", "q_backbone", "fq",
                                  "concat", "cls_feat", "reg_feat"])
def test_intermediate_summaries_match_official(ours, fixture, name):
    t = ours[name]
    if name == "concat":
        rows = [t, t[:, :512], t[:, 512:]]
    else:
        rows = list(t)  # one row per memory frame, or the single query row
    _check_summary(name, rows, fixture[f"sum_{name}"])


def test_intermediate_slices_match_official(ours, fixture):
    o, fx = ours, fixture
    checks = {
        "slice_m_stem_c": (o["m_stem"][:, :, 72, 72], o["m_stem"]),
        "slice_m_label_proj_c": (o["m_label_proj"][:, :, 72, 72], o["m_label_proj"]),
        "slice_m_backbone_c": (o["m_backbone"][:, :, 12, 12], o["m_backbone"]),
        "slice_fm_c": (o["fm"][:, :, 12, 12], o["fm"]),
        "slice_fm_00": (o["fm"][:, :, 0, 0], o["fm"]),
        "slice_fm_ch0_3": (o["fm"][:, 0:4], o["fm"]),
        "slice_q_backbone_c": (o["q_backbone"][0, :, 12, 12], o["q_backbone"]),
        "slice_fq_c": (o["fq"][0, :, 12, 12], o["fq"]),
        "slice_fq_00": (o["fq"][0, :, 0, 0], o["fq"]),
        "slice_fq_ch0_3": (o["fq"][0, 0:4], o["fq"]),
        "slice_concat_c": (o["concat"][0, :, 12, 12], o["concat"]),
        "slice_concat_00": (o["concat"][0, :, 0, 0], o["concat"]),
        "slice_concat_ch": (np.concatenate([o["concat"][0, 0:4], o["concat"][0, 512:516]]), o["concat"]),
        "slice_cls_feat_c": (o["cls_feat"][0, :, 12, 12], o["cls_feat"]),
        "slice_reg_feat_c": (o["reg_feat"][0, :, 12, 12], o["reg_feat"]),
        "slice_cls_feat_ch0_3": (o["cls_feat"][0, 0:4], o["cls_feat"]),
        "slice_reg_feat_ch0_3": (o["reg_feat"][0, 0:4], o["reg_feat"]),
    }
    assert set(checks) == {k for k in fx if k.startswith("slice_")}
    for name, (got, tensor) in checks.items():
        _check_slice(name, got, fx[name], tensor)


def test_memory_read_attention_matches_official(ours, fixture):
    # the softmax weights, recomputed from our memory/query features with the spec formula
    m = torch.from_numpy(ours["memory"]).double().reshape(512, -1)
    q = torch.from_numpy(ours["fq"]).double().reshape(512, -1)
    w = torch.softmax(m.T @ q / math.sqrt(512), dim=0)
    assert np.abs(w.max(0).values.numpy() - fixture["att_max"]).max() <= 1e-5


def test_batched_calls_agree_with_per_frame_calls(net, fixture, ours):
    im_m, fg_m, im_q = _inputs(fixture)
    mem = torch.from_numpy(ours["memory"])
    with torch.inference_mode():
        fm = net.memorize(im_m[:2], fg_m[:2])  # 2 frames in one batch -> (1, 512, 2, 25, 25)
        # two queries tracked at once against a batch of two memories
        score, boxes, cls_prob, ctr_prob = net.track(im_q.repeat(2, 1, 1, 1), mem.repeat(2, 1, 1, 1, 1))
    assert fm.shape == (1, 512, 2, 25, 25)
    assert np.abs(fm.numpy() - ours["memory"][:, :, :2]).max() <= 1e-4 * np.abs(ours["memory"]).max()
    assert score.shape == (2, 625, 1) and boxes.shape == (2, 625, 4)
    assert cls_prob.shape == ctr_prob.shape == (2, 625, 1)
    for b in range(2):
        assert np.abs(score[b, :, 0].numpy() - fixture["score"]).max() <= 5e-5
        assert np.abs(boxes[b].numpy() - fixture["bbox"]).max() <= 1e-3


def test_forward_train_agrees_with_memorize_and_track(net, fixture, ours):
    # T = 2 memory frames (0 and 20) to keep it cheap; logits vs the track phase on the
    # same two memory features
    im_m, fg_m, im_q = _inputs(fixture)
    with torch.no_grad():
        out = net.forward_train(im_m[None, :2], fg_m[None, :2], im_q)
        score, boxes, cls_prob, ctr_prob = net.track(im_q, torch.from_numpy(ours["memory"][:, :, :2]))
    assert set(out) == {"cls_logits", "ctr_logits", "boxes"}
    assert out["cls_logits"].shape == out["ctr_logits"].shape == (1, 625, 1)
    assert out["boxes"].shape == (1, 625, 4)
    assert torch.allclose(torch.sigmoid(out["cls_logits"]), cls_prob, atol=5e-5)
    assert torch.allclose(torch.sigmoid(out["ctr_logits"]), ctr_prob, atol=5e-5)
    assert torch.allclose(out["boxes"], boxes, atol=1e-3)
    assert not torch.allclose(score[0, :, 0], torch.from_numpy(fixture["score"]), atol=1e-3)  # T matters


def test_grid_is_the_official_one(net):
    g = net.head.fm_ctr
    assert g.dtype == torch.float32 and g.shape == (625, 2)
    assert g[0].tolist() == [48.0, 48.0] and g[12 * 25 + 12].tolist() == [144.0, 144.0]
    assert g[5 * 25 + 3].tolist() == [48.0 + 8 * 3, 48.0 + 8 * 5]  # (x, y) of k = row*25 + col
    assert net.config.score_offset == 48
    assert "head.fm_ctr" not in net.state_dict()


@pytest.mark.parametrize("fold_bn,channels_last", [(True, True), (True, False), (False, True)])
def test_optimized_copy_within_fixture_tolerance(net, fixture, ours, fold_bn, channels_last):
    # one memorize pass (frame 0) and the track pass on our 6-frame memory keep this cheap
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast = net.optimized_copy(fold_bn=fold_bn, channels_last=channels_last)
    im_m, fg_m, im_q = _inputs(fixture)
    with torch.inference_mode():
        fm0 = fast.memorize(im_m[:1], fg_m[:1])
        score, boxes, cls_prob, ctr_prob = fast.track(im_q, torch.from_numpy(ours["memory"]))
    assert fm0.shape == (1, 512, 1, 25, 25)
    assert np.abs(fm0.numpy() - ours["memory"][:, :, :1]).max() <= 1e-4 * np.abs(ours["memory"]).max()
    for name, got in (("score", score), ("cls_prob", cls_prob), ("ctr_prob", ctr_prob)):
        assert np.abs(got[0, :, 0].numpy() - fixture[name]).max() <= 5e-5, name
    assert np.abs(boxes[0].numpy() - fixture["bbox"]).max() <= 1e-3
    assert int(score[0, :, 0].argmax()) == 128
    assert fast.optimized and fast.channels_last == channels_last and not fast.training
    if fold_bn:
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    if channels_last:
        w = fast.basemodel_q.Mixed_6e.branch1x1.conv.weight
        assert w.is_contiguous(memory_format=torch.channels_last)
    # the default module is untouched
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert not net.channels_last and not net.optimized
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 147 - 4  # 4 unused absent


def test_fresh_network_has_the_official_parameter_set():
    net = STMTrackNet()
    used = [(k, s) for k, s in official_entries() if not k.startswith(UNUSED_PREFIXES)]
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == used
    n_learn = sum(p.numel() for p in net.parameters())
    assert n_learn == 36_812_532  # spec §2.8: learnable values used at inference
