"""`stmtrack eval` end to end: synthetic sequences (fresh clone), resumability, the result
layout, the report, and the shared sequences against the measured peer figures."""
import json

import numpy as np
import pytest

from conftest import SHARED, shared_path
from eval_synth import project_sequence
from stmtrack_ros.cli import main
from stmtrack_ros.datasets import load_dataset
from stmtrack_ros.eval import peers, runner


@pytest.fixture
def synth(tmp_path):
    data = tmp_path / "data"
    project_sequence(data, "right", n=16, step=(2.0, 1.0), seed=0)
    project_sequence(data, "down", n=12, step=(0.0, 2.0), seed=1)
    return data


def run_eval(data, out, *extra):
    return main(["eval", "--data", str(data), "--out", str(out), "--no-progress", *extra])


def test_synthetic_run_layout_report_and_resume(synth, tmp_path, capsys):
    out = tmp_path / "res"
    assert run_eval(synth, out, "--trackers", "opencv-csrt,opencv-kcf") == 0
    for label in ("opencv-csrt", "opencv-kcf"):
        boxes = np.loadtxt(out / label / "right" / "right_001.txt", delimiter=",")
        times = np.loadtxt(out / label / "right" / "right_time.txt")
        assert boxes.shape == (16, 4) and times.shape == (16,) and np.all(times[1:] > 0)
        first_gt = np.loadtxt(synth / "right" / "groundtruth.txt", delimiter=",")[0]
        np.testing.assert_allclose(boxes[0], first_gt)        # row 1 = init box, file convention
        assert json.loads((out / label / "run.json").read_text())["kind"] == label
    summary = json.loads((out / "summary.json").read_text())
    csrt = summary["trackers"]["opencv-csrt"]
    assert csrt["overall"]["sequences"] == 2 and csrt["overall"]["frames"] == 15 + 11
    assert csrt["overall"]["auc"] > 0.6, "CSRT should follow a textured patch on a static background"
    for key in ("auc", "precision", "norm_precision", "ao", "sr50", "sr75", "fps"):
        assert csrt["sequences"]["right"][key] is not None
    assert len(csrt["overall"]["success_curve"]) == 21 and len(csrt["overall"]["precision_curve"]) == 51
    table = (out / "results.md").read_text()
    assert "| opencv-csrt |" in table and "AUC per sequence" in table
    for png in ("success.png", "precision.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 100_000
    # resume: nothing is run again, results are untouched
    stamp = (out / "opencv-csrt" / "right" / "right_001.txt").stat().st_mtime_ns
    capsys.readouterr()
    assert run_eval(synth, out, "--trackers", "opencv-csrt") == 0
    assert (out / "opencv-csrt" / "right" / "right_001.txt").stat().st_mtime_ns == stamp
    # an incomplete result file is redone
    (out / "opencv-csrt" / "down" / "down_001.txt").write_text("1,2,3,4\n")
    assert run_eval(synth, out, "--trackers", "opencv-csrt") == 0
    assert np.loadtxt(out / "opencv-csrt" / "down" / "down_001.txt", delimiter=",").shape == (12, 4)


def test_parallel_workers_give_same_boxes(synth, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_eval(synth, a, "--trackers", "opencv-kcf", "--workers", "1") == 0
    assert run_eval(synth, b, "--trackers", "opencv-kcf", "--workers", "2") == 0
    for s in ("right", "down"):
        np.testing.assert_array_equal(np.loadtxt(a / "opencv-kcf" / s / f"{s}_001.txt", delimiter=","),
                                      np.loadtxt(b / "opencv-kcf" / s / f"{s}_001.txt", delimiter=","))


def test_subset_max_frames_and_bad_input(synth, tmp_path, capsys):
    out = tmp_path / "res"
    assert run_eval(synth, out, "--trackers", "opencv-kcf", "--sequences", "down", "--max-frames", "5") == 0
    assert np.loadtxt(out / "opencv-kcf" / "down" / "down_001.txt", delimiter=",").shape == (5, 4)
    assert not (out / "opencv-kcf" / "right").exists()
    capsys.readouterr()
    assert run_eval(synth, out, "--trackers", "opencv-kcf", "--sequences", "nope") == 2
    assert "unknown sequence(s) nope" in capsys.readouterr().err
    assert run_eval(synth, out, "--trackers", "siamfc") == 2
    assert "unknown tracker(s) siamfc" in capsys.readouterr().err
    assert run_eval(synth, out, "--trackers", "opencv-kcf", "--max-frames", "1") == 2
    assert run_eval(tmp_path / "missing", out, "--trackers", "opencv-kcf") == 2
    assert "not found" in capsys.readouterr().err


def test_nanotrack_skipped_with_message_when_weights_absent(synth, tmp_path, capsys):
    out = tmp_path / "res"
    empty = tmp_path / "no_weights"
    empty.mkdir()
    rc = run_eval(synth, out, "--trackers", "opencv-kcf,opencv-nano", "--nanotrack-dir", str(empty),
                  "--max-frames", "4")
    assert rc == 0
    err = capsys.readouterr().err
    assert "opencv-nano skipped" in err and "nanotrack_backbone_sim.onnx" in err
    assert (out / "opencv-kcf").is_dir() and not (out / "opencv-nano").exists()
    assert run_eval(synth, out, "--trackers", "opencv-nano", "--nanotrack-dir", str(empty)) == 2


def test_settings_mismatch_refused(synth, tmp_path, capsys):
    out = tmp_path / "res"
    spec = runner.TrackerSpec("opencv-kcf")
    runner.check_settings(out, spec)
    (out / "opencv-kcf" / "run.json").write_text('{"kind": "opencv-kcf", "other": 1}')
    assert run_eval(synth, out, "--trackers", "opencv-kcf") == 2
    assert "other settings" in capsys.readouterr().err


def _peer_reference(tracker, seq):
    ref = json.loads((SHARED / "weights" / "peer_results_opencv.json").read_text())
    return next(r for r in ref["results"] if r["tracker"] == tracker and r["seq"] == seq)


@pytest.mark.parametrize("kind,ref_name,seq", [("opencv-nano", "NanoV2", "Crossing"),
                                               ("opencv-csrt", "CSRT", "Football1"),
                                               ("opencv-kcf", "KCF", "building5")])
def test_shared_sequence_reproduces_peer_figures(kind, ref_name, seq, tmp_path):
    data = shared_path("data")
    if kind == "opencv-nano":
        shared_path("weights", "nanotrack", "nanotrackv2")
    out = tmp_path / "res"
    assert run_eval(data, out, "--trackers", kind, "--sequences", seq) == 0
    got = json.loads((out / "summary.json").read_text())["trackers"][kind]["sequences"][seq]
    ref = _peer_reference(ref_name, seq)
    assert got["frames"] == ref["frames"] - 1
    assert abs(got["auc"] - ref["auc"]) < 0.02, (got["auc"], ref["auc"])
    assert abs(got["precision"] - ref["prec20"]) < 0.03


def test_shared_subset_end_to_end(tmp_path):
    """The CI-sized run: two shared sequences, 12 frames each, all available peers."""
    data = shared_path("data")
    out = tmp_path / "res"
    trackers = "opencv-csrt,opencv-kcf" + (",opencv-nano" if peers.NANOTRACK_DIR.is_dir() else "")
    assert run_eval(data, out, "--trackers", trackers, "--sequences", "Crossing,ball1",
                    "--max-frames", "12", "--workers", "2") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sequences"] == ["Crossing", "ball1"] and summary["max_frames"] == 12
    for label in trackers.split(","):
        o = summary["trackers"][label]["overall"]
        assert o["frames"] == 22 and 0 <= o["auc"] <= 1 and o["fps"] > 0
    seq = load_dataset(data, names=["ball1"])[0]
    boxes = np.loadtxt(out / "opencv-csrt" / "ball1" / "ball1_001.txt", delimiter=",")
    np.testing.assert_allclose(boxes[0], seq.to_native(seq.gt[:1])[0], atol=1e-3)


def test_tracker_params_reach_the_tracker_and_name_the_results(synth, tmp_path, capsys):
    out = tmp_path / "res"
    assert run_eval(synth, out, "--trackers", "stmtrack", "--mode", "bounded", "--max-frames", "4",
                    "--param", "memory_threshold=0.5", "--param", "lost_threshold=0.25") == 0
    label = "stmtrack-bounded-got10k-lost_threshold0.25-memory_threshold0.5"
    run = json.loads((out / label / "run.json").read_text())
    assert run["params"] == {"lost_threshold": 0.25, "memory_threshold": 0.5}
    assert np.loadtxt(out / label / "right" / "right_001.txt", delimiter=",").shape == (4, 4)
    spec = runner.TrackerSpec(runner.STMTRACK, checkpoint=run["checkpoint"], mode="bounded",
                              hp="got10k", params=(("lost_threshold", 0.25), ("memory_threshold", 0.5)))
    assert spec.label == label and spec.settings() == run
    params = runner.StmtrackAdapter(spec)._tracker.params
    assert (params.memory_threshold, params.lost_threshold, params.mode) == (0.5, 0.25, "bounded")
    # bad names and values: one clear line, exit code 2
    capsys.readouterr()
    assert run_eval(synth, out, "--trackers", "stmtrack", "--param", "memory_treshold=0.5") == 2
    assert "memory_threshold" in capsys.readouterr().err  # the known names are listed
    assert run_eval(synth, out, "--trackers", "stmtrack", "--param", "recover_threshold=0.1",
                    "--param", "lost_threshold=0.2") == 2
    assert "hysteresis" in capsys.readouterr().err
