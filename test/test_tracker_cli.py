"""`stmtrack track` end to end: a real sequence (compared with the official boxes), a video
file with --video-out, and clear errors."""
import cv2
import numpy as np
import pytest

from conftest import TEST_DATA, shared_path
from stmtrack_ros.cli import main
from stmtrack_ros.model import save_checkpoint
from tracker_support import one_thread, square_frame, tiny_net  # noqa: F401


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.pt", tiny_net())


@pytest.mark.slow
def test_track_real_sequence_matches_official(tmp_path, portable_seed1_checkpoint):
    seq = shared_path("data", "Crossing")
    out = tmp_path / "boxes.txt"
    rc = main(["track", "--checkpoint", str(portable_seed1_checkpoint), "--sequence", str(seq),
               "--mode", "exact", "--hp", "got10k", "--backend", "torch", "--frames", "4", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    got = np.loadtxt(out, delimiter=",")
    want = np.loadtxt(TEST_DATA / "parity" / "track_seed1_Crossing.txt", delimiter=",")[:4]
    assert got.shape == (4, 4)
    assert np.array_equal(got[0], want[0])                    # line 1 = groundtruth line 1, unchanged
    assert np.abs(got - want).max() <= 0.05


def test_track_video_with_annotated_output(tmp_path, tiny_ckpt, capsys):
    video = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    assert w.isOpened()
    for t in range(8):
        w.write(square_frame(t))
    w.release()
    out, ann = tmp_path / "b.txt", tmp_path / "ann.avi"
    rc = main(["track", "--checkpoint", str(tiny_ckpt), "--sequence", str(video), "--init", "30,40,30,30",
               "--frames", "6", "--out", str(out), "--video-out", str(ann), "--mode", "bounded"])
    assert rc == 0, capsys.readouterr().err
    boxes = np.loadtxt(out, delimiter=",")
    assert boxes.shape == (6, 4) and np.all(np.isfinite(boxes))
    assert boxes[0].tolist() == [30, 40, 30, 30]
    cap = cv2.VideoCapture(str(ann))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    cap.release()


def test_track_image_folder_with_groundtruth(tmp_path, tiny_ckpt):
    (tmp_path / "seq" / "img").mkdir(parents=True)
    for t in range(5):
        cv2.imwrite(str(tmp_path / "seq" / "img" / f"{t + 1:08d}.png"), square_frame(t))
    (tmp_path / "seq" / "groundtruth.txt").write_text("30\t40\t30\t30\n1,1,1,1\n")
    out = tmp_path / "b.txt"
    assert main(["track", "--checkpoint", str(tiny_ckpt), "--sequence", str(tmp_path / "seq"),
                 "--out", str(out), "--no-progress"]) == 0
    boxes = np.loadtxt(out, delimiter=",")
    assert boxes.shape == (5, 4) and boxes[0].tolist() == [30, 40, 30, 30]


@pytest.mark.parametrize("extra, msg", [
    (["--sequence", "/nonexistent/seq"], "sequence not found"),
    (["--init", "1,2,3"], "want 4"),
    (["--init", "0,0,0,0"], "positive"),
    (["--frames", "0"], "--frames"),
    (["--checkpoint", "/nonexistent.pt"], "checkpoint not found"),
])
def test_track_errors(tmp_path, tiny_ckpt, capsys, extra, msg):
    seq = tmp_path / "imgs"
    seq.mkdir()
    cv2.imwrite(str(seq / "1.png"), square_frame(0))
    args = {"--checkpoint": str(tiny_ckpt), "--sequence": str(seq), "--init": "30,40,30,30",
            "--out": str(tmp_path / "o.txt")}
    for k in range(0, len(extra), 2):
        args[extra[k]] = extra[k + 1]
    argv = ["track", "--no-progress"] + [x for kv in args.items() for x in kv]
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_track_without_init_box(tmp_path, tiny_ckpt, capsys):
    seq = tmp_path / "imgs"
    seq.mkdir()
    cv2.imwrite(str(seq / "1.png"), square_frame(0))
    assert main(["track", "--checkpoint", str(tiny_ckpt), "--sequence", str(seq),
                 "--out", str(tmp_path / "o.txt")]) == 2
    assert "no init box" in capsys.readouterr().err
