"""The one dataset layer: eval and train read the same folder through the same reader, the box
parser takes both documented forms, and the layer imports nothing else of the package."""
import subprocess
import sys

import numpy as np
import pytest

import train_synth as synth
from eval_synth import got10k_sequence, make_frames, write_images, write_rows
from stmtrack_ros.datasets import DatasetError, load_dataset, parse_box, read_got10k, read_lasot
from stmtrack_ros.train import training_set as ts


@pytest.mark.parametrize("text", ["1,2.5,3,4", " 1, 2.5,3,4", "1 2.5 3 4", "1\t2.5\t3\t4", "1;2.5;3;4"])
def test_parse_box_takes_the_cli_and_the_groundtruth_forms(text):
    assert parse_box(text) == (1.0, 2.5, 3.0, 4.0)


def test_parse_box_errors_name_the_source():
    with pytest.raises(DatasetError, match=r"--init: '1,2,3' has 3 numbers, want 4: expected x,y,w,h"):
        parse_box("1,2,3", "--init")
    with pytest.raises(DatasetError, match=r"gt.txt:1: '1,a,3,4' is not 4 numbers"):
        parse_box("1,a,3,4", "gt.txt:1")


def test_eval_and_train_see_the_same_got10k_sequence(tmp_path):
    """Training keeps exactly the frames eval calls present (cover 0 and absence 1 both absent)."""
    got10k_sequence(tmp_path / "train" / "GOT-10k_Train_000001", absence=[0, 0, 1, 0, 0, 0],
                    cover=[8, 8, 0, 0, 8, 8])
    (seq,) = load_dataset(tmp_path / "train")
    (video,) = ts.build_training_set({"layout": "got10k", "root": str(tmp_path)}).items
    present = ~seq.absent()
    assert present.tolist() == [True, True, False, False, True, True]
    assert list(video.frames) == [str(p) for p, keep in zip(seq.frames, present) if keep]
    np.testing.assert_array_equal(video.boxes, seq.gt[present])
    assert [s.name for s in read_got10k(tmp_path, split="train")] == [seq.name]


def test_training_reads_lasot_boxes_as_stored(tmp_path):
    """Eval shifts LaSOT's 1-based boxes to 0-based; training keeps them as stored (official)."""
    stored = synth.write_lasot(tmp_path)["cat-1"]
    (seq,) = read_lasot(tmp_path)
    (video,) = ts.load_lasot(tmp_path)
    np.testing.assert_array_equal(seq.gt[:-1] + [1, 1, 0, 0], stored)
    np.testing.assert_array_equal(video.boxes, stored)
    assert seq.absent().tolist() == [False] * 5 + [True]


def test_training_refuses_a_test_split(tmp_path):
    frames, gt = make_frames(4)
    d = tmp_path / "GOT-10k_Test_000001"
    write_images(d, frames)
    write_rows(d / "groundtruth.txt", gt[:1])
    with pytest.raises(DatasetError, match="1 ground-truth rows for 4 frames .*nothing to train on"):
        ts.load_got10k(tmp_path)


def test_the_layer_imports_nothing_else_of_the_package():
    code = ("import sys, stmtrack_ros.datasets, stmtrack_ros.datasets.frame_source; "
            "print(sorted(k for k in sys.modules if k.startswith('stmtrack_ros.') "
            "and not k.startswith('stmtrack_ros.datasets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
