"""Ring buffer lookup by stamp and the latest-frame slot (no frame twice, drops counted)."""
import threading

import numpy as np

from stmtrack_ros.node.diagnostics import RateMeter, WindowStats
from stmtrack_ros.node.frame_buffer import Frame, FrameBuffer, LatestSlot


def frame(seq, stamp):
    return Frame(seq, stamp, str(seq), np.zeros((2, 3, 3), np.uint8), 0.0)


def test_ring_keeps_the_newest_and_finds_by_stamp():
    buf = FrameBuffer(3)
    for i in range(5):
        buf.push(frame(i, 1000 * i))
    assert len(buf) == 3 and buf.newest().seq == 4
    assert buf.find(2000).seq == 2
    assert buf.find(1000) is None                     # evicted
    assert buf.find(3400, tolerance_ns=500).seq == 3  # nearest within tolerance
    assert buf.find(3500, tolerance_ns=400) is None
    assert buf.stamp_range() == (2000, 4000)
    assert [f.seq for f in buf.after(2)] == [3, 4]
    assert frame(0, 0).wh == (3, 2)


def test_backwards_stamps_find_the_newest_duplicate():
    buf = FrameBuffer(10)
    for seq, stamp in enumerate([100, 200, 300, 100, 200]):  # a looping bag
        buf.push(frame(seq, stamp))
    assert buf.find(200).seq == 4


def test_latest_slot_replaces_counts_and_never_returns_twice():
    slot = LatestSlot()
    for i in range(4):
        slot.put(frame(i, i))
    assert slot.dropped == 3
    assert slot.take(0).seq == 3
    assert slot.take(0.01) is None
    slot.put(frame(5, 5))
    slot.discard_up_to(5)
    assert slot.take(0) is None and slot.dropped == 4


def test_latest_slot_wakes_a_waiting_taker():
    slot = LatestSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    t.start()
    slot.put(frame(1, 1))
    t.join(2.0)
    assert got and got[0].seq == 1
    slot.close()
    assert slot.take(5.0) is None  # closed: returns at once


def test_rate_and_window_stats():
    r = RateMeter(window_s=10)
    for k in range(11):
        r.tick(100.0 + k * 0.1)
    assert abs(r.rate(101.0) - 10.0) < 1e-6
    assert r.rate(200.0) == 0.0
    w = WindowStats(size=4)
    for v in (1, 2, 3, 4, 100):
        w.add(v)
    s = w.summary()
    assert s["max"] == 100 and s["mean"] == (2 + 3 + 4 + 100) / 4


def test_ring_is_bounded_in_bytes_too_and_keeps_the_newest():
    def big(seq, side):
        return Frame(seq, seq * 1000, str(seq), np.zeros((side, side, 3), np.uint8), 0.0)

    buf = FrameBuffer(30, max_bytes=10 * 300)          # ten 10x10 bgr frames
    for i in range(25):
        buf.push(big(i, 10))
    assert len(buf) == 10 and buf.nbytes == 3000 and buf.newest().seq == 24
    assert buf.find(14_000) is None and buf.find(15_000).seq == 15
    buf.push(big(25, 40))                               # one frame over the whole budget
    assert len(buf) == 1 and buf.newest().seq == 25 and buf.nbytes == 40 * 40 * 3
    buf.push(big(26, 10))                               # the big one goes first
    assert [f.seq for f in buf.after(0)] == [26] and buf.nbytes == 300
    buf.clear()
    assert len(buf) == 0 and buf.nbytes == 0
