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

All or nothing: `init`, `track`, `memorize` and `update` build the new target state from the
old one (`_Target`, with a copy-on-write memory bank) and swap it in with one assignment once
every check and network pass has succeeded. So a refused call (`TrackerInputError`) or a pass
that fails inside (a network error, out of memory) leaves the tracker exactly as before the
call, a refused `init` keeps the old target, and nothing can fail half-way through a commit:
there is no half-built state to fall back from. Limits of frames and boxes: docs/limits.md.

Frames keep their size for a whole track: a frame of another size is refused
(`TrackerInputError`); call `init` again with a box in the new frame. The frame given to
`init`/`track` is held by reference until its memory pass: do not write into it before
`memorize()` (or the next `track`) has run.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from stmtrack_ros.model.input_tensor import input_tensor

from . import combined, relative
from .backends import make_backend
from .boxes import cxywh_to_xywh, xywh_to_cxywh
from .crop import box_in_centred_crop, box_label_map, fg_bg_map, get_crop
from .inputs import as_bgr, check_box
from .lost import advance, trusted
from .memory import BoundedMemory, ExactMemory
from .params import COMBINED, RELATIVE, SETTINGS, HyperParams, TrackerParams, When
from .postprocess import Step, choose_step, cosine_window
from .redetect import tile_centres
from .result import TrackerInputError, TrackResult, TrackState
from .signals import frame_signals, sharpness


@dataclass(frozen=True, eq=False)
class _Pending:
    """A frame whose memory pass has not run yet."""
    frame: np.ndarray
    pos: np.ndarray
    sz: np.ndarray
    index: int
    store: bool
    reuse: tuple | None = None     # (query crop tensor, its query features, box xyxy in crop)


@dataclass(frozen=True)
class Redetection:
    """The whole-frame search of one track (bounded mode, while LOST): what the node reports."""
    searching: bool = False        # the last frame was LOST with re-detection on
    candidate: bool = False        # the search window sits on a tile's candidate, to confirm
    confirmed: int = 0             # local reads at recover_threshold on the candidate so far
    lost_for: int = 0              # LOST frames in a row, this one included (0 when TRACKING)
    next_tile: int = 0             # round-robin position in the tile grid
    tiles: int = 0                 # crops in the grid at the target's scale (last frame)
    tiles_scanned: int = 0         # crops scanned since init
    candidates: int = 0            # candidates at recover_threshold found in them
    recoveries: int = 0            # candidates the next frame's local search confirmed


@dataclass(frozen=True, eq=False)
class _Target:
    """Everything one track holds. A pass builds a new one from the old and the tracker swaps
    it in with one assignment when the pass has succeeded (the memory bank is copied on write),
    so a call that fails anywhere leaves the previous target exactly as it was."""
    image_hw: tuple
    avg: tuple                     # per-channel frame mean of the init frame (crop border)
    hp: HyperParams
    bounded: bool
    base_sz: np.ndarray
    pos: np.ndarray
    sz: np.ndarray
    target_scale: float
    box: tuple
    state: TrackState
    frame_index: int
    prev_pscore: float
    low_count: int
    memory: BoundedMemory | ExactMemory
    pending: _Pending | None
    result: TrackResult
    step: Step | None = None       # post-processing details of the last track (diagnostics)
    memorize_ms: float = 0.0       # duration of the last memory pass
    search: Redetection = Redetection()
    home: tuple | None = None      # (pos, sz, target_scale) of the frozen box, while on a candidate
    last_write: int = 0            # index of the last frame written into memory
    levels: tuple = ()             # trusted first_frame reads, newest last (tracker/relative.py)


@dataclass(frozen=True, eq=False)
class _Located:
    """One search crop's outcome: the crop tensor and its query features (a Siamese-keys model
    reuses them as memory), its scale, the post-processing step, the reported confidence and
    the signals it was chosen from (signals.SIGNALS)."""
    query: torch.Tensor
    features: torch.Tensor
    scale_q: float
    step: Step
    confidence: float
    signals: dict


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
        self._combined_fits = combined.fitted_for(net)
        self._warn_combined(self.params)
        self.reset()

    @classmethod
    def from_checkpoint(cls, path, params: TrackerParams | None = None,
                        sha256: str | None = None) -> Tracker:
        """A tracker on the network of a checkpoint file; `sha256`: its expected digest
        (`load_checkpoint`)."""
        from stmtrack_ros.model import load_checkpoint, resolve_device
        params = params if params is not None else TrackerParams()
        return cls(load_checkpoint(path, device=resolve_device(params.device), sha256=sha256), params)

    # ---- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the target (state IDLE); the next call must be `init`."""
        self._target: _Target | None = None

    def set_params(self, params: TrackerParams) -> None:
        """Change settings on a live tracker, each when its `Setting.when` says: confidence,
        the thresholds and lost_* from the next frame; hp, mode and memory_capacity from the
        next `init`; the rest (device, precision, compile, optimize, threads, backend,
        onnx_dir) need a new Tracker (ValueError, nothing changed)."""
        params = params.check()
        fixed = [n for n, s in SETTINGS.items() if s.when is When.RESTART
                 and getattr(params, n) != getattr(self.params, n)]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot change on a running tracker; "
                             "build a new Tracker")
        if params.confidence != self.params.confidence:
            self._warn_combined(params)
        self.params = params

    def _warn_combined(self, params: TrackerParams) -> None:
        if params.confidence == COMBINED and not self._combined_fits:
            warnings.warn("confidence combined: its coefficients were fitted for the bundled "
                          "model, not this one; reporting first_frame (tracker/combined.py)",
                          RuntimeWarning, stacklevel=3)

    def _confidence(self, signals: dict, levels: tuple) -> float:
        """The reported confidence of one read (`TrackerParams.confidence`): a signal of that
        name, the combined score (first_frame for a model it was not fitted for) or the
        relative one against this target's trusted reads `levels`."""
        choice = self.params.confidence
        if choice == COMBINED:
            return combined.score(signals) if self._combined_fits else signals["first_frame"]
        if choice == RELATIVE:
            return relative.score(signals["first_frame"], levels)
        return signals[choice]

    @property
    def state(self) -> TrackState:
        return self._target.state if self._target is not None else TrackState.IDLE

    @property
    def frame_index(self) -> int:
        return self._target.frame_index if self._target is not None else -1

    @property
    def last_result(self) -> TrackResult | None:
        return self._target.result if self._target is not None else None

    @property
    def last_step(self) -> Step | None:
        """Post-processing details of the last track (diagnostics); None before one."""
        return self._target.step if self._target is not None else None

    @property
    def redetection(self) -> Redetection:
        """The whole-frame search's state and counts for this track (diagnostics)."""
        return self._target.search if self._target is not None else Redetection()

    @property
    def last_memorize_ms(self) -> float:
        return self._target.memorize_ms if self._target is not None else 0.0

    def memory_stats(self) -> dict:
        """What the memory holds now: frames, feature count and bytes (for soak checks)."""
        if self._target is None:
            return {"frames": [], "features": 0, "bytes": 0}
        memory = self._target.memory
        frames = memory.stored_frames()
        return {"frames": frames, "features": len(frames), "bytes": memory.nbytes()}

    # ---- network calls ----------------------------------------------------------------------
    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return input_tensor(arr, self.device, self.backend.channels_last)

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
        """Start tracking the box (x, y, w, h, image px) in this frame; replaces all state.
        A refused box or frame (TrackerInputError) keeps the current target."""
        t0 = time.perf_counter()
        frame = as_bgr(frame_bgr)
        box = check_box(box_xywh, frame.shape[:2])
        hp, bounded = self.params.hyper, self.params.mode == "bounded"
        cxywh = xywh_to_cxywh(np.array(box, dtype=np.float64))
        pos, sz = cxywh[:2].copy(), cxywh[2:].copy()           # float32 on the init frame
        target_scale = math.sqrt(np.prod(sz * hp.search_area_factor)) / self.config.q_size
        memory = (BoundedMemory(self.params.memory_capacity, hp.num_segments)
                  if bounded else ExactMemory(hp.num_segments))
        box = tuple(float(v) for v in box)
        result = TrackResult(box=box, confidence=1.0, state=TrackState.TRACKING, frame_index=0,
                             memory_frames=(), timings_ms={"init": _ms(t0)})
        self._target = _Target(
            image_hw=frame.shape[:2], avg=tuple(float(frame[..., c].mean()) for c in range(3)),
            hp=hp, bounded=bounded, base_sz=sz / target_scale, pos=pos, sz=sz,
            target_scale=target_scale, box=box, state=TrackState.TRACKING, frame_index=0,
            prev_pscore=1.0, low_count=0, memory=memory,
            pending=_Pending(frame, pos.copy(), sz.copy(), 0, True), result=result)
        return result

    def memorize(self) -> float:
        """Memory pass for the frame last given to init/track (if it is to be stored);
        a no-op when already done. Returns the milliseconds it took."""
        if self._target is None:
            return 0.0
        self._target, ms = self._memory_pass(self._target)
        return ms

    def track(self, frame_bgr) -> TrackResult:
        """Query pass for the next frame: the result the node publishes at once."""
        self._target = self._track_pass(frame_bgr)
        return self._target.result

    def update(self, frame_bgr) -> TrackResult:
        """track + memorize: the official per-frame call (all or nothing, as each of them)."""
        target, ms = self._memory_pass(self._track_pass(frame_bgr))
        result = dataclasses.replace(target.result, timings_ms=dict(target.result.timings_ms,
                                                                    memorize=ms))
        self._target = dataclasses.replace(target, result=result)
        return result

    # ---- passes: old target -> new target, no side effect on the tracker -------------------
    def _memory_pass(self, tg: _Target) -> tuple[_Target, float]:
        """`tg` with its pending frame in memory, and the milliseconds the pass took."""
        p = tg.pending
        if p is None:
            return tg, 0.0
        if not p.store:
            return dataclasses.replace(tg, pending=None), 0.0
        t0 = time.perf_counter()
        s = self.config.q_size
        if p.reuse is not None:
            query, keys, box = p.reuse
            feature = self.backend.memorize(query, self._tensor(box_label_map(s, box)), keys)
        else:
            scale = math.sqrt(np.prod(p.sz) / np.prod(tg.base_sz))
            crop, r = get_crop(p.frame, p.pos, scale, s, tg.avg)
            wh = p.sz * r                                        # keeps sz's dtype, as official
            label = fg_bg_map(s, wh[0], wh[1])
            feature = self.backend.memorize(self._tensor(crop), self._tensor(label))
        ms = _ms(t0)
        return dataclasses.replace(tg, memory=tg.memory.added(p.index, feature), pending=None,
                                   memorize_ms=ms, last_write=p.index), ms

    def _track_pass(self, frame_bgr) -> _Target:
        """The target after the query pass on this frame (the previous frame's memory pass
        first, when it is still pending): select memory, locate, advance the state, plan the
        memory write."""
        tg = self._target
        if tg is None:
            raise TrackerInputError("the tracker has no target: call init(frame, box) first")
        frame = as_bgr(frame_bgr)
        if frame.shape[:2] != tg.image_hw:
            (h0, w0), (h1, w1) = tg.image_hw, frame.shape[:2]
            raise TrackerInputError(f"frame size changed from {w0}x{h0} to {w1}x{h1} mid-track; "
                                    "call init(frame, box) again for the new size")
        timings = {}
        if tg.pending is not None:
            tg, timings["memorize_prev"] = self._memory_pass(tg)
        t1 = time.perf_counter()
        params, fidx = self.params, tg.frame_index + 1
        frames, memory = self._select_memory(tg, fidx)
        lost = tg.state == TrackState.LOST
        widen = params.lost_search_scale if tg.bounded and lost else 1.0
        loc = self._locate(tg, frame, tg.pos, tg.target_scale * widen, frames, memory,
                           self._window, timings)
        t3 = time.perf_counter()
        state, low = advance(tg.state, tg.low_count, loc.confidence, params)
        state, low, pos, sz, target_scale, box, search, home = self._advance_search(
            tg, frame, frames, memory, loc, state, low, timings)
        pending = self._planned_write(tg, frame, fidx, state, loc, pos, sz,
                                      reusable=not (tg.bounded and lost))  # not the widened crop
        # the level follows the trusted reads only: frozen while LOST, seeded by the first read
        levels = (relative.remembered(tg.levels, loc.signals["first_frame"])
                  if relative.trusted(tg.frame_index == 0, state, loc.confidence,
                                      params.memory_threshold) else tg.levels)
        timings["post"] += _ms(t3) - timings.get("redetect", 0.0)
        timings["track"] = _ms(t1)
        result = TrackResult(box=box, confidence=loc.confidence, state=state, frame_index=fidx,
                             memory_frames=tuple(frames), timings_ms=timings,
                             signals=loc.signals)
        return dataclasses.replace(
            tg, pos=pos, sz=sz, target_scale=target_scale, box=box, state=state,
            frame_index=fidx, prev_pscore=loc.step.pscore, low_count=low, step=loc.step,
            result=result, pending=pending, search=search, home=home, levels=levels)

    def _advance_search(self, tg: _Target, frame: np.ndarray, frames: list,
                        memory: torch.Tensor, loc: _Located, state: TrackState, low: int,
                        timings: dict) -> tuple:
        """(state, low_count, pos, sz, target_scale, published box, search, home) after this
        frame's local read `loc` and the rule's `state`: where the window goes (_moved), and in
        bounded mode while LOST the whole-frame search: holding a candidate until it is
        confirmed, scanning the next tiles, or going back to the frozen box."""
        params, lost = self.params, tg.state == TrackState.LOST
        search = tg.search
        on_candidate = tg.bounded and lost and search.candidate
        # a candidate turns TRACKING after redetect_confirm_frames local reads at recover in a
        # row; before that the window follows it, the box stays frozen and nothing is scanned
        holding = (on_candidate and state == TrackState.TRACKING
                   and search.confirmed + 1 < params.redetect_confirm_frames)
        if holding:
            state, low = TrackState.LOST, tg.low_count
        pos, sz, target_scale, box = self._moved(tg, loc.step, state, follow_search=holding)
        if on_candidate and state == TrackState.TRACKING:
            search = dataclasses.replace(search, recoveries=search.recoveries + 1)
        # a false LOST on a present target is short: the scan waits redetect_after_frames
        lost_for = search.lost_for + 1 if state == TrackState.LOST else 0
        searching = (tg.bounded and state == TrackState.LOST and params.redetect_tiles > 0
                     and not holding and lost_for > params.redetect_after_frames)
        search = dataclasses.replace(search, searching=searching or holding, candidate=holding,
                                     confirmed=search.confirmed + 1 if holding else 0,
                                     lost_for=lost_for)
        found, home = None, tg.home if holding else None
        if searching:
            t4 = time.perf_counter()
            found, search = self._scan_tiles(tg, frame, frames, memory, search, loc.confidence)
            timings["redetect"] = _ms(t4)
        if found is not None:           # the next frames' local searches confirm it, or not
            home = tg.home if on_candidate else (pos, sz, target_scale)
            pos, sz = found.step.pos, found.step.sz
            target_scale = math.sqrt(np.prod(sz) / np.prod(tg.base_sz))
        elif on_candidate and not holding and state == TrackState.LOST \
                and not params.lost_follow:
            pos, sz, target_scale = tg.home                      # not confirmed: back to the box
        return state, low, pos, sz, target_scale, box, search, home

    def _scan_tiles(self, tg: _Target, frame: np.ndarray, frames: list, memory: torch.Tensor,
                    search: Redetection, local: float) -> tuple:
        """(the best candidate or None, the search's new counts) after scanning the next
        `redetect_tiles` crops of the grid at the target's scale; a candidate's confidence
        reaches recover_threshold and exceeds this frame's local read `local` by
        redetect_margin."""
        c = self.config
        tiles = tile_centres(tg.image_hw, tg.target_scale, (c.score_size - 1) * c.total_stride)
        n = min(self.params.redetect_tiles, len(tiles))
        flat = np.zeros_like(self._window)      # no cosine-window bonus away from the box
        best, bar = None, max(self.params.recover_threshold, local + self.params.redetect_margin)
        for i in range(n):
            centre = np.array(tiles[(search.next_tile + i) % len(tiles)], dtype=np.float64)
            loc = self._locate(tg, frame, centre, tg.target_scale, frames, memory, flat, {},
                               tile=True)
            if loc.confidence >= bar and (best is None or loc.confidence > best.confidence):
                best = loc
        search = dataclasses.replace(
            search, candidate=best is not None, next_tile=(search.next_tile + n) % len(tiles),
            tiles=len(tiles), tiles_scanned=search.tiles_scanned + n,
            candidates=search.candidates + (best is not None))
        return best, search
    def _select_memory(self, tg: _Target, fidx: int) -> tuple[list, torch.Tensor]:
        """The memory frames frame `fidx` reads (frame 0 first for a model whose box branch
        reads it alone) and their features, gathered (1, M, T, s, s)."""
        frames = tg.memory.select(fidx, tg.prev_pscore > tg.hp.confidence_threshold)
        if self.config.reg_first_frame and 0 in frames:  # its box branch reads slot 0 alone
            frames.remove(0)
            frames.insert(0, 0)
        return frames, tg.memory.gather(frames)

    def _locate(self, tg: _Target, frame: np.ndarray, centre, scale: float, frames: list,
                memory: torch.Tensor, window: np.ndarray, timings: dict,
                tile: bool = False) -> _Located:
        """Where the memory read puts the target in the crop around `centre` at `scale` (image
        px per crop px): crop, query features, memory read, post-processing and the reported
        confidence (`TrackerParams.confidence`); `window`: the cosine-window bonus per cell;
        `tile`: a whole-frame tile, whose centre is no prior box (its signals' jump is 0).
        Adds crop/network/post milliseconds."""
        t1 = time.perf_counter()
        s = self.config.q_size
        crop, scale_q = get_crop(frame, centre, scale, s, tg.avg)
        query = self._tensor(crop)
        timings["crop"] = timings.get("crop", 0.0) + _ms(t1)
        t2 = time.perf_counter()
        fq = self.backend.query_features(query)
        score, boxes, _, _ = self.backend.read_memory(fq, memory)
        score = score[0, :, 0].float().cpu().numpy()
        boxes = boxes[0].float().cpu().numpy()
        timings["network"] = timings.get("network", 0.0) + _ms(t2)
        t3 = time.perf_counter()
        step = choose_step(score, boxes, centre, tg.sz, scale_q, window, tg.hp,
                          tg.image_hw, s)
        first = step.score                   # a read of frame 0 alone is the memory read
        if len(frames) > 1:
            k = frames.index(0)  # every read holds frame 0 (memory.py)
            first = float(self.backend.first_frame_score(fq, memory[:, :, k:k + 1], step.best))
        signals = frame_signals(step.score, first, sharpness(score, step.best), step.pos,
                                step.pos if tile else centre,
                                step.pred_sz, tg.sz, tg.frame_index + 1 - tg.last_write)
        conf = self._confidence(signals, tg.levels)
        conf = min(max(conf, 0.0), 1.0) if not math.isnan(conf) else 0.0
        timings["post"] = timings.get("post", 0.0) + _ms(t3)
        return _Located(query=query, features=fq, scale_q=scale_q, step=step, confidence=conf,
                        signals=signals)

    def _moved(self, tg: _Target, step: Step, state: TrackState,
               follow_search: bool = False) -> tuple:
        """(pos, sz, target_scale, published box) after a frame in this state: the search
        window follows the step unless bounded and LOST (or lost_follow / `follow_search` say
        so); the published box follows it only while following."""
        follow = not tg.bounded or state == TrackState.TRACKING
        pos, sz, target_scale, box = tg.pos, tg.sz, tg.target_scale, tg.box
        if follow or follow_search or self.params.lost_follow:
            pos, sz = step.pos, step.sz
            target_scale = math.sqrt(np.prod(step.sz) / np.prod(tg.base_sz))
        if follow:
            box = tuple(float(v) for v in cxywh_to_xywh(np.concatenate([step.pos, step.sz])))
        return pos, sz, target_scale, box

    def _planned_write(self, tg: _Target, frame: np.ndarray, fidx: int, state: TrackState,
                       loc: _Located, pos, sz, reusable: bool) -> _Pending:
        """The memory write this frame asks for: stored in exact mode, in bounded mode only
        when TRACKING at memory_threshold or above; a Siamese-keys model reuses the query
        crop and features when the crop is the plain search crop (`reusable`)."""
        store = (not tg.bounded) or trusted(state, loc.confidence, self.params.memory_threshold)
        reuse = None
        if store and self._reuse_query and reusable:
            xywh = np.concatenate([pos - sz / 2, sz])
            reuse = (loc.query, loc.features,
                     box_in_centred_crop(xywh, tg.pos, loc.scale_q, self.config.q_size))
        return _Pending(frame, pos.copy(), sz.copy(), fidx, store, reuse)
