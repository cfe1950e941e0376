"""Target generation and crop/jitter geometry on hand-checked cases (spec §7.3, §7.4)."""
import math

import numpy as np
import pytest

from stmtrack_ros.model.config import ModelConfig
from stmtrack_ros.tracker.crop import box_label_map
from stmtrack_ros.train.augment import (
    CropJitter,
    SampleLook,
    box_in_crop,
    crop_window,
    draw_look,
    jitter_map_box,
    map_side_scales,
    random_crop,
    warp_crop,
)
from stmtrack_ros.train.targets import grid_xy, make_targets

OFFICIAL = ModelConfig()  # q 289, stride 8, score 25 -> offset 48


def test_grid_is_the_official_one():
    g = grid_xy(OFFICIAL)
    assert g.shape == (625, 2)
    assert tuple(g[0]) == (48, 48) and tuple(g[1]) == (56, 48) and tuple(g[25]) == (48, 56)
    assert tuple(g[12 * 25 + 12]) == (144, 144)  # the crop centre


def test_positive_cells_centerness_and_box_targets_hand_checked():
    box = (100.0, 100.0, 180.0, 140.0)
    cls, ctr, reg = make_targets(box, OFFICIAL)
    assert cls.shape == (625, 1) and ctr.shape == (625, 1) and reg.shape == (625, 4)
    pos = cls[:, 0].reshape(25, 25) == 1
    # x in (100, 180) strictly: 104..176 -> columns 7..16; y in (100, 140): 104..136 -> rows 7..11
    rows, cols = np.nonzero(pos)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (7, 11, 7, 16)
    assert pos.sum() == 50
    # cell (row 9, col 11) = (x 136, y 120): l 36, r 44, t 20, b 20
    assert ctr[9 * 25 + 11, 0] == pytest.approx(math.sqrt(36 / 44 * 20 / 20), rel=1e-5)
    assert np.all(ctr[~pos.reshape(-1)] == 0)
    assert np.all(reg[pos.reshape(-1)] == np.array(box, dtype=np.float32))
    assert np.all(reg[~pos.reshape(-1)] == 0)


def test_cells_on_the_box_edge_are_negative():
    # cells at 104 (column 7), 112, 120: x0 = 104 exactly gives l = 0, not > 0
    cls, _, _ = make_targets((104.0, 104.0, 120.5, 120.5), OFFICIAL)
    pos = np.argwhere(cls[:, 0].reshape(25, 25) == 1)
    assert pos.tolist() == [[8, 8], [8, 9], [9, 8], [9, 9]]
    cls, _, _ = make_targets((104.0, 104.0, 112.0, 112.0), OFFICIAL)  # both edges on cells
    assert not (cls == 1).any()


def test_negative_pair_ignores_outside_and_has_no_centerness():
    box = (100.0, 100.0, 180.0, 140.0)
    cls, ctr, reg = make_targets(box, OFFICIAL, negative=True)
    pos_cls, _, pos_reg = make_targets(box, OFFICIAL)
    inside = pos_cls[:, 0] == 1
    assert np.all(cls[inside, 0] == 0) and np.all(cls[~inside, 0] == -1)
    assert np.all(ctr == 0)  # paper intent: no centerness loss on negative pairs
    assert np.array_equal(reg, pos_reg)


def test_targets_follow_a_small_model_grid():
    cfg = ModelConfig(backbone="nanotrack_v1", q_size=97, total_stride=16, score_size=5, crop_pad=1,
                      backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)
    assert cfg.score_offset == 16
    cls, _, _ = make_targets((30.0, 30.0, 66.0, 66.0), cfg)  # cells at 16, 32, 48, 64, 80
    inside = [[r, c] for r in (1, 2, 3) for c in (1, 2, 3)]
    assert np.argwhere(cls[:, 0].reshape(5, 5) == 1).tolist() == inside


def test_crop_window_centred_clamped_and_overhanging():
    # box centre (60, 45), c 60, no shift -> (30, 15), fits inside a 200 x 100 image
    assert crop_window((50, 40, 20, 10), (100, 200), 60, 0.0, 0.0) == (30, 15)
    # shift moves it; Python round is half to even: 30 + 2.5 = 32.5 -> 32
    assert crop_window((50, 40, 20, 10), (100, 200), 60, 2.5, 0.0) == (32, 15)
    # near the top-left corner: moved inside
    assert crop_window((0, 0, 10, 10), (100, 200), 40, 0.0, 0.0) == (0, 0)
    # near the bottom-right corner: moved inside
    assert crop_window((190, 90, 10, 10), (100, 200), 40, 0.0, 0.0) == (160, 60)
    # larger than the image: overhang split evenly (image 30 wide, window 40 -> -5)
    assert crop_window((10, 10, 10, 10), (30, 30), 40, 3.0, -3.0) == (-5, -5)


def test_box_in_crop_uses_scale_s_over_c():
    b = box_in_crop((50, 40, 20, 10), 30, 15, 60, 31)
    s = 31 / 60
    assert b == pytest.approx([20 * s, 25 * s, 20 * s + 20 * s - 1, 25 * s + 10 * s - 1])


def test_warp_samples_source_at_x1_plus_u_c_over_s_minus_1():
    h, w = 120, 200
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = np.arange(w, dtype=np.uint8)[None, :]
    img[:, :, 1] = np.arange(h, dtype=np.uint8)[:, None]
    crop = warp_crop(img, 30, 15, 60, 31)  # source x = 30 + 2u, y = 15 + 2v
    assert crop.shape == (31, 31, 3) and crop.dtype == np.uint8
    assert np.array_equal(crop[0, :, 0], 30 + 2 * np.arange(31))
    assert np.array_equal(crop[:, 0, 1], 15 + 2 * np.arange(31))


def test_warp_border_is_the_truncated_mean_colour():
    img = np.full((10, 10, 3), (10, 20, 31), np.uint8)
    img[0, 0] = (11, 21, 32)  # means 10.01, 20.01, 31.01 -> (10, 20, 31)
    crop = warp_crop(img, -50, -50, 40, 9)  # entirely outside
    assert tuple(crop[4, 4]) == (10, 20, 31)


def test_box_label_map_truncates_and_clips():
    m = box_label_map(16, (2.7, 3.2, 5.9, 6.99))  # -> cols 2..5, rows 3..6 inclusive
    assert m.dtype == np.float32 and m.sum() == 16
    assert m[3:7, 2:6].all()
    m = box_label_map(16, (-3.5, 1.0, 4.0, 2.0))  # int(-3.5) = -3: clipped to 0 (no wrap-around)
    assert m[1:3, 0:5].all() and m.sum() == 10


def test_random_crop_jitter_stays_in_the_configured_ranges():
    rng = np.random.default_rng(0)
    img = np.random.default_rng(1).integers(0, 255, (600, 600, 3), dtype=np.uint8)
    box = (280.0, 290.0, 40.0, 20.0)  # far from the borders: no clamping
    jit = CropJitter(size=65)
    sizes, dxs = [], []
    for _ in range(150):
        crop, b = random_crop(img, box, rng, jit)
        assert crop.shape == (65, 65, 3)
        w, h = b[2] - b[0] + 1, b[3] - b[1] + 1
        assert w / h == pytest.approx(2.0, rel=1e-6)  # aspect kept
        sizes.append(math.sqrt(w * h))
        dxs.append((b[0] + b[2] + 1) / 2 - 65 / 2)  # box centre vs crop centre (S/c scale)
    sizes, dxs = np.array(sizes), np.array(dxs)
    # sqrt(w h) in the crop = S / (4 f), f in [1/1.3, 1.3] (ceil of c makes it a hair smaller)
    assert sizes.min() >= 65 / 4 / 1.3 - 0.2 and sizes.max() <= 65 / 4 * 1.3 + 0.01
    assert sizes.min() < 65 / 4 / 1.2 and sizes.max() > 65 / 4 * 1.2  # the range is used
    # shift within ±0.2 S (plus rounding of the window to whole pixels)
    assert np.abs(dxs).max() <= 0.2 * 65 + 1.5 and np.abs(dxs).max() > 0.15 * 65


def test_stretch_jitter_changes_the_aspect_within_its_range_and_the_box_follows_the_pixels():
    rng = np.random.default_rng(3)
    img = np.zeros((600, 600, 3), np.uint8)
    img[290:310, 280:320] = 255  # a white 40 x 20 box on black, far from the borders
    box = (280.0, 290.0, 40.0, 20.0)
    jit = CropJitter(size=129, scale_jitter=0.0, shift_jitter=0.0, stretch_jitter=0.5)
    ratios = []
    for _ in range(60):
        crop, b = random_crop(img, box, rng, jit)
        ratios.append(((b[2] - b[0] + 1) / (b[3] - b[1] + 1)) / 2.0)
        ys, xs = np.nonzero(crop[..., 0] > 127)  # the white pixels sit where the box says
        assert abs(xs.min() - b[0]) <= 1.5 and abs(xs.max() - b[2]) <= 1.5
        assert abs(ys.min() - b[1]) <= 1.5 and abs(ys.max() - b[3]) <= 1.5
    ratios = np.array(ratios)  # width shrinks by a and height grows by a: ratio in [a^-2 range]
    assert ratios.min() >= 1 / 1.5 ** 2 - 0.02 and ratios.max() <= 1.5 ** 2 + 0.02
    assert ratios.min() < 0.7 and ratios.max() > 1.4


def test_flip_mirrors_pixels_and_box_gray_and_photometric_change_only_colour():
    img = np.zeros((400, 400, 3), np.uint8)
    img[180:220, 150:190] = (0, 0, 255)  # a red square left of the box centre
    box = (150.0, 180.0, 100.0, 40.0)
    base = CropJitter(size=97, scale_jitter=0.0, shift_jitter=0.0)
    plain, b0 = random_crop(img, box, np.random.default_rng(0), base)
    flipped, b1 = random_crop(img, box, np.random.default_rng(0), base, SampleLook(flip=True))
    assert np.array_equal(flipped, plain[:, ::-1])
    assert np.allclose(b1, [96 - b0[2], b0[1], 96 - b0[0], b0[3]])
    grey, _ = random_crop(img, box, np.random.default_rng(0), base, SampleLook(gray=True))
    assert (grey[..., 0] == grey[..., 2]).all() and grey.max() > 0
    photo = CropJitter(size=97, scale_jitter=0.0, shift_jitter=0.0, photometric=0.3)
    lit, b2 = random_crop(img, box, np.random.default_rng(0), photo)
    assert np.allclose(b2, b0) and not np.array_equal(lit, plain)
    # per-sample draws: nothing is drawn when off (official sample streams unchanged)
    rng = np.random.default_rng(5)
    assert draw_look(rng, base) == SampleLook() and rng.random() == np.random.default_rng(5).random()
    looks = [draw_look(np.random.default_rng(i), CropJitter(flip_prob=0.5, gray_prob=0.5))
             for i in range(200)]
    assert 60 < sum(lk.flip for lk in looks) < 140 and 60 < sum(lk.gray for lk in looks) < 140


def test_map_jitter_moves_and_resizes_the_label_box_within_its_range():
    rng = np.random.default_rng(7)
    box = np.array([100.0, 50.0, 139.0, 129.0])  # 40 x 80, centre (119.5, 89.5)
    ws, hs, dxs = [], [], []
    for _ in range(300):
        b = jitter_map_box(box, rng, 0.25)
        ws.append((b[2] - b[0] + 1) / 40)
        hs.append((b[3] - b[1] + 1) / 80)
        dxs.append(((b[0] + b[2]) / 2 - 119.5) / 40)
    for v in (ws, hs):
        assert 1 / 1.25 - 1e-9 <= min(v) < 0.85 and 1.2 < max(v) <= 1.25 + 1e-9
    assert max(np.abs(dxs)) <= 0.125 + 1e-9 and max(np.abs(dxs)) > 0.1
    assert np.corrcoef(ws, hs)[0, 1] ** 2 < 0.05  # width and height drawn apart


def test_shared_map_sides_give_every_later_memory_label_the_same_size_error():
    looks = [draw_look(np.random.default_rng(i), CropJitter(map_jitter=0.4, map_shared_prob=0.5))
             for i in range(200)]
    sides = np.array([lk.map_sides for lk in looks if lk.map_sides is not None])
    assert 60 < len(sides) < 140 and sides.min() >= 1 / 1.4 - 1e-9 and sides.max() <= 1.4 + 1e-9
    box = np.array([10.0, 20.0, 49.0, 99.0])  # 40 x 80
    rng = np.random.default_rng(0)
    for b in (jitter_map_box(box, rng, 0.4, (0.6, 1.3)) for _ in range(5)):
        assert np.allclose([(b[2] - b[0] + 1) / 40, (b[3] - b[1] + 1) / 80], [0.6, 1.3])


def test_linear_label_sides_are_biased_toward_too_large():
    rng = np.random.default_rng(4)
    lin = np.array([map_side_scales(rng, 0.6) for _ in range(4000)])
    assert 1 / 1.6 - 1e-9 <= lin.min() and lin.max() <= 1.6 + 1e-9
    assert np.median(lin) > 1.08  # the linear draw's bias toward too-large labels (docs/research_log.md)


def test_lowres_look_removes_detail_but_keeps_geometry():
    img = np.random.default_rng(2).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    box = (150.0, 180.0, 100.0, 40.0)
    base = CropJitter(size=97, scale_jitter=0.0, shift_jitter=0.0)
    sharp, b0 = random_crop(img, box, np.random.default_rng(0), base)
    soft, b1 = random_crop(img, box, np.random.default_rng(0), base, SampleLook(lowres=3.0))
    assert soft.shape == sharp.shape and np.allclose(b0, b1)
    detail = [np.abs(np.diff(c.astype(np.float64), axis=1)).mean() for c in (sharp, soft)]
    assert detail[1] < 0.5 * detail[0]
    assert abs(soft.astype(np.float64).mean() - sharp.astype(np.float64).mean()) < 3
    looks = [draw_look(np.random.default_rng(i), CropJitter(lowres_prob=0.5, lowres_max=2.5))
             for i in range(200)]
    f = np.array([lk.lowres for lk in looks])
    assert 60 < (f > 1).sum() < 140 and f.max() <= 2.5 and f.min() == 1.0
