"""Target bearing from synthetic intrinsics of known K and D: the principal point is straight
ahead, a pixel fx to the right is 45 degrees, and directions projected with OpenCV's own
distortion models come back as the same angles."""
import math

import cv2
import numpy as np
import pytest

from stmtrack_ros.node.bearing import CameraModel, CameraModelError, box_bearing

K = np.array([[500.0, 0.0, 320.5], [0.0, 480.0, 240.25], [0.0, 0.0, 1.0]])
PLUMB_BOB_D = [-0.28, 0.09, 0.0012, -0.0008, -0.012]
RATIONAL_D = [0.6, -0.15, 0.001, -0.0005, -0.01, 0.95, -0.05, -0.03]
FISHEYE_D = [0.05, -0.01, 0.004, -0.001]
# Directions (azimuth, elevation) in degrees inside a ~100 deg field of view.
ANGLES = [(a, e) for a in (-40.0, -15.0, 0.0, 7.5, 30.0, 45.0) for e in (-30.0, -5.0, 0.0, 20.0)]


def _ray(az_deg: float, el_deg: float) -> np.ndarray:
    """Unit ray in the optical frame (x right, y down, z forward) for azimuth/elevation."""
    az, el = math.radians(az_deg), math.radians(el_deg)
    return np.array([math.cos(el) * math.sin(az), -math.sin(el), math.cos(el) * math.cos(az)])


def test_principal_point_is_straight_ahead():
    cam = CameraModel.from_arrays(K, PLUMB_BOB_D, "plumb_bob", 640, 480)
    b = cam.bearing(K[0, 2], K[1, 2])
    assert b.azimuth == pytest.approx(0, abs=1e-9) and b.elevation == pytest.approx(0, abs=1e-9)
    assert b.offset_x == pytest.approx(0, abs=1e-9) and b.offset_y == pytest.approx(0, abs=1e-9)


def test_signs_and_45_degrees_without_distortion():
    cam = CameraModel.from_arrays(K, [], "")
    right = cam.bearing(K[0, 2] + K[0, 0], K[1, 2])
    assert math.degrees(right.azimuth) == pytest.approx(45.0, abs=1e-9)
    assert right.elevation == pytest.approx(0.0, abs=1e-12) and right.offset_x == pytest.approx(1.0)
    up = cam.bearing(K[0, 2], K[1, 2] - K[1, 1])  # image y grows downwards
    assert math.degrees(up.elevation) == pytest.approx(45.0, abs=1e-9)
    assert up.offset_y == pytest.approx(-1.0) and up.azimuth == pytest.approx(0.0, abs=1e-12)
    left_down = cam.bearing(K[0, 2] - 100, K[1, 2] + 50)
    assert left_down.azimuth < 0 and left_down.elevation < 0
    assert left_down.offset_x == pytest.approx(-100 / K[0, 0])
    assert left_down.offset_y == pytest.approx(50 / K[1, 1])


@pytest.mark.parametrize("model,D", [("plumb_bob", PLUMB_BOB_D),
                                     ("rational_polynomial", RATIONAL_D)])
def test_distorted_projection_round_trip(model, D):
    cam = CameraModel.from_arrays(K, D, model)
    rays = np.array([_ray(a, e) for a, e in ANGLES])
    px, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, np.asarray(D, np.float64))
    undistorted_px, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, None)
    moved = np.abs(px - undistorted_px).max()
    assert moved > 10.0  # the distortion matters: ignoring it would be tens of pixels off
    for (a, e), (u, v) in zip(ANGLES, px.reshape(-1, 2), strict=True):
        b = cam.bearing(u, v)
        assert math.degrees(b.azimuth) == pytest.approx(a, abs=1e-4), (a, e)
        assert math.degrees(b.elevation) == pytest.approx(e, abs=1e-4), (a, e)


def test_equidistant_fisheye_round_trip():
    cam = CameraModel.from_arrays(K, FISHEYE_D, "equidistant")
    angles = ANGLES + [(70.0, 10.0), (-60.0, -40.0)]  # a fisheye sees wider
    rays = np.array([_ray(a, e) for a, e in angles]).reshape(-1, 1, 3)
    px, _ = cv2.fisheye.projectPoints(rays, np.zeros(3), np.zeros(3), K,
                                      np.asarray(FISHEYE_D, np.float64))
    for (a, e), (u, v) in zip(angles, px.reshape(-1, 2), strict=True):
        b = cam.bearing(u, v)
        assert math.degrees(b.azimuth) == pytest.approx(a, abs=1e-4), (a, e)
        assert math.degrees(b.elevation) == pytest.approx(e, abs=1e-4), (a, e)


def test_box_centre_uses_the_trackers_pixel_convention():
    cam = CameraModel.from_arrays(K, [])
    # A box of width 11 starting 5 px left of cx has its centre on cx (x + (w - 1) / 2).
    b = box_bearing(cam, (K[0, 2] - 5, K[1, 2] - 3, 11, 7))
    assert b.azimuth == pytest.approx(0, abs=1e-6) and b.elevation == pytest.approx(0, abs=1e-6)


def test_camera_info_message_fields_and_sizes():
    class Info:  # the five sensor_msgs/CameraInfo fields the model reads
        k = K.ravel().tolist()
        d = PLUMB_BOB_D
        distortion_model = "plumb_bob"
        width, height = 640, 480
    cam = CameraModel.from_camera_info(Info)
    assert cam.size_problem(640, 480) is None
    assert "640x480" in cam.size_problem(1280, 720) and "1280x720" in cam.size_problem(1280, 720)
    assert CameraModel.from_arrays(K, []).size_problem(1280, 720) is None  # size unknown


@pytest.mark.parametrize("k,d,model,match", [
    (np.zeros(9), [], "plumb_bob", "not calibrated"),
    (K, [0.1, 0, 0, 0], "kannala_brandt", "not supported"),
    (K, [0.1] * 6, "plumb_bob", "uses 5"),
    (np.where(K == 500.0, np.nan, K), [], "plumb_bob", "NaN"),
])
def test_unusable_camera_info_is_refused_with_the_reason(k, d, model, match):
    with pytest.raises(CameraModelError, match=match) as e:
        CameraModel.from_arrays(k, d, model)
    assert "\n" not in str(e.value)


def test_short_d_is_padded_and_zero_d_ignores_the_model_name():
    cam = CameraModel.from_arrays(K, [-0.2, 0.05], "plumb_bob")
    assert cam.D.tolist() == [-0.2, 0.05, 0.0, 0.0, 0.0]
    assert CameraModel.from_arrays(K, [0.0] * 4, "unknown_model").distortion_model == "plumb_bob"


def test_track_bearing_fields_follow_state_and_image_size():
    from stmtrack_ros.msg import Track
    from stmtrack_ros.node.bearing import bearing_fields
    from stmtrack_ros.node.convert import track_fields

    class Result:  # what convert.track_fields reads from a TrackResult
        state, confidence, frame_index, memory_frames = 1, 0.9, 3, (0, 1)
        box = (K[0, 2] + K[0, 0] - 4.5, K[1, 2] - 2, 10, 5)  # centre fx right of cx
    cam = CameraModel.from_arrays(K, [], "plumb_bob", 640, 480)
    tracking = track_fields(Result, track_id=2, image_wh=(640, 480))
    f = bearing_fields(cam, tracking)
    assert f["bearing_valid"] and math.degrees(f["azimuth"]) == pytest.approx(45.0, abs=1e-4)
    assert f["elevation"] == pytest.approx(0, abs=1e-5) and f["offset_x"] == pytest.approx(1.0)
    msg = Track(**tracking, **f)  # the message takes exactly these fields
    assert msg.bearing_valid and msg.azimuth == pytest.approx(math.pi / 4, abs=1e-6)
    idle = track_fields(None, track_id=0, image_wh=(640, 480))
    other_size = track_fields(Result, track_id=2, image_wh=(1280, 720))
    for fields, model in ((tracking, None), (idle, cam), (other_size, cam)):
        off = bearing_fields(model, fields)
        assert not off["bearing_valid"] and off["azimuth"] == 0.0 and off["offset_y"] == 0.0


def test_latest_camera_rebuilds_only_on_change_and_topic_rule():
    from types import SimpleNamespace

    from stmtrack_ros.node.bearing import LatestCamera, camera_info_beside
    info = SimpleNamespace(k=K.ravel().tolist(), d=PLUMB_BOB_D, distortion_model="plumb_bob",
                           width=640, height=480)
    cam = LatestCamera()
    assert cam.update(info) == (True, None) and cam.model is not None
    first = cam.model
    assert cam.update(info) == (False, None) and cam.model is first  # a streaming repeat
    changed, refused = cam.update(SimpleNamespace(**{**vars(info), "k": [0.0] * 9}))
    assert changed and "not calibrated" in refused and cam.model is None  # no stale model
    assert camera_info_beside("/cam/image_raw") == "/cam/camera_info"
    assert camera_info_beside("/cam/image_raw/compressed") == "/cam/camera_info"
    assert camera_info_beside("/image") == "/camera_info"
