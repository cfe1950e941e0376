"""Long-term metrics (eval.longterm): each definition on small hand-made arrays with answers
worked out by hand, the tracking F-score against a second, frame-by-frame computation written
from the VOT long-term definitions, absent-target frames from every format's labels, and the
report end to end (confidence/state files, summary.json, results.md, pr.png)."""
import json

import numpy as np
import pytest

from eval_synth import make_frames, project_sequence, write_images, write_rows
from stmtrack_ros.datasets import load_dataset
from stmtrack_ros.eval import longterm as lt
from stmtrack_ros.eval import report, runner
from stmtrack_ros.tracker import TrackState

T, L = int(TrackState.TRACKING), int(TrackState.LOST)


def test_pr_curve_known_values():
    # 4 frames: IoU .8 (conf .9), .6 (conf .5), absent with a box (conf .7), no box (conf .95)
    ious = np.array([0.8, 0.6, 0.0, 0.0])
    conf = np.array([0.9, 0.5, 0.7, 0.95])
    has_box = np.array([True, True, True, False])
    present = np.array([True, True, False, True])
    p, r = lt.pr_curve(ious, conf, has_box, present, np.array([np.inf, 0.8, 0.6, 0.0]))
    # inf: nothing passes -> (1, 0); 0.8: frame 0 only -> (.8, .8/3); 0.6: frames 0, 2 -> (.4, .8/3);
    # 0.0: frames 0, 1, 2 -> (1.4/3, 1.4/3); the frame without a box never counts
    np.testing.assert_allclose(p, [1.0, 0.8, 0.4, 1.4 / 3])
    np.testing.assert_allclose(r, [0.0, 0.8 / 3, 0.8 / 3, 1.4 / 3])
    np.testing.assert_allclose(lt.f_curve(p, r), [0.0, 2 * .8 * (.8 / 3) / (.8 + .8 / 3),
                                                  2 * .4 * (.8 / 3) / (.4 + .8 / 3), 1.4 / 3])


def test_thresholds_follow_the_toolkit_rule():
    thr = lt.thresholds([0.2, np.nan, 0.9, 0.5], resolution=100)   # fewer than 98: all of them
    assert thr.tolist() == [np.inf, 0.9, 0.5, 0.2, -np.inf]
    thr = lt.thresholds(np.arange(1000) / 1000.0, resolution=12)    # 10 order statistics, descending
    assert len(thr) == 12 and np.all(np.diff(thr[1:-1]) < 0)
    assert thr[1] == pytest.approx(0.999 - 0.1) and thr[-2] == pytest.approx(0.1 - 0.001)


def test_auroc_and_spearman_known_values():
    # positives .9 .6, negatives .6 .1: pairs (.9>.6) (.9>.1) (.6=.6 -> 1/2) (.6>.1) = 3.5 / 4
    s = np.array([0.9, 0.6, 0.6, 0.1])
    pos = np.array([True, True, False, False])
    assert lt.auroc(s, pos, ~pos) == pytest.approx(0.875)
    assert np.isnan(lt.auroc(s, pos, np.zeros(4, bool)))          # no negatives
    assert lt.rankdata([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert lt.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert lt.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks x 1 2 3 4, y 1 3 2 4 -> d = 0 1 1 0, 1 - 6*2 / (4*15) = 0.8
    assert lt.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_lost_detection_and_threshold_rule():
    lost = np.array([1, 1, 0, 0, 1], bool)
    wrong = np.array([1, 0, 1, 0, 1], bool)
    assert lt.detection_scores(lost, wrong) == pytest.approx((2 / 3, 2 / 3))
    # confidence < t on wrong frames: the 3 lowest are wrong, the 4th right, the 5th wrong
    conf = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    wrong = np.array([1, 1, 1, 0, 1], bool)
    r, t = lt.recall_at_precision(conf, wrong, 0.8)
    # flag 3: P 1, R 3/4; flag 5: P 4/5 = 0.8, R 1 -> the best is all five
    assert r == pytest.approx(1.0) and t > 0.5
    r, t = lt.recall_at_precision(conf, wrong, 0.9)
    assert r == pytest.approx(0.75) and 0.3 < t < 0.4
    r, t = lt.recall_at_precision(conf, ~wrong, 0.8)     # the single right frame is never first
    assert r == 0.0 and np.isnan(t)


def test_refound_counts_returns():
    present = np.array([1, 0, 0, 1, 1, 1, 0, 1, 1], bool)
    ious = np.array([.9, 0, 0, .2, .7, .8, 0, .1, .1])
    state = np.array([T, L, L, L, T, T, L, T, T])
    assert lt.absences(present) == [(1, 3), (6, 7)]
    assert lt.refound(ious, state, present, within=2) == (2, 1)   # back at 3: frame 4 TRACKING .7
    assert lt.refound(ious, state, present, within=1) == (2, 0)
    state_lost = state.copy()
    state_lost[4] = L                                             # a LOST frame does not count
    assert lt.refound(ious, state_lost, present, within=2) == (2, 0)
    assert lt.absences(np.array([1, 1, 0], bool)) == []           # never back: not a return


def _f_score_by_frames(seqs):
    """Second computation, frame by frame in plain Python, from the VOT-LT paper's formulas:
    Pr(t) = sum of IoU over frames with a box and confidence >= t / their number (1 if none),
    Re(t) = same sum / present frames (0 if none passes), averaged over sequences, F = max."""
    pool = sorted((c for s in seqs for c in s["confidence"]), reverse=True)
    thr = [float("inf")] + pool + [float("-inf")]
    best = 0.0
    for t in thr:
        ps, rs = [], []
        for s in seqs:
            total, n = 0.0, 0
            for iou, c, box in zip(s["ious"], s["confidence"], s["has_box"]):
                if box and c >= t:
                    total, n = total + iou, n + 1
            ps.append(total / n if n else 1.0)
            rs.append(total / sum(s["present"]) if n else 0.0)
        p, r = sum(ps) / len(ps), sum(rs) / len(rs)
        best = max(best, 2 * p * r / (p + r) if p + r > 0 else 0.0)
    return best


def test_f_score_matches_frame_by_frame_computation():
    rng = np.random.default_rng(7)
    tables = []
    for n in (30, 45, 20):
        pred_ok = rng.random(n) < 0.9
        gt = np.stack([rng.uniform(0, 200, n), rng.uniform(0, 150, n), np.full(n, 40.0), np.full(n, 30.0)], 1)
        pred = gt + rng.normal(0, 12, (n, 4))
        pred[~pred_ok] = np.nan
        present = rng.random(n) < 0.8
        conf = np.round(rng.random(n), 2)                 # ties on purpose
        state = np.where(conf < 0.3, L, T)
        tables.append(lt.frame_table(pred, gt, present, conf, state, (320, 240)))
    fast = lt.summarize(tables)
    assert fast["frames"] == 95 and len(fast["pr_thresholds"]) == 95 + 2   # < 98 values: all kept
    assert fast["f_score"] == pytest.approx(_f_score_by_frames(tables), abs=1e-12)
    assert 0.2 < fast["f_score"] < 0.9


def test_frame_table_scores_absent_and_missing_boxes():
    gt = np.array([[10, 10, 20, 20]] * 4, float)
    pred = np.array([[10, 10, 20, 20], [10, 10, 20, 20], [np.nan] * 4, [40, 40, 10, 10]], float)
    present = np.array([True, False, True, True])
    t = lt.frame_table(pred, gt, present, [0.9, 0.8, 0.1, 0.6], [T, T, L, T])
    np.testing.assert_allclose(t["ious"], [1.0, 0.0, 0.0, 0.0])   # absent: 0 although the box fits
    assert t["wrong"].tolist() == [False, True, True, True]
    assert t["has_box"].tolist() == [True, True, False, True]
    assert t["lost"].tolist() == [False, False, True, False]


def test_absent_frames_from_every_format(tmp_path):
    frames, gt = make_frames(6)
    got = tmp_path / "got" / "GOT-10k_Val_000001"
    write_images(got, frames)
    write_rows(got / "groundtruth.txt", gt)
    (got / "absence.label").write_text("0\n0\n1\n0\n0\n0\n")
    (got / "cover.label").write_text("8\n8\n0\n0\n8\n8\n")       # cover 0 (full occlusion) counts too
    (seq,) = load_dataset(tmp_path / "got")
    assert seq.absent().tolist() == [False, False, True, True, False, False]
    las = tmp_path / "lasot" / "cat" / "cat-1"
    write_images(las / "img", frames)
    write_rows(las / "groundtruth.txt", gt + [1, 1, 0, 0])
    (las / "full_occlusion.txt").write_text("0,1,0,0,0,0")
    (las / "out_of_view.txt").write_text("0,0,0,0,1,1")
    (seq,) = load_dataset(tmp_path / "lasot")
    assert seq.absent().tolist() == [False, True, False, False, True, True]
    assert seq.truncated(3).absent().tolist() == [False, True, False]
    nan_gt = gt + [1, 1, 0, 0]
    nan_gt[3] = np.nan                                            # UAV123 / project: NaN rows
    d = tmp_path / "proj" / "s"
    write_images(d / "img", frames)
    write_rows(d / "groundtruth.txt", nan_gt)
    (seq,) = load_dataset(tmp_path / "proj")
    assert seq.absent().tolist() == [False, False, False, True, False, False]


def test_report_writes_longterm_metrics_and_plot(tmp_path):
    data = tmp_path / "data"
    project_sequence(data, "a", n=11)
    (seq,) = load_dataset(data)
    out = tmp_path / "res"
    spec = runner.TrackerSpec("opencv-kcf")
    runner.check_settings(out, spec)
    boxes = seq.gt.copy()
    boxes[6:9] += [60, 0, 0, 0]                                   # frames 7-9: on something else
    conf = np.array([1, .9, .9, .8, .9, .8, .2, .3, .25, .9, .9])
    state = np.array([T, T, T, T, T, T, T, L, L, T, T])
    runner.save_result(out, spec.label, seq, boxes, np.full(11, 0.01), conf, state)
    assert runner.load_scores(out, spec.label, seq)[1].tolist() == state.tolist()
    assert (out / spec.label / "a" / "a_001_confidence.value").read_text().splitlines()[6] == "0.200000"
    s = report.summarize(out, [spec.label], [seq])
    o = s["trackers"][spec.label]["longterm"]
    assert o["auroc"] == 1.0 and o["lost_precision"] == 1.0 and o["lost_recall"] == pytest.approx(2 / 3)
    assert o["wrong_recall_at_p80"] == 1.0 and o["frames"] == 10 and o["wrong_frames"] == 3
    assert o["confidence_source"] == "failure flag" and o["absent_frames"] == 0
    # best F at t = 0.8: the 7 right frames (Pr 1, Re 7/10); lower t adds the wrong frames
    assert o["f_score"] == pytest.approx(1.4 / 1.7) and o["lt_recall"] == pytest.approx(7 / 10)
    paths = report.write_report(s, out)
    assert json.loads(paths["summary"].read_text())["trackers"][spec.label]["longterm"]["auroc"] == 1.0
    assert "| opencv-kcf | 0.824 | 1.000 | 0.700 | 1.000 |" in paths["table"].read_text()
    assert paths["pr_plot"].read_bytes()[:4] == b"\x89PNG"
    # results without confidence files (older runs) give no long-term block, not wrong numbers
    (out / spec.label / "a" / "a_001_state.value").unlink()
    assert report.summarize(out, [spec.label], [seq])["trackers"][spec.label]["longterm"] == {}
