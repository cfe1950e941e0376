"""research/make_longterm_proxy.py on a CI-sized slice of the training videos: known absence
written as NaN rows in the project layout, geometry that matches what the frames show, the same
output for the same seed, and `stmtrack eval --format auto` scoring it the long-term way."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, shared_path
from research import make_longterm_proxy as proxy
from stmtrack_ros.cli import main
from stmtrack_ros.datasets import load_dataset


def make(out, *extra):
    return subprocess.run([sys.executable, "-m", "research.make_longterm_proxy",
                           "--train-data", str(shared_path("train_data")), "--out", str(out), *extra],
                          cwd=REPO, check=False, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ltproxy")
    res = make(out, "--only", "soapbox", "dog", "--kinds", "exit", "occlusion", "--max-frames", "32")
    assert res.returncode == 0, res.stderr
    return out


def test_visible_and_pingpong_geometry():
    assert proxy.pingpong(4, 9) == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    view = (100, 50, 200, 100)
    box, frac = proxy.visible(np.array([90.0, 60, 20, 10]), view)      # half outside on the left
    np.testing.assert_allclose(box, [0, 10, 10, 10])
    assert frac == pytest.approx(0.5)
    box, frac = proxy.visible(np.array([150.0, 60, 20, 10]), view, cover=(150, 60, 16, 10))
    assert np.isnan(box).all() and frac == pytest.approx(0.2)         # 80 % under the patch


def test_events_repeat_the_absence_evenly():
    """--events: the target goes away that many times, each time out of view for `absent`
    frames (exit: the view pans away and back) or under the patch (occlusion)."""
    n, absent = 90, 10
    boxes = np.tile([100.0, 60, 30, 30], (n, 1))          # a still target in a 320x240 frame
    starts = proxy.event_starts(n, 3)
    assert starts == [proxy.LEAD, proxy.LEAD + 27, proxy.LEAD + 54]
    views = proxy.exit_views(boxes, (320, 240), (240, 216), absent, starts)
    seen = np.array([np.isfinite(proxy.visible(b, (*v, 240, 216))[0]).all() for b, v in zip(boxes, views)])
    assert len(proxy._spans(~seen)) == 3 and seen[0] and seen[-1]
    path = proxy.patch_path(boxes, (45, 45), absent, 1.0, starts)
    covered = [np.isfinite(p).all() and abs(p[0] - 115) < 1 for p in path]
    assert [proxy._spans(covered)[k][0] for k in range(3)] == [s + proxy.PAN - 1 for s in starts]


def test_slice_is_project_layout_with_known_absence(slice_dir):
    manifest = json.loads((slice_dir / "longterm_proxy.json").read_text())
    assert sorted(manifest["videos"]) == ["dog_exit", "dog_occlusion", "soapbox_exit", "soapbox_occlusion"]
    seqs = load_dataset(slice_dir)                          # --format auto: the project layout
    assert {s.dataset for s in seqs} == {"project"} and all(len(s.frames) == 32 for s in seqs)
    for seq in seqs:
        info = manifest["videos"][seq.name]
        absent = seq.absent()
        assert proxy._spans(absent) == info["absent_spans"] and absent.sum() == info["absent_frames"] >= 6
        assert not absent[0] and not absent[-8:].all(), "starts tracked, the target comes back"
        h, w = cv2.imread(str(seq.frames[0])).shape[:2]
        assert [w, h] == info["image_size_wh"]
        ok = seq.gt[~absent]
        assert np.all(ok[:, :2] >= 0) and np.all(ok[:, 0] + ok[:, 2] <= w + 1e-6)
    # exit: while away, the view shows the partner video, not this one's first view
    exit_seq = next(s for s in seqs if s.name == "dog_exit")
    first, away = (cv2.imread(str(exit_seq.frames[i])).astype(float) for i in (0, 16))
    assert np.abs(first - away).mean() > 20


def test_same_seed_same_videos(slice_dir, tmp_path):
    assert make(tmp_path, "--only", "dog", "--kinds", "occlusion", "--max-frames", "32").returncode == 0
    a, b = slice_dir / "dog_occlusion", tmp_path / "dog_occlusion"
    assert (a / "groundtruth.txt").read_text() == (b / "groundtruth.txt").read_text()
    assert (a / "img" / "00000015.jpg").read_bytes() == (b / "img" / "00000015.jpg").read_bytes()


def test_bad_arguments_are_one_line_errors(tmp_path):
    res = make(tmp_path, "--only", "no-such-video", "--max-frames", "32")
    assert res.returncode == 2 and "no-such-video" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = make(tmp_path, "--max-frames", "10")
    assert res.returncode == 2 and "--max-frames must be at least" in res.stderr


def test_eval_scores_the_slice_long_term(slice_dir, tmp_path):
    out = tmp_path / "res"
    assert main(["eval", "--data", str(slice_dir), "--trackers", "opencv-kcf", "--no-progress",
                 "--out", str(out)]) == 0
    lt = json.loads((out / "summary.json").read_text())["trackers"]["opencv-kcf"]["longterm"]
    manifest = json.loads((slice_dir / "longterm_proxy.json").read_text())
    assert lt["absent_frames"] == sum(v["absent_frames"] for v in manifest["videos"].values())
    assert lt["frames"] == 4 * 31 and lt["returns"] >= 4 and 0 <= lt["f_score"] <= 1
    assert (out / "pr.png").is_file() and "Long-term" in (out / "results.md").read_text()


def test_fit_lost_thresholds_replays_the_tracker_rule(tmp_path, capsys):
    """research/fit_lost_thresholds.py on a hand-made result: the target is absent on frames
    5-9 and the confidence drops there, so a threshold between the two levels with one low
    frame fires exactly on them; --report scores a given point."""
    from eval_synth import project_sequence
    from stmtrack_ros.eval import runner
    from stmtrack_ros.tracker import TrackState
    data = tmp_path / "data"
    gt = project_sequence(data, "a", n=14)
    rows = gt + [1, 1, 0, 0]
    rows[5:10] = np.nan
    (data / "a" / "groundtruth.txt").write_text("".join(",".join(f"{v:g}" for v in r) + "\n" for r in rows))
    (seq,) = load_dataset(data)
    out = tmp_path / "res"
    spec = runner.TrackerSpec("opencv-kcf")
    runner.check_settings(out, spec)
    conf = np.array([1] + [0.8] * 4 + [0.2] * 5 + [0.7] * 4)
    state = np.full(14, int(TrackState.TRACKING))
    runner.save_result(out, spec.label, seq, gt, np.full(14, 0.01), conf, state)
    from research import fit_lost_thresholds as fit
    args = ["--data", str(data), "--results", str(out / spec.label)]
    capsys.readouterr()
    assert fit.main([*args, "--top", "1"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["absent_recall"] == 1.0 and best["wrong_precision"] == 1.0 and best["lost_frames"] == 1
    assert 0.2 < best["lost_threshold"] <= best["recover_threshold"] <= 0.7
    assert fit.main([*args, "--report", "0.25", "0.3", "5"]) == 0
    late = json.loads(capsys.readouterr().out)         # 5 low frames needed: LOST on the 5th only
    assert late["lost_frames_count"] == 1 and late["absent_recall"] == pytest.approx(0.2)
