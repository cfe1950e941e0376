"""The crop and the fg/bg label map against the official fixture (36 cases, bit-exact)."""
import hashlib
import json

import cv2
import numpy as np
import pytest

from conftest import SHARED, TEST_DATA, shared_path
from stmtrack_ros.tracker.crop import border_colour, crop_warp, fg_bg_map, get_crop

CASES = json.loads((TEST_DATA / "parity" / "crops_cases.json").read_text())
EXPECTED = {c["index"]: c for c in
            json.loads((TEST_DATA / "parity" / "crops_expected.json").read_text())["cases"]}
_IMAGES = {}


def _sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _image(rel):
    if rel not in _IMAGES:
        _IMAGES[rel] = cv2.imread(str(shared_path("data", rel)), cv2.IMREAD_COLOR)
    return _IMAGES[rel]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['index']}")
def test_crop_and_map_bit_exact(case):
    im = _image(case["image"])
    exp = EXPECTED[case["index"]]
    pos = np.array(case["pos"], dtype=np.float32 if case.get("pos_float32", True) else np.float64)
    avg = case.get("avg") or [float(im[..., c].mean()) for c in range(3)]
    d, off, m, returned = crop_warp(pos, case["scale"], 289)
    assert m.tolist() == exp["warp_M"], case["note"]
    assert list(im[off[0]::d, off[1]::d].shape) == exp["src_shape"]
    crop, scale = get_crop(im, pos, case["scale"], 289, avg)
    assert scale == exp["scale"] == returned
    if _sha(crop) != exp["crop_sha256"]:
        detail = ""
        full = SHARED / "parity" / "crops.npz"
        if full.exists():
            ref = np.load(full)[f"crop_{case['index']}"]
            diff = np.abs(crop.astype(int) - ref)
            detail = f": {int((diff > 0).sum())} values differ, max {int(diff.max())}"
        pytest.fail(f"crop {case['index']} ({case['note']}) is not bit-exact{detail}")
    wh = np.asarray(case["target_sz"], dtype=np.float32) * scale
    mask = fg_bg_map(289, wh[0], wh[1])
    assert mask.dtype == np.float32
    assert _sha(mask.astype(np.uint8)) == exp["mask_sha256"], case["note"]


def test_border_colour_truncates():
    assert border_colour([10.7, 200.2, 99.9]) == (10, 200, 99)


def test_crop_of_flat_image_is_flat_and_outside_is_border():
    im = np.full((50, 60, 3), 77, np.uint8)
    crop, _ = get_crop(im, (30.0, 25.0), 0.1, 127, (77.0, 77.0, 77.0))
    assert crop.shape == (127, 127, 3) and (crop == 77).all()
    crop, _ = get_crop(im, (1000.0, 1000.0), 0.5, 127, (5.9, 6.0, 250.0))
    assert (crop.reshape(-1, 3) == (5, 6, 250)).all()


def test_map_wraps_beyond_16_to_1():
    # spec §5.5: a 300x12 box at scale 1.99 covers columns 135..288 instead of 0..288
    wh = np.asarray([300, 12], np.float32) * 1.99
    cols = np.nonzero(fg_bg_map(289, wh[0], wh[1]).any(axis=0))[0]
    assert cols.min() == 135 and cols.max() == 288


def test_map_is_centred_box():
    mask = fg_bg_map(289, np.float32(41.0), np.float32(21.0))
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (124, 164, 134, 154)


def _maps_2d(m, size):
    """OpenCV 4.x's warpAffine map arithmetic written out in 2-D, for any affine matrix (the
    form crop._fixed_point_maps reduces to two vectors for the axis-aligned crop warp)."""
    ab = 1 << 10
    xs = np.arange(size, dtype=np.float64)
    adelta = np.rint(m[0, 0] * xs * ab).astype(np.int64)
    bdelta = np.rint(m[1, 0] * xs * ab).astype(np.int64)
    x0 = np.rint((m[0, 1] * xs + m[0, 2]) * ab).astype(np.int64) + 16
    y0 = np.rint((m[1, 1] * xs + m[1, 2]) * ab).astype(np.int64) + 16
    x = (x0[:, None] + adelta[None, :]) >> 5
    y = (y0[:, None] + bdelta[None, :]) >> 5
    xy = np.clip(np.stack([x >> 5, y >> 5], axis=-1), -32768, 32767).astype(np.int16)
    return xy, ((y & 31) * 32 + (x & 31)).astype(np.uint16)


def test_separable_maps_equal_the_2d_arithmetic():
    from stmtrack_ros.tracker.crop import _fixed_point_maps
    rng = np.random.default_rng(7)
    for _ in range(300):
        size = int(rng.choice([127, 255, 289, 303]))
        scale = float(rng.uniform(0.05, 2.5) if rng.random() < 0.7 else rng.uniform(2.0, 12.0))
        _, _, m, _ = crop_warp(rng.uniform(-300.0, 3000.0, 2), scale, size)
        got, ref = _fixed_point_maps(m, size), _maps_2d(m, size)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1]), (m, size)
    with pytest.raises(ValueError, match="axis-aligned"):
        _fixed_point_maps(np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]]), 33)
