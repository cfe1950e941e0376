"""Track -> vision_msgs/Detection2DArray against real generated classes: the stand-in package
test/interfaces/vision_msgs is built with colcon, and a separate process that sourced it (as a
user sources an overlay) converts Tracks in every state."""
import json
import subprocess
import sys

import pytest
from vision_msgs_support import vision_msgs_env

from conftest import REPO
from node_support import node_env

pytestmark = pytest.mark.ros

# The documented field lists (Humble and later) the stand-in must carry.
DOCUMENTED = {
    "Point2D": {"x": "double", "y": "double"},
    "Pose2D": {"position": "vision_msgs/Point2D", "theta": "double"},
    "BoundingBox2D": {"center": "vision_msgs/Pose2D", "size_x": "double", "size_y": "double"},
    "ObjectHypothesis": {"class_id": "string", "score": "double"},
    "ObjectHypothesisWithPose": {"hypothesis": "vision_msgs/ObjectHypothesis",
                                 "pose": "geometry_msgs/PoseWithCovariance"},
    "Detection2D": {"header": "std_msgs/Header",
                    "results": "sequence<vision_msgs/ObjectHypothesisWithPose>",
                    "bbox": "vision_msgs/BoundingBox2D", "id": "string"},
    "Detection2DArray": {"header": "std_msgs/Header", "detections": "sequence<vision_msgs/Detection2D>"},
}

SCRIPT = r"""
import json, sys
import vision_msgs.msg as vmsg
from std_msgs.msg import Header
from stmtrack_ros.node.detections import detection_array, load_vision_msgs
vm = load_vision_msgs()
fields = {n: getattr(vmsg, n).get_fields_and_field_types() for n in json.loads(sys.argv[1])}
h = Header(frame_id="cam_optical")
h.stamp.sec, h.stamp.nanosec = 12, 345
out = {"fields": fields}
for state in (0, 1, 2):
    track = {"state": state, "track_id": 7 if state else 0, "x": 10.0, "y": 20.0,
             "width": 31.0, "height": 11.0, "confidence": 0.8125 if state else 0.0}
    arr = detection_array(vm, h, track)
    out[state] = {"type": type(arr).__module__ + "." + type(arr).__name__,
                  "stamp": [arr.header.stamp.sec, arr.header.stamp.nanosec],
                  "frame_id": arr.header.frame_id,
                  "dets": [{"id": d.id, "frame_id": d.header.frame_id,
                            "c": [d.bbox.center.position.x, d.bbox.center.position.y],
                            "size": [d.bbox.size_x, d.bbox.size_y],
                            "scores": [r.hypothesis.score for r in d.results]}
                           for d in arr.detections]}
print(json.dumps(out))
"""


def test_detection_array_with_generated_vision_msgs():
    env = vision_msgs_env(node_env(0))
    r = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(sorted(DOCUMENTED))], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["fields"] == DOCUMENTED
    for state in ("0", "2"):  # IDLE, LOST: an empty array, header still the image's
        assert out[state]["dets"] == [] and out[state]["frame_id"] == "cam_optical"
    tracking = out["1"]
    assert tracking["type"] == "vision_msgs.msg._detection2_d_array.Detection2DArray"
    assert tracking["stamp"] == [12, 345] and tracking["frame_id"] == "cam_optical"
    assert tracking["dets"] == [{"id": "7", "frame_id": "cam_optical", "c": [25.0, 25.0],
                                 "size": [31.0, 11.0], "scores": [0.8125]}]


def test_without_vision_msgs_the_output_is_off():
    from stmtrack_ros.node.detections import load_vision_msgs
    try:
        import vision_msgs  # noqa: F401 - a real ROS install may have it
        pytest.skip("vision_msgs is importable in this environment")
    except ImportError:
        pass
    assert load_vision_msgs() is None
