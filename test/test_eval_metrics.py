"""Metrics agree with the GOT-10k authors' toolkit (`got10k` on PyPI) to 1e-6, on synthetic
boxes and on the shared sequences' real ground truth. The toolkit's experiment classes want
dataset folders in their constructors, so their curve/score methods are called unbound on a
bare instance (no download, no dataset)."""
import numpy as np
import pytest

from conftest import shared_path
from stmtrack_ros.datasets import load_dataset
from stmtrack_ros.eval import metrics

g10k_metrics = pytest.importorskip("got10k.utils.metrics")
otb_mod = pytest.importorskip("got10k.experiments.otb")
got_mod = pytest.importorskip("got10k.experiments.got10k")

TOL = 1e-6


def _otb():
    exp = object.__new__(otb_mod.ExperimentOTB)
    exp.nbins_iou, exp.nbins_ce = 21, 51
    return exp


def _got():
    return object.__new__(got_mod.ExperimentGOT10k)


def random_pairs(rng, n, size=(640, 480), jitter=30.0):
    """Ground truth and predictions near it, some far off, some partly outside the image."""
    w, h = size
    gt = np.stack([rng.uniform(-20, w - 10, n), rng.uniform(-20, h - 10, n),
                   rng.uniform(4, 200, n), rng.uniform(4, 150, n)], axis=1)
    pred = gt + rng.normal(0, jitter, (n, 4))
    pred[:, 2:] = np.abs(pred[:, 2:]) + 1
    far = rng.random(n) < 0.15
    pred[far, :2] += rng.uniform(100, 400, (far.sum(), 2))
    pred[: n // 20] = gt[: n // 20]          # some perfect frames (IoU 1)
    return gt, pred


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(1234)


def test_iou_and_centre_error_match_toolkit(rng):
    gt, pred = random_pairs(rng, 2000)
    np.testing.assert_allclose(metrics.rect_iou(pred, gt), g10k_metrics.rect_iou(pred.copy(), gt.copy()),
                               atol=TOL, rtol=0)
    np.testing.assert_allclose(metrics.center_error(pred, gt), g10k_metrics.center_error(pred, gt),
                               atol=TOL, rtol=0)
    bound = (640, 480)
    np.testing.assert_allclose(metrics.rect_iou(pred, gt, bound=bound),
                               g10k_metrics.rect_iou(pred.copy(), gt.copy(), bound=bound), atol=TOL, rtol=0)
    assert 0.2 < metrics.rect_iou(pred, gt).mean() < 0.9     # a mix of good and bad frames


def test_iou_known_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [10, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10]], float)
    np.testing.assert_allclose(metrics.rect_iou(a, b), [1.0, 0.0, 50 / 150, 25 / 175], atol=1e-12)
    np.testing.assert_allclose(metrics.center_error(a, b), [0, 10, 5, np.hypot(5, 5)], atol=1e-12)
    # shift invariance: 1-based and 0-based conventions give the same numbers
    np.testing.assert_allclose(metrics.rect_iou(a + [1, 1, 0, 0], b + [1, 1, 0, 0]), metrics.rect_iou(a, b))


def test_sequence_curves_match_otb_toolkit(rng):
    gt, pred = random_pairs(rng, 500)
    exp = _otb()
    # OTB toolkit protocol: row 0 replaced by the ground truth and scored
    boxes = pred.copy()
    boxes[0] = gt[0]
    s_ref, p_ref = exp._calc_curves(g10k_metrics.rect_iou(boxes.copy(), gt.copy()),
                                    g10k_metrics.center_error(boxes, gt))
    m = metrics.evaluate_sequence(pred, gt, count_init_frame=True)
    np.testing.assert_allclose(m["success_curve"], s_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(m["precision_curve"], p_ref, atol=TOL, rtol=0)
    assert abs(m["auc"] - np.mean(s_ref)) < TOL
    assert abs(m["precision"] - p_ref[20]) < TOL
    # default protocol: frames 2..N only
    s_ref2, p_ref2 = exp._calc_curves(g10k_metrics.rect_iou(pred[1:].copy(), gt[1:].copy()),
                                      g10k_metrics.center_error(pred[1:], gt[1:]))
    m2 = metrics.evaluate_sequence(pred, gt)
    assert m2["frames"] == len(gt) - 1
    np.testing.assert_allclose(m2["success_curve"], s_ref2, atol=TOL, rtol=0)
    np.testing.assert_allclose(m2["precision_curve"], p_ref2, atol=TOL, rtol=0)


def test_failed_frames_count_as_misses_like_toolkit(rng):
    gt, pred = random_pairs(rng, 300)
    pred[10:40] = np.nan                     # tracker reported lost
    s_ref, p_ref = _otb()._calc_curves(g10k_metrics.rect_iou(pred[1:].copy(), gt[1:].copy()),
                                       g10k_metrics.center_error(pred[1:], gt[1:]))
    m = metrics.evaluate_sequence(pred, gt)
    np.testing.assert_allclose(m["success_curve"], s_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(m["precision_curve"], p_ref, atol=TOL, rtol=0)
    assert np.all(m["ious"][9:39] == 0) and np.all(np.isinf(m["errors"][9:39]))


def test_got10k_ao_sr_pooled_match_toolkit(rng):
    size = (640, 480)
    seqs, ref_ious = [], []
    for n in (50, 120, 333):
        gt, pred = random_pairs(rng, n, size)
        valid = rng.random(n) > 0.1          # cover == 0 frames do not count
        valid[0] = True
        seqs.append(metrics.evaluate_sequence(pred, gt, valid, image_size=size))
        ref_ious.append(g10k_metrics.rect_iou(pred[1:][valid[1:]].copy(), gt[1:][valid[1:]].copy(),
                                              bound=size))
    ious = np.concatenate(ref_ious)
    ao, sr, _, succ = _got()._evaluate(ious, np.array([]))
    agg = metrics.aggregate(seqs)
    assert abs(agg["ao"] - ao) < TOL and abs(agg["sr50"] - sr) < TOL
    assert abs(agg["sr75"] - succ[75]) < TOL     # the toolkit's 101-point curve at 0.75
    assert agg["frames"] == len(ious)


def test_aggregate_is_sequence_mean_like_otb_report(rng):
    exp = _otb()
    per, s_ref, p_ref = [], [], []
    for n in (40, 200, 75):
        gt, pred = random_pairs(rng, n)
        per.append(metrics.evaluate_sequence(pred, gt))
        s, p = exp._calc_curves(g10k_metrics.rect_iou(pred[1:].copy(), gt[1:].copy()),
                                g10k_metrics.center_error(pred[1:], gt[1:]))
        s_ref.append(s)
        p_ref.append(p)
    agg = metrics.aggregate(per)
    s_mean, p_mean = np.mean(s_ref, axis=0), np.mean(p_ref, axis=0)
    assert abs(agg["auc"] - np.mean(s_mean)) < TOL
    assert abs(agg["precision"] - p_mean[20]) < TOL


def test_normalized_precision_definition():
    # the toolkit on PyPI has no LaSOT experiment: check the LaSOT definition directly
    gt = np.array([[0, 0, 100, 50], [0, 0, 0.5, 0.5], [10, 10, 20, 40]], float)
    pred = np.array([[10, 5, 100, 50], [3, 4, 0.5, 0.5], [10, 10, 20, 40]], float)
    nce = metrics.normalized_center_error(pred, gt)
    # (10/100, 5/50) -> 0.1414; sizes below 1 px count as 1 -> (3, 4) -> 5; identical -> 0
    np.testing.assert_allclose(nce, [np.hypot(0.1, 0.1), 5.0, 0.0], atol=1e-12)
    m = metrics.evaluate_sequence(np.vstack([gt[:1], pred]), np.vstack([gt[:1], gt]))
    expected = np.mean([(nce <= t).mean() for t in np.linspace(0, 0.5, 51)])
    assert abs(m["norm_precision"] - expected) < 1e-12


def test_fps_counts_update_frames_only():
    m = metrics.evaluate_sequence(np.zeros((4, 4)) + 1, np.zeros((4, 4)) + 1, times=[5.0, 0.1, 0.1, 0.2])
    assert abs(m["fps"] - 3 / 0.4) < 1e-9


def test_shared_ground_truth_matches_toolkit():
    root = shared_path("data")
    exp = _otb()
    rng = np.random.default_rng(7)
    for seq in load_dataset(root, "project"):
        gt = seq.gt
        pred = gt + rng.normal(0, 4, gt.shape)        # a plausible tracker near the real boxes
        pred[:, 2:] = np.maximum(pred[:, 2:], 1)
        s_ref, p_ref = exp._calc_curves(g10k_metrics.rect_iou(pred[1:].copy(), gt[1:].copy()),
                                        g10k_metrics.center_error(pred[1:], gt[1:]))
        m = metrics.evaluate_sequence(pred, gt, seq.valid)
        np.testing.assert_allclose(m["success_curve"], s_ref, atol=TOL, rtol=0, err_msg=seq.name)
        np.testing.assert_allclose(m["precision_curve"], p_ref, atol=TOL, rtol=0, err_msg=seq.name)
        # in the file's own 1-based convention the numbers are the same
        m1 = metrics.evaluate_sequence(seq.to_native(pred), seq.to_native(gt), seq.valid)
        assert abs(m1["auc"] - m["auc"]) < 1e-12
