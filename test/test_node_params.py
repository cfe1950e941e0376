"""One source of truth for settings: TrackerParams' defaults and Settings = config/stmtrack.yaml
= what the node declares; the declared ranges agree with TrackerParams.validate(); runtime
changes go through the parameter callback (the launch file: test_node_launch.py)."""
import dataclasses

import pytest

from conftest import REPO
from node_support import test_checkpoint
from stmtrack_ros.node.params import (
    NODE_SPECS,
    TRACKER_SPECS,
    NodeSettings,
    all_defaults,
    read_params_file,
    spec_problem,
    tracker_params_from,
)
from stmtrack_ros.tracker import TrackerParams
from stmtrack_ros.tracker.params import SETTINGS, yaml_lines

YAML = REPO / "config" / "stmtrack.yaml"


def test_yaml_mirrors_tracker_params_and_node_settings():
    values = read_params_file(YAML)
    assert set(values) == set(all_defaults())
    for name, default in {**TrackerParams().to_dict(),
                          **dataclasses.asdict(NodeSettings())}.items():
        assert values[name] == default and type(values[name]) is type(default), name
    assert tracker_params_from(values) == TrackerParams()


def test_every_tracker_field_has_a_spec():
    assert set(TRACKER_SPECS) == {f.name for f in dataclasses.fields(TrackerParams)}
    assert set(NODE_SPECS) == {f.name for f in dataclasses.fields(NodeSettings)}


def _valid(**changes):
    base = TrackerParams(lost_threshold=0.0, recover_threshold=0.0) \
        if "recover_threshold" in changes else TrackerParams(recover_threshold=1.0)
    return not dataclasses.replace(base, **changes).validate()


@pytest.mark.parametrize("name", [n for n, s in TRACKER_SPECS.items() if s.range])
def test_declared_ranges_agree_with_validate(name):
    lo, hi = TRACKER_SPECS[name].range
    assert _valid(**{name: lo}) and _valid(**{name: hi})
    below = lo - 1 if isinstance(lo, int) else lo - 1e-3
    assert not _valid(**{name: below}) and spec_problem(name, below)
    above = hi + 1 if isinstance(hi, int) else hi + 1e-3
    assert not _valid(**{name: above}) and spec_problem(name, above)


def test_tracker_descriptors_are_derived_from_the_settings():
    """Only the settings that apply from the next frame may change while the node runs; the
    others shape the model or the memory and are read-only (as before the Settings existed)."""
    for name, s in SETTINGS.items():
        spec = TRACKER_SPECS[name]
        assert (spec.description, spec.range, spec.choices) == (s.description, s.range, s.choices)
    assert {n for n, s in TRACKER_SPECS.items() if s.runtime} == {
        "confidence", "memory_threshold", "lost_threshold", "lost_frames", "recover_threshold",
        "lost_search_scale", "lost_follow", "redetect_tiles", "redetect_confirm_frames",
        "redetect_margin", "redetect_after_frames"}


def test_yaml_tracker_block_is_generated_from_the_settings():
    lines = YAML.read_text().splitlines()
    block = lines[lines.index("    # --- tracker (TrackerParams) ---") + 1:
                  lines.index("    # --- node ---")]
    want = yaml_lines()
    assert block == want, ("config/stmtrack.yaml's tracker block is out of date; between the "
                           "tracker and node markers it should read:\n" + "\n".join(want))


@pytest.mark.parametrize("name", [n for n, s in TRACKER_SPECS.items() if s.choices])
def test_declared_choices_agree_with_validate(name):
    for c in TRACKER_SPECS[name].choices:
        assert _valid(**{name: c})
    assert not _valid(**{name: "no-such-choice"}) and spec_problem(name, "no-such-choice")


@pytest.fixture(scope="module")
def node():
    """The real node class in this process (no subprocess needed to read its declarations)."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from node_support import domain_id
    from stmtrack_ros.node.tracker_node import TrackerNode
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id(40))
    n = TrackerNode(context=ctx, parameter_overrides=[
        Parameter("checkpoint", value=str(test_checkpoint()))])
    from rclpy.lifecycle import TransitionCallbackReturn
    assert n.trigger_configure() == TransitionCallbackReturn.SUCCESS  # loads the model
    yield n
    n.shutdown()
    n.destroy_node()
    rclpy.try_shutdown(context=ctx)


def test_node_declares_exactly_the_yaml_parameters(node):
    builtin = {"use_sim_time", "start_type_description_service"}  # every rclpy node has these
    declared = set(node._parameters) - builtin
    assert declared == set(read_params_file(YAML))
    for name, default in TrackerParams().to_dict().items():
        assert node.get_parameter(name).value == default, name
    d = node.describe_parameters(["lost_threshold", "memory_capacity", "mode"])
    assert d[0].floating_point_range[0].to_value == 1.0 and not d[0].read_only
    assert d[1].integer_range[0].from_value == 2 and d[1].read_only
    assert "exact" in d[2].description and d[2].read_only


def test_runtime_threshold_changes_and_rejections(node):
    from rclpy.parameter import Parameter
    ok = node.set_parameters([Parameter("lost_threshold", value=0.3)])[0]
    assert ok.successful and node.tracker.params.lost_threshold == 0.3
    assert node.params.lost_threshold == 0.3
    bad = node.set_parameters([Parameter("recover_threshold", value=0.1)])[0]
    assert not bad.successful and "hysteresis" in bad.reason
    assert node.tracker.params.recover_threshold == TrackerParams().recover_threshold
    out = node.set_parameters([Parameter("lost_threshold", value=2.0)])[0]
    assert not out.successful and "range" in out.reason.lower()
    ro = node.set_parameters([Parameter("mode", value="exact")])[0]
    assert not ro.successful and "read-only" in ro.reason
    scale = node.set_parameters([Parameter("mono16_scaling", value="minmax")])[0]
    assert scale.successful and node.settings.mono16_scaling == "minmax"
    wrong = node.set_parameters([Parameter("mono16_scaling", value="log")])[0]
    assert not wrong.successful and "shift" in wrong.reason


def test_bad_startup_value_is_one_clear_error():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from node_support import domain_id
    from stmtrack_ros.node.tracker_node import TrackerNode
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id(41))
    try:
        n = TrackerNode(context=ctx, parameter_overrides=[Parameter("hp", value="nope")])
        assert n.trigger_configure() == TransitionCallbackReturn.FAILURE  # refused on configure
        assert n.lifecycle == "unconfigured" and n.tracker is None
        n.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.mark.ros
def test_node_process_with_a_missing_checkpoint_exits_with_one_clear_line(tmp_path):
    import subprocess
    import sys

    from node_support import domain_id, node_env
    r = subprocess.run([sys.executable, "-m", "stmtrack_ros.node.tracker_node", "--ros-args",
                        "-p", f"checkpoint:={tmp_path / 'missing.pt'}"], cwd=REPO,
                       env=node_env(domain_id(42)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    out = (r.stdout + r.stderr).strip().splitlines()
    assert len(out) == 1 and "cannot start" in out[0] and "missing.pt" in out[0], out


@pytest.mark.ros
def test_node_process_refuses_a_checkpoint_whose_sha256_differs(tmp_path):
    """checkpoint_sha256: a file that does not hash to it is one FATAL line, exit 2."""
    import shutil
    import subprocess
    import sys

    from node_support import domain_id, node_env
    from stmtrack_ros.model import default_checkpoint_path
    ckpt = tmp_path / "mine.pt"
    shutil.copy(default_checkpoint_path(), ckpt)
    r = subprocess.run([sys.executable, "-m", "stmtrack_ros.node.tracker_node", "--ros-args",
                        "-p", f"checkpoint:={ckpt}", "-p", f"checkpoint_sha256:={'ab' * 32}"],
                       cwd=REPO, env=node_env(domain_id(43)), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    out = (r.stdout + r.stderr).strip().splitlines()
    assert len(out) == 1 and "cannot start" in out[0] and "mine.pt" in out[0], out
    assert "not the expected" in out[0], out


# ---- start-up values of the wrong type fail like wrong values (issue #18) ----
_OF_TYPE = {bool: True, int: 3, float: 0.5, str: "abc"}


@pytest.mark.parametrize("name", sorted(all_defaults()))
def test_every_parameter_refuses_every_other_type_naming_type_and_range(name):
    from stmtrack_ros.node.params import expected, type_problem
    want = type(all_defaults()[name])
    assert type_problem(name, all_defaults()[name]) is None
    for kind, value in _OF_TYPE.items():
        why = type_problem(name, value)
        if kind is want:
            assert why is None
            continue
        assert why and why.startswith(f"{name}={value!r}") and expected(name) in why, why
        spec = TRACKER_SPECS.get(name) or NODE_SPECS[name]
        if spec.range:
            assert f"[{spec.range[0]}, {spec.range[1]}]" in why
        if spec.choices:
            assert all(c in why for c in spec.choices)


def test_command_line_values_are_typed_as_rcl_types_them(tmp_path):
    from stmtrack_ros.node.params import command_line_values, rcl_value
    assert [rcl_value(r) for r in ("abc", "1", "1.0", "1e3", "true", "'1'", "-0.5")] == \
        ["abc", 1, 1.0, 1000.0, True, "1", -0.5]
    extra = tmp_path / "extra.yaml"
    extra.write_text("/**:\n  ros__parameters:\n    lost_threshold: high\n"
                     "other_node:\n  ros__parameters:\n    lost_frames: many\n")
    argv = ["prog", "--ros-args", "--params-file", str(YAML), "-p", "lost_threshold:=abc",
            "-p", "other:fp16:=1", "-p", "stmtrack:fp16:=1", "--params-file", str(extra),
            "--", "-p", "lost_frames:=x"]
    given = [(g.name, g.value, g.in_file) for g in command_line_values(argv)
             if g.name in ("lost_threshold", "fp16", "lost_frames")]
    # in order; other nodes' -p and sections, and everything after "--", are not ours
    assert given == [("lost_threshold", 0.25, True), ("lost_frames", 5, True), ("fp16", False, True),
                     ("lost_threshold", "abc", False), ("fp16", 1, False),
                     ("lost_threshold", "high", True)]


def test_a_wrong_type_override_is_refused_in_the_node_constructor():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    from node_support import domain_id
    from stmtrack_ros.node.tracker_node import TrackerNode
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id(43))
    try:
        with pytest.raises(ValueError, match=r"lost_frames=2\.5 is a double; expected an integer in "
                                             r"\[1, 10000\]"):
            TrackerNode(context=ctx, parameter_overrides=[Parameter("lost_frames", value=2.5)])
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.mark.ros
@pytest.mark.parametrize("args, words", [
    (["--params-file", str(YAML), "-p", "lost_threshold:=abc"],  # rcl dropped it for 0.25
     ["lost_threshold='abc' is a string", "a double", "[0.0, 1.0]", "-p lost_threshold:=abc"]),
    (["-p", "lost_frames:=2.5", "-p", "fp16:=1"],
     ["lost_frames=2.5 is a double", "an integer in [1, 10000]", "fp16=1 is an integer",
      "a bool"]),
    (["--params-file", str(YAML), "--params-file", "{tmp}/bad.yaml"],
     ["mode=3 is an integer", "a string, one of exact, bounded", "bad.yaml"]),
])
def test_node_process_with_a_wrong_type_parameter_exits_with_one_fatal_line(tmp_path, args, words):
    import subprocess
    import sys

    from node_support import domain_id, node_env
    (tmp_path / "bad.yaml").write_text("/**:\n  ros__parameters:\n    mode: 3\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = subprocess.run([sys.executable, "-m", "stmtrack_ros.node.tracker_node", "--ros-args",
                        "-p", "lost_treshold:=0.3", *args], cwd=REPO,
                       env=node_env(domain_id(44)), capture_output=True, text=True, timeout=120)
    out = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode == 2, out
    assert len(out) == 2 and "did you mean lost_threshold?" in out[0], out
    assert "[FATAL]" in out[1] and "cannot start" in out[1] and all(w in out[1] for w in words), out
