"""Backends (tracker/backends.py): ONNX Runtime against torch on the bundled clip with the
bundled model, the export-on-the-fly cache (corrupt, unwritable, two processes at once), the
default `auto` (onnxruntime on a CPU, torch with one warning when it cannot be), the CLI flag,
and the refusals (bad settings, an export of other weights, TensorRT absent)."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stmtrack_ros import cli
from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.model.export import MANIFEST_NAME, cache_root, read_manifest, weights_sha256
from stmtrack_ros.tracker import Tracker, TrackerParams
from stmtrack_ros.tracker.backends import BackendError
from stmtrack_ros.tracker.signals import SIGNALS

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "stmtrack_ros" / "data" / "demo"
FALLBACK = "backend auto: running torch, not onnxruntime"


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


def run(tracker, frames, box, labels=None):
    """The tracker's results on the clip; `labels` (a list) collects (the index of the result
    a memory write feeds first, its label map) for every write the backend is asked for."""
    out = []
    if labels is not None:
        memorize = tracker.backend.memorize

        def recording(images, label_maps, keys=None):
            labels.append((len(out), label_maps.detach().clone()))
            return memorize(images, label_maps, keys)
        tracker.backend.memorize = recording
    out.append(tracker.init(frames[0], box))
    for frame in frames[1:]:
        out.append(tracker.update(frame))
    return out


def first_label_flip(labels_a, labels_b) -> int | None:
    """The first result fed by a memory write whose label map differs between two runs."""
    for (at, a), (_, b) in zip(labels_a, labels_b, strict=True):
        if not torch.equal(a, b):
            return at
    return None


def fg_edges(label_map) -> np.ndarray:
    """First and last row and column of a label map's target box."""
    rows, cols = (np.flatnonzero(label_map.numpy().any(axis=a)) for a in (1, 0))
    return np.array([rows[0], rows[-1], cols[0], cols[-1]])


def iou(a, b):
    lo, hi = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (np.prod(a[:, 2:], axis=1) + np.prod(b[:, 2:], axis=1) - inter)


def assert_same_track(got, ref, labels_got, labels_ref) -> int | None:
    """Two runs of one model on the clip give one track; returns the first result after a
    label-map flip (None: no flip).

    Both backends are as close to a float64 run (1e-6 relative per pass); the closed loop
    grows their float32 rounding: a box that moves by 1e-5 px moves the crop's 1/32-px
    fixed-point sampling now and then. torch's own BN-folded and plain modules part by
    6e-4 px over this clip, onnxruntime and torch by 3.2e-3 px (docs/deploy.md). One step
    is not continuous: a memory frame's label map is the box truncated to whole crop pixels
    (official), so where a box edge sits within rounding of a pixel edge two runs put that
    edge of the tag one pixel apart, and their boxes part by a few pixels from the next
    frame on (frame 90 of this clip with onnxruntime on an AMD EPYC: 2.6 px, then up to
    8.5 px). Up to that write the boxes agree to rounding; after it both still follow the
    same target."""
    boxes_got, boxes_ref = np.array([r.box for r in got]), np.array([r.box for r in ref])
    err = np.abs(boxes_got - boxes_ref).max(axis=1)
    flip = first_label_flip(labels_got, labels_ref)
    agree = len(got) if flip is None else flip
    if flip is not None:
        edges = [fg_edges(next(m for at, m in labels if at == flip)[0, 0])
                 for labels in (labels_got, labels_ref)]
        assert np.abs(np.subtract(*edges)).max() == 1   # a box edge one pixel over, no more
    assert err[:agree].max() <= 1e-2
    assert iou(boxes_got, boxes_ref).min() >= 0.7
    assert [r.state for r in got] == [r.state for r in ref]
    assert [r.memory_frames for r in got] == [r.memory_frames for r in ref]
    conf_err = np.abs(np.array([r.confidence for r in got]) - [r.confidence for r in ref])
    assert conf_err[:agree].max() <= 1e-3
    # and so are the signals a combined confidence reads (tracker/signals.py)
    signals = np.array([[[r.signals[k] for k in SIGNALS] for r in rs[1:agree]] for rs in (got, ref)])
    assert np.abs(signals[0] - signals[1]).max() <= 2e-3
    return flip


@pytest.fixture(scope="module")
def torch_run(net, clip):
    labels = []
    return run(Tracker(net, TrackerParams(backend="torch")), *clip, labels), labels


def test_onnxruntime_gives_torch_boxes_on_the_bundled_clip(net, clip, cache, torch_run):
    frames, box = clip
    ort_tracker = Tracker(net, TrackerParams(backend="onnxruntime"))
    # exported on the fly into the cache, keyed by the weights
    assert ort_tracker.backend.folder == cache_root() / weights_sha256(net)[:32]
    assert str(ort_tracker.backend.folder).startswith(str(cache))
    labels = []
    got = run(ort_tracker, frames, box, labels)
    ref, labels_ref = torch_run
    flip = assert_same_track(got, ref, labels, labels_ref)
    err = np.abs(np.array([r.box for r in got]) - [r.box for r in ref]).max(axis=1)
    assert flip is None or flip > 30
    assert err[:30].max() <= 1e-3
    assert max(len(r.memory_frames) for r in got) >= 5          # reads over several frames
    assert np.ptp([r.box[0] for r in ref]) > 20                 # the target moves: a real test


def test_a_label_map_flip_is_what_parts_two_runs(net, clip, torch_run):
    """The tolerance above, shown on any CPU: query features perturbed by 1e-4 (relative, 100x
    the backends' difference) give the torch run's boxes up to a label-map flip, boxes that
    part by pixels after it, and the same target throughout."""
    tracker = Tracker(net, TrackerParams(backend="torch"))
    gen, features = torch.Generator().manual_seed(0), tracker.backend.query_features
    tracker.backend.query_features = lambda crop: (lambda f: f * (
        1 + 1e-4 * torch.randn(f.shape, generator=gen)))(features(crop))
    labels = []
    got = run(tracker, *clip, labels)
    ref, labels_ref = torch_run
    flip = assert_same_track(got, ref, labels, labels_ref)
    assert flip is not None
    err = np.abs(np.array([r.box for r in got]) - [r.box for r in ref]).max(axis=1)
    assert err[flip:].max() > 1.0


def test_first_frame_confidence_and_exact_mode_agree_too(net, clip):
    frames, box = clip[0][:25], clip[1]
    for params in (TrackerParams(confidence="first_frame"), TrackerParams(mode="exact")):
        got = run(Tracker(net, params.replace(backend="onnxruntime")), frames, box)
        ref = run(Tracker(net, params.replace(backend="torch")), frames, box)
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


def test_auto_is_the_default_and_runs_onnxruntime_on_a_cpu(net, clip):
    frames, box = clip[0][:10], clip[1]
    assert TrackerParams().backend == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # no fallback warning
        auto = Tracker(net, TrackerParams())
    assert auto.backend.name == "onnxruntime"
    got, ref = run(auto, frames, box), run(Tracker(net, TrackerParams(backend="onnxruntime")), frames, box)
    assert [(r.box, r.confidence) for r in got] == [(r.box, r.confidence) for r in ref]
    # ONNX Runtime flushes subnormal floats in the thread that builds its sessions, for good:
    # that is the backend's own thread, so this one (torch, numpy, hypothesis) keeps them
    smallest = float(np.nextafter(0.0, 1.0))
    assert smallest * 1.0 > 0.0


@pytest.mark.parametrize("asked", ["compile", "fp16", "bf16"])
def test_auto_runs_torch_when_a_torch_only_setting_is_asked(net, asked):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker = Tracker(net, TrackerParams(**{asked: True}))
    assert tracker.backend.name == "torch"
    said = [str(w.message) for w in caught if str(w.message).startswith(FALLBACK)]
    assert said == [f"{FALLBACK} (the fast CPU backend): {asked} applies to torch only"]


def test_auto_without_onnxruntime_runs_torch_with_one_warning(tmp_path):
    """A real process in which `import onnxruntime` fails, as on a machine without it."""
    code = textwrap.dedent("""
        import sys, warnings
        sys.modules["onnxruntime"] = None           # import onnxruntime: ImportError
        from stmtrack_ros.model import default_checkpoint_path
        from stmtrack_ros.tracker import Tracker
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tracker = Tracker.from_checkpoint(default_checkpoint_path())
        print(tracker.backend.name)
        print("\\n".join(str(w.message) for w in caught if "backend" in str(w.message)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=180, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    name, *said = proc.stdout.strip().splitlines()
    assert name == "torch"
    assert said == [f"{FALLBACK} (the fast CPU backend): backend onnxruntime needs the onnxruntime "
                    "package (pip install onnxruntime, or onnxruntime-gpu); or use backend torch"]
    assert not (tmp_path / "stmtrack_ros").exists()           # nothing exported


def test_an_unwritable_cache_is_one_line_and_auto_runs_torch(net, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where the cache folder would go (as root, chmod would not stop it)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    with pytest.raises(BackendError, match="cannot write the ONNX export cache .*XDG_CACHE_HOME") as e:
        Tracker(net, TrackerParams(backend="onnxruntime"))
    assert "\n" not in str(e.value)
    with pytest.warns(RuntimeWarning, match=f"{FALLBACK} .*cannot write the ONNX export cache"):
        tracker = Tracker(net, TrackerParams())
    assert tracker.backend.name == "torch"


def test_a_corrupt_cache_is_exported_again(net):
    folder = Tracker(net, TrackerParams(backend="onnxruntime")).backend.folder
    query = folder / "query_features.onnx"
    query.write_bytes(query.read_bytes()[:1000])          # truncated: a full disk, a killed copy
    killed = folder.parent / f".{folder.name[:12]}-killed"  # what an export killed mid-way leaves
    killed.mkdir()
    (killed / "memorize.onnx").write_bytes(b"half")
    with pytest.raises(BackendError, match="query_features.onnx differ from the manifest's sha") as e:
        Tracker(net, TrackerParams(backend="onnxruntime", onnx_dir=str(folder)))  # a given folder: said
    assert "\n" not in str(e.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        tracker = Tracker(net, TrackerParams())                # the cache: exported again
    assert tracker.backend.name == "onnxruntime" and tracker.backend.folder == folder
    assert read_manifest(folder, net)["passes"]["query_features"]["sha256"]
    assert not killed.exists() and not list(folder.parent.glob(f".{folder.name[:12]}-*"))


def test_two_processes_starting_together_export_once(tmp_path):
    """Two real processes reach the empty cache at the same moment: one exports, the other waits
    for it (the lock) and uses the same folder; no half-written or temporary folder is left."""
    code = textwrap.dedent("""
        import os, sys, time
        from pathlib import Path
        from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
        from stmtrack_ros.tracker import Tracker, TrackerParams
        net = load_checkpoint(default_checkpoint_path())
        gate = Path(sys.argv[1])
        (gate / sys.argv[2]).touch()
        while len(list(gate.iterdir())) < 2:         # both loaded: start together
            time.sleep(0.01)
        tracker = Tracker(net, TrackerParams())
        folder = tracker.backend.folder
        print(tracker.backend.name, folder, os.stat(folder).st_ino)
    """)
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(gate), str(i)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    seen = [out.split() for out, _ in outs]
    assert seen[0] == seen[1] and seen[0][0] == "onnxruntime"   # one folder, never replaced
    root = tmp_path / "cache" / "stmtrack_ros" / "onnx"
    assert [p.name for p in root.iterdir() if p.is_dir()] == [Path(seen[0][1]).name]


def test_backend_settings_are_checked():
    with pytest.raises(ValueError, match="'tflite'; choose one of auto, torch, onnxruntime, tensorrt"):
        TrackerParams(backend="tflite").check()
    with pytest.raises(ValueError, match="compile applies to backend torch only"):
        TrackerParams(backend="onnxruntime", compile=True).check()
    with pytest.raises(ValueError, match="fp16/bf16 apply to backend torch only"):
        TrackerParams(backend="onnxruntime", fp16=True).check()
    with pytest.raises(ValueError, match="onnx_dir"):
        TrackerParams(onnx_dir=3).check()
    assert TrackerParams.from_dict({"backend": "onnxruntime", "onnx_dir": "/x"}).backend == "onnxruntime"


def test_the_backend_cannot_change_on_a_running_tracker(net, clip):
    """backend is a RESTART setting: set_params refuses it and the tracker runs on as before;
    a new Tracker takes it."""
    frames, box = clip[0][:6], clip[1]
    for start, other in (("torch", "onnxruntime"), ("auto", "torch")):
        tracker = Tracker(net, TrackerParams(backend=start))
        before, twin = tracker.backend, Tracker(net, TrackerParams(backend=start))
        tracker.init(frames[0], box)
        twin.init(frames[0], box)
        with pytest.raises(ValueError, match="backend cannot change"):
            tracker.set_params(TrackerParams(backend=other))
        assert tracker.params.backend == start and tracker.backend is before
        assert [tracker.update(f).box for f in frames[1:]] == [twin.update(f).box for f in frames[1:]]
    assert Tracker(net, TrackerParams(backend="torch")).backend.name == "torch"


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
    assert "backend='tflite'; choose one of auto, torch, onnxruntime, tensorrt" in err and "\n" not in err


def test_eval_reports_the_backend_auto_chose_and_keeps_backends_apart(tmp_path, capsys):
    from eval_synth import project_sequence
    data, out = tmp_path / "data", tmp_path / "out"
    for k, name in enumerate(("right", "down")):
        project_sequence(data, name, n=8, step=(2.0, 1.0) if k == 0 else (0.0, 2.0), seed=k)
    args = ["eval", "--data", str(data), "--out", str(out), "--no-progress"]
    assert cli.main(args + ["--sequences", "right"]) == 0
    label = "stmtrack-bounded-got10k"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trackers"][label]["backend"] == "onnxruntime"
    assert f"| {label} (onnxruntime) |" in (out / "results.md").read_text()
    # results from before the backend was recorded were torch's (the default then): the
    # onnxruntime run that would join them is refused per sequence, the folder kept as it was
    (out / label / "backend.txt").unlink()
    capsys.readouterr()
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert f"FAILED {label}/down" in err and "made with backend torch, this tracker runs onnxruntime" in err
    assert not (out / label / "down").exists()
    assert json.loads((out / "summary.json").read_text())["trackers"][label]["backend"] == "torch"

