"""The node as a managed (lifecycle) node, driven from this separate process through its
lifecycle services (`stmtrack/change_state`, `stmtrack/get_state`), as `ros2 lifecycle set`
does: Tracks only while active, init_target refused with the reason while not active, the
target kept over deactivate/activate, the model released on cleanup, shutdown ends the process."""
import json
import time

import pytest

from node_support import BUNDLED_CLIP, CLIP_INFO, NodeProcess, RosClient, domain_id, test_checkpoint
from stmtrack_ros.tools.camera_publisher import read_frames

pytestmark = [pytest.mark.ros, pytest.mark.slow]


class Lifecycle:
    """The `ros2 lifecycle get/set` calls, over the test client's node."""

    def __init__(self, client: RosClient, node_name: str = "stmtrack"):
        from lifecycle_msgs.msg import State, Transition
        from lifecycle_msgs.srv import ChangeState, GetState
        self.client, self.State, self.Transition = client, State, Transition
        self.ChangeState, self.GetState = ChangeState, GetState
        self.change_cli = client.node.create_client(ChangeState, f"/{node_name}/change_state")
        self.get_cli = client.node.create_client(GetState, f"/{node_name}/get_state")

    def state(self) -> str:
        return self.client.call(self.get_cli, self.GetState.Request()).current_state.label

    def set(self, label: str, timeout: float = 120.0) -> bool:
        """One transition by label (configure, activate, deactivate, cleanup, shutdown)."""
        req = self.ChangeState.Request()
        req.transition.label = label
        return self.client.call(self.change_cli, req, timeout).success


def _publish_for(client, frame, seconds: float, start_index: int) -> int:
    t_end, i = time.monotonic() + seconds, start_index
    while time.monotonic() < t_end:
        client.publish_bgr(frame, i)
        i += 1
        time.sleep(0.1)
    return i


def _until_tracks(client, frame, index: int, n: int = 1, timeout: float = 30.0) -> int:
    """Publish until `n` more Tracks arrived (the image reader matches a moment after activate)."""
    want = client.track_count() + n
    t_end = time.monotonic() + timeout
    while client.track_count() < want:
        assert time.monotonic() < t_end, f"fewer than {n} Tracks in {timeout} s"
        client.publish_bgr(frame, index)
        index += 1
        time.sleep(0.1)
    return index


def test_lifecycle_transitions_through_the_services(tmp_path):
    frames = read_frames(BUNDLED_CLIP, max_frames=3)
    box = json.loads(CLIP_INFO.read_text())["init_box_xywh"]
    d = domain_id(12)
    import torch
    no_cuda = not torch.cuda.is_available()
    params = {"autostart": False, "device": "cuda" if no_cuda else "cpu"}  # cuda: the fallback
    with NodeProcess(d, tmp_path / "node.log", test_checkpoint(), params=params) as proc:
        client = RosClient(d)
        life = Lifecycle(client)
        try:
            assert life.get_cli.wait_for_service(timeout_sec=60), proc.log()
            assert life.state() == "unconfigured"
            res = client.init_target(box)
            assert not res.success and "unconfigured" in res.message, res.message
            assert not life.set("activate")  # not a transition from unconfigured
            assert life.state() == "unconfigured"

            assert life.set("configure")  # loads the model and warms up
            assert life.state() == "inactive"
            assert "loaded" in proc.log()
            if no_cuda:  # the CUDA fallback: one ROS warning, not a Python warning (twice)
                warned = [ln for ln in proc.log().splitlines() if "CUDA is not available" in ln]
                assert len(warned) == 1 and warned[0].startswith("[WARN]"), proc.log()
                assert "RuntimeWarning" not in proc.log()
            i = _publish_for(client, frames[0], 1.0, 0)
            assert client.track_count() == 0  # not subscribed while inactive
            res = client.init_target(box)
            assert not res.success and "inactive" in res.message and res.track_id == 0, res.message

            assert life.set("activate")
            assert life.state() == "active"
            i = _until_tracks(client, frames[0], i)
            res = client.init_target(box)
            assert res.success and res.track_id == 1, res.message
            i = _until_tracks(client, frames[1], i, n=3)
            assert client.track_msgs()[-1].track_id == 1

            assert life.set("deactivate")  # stop processing, keep the model and the target
            assert life.state() == "inactive"
            time.sleep(0.5)
            n = client.track_count()
            i = _publish_for(client, frames[2], 1.0, i)
            assert client.track_count() == n  # no Track while inactive
            res = client.init_target(box)
            assert not res.success and "inactive" in res.message and res.track_id == 1, res.message

            assert life.set("activate")  # re-activate: the same target goes on
            i = _until_tracks(client, frames[2], i, n=2)
            last = client.track_msgs()[-1]
            assert last.track_id == 1 and last.frame_index > 3 and last.state != 0
            res = client.init_target(box)
            assert res.success and res.track_id == 2, res.message

            assert life.set("deactivate") and life.set("cleanup")  # release the model
            assert life.state() == "unconfigured"
            assert "model released" in proc.log()
            res = client.init_target(box)
            assert not res.success and "unconfigured" in res.message, res.message

            assert life.set("configure") and life.set("activate")  # a second life works
            i = _until_tracks(client, frames[0], i)
            assert client.track_msgs()[-1].track_id == 0  # no target after cleanup: IDLE

            assert life.set("shutdown")
            proc.proc.wait(20)  # a finalized node ends its process, cleanly
        finally:
            client.close()
        assert proc.proc.returncode == 0, proc.log()
    log = proc.log()
    assert "Traceback" not in log, log
