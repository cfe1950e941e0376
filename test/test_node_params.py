"""One source of truth for settings: TrackerParams' defaults = config/stmtrack.yaml = what the
node declares; the declared ranges agree with TrackerParams.validate(); runtime changes go
through the parameter callback (the launch file: test_node_launch.py)."""
import dataclasses

import pytest

from conftest import REPO
from node_support import test_checkpoint
from stmtrack_ros.node.params import (NODE_SPECS, TRACKER_SPECS, NodeSettings, all_defaults,
                                      read_params_file, spec_problem, tracker_params_from)
from stmtrack_ros.tracker import TrackerParams

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
    if name not in ("lost_frames", "threads"):  # validate has no upper bound; the descriptor does
        above = hi + 1 if isinstance(hi, int) else hi + 1e-3
        assert not _valid(**{name: above}) and spec_problem(name, above)


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
