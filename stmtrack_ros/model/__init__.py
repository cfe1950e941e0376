"""The STMTrack network (ROS-free): config, backbones, head, checkpoints, parity weights.

    net = load_checkpoint(path, device="cpu")    # official epoch-*.pkl, bare state_dict, or ours
    fast = net.optimized_copy()                  # BN folded + channels-last, for inference
    with torch.inference_mode():
        mem = torch.cat([fast.memorize(crop, fg_map) for crop, fg_map in frames], dim=2)
        score, boxes_xyxy, cls_prob, ctr_prob = fast.track(query_crop, mem)

Crops are float32 (N,3,S,S) BGR 0..255, maps float32 (N,1,S,S) 0/1. A CUDA device without
CUDA falls back to the CPU with a RuntimeWarning (`resolve_device`). Other modules:
`portable` (seed weights of the parity fixtures), `pretrained` (ImageNet Inception init).
"""
from .checkpoint import CheckpointError, default_checkpoint_path, load_checkpoint, save_checkpoint
from .config import ModelConfig
from .device import resolve_device
from .network import STMTrackNet

__all__ = ["CheckpointError", "ModelConfig", "STMTrackNet", "default_checkpoint_path",
           "load_checkpoint", "resolve_device", "save_checkpoint"]
