"""Scoring stored results: file round trip in the dataset convention, summary, table, plots."""
import json

import numpy as np

from eval_synth import project_sequence
from stmtrack_ros.datasets import load_dataset
from stmtrack_ros.eval import report, runner


def test_summary_from_stored_results(tmp_path):
    data = tmp_path / "data"
    gt = project_sequence(data, "a", n=11)
    project_sequence(data, "b", n=6, seed=1)
    seqs = load_dataset(data)
    out = tmp_path / "res"
    perfect, half = runner.TrackerSpec("opencv-csrt"), runner.TrackerSpec("opencv-kcf")
    for spec in (perfect, half):
        runner.check_settings(out, spec)
    times = np.full(11, 0.01)
    times[0] = 1.0                                           # init time is not part of FPS
    runner.save_result(out, perfect.label, seqs[0], seqs[0].gt, times)
    lost = seqs[0].gt.copy()
    lost[6:] = np.nan                                        # reported lost from frame 7 on
    runner.save_result(out, half.label, seqs[0], lost, times)
    # files are in the dataset's 1-based convention; loading converts back
    stored = np.loadtxt(out / "opencv-csrt" / "a" / "a_001.txt", delimiter=",")
    np.testing.assert_allclose(stored, gt + [1, 1, 0, 0])
    boxes, t = runner.load_result(out, perfect.label, seqs[0])
    np.testing.assert_allclose(boxes, seqs[0].gt)

    s = report.summarize(out, ["opencv-csrt", "opencv-kcf"], seqs, meta={"data": "x"})
    p, h = s["trackers"]["opencv-csrt"], s["trackers"]["opencv-kcf"]
    assert p["missing"] == ["b"] and p["overall"]["sequences"] == 1
    assert abs(p["overall"]["auc"] - (1.0 - 1 / 21)) < 1e-6  # IoU 1 is not > 1: the last threshold fails
    assert p["overall"]["precision"] == 1.0 and p["overall"]["ao"] == 1.0
    assert abs(p["overall"]["fps"] - 100.0) < 1e-6
    assert h["sequences"]["a"]["lost_frames"] == 5
    assert abs(h["overall"]["ao"] - 0.5) < 1e-6 and abs(h["overall"]["precision"] - 0.5) < 1e-6
    assert s["data"] == "x" and "2..N" in s["protocol"]["frames_scored"]
    s1 = report.summarize(out, ["opencv-kcf"], seqs, count_init_frame=True)
    assert s1["trackers"]["opencv-kcf"]["overall"]["frames"] == 11
    assert abs(s1["trackers"]["opencv-kcf"]["overall"]["ao"] - 6 / 11) < 1e-6

    paths = report.write_report(s, out)
    assert json.loads(paths["summary"].read_text())["trackers"]["opencv-csrt"]["overall"]["frames"] == 10
    table = paths["table"].read_text().splitlines()
    assert table[2].startswith("| opencv-csrt | 0.952 | 1.000 |")   # sorted by AUC
    assert table[3].startswith("| opencv-kcf |")
    for key in ("success_plot", "precision_plot"):
        assert paths[key].read_bytes()[:4] == b"\x89PNG" and paths[key].stat().st_size < 100_000
