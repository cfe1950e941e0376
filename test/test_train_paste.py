"""The pasted moving distractor of the training samples (train/paste.py)."""
import cv2
import numpy as np
import torch

from stmtrack_ros.model.config import ModelConfig
from stmtrack_ros.train import datasets as ds
from stmtrack_ros.train import paste
from stmtrack_ros.train.augment import CropJitter
from stmtrack_ros.train.pairs import PairDataset
from stmtrack_ros.train.sampler import Frame, PairSampler

SMALL = ModelConfig(backbone="nanotrack_v1", q_size=97, total_stride=16, score_size=5, crop_pad=1,
                    backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)
GREY = 120


def test_the_alpha_is_an_ellipse_with_a_soft_rim():
    a = paste.ellipse_alpha(20, 40)
    assert a[10, 20] == 1.0 and a[0, 0] == 0.0 and a[19, 39] == 0.0
    assert 0.0 < a[10, 37] < 1.0  # near the rim along the long axis


def test_paste_at_copies_clips_and_blends():
    img = np.full((50, 60, 3), GREY, np.uint8)
    patch = np.zeros((10, 10, 3), np.uint8)
    out = paste.paste_at(img, patch, np.ones((10, 10), np.float32), (2, 2))  # half outside
    assert (img == GREY).all()  # the input is not written
    assert (out[:7, :7] == 0).all() and (out[8:, 8:] == GREY).all()
    half = paste.paste_at(img, patch, np.full((10, 10), 0.5, np.float32), (30, 30))
    assert (half[26:34, 26:34] == GREY // 2).all()


def _frames(n=4, side=20.0):
    img = np.full((400, 400, 3), GREY, np.uint8)
    return [Frame(img, np.array([190.0, 190.0, side, side]), "f") for _ in range(n)]


def _red(image):
    return (image[..., 2] > 200) & (image[..., 0] < 60)


def test_the_distractor_is_beside_the_target_in_memory_and_closer_in_the_query():
    patch = np.zeros((16, 24, 3), np.uint8)
    patch[..., 2] = 255  # red
    alpha = paste.ellipse_alpha(16, 24)
    far, near = [], []
    for seed in range(40):
        frames = _frames()
        before = frames[0].image
        out = paste.paste_distractor(frames, patch, alpha, np.random.default_rng(seed))
        assert (before == GREY).all()  # a copy per frame
        sizes = []
        for k, f in enumerate(out):
            assert np.array_equal(f.box, [190, 190, 20, 20])  # labels unchanged
            ys, xs = np.nonzero(_red(f.image))
            sizes.append(len(xs))
            d = np.hypot(xs.mean() - 199.5, ys.mean() - 199.5)
            reach = 0.5 * (20 + np.sqrt(len(xs) / (np.pi / 4)))  # the ellipse's box side
            (near if k == len(out) - 1 else far).append(d / reach)
            covered = _red(f.image[190:210, 190:210]).mean()
            if k < len(out) - 1:
                assert covered < 0.35, covered  # memory: the target stays visible
        assert max(sizes) < 1.2 * min(sizes)  # one size per sample (same target size)
    far, near = np.array(far), np.array(near)
    assert far.min() > 0.8 and far.max() < 1.75
    assert near.min() > 0.4 and near.max() < 1.4 and near.mean() < far.mean() - 0.3
    # the direction changes from frame to frame: the distractor moves
    assert np.std(far) > 0.1


def _write_stills(root):
    img = np.full((300, 300, 3), GREY, np.uint8)
    cv2.rectangle(img, (140, 140), (159, 159), (0, 255, 0), -1)  # the target, green
    cv2.imwrite(str(root / "a.png"), img)
    img = np.full((300, 300, 3), GREY, np.uint8)
    cv2.rectangle(img, (100, 100), (123, 123), (0, 0, 255), -1)  # another target, red
    cv2.rectangle(img, (200, 200), (219, 219), (255, 0, 0), -1)  # its neighbour, blue
    cv2.imwrite(str(root / "b.png"), img)
    return [ds.TrainingSet("stills", [
        ds.StillImage("a", str(root / "a.png"), np.array([[140, 140, 20, 20.0]])),
        ds.StillImage("b", str(root / "b.png"), np.array([[100, 100, 24, 24], [200, 200, 20, 20.0]])),
    ])]


def _colour_outside_map(item) -> list:
    """Per memory crop: saturated pixels outside the (dilated) label map."""
    counts = []
    for im, m in zip(item["im_m"], item["maps_m"]):
        im = im.permute(1, 2, 0).numpy()
        saturated = (im.max(axis=2).astype(int) - im.min(axis=2)) > 100
        grown = cv2.dilate(m[0].numpy(), np.ones((7, 7), np.uint8)) > 0
        counts.append(int((saturated & ~grown).sum()))
    return counts


def test_a_pair_dataset_pastes_a_distractor_outside_the_memory_maps(tmp_path):
    sets = _write_stills(tmp_path)
    jit = dict(size=97, scale_jitter=0.0, shift_jitter=0.0)  # no other object in the window
    plain = PairDataset(PairSampler(sets, negative_prob=0.0, max_area_ratio=0.85),
                        CropJitter(**jit), SMALL, seed=2, length=50)
    off = PairDataset(PairSampler(sets, negative_prob=0.0, max_area_ratio=0.85),
                      CropJitter(paste_prob=0.0, **jit), SMALL, seed=2, length=50)
    on = PairDataset(PairSampler(sets, negative_prob=0.0, max_area_ratio=0.85),
                     CropJitter(paste_prob=1.0, **jit), SMALL, seed=2, length=50)
    with_paste = []
    for i in range(20):
        a, b = plain[i], off[i]
        assert all(torch.equal(a[k], b[k]) for k in a)  # off by default: the same samples
        assert max(_colour_outside_map(a)) == 0  # nothing but the target in the window
        c = on[i]
        assert c["cls_gt"].sum() > 0  # still a positive pair with the target in the query
        with_paste += [n > 20 for n in _colour_outside_map(c)]
    assert np.mean(with_paste) > 0.7  # a few patches fall outside a crop
