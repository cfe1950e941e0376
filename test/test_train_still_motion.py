"""data.still_motion_prob: a still's frames as a video of it seen by a moving camera."""
import cv2
import numpy as np
import pytest

import train_synth as synth
from stmtrack_ros.datasets import DatasetError
from stmtrack_ros.model.config import ModelConfig
from stmtrack_ros.model.network import STMTrackNet
from stmtrack_ros.train import training_set as ds
from stmtrack_ros.train.augment import CropJitter
from stmtrack_ros.train.config import load_config
from stmtrack_ros.train.engine import build_data
from stmtrack_ros.train.feature_cache import fingerprint
from stmtrack_ros.train.sampler import PairSampler
from stmtrack_ros.train.still_motion import motion_blur

SMALL = ModelConfig(backbone="nanotrack_v1", q_size=97, total_stride=16, score_size=5, crop_pad=1,
                    backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)


def _frames(pair):
    return pair.memory + [pair.query]


def _same(a, b):
    return all(np.array_equal(f.image, g.image) and np.array_equal(f.box, g.box)
               and (f.others is None) == (g.others is None)
               and (f.others is None or np.array_equal(f.others, g.others))
               for f, g in zip(_frames(a), _frames(b))) and a.negative == b.negative


def _ncc(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def _raccoon(shared):
    path = shared("train_data", "images", "raccoon", "raccoon-1.jpg")
    return ds.StillImage("raccoon", str(path), np.array([[81.0, 88.0, 441.0, 320.0]]))


def test_off_keeps_the_old_sample_stream_and_videos_never_move(tmp_path):
    synth.write_train_data(tmp_path)
    sets = [ds.build_training_set({"layout": "train_data_sequences", "root": str(tmp_path)}),
            ds.build_training_set({"layout": "train_data_images", "root": str(tmp_path)})]
    old = PairSampler(sets)
    off = PairSampler(sets, still_motion_prob=0.0, still_motion_rotate=30.0, still_motion_blur_prob=1.0)
    stills = 0
    for i in range(30):
        ra, rb = np.random.default_rng([4, i]), np.random.default_rng([4, i])
        a, b = old.sample(ra), off.sample(rb)
        assert _same(a, b) and all(f.warp is None for f in _frames(b))
        assert ra.random() == rb.random()  # off draws nothing: the streams stay in step
        stills += a.memory[0].others is not None
    assert stills >= 5
    videos = sets[:1]  # prob 1 on videos: they move already, nothing drawn or warped
    for i in range(10):
        assert _same(PairSampler(videos).sample(np.random.default_rng(i)),
                     PairSampler(videos, still_motion_prob=1.0).sample(np.random.default_rng(i)))


def test_on_warps_every_frame_along_one_path_and_the_target_maps_back(shared):
    sampler = PairSampler([ds.TrainingSet("s", [_raccoon(shared)])], negative_prob=0.0,
                          still_motion_prob=1.0, still_motion_blur_prob=0.0)
    for i in range(6):
        frames = _frames(sampler.sample(np.random.default_rng([3, i])))
        assert len(frames) == 4
        for j, f in enumerate(frames):
            x, y, w, h = f.box
            ih, iw = f.image.shape[:2]
            assert 0 <= x and 0 <= y and x + w <= iw and y + h <= ih and sampler.box_ok(f.box, f.image.shape)
            for g in frames[j + 1:]:
                assert np.abs(f.image.astype(int) - g.image).mean() > 1.0  # pairwise different
        f0 = frames[0]
        x, y, w, h = f0.box
        inner = (slice(int(y + 0.1 * h), int(y + 0.9 * h)), slice(int(x + 0.1 * w), int(x + 0.9 * w)))
        grey0 = cv2.cvtColor(f0.image, cv2.COLOR_BGR2GRAY)
        for f in frames[1:]:
            grey = cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY)
            back = cv2.warpPerspective(grey, f0.warp @ np.linalg.inv(f.warp), grey.shape[::-1])
            assert _ncc(back[inner], grey0[inner]) > 0.95  # undone motion: frame 0's target
        # the query is at the path's far end: without undoing its motion it no longer matches
        q = cv2.cvtColor(frames[-1].image, cv2.COLOR_BGR2GRAY)
        assert _ncc(q[inner], grey0[inner]) < 0.9


def test_the_box_is_the_tight_box_of_a_round_object_after_the_warp(tmp_path):
    img = np.random.default_rng(6).integers(60, 140, (360, 480, 3), dtype=np.uint8)
    cv2.ellipse(img, (240, 180), (60, 30), 0, 0, 360, (0, 255, 0), -1)  # box 180, 150, 120, 60
    cv2.imwrite(str(tmp_path / "ellipse.png"), img)
    still = ds.StillImage("e", str(tmp_path / "ellipse.png"), np.array([[180.0, 150.0, 121.0, 61.0]]))
    sampler = PairSampler([ds.TrainingSet("s", [still])], negative_prob=0.0, still_motion_prob=1.0,
                          still_motion_rotate=25.0, still_motion_blur_prob=0.0)

    def iou(a, b):
        w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        inter = max(w, 0) * max(h, 0)
        return inter / (a[2] * a[3] + b[2] * b[3] - inter)

    corner_ious = []
    for i in range(8):
        for f in _frames(sampler.sample(np.random.default_rng([9, i]))):
            ys, xs = np.nonzero((f.image[..., 1] > 200) & (f.image[..., 2] < 60))
            seen = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
            assert iou(f.box, seen) > 0.9
            corners = cv2.perspectiveTransform(
                np.array([[[180, 150], [301, 150], [301, 211], [180, 211]]], np.float64), f.warp)[0]
            lo, hi = corners.min(0), corners.max(0)
            corner_ious.append(iou([*lo, *(hi - lo)], seen))
    assert min(corner_ious) < 0.8  # the warped corners' box would have been far too big


def test_blur_smears_the_warped_frames(shared):
    still = _raccoon(shared)
    image = cv2.imread(still.image)
    sharp = cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    blurred = motion_blur(image, np.random.default_rng(0))
    assert blurred.shape == image.shape and blurred.dtype == np.uint8
    assert cv2.Laplacian(cv2.cvtColor(blurred, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() < 0.7 * sharp
    sets = [ds.TrainingSet("s", [still])]
    plain = PairSampler(sets, negative_prob=0.0, still_motion_prob=1.0, still_motion_blur_prob=0.0)
    smeared = PairSampler(sets, negative_prob=0.0, still_motion_prob=1.0, still_motion_blur_prob=1.0)
    compared = 0
    for i in range(6):
        a = plain.sample(np.random.default_rng([2, i]))
        b = smeared.sample(np.random.default_rng([2, i]))
        if not np.array_equal(a.memory[0].warp, b.memory[0].warp):
            continue  # a redraw after a failed box: different paths
        compared += 1
        for f, g in zip(_frames(a), _frames(b)):
            assert np.array_equal(f.box, g.box)  # blur leaves the geometry alone
            lap = [cv2.Laplacian(cv2.cvtColor(x.image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() for x in (f, g)]
            assert lap[1] < 0.8 * lap[0]
    assert compared >= 4


def test_negative_query_gets_its_own_path_and_random_boxes_are_warped(tmp_path):
    synth.write_train_data(tmp_path)
    sets = [ds.build_training_set({"layout": "train_data_images", "root": str(tmp_path)})]
    s = PairSampler(sets, negative_prob=1.0, still_motion_prob=1.0, random_box_prob=1.0,
                    max_area_ratio=0.85)
    for i in range(8):
        pair = s.sample(np.random.default_rng([1, i]))
        assert pair.negative and pair.query.source != pair.memory[0].source
        warps = [f.warp for f in _frames(pair)]
        assert all(w is not None for w in warps)
        assert not np.allclose(warps[-1], warps[-2], atol=1e-3)
        assert all(s.box_ok(f.box, f.image.shape) for f in _frames(pair))


def test_a_fixed_seed_gives_the_same_sample(tmp_path):
    synth.write_train_data(tmp_path)
    sets = [ds.build_training_set({"layout": "train_data_images", "root": str(tmp_path)})]
    s = PairSampler(sets, still_motion_prob=0.7, still_motion_blur_prob=0.5)
    moved = 0
    for i in range(8):
        a, b = s.sample(np.random.default_rng([5, i])), s.sample(np.random.default_rng([5, i]))
        assert _same(a, b)
        moved += a.memory[0].warp is not None
    assert moved >= 3


@pytest.mark.parametrize("key, value", [("still_motion_prob", 1.5), ("still_motion_prob", -0.1),
                                        ("still_motion_blur_prob", 2.0), ("still_motion_rotate", -5.0)])
def test_out_of_range_keys_are_refused_in_one_line(tmp_path, key, value):
    synth.write_train_data(tmp_path)
    entry = {"layout": "train_data_images", "root": str(tmp_path)}
    cfg = load_config(overrides=[f"data.{key}={value}"])
    cfg["data"]["datasets"] = [entry]
    with pytest.raises(DatasetError, match=rf"^data\.{key} {value}: use a value in \[") as e:
        build_data(cfg, SMALL)
    assert "\n" not in str(e.value)
    cfg = load_config(overrides=["data.still_motion_prob=0.4", "data.still_motion_rotate=15"])
    cfg["data"]["datasets"] = [entry]
    _, sampler, _ = build_data(cfg, SMALL)
    assert (sampler.still_motion_prob, sampler.still_motion_rotate) == (0.4, 15.0)


def test_off_keeps_the_feature_cache_keys_pools_had_before():
    net = STMTrackNet(SMALL)
    data = load_config()["data"]
    before = {k: v for k, v in data.items() if not k.startswith("still_motion_")}
    jitter = CropJitter(size=97)
    key = fingerprint(net, jitter, data, 1, 8)
    assert key == fingerprint(net, jitter, before, 1, 8)
    assert key != fingerprint(net, jitter, dict(data, still_motion_prob=0.5), 1, 8)
