"""The one track drawing (CLI video, node debug_image, demo): state colours, IDLE without a box,
the frame itself untouched, and the node's Track-field adapter drawing the same picture."""
import numpy as np

from stmtrack_ros.node.convert import draw_track as draw_fields
from stmtrack_ros.tracker import TrackState
from stmtrack_ros.tracker.draw import STATE_COLOURS, UNKNOWN_COLOUR, draw_track


def _frame():
    return np.full((120, 160, 3), 50, np.uint8)


def test_box_in_the_state_colour_and_frame_untouched():
    frame = _frame()
    for state in (TrackState.TRACKING, TrackState.LOST):
        img = draw_track(frame, state, (60, 50, 40, 30), 0.87, "#1")
        assert tuple(img[70, 60]) == STATE_COLOURS[state]     # left edge of the box
        assert tuple(img[80, 99]) == STATE_COLOURS[state]     # bottom-right corner
        assert tuple(img[65, 80]) == (50, 50, 50)             # inside stays the frame
    assert (frame == 50).all()


def test_idle_draws_only_its_caption():
    img = draw_track(_frame(), TrackState.IDLE, (60, 50, 40, 30), 0.0)
    assert (img[40:, :] == 50).all()                          # no box below the caption line
    assert (img[:30] == STATE_COLOURS[TrackState.IDLE]).all(axis=2).any()


def test_unknown_state_is_drawn_white():
    img = draw_track(_frame(), 7, (60, 50, 40, 30), 0.5)
    assert tuple(img[70, 60]) == UNKNOWN_COLOUR


def test_track_fields_adapter_draws_the_same_picture():
    f = {"state": 1, "x": 60.4, "y": 50.0, "width": 40.0, "height": 30.0, "confidence": 0.5, "track_id": 3}
    np.testing.assert_array_equal(draw_fields(_frame(), f),
                                  draw_track(_frame(), TrackState.TRACKING, (60.4, 50, 40, 30), 0.5, "#3"))
