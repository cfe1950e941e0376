"""`stmtrack pseudo-tracks`: random targets in a real panned image, followed by the NanoTrack
teacher, written in the train_data layout the training reads."""
import csv
import json

import cv2
import numpy as np

from stmtrack_ros import cli
from stmtrack_ros.eval.metrics import rect_iou
from stmtrack_ros.train import training_set as ds

SHIFT = np.array([3.0, 2.0])  # the camera pans: scene content moves 3 px left, 2 px up a frame


def _panned_frames(image_path, folder, n=24):
    scene = cv2.resize(cv2.imread(str(image_path)), (480, 360))
    folder.mkdir()
    for t in range(n):
        x, y = (SHIFT * t).astype(int)
        cv2.imwrite(str(folder / f"{t:04d}.png"), scene[y:y + 240, x:x + 320])


def test_pseudo_tracks_follow_a_panned_real_image(shared, tmp_path):
    shared("weights", "nanotrack", "nanotrackv2", "nanotrack_head_sim.onnx")
    images = shared("train_data", "images", "voc_mAP_sample")
    _panned_frames(sorted(images.rglob("*.jpg"))[0], tmp_path / "pan")
    out = tmp_path / "pseudo"
    rc = cli.main(["pseudo-tracks", "--video", str(tmp_path / "pan"), "--out", str(out),
                   "--tracks-per-video", "6", "--length", "12", "--min-length", "5", "--seed", "1"])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "sequence_boxes.csv")))
    tracks = {}
    for r in rows:
        tracks.setdefault(r["track_id"], []).append(
            (int(r["frame_index"]), np.array([float(r[k]) for k in "xywh"])))
        assert (out / r["image"]).is_file()
    assert len(tracks) >= 3
    good = total = 0
    for boxes in tracks.values():
        t0, b0 = boxes[0]
        assert [t for t, _ in boxes] == list(range(t0, t0 + len(boxes)))  # consecutive frames
        assert 5 <= len(boxes) <= 12
        for t, b in boxes:
            truth = b0.copy()
            truth[:2] -= SHIFT * (t - t0)
            good += rect_iou(b[None], truth[None])[0] > 0.5
            total += 1
    assert good >= 0.9 * total  # the kept boxes follow the scene
    summary = json.loads((out / "pseudo_tracks.json").read_text())
    assert summary["tracks"] == len(tracks) and summary["boxes"] == len(rows)
    # the training reads it as videos, one per track
    ts = ds.build_training_set({"layout": "train_data_sequences", "root": str(out)})
    assert len(ts) == len(tracks) and sum(len(v) for v in ts.items) == len(rows)


def test_pseudo_tracks_reports_a_missing_video(tmp_path, capsys):
    rc = cli.main(["pseudo-tracks", "--video", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "nope.mp4: not an image folder or a video file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
