"""TrackerParams: presets, validation reasons from each field's Setting, strict from_dict,
and Tracker.set_params applying each field when its Setting says."""
import dataclasses

import pytest

from stmtrack_ros.tracker import HP_PRESETS, Tracker, TrackerParams
from stmtrack_ros.tracker.params import SETTINGS, When
from tracker_support import SQUARE_BOX, one_thread, square_frame, tiny_net  # noqa: F401


def test_presets_are_the_official_test_configs():
    assert set(HP_PRESETS) == {"got10k", "otb", "lasot", "trackingnet", "uav123", "vot"}
    g = HP_PRESETS["got10k"]
    assert (g.test_lr, g.window_influence, g.penalty_k, g.search_area_factor,
            g.confidence_threshold, g.num_segments) == (0.95, 0.21, 0.04, 4.0, 0.6, 4)
    assert HP_PRESETS["vot"].confidence_threshold == 0.0
    assert HP_PRESETS["uav123"].search_area_factor == 4.171677449782462
    assert HP_PRESETS["otb"].test_lr == 0.5501132208837838


def test_defaults_valid_and_round_trip():
    p = TrackerParams()
    assert p.validate() == [] and p.mode == "bounded"
    assert TrackerParams.from_dict(p.to_dict()) == p


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown tracker parameter.*lost_treshold"):
        TrackerParams.from_dict({"lost_treshold": 0.3})


@pytest.mark.parametrize("change, word", [
    ({"hp": "imagenet"}, "hp"), ({"mode": "fast"}, "mode"), ({"memory_capacity": 1}, "memory_capacity"),
    ({"lost_threshold": 1.5}, "lost_threshold"), ({"lost_frames": 0}, "lost_frames"),
    ({"lost_threshold": 0.5, "recover_threshold": 0.2}, "hysteresis"),
    ({"device": "gpu"}, "device"), ({"fp16": True, "bf16": True}, "exclusive"),
    ({"mode": "exact", "fp16": True}, "bounded"), ({"lost_search_scale": 0.5}, "lost_search_scale"),
    ({"compile": "yes"}, "compile"), ({"memory_capacity": True}, "memory_capacity"),
    ({"lost_frames": 10001}, "lost_frames"), ({"threads": 257}, "threads"),
    ({"onnx_dir": 3}, "onnx_dir"), ({"device": 0}, "device"), ({"lost_threshold": "0.3"}, "lost_threshold"),
])
def test_validate_gives_reasons(change, word):
    p = TrackerParams(**change)
    why = p.validate()
    assert why and any(word in w for w in why), why
    with pytest.raises(ValueError, match="invalid tracker parameters"):
        TrackerParams.from_dict(change)


def test_every_field_declares_a_setting_a_number_its_range():
    for f in dataclasses.fields(TrackerParams):
        s = SETTINGS[f.name]
        assert s.description and isinstance(s.when, When), f.name
        if type(f.default) in (int, float):  # the node's descriptor needs a range
            assert s.range and all(type(v) is type(f.default) for v in s.range), f.name
            assert s.range[0] <= f.default <= s.range[1], f.name
        if s.choices:
            assert f.default in s.choices, f.name


# one other valid value per field (on a tracker built with optimize=False)
_OTHER = {"hp": "otb", "mode": "exact", "memory_capacity": 4, "confidence": "memory",
          "memory_threshold": 0.5, "lost_threshold": 0.1, "lost_frames": 9,
          "recover_threshold": 0.9, "lost_search_scale": 2.0, "lost_follow": True,
          "redetect_tiles": 4, "redetect_confirm_frames": 3, "redetect_margin": 0.5,
          "redetect_after_frames": 5,
          "device": "cuda:0", "fp16": True, "bf16": True, "compile": True, "optimize": True,
          "threads": 1, "backend": "onnxruntime", "onnx_dir": "elsewhere"}


def test_set_params_applies_or_refuses_each_field_as_its_setting_says():
    assert set(_OTHER) == set(SETTINGS)
    base = TrackerParams(backend="torch", optimize=False)
    tr = Tracker(tiny_net(), base)
    for name, value in _OTHER.items():
        new = base.replace(**{name: value})
        if SETTINGS[name].when is When.RESTART:
            with pytest.raises(ValueError, match=f"{name} cannot change on a running tracker"):
                tr.set_params(new)
            assert tr.params is base, name  # refused: nothing changed
        else:
            tr.set_params(new)
            assert tr.params == new, name
            tr.set_params(base)


def test_init_settings_leave_the_running_target_alone_until_the_next_init():
    """mode and memory_capacity are When.INIT: the target being tracked keeps its memory."""
    # thresholds 0: the random network's frames all count as reliable
    exact = TrackerParams(backend="torch", optimize=False, mode="exact", memory_threshold=0.0,
                          lost_threshold=0.0, recover_threshold=0.0)
    tr = Tracker(tiny_net(), exact)
    tr.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 4):
        tr.update(square_frame(t))
    tr.set_params(exact.replace(mode="bounded", memory_capacity=2))
    for t in range(4, 12):
        tr.update(square_frame(t))
    assert tr.memory_stats()["features"] == 12  # still exact: every frame stored
    tr.init(square_frame(0), SQUARE_BOX)
    for t in range(1, 12):
        tr.update(square_frame(t))
    assert 2 <= tr.memory_stats()["features"] <= 4  # bounded: capacity 2, first and last frame


def test_cli_options_take_their_help_and_choices_from_the_settings():
    import argparse

    from stmtrack_ros.eval import eval_cli
    from stmtrack_ros.tracker import track_cli
    for module in (track_cli, eval_cli):
        p = argparse.ArgumentParser()
        module.add_arguments(p)
        options = {a.dest: a for a in p._actions}
        for name in ("mode", "hp", "device", "backend"):
            assert SETTINGS[name].description in options[name].help, (module, name)
            assert all(c in options[name].help for c in SETTINGS[name].choices or ()), name
        assert options["mode"].choices == SETTINGS["mode"].choices
