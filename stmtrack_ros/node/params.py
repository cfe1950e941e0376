"""The node's parameters: every `TrackerParams` field (described by its `Setting`) plus the
node's own wiring settings, each with a description and a range for `ros2 param describe`,
and the reader for `config/stmtrack.yaml` that the CLI tools share with the node."""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml

from ..tracker.params import SETTINGS, TrackerParams, When
from .convert import MAX_IMAGE_PIXELS, MONO16_SCALINGS

NODE_NAME = "stmtrack"
ROS_PARAMETERS = ("use_sim_time", "start_type_description_service")  # rclpy declares these


def config_file() -> Path | None:
    """config/stmtrack.yaml of the source tree, else the installed share/ copy (ROS install)."""
    src = Path(__file__).resolve().parents[2] / "config" / "stmtrack.yaml"
    if src.is_file():
        return src
    try:
        from ament_index_python.packages import get_package_share_directory
        share = Path(get_package_share_directory("stmtrack_ros")) / "config" / "stmtrack.yaml"
    except Exception:  # noqa: BLE001 - not a ROS install
        return None
    return share if share.is_file() else None


@dataclass(frozen=True)
class Spec:
    """How one parameter is described to ROS. `runtime`: may change while the node runs."""
    description: str
    range: tuple | None = None        # (min, max) for numbers
    choices: tuple | None = None      # allowed strings (told in the description)
    runtime: bool = False


# The tracker's, derived from its Settings: a FRAME setting may change while the node runs.
TRACKER_SPECS = {name: Spec(s.description, s.range, s.choices, runtime=s.when is When.FRAME)
                 for name, s in SETTINGS.items()}


@dataclass(frozen=True)
class NodeSettings:
    """The node's own settings (not the tracker's)."""
    checkpoint: str = ""                       # empty: the bundled small model
    checkpoint_sha256: str = ""                # expected digest of `checkpoint`; empty: none
    use_compressed: bool = False               # subscribe <image>/compressed instead of image
    image_qos_reliability: str = "best_effort"  # sensor-data QoS; best_effort matches both kinds
    image_qos_depth: int = 1                   # 1 = latest-frame-only at the DDS level too
    mono16_scaling: str = "shift"              # mono16 -> 8 bit: shift (v // 256) or minmax
    frame_buffer_size: int = 30                # frames kept for init_target by stamp
    frame_buffer_max_mb: int = 256             # ... and at most this many MB of them
    max_image_pixels: int = MAX_IMAGE_PIXELS   # larger frames are refused before decoding
    exact_max_memory_mb: int = 2048            # exact mode: then the target goes on bounded
    init_stamp_tolerance: float = 0.001        # s; nearest buffered stamp within this matches
    catchup_frames: int = 10                   # after init: buffered frames replayed (at most)
    diagnostics_period: float = 1.0            # s between /diagnostics messages
    autostart: bool = True                     # configure + activate at start (lifecycle)


NODE_SPECS = {
    "checkpoint": Spec("model checkpoint (.pt); empty = the bundled small model"),
    "checkpoint_sha256": Spec("64 hex digits the checkpoint file must hash to (sha256sum; quote it in "
                              "YAML); empty = no check (the bundled model is always checked)"),
    "use_compressed": Spec("subscribe sensor_msgs/CompressedImage on <image>/compressed (the "
                           "image topic as remapped, plus /compressed)"),
    "image_qos_reliability": Spec("image subscription reliability",
                                  choices=("best_effort", "reliable")),
    "image_qos_depth": Spec("image subscription queue depth (KEEP_LAST)", range=(1, 100)),
    "mono16_scaling": Spec("mono16 images to 8 bit: shift = value // 256, minmax = per-frame "
                           "stretch (thermal cameras)", choices=MONO16_SCALINGS, runtime=True),
    "frame_buffer_size": Spec("recent frames kept for init_target by stamp", range=(1, 600)),
    "frame_buffer_max_mb": Spec("MB the frame buffer may hold (the oldest frames go first; the "
                                "newest is always kept)", range=(1, 65536)),
    "exact_max_memory_mb": Spec("mode exact: when a target's memory bank reaches this many MB it "
                                "continues in bounded mode (re-initialised on its current box, "
                                "track_id kept)", range=(1, 1 << 20), runtime=True),
    "max_image_pixels": Spec("largest frame accepted (width*height), checked from the message or "
                             "the JPEG/PNG header before decoding", range=(4, 1 << 30), runtime=True),
    "init_stamp_tolerance": Spec("seconds; init_target matches the buffered frame nearest its "
                                 "stamp within this", range=(0.0, 1.0), runtime=True),
    "catchup_frames": Spec("after init_target on an older frame: at most this many of the "
                           "buffered frames since are tracked (evenly spaced) before the newest",
                           range=(0, 600), runtime=True),
    "diagnostics_period": Spec("seconds between /diagnostics messages", range=(0.1, 60.0)),
    "autostart": Spec("lifecycle: configure and activate at start (false: the node waits "
                      "unconfigured for change_state, as a lifecycle manager expects)"),
}


def tracker_defaults() -> dict:
    return TrackerParams().to_dict()


def node_defaults() -> dict:
    return dataclasses.asdict(NodeSettings())


def all_defaults() -> dict:
    """Every parameter the node declares (besides use_sim_time) with its default."""
    return {**tracker_defaults(), **node_defaults()}


def launch_argument_types() -> dict:
    """Every parameter a launch file may set, with its type: the node's and rclpy's
    use_sim_time (launch/stmtrack.launch.py declares one argument for each)."""
    return {**{name: type(value) for name, value in all_defaults().items()}, "use_sim_time": bool}


def spec_problem(name: str, value) -> str | None:
    """Why `value` is out of the declared range/choices of `name` (None when fine)."""
    spec = TRACKER_SPECS.get(name) or NODE_SPECS.get(name)
    if spec is None:
        return f"unknown parameter {name!r}"
    if spec.choices is not None and value not in spec.choices:
        return f"{name}={value!r}; choose one of {', '.join(spec.choices)}"
    if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
        return f"{name}={value!r} must be in [{spec.range[0]}, {spec.range[1]}]"
    return None


TYPE_NAMES = {bool: "a bool (true or false)", int: "an integer",
              float: "a double (a number with a decimal point, e.g. 1.0)", str: "a string"}


def expected(name: str) -> str:
    """What parameter `name` takes: its type and its range or choices (for error lines)."""
    spec = TRACKER_SPECS.get(name) or NODE_SPECS[name]
    text = TYPE_NAMES[type(all_defaults()[name])]
    if spec.range is not None:
        text += f" in [{spec.range[0]}, {spec.range[1]}]"
    if spec.choices is not None:
        text += f", one of {', '.join(spec.choices)}"
    return text


def type_problem(name: str, value) -> str | None:
    """Why `value` cannot be parameter `name` by its type (None when it can, or when `name` is
    not ours). Exact types, as ROS: 1 is not a double and 1.0 is not an integer."""
    default = all_defaults().get(name)
    if default is None or type(value) is type(default):
        return None
    got = TYPE_NAMES.get(type(value), f"a {type(value).__name__}").split(" (")[0]
    return f"{name}={value!r} is {got}; expected {expected(name)}"


def rcl_value(raw: str):
    """A `-p name:=raw` value typed as rcl types it: YAML, then an integer, then a double, else
    the string (rcl reads "1e3" as a double where YAML 1.1 reads a string)."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, str) and value == raw:
        for kind in (int, float):
            try:
                return kind(raw)
            except ValueError:
                pass
    return value


class Given(NamedTuple):
    """One parameter value given at start-up, and where (`-p ...` or a params file)."""
    where: str
    name: str
    value: object
    in_file: bool


def command_line_values(argv, node_name: str = NODE_NAME) -> list[Given]:
    """Every parameter value given to this node in the `--ros-args`
    sections of `argv`: `-p/--param name:=value` and the files of `--params-file`, in order.
    rcl merges them into one value per name, and when two differ in type rclpy silently
    reads the first one's (both land in one variant): `--params-file f -p
    lost_threshold:=abc` ran with f's 0.25. So the node checks each one itself."""
    out, in_ros, args = [], False, iter(argv or ())
    for a in args:
        if a == "--ros-args":
            in_ros = True
        elif a == "--":
            in_ros = False
        elif in_ros and a in ("-p", "--param"):
            key, sep, raw = next(args, "").partition(":=")
            node, _, name = key.rpartition(":")
            if sep and (not node or node.lstrip("/") == node_name):
                out.append(Given(f"-p {key}:={raw}", name, rcl_value(raw), False))
        elif in_ros and a == "--params-file":
            path = next(args, "")
            try:
                values = read_params_file(path, node_name)
            except Exception:  # noqa: BLE001 - rcl has refused a file it cannot read already
                continue
            out += [Given(path, name, value, True) for name, value in values.items()]
    return out


def unknown_problem(name: str) -> str | None:
    """Why `name` (given on the command line) is no parameter of this node, with the nearest
    one (a typo would otherwise be ignored without a word); None for ours and rclpy's own."""
    if name in all_defaults() or name in ROS_PARAMETERS or name.startswith("qos_overrides."):
        return None
    near = difflib.get_close_matches(name, list(all_defaults()), n=1)
    return (f"{name} is no parameter of {NODE_NAME}" + (f"; did you mean {near[0]}?" if near else "")
            + " (ignored)")


def read_params_file(path: str | Path, node_name: str = NODE_NAME) -> dict:
    """The `ros__parameters` of a ROS 2 parameter file for this node (`/**` and the node's
    own section, the latter winning)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    out = {}
    for key in ("/**", node_name, "/" + node_name):
        section = data.get(key) or {}
        out.update(section.get("ros__parameters") or {})
    return out


def tracker_params_from(values: dict) -> TrackerParams:
    """TrackerParams from a mixed parameter dict (node keys ignored), validated."""
    names = {f.name for f in dataclasses.fields(TrackerParams)}
    return TrackerParams.from_dict({k: v for k, v in values.items() if k in names})
