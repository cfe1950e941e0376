"""Memory banks: which stored frame features the query pass reads.

`ExactMemory` is the official policy (reference spec §5.6): every frame is stored (unbounded,
1.22 MiB per frame for the official model), and update number `fidx` reads frame 0, the middle
of each of `num_segments` equal segments of the history, and the previous frame when its
windowed score passed the confidence threshold, in the official order (previous frame first)
and with the official duplicate at fidx = 8.

`BoundedMemory` is for endless streams; it stores at most `capacity + 2` features whatever the
stream length:

* the first frame (the user's box, never replaced);
* the last reliable frame (the newest frame that passed the memory gate);
* a bank of at most `capacity` representatives spread evenly over the history. The history is
  cut into segments of `seg` frames (seg = 1, 2, 4, ...); the bank keeps at most one frame per
  segment, the one nearest the segment's middle. When a frame falls beyond segment number
  `capacity`, `seg` doubles and neighbouring segments merge, each keeping the frame nearest the
  merged middle. So the bank always covers the whole history at a resolution of `seg`
  (between capacity/2 and capacity segments), like the paper's segment sampling.

Only frames the tracker calls confident are offered to it (the gate lives in the tracker), so
occlusion and drift do not enter the memory. A read picks, for each of `num_segments` equal
segments of the history, the bank frame nearest that segment's middle (what the official
policy would pick, at the bank's resolution), plus the first frame, plus the last reliable
frame when the previous frame's windowed score passed the confidence threshold (the official
rule for the previous frame): T <= num_segments + 2, 6 by default as in the official tracker.
Reading the last reliable frame unconditionally costs a model that really reads its memory
(stage 2e) a third of its AUC: after a poor frame it re-reads a stale view.
"""
from __future__ import annotations

import copy

import torch


def official_indexes(fidx: int, prev_confident: bool, num_segments: int = 4) -> list[int]:
    """0-based frame indexes read at update `fidx` (frames 0..fidx-1 stored), official order."""
    if fidx <= num_segments:
        return list(range(fidx))
    dur = fidx // num_segments
    cand = {1} | {k * dur + dur // 2 + 1 for k in range(num_segments)}
    if prev_confident:
        cand.add(0)
    # 1-based list positions; 0 means "the last entry" (the previous frame)
    return [fidx - 1 if i == 0 else i - 1 for i in sorted(cand)]


def _nbytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


class ExactMemory:
    """Every frame's feature, in frame order (the official, unbounded store)."""

    def __init__(self, num_segments: int = 4):
        self.num_segments = num_segments
        self._features: list[torch.Tensor] = []

    def add(self, frame_index: int, feature: torch.Tensor) -> None:
        if frame_index != len(self._features):
            raise RuntimeError(f"exact memory expects frame {len(self._features)}, got {frame_index}")
        self._features.append(feature)

    def added(self, frame_index: int, feature: torch.Tensor) -> ExactMemory:
        """A new bank with this frame added; this one is left as it is (the tracker's passes
        commit all or nothing)."""
        new = copy.copy(self)
        new._features = list(self._features)
        new.add(frame_index, feature)
        return new

    def __len__(self) -> int:
        return len(self._features)

    def select(self, fidx: int, prev_confident: bool) -> list[int]:
        return official_indexes(fidx, prev_confident, self.num_segments)

    def gather(self, frames) -> torch.Tensor:
        return torch.cat([self._features[f] for f in frames], dim=2)

    def stored_frames(self) -> list[int]:
        return list(range(len(self._features)))

    def nbytes(self) -> int:
        return _nbytes(self._features)


class BoundedMemory:
    """First frame + last reliable frame + an evenly spread bank (policy in the module doc)."""

    def __init__(self, capacity: int = 8, num_segments: int = 4):
        if capacity < 2:
            raise ValueError("bounded memory needs capacity >= 2")
        self.capacity = capacity
        self.num_segments = num_segments
        self.seg = 1
        self._first: tuple | None = None          # (frame, feature)
        self._last: tuple | None = None           # (frame, feature), newest reliable
        self._bank: dict[int, tuple] = {}         # segment -> (frame, feature)

    def _mid(self, segment: int) -> float:
        return segment * self.seg + (self.seg - 1) / 2

    def _offer(self, frame: int, feature) -> None:
        seg = frame // self.seg
        old = self._bank.get(seg)
        if old is None or abs(frame - self._mid(seg)) < abs(old[0] - self._mid(seg)):
            self._bank[seg] = (frame, feature)

    def add(self, frame_index: int, feature: torch.Tensor) -> None:
        if self._first is None:
            self._first = (frame_index, feature)
            return
        self._last = (frame_index, feature)
        while frame_index // self.seg >= self.capacity:
            entries = list(self._bank.values())
            self._bank.clear()
            self.seg *= 2
            for f, feat in entries:
                self._offer(f, feat)
        self._offer(frame_index, feature)

    def added(self, frame_index: int, feature: torch.Tensor) -> BoundedMemory:
        """A new bank with this frame offered; this one is left as it is."""
        new = copy.copy(self)
        new._bank = dict(self._bank)
        new.add(frame_index, feature)
        return new

    def __len__(self) -> int:
        return len(self.stored_frames())

    def select(self, fidx: int, prev_confident: bool) -> list[int]:
        """Frames to read at update `fidx` (history = frames 0..fidx-1); the last reliable frame
        only when the previous frame was confident, as the official rule."""
        if self._first is None:
            return []
        out = []
        if self._last is not None and prev_confident:
            out.append(self._last[0])
        out.append(self._first[0])
        bank = sorted(f for f, _ in self._bank.values())
        reps = set()
        if bank:
            dur = fidx / self.num_segments
            for k in range(self.num_segments):
                target = k * dur + dur / 2
                reps.add(min(bank, key=lambda f: (abs(f - target), f)))
        out += [f for f in sorted(reps) if f not in out]
        return out

    def _lookup(self) -> dict:
        table = {f: feat for f, feat in self._bank.values()}
        for entry in (self._first, self._last):
            if entry is not None:
                table[entry[0]] = entry[1]
        return table

    def gather(self, frames) -> torch.Tensor:
        table = self._lookup()
        return torch.cat([table[f] for f in frames], dim=2)

    def stored_frames(self) -> list[int]:
        return sorted(self._lookup())

    def nbytes(self) -> int:
        return _nbytes(self._lookup().values())
