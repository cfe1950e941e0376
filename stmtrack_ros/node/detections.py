"""The Track as `vision_msgs/Detection2DArray` on `detections`, the message perception stacks
(Isaac ROS, OpenDR, yolo_ros) publish and downstream nodes already read.

vision_msgs is optional (it is not on PyPI): `load_vision_msgs()` returns None without it and
the node says once at start that `detections` is off.
"""
from __future__ import annotations

from types import SimpleNamespace

from ..tracker.boxes import xywh_to_cxywh

TRACKING = 1  # Track.STATE_TRACKING (kept free of the generated message module)


def load_vision_msgs() -> SimpleNamespace | None:
    """The three vision_msgs classes the output needs, or None when vision_msgs is absent."""
    try:
        from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    except ImportError:
        return None
    return SimpleNamespace(Detection2D=Detection2D, Detection2DArray=Detection2DArray,
                           ObjectHypothesisWithPose=ObjectHypothesisWithPose)


def detection_array(vm: SimpleNamespace, header, track: dict):
    """Detection2DArray for one Track (its fields as in convert.track_fields): the image's
    header; one Detection2D while TRACKING (id = track id, bbox centre and size in pixels,
    results[0].hypothesis.score = confidence), none while IDLE or LOST.

    The centre is x + (w - 1) / 2 (pixel centres at integers, as the tracker and CameraInfo
    count), so centre +- size / 2 are the outer edges of the box's pixels."""
    out = vm.Detection2DArray(header=header)
    if int(track["state"]) != TRACKING:
        return out
    det = vm.Detection2D(header=header, id=str(int(track["track_id"])))
    cx, cy, w, h = (float(v) for v in xywh_to_cxywh(
        (track["x"], track["y"], track["width"], track["height"])))
    det.bbox.center.position.x, det.bbox.center.position.y = cx, cy
    det.bbox.center.theta = 0.0
    det.bbox.size_x, det.bbox.size_y = w, h
    hyp = vm.ObjectHypothesisWithPose()
    hyp.hypothesis.score = float(track["confidence"])
    det.results = [hyp]
    out.detections = [det]
    return out
