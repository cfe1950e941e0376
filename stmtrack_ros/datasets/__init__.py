"""Datasets on disk (ROS-free, imports nothing else of this package): one reader per format,
one record type per kind of material, one error, one box parser, one frame lister.

    seqs = load_dataset("shared/data")            # benchmark layouts, format detected
    seqs = read_got10k(root, split="train")       # or one reader directly
    seq.frames, seq.gt, seq.valid, seq.absent()   # 0-based boxes, frames that count, absent frames

Modules: `records` (Sequence, StillImage, DatasetError), `files` (list_images, parse_box,
annotation rows and labels), `benchmarks` (project, OTB, GOT-10k, LaSOT, UAV123/UAV20L,
TrackingNet, VOT), `detection` (ImageNet-VID, COCO, VOC, YOLO), `manifests` (shared/train_data
CSVs), `frame_source` (an image folder or a video for `stmtrack track`).
"""
from .benchmarks import (
                         FORMATS,
                         detect_format,
                         load_dataset,
                         read_got10k,
                         read_lasot,
                         read_otb,
                         read_project,
                         read_trackingnet,
                         read_uav123,
                         read_vot,
)
from .detection import read_coco, read_imagenet_vid, read_voc, read_yolo
from .files import IMAGE_SUFFIXES, list_images, parse_box, read_rows
from .manifests import read_manifest_images, read_manifest_sequences
from .records import DatasetError, Sequence, StillImage

__all__ = ["FORMATS", "IMAGE_SUFFIXES", "DatasetError", "Sequence", "StillImage", "detect_format",
           "list_images", "load_dataset", "parse_box", "read_coco", "read_got10k", "read_imagenet_vid",
           "read_lasot", "read_manifest_images", "read_manifest_sequences", "read_otb", "read_project",
           "read_rows", "read_trackingnet", "read_uav123", "read_voc", "read_vot", "read_yolo"]
