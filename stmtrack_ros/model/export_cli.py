"""`stmtrack export`: write the ONNX files of a checkpoint's inference passes and their
manifest (model/export.py), and print the trtexec commands that turn them into TensorRT
engines."""
from __future__ import annotations

import sys
from pathlib import Path

from .export import DEFAULT_OPSET


def add_arguments(p) -> None:
    p.add_argument("--checkpoint", help="model file (default: the bundled small model)")
    p.add_argument("--out", required=True, help="folder for the .onnx files and manifest.json")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, >= 17 (default {DEFAULT_OPSET})")


def run(args) -> int:
    from . import CheckpointError, default_checkpoint_path, load_checkpoint
    from .export import ExportError, export_onnx, trtexec_commands

    ckpt = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    try:
        net = load_checkpoint(ckpt)
        manifest = export_onnx(net, args.out, opset=args.opset, checkpoint=ckpt)
    except (CheckpointError, ExportError) as e:
        print(f"stmtrack export: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {', '.join(p['file'] for p in manifest['passes'].values())} and manifest.json "
          f"to {args.out} (opset {manifest['opset']}, memory frames "
          f"{manifest['memory_frames']['min']}..{manifest['memory_frames']['max']} for TensorRT)")
    print("TensorRT engines (fp16), on the target machine:")
    for line in trtexec_commands(manifest, args.out):
        print("  " + line)
    return 0
