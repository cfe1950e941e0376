"""Backends (tracker/backends.py): ONNX Runtime against torch on the bundled clip with the
bundled model, the export-on-the-fly cache, the CLI flag, and the refusals (bad settings, an
export of other weights, TensorRT absent)."""
import importlib.util
import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stmtrack_ros import cli
from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.model.export import MANIFEST_NAME, cache_root, weights_sha256
from stmtrack_ros.tracker import Tracker, TrackerParams
from stmtrack_ros.tracker.backends import BackendError
from stmtrack_ros.tracker.signals import SIGNALS

DEMO = Path(__file__).resolve().parents[1] / "stmtrack_ros" / "data" / "demo"


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """One export cache for this module (the user's ~/.cache stays untouched)."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))
    yield Path(os.environ["XDG_CACHE_HOME"])
    if old is None:
        os.environ.pop("XDG_CACHE_HOME")
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="module")
def clip():
    info = json.loads((DEMO / "clip.json").read_text())
    cap = cv2.VideoCapture(str(DEMO / info["file"]))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == info["frames"]
    return frames, tuple(info["init_box_xywh"])


@pytest.fixture(scope="module")
def net():
    return load_checkpoint(default_checkpoint_path())


def run(tracker, frames, box):
    out = [tracker.init(frames[0], box)]
    out += [tracker.update(f) for f in frames[1:]]
    return out


def test_onnxruntime_gives_torch_boxes_on_the_bundled_clip(net, clip, cache):
    frames, box = clip
    ort_tracker = Tracker(net, TrackerParams(backend="onnxruntime"))
    # exported on the fly into the cache, keyed by the weights
    assert ort_tracker.backend.folder == cache_root() / weights_sha256(net)[:32]
    assert str(ort_tracker.backend.folder).startswith(str(cache))
    got = run(ort_tracker, frames, box)
    ref = run(Tracker(net, TrackerParams()), frames, box)
    boxes_got, boxes_ref = np.array([r.box for r in got]), np.array([r.box for r in ref])
    err = np.abs(boxes_got - boxes_ref).max(axis=1)
    # Both backends are as close to a float64 run (1e-6 relative per pass); the closed loop
    # grows their float32 rounding: a box that moves by 1e-5 px moves the crop's 1/32-px
    # fixed-point sampling now and then. torch's own BN-folded and plain modules part by
    # 6e-4 px over this clip, onnxruntime and torch by 3.2e-3 px (docs/deploy.md).
    assert err[:30].max() <= 1e-3
    assert err.max() <= 1e-2
    assert [r.state for r in got] == [r.state for r in ref]
    assert [r.memory_frames for r in got] == [r.memory_frames for r in ref]
    assert np.abs(np.array([r.confidence for r in got]) - [r.confidence for r in ref]).max() <= 1e-3
    assert max(len(r.memory_frames) for r in got) >= 5          # reads over several frames
    # and so are the signals a combined confidence reads (tracker/signals.py)
    signals = np.array([[[r.signals[k] for k in SIGNALS] for r in rs[1:]] for rs in (got, ref)])
    assert np.abs(signals[0] - signals[1]).max() <= 2e-3
    assert np.ptp(boxes_ref[:, 0]) > 20                          # the target moves: a real test


def test_first_frame_confidence_and_exact_mode_agree_too(net, clip):
    frames, box = clip[0][:25], clip[1]
    for params in (TrackerParams(confidence="first_frame"), TrackerParams(mode="exact")):
        got = run(Tracker(net, params.replace(backend="onnxruntime")), frames, box)
        ref = run(Tracker(net, params), frames, box)
        assert np.abs(np.array([r.box for r in got]) - [r.box for r in ref]).max() <= 1e-3, params
        conf = np.array([r.confidence for r in got[1:]])
        assert np.abs(conf - [r.confidence for r in ref[1:]]).max() <= 1e-4, params
        assert conf.min() < conf.max()


def test_the_cached_export_is_reused_and_a_wrong_one_refused(net, tmp_path):
    first = Tracker(net, TrackerParams(backend="onnxruntime")).backend.folder
    stamp = (first / MANIFEST_NAME).stat().st_mtime_ns
    again = Tracker(net, TrackerParams(backend="onnxruntime", onnx_dir=str(first)))
    assert again.backend.folder == first and (first / MANIFEST_NAME).stat().st_mtime_ns == stamp
    other = load_checkpoint(default_checkpoint_path())
    with torch.no_grad():
        other.head.bi.add_(0.5)
    with pytest.raises(BackendError, match="other weights") as e:
        Tracker(other, TrackerParams(backend="onnxruntime", onnx_dir=str(first)))
    assert "\n" not in str(e.value)
    with pytest.raises(BackendError, match="stmtrack export"):
        Tracker(net, TrackerParams(backend="onnxruntime", onnx_dir=str(tmp_path)))


def test_backend_settings_are_checked():
    with pytest.raises(ValueError, match="backend='tflite'; choose one of torch, onnxruntime, tensorrt"):
        TrackerParams(backend="tflite").check()
    with pytest.raises(ValueError, match="compile applies to backend torch only"):
        TrackerParams(backend="onnxruntime", compile=True).check()
    with pytest.raises(ValueError, match="fp16/bf16 apply to backend torch only"):
        TrackerParams(backend="onnxruntime", fp16=True).check()
    with pytest.raises(ValueError, match="onnx_dir"):
        TrackerParams(onnx_dir=3).check()
    assert TrackerParams.from_dict({"backend": "onnxruntime", "onnx_dir": "/x"}).backend == "onnxruntime"


def test_the_backend_cannot_change_on_a_running_tracker(net):
    tracker = Tracker(net, TrackerParams())
    with pytest.raises(ValueError, match="backend cannot change"):
        tracker.set_params(TrackerParams(backend="onnxruntime"))
    assert tracker.params.backend == "torch"


def test_tensorrt_absent_is_one_clear_line(net):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is importable here: the missing-package error cannot show")
    params = TrackerParams(backend="tensorrt", device="cuda", onnx_dir="/nowhere")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # without CUDA the device falls back
        with pytest.raises(BackendError, match="backend tensorrt needs the tensorrt Python package") as e:
            Tracker(net, params)
    assert "\n" not in str(e.value)


def test_track_cli_takes_the_backend(tmp_path, clip):
    frames, box = clip
    video = str(DEMO / "bigbuckbunny_100.mp4")
    init = ",".join(str(v) for v in box)
    outs = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / f"{backend}.txt"
        assert cli.main(["track", "--sequence", video, "--init", init, "--frames", "12",
                         "--backend", backend, "--out", str(out), "--no-progress"]) == 0
        outs[backend] = np.loadtxt(out, delimiter=",")
    assert outs["torch"].shape == (12, 4)
    assert np.abs(outs["torch"] - outs["onnxruntime"]).max() <= 1e-3


def test_eval_cli_takes_the_backend(tmp_path, capsys):
    from eval_synth import project_sequence
    data = tmp_path / "data"
    project_sequence(data, "right", n=12, step=(2.0, 1.0), seed=0)
    boxes = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / backend
        assert cli.main(["eval", "--data", str(data), "--out", str(out), "--no-progress",
                         "--backend", backend]) == 0
        (label,) = [p.name for p in out.iterdir() if p.is_dir() and p.name.startswith("stmtrack")]
        assert ("backendonnxruntime" in label) == (backend == "onnxruntime")
        boxes[backend] = np.loadtxt(out / label / "right" / "right_001.txt", delimiter=",")
    assert boxes["torch"].shape == (12, 4)
    assert np.abs(boxes["torch"] - boxes["onnxruntime"]).max() <= 1e-3
    capsys.readouterr()
    assert cli.main(["eval", "--data", str(data), "--out", str(tmp_path / "x"), "--backend", "tflite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "backend='tflite'; choose one of torch, onnxruntime, tensorrt" in err and "\n" not in err
