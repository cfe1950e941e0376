"""The STMTrack network (ROS-free): config, backbones, head, checkpoints, parity weights."""
from .checkpoint import CheckpointError, default_checkpoint_path, load_checkpoint, save_checkpoint
from .config import ModelConfig
from .device import resolve_device
from .network import STMTrackNet

__all__ = ["CheckpointError", "ModelConfig", "STMTrackNet", "default_checkpoint_path",
           "load_checkpoint", "resolve_device", "save_checkpoint"]
