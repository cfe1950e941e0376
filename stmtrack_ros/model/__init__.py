"""The STMTrack network (ROS-free): config, backbones, head, checkpoints, parity weights."""
from .config import ModelConfig
from .network import STMTrackNet

__all__ = ["ModelConfig", "STMTrackNet"]
