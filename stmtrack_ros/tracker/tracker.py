"""The online STMTrack tracker: init / track / memorize / update / reset.

Exact mode follows the official `STMTrackTracker` step for step (reference spec §5), except
that the memory pass of frame t runs right after the track pass of frame t (`memorize()`,
called by the caller after publishing, or lazily by the next `track`) instead of at the start
of update t+1: the same numbers, off the latency path. Bounded mode swaps the memory policy for
`BoundedMemory`, writes a frame into memory only when confident, and freezes the box and widens
the search while the target is LOST.

Confidence is the network's raw score at the chosen location, sigmoid(cls)·sigmoid(ctr), in
[0, 1]: unlike the official windowed score it carries no cosine-window bonus, so it does not
stay high when the target is gone. The state machine (IDLE -> TRACKING <-> LOST) compares it
with `lost_threshold` for `lost_frames` consecutive frames, and with `recover_threshold` to come
back. In exact mode the states only label the results; boxes stay the official ones.

A model with Siamese keys (`ModelConfig.siamese_keys`, not an official model) builds a tracked
frame's memory from that frame's query crop, labelled with the new box where it lies in the
crop, and takes the track pass's query features as its keys: one backbone pass per memory frame
instead of two (the official re-crop around the new box would need the key pass again).
Training's memory crops are off-centre by up to 20% of the crop, so the shifted label is what
the model learned from.

Frames keep their size for a whole track: a frame of another size is refused
(`TrackerInputError`); call `init` again with a box in the new frame. The frame given to
`init`/`track` is held by reference until its memory pass: do not write into it before
`memorize()` (or the next `track`) has run.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from stmtrack_ros.model.input_tensor import input_tensor

from .backends import make_backend
from .boxes import cxywh_to_xywh, xywh_to_cxywh
from .crop import box_in_centred_crop, box_label_map, fg_bg_map, get_crop
from .inputs import as_bgr, check_box
from .lost import advance
from .memory import BoundedMemory, ExactMemory
from .params import TrackerParams
from .postprocess import cosine_window, next_state
from .result import TrackerInputError, TrackResult, TrackState


@dataclass
class _Pending:
    """A frame whose memory pass has not run yet."""
    frame: np.ndarray
    pos: np.ndarray
    sz: np.ndarray
    index: int
    store: bool
    reuse: tuple | None = None     # (query crop tensor, its query features, box xyxy in crop)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


class Tracker:
    def __init__(self, net, params: TrackerParams | None = None):
        from stmtrack_ros.model import resolve_device
        self.params = (params if params is not None else TrackerParams()).check()
        if self.params.threads:
            torch.set_num_threads(self.params.threads)
        self.device = resolve_device(self.params.device)
        self.config = net.config
        net = net.eval().to(self.device)
        self.net = net
        self.backend = make_backend(net, self.params, self.device)   # runs the network passes
        self._reuse_query = bool(self.config.siamese_keys)
        self._window = cosine_window(self.config.score_size)
        self.reset()

    @classmethod
    def from_checkpoint(cls, path, params: TrackerParams | None = None) -> "Tracker":
        from stmtrack_ros.model import load_checkpoint, resolve_device
        params = params if params is not None else TrackerParams()
        return cls(load_checkpoint(path, device=resolve_device(params.device)), params)

    # ---- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the target (state IDLE); the next call must be `init`."""
        self._state = TrackState.IDLE
        self._frame_index = -1
        self._image_hw = None
        self._pending: _Pending | None = None
        self._memory = None
        self._last_result: TrackResult | None = None
        self.last_memorize_ms = 0.0
        self.last_step = None          # post-processing details of the last track (diagnostics)

    def set_params(self, params: TrackerParams) -> None:
        """Change settings on a live tracker. confidence, the thresholds, lost_* and
        memory_threshold apply from the next frame; hp, mode and memory_capacity from the next
        `init`; the rest (device, precision, compile, optimize, threads, backend, onnx_dir) need
        a new Tracker (ValueError)."""
        params = params.check()
        fixed = [n for n in ("device", "fp16", "bf16", "compile", "optimize", "threads", "backend",
                             "onnx_dir")
                 if getattr(params, n) != getattr(self.params, n)]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot change on a running tracker; "
                             "build a new Tracker")
        self.params = params

    @property
    def state(self) -> TrackState:
        return self._state

    @property
    def frame_index(self) -> int:
        return self._frame_index

    @property
    def last_result(self) -> TrackResult | None:
        return self._last_result

    def memory_stats(self) -> dict:
        """What the memory holds now: frames, feature count and bytes (for soak checks)."""
        if self._memory is None:
            return {"frames": [], "features": 0, "bytes": 0}
        frames = self._memory.stored_frames()
        return {"frames": frames, "features": len(frames), "bytes": self._memory.nbytes()}

    # ---- network calls ----------------------------------------------------------------------
    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return input_tensor(arr, self.device, self.backend.channels_last)

    def _call(self, which: str, *args):
        return getattr(self.backend, which)(*args)

    # ---- API --------------------------------------------------------------------------------
    def warm_up(self, updates: int = 6) -> float:
        """Track a synthetic target for `updates` frames, then forget it (state IDLE); seconds
        taken. The first passes pay one-off costs (torch.compile's compilations, about 10 s on
        a 2-core CPU, once for one memory frame and once for more; oneDNN and CUDA kernel
        selection), which a live node should pay at start, not on the user's first target.
        Thresholds, parameters and later results are unchanged."""
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        frame[90:150, 130:190] = (40, 200, 220)
        params = self.params
        # every frame enters memory, so the reads reach several memory frames
        self.params = dataclasses.replace(params, memory_threshold=0.0, lost_threshold=0.0,
                                          recover_threshold=0.0)
        try:
            self.init(frame, (130.0, 90.0, 60.0, 60.0))
            for _ in range(updates):
                self.update(frame)
        finally:
            self.params = params
            self.reset()
        return time.perf_counter() - t0

    def init(self, frame_bgr, box_xywh) -> TrackResult:
        """Start tracking the box (x, y, w, h, image px) in this frame; replaces all state."""
        t0 = time.perf_counter()
        frame = as_bgr(frame_bgr)
        box = check_box(box_xywh, frame.shape[:2])
        hp, mode = self.params.hyper, self.params.mode
        cxywh = xywh_to_cxywh(np.array(box, dtype=np.float64))
        pos, sz = cxywh[:2].copy(), cxywh[2:].copy()           # float32 on the init frame
        self.reset()
        self._image_hw = frame.shape[:2]
        self._avg = tuple(float(frame[..., c].mean()) for c in range(3))
        self._pos, self._sz = pos, sz
        self._target_scale = math.sqrt(np.prod(sz * hp.search_area_factor)) / self.config.q_size
        self._base_sz = sz / self._target_scale
        self._prev_pscore = 1.0
        self._low_count = 0
        self._hp, self._bounded = hp, mode == "bounded"
        self._memory = (BoundedMemory(self.params.memory_capacity, hp.num_segments)
                        if self._bounded else ExactMemory(hp.num_segments))
        self._frame_index = 0
        self._state = TrackState.TRACKING
        self._pending = _Pending(frame, pos.copy(), sz.copy(), 0, True)
        self._box = tuple(float(v) for v in box)
        self._last_result = TrackResult(box=self._box, confidence=1.0, state=self._state,
                                        frame_index=0, memory_frames=(),
                                        timings_ms={"init": _ms(t0)})
        return self._last_result

    def memorize(self) -> float:
        """Memory pass for the frame last given to init/track (if it is to be stored);
        a no-op when already done. Returns the milliseconds it took."""
        p, self._pending = self._pending, None
        if p is None or not p.store:
            return 0.0
        t0 = time.perf_counter()
        s = self.config.q_size
        if p.reuse is not None:
            query, keys, box = p.reuse
            feature = self._call("memorize", query, self._tensor(box_label_map(s, box)), keys)
        else:
            scale = math.sqrt(np.prod(p.sz) / np.prod(self._base_sz))
            crop, r = get_crop(p.frame, p.pos, scale, s, self._avg)
            wh = p.sz * r                                        # keeps sz's dtype, as official
            label = fg_bg_map(s, wh[0], wh[1])
            feature = self._call("memorize", self._tensor(crop), self._tensor(label))
        self._memory.add(p.index, feature)
        self.last_memorize_ms = _ms(t0)
        return self.last_memorize_ms

    def track(self, frame_bgr) -> TrackResult:
        """Query pass for the next frame: the result the node publishes at once."""
        if self._state == TrackState.IDLE:
            raise TrackerInputError("the tracker has no target: call init(frame, box) first")
        t0 = time.perf_counter()
        frame = as_bgr(frame_bgr)
        if frame.shape[:2] != self._image_hw:
            (h0, w0), (h1, w1) = self._image_hw, frame.shape[:2]
            raise TrackerInputError(f"frame size changed from {w0}x{h0} to {w1}x{h1} mid-track; "
                                    "call init(frame, box) again for the new size")
        timings = {}
        if self._pending is not None:
            timings["memorize_prev"] = self.memorize()
        t1 = time.perf_counter()
        params, hp, s, bounded = self.params, self._hp, self.config.q_size, self._bounded
        fidx = self._frame_index + 1
        frames = self._memory.select(fidx, self._prev_pscore > hp.confidence_threshold)
        if self.config.reg_first_frame and 0 in frames:  # its box branch reads slot 0 alone
            frames.remove(0)
            frames.insert(0, 0)
        memory = self._memory.gather(frames)
        lost = self._state == TrackState.LOST
        scale = self._target_scale * (params.lost_search_scale if bounded and lost else 1.0)
        crop, scale_q = get_crop(frame, self._pos, scale, s, self._avg)
        query = self._tensor(crop)
        timings["crop"] = _ms(t1)
        t2 = time.perf_counter()
        fq = self._call("query_features", query)
        score, boxes, _, _ = self._call("read_memory", fq, memory)
        score = score[0, :, 0].float().cpu().numpy()
        boxes = boxes[0].float().cpu().numpy()
        timings["network"] = _ms(t2)
        t3 = time.perf_counter()
        prior_pos = self._pos
        step = next_state(score, boxes, prior_pos, self._sz, scale_q, self._window, hp,
                          self._image_hw, s)
        conf = step.score
        if params.confidence == "first_frame" and len(frames) > 1:
            k = frames.index(0)  # every read holds frame 0 (memory.py)
            conf = float(self._call("first_frame_score", fq, memory[:, :, k:k + 1], step.best))
        conf = min(max(conf, 0.0), 1.0)

        state, low = advance(self._state, self._low_count, conf, params)
        follow = not bounded or state == TrackState.TRACKING
        if follow or params.lost_follow:   # the search window moves; the published box only when following
            self._pos, self._sz = step.pos, step.sz
            self._target_scale = math.sqrt(np.prod(step.sz) / np.prod(self._base_sz))
        if follow:
            self._box = tuple(float(v) for v in cxywh_to_xywh(np.concatenate([step.pos, step.sz])))
        store = (not bounded) or (state == TrackState.TRACKING and conf >= params.memory_threshold)
        self._prev_pscore = step.pscore
        self._state, self._low_count = state, low
        self._frame_index = fidx
        reuse = None
        if store and self._reuse_query and not (bounded and lost):   # not the widened crop
            box = np.concatenate([self._pos - self._sz / 2, self._sz])
            reuse = (query, fq, box_in_centred_crop(box, prior_pos, scale_q, s))
        self._pending = _Pending(frame, self._pos.copy(), self._sz.copy(), fidx, store, reuse)
        timings["post"] = _ms(t3)
        timings["track"] = _ms(t1)
        self._last_result = TrackResult(box=self._box, confidence=conf, state=state,
                                        frame_index=fidx, memory_frames=tuple(frames),
                                        timings_ms=timings)
        self.last_step = step
        return self._last_result

    def update(self, frame_bgr) -> TrackResult:
        """track + memorize: the official per-frame call."""
        res = self.track(frame_bgr)
        ms = self.memorize()
        timings = dict(res.timings_ms, memorize=ms)
        self._last_result = TrackResult(res.box, res.confidence, res.state, res.frame_index,
                                        res.memory_frames, timings)
        return self._last_result
