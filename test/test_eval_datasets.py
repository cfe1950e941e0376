"""Dataset readers on small synthetic copies of each benchmark layout (real JPEG files) and on
the shared sequences."""
import json

import numpy as np
import pytest

from conftest import shared_path
from eval_synth import make_frames, project_sequence, write_images, write_rows
from stmtrack_ros import datasets
from stmtrack_ros.datasets import DatasetError, detect_format, load_dataset


def test_project_layout_is_one_based(tmp_path):
    gt = project_sequence(tmp_path, "seqA", n=6)
    project_sequence(tmp_path, "seqB", n=5, seed=1)
    assert detect_format(tmp_path) == "project"
    seqs = load_dataset(tmp_path)
    assert [s.name for s in seqs] == ["seqA", "seqB"]
    a = seqs[0]
    np.testing.assert_allclose(a.gt, gt)                  # file is 1-based, Sequence 0-based
    np.testing.assert_allclose(a.to_native(a.gt), gt + [1, 1, 0, 0])
    assert a.offset == 1.0 and a.valid.all() and len(a.frames) == 6
    assert a.extra["manifest"]["image_size_wh"] == [160, 120]
    assert [s.name for s in load_dataset(tmp_path, names=["seqB"])] == ["seqB"]
    with pytest.raises(DatasetError, match="unknown sequence"):
        load_dataset(tmp_path, names=["nope"])


def test_otb_separators_and_two_targets(tmp_path):
    frames, gt = make_frames(5)
    d = tmp_path / "Jogging"
    write_images(d / "img", frames, "{:04d}.jpg")
    write_rows(d / "groundtruth_rect.1.txt", gt + [1, 1, 0, 0], sep="\t")
    write_rows(d / "groundtruth_rect.2.txt", gt + [11, 1, 0, 0], sep=" ")
    e = tmp_path / "Walk"
    write_images(e / "img", frames, "{:04d}.jpg")
    write_rows(e / "groundtruth_rect.txt", gt[:4] + [1, 1, 0, 0], sep=",")   # annotation ends early
    assert detect_format(tmp_path) == "otb"
    seqs = {s.name: s for s in load_dataset(tmp_path)}
    assert sorted(seqs) == ["Jogging-1", "Jogging-2", "Walk"]
    np.testing.assert_allclose(seqs["Jogging-1"].gt, gt)
    np.testing.assert_allclose(seqs["Jogging-2"].gt, gt + [10, 0, 0, 0])
    assert len(seqs["Walk"].frames) == 4


def test_otb_start_frame_table(tmp_path):
    frames, gt = make_frames(8)
    d = tmp_path / "Tiger1"                      # OTB-2015 Tiger1 is annotated from image 6
    write_images(d / "img", frames, "{:04d}.jpg")
    write_rows(d / "groundtruth_rect.txt", gt[5:] + [1, 1, 0, 0])
    (s,) = datasets.read_otb(tmp_path)
    assert [p.name for p in s.frames] == ["0006.jpg", "0007.jpg", "0008.jpg"]


def test_got10k_cover_and_absence(tmp_path):
    frames, gt = make_frames(6)
    d = tmp_path / "GOT-10k_Val_000001"
    write_images(d, frames)
    write_rows(d / "groundtruth.txt", gt, fmt="{:.4f}")
    (d / "absence.label").write_text("0\n0\n1\n0\n0\n0\n")
    (d / "cover.label").write_text("8\n8\n0\n3\n8\n8\n")
    (tmp_path / "list.txt").write_text("GOT-10k_Val_000001\n")
    t = tmp_path / "GOT-10k_Test_000001"         # test split: first box only
    write_images(t, frames)
    write_rows(t / "groundtruth.txt", gt[:1])
    (tmp_path / "list.txt").write_text("GOT-10k_Val_000001\nGOT-10k_Test_000001\n")
    assert detect_format(tmp_path) == "got10k"
    val, test = load_dataset(tmp_path)
    np.testing.assert_allclose(val.gt, gt)     # GOT-10k is 0-based: unchanged
    assert val.offset == 0.0
    assert val.valid.tolist() == [True, True, False, True, True, True]
    assert not test.has_full_gt and val.has_full_gt


def test_lasot_layout(tmp_path):
    frames, gt = make_frames(5)
    d = tmp_path / "airplane" / "airplane-1"
    write_images(d / "img", frames)
    write_rows(d / "groundtruth.txt", gt + [1, 1, 0, 0])
    (d / "full_occlusion.txt").write_text("0,0,1,0,0")
    (d / "out_of_view.txt").write_text("0,0,0,0,1")
    assert detect_format(tmp_path) == "lasot"
    (s,) = load_dataset(tmp_path)
    assert s.name == "airplane-1" and s.dataset == "lasot"
    np.testing.assert_allclose(s.gt, gt)
    assert s.extra["full_occlusion"].tolist() == [0, 0, 1, 0, 0]


def test_uav123_subsequence_ranges_and_nan(tmp_path):
    frames, gt = make_frames(10)
    write_images(tmp_path / "data_seq" / "UAV123" / "bird1", frames, "{:06d}.jpg")
    one = gt[:4] + [1, 1, 0, 0]
    two = gt[6:] + [1, 1, 0, 0]
    two[1] = np.nan                              # target absent
    write_rows(tmp_path / "anno" / "UAV123" / "bird1_1.txt", one)
    write_rows(tmp_path / "anno" / "UAV123" / "bird1_2.txt", two)
    (tmp_path / "configSeqs.m").write_text(
        "seqUAV123={struct('name','bird1_1','path','..\\data_seq\\UAV123\\bird1\\','startFrame',1,"
        "'endFrame',4,'nz',6,'ext','jpg','init_rect',[0,0,0,0]),...\n"
        "struct('name','bird1_2','path','..\\data_seq\\UAV123\\bird1\\','startFrame',7,'endFrame',10,"
        "'nz',6,'ext','jpg','init_rect',[0,0,0,0])};\n")
    assert detect_format(tmp_path) == "uav123"
    a, b = load_dataset(tmp_path)
    assert (a.name, b.name) == ("bird1_1", "bird1_2")
    assert [p.name for p in b.frames] == ["000007.jpg", "000008.jpg", "000009.jpg", "000010.jpg"]
    np.testing.assert_allclose(a.gt, gt[:4])
    assert b.valid.tolist() == [True, False, True, True]
    (tmp_path / "configSeqs.m").unlink()
    with pytest.raises(DatasetError, match="configSeqs"):
        load_dataset(tmp_path)


def test_trackingnet_layout(tmp_path):
    frames, gt = make_frames(4)
    chunk = tmp_path / "TEST"
    write_images(chunk / "frames" / "abc_1", frames, "{:d}.jpg", start=0)
    write_rows(chunk / "anno" / "abc_1.txt", gt[:1])
    write_images(tmp_path / "TRAIN_0" / "frames" / "xyz_2", frames, "{:d}.jpg", start=0)
    write_rows(tmp_path / "TRAIN_0" / "anno" / "xyz_2.txt", gt)
    assert detect_format(tmp_path) == "trackingnet"
    test, train = load_dataset(tmp_path)
    assert test.name == "abc_1" and not test.has_full_gt
    assert train.has_full_gt and train.frames[0].name == "0.jpg"
    np.testing.assert_allclose(train.gt, gt)


def test_vot_polygons_to_axis_aligned(tmp_path):
    frames, _ = make_frames(3)
    d = tmp_path / "ball"
    write_images(d / "color", frames)
    polys = [[10, 20, 50, 10, 60, 40, 20, 50], [11, 21, 51, 11, 61, 41, 21, 51], [0, 0, 5, 0, 5, 5, 0, 5]]
    write_rows(d / "groundtruth.txt", polys)
    assert detect_format(tmp_path) == "vot"
    (s,) = load_dataset(tmp_path)
    np.testing.assert_allclose(s.gt[0], [10, 10, 50, 40])
    assert s.extra["polygons"].shape == (3, 8)
    (d / "groundtruth.txt").write_text("m1,2,3\n")
    with pytest.raises(DatasetError, match="mask"):
        load_dataset(tmp_path, "vot")


def test_malformed_and_missing_give_clear_errors(tmp_path):
    project_sequence(tmp_path, "s", n=5)
    gtf = tmp_path / "s" / "groundtruth.txt"
    good = gtf.read_text()
    gtf.write_text(good.replace("\n", "\n1,2,x,4\n", 1))
    with pytest.raises(DatasetError, match=r"groundtruth.txt:2: not numbers"):
        load_dataset(tmp_path)
    gtf.write_text(good.replace("\n", "\n1,2,3\n", 1))
    with pytest.raises(DatasetError, match=r":2: expected 4 numbers, got 3"):
        load_dataset(tmp_path)
    gtf.write_text(good + "\n\n")                          # trailing blank lines are fine
    assert len(load_dataset(tmp_path)[0].gt) == 5
    (tmp_path / "s" / "img" / "00000003.jpg").unlink()
    with pytest.raises(DatasetError, match="missing frame number 3"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="unknown format"):
        load_dataset(tmp_path, "mot17")


def test_nan_first_box_refused(tmp_path):
    project_sequence(tmp_path, "s", n=3)
    gtf = tmp_path / "s" / "groundtruth.txt"
    lines = gtf.read_text().splitlines()
    gtf.write_text("NaN,NaN,NaN,NaN\n" + "\n".join(lines[1:]) + "\n")
    with pytest.raises(DatasetError, match="cannot initialise"):
        load_dataset(tmp_path)


def test_truncated_keeps_alignment(tmp_path):
    gt = project_sequence(tmp_path, "s", n=10)
    s = load_dataset(tmp_path)[0].truncated(4)
    assert len(s.frames) == 4 and s.frames[-1].name == "00000004.jpg"
    np.testing.assert_allclose(s.gt, gt[:4])


def test_shared_data_reads_as_documented():
    root = shared_path("data")
    manifest = json.loads((root / "manifest.json").read_text())
    seqs = load_dataset(root)
    assert seqs[0].dataset == "project" and len(seqs) == 10
    for s in seqs:
        first = [float(v) for v in (root / s.name / "groundtruth.txt").read_text().split("\n")[0].split(",")]
        np.testing.assert_allclose(s.gt[0], np.array(first) - [1, 1, 0, 0])
        assert len(s.frames) == len(s.gt) == s.extra["manifest"]["frames"]
        assert s.valid.all()
    assert "sequences" in manifest or isinstance(manifest, (dict, list))
