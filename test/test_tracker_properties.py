"""Property tests of the tracker API (issue #18): whatever frames, boxes and call orders arrive,
the tracker raises only its documented errors (TrackerInputError for frames, boxes and calls;
ValueError for parameters), a refused call changes nothing (full snapshot, memory tensors
included), and it then tracks exactly as a tracker that only ever saw the accepted calls.
numpy RuntimeWarnings count as failures. Cases are derandomized (conftest profile "ci")."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from stmtrack_ros.tracker import Tracker, TrackerInputError, TrackerParams, TrackState
from tracker_support import one_thread, same_snapshot, snapshot, square_frame, tiny_net  # noqa: F401

H, W = 60, 80                                   # the valid frame size of these tests

# ---- strategies -----------------------------------------------------------------------------
DTYPES = [np.uint8, np.int8, np.uint16, np.int32, np.int64, np.float16, np.float32, np.float64,
          np.bool_, np.complex64]
extreme_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-46, 1e-40, 1e-7, 0.5, 1.0, 3.4e38, 1e39, 1e300, -1e300]),
    st.integers(min_value=-10 ** 400, max_value=10 ** 400),
    st.floats(min_value=-500, max_value=500))


@st.composite
def frames(draw, valid_size=False):
    """Arrays of every dtype, rank and size (sometimes views with odd strides), or non-arrays."""
    if not valid_size and draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([None, 3, "frame", [[1, 2], [3, 4]], b"\x00" * 12]))
    dtype = np.uint8 if valid_size or draw(st.booleans()) else draw(st.sampled_from(DTYPES))
    if valid_size:
        shape = (H, W) + draw(st.sampled_from([(), (1,), (3,), (4,)]))
    else:
        ndim = draw(st.integers(0, 4))
        shape = tuple(draw(st.integers(0, 40)) for _ in range(ndim))
        if ndim == 3 and draw(st.booleans()):
            shape = shape[:2] + (draw(st.sampled_from([1, 3, 4])),)
    seed = draw(st.integers(0, 2 ** 16))
    arr = np.random.default_rng(seed).integers(0, 256, size=shape).astype(dtype)
    if arr.ndim >= 2 and draw(st.booleans()):           # a view: flipped or strided
        arr = arr[::-1] if draw(st.booleans()) else np.repeat(arr, 2, axis=1)[:, ::2]
    return arr


boxes = st.one_of(
    st.tuples(extreme_floats, extreme_floats, extreme_floats, extreme_floats),
    st.tuples(st.floats(-20, W), st.floats(-20, H), st.floats(0.5, 4 * W + 10), st.floats(0.5, 4 * H + 10)),
    st.lists(st.floats(0, 50), max_size=6),
    st.sampled_from(["abc", None, {"x": 1}, (1j, 2, 3, 4), np.zeros((2, 2)), [[1, 2], [3, 4]]]))
valid_boxes = st.tuples(st.floats(0, W - 15), st.floats(0, H - 15), st.floats(8, 30), st.floats(8, 30))
params = st.builds(
    dict, mode=st.sampled_from(["exact", "bounded", "other"]),
    lost_threshold=st.sampled_from([0.0, 0.25, 1.0, -1.0, 2.0, math.nan]),
    recover_threshold=st.sampled_from([0.0, 0.3, 1.0]), lost_frames=st.sampled_from([1, 2, 5, 0]),
    memory_capacity=st.sampled_from([2, 3, 8, 1]), confidence=st.sampled_from(["memory", "first_frame"]),
    memory_threshold=st.sampled_from([0.0, 0.3, 1.0]))


def outcome(tracker, method, *args):
    """The call's result, or the documented error it raised; any other exception or a numpy
    RuntimeWarning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return getattr(tracker, method)(*args), None
        except TrackerInputError as e:
            assert "\n" not in str(e) and len(str(e)) < 400, str(e)
            return None, e


def key(result):
    return None if result is None else (result.box, result.confidence, result.state,
                                        result.frame_index, result.memory_frames)


# ---- init with anything ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def started():
    """A tracker with a live target (and a reference that sees only the accepted calls)."""
    net = tiny_net()
    pair = [Tracker(net, TrackerParams(backend="torch",
                                       optimize=False, mode=m)) for m in ("bounded", "bounded")]
    for t in pair:
        t.init(square_frame(0, (H, W)), (20, 20, 20, 20))
        t.update(square_frame(1, (H, W)))
    return pair


@pytest.mark.slow
@settings(max_examples=1000)
@given(frame=frames(), box=boxes)
def test_init_with_any_frame_and_box(started, frame, box):
    tr, ref = started
    before = snapshot(tr)
    res, err = outcome(tr, "init", frame, box)
    if err is not None:
        assert same_snapshot(snapshot(tr), before), f"refused init changed the tracker: {err}"
        return
    x, y, w, h = res.box
    assert res.state == TrackState.TRACKING and res.frame_index == 0
    assert all(math.isfinite(v) for v in res.box) and w >= 1 and h >= 1
    ref.init(frame, box)                   # both now hold the same target


@settings(max_examples=40)
@given(frame=frames(valid_size=True), box=boxes)
def test_accepted_init_tracks_and_refused_init_keeps_tracking(started, frame, box):
    """After init with any box, one update runs (only documented errors, no warning) and
    matches the reference tracker that saw the same accepted calls."""
    tr, ref = started
    res, err = outcome(tr, "init", frame, box)
    if err is None:
        ref.init(frame, box)
    a, err_a = outcome(tr, "update", np.ascontiguousarray(frame))
    b, err_b = outcome(ref, "update", np.ascontiguousarray(frame))
    assert key(a) == key(b) and type(err_a) is type(err_b)


# ---- any call order -------------------------------------------------------------------------
class CallOrders(RuleBasedStateMachine):
    """Random sequences of init / track / memorize / update / reset / set_params with good and
    bad arguments and frame-size changes. `tr` gets every call; `ref` only those `tr` accepted;
    both must always agree, and a refused call must leave `tr`'s snapshot as it was."""
    net = None

    def __init__(self):
        super().__init__()
        p = TrackerParams(backend="torch", optimize=False, mode="bounded", memory_threshold=0.0)
        self.tr, self.ref = Tracker(self.net, p), Tracker(self.net, p)
        self.t = 0

    def _both(self, method, *args):
        before = snapshot(self.tr)
        res, err = outcome(self.tr, method, *args)
        if err is not None:
            assert same_snapshot(snapshot(self.tr), before), f"refused {method} changed state: {err}"
            return
        want = getattr(self.ref, method)(*args)
        if method in ("init", "track", "update"):
            assert key(res) == key(want)

    def _frame(self):
        self.t += 1
        return square_frame(self.t, (H, W))

    @rule(box=valid_boxes, grey=st.booleans())
    def init_good(self, box, grey):
        f = self._frame()
        self._both("init", f[:, :, 1].copy() if grey else f, box)

    @rule(frame=frames(), box=boxes)
    def init_any(self, frame, box):
        self._both("init", frame, box)

    @rule()
    def track(self):
        self._both("track", self._frame())

    @rule()
    def update(self):
        self._both("update", self._frame())

    @rule(frame=frames())
    def update_any(self, frame):
        self._both("update", frame)

    @rule(hw=st.sampled_from([(H + 1, W), (W, H), (2, 2), (H, W)]))
    def size_change(self, hw):
        self._both("track", square_frame(self.t, hw))

    @rule()
    def memorize(self):
        a, b = self.tr.memorize(), self.ref.memorize()
        assert (a == 0.0) == (b == 0.0)

    @precondition(lambda self: self.tr.state != TrackState.IDLE)
    @rule()
    def reset(self):
        self.tr.reset()
        self.ref.reset()

    @rule(changes=params)
    def set_params(self, changes):
        before = snapshot(self.tr)
        try:
            p = self.tr.params.replace(**changes)
        except ValueError:
            return                          # invalid parameters are refused when built
        self.tr.set_params(p)
        self.ref.set_params(p)
        assert same_snapshot(snapshot(self.tr), dict(before, params=p))

    @invariant()
    def agree(self):
        assert self.tr.state == self.ref.state and self.tr.frame_index == self.ref.frame_index
        assert key(self.tr.last_result) == key(self.ref.last_result)
        assert self.tr.memory_stats()["frames"] == self.ref.memory_stats()["frames"]


@pytest.mark.parametrize("siamese", [1, 0])
def test_any_call_order(siamese):
    CallOrders.net = tiny_net(siamese_keys=siamese, label_readout=siamese, reg_first_frame=siamese)
    run_state_machine_as_test(CallOrders, settings=settings(max_examples=40, stateful_step_count=25))


# ---- the bundled model ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    from stmtrack_ros.model import default_checkpoint_path
    tr = Tracker.from_checkpoint(default_checkpoint_path(), TrackerParams(backend="torch", mode="exact"))
    tr.init(square_frame(0, (H, W)), (20, 20, 20, 20))
    return tr


@settings(max_examples=300)
@given(frame=frames(), box=boxes)
def test_bundled_model_refuses_cleanly(bundled, frame, box):
    before = snapshot(bundled)
    res, err = outcome(bundled, "init", frame, box)
    if err is not None:
        assert same_snapshot(snapshot(bundled), before)
        return
    tracked, err = outcome(bundled, "update", frame)      # the frame it was given at init
    assert err is None and all(math.isfinite(v) for v in tracked.box)
    assert 0.0 <= tracked.confidence <= 1.0
    bundled.init(square_frame(0, (H, W)), (20, 20, 20, 20))
