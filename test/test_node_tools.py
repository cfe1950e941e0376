"""The demo/test camera source and the demo summary (no ROS graph needed)."""
import types

import cv2
import numpy as np
import pytest

from node_support import BUNDLED_CLIP, CLIP_INFO
from stmtrack_ros.datasets import DatasetError
from stmtrack_ros.tools.camera_publisher import parse_ranges, read_frames


def test_bundled_clip_is_small_licensed_and_decodes():
    assert BUNDLED_CLIP.stat().st_size < 2 * 1024 * 1024
    readme = (BUNDLED_CLIP.parent / "README.md").read_text()
    assert "Blender Foundation" in readme and "creativecommons.org/licenses/by/3.0" in readme
    frames = read_frames(BUNDLED_CLIP)
    assert len(frames) == 100 and frames[0].shape == (360, 640, 3)
    import json
    x, y, w, h = json.loads(CLIP_INFO.read_text())["init_box_xywh"]
    assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 360


def test_read_frames_from_a_folder_sorted_and_resized(tmp_path):
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"{i:04d}.png"), np.full((10, 12, 3), i * 50, np.uint8))
    frames = read_frames(tmp_path, size=(6, 5))
    assert [int(f[0, 0, 0]) for f in frames] == [0, 50, 100] and frames[0].shape == (5, 6, 3)
    assert len(read_frames(tmp_path, max_frames=2)) == 2
    with pytest.raises(DatasetError, match="not found"):
        read_frames(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no images"):
        read_frames(empty)


def test_parse_ranges():
    assert parse_ranges("3:6,9") == {3, 4, 5, 9}
    assert parse_ranges("") == set()


def test_demo_summary_counts():
    from stmtrack_ros.tools.demo import summarize

    def m(fid, track_id, state, index, conf, lat):
        return types.SimpleNamespace(header=types.SimpleNamespace(frame_id=str(fid)),
                                     track_id=track_id, state=state, frame_index=index,
                                     confidence=conf, latency_ms=lat)
    tracks = [m(0, 0, 0, 0, 0.0, 5), m(0, 1, 1, 0, 1.0, 50), m(2, 1, 1, 1, 0.8, 10),
              m(3, 1, 2, 2, 0.2, 20)]
    s = summarize(tracks, 5)
    assert s["states"] == {"IDLE": 1, "TRACKING": 2, "LOST": 1}
    assert s["tracked_frames"] == 3 and s["frames_not_processed"] == 2  # frames 1 and 4
    assert s["mean_confidence"] == 0.5 and s["latency_ms_mean"] == 15.0
