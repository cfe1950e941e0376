"""Helpers for the node tests: the node as its own process, and an in-test rclpy client
(camera publisher, Track/diagnostics subscriber, service and parameter clients) on its own
ROS_DOMAIN_ID, with localhost-only DDS (config/fastdds_localhost.xml)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from conftest import REPO

BUNDLED_CLIP = REPO / "stmtrack_ros" / "data" / "demo" / "bigbuckbunny_100.mp4"
CLIP_INFO = BUNDLED_CLIP.with_name("clip.json")


def domain_id(offset: int) -> int:
    """A per-test domain derived from the run's ROS_DOMAIN_ID, kept within 0..101."""
    base = int(os.environ.get("ROS_DOMAIN_ID", "20"))
    return (base + 7 * offset) % 102


def node_env(domain: int) -> dict:
    env = dict(os.environ)  # keeps LD_LIBRARY_PATH / the ROS wheels' bootstrap variables
    env["ROS_DOMAIN_ID"] = str(domain)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_localhost.xml"))
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class NodeProcess:
    """`stmtrack_node` as a real process; always stopped (SIGINT, then SIGKILL) on exit."""

    def __init__(self, domain: int, log_path: Path, checkpoint: Path | None = None,
                 params: dict | None = None, extra_args=(), env: dict | None = None):
        cmd = [sys.executable, "-m", "stmtrack_ros.node.tracker_node", "--ros-args",
               "--params-file", str(REPO / "config" / "stmtrack.yaml")]
        for k, v in {**({"checkpoint": str(checkpoint)} if checkpoint else {}),
                     **(params or {})}.items():
            v = str(v).lower() if isinstance(v, bool) else v
            cmd += ["-p", f"{k}:={v}"]
        self.cmd = [*cmd, *extra_args]
        self.log_path = Path(log_path)
        self.domain = domain
        self.env = {**(env or {}), "ROS_DOMAIN_ID": str(domain)} if env else node_env(domain)
        self.proc = None

    def __enter__(self):
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self._log.close()


class RosClient:
    """Everything the test does on the ROS graph, in this process, on `domain`."""

    def __init__(self, domain: int, node_name: str = "stmtrack", compressed: bool = False):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rcl_interfaces.srv import GetParameters, SetParameters
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CompressedImage, Image
        from std_srvs.srv import Trigger

        from stmtrack_ros.msg import Track
        from stmtrack_ros.srv import InitTarget

        self.rclpy = rclpy
        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("stmtrack_test_client", context=self.ctx)
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "image", qos)
        self.compressed_pub = self.node.create_publisher(CompressedImage, "image/compressed", qos)
        self.tracks, self.diags = [], []
        self.lock = threading.Lock()
        self.node.create_subscription(Track, "track", self._on_track,
                                      QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self.init_cli = self.node.create_client(InitTarget, "init_target")
        self.reset_cli = self.node.create_client(Trigger, "reset")
        self.set_cli = self.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        self.get_cli = self.node.create_client(GetParameters, f"/{node_name}/get_parameters")
        self.InitTarget, self.Trigger = InitTarget, Trigger
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self._spin_loop, daemon=True)
        self._spin.start()

    def _spin_loop(self):
        try:
            while self.ctx.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # noqa: BLE001 - shutdown races end the loop
            pass

    def _on_track(self, msg):
        with self.lock:
            self.tracks.append((time.monotonic(), msg))

    def _on_diag(self, msg):
        with self.lock:
            self.diags.append(msg)

    # -- waiting
    def wait_ready(self, proc: NodeProcess, timeout: float = 60.0) -> None:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if not proc.alive():
                raise AssertionError(f"node exited early:\n{proc.log()}")
            if self.init_cli.service_is_ready() and self.image_pub.get_subscription_count() + \
                    self.compressed_pub.get_subscription_count() > 0 and \
                    self.node.count_publishers("track") > 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"node not ready after {timeout} s:\n{proc.log()}")

    def wait_for(self, pred, timeout: float = 30.0, what: str = "condition") -> None:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            with self.lock:
                if pred():
                    return
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_track(self, frame_id: str, timeout: float = 30.0):
        """The newest Track of the image with this frame_id, once it has arrived."""
        self.wait_for(lambda: any(m.header.frame_id == frame_id for _, m in self.tracks),
                      timeout, f"the Track of frame {frame_id}")
        with self.lock:
            return next(m for _, m in reversed(self.tracks) if m.header.frame_id == frame_id)

    def warm_up(self, bgr: np.ndarray, encoding: str = "rgb8", timeout: float = 30.0) -> None:
        """Publish until a first Track arrives (matching a best-effort reader takes a moment)."""
        t_end = time.monotonic() + timeout
        k = 0
        while self.track_count() == 0:
            self.publish_bgr(bgr, f"warm-up{k}", encoding)
            k += 1
            time.sleep(0.1)
            if time.monotonic() > t_end:
                raise AssertionError(f"the node never answered a frame in {timeout} s")

    def track_count(self) -> int:
        with self.lock:
            return len(self.tracks)

    def track_msgs(self) -> list:
        with self.lock:
            return [m for _, m in self.tracks]

    # -- calls
    def call(self, client, request, timeout: float = 30.0):
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {client.srv_name} not available")
        fut = client.call_async(request)
        t_end = time.monotonic() + timeout
        while not fut.done():
            if time.monotonic() > t_end:
                raise AssertionError(f"{client.srv_name} did not answer in {timeout} s")
            time.sleep(0.005)
        return fut.result()

    def init_target(self, box, stamp_ns: int = 0, timeout: float = 60.0):
        req = self.InitTarget.Request()
        req.stamp.sec, req.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
        req.x, req.y, req.width, req.height = (float(v) for v in box)
        return self.call(self.init_cli, req, timeout)

    def reset(self):
        return self.call(self.reset_cli, self.Trigger.Request())

    def set_param(self, name: str, value):
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter
        req = SetParameters.Request()
        req.parameters = [Parameter(name, value=value).to_parameter_msg()]
        return self.call(self.set_cli, req).results[0]

    def get_param(self, name: str):
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python
        req = GetParameters.Request(names=[name])
        return parameter_value_to_python(self.call(self.get_cli, req).values[0])

    def publish_bgr(self, bgr: np.ndarray, index: int, encoding: str = "rgb8",
                    stamp_ns: int | None = None) -> int:
        """Publish one frame with frame_id = str(index); returns its stamp (ns)."""
        from std_msgs.msg import Header

        from stmtrack_ros.node.convert import bgr_to_compressed, bgr_to_image
        stamp_ns = self.node.get_clock().now().nanoseconds if stamp_ns is None else stamp_ns
        h = Header(frame_id=str(index))
        h.stamp.sec, h.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        if encoding in ("jpeg", "png"):
            self.compressed_pub.publish(bgr_to_compressed(bgr, encoding, h))
        else:
            self.image_pub.publish(bgr_to_image(bgr, encoding, h))
        return stamp_ns

    def latest_diag_values(self) -> dict:
        from stmtrack_ros.node.diagnostics import status_values
        with self.lock:
            for arr in reversed(self.diags):
                for st in arr.status:
                    if st.name.startswith("stmtrack"):
                        return status_values(st)
        return {}

    def close(self):
        try:
            self.executor.shutdown(timeout_sec=1.0)
        except Exception:  # noqa: BLE001
            pass
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.ctx)
        self._spin.join(timeout=2.0)


def track_fields_of(msg) -> dict:
    """All Track fields except latency_ms, for comparing live and offline messages."""
    return {"stamp": (msg.header.stamp.sec, msg.header.stamp.nanosec),
            "frame_id": msg.header.frame_id, "track_id": msg.track_id, "state": msg.state,
            "box": (msg.x, msg.y, msg.width, msg.height), "confidence": msg.confidence,
            "image_wh": (msg.image_width, msg.image_height), "frame_index": msg.frame_index,
            "memory_frames": msg.memory_frames}


def test_checkpoint() -> Path:
    """The bundled small model, or (until it lands) random small-config weights written once."""
    import tempfile

    from stmtrack_ros.model import default_checkpoint_path
    bundled = Path(default_checkpoint_path())
    if bundled.is_file():
        return bundled
    path = Path(tempfile.gettempdir()) / f"stmtrack_node_test_random_small_{os.getuid()}.pt"
    if not path.is_file():
        import torch

        from stmtrack_ros.model import STMTrackNet, save_checkpoint
        from stmtrack_ros.model.backbone_small import small_config
        torch.manual_seed(0)
        save_checkpoint(path, STMTrackNet(small_config()))  # atomic write
    return path


test_checkpoint.__test__ = False  # a helper, not a test
