"""Tracker settings. `TrackerParams` defaults are the single source of truth for the library,
the CLI and the node (`config/stmtrack.yaml` mirrors them); the per-benchmark hyper-parameter
presets are the official test configurations (reference spec §5.1)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class HyperParams:
    """Post-processing numbers of one official test configuration."""
    test_lr: float
    window_influence: float
    penalty_k: float
    search_area_factor: float
    confidence_threshold: float = 0.6   # windowed pscore above which the previous frame is read
    num_segments: int = 4
    min_w: float = 10.0
    min_h: float = 10.0


HP_PRESETS = {
    "got10k": HyperParams(0.95, 0.21, 0.04, 4.0),
    "lasot": HyperParams(0.95, 0.21, 0.04, 4.0),
    "trackingnet": HyperParams(0.95, 0.21, 0.04, 4.0),
    "otb": HyperParams(0.5501132208837838, 0.20534968836733386, 0.07592315864890313, 4.0),
    "uav123": HyperParams(0.5405424265010361, 0.20298940424940976, 0.07067416478817143,
                          4.171677449782462),
    "vot": HyperParams(0.9629084797864664, 0.2674225347735762, 0.04120782242066555,
                       4.056291055280747, confidence_threshold=0.0),
}

MODES = ("exact", "bounded")
# what `confidence` is: "memory", the official score of the chosen cell (the read of every
# memory frame); "first_frame", the score of the same cell read against frame 0 alone (the
# user's box): it stays high while the track is on the target and drops when the memory has
# led it onto a neighbour or the background (MODEL_CARD, "Confidence")
CONFIDENCES = ("memory", "first_frame")
# who runs the network passes (docs/deploy.md): PyTorch (exact parity, autocast, compile), ONNX
# Runtime on the exported passes (the fast CPU path), TensorRT engines built from them (GPUs)
BACKENDS = ("torch", "onnxruntime", "tensorrt")


@dataclass
class TrackerParams:
    """What a user of the tracker may set. The confidence (what the thresholds compare with, and
    what a result reports) is a raw network score at the chosen location, sigmoid(cls)·sigmoid(ctr)
    in [0, 1], read as `confidence` says (CONFIDENCES)."""
    hp: str = "got10k"                 # hyper-parameter preset (HP_PRESETS)
    mode: str = "bounded"              # "exact": official, unbounded memory; "bounded": O(capacity)
    memory_capacity: int = 8           # bounded: representatives kept over the history
    # CONFIDENCES: the read behind the reported score. first_frame: better than memory on the
    # long-term proxy on every score but LOST precision (AUROC 0.89 vs 0.86, AUC 0.596 vs 0.572)
    # and on shared/data (AUROC 0.96 vs 0.36, AUC 0.608 vs 0.604); docs/longterm.md
    confidence: str = "first_frame"
    # thresholds: below the bundled model's confidence on tracked DAVIS frames (p10 0.6), above
    # it on frames without the target (blank: 0.03-0.21); MODEL_CARD "LOST"
    memory_threshold: float = 0.3      # bounded: a frame enters memory only at this confidence
    lost_threshold: float = 0.25       # confidence below this counts toward LOST ...
    lost_frames: int = 5               # ... for this many consecutive frames
    recover_threshold: float = 0.3     # LOST -> TRACKING at this confidence (>= lost_threshold)
    # the bundled model does not find its target in a widened crop (MODEL_CARD "LOST"): off
    lost_search_scale: float = 1.0     # bounded: search region x this while LOST (1 = off)
    # bounded, while LOST: the search window follows its best candidate (the published box
    # stays frozen, nothing enters memory), so a target that comes back near it is found again
    # and a false LOST does not end the track (docs/longterm.md)
    lost_follow: bool = False
    device: str = "cpu"                # "cpu", "cuda" or "cuda:N" (falls back to cpu, with a warning)
    fp16: bool = False                 # CUDA autocast float16 (ignored on cpu)
    bf16: bool = False                 # CUDA autocast bfloat16 (ignored on cpu)
    compile: bool = False              # torch.compile the network passes
    optimize: bool = True              # BN-folded, channels_last inference copy of the network
    threads: int = 0                   # torch intra-op threads, set for the whole process; 0 = leave as is
    backend: str = "torch"             # BACKENDS: what runs the network passes
    onnx_dir: str = ""                 # onnxruntime/tensorrt: `stmtrack export` folder; "" = the cache

    @property
    def hyper(self) -> HyperParams:
        return HP_PRESETS[self.hp]

    def validate(self) -> list[str]:
        """Reasons this parameter set is unusable (empty when fine)."""
        why = []
        if self.hp not in HP_PRESETS:
            why.append(f"hp={self.hp!r} is not a preset; choose one of {', '.join(HP_PRESETS)}")
        if self.mode not in MODES:
            why.append(f"mode={self.mode!r}; choose 'exact' or 'bounded'")
        if self.confidence not in CONFIDENCES:
            why.append(f"confidence={self.confidence!r}; choose one of {', '.join(CONFIDENCES)}")
        if not isinstance(self.memory_capacity, int) or isinstance(self.memory_capacity, bool) \
                or not 2 <= self.memory_capacity <= 1024:
            why.append(f"memory_capacity={self.memory_capacity!r} must be an integer in 2..1024")
        for name in ("memory_threshold", "lost_threshold", "recover_threshold"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                why.append(f"{name}={v!r} must be a number in [0, 1]")
        if not why and self.recover_threshold < self.lost_threshold:
            why.append(f"recover_threshold={self.recover_threshold} must be >= "
                       f"lost_threshold={self.lost_threshold} (hysteresis)")
        if not isinstance(self.lost_frames, int) or isinstance(self.lost_frames, bool) \
                or self.lost_frames < 1:
            why.append(f"lost_frames={self.lost_frames!r} must be an integer >= 1")
        v = self.lost_search_scale
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1.0 <= v <= 4.0:
            why.append(f"lost_search_scale={v!r} must be a number in [1, 4]")
        dev = self.device
        if not isinstance(dev, str) or not (dev in ("cpu", "cuda") or
                                            (dev.startswith("cuda:") and dev[5:].isdigit())):
            why.append(f"device={dev!r}; use 'cpu', 'cuda' or 'cuda:N'")
        for name in ("lost_follow", "fp16", "bf16", "compile", "optimize"):
            if not isinstance(getattr(self, name), bool):
                why.append(f"{name}={getattr(self, name)!r} must be true or false")
        if self.fp16 is True and self.bf16 is True:
            why.append("fp16 and bf16 are exclusive; set at most one")
        if (self.fp16 is True or self.bf16 is True) and self.mode == "exact":
            why.append("fp16/bf16 change the numbers; use them with mode 'bounded' only")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 0:
            why.append(f"threads={self.threads!r} must be an integer >= 0")
        why += self._backend_problems()
        return why

    def _backend_problems(self) -> list[str]:
        if self.backend not in BACKENDS:
            return [f"backend={self.backend!r}; choose one of {', '.join(BACKENDS)}"]
        why = []
        if not isinstance(self.onnx_dir, str):
            why.append(f"onnx_dir={self.onnx_dir!r} must be a folder path (text; empty = the cache)")
        if self.backend == "torch":
            return why
        if self.compile is True:
            why.append(f"compile applies to backend torch only; set it false with backend {self.backend}")
        if self.fp16 is True or self.bf16 is True:
            why.append(f"fp16/bf16 apply to backend torch only (TensorRT's precision is the engine's); "
                       f"set them false with backend {self.backend}")
        return why

    def check(self) -> TrackerParams:
        why = self.validate()
        if why:
            raise ValueError("invalid tracker parameters: " + "; ".join(why))
        return self

    @classmethod
    def from_dict(cls, values: dict) -> TrackerParams:
        """Build from plain values (YAML, ROS parameters); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown tracker parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**values).check()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> TrackerParams:
        return dataclasses.replace(self, **changes).check()
