"""ModelConfig: every number that shapes an STMTrack network, stored inside each checkpoint.

`ModelConfig()` is the official Inception-v3 STMTrack. A light variant is another value of
the same dataclass (another `backbone` kind with its own widths, stride and grid); the
necks and the head read all their sizes from here, so a new backbone needs no head change.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

#: The backbone kind of the official model (the only kind `inception.py` builds).
INCEPTION_V3 = "inception_v3"
#: The small CPU backbone: NanoTrack v1's MobileNetV3-small (`backbone_small.py`).
NANOTRACK_V1 = "nanotrack_v1"


#: Allowed range of every integer field (flags aside), checked before anything is built, so a
#: small file cannot ask for a huge network. The official model and the small variants sit well
#: inside; at the caps the whole network holds about 0.45 GB (the official one 157 MB). The
#: backbone fixes backbone_channels and total_stride, and its grid for q_size and crop_pad must
#: be score_size (checked by `network.check_geometry`).
FIELD_RANGES = {
    "q_size": (32, 1024),
    "total_stride": (1, 64),
    "score_size": (1, 128),
    "crop_pad": (0, 32),
    "backbone_channels": (1, 4096),
    "neck_channels": (1, 1024),
    "neck_kernel": (1, 5),
    "head_width": (1, 512),
    "head_convs": (1, 8),
}


@dataclass(frozen=True)
class ModelConfig:
    FLAGS = ("label_readout", "siamese_keys", "reg_first_frame")  # 0/1 options, 0 = official

    backbone: str = INCEPTION_V3  # backbone kind; STMTrackNet picks the module from it
    q_size: int = 289  # side of the square crop fed to both backbones (memory and query)
    total_stride: int = 8  # crop pixels per score-map cell
    score_size: int = 25  # side of the feature / score grid
    crop_pad: int = 4  # cells cut from every side of the backbone output
    backbone_channels: int = 768  # channels out of each backbone
    neck_channels: int = 512  # channels out of each neck = memory / query feature width C
    neck_kernel: int = 3  # neck conv kernel (padding kernel // 2)
    head_width: int = 256  # channels of the cls/ctr and reg towers
    head_convs: int = 7  # convs per tower (conv1 + ReLU/conv pairs)
    # 1: the memory also carries each cell's fg fraction of its label map as one more value
    # channel, so the read-out says how much of a query cell's attention lands on the target
    # (head.memory_read). 0: the official read (the label only acts through the features).
    label_readout: int = 0
    # 1: the memory's attention keys come from the query backbone and neck run on the memory
    # crop (the values stay the labelled memory features): a query cell then attends to the
    # memory cells that look like it, not to the label-marked ones (bench: fg read-out at the
    # target 0.94 vs 0.46 with the official keys). 0: official (keys = values).
    siamese_keys: int = 0
    # 1: the box branch reads the first memory frame alone (the user's box, exact), the score
    # branch the whole memory. Later frames' labels are the tracker's own boxes, and a box read
    # from them copies their size error, which compounds frame after frame (docs/research_log.md,
    # stages 2g-2i). The caller puts the first frame first in the memory. 0: official (one read).
    reg_first_frame: int = 0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            want = str if f.type in (str, "str") else int
            if type(v) is not want:  # bool is an int subclass: refuse it too
                raise ValueError(f"model config: {f.name} must be {want.__name__}, got {_short(v)}")
            if f.name in FIELD_RANGES:
                lo, hi = FIELD_RANGES[f.name]
                if not lo <= v <= hi:
                    raise ValueError(f"model config: {f.name}={_short(v)} is out of range {lo}..{hi}")
        for flag in self.FLAGS:
            if getattr(self, flag) not in (0, 1):
                raise ValueError(f"model config: {flag} must be 0 or 1, got {_short(getattr(self, flag))}")
        if self.neck_kernel % 2 != 1:
            raise ValueError(f"model config: neck_kernel must be odd, got {self.neck_kernel}")
        if (self.score_size - 1) * self.total_stride > self.q_size - 1:
            raise ValueError(
                f"model config: a {self.score_size}x{self.score_size} grid at stride "
                f"{self.total_stride} does not fit a {self.q_size}-px crop")

    @property
    def score_offset(self) -> int:
        """Crop pixel of grid cell 0 (48 for the official model); the grid is centred."""
        return (self.q_size - 1 - (self.score_size - 1) * self.total_stride) // 2

    @property
    def value_channels(self) -> int:
        """Channels the memory read returns: the features, plus the fg fraction (label_readout)."""
        return self.neck_channels + self.label_readout

    @property
    def memory_channels(self) -> int:
        """Channels of a memorized frame: the values, then the keys when they are their own
        (siamese_keys)."""
        return self.value_channels + self.siamese_keys * self.neck_channels

    @property
    def num_positions(self) -> int:
        """P = score_size², the number of locations per score map."""
        return self.score_size * self.score_size

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d) -> ModelConfig:
        """Build from a stored dict; unknown keys are refused, absent keys take defaults."""
        if not isinstance(d, dict):
            raise ValueError(f"model config must be a dict, got {type(d).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(k)[:40] for k in d if k not in known)
        if unknown:
            more = f" and {len(unknown) - 4} more" if len(unknown) > 4 else ""
            raise ValueError(f"model config has unknown keys {unknown[:4]}{more} "
                             f"(known: {', '.join(known)}); "
                             "it was written by a newer or different version of stmtrack_ros")
        return cls(**d)


def _short(value, limit: int = 60) -> str:
    """repr of a value cut to `limit` characters (a stored config may hold anything)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
