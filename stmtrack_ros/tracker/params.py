"""Tracker settings. Each `TrackerParams` field declares its default, description, range or
choices and when a change applies (`Setting`) once, for the library, the CLI and the node
(its parameter descriptors; `config/stmtrack.yaml` carries `yaml_lines()`); the per-benchmark
hyper-parameter presets are the official test configurations (reference spec §5.1)."""
from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass, field, fields
from enum import Enum


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
# led it onto a neighbour or the background (docs/longterm.md); "combined", the
# probability of a right box fitted over the frame's signals (tracker/combined.py); "relative",
# first_frame moved by the gap between this target's own trusted level and a common one
# (tracker/relative.py). The first two are also the names of those signals (tracker/signals.py)
COMBINED = "combined"
RELATIVE = "relative"
CONFIDENCES = ("memory", "first_frame", COMBINED, RELATIVE)
# who runs the network passes (docs/deploy.md): auto (ONNX Runtime on a CPU when it starts there
# and no torch-only setting is asked, else torch: tracker/backends.py auto_backend), PyTorch
# (exact parity, autocast, compile), ONNX Runtime on the exported passes (the fast CPU path),
# TensorRT engines built from them (GPUs)
BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
EXPORTED_BACKENDS = ("onnxruntime", "tensorrt")   # run the exported passes (model/export.py)
TORCH_ONLY = ("fp16", "bf16", "compile")          # settings only backend torch has


class When(Enum):
    """When a change to a running Tracker's setting takes effect (`Tracker.set_params`); the
    node lets the FRAME ones change while it runs and declares the others read-only."""
    FRAME = "from the next frame"
    INIT = "from the next init"
    RESTART = "with a new Tracker"


@dataclass(frozen=True)
class Setting:
    """What one TrackerParams field takes, declared once: `validate()`, `Tracker.set_params`,
    the node's parameter descriptors and config/stmtrack.yaml's comments are read from it.
    The type is the default's."""
    description: str
    range: tuple | None = None     # (min, max), inclusive, of the field's type
    choices: tuple | None = None   # the allowed strings
    when: When = When.RESTART
    noun: str = ""                 # what a choice names ("a preset"), said when one is refused


def setting(default, description: str, **spec):
    """A TrackerParams field with its default and its Setting."""
    return field(default=default, metadata={Setting: Setting(description, **spec)})


_UNIT = (0.0, 1.0)


@dataclass
class TrackerParams:
    """What a user of the tracker may set. The confidence (what the thresholds compare with, and
    what a result reports) is a raw network score at the chosen location, sigmoid(cls)·sigmoid(ctr)
    in [0, 1], read as `confidence` says (CONFIDENCES)."""
    hp: str = setting("got10k", "hyper-parameter preset (official test configuration)",
                      choices=tuple(HP_PRESETS), when=When.INIT, noun="a preset")
    mode: str = setting("bounded", "memory mode: exact = official unbounded memory, bounded = "
                        "O(capacity)", choices=MODES, when=When.INIT)
    memory_capacity: int = setting(8, "bounded mode: memory frames kept", range=(2, 1024),
                                   when=When.INIT)
    # first_frame: better than memory on the long-term proxy on every score but LOST precision
    # (AUROC 0.89 vs 0.86, AUC 0.596 vs 0.572) and on shared/data (AUROC 0.96 vs 0.36, AUC
    # 0.608 vs 0.604); relative: shared/data AUC +0.014 but proxy -0.006, AUROC 0.81 vs 0.96
    # (docs/longterm.md, Phase E)
    confidence: str = setting("first_frame", "the read behind the reported confidence: memory "
                              "(official), first_frame (frame 0 alone: drops on a drift) or "
                              "combined (fitted over several signals; bundled model only) or "
                              "relative (first_frame against this target's own trusted level)",
                              choices=CONFIDENCES, when=When.FRAME)
    # thresholds: below the bundled model's confidence on tracked DAVIS frames (p10 0.6), above
    # it on frames without the target (blank: 0.03-0.21); docs/research_log.md "LOST thresholds"
    memory_threshold: float = setting(0.3, "bounded mode: confidence a frame needs to enter "
                                      "memory", range=_UNIT, when=When.FRAME)
    lost_threshold: float = setting(0.25, "confidence below this counts toward LOST",
                                    range=_UNIT, when=When.FRAME)
    lost_frames: int = setting(5, "consecutive low-confidence frames before LOST",
                               range=(1, 10000), when=When.FRAME)
    recover_threshold: float = setting(0.3, "LOST -> TRACKING at this confidence (>= "
                                       "lost_threshold)", range=_UNIT, when=When.FRAME)
    # off: the bundled model does not find its target in a widened crop (docs/research_log.md)
    lost_search_scale: float = setting(1.0, "bounded mode: search region scale while LOST "
                                       "(1 = off)", range=(1.0, 4.0), when=When.FRAME)
    # nothing enters memory meanwhile; a target that comes back near the followed candidate
    # is found again and a false LOST does not end the track (docs/longterm.md)
    lost_follow: bool = setting(False, "bounded mode: while LOST the search follows its best "
                                "candidate (published box frozen)", when=When.FRAME)
    # crops at the target's scale scanned round-robin (tracker/redetect.py); a candidate at
    # recover_threshold is confirmed by the next frame's local search there. 2 (with margin
    # 0.2) re-finds more returns on the 150-frame proxy (AUC 0.646 vs 0.599, re-found 84 % vs
    # 74 %) and keeps shared/data (0.606 vs 0.608 off); docs/longterm.md Phase C
    redetect_tiles: int = setting(2, "bounded mode: whole-frame re-detection while LOST, "
                                  "crops per frame; 0 = off", range=(0, 64), when=When.FRAME)
    # a false LOST on a present target scans the frame and may find a look-alike (Human3):
    # a far candidate must beat the frozen box's read by the margin (0.2: free on the proxy,
    # cuts the shared/data loss from 0.012 to 0.002 AUC) and may have to hold for k local reads
    # (k 3 costs the proxy 0.009 AUC: 1)
    redetect_confirm_frames: int = setting(1, "bounded mode: local reads at recover_threshold "
                                           "in a row that a whole-frame candidate needs",
                                           range=(1, 100), when=When.FRAME)
    redetect_margin: float = setting(0.2, "bounded mode: a whole-frame candidate's confidence "
                                     "must exceed the local read by this", range=_UNIT,
                                     when=When.FRAME)
    # the scan may wait N LOST frames (the local search at the frozen box runs meanwhile):
    # every wait measured (2, 5, 15) costs the 150-frame proxy 0.011-0.023 AUC and Human3's
    # false LOSTs last 28-34 frames, so 0; docs/longterm.md Phase C
    redetect_after_frames: int = setting(0, "bounded mode: LOST frames in a row before the "
                                         "whole-frame scan starts", range=(0, 10000),
                                         when=When.FRAME)
    device: str = setting("cpu", "torch device: cpu, cuda or cuda:N (falls back to cpu with a "
                          "warning)")
    fp16: bool = setting(False, "CUDA float16 autocast (bounded mode only; ignored on cpu)")
    bf16: bool = setting(False, "CUDA bfloat16 autocast (bounded mode only; ignored on cpu)")
    compile: bool = setting(False, "torch.compile the network passes")
    optimize: bool = setting(True, "BN-folded channels_last inference copy of the network")
    # set for the whole process (torch.set_num_threads)
    threads: int = setting(0, "torch intra-op threads (0 = torch's default)", range=(0, 256))
    # auto: onnxruntime tracks 1.8x faster than torch on this 2-core CPU (docs/speed.md)
    backend: str = setting("auto", "what runs the network: auto (onnxruntime on a CPU, else "
                           "torch), torch, onnxruntime or tensorrt (GPU engines; docs/deploy.md)",
                           choices=BACKENDS)
    onnx_dir: str = setting("", "onnxruntime/tensorrt: folder written by `stmtrack export`; "
                            "empty = export into the cache on start")

    @property
    def hyper(self) -> HyperParams:
        return HP_PRESETS[self.hp]

    def torch_only(self) -> list[str]:
        """The settings asked (set true) that only backend torch has (TORCH_ONLY)."""
        return [name for name in TORCH_ONLY if getattr(self, name) is True]

    def validate(self) -> list[str]:
        """Reasons this parameter set is unusable (empty when fine): each field against its
        Setting, then the combinations."""
        why = [w for f in fields(self) if (w := value_problem(f.name, getattr(self, f.name)))]
        if not why and self.recover_threshold < self.lost_threshold:
            why.append(f"recover_threshold={self.recover_threshold} must be >= "
                       f"lost_threshold={self.lost_threshold} (hysteresis)")
        dev = self.device
        if isinstance(dev, str) and not (dev in ("cpu", "cuda") or
                                         (dev.startswith("cuda:") and dev[5:].isdigit())):
            why.append(f"device={dev!r}; use 'cpu', 'cuda' or 'cuda:N'")
        if self.fp16 is True and self.bf16 is True:
            why.append("fp16 and bf16 are exclusive; set at most one")
        if (self.fp16 is True or self.bf16 is True) and self.mode == "exact":
            why.append("fp16/bf16 change the numbers; use them with mode 'bounded' only")
        if self.backend in EXPORTED_BACKENDS:
            if self.compile is True:
                why.append(f"compile applies to backend torch only; set it false with backend "
                           f"{self.backend}")
            if self.fp16 is True or self.bf16 is True:
                why.append(f"fp16/bf16 apply to backend torch only (TensorRT's precision is the "
                           f"engine's); set them false with backend {self.backend}")
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


SETTINGS: dict[str, Setting] = {f.name: f.metadata[Setting] for f in fields(TrackerParams)}
_KINDS = {f.name: type(f.default) for f in fields(TrackerParams)}


def value_problem(name: str, value) -> str | None:
    """Why `value` cannot be TrackerParams field `name` by its Setting (type, range, choices);
    None when it can."""
    s, kind = SETTINGS[name], _KINDS[name]
    number = not isinstance(value, bool) and isinstance(value, int if kind is int else (int, float))
    inside = s.range is None or (number and s.range[0] <= value <= s.range[1])
    if kind is bool and not isinstance(value, bool):
        return f"{name}={value!r} must be true or false"
    if kind is int and not (number and inside):
        return f"{name}={value!r} must be an integer" + (
            f" in {s.range[0]}..{s.range[1]}" if s.range else "")
    if kind is float and not (number and inside):
        return f"{name}={value!r} must be a number" + (
            f" in [{s.range[0]:g}, {s.range[1]:g}]" if s.range else "")
    if kind is str and s.choices is not None and value not in s.choices:
        return (f"{name}={value!r}" + (f" is not {s.noun}" if s.noun else "")
                + f"; choose one of {', '.join(s.choices)}")
    if kind is str and not isinstance(value, str):
        return f"{name}={value!r} must be a string"
    return None


def option_help(name: str, default: str = "") -> str:
    """A CLI option's help for field `name`, from its Setting: the description, the choices,
    and `default` (what the option falls back to; the field's default when empty)."""
    s = SETTINGS[name]
    default = default or repr(getattr(TrackerParams(), name))
    return s.description + (f"; one of {', '.join(s.choices)}" if s.choices else "") \
        + f" (default {default})"


def _yaml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if not isinstance(value, str) else (value or '""')


def yaml_lines(indent: str = "    ", width: int = 110) -> list[str]:
    """The tracker block of config/stmtrack.yaml: every field with its default and, as a
    comment, what it takes and whether the node may change it while it runs (test_node_params
    keeps the file equal to this)."""
    out = []
    for f in fields(TrackerParams):
        s = SETTINGS[f.name]
        head = f"{indent}{f.name}: {_yaml_value(f.default)}"
        col = max(len(head) + 1, 31)
        room = width - col - 2
        text = textwrap.wrap(s.description, room)
        for tag in ((f"({' | '.join(s.choices)})" if s.choices else ""),
                    (f"[{s.range[0]}, {s.range[1]}]" if s.range else ""),
                    ("(runtime)" if s.when is When.FRAME else "")):
            if tag and len(text[-1]) + 1 + len(tag) <= room:
                text[-1] += " " + tag
            elif tag:
                text.append(tag)
        out += [f"{(head if i == 0 else ''):<{col}}# {line}" for i, line in enumerate(text)]
    return out
