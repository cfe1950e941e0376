"""Pair sampler (frame gap, negatives, filter), the dataset item, and the losses."""
import math

import numpy as np
import pytest
import torch

import train_synth as synth
from stmtrack_ros.model.config import ModelConfig
from stmtrack_ros.train import training_set as ds
from stmtrack_ros.train.augment import CropJitter
from stmtrack_ros.train.losses import (
    LossWeights,
    focal_loss_sum,
    iou_plus1,
    quality_focal_loss_sum,
    stm_losses,
)
from stmtrack_ros.train.pairs import IterationBatches, PairDataset
from stmtrack_ros.train.sampler import PairSampler

SMALL = ModelConfig(backbone="nanotrack_v1", q_size=97, total_stride=16, score_size=5, crop_pad=1,
                    backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)


def _video(n, name="v"):
    return ds.Video(name, tuple(f"{name}/{i}.jpg" for i in range(n)), np.tile([1.0, 1, 20, 20], (n, 1)))


def test_positive_frames_lie_within_the_gap_both_sides():
    s = PairSampler([ds.TrainingSet("v", [_video(200)], max_gap=10)], negative_prob=0.0)
    rng = np.random.default_rng(0)
    spans = []
    for _ in range(500):
        _, plan, neg = s.draw_indexes(rng)
        idx = [k for _, k in plan]
        assert len(idx) == 4 and not neg
        # some frame (idx1) has all others within max_gap of it
        assert any(all(abs(j - i) <= 10 for j in idx) for i in idx)
        spans.append(max(idx) - min(idx))
    assert max(spans) > 10  # frames on both sides of idx1 occur (official is one-sided)


def test_official_one_sided_gap_reaches_the_end():
    s = PairSampler([ds.TrainingSet("v", [_video(200)], max_gap=10)], negative_prob=0.0, symmetric_gap=False)
    rng = np.random.default_rng(0)
    assert max(max(k for _, k in s.draw_indexes(rng)[1]) - min(k for _, k in s.draw_indexes(rng)[1])
               for _ in range(300)) > 40


def test_negative_pairs_take_the_query_from_another_sequence():
    s = PairSampler([ds.TrainingSet("v", [_video(30, "a"), _video(30, "b"), _video(30, "c")])])
    rng = np.random.default_rng(1)
    negs = 0
    for _ in range(1500):
        _, plan, neg = s.draw_indexes(rng)
        items = {a for a, _ in plan[:-1]}
        assert len(items) == 1
        assert (plan[-1][0] in items) != neg
        negs += neg
    assert 0.29 < negs / 1500 < 0.37  # p = 0.33


def test_still_image_is_one_object_four_times_and_ratios_are_used():
    still = ds.StillImage("s", "s.jpg", np.array([[0, 0, 20, 20], [30, 30, 20, 20.0]]))
    s = PairSampler([ds.TrainingSet("v", [_video(30)], ratio=3.0), ds.TrainingSet("s", [still], ratio=1.0)],
                    negative_prob=0.0)
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(800):
        si, plan, _ = s.draw_indexes(rng)
        if si == 1:
            hits += 1
            assert len(set(plan)) == 1
    assert 0.2 < hits / 800 < 0.3


def test_filter_rejects_extreme_aspect_and_area():
    s = PairSampler([ds.TrainingSet("v", [_video(3)])])
    assert s.box_ok([0, 0, 20, 20], (100, 100))
    assert not s.box_ok([0, 0, 100, 10], (100, 1000))  # aspect 10
    assert not s.box_ok([0, 0, 80, 80], (100, 100))  # 64 % of the image
    assert not s.box_ok([0, 0, 3, 3], (100, 100))  # 0.09 %


def test_pair_dataset_item_is_consistent_and_reproducible(tmp_path):
    synth.write_train_data(tmp_path)
    sets = [ds.build_training_set({"layout": "train_data_sequences", "root": str(tmp_path)}),
            ds.build_training_set({"layout": "train_data_images", "root": str(tmp_path)})]
    data = PairDataset(PairSampler(sets), CropJitter(size=97), SMALL, seed=5, length=100)
    a, b = data[7], data[7]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["im_m"].shape == (3, 3, 97, 97) and a["im_m"].dtype == torch.uint8
    assert a["maps_m"].shape == (3, 1, 97, 97) and set(a["maps_m"].unique().tolist()) <= {0, 1}
    assert a["maps_m"].sum() > 0
    assert a["im_q"].shape == (3, 97, 97)
    assert a["cls_gt"].shape == (25, 1) and a["box_gt"].shape == (25, 4)
    found_pos = found_neg = False
    for i in range(40):
        it = data[i]
        if it["negative"]:
            found_neg = True
            assert (it["cls_gt"] != 1).all() and (it["ctr_gt"] == 0).all()
        elif (it["cls_gt"] == 1).any():
            found_pos = True
    assert found_pos and found_neg


def test_map_jitter_leaves_the_first_memory_map_exact_and_the_crops_unchanged(tmp_path):
    synth.write_train_data(tmp_path)
    sets = [ds.build_training_set({"layout": "train_data_images", "root": str(tmp_path)})]
    plain = PairDataset(PairSampler(sets), CropJitter(size=97), SMALL, seed=5, length=100)
    noisy = PairDataset(PairSampler(sets), CropJitter(size=97, map_jitter=0.3), SMALL, seed=5,
                        length=100)
    changed = 0
    for i in range(10):
        a, b = plain[i], noisy[i]
        assert torch.equal(a["maps_m"][0], b["maps_m"][0])  # like the tracker's init frame
        changed += int(not torch.equal(a["maps_m"][1:], b["maps_m"][1:]))
        # the jitter draws come after each frame's crop: the first crop matches exactly
        assert torch.equal(a["im_m"][0], b["im_m"][0])
    assert changed >= 8


def test_iteration_batches_split_the_global_batch_over_ranks():
    one = list(IterationBatches(epoch=1, iterations=3, global_batch=4))
    r0 = list(IterationBatches(1, 3, 4, rank=0, world=2))
    r1 = list(IterationBatches(1, 3, 4, rank=1, world=2))
    assert one == [[12, 13, 14, 15], [16, 17, 18, 19], [20, 21, 22, 23]]
    assert [a + b for a, b in zip(r0, r1)] == one
    assert list(IterationBatches(1, 3, 4, start=2)) == one[2:]
    with pytest.raises(ValueError, match="does not split"):
        IterationBatches(0, 3, 5, world=2)


def _targets(n=4):
    cls = torch.zeros(1, n, 1)
    cls[0, :2] = 1
    cls[0, 3] = -1
    ctr = torch.zeros(1, n, 1)
    ctr[0, :2] = torch.tensor([[1.0], [0.5]])
    box = torch.zeros(1, n, 4)
    box[0, :2] = torch.tensor([10.0, 10, 29, 29])
    return cls, ctr, box


def test_losses_hand_checked():
    cls_gt, ctr_gt, box_gt = _targets()
    logits = torch.tensor([[[0.0], [2.0], [-1.0], [5.0]]])
    ctr_logits = torch.tensor([[[3.0], [0.0], [1.0], [1.0]]])
    pred = torch.tensor([[[10.0, 10, 29, 29], [10, 10, 19, 29], [0, 0, 5, 5], [0, 0, 5, 5]]])
    out = stm_losses({"cls_logits": logits, "ctr_logits": ctr_logits, "boxes": pred}, cls_gt, ctr_gt, box_gt)

    def sig(x):
        return 1 / (1 + math.exp(-x))
    # focal: positives alpha 0.75 (1-p)^2 (-log p); negative cell 2: 0.25 p^2 (-log(1-p)); cell 3 ignored
    f = (0.75 * (1 - sig(0)) ** 2 * -math.log(sig(0)) + 0.75 * (1 - sig(2)) ** 2 * -math.log(sig(2))
         + 0.25 * sig(-1) ** 2 * -math.log(1 - sig(-1)))
    assert out["cls"].item() == pytest.approx(f / 2, rel=1e-5)
    # ctr: BCE(3, 1) - 0 and BCE(0, 0.5) - H(0.5) = log 2 - log 2 = 0; two cells
    assert out["ctr"].item() == pytest.approx(-math.log(sig(3)) / 2, rel=1e-5)
    # reg: cell 0 exact (IoU 1), cell 1 half (areas 20x20 vs 10x20 -> IoU 0.5); weight 3
    assert out["reg"].item() == pytest.approx(3 * (0 + -math.log(0.5)) / 2, rel=1e-5)
    assert out["iou"].item() == pytest.approx(0.75)
    assert out["total"].item() == pytest.approx(out["cls"].item() + out["ctr"].item() + out["reg"].item())


def test_loss_weights_and_plus_one_iou():
    a = torch.tensor([[0.0, 0, 9, 9]])
    assert iou_plus1(a, a).item() == pytest.approx(1.0)
    assert iou_plus1(a, torch.tensor([[5.0, 0, 14, 9]])).item() == pytest.approx(50 / 150)
    cls_gt, ctr_gt, box_gt = _targets()
    out = {"cls_logits": torch.zeros(1, 4, 1), "ctr_logits": torch.zeros(1, 4, 1),
           "boxes": torch.tensor([[[10.0, 10, 19, 29]] * 4])}
    base = stm_losses(out, cls_gt, ctr_gt, box_gt)
    w = stm_losses(out, cls_gt, ctr_gt, box_gt, LossWeights(reg=1.0, cls=2.0))
    assert w["reg"].item() == pytest.approx(base["reg"].item() / 3)
    assert w["cls"].item() == pytest.approx(base["cls"].item() * 2)


def test_quality_target_hand_checked_and_off_is_the_paper_loss():
    cls_gt, ctr_gt, box_gt = _targets()
    logits = torch.tensor([[[0.0], [2.0], [-1.0], [5.0]]])
    pred = torch.tensor([[[10.0, 10, 29, 29], [10, 10, 19, 29], [0, 0, 5, 5], [0, 0, 5, 5]]])
    out = {"cls_logits": logits, "ctr_logits": torch.zeros(1, 4, 1), "boxes": pred}
    q = stm_losses(out, cls_gt, ctr_gt, box_gt, cls_iou_target=True)

    def sig(x):
        return 1 / (1 + math.exp(-x))

    def bce(x, y):
        return -(y * math.log(sig(x)) + (1 - y) * math.log(1 - sig(x)))
    # cell 0: IoU 1 -> focal; cell 1: IoU 0.5 -> 0.75 |0.5 - p|^2 BCE(2, 0.5); cell 2 negative; 3 ignored
    f = (0.75 * (1 - sig(0)) ** 2 * bce(0, 1.0) + 0.75 * abs(0.5 - sig(2)) ** 2 * bce(2, 0.5)
         + 0.25 * sig(-1) ** 2 * bce(-1, 0.0))
    assert q["cls"].item() == pytest.approx(f / 2, rel=1e-5)
    # the other terms do not depend on the option; off is bit-identical to the paper's focal loss
    off = stm_losses(out, cls_gt, ctr_gt, box_gt)
    assert torch.equal(off["cls"], focal_loss_sum(logits, cls_gt, 0.75, 2.0) / 2)
    for k in ("ctr", "reg", "iou"):
        assert torch.equal(q[k], off[k])
    assert q["cls"].item() > off["cls"].item()  # cell 1 scores 0.88 for a box of IoU 0.5: penalised


def test_quality_target_gradient_moves_the_score_toward_the_iou_and_not_the_box():
    cls_gt = torch.tensor([[[1.0], [1.0], [0.0]]])
    quality = torch.tensor([[[0.8], [0.3], [0.0]]])
    logits = torch.tensor([[[0.0], [0.0], [0.0]]], requires_grad=True)  # p = 0.5 everywhere
    quality_focal_loss_sum(logits, cls_gt, quality, 0.75, 2.0).backward()
    g = logits.grad[0, :, 0]
    assert g[0] < 0 and g[1] > 0 and g[2] > 0  # up toward 0.8, down toward 0.3, down toward 0
    # 0.75 |0.8 - 0.5|^2 BCE(0, 0.8) = 0.75 * 0.09 * log 2 at cell 0
    one = quality_focal_loss_sum(logits[:, :1].detach(), cls_gt[:, :1], quality[:, :1], 0.75, 2.0)
    assert one.item() == pytest.approx(0.75 * 0.09 * math.log(2), rel=1e-6)
    # quality 1 at every positive is the focal loss
    x = torch.randn(2, 5, 1)
    gt = torch.tensor([1.0, 0, -1, 1, 0]).reshape(1, 5, 1).repeat(2, 1, 1)
    assert quality_focal_loss_sum(x, gt, torch.ones_like(x), 0.75, 2.0).item() == pytest.approx(
        focal_loss_sum(x, gt, 0.75, 2.0).item(), rel=1e-5)
    # the IoU is detached: the classification loss sends no gradient into the boxes
    boxes = torch.tensor([[[10.0, 10, 19, 29], [10.0, 10, 29, 29], [0, 0, 5, 5]]], requires_grad=True)
    box_gt = torch.tensor([[[10.0, 10, 29, 29]] * 3])
    out = {"cls_logits": torch.zeros(1, 3, 1), "ctr_logits": torch.zeros(1, 3, 1), "boxes": boxes}
    losses = stm_losses(out, cls_gt, torch.zeros(1, 3, 1), box_gt, LossWeights(reg=0.0), cls_iou_target=True)
    assert losses["cls"].item() > 0 and not losses["cls"].requires_grad


def test_losses_of_an_all_negative_batch_are_finite():
    cls_gt = -torch.ones(2, 4, 1)
    cls_gt[:, 0] = 0
    out = {"cls_logits": torch.randn(2, 4, 1, requires_grad=True), "ctr_logits": torch.randn(2, 4, 1),
           "boxes": torch.rand(2, 4, 4) * 10}
    loss = stm_losses(out, cls_gt, torch.zeros(2, 4, 1), torch.zeros(2, 4, 4))
    assert torch.isfinite(loss["total"]) and loss["reg"].item() == 0 and loss["ctr"].item() == 0
    loss["total"].backward()


def test_distractor_query_is_centred_on_another_box_of_the_still(tmp_path):
    synth.write_train_data(tmp_path)
    sets = [ds.build_training_set({"layout": "train_data_images", "root": str(tmp_path)})]
    assert all(len(it.boxes) >= 2 for it in sets[0].items)
    plain = PairDataset(PairSampler(sets, negative_prob=0.0), CropJitter(size=97), SMALL, seed=5,
                        length=100)
    off = PairDataset(PairSampler(sets, negative_prob=0.0), CropJitter(size=97, distractor_prob=0.0),
                      SMALL, seed=5, length=100)
    hard = PairDataset(PairSampler(sets, negative_prob=0.0), CropJitter(size=97, distractor_prob=1.0),
                       SMALL, seed=5, length=100)
    moved = 0
    for i in range(12):
        a, b = plain[i], off[i]
        assert all(torch.equal(a[k], b[k]) for k in a)  # off by default: the same samples
        pair = hard.sampler.sample(np.random.default_rng([5, i]))  # item i's pair
        (still,) = [it for it in sets[0].items if it.image == pair.query.source]
        assert len(pair.query.others) == len(still.boxes) - 1
        h = hard[i]
        assert torch.equal(h["im_m"], a["im_m"])  # the memory crops are untouched
        moved += int(not torch.equal(h["im_q"], a["im_q"]))
        assert h["cls_gt"].sum() > 0  # the target is still in the query crop: a positive pair
    assert moved >= 6


def test_random_crop_centres_on_a_point_when_the_box_fits():
    from stmtrack_ros.train.augment import random_crop
    img = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    box = [80.0, 80.0, 20.0, 20.0]  # c = 4 * 20 = 80 source px without scale jitter
    jit = CropJitter(size=97, scale_jitter=0.0)
    _, b = random_crop(img, box, np.random.default_rng(1), jit, centre_on=(100.0, 90.0))
    centre = (b[:2] + b[2:]) / 2
    # the window centre is at (100, 90): the box centre (90, 90) is 10 px left of it
    assert np.allclose(centre, [(97 - 1) / 2 - 10 * 97 / 80, (97 - 1) / 2], atol=1.0)
    # a point the box would not fit around: the usual random shift, same draws
    c1, b1 = random_crop(img, box, np.random.default_rng(1), jit, centre_on=(190.0, 190.0))
    c2, b2 = random_crop(img, box, np.random.default_rng(1), jit)
    assert np.array_equal(c1, c2) and np.allclose(b1, b2)


def test_offcentre_memory_centres_the_memory_crops_on_another_box(tmp_path):
    import cv2
    img = np.random.default_rng(2).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "still.png"), img)  # two boxes 20 px apart in a large image
    boxes = np.array([[120, 130, 16, 16], [140, 130, 16, 16.0]])
    still = ds.StillImage("s", str(tmp_path / "still.png"), boxes)
    sets = [ds.TrainingSet("stills", [still])]
    jit = dict(size=97, scale_jitter=0.0, shift_jitter=0.0)  # plain: the target at the centre
    plain = PairDataset(PairSampler(sets, negative_prob=0.0), CropJitter(**jit), SMALL, seed=3, length=50)
    off = PairDataset(PairSampler(sets, negative_prob=0.0), CropJitter(offcentre_memory_prob=1.0, **jit),
                      SMALL, seed=3, length=50)
    for i in range(6):
        a, b = plain[i], off[i]
        for item, shift in ((a, 0.0), (b, 20 * 97 / 64)):  # window 4 x 16 px, moved by 20 px
            assert all(torch.equal(item["maps_m"][0], m) for m in item["maps_m"][1:])
            ys, xs = np.nonzero(item["maps_m"][0, 0].numpy())
            assert abs(abs(xs.mean() - 48) - shift) < 1.5 and abs(ys.mean() - 48) < 1.5
        # the query is drawn after the memory: same window, same target
        assert torch.equal(a["im_q"], b["im_q"]) and torch.equal(a["cls_gt"], b["cls_gt"])


def test_random_box_target_replaces_a_still_target_with_a_textured_box(tmp_path):
    import cv2
    img = np.full((300, 400, 3), 128, np.uint8)  # flat, except a noisy right half
    img[:, 200:] = np.random.default_rng(4).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "still.png"), img)
    real = np.array([[20, 30, 40, 40], [60, 200, 30, 30.0]])
    sets = [ds.TrainingSet("stills", [ds.StillImage("s", str(tmp_path / "still.png"), real)])]
    off = PairSampler(sets, negative_prob=0.0, max_area_ratio=0.85)
    on = PairSampler(sets, negative_prob=0.0, max_area_ratio=0.85, random_box_prob=1.0)
    for i in range(20):
        a = off.sample(np.random.default_rng([7, i]))
        assert any(np.allclose(a.query.box, r) for r in real)  # off: an annotated box
        b = on.sample(np.random.default_rng([7, i]))
        boxes = [f.box for f in b.memory + [b.query]]
        assert all(np.array_equal(boxes[0], x) for x in boxes)  # one target in every frame
        x, y, w, h = boxes[0]
        assert not any(np.allclose(boxes[0], r) for r in real)
        assert 0 <= x and x + w <= 400 and 0 <= y and y + h <= 300
        assert 1 / 3 - 1e-6 <= w / h <= 3 + 1e-6 or max(w, h) >= 0.9 * 300  # aspect, unless clipped
        assert x + w > 200  # never a flat patch: it overlaps the noisy half
        patch = img[int(y):int(y + h), int(x):int(x + w)]
        assert cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).std() >= on.random_box_min_std
        # the annotated objects stay as the still's others (distractors to centre crops on)
        assert len(b.query.others) == 2 and np.allclose(np.sort(b.query.others, 0), np.sort(real, 0))


def test_random_box_keeps_a_negative_query_and_a_flat_image_keeps_its_target(tmp_path):
    import cv2
    cv2.imwrite(str(tmp_path / "noisy.png"),
                np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "flat.png"), np.full((200, 200, 3), 90, np.uint8))
    stills = [ds.StillImage(n, str(tmp_path / f"{n}.png"), np.array([[50, 50, 40, 40.0]]))
              for n in ("noisy", "flat")]
    s = PairSampler([ds.TrainingSet("stills", stills)], negative_prob=1.0, random_box_prob=1.0)
    seen = set()
    for i in range(12):
        pair = s.sample(np.random.default_rng(i))
        assert pair.negative
        assert np.allclose(pair.query.box, [50, 50, 40, 40])  # the other image's query: kept
        memory_noisy = pair.memory[0].source.endswith("noisy.png")
        seen.add(memory_noisy)
        # a noisy memory gets a random target; a flat one has no textured box and keeps its own
        assert np.allclose(pair.memory[0].box, [50, 50, 40, 40]) != memory_noisy
    assert seen == {True, False}
