"""The target's direction from the camera model: a gimbal or yaw controller wants angles, not
pixels. ROS-free (numpy and OpenCV only), so it is tested without a ROS graph.

Conventions (REP-103 camera optical frame: x right, y down, z forward):
* `offset_x`, `offset_y`: the undistorted normalised image coordinates of the pixel, i.e. the
  ray (offset_x, offset_y, 1). Without distortion this is ((u - cx) / fx, (v - cy) / fy).
  offset_y is positive DOWN, as in the image.
* `azimuth` = atan2(x, z): radians, positive to the RIGHT of the optical axis.
* `elevation` = atan2(-y, hypot(x, z)): radians, positive UP (above the optical axis).
The principal point gives (0, 0, 0, 0); a pixel fx to the right of it (no distortion) gives
azimuth 45 degrees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..tracker.boxes import xywh_to_cxywh

# sensor_msgs/CameraInfo distortion_model strings (sensor_msgs/distortion_models.hpp)
PLUMB_BOB = "plumb_bob"
RATIONAL_POLYNOMIAL = "rational_polynomial"
EQUIDISTANT = "equidistant"
DISTORTION_MODELS = (PLUMB_BOB, RATIONAL_POLYNOMIAL, EQUIDISTANT)
# Coefficients OpenCV reads for each model (D may be longer or shorter: padded with zeros).
_N_COEFFS = {PLUMB_BOB: 5, RATIONAL_POLYNOMIAL: 8, EQUIDISTANT: 4}
# Enough iterations for strong (wide-angle) distortion; OpenCV's default stops after 5.
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


class CameraModelError(ValueError):
    """CameraInfo that cannot give bearings (the message says what is wrong)."""


@dataclass(frozen=True)
class Bearing:
    azimuth: float      # rad, + right
    elevation: float    # rad, + up
    offset_x: float     # undistorted x/z, + right
    offset_y: float     # undistorted y/z, + down


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera: K (3x3), D and its model, and the image size they are for
    (0 x 0 = unknown: any image size is accepted)."""
    K: np.ndarray
    D: np.ndarray
    distortion_model: str
    width: int = 0
    height: int = 0

    @classmethod
    def from_arrays(cls, k, d=(), distortion_model: str = PLUMB_BOB, width: int = 0,
                    height: int = 0) -> CameraModel:
        K = np.asarray(k, dtype=np.float64).reshape(3, 3)
        D = np.asarray(d, dtype=np.float64).ravel()
        if not np.all(np.isfinite(K)) or not np.all(np.isfinite(D)):
            raise CameraModelError("camera_info K or D has NaN/inf entries")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CameraModelError(f"camera_info K has fx={K[0, 0]:g}, fy={K[1, 1]:g}: the camera "
                                   "is not calibrated (fx and fy must be > 0)")
        model = distortion_model or PLUMB_BOB
        if not D.any():
            model = PLUMB_BOB  # no distortion: the model string does not matter
        if model not in DISTORTION_MODELS:
            raise CameraModelError(f"camera_info distortion_model {distortion_model!r} is not "
                                   f"supported; use one of {', '.join(DISTORTION_MODELS)}")
        n = _N_COEFFS[model]
        if D.size > n and D[n:].any():
            raise CameraModelError(f"camera_info D has {D.size} coefficients, {model} uses {n}")
        D = np.pad(D[:n], (0, max(0, n - D.size)))
        return cls(K, D, model, int(width), int(height))

    @classmethod
    def from_camera_info(cls, msg) -> CameraModel:
        """From a sensor_msgs/CameraInfo (duck-typed: k, d, distortion_model, width, height)."""
        return cls.from_arrays(msg.k, msg.d, msg.distortion_model, msg.width, msg.height)

    def size_problem(self, width: int, height: int) -> str | None:
        """Why this model does not fit an image of width x height (None when it does)."""
        if self.width and self.height and (self.width, self.height) != (width, height):
            return (f"camera_info is for {self.width}x{self.height} images, the image is "
                    f"{width}x{height}; bearings are off until they match")
        return None

    def normalised(self, u: float, v: float) -> tuple[float, float]:
        """Pixel (u, v) -> undistorted normalised coordinates (x/z, y/z)."""
        pts = np.array([[[u, v]]], dtype=np.float64)
        if self.distortion_model == EQUIDISTANT:
            out = cv2.fisheye.undistortPoints(pts, self.K, self.D, criteria=_CRITERIA)
        else:
            out = cv2.undistortPoints(pts, self.K, self.D, criteria=_CRITERIA)
        x, y = (float(c) for c in out.reshape(2))
        return x, y

    def bearing(self, u: float, v: float) -> Bearing:
        x, y = self.normalised(u, v)
        return Bearing(azimuth=math.atan2(x, 1.0), elevation=math.atan2(-y, math.hypot(x, 1.0)),
                       offset_x=x, offset_y=y)


def box_bearing(model: CameraModel, box_xywh) -> Bearing:
    """Bearing of a box's centre (0-based top-left x, y, w, h; the tracker's pixel-count
    convention, centre x + (w - 1) / 2, which is where OpenCV and CameraInfo put it too)."""
    cx, cy = (float(c) for c in xywh_to_cxywh(box_xywh)[:2])
    return model.bearing(cx, cy)


class LatestCamera:
    """The camera model of the latest camera_info, rebuilt only when its content changes (a
    streaming camera repeats it at frame rate); the live node and bag-track read it alike."""

    def __init__(self):
        self.model: CameraModel | None = None
        self._key = None

    def update(self, msg) -> tuple[bool, str | None]:
        """Take one camera_info: (changed, why it was refused or None). A refused one leaves
        no model (bearings off) rather than an outdated one."""
        key = (tuple(msg.k), tuple(msg.d), msg.distortion_model, msg.width, msg.height)
        if key == self._key:
            return False, None
        self._key = key
        try:
            self.model = CameraModel.from_camera_info(msg)
        except CameraModelError as e:
            self.model = None
            return True, str(e)
        return True, None


def camera_info_beside(image_topic: str) -> str:
    """image_transport's rule: `/cam/image_raw` (or `/cam/image_raw/compressed`) has its
    camera_info on `/cam/camera_info`."""
    base = image_topic.removesuffix("/compressed")
    return base.rsplit("/", 1)[0] + "/camera_info"


BEARING_OFF = {"bearing_valid": False, "azimuth": 0.0, "elevation": 0.0, "offset_x": 0.0,
               "offset_y": 0.0}


def bearing_fields(model: CameraModel | None, track: dict) -> dict:
    """The Track message's bearing fields for a dict of its other fields (convert.track_fields);
    invalid (zeros) without a model, while IDLE, or when the model is for another image size."""
    if model is None or int(track["state"]) == 0 or track["width"] <= 0 or \
            model.size_problem(track["image_width"], track["image_height"]):
        return dict(BEARING_OFF)
    b = box_bearing(model, (track["x"], track["y"], track["width"], track["height"]))
    return {"bearing_valid": True, "azimuth": b.azimuth, "elevation": b.elevation,
            "offset_x": b.offset_x, "offset_y": b.offset_y}
