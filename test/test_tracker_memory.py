"""Memory-frame selection: the official indexes (checked against the tracker fixtures) and the
bounded bank's size and spread."""
import numpy as np
import pytest
import torch

from conftest import TEST_DATA
from stmtrack_ros.tracker.memory import BoundedMemory, ExactMemory, official_indexes


@pytest.mark.parametrize("seq", ["Crossing", "ball1"])
def test_official_indexes_match_fixture(seq):
    ref = np.load(TEST_DATA / "parity" / f"track_seed1_{seq}.npz")
    pscores = ref["pscore_best"]
    for fidx in range(1, len(pscores)):
        prev = 1.0 if fidx == 1 else pscores[fidx - 1]
        want = [int(f) for f in ref["mem_frames"][fidx] if f >= 0]
        got = official_indexes(fidx, prev > 0.6)
        assert got == want and len(got) == ref["T"][fidx], f"{seq} frame {fidx}"


def test_official_duplicate_and_orders():
    assert official_indexes(8, True) == [7, 0, 1, 3, 5, 7]
    assert official_indexes(8, False) == [0, 1, 3, 5, 7]
    assert official_indexes(5, True) == [4, 0, 1, 2, 3]
    assert official_indexes(12, True) == [11, 0, 1, 4, 7, 10]
    assert official_indexes(16, True) == [15, 0, 2, 6, 10, 14]
    assert official_indexes(3, False) == [0, 1, 2]
    # fidx = 8 is the only duplicate (spec: checked up to 5000)
    dups = [f for f in range(1, 3000)
            if len(set(official_indexes(f, True))) != len(official_indexes(f, True))]
    assert dups == [8]


def test_exact_memory_gathers_in_order():
    mem = ExactMemory()
    for f in range(9):
        mem.add(f, torch.full((1, 2, 1, 3, 3), float(f)))
    out = mem.gather(mem.select(8, True))
    assert out.shape == (1, 2, 6, 3, 3)
    assert out[0, 0, :, 0, 0].tolist() == [7, 0, 1, 3, 5, 7]
    with pytest.raises(RuntimeError):
        mem.add(3, torch.zeros(1))


def test_bounded_bank_stays_bounded_and_spread():
    cap = 8
    mem = BoundedMemory(capacity=cap, num_segments=4)
    feat = torch.zeros(1, 4, 1, 2, 2)
    for f in range(20000):
        mem.add(f, feat.clone())
        assert len(mem) <= cap + 2
        assert mem.nbytes() <= (cap + 2) * feat.numel() * 4
    stored = mem.stored_frames()
    assert stored[0] == 0 and stored[-1] == 19999
    bank = sorted(f for f, _ in mem._bank.values())
    # one representative per segment of length seg, covering the whole history
    assert mem.seg * cap > 19999 >= mem.seg * cap // 2
    assert len({f // mem.seg for f in bank}) == len(bank) >= cap // 2
    assert mem.select(20000, False)[0] == 0 and 19999 not in mem.select(20000, False)
    sel = mem.select(20000, True)
    assert sel[0] == 19999 and sel[1] == 0 and len(sel) <= 6 and len(set(sel)) == len(sel)
    # the representatives lie near the middles of 4 equal segments of the history
    for k, f in enumerate(sorted(sel[2:])):
        assert abs(f - (k + 0.5) * 5000) <= mem.seg


def test_bounded_skips_unconfident_frames_gracefully():
    mem = BoundedMemory(capacity=4)
    mem.add(0, torch.zeros(1, 1, 1, 1, 1))
    assert mem.select(1, True) == [0]
    mem.add(5, torch.ones(1, 1, 1, 1, 1))          # frames 1..4 never offered (not confident)
    assert mem.select(9, True) == [5, 0]
    # previous frame not confident: the last reliable frame is read only as a representative
    assert mem.select(9, False) == [0, 5]
    assert mem.gather([5, 0])[0, 0, :, 0, 0].tolist() == [1.0, 0.0]
