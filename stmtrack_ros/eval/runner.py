"""Run trackers over sequences in worker processes and store results in the GOT-10k toolkit
layout, resumably:

    <out>/<tracker>/<seq>/<seq>_001.txt    one box per frame, x,y,w,h in the dataset's own
                                           convention (row 1 = the init box), NaN = reported lost
    <out>/<tracker>/<seq>/<seq>_time.txt   seconds per frame (row 1 = init, others = update only;
                                           image decoding is never timed)
    <out>/<tracker>/<seq>/<seq>_001_confidence.value   the reported confidence per frame (VOT-LT
                                           layout; row 1 = init = 1); peers without one: 1 while
                                           they claim the target, 0 when they report failure
    <out>/<tracker>/<seq>/<seq>_001_state.value        the TrackState value per frame (1 TRACKING,
                                           2 LOST; peers: LOST when they report failure)
    <out>/<tracker>/<seq>/<seq>_001_signals.csv        stmtrack only: a header of the signal
                                           names (tracker/signals.py SIGNALS), then one row per
                                           frame (row 1 = init = nan)
    <out>/<tracker>/run.json               the settings the results were made with

A sequence whose box file exists with the expected number of rows is not run again; the box
file is written last (atomically), so an interrupted run leaves nothing half-written.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stmtrack_ros.tracker.result import TrackState
from stmtrack_ros.tracker.signals import SIGNALS

from ..datasets import Sequence
from . import peers

STMTRACK = "stmtrack"
TRACKER_KINDS = (STMTRACK,) + tuple(peers.PEERS)


@dataclass(frozen=True)
class TrackerSpec:
    """Everything needed to rebuild a tracker inside a worker process (plain values only)."""
    kind: str                       # "stmtrack" or a key of peers.PEERS
    checkpoint: str | None = None   # stmtrack only
    mode: str | None = None         # stmtrack: "exact" | "bounded" (None: the library default)
    hp: str | None = None           # stmtrack hyper-parameter preset (None: the library default)
    device: str = "cpu"
    nanotrack_dir: str | None = None
    params: tuple = ()              # stmtrack: other TrackerParams fields, ((name, value), ...)

    @property
    def label(self) -> str:
        """Result folder name: stmtrack runs differ by mode, preset, device (FPS) and any other
        tracker parameter, so these are in the name (the device only when it is not the CPU)."""
        if self.kind != STMTRACK:
            return self.kind
        device = self.device.replace(":", "") if self.device != "cpu" else None
        extra = [f"{k}{v}" for k, v in self.params]
        return "-".join(p for p in (STMTRACK, self.mode, self.hp, device, *extra) if p)

    def settings(self) -> dict:
        d = asdict(self)
        if self.kind != STMTRACK:
            d = {"kind": self.kind}
        elif self.checkpoint:   # a retrained model has the same path and size: hash it
            d["checkpoint_sha256"] = _file_sha256(self.checkpoint)
        d.pop("nanotrack_dir", None)
        d.pop("params", None)
        if self.params:
            d["params"] = dict(self.params)
        return d


def _file_sha256(path) -> str | None:
    from ..model.checkpoint import file_sha256  # here: the runner imports no torch until it runs
    return file_sha256(path) if Path(path).is_file() else None


@dataclass(frozen=True)
class ScoredResult(peers.EvalResult):
    """An evaluation result with the tracker's own confidence and state."""
    confidence: float = 1.0
    state: int = TrackState.TRACKING
    signals: tuple = ()             # the values of SIGNALS, in that order


def frame_scores(result) -> tuple:
    """(confidence, state) of any tracker's result: its own, or, for a peer that has none,
    1 / TRACKING while it claims the target and 0 / LOST when it reports failure."""
    if isinstance(result, ScoredResult):
        return float(result.confidence), int(result.state)
    return (1.0, int(TrackState.TRACKING)) if result.ok else (0.0, int(TrackState.LOST))


class StmtrackAdapter:
    """`stmtrack_ros.tracker.Tracker` behind the evaluation interface (a box every frame;
    a LOST state still predicts a box, which is what benchmarks score)."""

    def __init__(self, spec: TrackerSpec):
        from stmtrack_ros.tracker import Tracker, TrackerParams
        kwargs = {"device": spec.device}
        if spec.mode:
            kwargs["mode"] = spec.mode
        if spec.hp:
            kwargs["hp"] = spec.hp
        kwargs.update(dict(spec.params))
        self._tracker = Tracker.from_checkpoint(spec.checkpoint, TrackerParams(**kwargs))
        self._tracker.warm_up()  # one-off costs here, not in the first sequence's FPS
        self.backend = self._tracker.backend.name   # what backend auto chose

    def init(self, frame_bgr, box_xywh) -> peers.EvalResult:
        r = self._tracker.init(frame_bgr, tuple(float(v) for v in box_xywh))
        return peers.EvalResult(tuple(float(v) for v in r.box), True)

    def update(self, frame_bgr) -> ScoredResult:
        r = self._tracker.update(frame_bgr)
        return ScoredResult(tuple(float(v) for v in r.box), True, float(r.confidence), int(r.state),
                            tuple(float(r.signals[k]) for k in SIGNALS))


def build_tracker(spec: TrackerSpec):
    if spec.kind == STMTRACK:
        return StmtrackAdapter(spec)
    if spec.kind in peers.PEERS:
        return peers.make_peer(spec.kind, spec.nanotrack_dir)
    raise ValueError(f"unknown tracker {spec.kind!r}; choose from {', '.join(TRACKER_KINDS)}")


# --------------------------------------------------------------------------- result files

def result_dir(out, label: str, seq_name: str) -> Path:
    return Path(out) / label / seq_name


def box_file(out, label: str, seq_name: str) -> Path:
    return result_dir(out, label, seq_name) / f"{seq_name}_001.txt"


def time_file(out, label: str, seq_name: str) -> Path:
    return result_dir(out, label, seq_name) / f"{seq_name}_time.txt"


def confidence_file(out, label: str, seq_name: str) -> Path:
    return result_dir(out, label, seq_name) / f"{seq_name}_001_confidence.value"


def state_file(out, label: str, seq_name: str) -> Path:
    return result_dir(out, label, seq_name) / f"{seq_name}_001_state.value"


def signals_file(out, label: str, seq_name: str) -> Path:
    return result_dir(out, label, seq_name) / f"{seq_name}_001_signals.csv"


def load_signals(out, label: str, seq: Sequence) -> dict | None:
    """{signal name: per-frame values} of a finished sequence, or None when not written or
    not matching the frames."""
    path = signals_file(out, label, seq.name)
    if not path.is_file():
        return None
    try:
        names = path.read_text().split("\n", 1)[0].strip().split(",")
        values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError:
        return None
    if values.shape != (len(seq.frames), len(names)):
        return None
    return {n: values[:, i] for i, n in enumerate(names)}


def load_scores(out, label: str, seq: Sequence):
    """(confidence, state) per frame of a finished sequence, or None when they were not
    written (results from before they existed) or do not match the frames."""
    cf, sf = confidence_file(out, label, seq.name), state_file(out, label, seq.name)
    if not (cf.is_file() and sf.is_file()):
        return None
    try:
        conf = np.loadtxt(cf, ndmin=1)
        state = np.loadtxt(sf, ndmin=1).astype(int)
    except ValueError:
        return None
    if conf.shape != (len(seq.frames),) or state.shape != (len(seq.frames),):
        return None
    return conf, state


def load_result(out, label: str, seq: Sequence):
    """(0-based boxes, times) of a finished sequence, or None when absent/incomplete."""
    bf, tf = box_file(out, label, seq.name), time_file(out, label, seq.name)
    if not (bf.is_file() and tf.is_file()):
        return None
    try:
        boxes = np.loadtxt(bf, delimiter=",", ndmin=2)
        times = np.loadtxt(tf, delimiter=",", ndmin=1)
    except ValueError:
        return None
    if boxes.shape != (len(seq.frames), 4) or times.shape[0] != len(seq.frames):
        return None
    times = times[:, 0] if times.ndim == 2 else times
    return seq.from_native(boxes), times


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_result(out, label: str, seq: Sequence, boxes: np.ndarray, times: np.ndarray,
                confidence=None, state=None, signals=None) -> None:
    """Write one sequence's results; the box file last (its presence marks the run done).
    `signals`: (frames, len(SIGNALS)) values, or None for a tracker without them."""
    d = result_dir(out, label, seq.name)
    d.mkdir(parents=True, exist_ok=True)
    native = seq.to_native(boxes)
    _write_atomic(time_file(out, label, seq.name), "".join(f"{t:.8f}\n" for t in times))
    if confidence is not None:
        _write_atomic(confidence_file(out, label, seq.name), "".join(f"{c:.6f}\n" for c in confidence))
    if state is not None:
        _write_atomic(state_file(out, label, seq.name), "".join(f"{int(v)}\n" for v in state))
    if signals is not None:
        _write_atomic(signals_file(out, label, seq.name), ",".join(SIGNALS) + "\n" + "".join(
            ",".join(f"{v:.6g}" for v in row) + "\n" for row in signals))
    _write_atomic(box_file(out, label, seq.name),
                  "".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in native))


BACKEND_FILE = "backend.txt"


def recorded_backend(out, label: str, settings: dict) -> str | None:
    """The backend the stmtrack results in <out>/<label> were made with: BACKEND_FILE, written
    by the first job; for results from before it existed the one `settings` named, else torch
    (the default then); None for a folder without results."""
    d = Path(out) / label
    if (d / BACKEND_FILE).is_file():
        return (d / BACKEND_FILE).read_text().strip()
    if not any(d.glob("*/*_001.txt")):
        return None
    return settings.get("params", {}).get("backend", "torch")


def record_backend(out, spec: TrackerSpec, backend: str) -> None:
    """Write the backend a job's tracker runs on beside its results, or refuse to mix results
    of two backends in one folder (their speed differs, their boxes by ~1e-3 px)."""
    have = recorded_backend(out, spec.label, spec.settings())
    if have is None:
        _write_atomic(Path(out) / spec.label / BACKEND_FILE, backend + "\n")
    elif have != backend:
        raise RuntimeError(f"{Path(out) / spec.label} holds results made with backend {have}, "
                           f"this tracker runs {backend}; use another --out or --backend {have}")


def check_settings(out, spec: TrackerSpec) -> None:
    """Refuse to mix results made with other settings into one tracker folder."""
    path = Path(out) / spec.label / "run.json"
    want = spec.settings()
    if path.is_file():
        have = json.loads(path.read_text())
        if have != want:
            raise RuntimeError(f"{path.parent} holds results made with other settings ({have}); "
                               f"use another --out or remove that folder")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(want, indent=1) + "\n")


# --------------------------------------------------------------------------- running

def track_sequence(tracker, seq: Sequence, on_frame=None):
    """One-pass evaluation: init on frame 1 with its ground truth, then update on every later
    frame. Returns 0-based boxes (row 0 = init box), per-frame seconds, confidences and states
    (`frame_scores`; row 0 = 1, TRACKING) and the signals (frames, len(SIGNALS); row 0 NaN; None
    for a tracker without them). `on_frame()` is called after each frame (progress)."""
    import cv2
    n = len(seq.frames)
    boxes = np.full((n, 4), np.nan)
    times = np.zeros(n)
    conf = np.ones(n)
    state = np.full(n, int(TrackState.TRACKING))
    signals = np.full((n, len(SIGNALS)), np.nan)
    has_signals = False
    for i, path in enumerate(seq.frames):
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise RuntimeError(f"{seq.name}: cannot read frame {path}")
        t0 = time.perf_counter()
        if i == 0:
            tracker.init(frame, seq.gt[0])
            times[0] = time.perf_counter() - t0
            boxes[0] = seq.gt[0]
        else:
            result = tracker.update(frame)
            times[i] = time.perf_counter() - t0
            boxes[i] = result.box
            conf[i], state[i] = frame_scores(result)
            if getattr(result, "signals", ()):
                signals[i], has_signals = result.signals, True
        if on_frame is not None:
            on_frame()
    return boxes, times, conf, state, (signals if has_signals else None)


def _set_threads(threads: int) -> None:
    import cv2
    cv2.setNumThreads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass


_BUILT: dict = {}


def run_job(spec: TrackerSpec, seq: Sequence, out: str, threads: int, on_frame=None) -> tuple:
    """Worker entry point: (label, seq name, error message or None)."""
    try:
        _set_threads(threads)
        if spec not in _BUILT:          # one tracker per process and spec: load the model once
            _BUILT[spec] = build_tracker(spec)
        tracker = _BUILT[spec]
        if spec.kind == STMTRACK:
            record_backend(out, spec, tracker.backend)
        boxes, times, conf, state, signals = track_sequence(tracker, seq, on_frame)
        save_result(out, spec.label, seq, boxes, times, conf, state, signals)
        return spec.label, seq.name, None
    except Exception as e:  # noqa: BLE001 - reported per sequence; the other jobs go on
        msg = f"{type(e).__name__}: {e}"
        if os.environ.get("STMTRACK_EVAL_TRACEBACK"):
            msg += "\n" + traceback.format_exc()
        return spec.label, seq.name, msg


def threads_per_worker(workers: int) -> int:
    """Keep workers x threads within the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def run_all(specs: list, sequences: list, out, workers: int = 1, progress: bool = True) -> dict:
    """Run every (tracker, sequence) pair not finished yet. Returns {label: {seq: error}} for
    the pairs that failed (empty when all went well)."""
    from tqdm import tqdm
    out = str(out)
    for spec in specs:
        check_settings(out, spec)
    jobs = [(spec, seq) for spec in specs for seq in sequences
            if load_result(out, spec.label, seq) is None]
    # several workers: longest first balances them; one: shortest first, so an interrupted
    # run has finished as many sequences as possible (the rest resume later)
    jobs.sort(key=lambda j: -len(j[1].frames) if workers > 1 else len(j[1].frames))
    errors: dict = {}
    threads = threads_per_worker(workers)
    total = sum(len(seq.frames) for _, seq in jobs)
    bar = tqdm(total=total, unit="frame", desc=f"eval {len(jobs)} runs", disable=not progress or not jobs)
    if workers <= 1:   # in this process: the bar moves every frame
        for spec, seq in jobs:
            bar.set_postfix_str(f"{spec.label}/{seq.name}")
            done = bar.n
            res = run_job(spec, seq, out, threads, lambda: bar.update(1))
            _collect(res, errors, bar, len(seq.frames) - (bar.n - done))
    else:              # worker processes: the bar moves when a sequence finishes
        ctx = mp.get_context("spawn")   # torch and OpenCV threads do not survive fork safely
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(run_job, spec, seq, out, threads): seq for spec, seq in jobs}
            for fut in cf.as_completed(futures):
                _collect(fut.result(), errors, bar, len(futures[fut].frames))
    bar.close()
    return errors


def _collect(res, errors: dict, bar, frames_left: int) -> None:
    label, name, err = res
    if err:
        errors.setdefault(label, {})[name] = err
        bar.write(f"FAILED {label}/{name}: {err}")
    bar.update(frames_left)
