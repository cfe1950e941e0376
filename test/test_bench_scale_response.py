"""The scale probe (eval/scale_probe.py, bench/scale_response.py): its box decoding and its JSON,
on the bundled model and the demo clip."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from stmtrack_ros.eval.metrics import rect_iou
from stmtrack_ros.eval.scale_probe import Probe, summarise
from stmtrack_ros.model import default_checkpoint_path, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "stmtrack_ros" / "data" / "demo"


def _module():
    spec = importlib.util.spec_from_file_location("scale_response", REPO / "bench" / "scale_response.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _frames(n):
    cap = cv2.VideoCapture(str(DEMO / "bigbuckbunny_100.mp4"))
    out = [cap.read()[1] for _ in range(n)]
    cap.release()
    return out


def test_probe_boxes_move_with_the_image_and_follow_the_bunny():
    probe = Probe(load_checkpoint(default_checkpoint_path()).eval(), 4.0)
    box = np.array(json.loads((DEMO / "clip.json").read_text())["init_box_xywh"], float)
    f0, f1 = _frames(2)
    shift = (40, 24)  # whole pixels: every crop is the same, so the box moves by exactly this

    def padded(img):  # padded with its own mean colour: the crops' border colour stays put
        mean = [float(v) for v in img.reshape(-1, 3).mean(axis=0)]
        return cv2.copyMakeBorder(img, shift[1], 0, shift[0], 0, cv2.BORDER_CONSTANT, value=mean)

    moved = box + [shift[0], shift[1], 0, 0]
    with torch.inference_mode():
        for factor in (0.67, 1.0, 1.5):
            a = probe.predict(f1, box, probe.memory(f0, box), factor)
            b = probe.predict(padded(f1), moved, probe.memory(padded(f0), moved), factor)
            b_back = np.array(b) - [shift[0], shift[1], 0, 0]
            assert np.allclose(a, b_back, atol=0.25), (factor, a, b_back.tolist())
        # one frame later the bunny has hardly moved: the factor-1 box overlaps it
        assert rect_iou(probe.predict(f1, box, probe.memory(f0, box), 1.0), box)[0] > 0.5


def test_summary_and_cli_json(tmp_path, capsys):
    sr = _module()
    s = summarise([(0.8, 1.0, 1.1, 0.9), (0.4, 1.5, 1.4, 1.6), (0.6, 1.2, 1.0, 1.4)])
    assert s == {"pairs": 3, "mean_iou": 0.6, "sr50": 0.6667, "size_ratio_median": 1.2,
                 "w_ratio_median": 1.1, "h_ratio_median": 1.4}
    # a project-layout folder made of the demo clip's first frames (box constant: the probe
    # only needs a plausible ground truth)
    seq = tmp_path / "data" / "bunny"
    (seq / "img").mkdir(parents=True)
    box = json.loads((DEMO / "clip.json").read_text())["init_box_xywh"]
    for i, f in enumerate(_frames(5)):
        cv2.imwrite(str(seq / "img" / f"{i + 1:08d}.jpg"), f)
    (seq / "groundtruth.txt").write_text("\n".join(",".join(str(v) for v in box) for _ in range(5)) + "\n")
    out = tmp_path / "sr.json"
    res = sr.main(["--data", str(tmp_path / "data"), "--factors", "1,1.5", "--per-sequence", "3",
                   "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    assert res["factors"]["1.0"]["pairs"] == 3 and set(res["sequences"]) == {"bunny"}
    assert 0.0 <= res["factors"]["1.5"]["mean_iou"] <= 1.0
