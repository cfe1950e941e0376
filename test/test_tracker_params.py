"""TrackerParams: presets, validation reasons, strict from_dict."""
import pytest

from stmtrack_ros.tracker import HP_PRESETS, TrackerParams


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
])
def test_validate_gives_reasons(change, word):
    p = TrackerParams(**change)
    why = p.validate()
    assert why and any(word in w for w in why), why
    with pytest.raises(ValueError, match="invalid tracker parameters"):
        TrackerParams.from_dict(change)
