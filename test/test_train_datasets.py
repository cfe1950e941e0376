"""Dataset loaders on tiny synthetic layouts (real JPEG files in tmp dirs), and the shared
train_data manifests when present."""
import numpy as np
import pytest

import train_synth as synth
from conftest import shared_path
from stmtrack_ros.train import training_set as ds


def _by_name(items):
    return {it.name: it for it in items}


def _assert_video(v, boxes):
    assert len(v.frames) == len(boxes) == len(v.boxes)
    assert np.allclose(v.boxes, boxes)
    assert all(p.endswith((".jpg", ".JPEG")) for p in v.frames)


def test_got10k_drops_absent_frames(tmp_path):
    gts = synth.write_got10k(tmp_path)
    items = _by_name(ds.load_got10k(tmp_path))
    assert set(items) == set(gts)
    for name, boxes in gts.items():
        _assert_video(items[name], boxes)
        assert "00000003.jpg" not in " ".join(items[name].frames)  # absence.label = 1


def test_lasot_drops_occluded_frames(tmp_path):
    gts = synth.write_lasot(tmp_path)
    items = _by_name(ds.load_lasot(tmp_path))
    _assert_video(items["cat-1"], gts["cat-1"])
    assert ds.load_lasot(tmp_path, sequences=["dog-1"]) == []


def test_trackingnet_orders_frames_numerically(tmp_path):
    gts = synth.write_trackingnet(tmp_path)
    v = _by_name(ds.load_trackingnet(tmp_path))["vid_a"]
    _assert_video(v, gts["vid_a"])
    assert [p.rsplit("/", 1)[1] for p in v.frames[:3]] == ["0.jpg", "1.jpg", "2.jpg"]
    assert v.frames[-1].endswith("/11.jpg")


def test_imagenet_vid_one_video_per_trackid(tmp_path):
    gts = synth.write_imagenet_vid(tmp_path)
    items = _by_name(ds.load_imagenet_vid(tmp_path))
    assert set(items) == set(gts)
    for name, boxes in gts.items():
        _assert_video(items[name], boxes)


@pytest.mark.parametrize("layout", ["voc", "coco", "yolo"])
def test_still_image_layouts(tmp_path, layout):
    if layout == "voc":
        gts = synth.write_voc(tmp_path)
        items = ds.load_voc(tmp_path / "Annotations", tmp_path / "JPEGImages")
    elif layout == "coco":
        gts = synth.write_coco(tmp_path)
        items = ds.load_coco(tmp_path / "instances.json", tmp_path / "images")
    else:
        gts = synth.write_yolo(tmp_path)
        items = ds.load_yolo(tmp_path / "images", tmp_path / "labels")
    got = {it.name: it for it in items}
    assert set(got) == set(gts)
    for name, boxes in gts.items():
        # YOLO stores normalised floats: within a hundredth of a pixel
        assert np.allclose(got[name].boxes, boxes, atol=0.01), layout
        assert got[name].image.endswith(".jpg")


def test_train_data_manifests_skip_crowd_and_hold_out(tmp_path):
    synth.write_train_data(tmp_path)
    stills = ds.load_manifest_images(tmp_path)
    assert len(stills) == 4
    assert all(len(s.boxes) == 2 for s in stills)  # the iscrowd box of image 0 is dropped
    vids = _by_name(ds.load_manifest_sequences(tmp_path))
    assert set(vids) == {"vids/seq0#1", "vids/seq1#1"}
    held = ds.load_manifest_sequences(tmp_path, exclude=("vids/seq0",))
    assert [v.name for v in held] == ["vids/seq1#1"]
    only = ds.load_manifest_sequences(tmp_path, only=("vids/seq0",))
    assert [v.name for v in only] == ["vids/seq0#1"]


def test_build_training_set_and_errors(tmp_path):
    synth.write_train_data(tmp_path)
    ts = ds.build_training_set({"layout": "train_data_sequences", "root": str(tmp_path), "ratio": 2,
                                "max_gap": 7, "name": "v"})
    assert (ts.name, len(ts), ts.ratio, ts.max_gap) == ("v", 2, 2.0, 7)
    with pytest.raises(ds.DatasetError, match="layout 'nope' unknown"):
        ds.build_training_set({"layout": "nope"})
    with pytest.raises(ds.DatasetError, match="needs key 'root'"):
        ds.build_training_set({"layout": "got10k"})
    with pytest.raises(ds.DatasetError, match="not a directory"):
        ds.build_training_set({"layout": "got10k", "root": str(tmp_path / "missing")})
    bad = tmp_path / "bad" / "train" / "s1"
    bad.mkdir(parents=True)
    (bad / "groundtruth.txt").write_text("1,2,3\n")
    with pytest.raises(ds.DatasetError, match="groundtruth.txt:1: expected 4 numbers"):
        ds.load_got10k(tmp_path / "bad")


def test_box_filter_drops_tiny_and_invalid_boxes():
    f = ds.BoxFilter()
    assert f.keep([0, 0, 10, 10]) and not f.keep([0, 0, 9, 10])
    assert not f.keep([0, 0, float("nan"), 20]) and not f.keep([0, 0, 0, 500])


def test_shared_train_data_loads():
    root = shared_path("train_data")
    stills = ds.load_manifest_images(root)
    vids = ds.load_manifest_sequences(root)
    assert len(stills) > 500 and len(vids) >= 20
    assert all(len(v) >= 20 for v in vids if v.name.startswith("davis2016_val/"))
    assert all((b[:, 2] * b[:, 3] >= 100).all() for b in (s.boxes for s in stills))
