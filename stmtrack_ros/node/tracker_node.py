"""The `stmtrack` ROS 2 node: camera frames in, one stamped `Track` per processed frame out.

A managed (lifecycle) node; with `autostart` (default) it configures and activates itself:
* configure: read the parameters, load the model and warm it up, create the publishers and
  the tracking thread (nothing is published yet);
* activate: subscribe the camera (`image`, or `<image>/compressed`) and its `camera_info`,
  enable the publishers; init_target/reset act only now;
* deactivate: unsubscribe, publish nothing; the model and the target are kept;
* cleanup: stop the tracking thread, release the model; shutdown: clean up and end main().
init_target and reset answer in every state (refusing, with the state, unless active).

Threads (MultiThreadedExecutor, one callback group each, so services answer in milliseconds
while the network runs):
* image callback: converts the frame (bad ones are counted, never fatal), stores it in the
  ring buffer (for init by stamp) and in the one-frame "latest" slot;
* tracking thread: the only user of the Tracker. Takes the latest frame (older waiting ones
  were replaced: dropped, never queued), runs the query pass, publishes the Track at once,
  then the memory pass. init/reset requests are executed here too, between frames;
* services (init_target, reset) hand their request to the tracking thread and wait;
* a timer publishes /diagnostics; lifecycle transitions run in their own group.
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import gc
import sys
import threading
import time
import warnings

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import InvalidHandle, InvalidParameterTypeException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from stmtrack_ros.msg import Track
from stmtrack_ros.srv import InitTarget

from ..model import default_checkpoint_path
from ..tracker import Tracker, TrackerInputError, TrackState
from ..tracker.inputs import check_box
from .bearing import CameraModel, LatestCamera, bearing_fields, camera_info_beside
from .convert import (
    ImageConversionError,
    ImageTooLargeError,
    bgr_to_image,
    draw_track,
    msg_to_bgr,
    track_fields,
)
from .detections import detection_array, load_vision_msgs
from .diagnostics import NodeStats, build_status
from .frame_buffer import Frame, FrameBuffer, LatestSlot
from .params import (
    NODE_NAME,
    NODE_SPECS,
    TRACKER_SPECS,
    NodeSettings,
    all_defaults,
    command_line_values,
    expected,
    node_defaults,
    spec_problem,
    tracker_params_from,
    type_problem,
    unknown_problem,
)
from .safe_log import SafeLog, one_line

LOG_EVERY_S = 5.0          # rate limit of repeated warnings (bad images, stamps, errors)
REQUEST_TIMEOUT_S = 30.0   # a service gives up waiting for the tracking thread after this
# The tracking thread makes hundreds of short torch calls per frame, each releasing the GIL;
# with Python's default 5 ms switch interval every re-acquisition can wait behind the
# executor's threads. Measured with bench/bench_node.py (30 Hz in, bundled model, torch):
# 5.7 Hz published at 5 ms, 25 Hz at 0.2 ms (docs/node.md, Start-up).
GIL_SWITCH_INTERVAL_S = 0.0002
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
_PARAM_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
                float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}


def _ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _header(frame: Frame) -> Header:
    h = Header(frame_id=frame.frame_id)
    h.stamp.sec, h.stamp.nanosec = divmod(frame.stamp_ns, 1_000_000_000)
    return h


def start_target(tracker: Tracker, frame_bgr, box, params=None) -> tuple[Tracker, object]:
    """A tracker on the new target, with the init frame's memory pass done and a query pass
    on that frame tried, or an exception with `tracker` untouched (the old target kept).

    The candidate is a shallow copy of the running tracker: it shares the network (no second
    model in memory) and `init` replaces, never mutates, the state objects it holds (memory
    bank, box, counters), so the old target lives on in `tracker` until the caller swaps.
    The trial query pass runs on a further copy, so it changes nothing: a box the crop cannot
    handle fails here rather than on every later frame. Costs one query pass per init.
    `params`: other TrackerParams for the new target (e.g. mode), else the tracker's."""
    candidate = copy.copy(tracker)
    if params is not None:
        candidate.set_params(params)
    result = candidate.init(frame_bgr, box)
    candidate.memorize()
    copy.copy(candidate).track(frame_bgr)
    return candidate, result


def descriptor(name: str, default) -> ParameterDescriptor:
    """ROS descriptor of one parameter from its Spec (description, range, read-only)."""
    spec = TRACKER_SPECS.get(name) or NODE_SPECS[name]
    text = spec.description + (f" ({' | '.join(spec.choices)})" if spec.choices else "")
    d = ParameterDescriptor(name=name, type=_PARAM_TYPES[type(default)], description=text,
                            read_only=not spec.runtime)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.range is not None:
        if isinstance(default, int):
            d.integer_range = [IntegerRange(from_value=int(spec.range[0]),
                                            to_value=int(spec.range[1]), step=0)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]),
                                                         to_value=float(spec.range[1]), step=0.0)]
    return d


@dataclasses.dataclass
class _Request:
    """init/reset handed from a service to the tracking thread."""
    kind: str
    frame: Frame | None = None
    box: tuple = ()
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    cancelled: bool = False
    ok: bool = False
    message: str = ""
    track_id: int = 0


class TrackerNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.log = SafeLog(self.get_logger())
        self._defaults = all_defaults()
        for name, default in self._defaults.items():
            try:
                self.declare_parameter(name, default, descriptor(name, default))
            except InvalidParameterTypeException:  # a params file or -p of another type
                given = getattr(self, "_parameter_overrides", {}).get(name)
                raise ValueError("parameter " + (type_problem(name, given.value) if given else
                                                 f"{name} has the wrong type; expected "
                                                 f"{expected(name)}")) from None
        self.lifecycle = "unconfigured"   # ours, as the services and logs tell it
        self.finished = threading.Event()  # set by shutdown: main() returns
        self.autostarting = False          # configure failures then say "cannot start"
        self.tracker = None
        self.device = ""
        self.backend = ""
        self.stats = NodeStats()
        self._track_id = 0            # of the current target; 0 = none
        self._next_track_id = 1       # never reused within the process, over cleanups too
        self._state = TrackState.IDLE
        self._memory_size = 0
        self._memory_bytes = 0        # of the current target's memory bank
        self._memory_mode = ""        # exact | bounded | bounded (exact budget reached ...)
        self._confidence = 0.0        # of the last published Track (0 without a target)
        self._camera_info = LatestCamera()
        self._camera: CameraModel | None = None  # its model, read once per Track
        self._vision = load_vision_msgs()
        self._told_vision = False     # "detections is off" is said once, on the first configure
        self._subs, self._pubs, self._timer, self._worker = [], [], None, None
        self.add_on_set_parameters_callback(self._guarded(
            "parameter change", self._on_set_parameters,
            lambda why, _changes: SetParametersResult(successful=False, reason=why)))
        # The services answer in every state (refusing unless active), so a caller learns
        # why instead of waiting for a service that is not there.
        service_group = MutuallyExclusiveCallbackGroup()
        self.create_service(InitTarget, "init_target",
                            self._guarded("init_target", self._on_init_target, self._refused),
                            callback_group=service_group)
        self.create_service(Trigger, "reset", self._guarded("reset", self._on_reset, self._refused),
                            callback_group=service_group)

    # rclpy refuses a wrong type or an unknown name before our callback runs, in its own
    # words ("Wrong parameter type, expected '3' got '4'", "undeclared parameter(s): []"):
    # these two entry points (the second is what `ros2 param set` reaches) answer in ours.
    def set_parameters(self, parameter_list) -> list[SetParametersResult]:
        return [self._type_refusal([p]) or super(TrackerNode, self).set_parameters([p])[0]
                for p in parameter_list]

    def set_parameters_atomically(self, parameter_list) -> SetParametersResult:
        return self._type_refusal(parameter_list) or super().set_parameters_atomically(parameter_list)

    def _type_refusal(self, parameter_list) -> SetParametersResult | None:
        for p in parameter_list:
            if p.name not in self._defaults:
                if p.name in self._parameters:
                    continue  # rclpy's own (use_sim_time, ...)
                why = unknown_problem(p.name) or f"{p.name} is no parameter of {NODE_NAME}"
                why = why.removesuffix(" (ignored)") + "; nothing changed"
            else:
                why = type_problem(p.name, p.value)
            if not why and not (TRACKER_SPECS.get(p.name) or NODE_SPECS[p.name]).runtime:
                why = (f"{p.name} is read-only while the node runs (it shapes the model, memory "
                       f"or wiring); set it at start: -p {p.name}:=VALUE or the params file")
            if why:
                self.log.warning(f"parameter change refused: {why}")
                return SetParametersResult(successful=False, reason=why)
        return None

    def _guarded(self, what: str, callback, on_error=None):
        """`callback` for the executor: an exception from it would end the process (rclpy
        re-raises it from spin), so it is logged, counted on /diagnostics and answered by
        `on_error(one-line reason, *args)` (a service's refusal) instead."""
        def call(*args):
            try:
                return callback(*args)
            except Exception as e:  # noqa: BLE001 - no client or camera input ends the node
                if not self.context.ok():
                    return None  # shutting down: publishers are gone, nothing to report
                why = one_line(f"{what} failed: {type(e).__name__}: {e}", 500)
                with self.stats.lock:
                    self.stats.callback_errors += 1
                    self.stats.last_error = why
                self.log.error(why, every=LOG_EVERY_S)
                return on_error(why, *args) if on_error else None
        return call

    def _refused(self, why: str, _request, response):
        """A service response for a request the node could not handle (nothing changed)."""
        response.success = False
        response.message = f"{why}; {self._keeping()}"
        if hasattr(response, "track_id"):
            response.track_id = self._track_id
        return response

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._configure()
        except Exception as e:  # noqa: BLE001 - one clear line; the node stays unconfigured
            self._release()
            why = f"{type(e).__name__}: {e}"
            if self.autostarting:
                self.log.fatal(f"cannot start: {why}")
            else:
                self.log.error(f"configure failed: {why}; still unconfigured")
            return FAILURE
        self.lifecycle = "inactive"
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        ret = super().on_activate(state)  # enables the publishers first: no Track is lost
        self._subscribe()
        self.lifecycle = "active"
        self.log.info(f"active: {self._image_topic} -> "
                      f"{self.resolve_topic_name('track')}")
        return ret

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.lifecycle = "inactive"
        self._unsubscribe()
        self.log.info("inactive: not subscribed, publishing nothing; model and "
                      f"target kept ({self._keeping()})")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        self.log.info("cleaned up (unconfigured); configure to load the model again")
        return super().on_cleanup(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._release()
        self.lifecycle = "finalized"
        self.finished.set()
        return super().on_shutdown(state)

    def on_error(self, state) -> TransitionCallbackReturn:
        self.log.error(f"error in a transition from {state.label}; releasing "
                       "everything (unconfigured)")
        self._release()
        return SUCCESS

    def _configure(self) -> None:
        values = {n: self.get_parameter(n).value for n in self._defaults}
        for name, value in values.items():
            why = spec_problem(name, value)
            if why:
                raise ValueError(f"parameter {why}")
        self.settings = NodeSettings(**{k: values[k] for k in node_defaults()})
        self.params = tracker_params_from(values)

        ckpt = self.settings.checkpoint or str(default_checkpoint_path())
        t0 = time.monotonic()
        with warnings.catch_warnings(record=True) as caught:  # as ROS log lines, once each
            warnings.simplefilter("always")
            self.tracker = Tracker.from_checkpoint(
                ckpt, self.params, sha256=self.settings.checkpoint_sha256 or None)
            warm = self.tracker.warm_up()  # compilation and kernel choice now, not on a target
        for text in dict.fromkeys(str(w.message) for w in caught):
            self.log.warning(text)
        self.device = str(getattr(self.tracker, "device", self.params.device))
        self.backend = self.tracker.backend.name   # what backend auto chose
        self.log.info(f"loaded {ckpt} on {self.device} in {time.monotonic() - t0:.1f} s "
                      f"(backend {self.backend}, mode {self.params.mode}, hp {self.params.hp}; "
                      f"warm-up {warm:.1f} s)")

        self.stats = NodeStats()
        self.buffer = FrameBuffer(self.settings.frame_buffer_size,
                                  self.settings.frame_buffer_max_mb * 2**20)
        self.slot = LatestSlot()
        self._requests: collections.deque[_Request] = collections.deque()
        self._seq = 0
        self._last_stamp_ns: int | None = None
        self._last_done_seq = -1      # frames at or before this are never processed (again)
        self._track_id = 0
        self._state = TrackState.IDLE
        self._memory_size = 0
        self._catchup: collections.deque[Frame] = collections.deque()

        self.track_pub = self.create_lifecycle_publisher(Track, "track", 10)
        self.debug_pub = self.create_lifecycle_publisher(Image, "debug_image", 1)
        self.diag_pub = self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", 10)
        self._pubs = [self.track_pub, self.debug_pub, self.diag_pub]
        self.det_pub = None
        if self._vision is not None:
            self.det_pub = self.create_lifecycle_publisher(self._vision.Detection2DArray,
                                                           "detections", 10)
            self._pubs.append(self.det_pub)
        elif not self._told_vision:
            self._told_vision = True
            self.log.info("vision_msgs is not importable: `detections` "
                          "(vision_msgs/Detection2DArray) is off")
        self._timer = self.create_timer(self.settings.diagnostics_period,
                                        self._guarded("diagnostics", self._publish_diagnostics),
                                        callback_group=MutuallyExclusiveCallbackGroup())
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="stmtrack-tracking", daemon=True)
        self._worker.start()

    def _subscribe(self) -> None:
        """The camera and its camera_info, named as image_transport names them: the remapped
        `image` topic, `<image>/compressed`, and `camera_info` beside the image topic."""
        s = self.settings
        reliability = (ReliabilityPolicy.RELIABLE if s.image_qos_reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=s.image_qos_depth,
                         reliability=reliability)
        base = self.resolve_topic_name("image")
        self._image_topic = base + "/compressed" if s.use_compressed else base
        group = MutuallyExclusiveCallbackGroup()
        self._subs = [self.create_subscription(CompressedImage if s.use_compressed else Image,
                                               self._image_topic,
                                               self._guarded("image callback", self._on_image),
                                               qos, callback_group=group)]
        # Cameras latch camera_info (reliable + transient local) or stream it (best effort):
        # one subscription matches each kind, so every driver's camera_info arrives.
        info = camera_info_beside(base)
        for rel, dur in ((ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL),
                         (ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE)):
            self._subs.append(self.create_subscription(
                CameraInfo, info, self._guarded("camera_info callback", self._on_camera_info),
                QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=rel,
                           durability=dur), callback_group=group))

    def _unsubscribe(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._worker is not None:  # frames not yet processed are not processed later
            self.slot.discard_up_to(self._seq)
            self._catchup.clear()

    def _release(self) -> None:
        """Back to unconfigured: no subscriptions, publishers, timer, thread or model."""
        self._unsubscribe()
        if self._worker is not None:
            self._stop.set()
            self.slot.close()
            for req in list(self._requests):
                req.cancelled = True
                req.done.set()
            self._worker.join(timeout=10.0)
            self._worker = None
        for pub in self._pubs:
            self.destroy_lifecycle_publisher(pub)
        self._pubs = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        had_model = self.tracker is not None
        self.tracker = None
        self._track_id, self._state, self._memory_size = 0, TrackState.IDLE, 0
        self._memory_bytes, self._memory_mode = 0, ""
        self.buffer = None
        self.lifecycle = "unconfigured"
        if had_model:
            gc.collect()
            if self.device.startswith("cuda"):
                import torch
                torch.cuda.empty_cache()
            if self.context.ok():  # not after SIGINT/SIGTERM: rosout is gone by then
                self.log.info("model released")

    # ------------------------------------------------------------------ input
    def _on_image(self, msg) -> None:
        now = time.monotonic()
        with self.stats.lock:
            self.stats.input_rate.tick(now)
        try:
            bgr = msg_to_bgr(msg, self.settings.mono16_scaling, self.settings.max_image_pixels)
        except ImageConversionError as e:
            self.stats.bad_image(str(e), oversized=isinstance(e, ImageTooLargeError))
            self.log.warning(f"bad image refused (frame_id {msg.header.frame_id!r}): {e}",
                             every=LOG_EVERY_S)
            return
        except Exception as e:  # noqa: BLE001 - a camera must never take the node down
            self.stats.bad_image(f"{type(e).__name__}: {e}")
            self.log.error(f"image conversion failed: {e!r}", every=LOG_EVERY_S)
            return
        stamp = _ns(msg.header.stamp)
        if self._last_stamp_ns is not None and stamp < self._last_stamp_ns:
            with self.stats.lock:
                self.stats.stamps_backwards += 1
            self.log.warning(
                f"image stamp went backwards by {(self._last_stamp_ns - stamp) / 1e9:.3f} s "
                "(bag looping or clock reset?); continuing with the target kept",
                every=LOG_EVERY_S)
        self._last_stamp_ns = stamp
        self._seq += 1
        frame = Frame(self._seq, stamp, msg.header.frame_id, bgr, now)
        self.buffer.push(frame)
        self.slot.put(frame)

    def _on_camera_info(self, msg) -> None:
        changed, refused = self._camera_info.update(msg)
        self._camera = self._camera_info.model
        if refused:
            self.log.warning(f"camera_info refused: {refused}; Tracks carry no bearing "
                             "(bearing_valid false)")
        elif changed:
            self.log.info(f"camera_info: {msg.width}x{msg.height} "
                          f"{self._camera.distortion_model}; Tracks carry the bearing")

    # ------------------------------------------------------------------ tracking thread
    def _run(self) -> None:
        while not self._stop.is_set():
            if self._requests:
                self._execute(self._requests.popleft())
                continue
            frame = self._catchup.popleft() if self._catchup else self.slot.take(timeout=0.25)
            if frame is None or frame.seq <= self._last_done_seq:
                continue
            try:
                self._process(frame)
            except Exception as e:  # noqa: BLE001 - log, count, keep serving
                if not self.context.ok():
                    return  # shutting down: publishers are gone
                with self.stats.lock:
                    self.stats.processing_errors += 1
                    self.stats.last_error = one_line(f"{type(e).__name__}: {e}", 500)
                self.log.error(f"frame {frame.frame_id!r} not tracked: {e}", every=LOG_EVERY_S)

    def _process(self, frame: Frame) -> None:
        self._last_done_seq = frame.seq
        t0 = time.monotonic()
        result = None
        if self.tracker.state != TrackState.IDLE:
            result = self.tracker.track(frame.bgr)
        self._publish(frame, result, t0)
        if result is not None:
            self.tracker.memorize()
            self._note_memory()
            budget = self.settings.exact_max_memory_mb * 2**20
            if self._memory_mode == "exact" and self._memory_bytes >= budget:
                self._exact_to_bounded(frame, result)

    def _note_memory(self) -> None:
        stats = self.tracker.memory_stats()
        self._memory_size, self._memory_bytes = stats["features"], stats["bytes"]

    def _exact_to_bounded(self, frame: Frame, result) -> None:
        """Exact memory reached exact_max_memory_mb: the same target (track_id kept) goes on
        in bounded mode, re-initialised on its current box in this frame (its Track
        frame_index restarts at 0). Said once per target, in the log and on /diagnostics."""
        reached = (f"exact-mode memory reached {self._memory_bytes / 2**20:.0f} MB "
                   f"(exact_max_memory_mb {self.settings.exact_max_memory_mb}) after "
                   f"{result.frame_index + 1} frames of target {self._track_id}")
        try:
            tracker, _ = start_target(self.tracker, frame.bgr, result.box,
                                      self.params.replace(mode="bounded"))
        except Exception as e:  # noqa: BLE001 - keep exact, say why; not tried again for it
            self._memory_mode = "exact (budget reached; switch failed)"
            self.log.error(one_line(f"{reached}; switching to bounded failed: "
                                    f"{type(e).__name__}: {e}; memory keeps growing", 500))
            return
        self.tracker = tracker
        self._note_memory()
        self._memory_mode = f"bounded (exact_max_memory_mb reached at {result.frame_index + 1} frames)"
        self.log.warning(f"{reached}; it continues in bounded mode (memory_capacity "
                         f"{self.params.memory_capacity}) from its current box, track_id kept")

    def _publish(self, frame: Frame, result, t0: float) -> None:
        now = time.monotonic()
        latency = (now - frame.received) * 1e3
        fields = track_fields(result, track_id=self._track_id if result is not None else 0,
                              image_wh=frame.wh, latency_ms=latency)
        camera = self._camera
        bearing = bearing_fields(camera, fields)
        if camera is not None and not bearing["bearing_valid"] and fields["state"]:
            self.log.warning(f"no bearing: {camera.size_problem(*frame.wh)}", every=LOG_EVERY_S)
        header = _header(frame)
        self.track_pub.publish(Track(header=header, **fields, **bearing))
        if self.det_pub is not None:
            self.det_pub.publish(detection_array(self._vision, header, fields))
        if result is not None:
            self._state = result.state
        self._confidence = result.confidence if result is not None else 0.0
        with self.stats.lock:
            self.stats.output_rate.tick(now)
            self.stats.latency_ms.add(latency)
            self.stats.track_ms.add((now - t0) * 1e3)
        if self.debug_pub.get_subscription_count() > 0:  # only drawn when someone looks
            self.debug_pub.publish(bgr_to_image(draw_track(frame.bgr, fields), "bgr8",
                                                _header(frame)))

    def _execute(self, req: _Request) -> None:
        if req.cancelled:
            return
        try:
            if req.kind == "reset":
                self.tracker.reset()
                self._state, self._track_id, self._memory_size = TrackState.IDLE, 0, 0
                self._memory_bytes, self._memory_mode = 0, ""
                self._catchup.clear()
                req.ok, req.message = True, "tracker reset; publishing IDLE until init_target"
                return
            frame = req.frame
            t0 = time.monotonic()
            try:
                # self.params, not the running tracker's: after an exact-mode budget switch
                # those say bounded, and a new target starts in the mode the user set
                tracker, result = start_target(self.tracker, frame.bgr, req.box, self.params)
            except TrackerInputError as e:
                req.message = one_line(f"init refused: {e}; " + self._keeping())
                return
            except Exception as e:  # noqa: BLE001 - a box the tracker cannot follow
                req.message = one_line(f"init failed: {type(e).__name__}: {e}; "
                                       + self._keeping(), 500)
                return
            tracker.set_params(self.params)  # a runtime change that landed meanwhile
            self.tracker = tracker
            self._track_id = self._next_track_id
            self._next_track_id += 1
            self._memory_mode = self.params.mode
            self._publish(frame, result, t0)
            self._note_memory()
            # Catch up: the buffered frames after the init frame, then the newest ones.
            later = self.buffer.after(frame.seq)
            keep = self.settings.catchup_frames
            if len(later) > keep:  # evenly spaced, ending next to the newest
                later = [later[round((i + 1) * len(later) / keep) - 1] for i in range(keep)] \
                    if keep else []
            self._catchup.clear()
            self._catchup.extend(later)
            self._last_done_seq = frame.seq
            req.ok, req.track_id = True, self._track_id
            req.message = (f"tracking target {self._track_id} from frame {frame.frame_id!r} "
                           f"stamp {frame.stamp_ns / 1e9:.9f}; catching up over "
                           f"{len(later)} buffered frames")
        except Exception as e:  # noqa: BLE001 - the service answers, the node keeps running
            req.ok = False
            req.message = one_line(f"{req.kind} failed: {type(e).__name__}: {e}; "
                                   + self._keeping(), 500)
            self.log.error(req.message)
        finally:
            req.done.set()

    def _keeping(self) -> str:
        if self._track_id:
            return f"still tracking target {self._track_id}"
        return "no target (IDLE)"

    # ------------------------------------------------------------------ services
    def _submit(self, req: _Request) -> _Request:
        self._requests.append(req)
        self.slot.wake()
        if not req.done.wait(REQUEST_TIMEOUT_S):
            req.cancelled = True
            req.message = f"{req.kind} timed out after {REQUEST_TIMEOUT_S:.0f} s (tracker busy)"
        return req

    def _not_active(self, what: str) -> str | None:
        """Why `what` is refused in this lifecycle state (None while active)."""
        if self.lifecycle == "active":
            return None
        steps = {"unconfigured": "configure, then activate", "inactive": "activate"}
        return (f"{what} refused: the node is {self.lifecycle} (lifecycle); "
                f"{steps.get(self.lifecycle, 'start it again')} first; nothing changed")

    def _on_init_target(self, request, response):
        why = self._not_active("init_target")
        if why:
            response.success, response.track_id = False, self._track_id
            response.message = f"{why}; {self._keeping()}"
            self.log.warning(response.message)
            return response
        box = (request.x, request.y, request.width, request.height)
        want = _ns(request.stamp)
        if want == 0:
            frame = self.buffer.newest()
            where = "the newest frame"
        else:
            tol = int(self.get_parameter("init_stamp_tolerance").value * 1e9)
            frame = self.buffer.find(want, tol)
            where = f"stamp {want / 1e9:.9f}"
        response.track_id = self._track_id
        if frame is None:
            have = self.buffer.stamp_range()
            held = (f"the buffer holds {len(self.buffer)} frames, stamps "
                    f"{have[0] / 1e9:.9f}..{have[1] / 1e9:.9f}" if have else "no frames received yet")
            response.success = False
            response.message = (f"no buffered frame matches {where}: {held}; use the stamp of a "
                                f"recent image (or 0 for the newest); " + self._keeping())
            self.log.warning(f"init_target: {response.message}")
            return response
        try:
            box = check_box(box, frame.bgr.shape[:2])
        except TrackerInputError as e:
            response.success = False
            response.message = f"init refused: {e}; {self._keeping()}"
            self.log.warning(f"init_target: {response.message}")
            return response
        req = self._submit(_Request("init", frame=frame, box=box))
        response.success, response.message = req.ok, req.message
        response.track_id = req.track_id if req.ok else self._track_id
        if req.ok:
            self.log.info(f"init_target: {response.message}")
        else:
            self.log.warning(f"init_target: {response.message}")
        return response

    def _on_reset(self, request, response):
        why = self._not_active("reset")
        if why:
            response.success, response.message = False, f"{why}; {self._keeping()}"
            self.log.warning(response.message)
            return response
        req = self._submit(_Request("reset"))
        response.success, response.message = req.ok, req.message
        self.log.info(f"reset: {req.message}")
        return response

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, changes) -> SetParametersResult:
        tracker_changes, node_changes = {}, {}
        for p in changes:
            if p.name == "use_sim_time":
                continue
            why = spec_problem(p.name, p.value)
            if why:
                return SetParametersResult(successful=False, reason=why)
            (tracker_changes if p.name in TRACKER_SPECS else node_changes)[p.name] = p.value
        if self.tracker is None:  # unconfigured: the values are read on configure
            values = {n: self.get_parameter(n).value for n in self._defaults
                      if n in TRACKER_SPECS}
            try:
                tracker_params_from({**values, **tracker_changes})
            except (ValueError, TypeError) as e:
                return SetParametersResult(successful=False, reason=str(e))
            return SetParametersResult(successful=True)
        try:
            new = self.params.replace(**tracker_changes) if tracker_changes else self.params
            if tracker_changes:  # from the next frame (the others are read-only)
                self.tracker.set_params(new)
        except (ValueError, TypeError) as e:
            return SetParametersResult(successful=False, reason=str(e))
        self.params = new
        if node_changes:
            self.settings = dataclasses.replace(self.settings, **node_changes)
        changed = ", ".join(f"{p.name}={p.value!r}" for p in changes)
        self.log.info(f"parameters changed: {changed}")
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ diagnostics
    def _camera_text(self) -> str:
        cam = self._camera
        if cam is None:
            return "none"
        return f"{cam.width}x{cam.height} {cam.distortion_model}" if cam.width else \
            f"any size {cam.distortion_model}"

    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [build_status(
            f"{self.get_name()}: tracker", self.get_fully_qualified_name(), self.stats,
            dropped=self.slot.dropped, state=int(self._state), track_id=self._track_id,
            buffer_frames=len(self.buffer), buffer_bytes=self.buffer.nbytes,
            memory_size=self._memory_size, memory_bytes=self._memory_bytes,
            memory_mode=self._memory_mode, device=self.device, backend=self.backend,
            camera_info=self._camera_text(),
            confidence=self._confidence, redetect_tiles=self.params.redetect_tiles,
            search=self.tracker.redetection if self.tracker is not None else None)]
        self.diag_pub.publish(msg)

    def shutdown(self) -> None:
        """End of the process (SIGINT or after the shutdown transition): release everything."""
        self._release()


def command_line_problems(argv) -> tuple[list[str], list[str]]:
    """(fatal, warnings) about the parameter values in `argv`: a wrong type (which rcl's merge
    would otherwise drop silently), an unknown name after -p (params files are often shared
    by several nodes: their other names are not ours to judge)."""
    given = command_line_values(argv)
    fatal = [f"parameter {why} (given in {g.where})" for g in given
             if (why := type_problem(g.name, g.value))]
    return fatal, [f"{why}; given in {g.where}" for g in given
                   if not g.in_file and (why := unknown_problem(g.name))]


def main(args=None) -> int:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    rclpy.init(args=args)
    node = None
    log = SafeLog(rclpy.logging.get_logger(NODE_NAME))
    try:
        fatal, warn = command_line_problems(sys.argv if args is None else args)
        for why in warn:
            log.warning(why)
        if fatal:
            log.fatal(f"cannot start: {'; '.join(fatal)}")
            return 2
        try:
            node = TrackerNode()
        except Exception as e:  # noqa: BLE001 - one clear line, not a traceback
            log.fatal(f"cannot start: {type(e).__name__}: {e}")
            return 2
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        try:
            if node.get_parameter("autostart").value:
                node.autostarting = True  # a failed configure is then fatal, in one line
                if node.trigger_configure() != SUCCESS:
                    return 2
                node.autostarting = False
                node.trigger_activate()
            while rclpy.ok() and not node.finished.is_set():
                try:
                    executor.spin_once(timeout_sec=0.2)
                except InvalidHandle:  # a transition destroyed an entity while the wait set
                    continue           # was being built; the next one leaves it out
                except Exception:  # noqa: BLE001 - SIGTERM shut the context down while the
                    if rclpy.ok():  # wait set was being built (RCLError): a clean exit
                        raise
                    break
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
