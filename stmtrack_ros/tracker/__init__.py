"""The online tracker (ROS-free): exact official behaviour or a bounded memory for streams."""
from .params import HP_PRESETS, HyperParams, TrackerParams
from .result import TrackerInputError, TrackResult, TrackState
from .tracker import Tracker

__all__ = ["HP_PRESETS", "HyperParams", "TrackResult", "TrackState", "Tracker",
           "TrackerInputError", "TrackerParams"]
