"""The stmtrack tracker inside `stmtrack eval`: the adapter reports exactly what
`Tracker.update` returns, results go to per-mode folders, bad settings give one-line errors."""
import json

import cv2
import numpy as np
import pytest

from conftest import shared_path
from eval_synth import project_sequence
from stmtrack_ros.cli import main
from stmtrack_ros.datasets import load_dataset
from stmtrack_ros.eval import runner
from stmtrack_ros.tracker.signals import SIGNALS


def run_eval(data, out, *extra):
    return main(["eval", "--data", str(data), "--out", str(out), "--no-progress", *extra])


@pytest.mark.slow
def test_stmtrack_adapter_matches_tracker(tmp_path, portable_seed1_checkpoint):
    from stmtrack_ros.tracker import Tracker, TrackerParams
    data = tmp_path / "data"
    project_sequence(data, "right", n=3)
    out = tmp_path / "res"
    for mode in ("exact", "bounded"):
        assert run_eval(data, out, "--trackers", "stmtrack", "--checkpoint", str(portable_seed1_checkpoint),
                        "--mode", mode, "--hp", "otb", "--backend", "torch") == 0   # as the official
    exact = "stmtrack-exact-otb-backendtorch"
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["trackers"]) == ["stmtrack-bounded-otb-backendtorch", exact]
    settings = summary["trackers"][exact]["settings"]
    assert settings["mode"] == "exact" and settings["hp"] == "otb"
    # the stored boxes are the tracker's own outputs, written back in the 1-based file convention
    seq = load_dataset(data)[0]
    tracker = Tracker.from_checkpoint(portable_seed1_checkpoint, TrackerParams(backend="torch",
                                                                               mode="exact", hp="otb"))
    frames = [cv2.imread(str(p)) for p in seq.frames]
    tracker.init(frames[0], tuple(seq.gt[0]))
    results = [tracker.update(f) for f in frames[1:]]
    direct = np.array([r.box for r in results])
    stored = np.loadtxt(out / exact / "right" / "right_001.txt", delimiter=",")
    np.testing.assert_allclose(stored[1:], direct + [1, 1, 0, 0], atol=2e-3)
    # so are the confidences and states (VOT-LT files beside the boxes; row 1 = init)
    folder = out / exact / "right"
    conf = np.loadtxt(folder / "right_001_confidence.value")
    np.testing.assert_allclose(conf[1:], [r.confidence for r in results], atol=1e-5)
    assert np.loadtxt(folder / "right_001_state.value").astype(int).tolist() == \
        [1] + [int(r.state) for r in results]
    # and the signals, by name (tracker/signals.py), row 1 = init = nan
    signals = runner.load_signals(out, exact, seq)
    assert tuple(signals) == SIGNALS
    for name, column in signals.items():
        assert np.isnan(column[0])
        np.testing.assert_allclose(column[1:], [r.signals[name] for r in results], rtol=1e-5, atol=1e-6)
    assert summary["trackers"][exact]["longterm"]["confidence_source"] == "tracker"
    assert summary["trackers"][exact]["backend"] == "torch"


def test_stmtrack_bad_settings_are_one_line_errors(tmp_path, capsys):
    data = tmp_path / "data"
    project_sequence(data, "s", n=3)
    assert run_eval(data, tmp_path / "o", "--trackers", "stmtrack", "--checkpoint",
                    str(tmp_path / "none.pt")) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    ckpt = tmp_path / "x.pt"
    ckpt.write_bytes(b"not a checkpoint")
    assert run_eval(data, tmp_path / "o", "--trackers", "stmtrack", "--checkpoint", str(ckpt),
                    "--hp", "nope") == 2
    assert "hp='nope' is not a preset" in capsys.readouterr().err


@pytest.mark.slow
def test_default_model_on_shared_subset(tmp_path):
    """The bundled model on two short shared sequences (skips until the model is bundled)."""
    from stmtrack_ros.model import default_checkpoint_path
    if not default_checkpoint_path().is_file():
        pytest.skip(f"bundled model {default_checkpoint_path()} not present yet")
    data = shared_path("data")
    out = tmp_path / "res"
    assert run_eval(data, out, "--trackers", "stmtrack", "--sequences", "Crossing,ball1",
                    "--max-frames", "8") == 0
    summary = json.loads((out / "summary.json").read_text())
    (label,) = summary["trackers"]
    o = summary["trackers"][label]["overall"]
    assert o["frames"] == 14 and o["fps"] > 0 and 0 <= o["auc"] <= 1
