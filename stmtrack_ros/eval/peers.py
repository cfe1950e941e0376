"""OpenCV trackers people would pick instead of STMTrack, behind the evaluation interface:
`init(frame_bgr, box_xywh)` and `update(frame_bgr) -> EvalResult` (0-based boxes).

OpenCV 5 (opencv-contrib) exposes CSRT and KCF as `cv2.TrackerCSRT_create` /
`cv2.TrackerKCF_create` (the old API is under `cv2.legacy`), and NanoTrack as
`cv2.TrackerNano_create` with two ONNX files. Their `init` takes an integer rectangle, so
the init box is rounded (as in shared/tools/opencv_peers.py). When `update` reports failure
(`ok` False; KCF does this once its response peak drops below `detect_thresh`), the result
box is NaN and the metrics count the frame as IoU 0.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
# NanoTrack v2 ONNX files (backbone + neck/head); override with STMTRACK_NANOTRACK_DIR.
NANOTRACK_DIR = Path(os.environ.get("STMTRACK_NANOTRACK_DIR",
                                    REPO.parent / "shared" / "weights" / "nanotrack" / "nanotrackv2"))
NANOTRACK_FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")


class PeerUnavailable(RuntimeError):
    """A peer tracker that cannot run here (missing weights, OpenCV without contrib)."""


@dataclass(frozen=True)
class EvalResult:
    """What the evaluation loop needs from any tracker: a 0-based x, y, w, h box (NaN when
    the tracker reports failure) and whether the tracker claims the target."""
    box: tuple
    ok: bool = True


def _cv2():
    import cv2
    try:  # OpenCV 5's dnn warns once per net that targets are unsupported: not actionable
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass
    return cv2


def _int_rect(box) -> tuple:
    x, y, w, h = (float(v) for v in box)
    return (int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h))))


class OpenCVTracker:
    """Wraps a `cv2.Tracker`; `factory()` builds a fresh one on every `init`."""

    def __init__(self, name: str, factory):
        self.name = name
        self._factory = factory
        self._tracker = None

    def init(self, frame_bgr: np.ndarray, box_xywh) -> EvalResult:
        self._tracker = self._factory()
        rect = _int_rect(box_xywh)
        self._tracker.init(frame_bgr, rect)
        return EvalResult(tuple(float(v) for v in rect), True)

    def update(self, frame_bgr: np.ndarray) -> EvalResult:
        if self._tracker is None:
            raise RuntimeError(f"{self.name}: update() before init()")
        ok, box = self._tracker.update(frame_bgr)
        if not ok:
            return EvalResult((float("nan"),) * 4, False)
        return EvalResult(tuple(float(v) for v in box), True)

    def score(self) -> float:
        """The confidence of the last update where OpenCV reports one (NanoTrack), else NaN."""
        get = getattr(self._tracker, "getTrackingScore", None)
        return float(get()) if get is not None else float("nan")


def csrt() -> OpenCVTracker:
    cv2 = _cv2()
    if not hasattr(cv2, "TrackerCSRT_create"):
        raise PeerUnavailable("opencv-csrt needs opencv-contrib-python (cv2.TrackerCSRT_create is missing)")
    return OpenCVTracker("opencv-csrt", cv2.TrackerCSRT_create)


def kcf() -> OpenCVTracker:
    cv2 = _cv2()
    if not hasattr(cv2, "TrackerKCF_create"):
        raise PeerUnavailable("opencv-kcf needs opencv-contrib-python (cv2.TrackerKCF_create is missing)")
    return OpenCVTracker("opencv-kcf", cv2.TrackerKCF_create)


def nanotrack_files(folder=None) -> tuple:
    """(backbone, head) ONNX paths, or PeerUnavailable naming what is missing."""
    folder = Path(folder) if folder else NANOTRACK_DIR
    paths = tuple(folder / f for f in NANOTRACK_FILES)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise PeerUnavailable(f"opencv-nano skipped: NanoTrack v2 ONNX file(s) not found: "
                              f"{', '.join(missing)} (set STMTRACK_NANOTRACK_DIR or --nanotrack-dir)")
    return paths


def nano(folder=None) -> OpenCVTracker:
    cv2 = _cv2()
    backbone, head = nanotrack_files(folder)
    if not hasattr(cv2, "TrackerNano_create"):
        raise PeerUnavailable("opencv-nano needs OpenCV >= 4.7 (cv2.TrackerNano_create is missing)")

    def factory():
        params = cv2.TrackerNano_Params()
        params.backbone = str(backbone)
        params.neckhead = str(head)
        return cv2.TrackerNano_create(params)
    return OpenCVTracker("opencv-nano", factory)


PEERS = {"opencv-csrt": csrt, "opencv-kcf": kcf, "opencv-nano": nano}


def make_peer(name: str, nanotrack_dir=None) -> OpenCVTracker:
    """A peer by its command-line name; PeerUnavailable when it cannot run here."""
    if name == "opencv-nano":
        return nano(nanotrack_dir)
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
    return PEERS[name]()
