"""`stmtrack track`: run the tracker over an image folder or a video, write one x,y,w,h line per
frame (line 1 = the init box), optionally an annotated video."""
from __future__ import annotations

import sys
from pathlib import Path

from .params import SETTINGS, TrackerParams, option_help


def add_arguments(p) -> None:
    d = TrackerParams()
    p.add_argument("--checkpoint", help="model file (default: the bundled small model)")
    p.add_argument("--sequence", required=True,
                   help="image folder (or sequence folder with img/ and groundtruth.txt) or video file")
    p.add_argument("--init", help="init box x,y,w,h in pixels of the first frame (default: first "
                   "line of groundtruth.txt beside the frames, used unchanged)")
    for name in ("mode", "hp"):
        p.add_argument(f"--{name}", choices=SETTINGS[name].choices, default=getattr(d, name),
                       help=option_help(name))
    p.add_argument("--frames", type=int, help="stop after N frames (init frame included)")
    p.add_argument("--device", default=d.device, help=option_help("device"))
    p.add_argument("--backend", choices=SETTINGS["backend"].choices, default=d.backend,
                   help=option_help("backend"))
    p.add_argument("--onnx-dir", default=d.onnx_dir, help=option_help("onnx_dir"))
    p.add_argument("--out", required=True, help="output text file, one x,y,w,h per frame")
    p.add_argument("--video-out", help="write an annotated video here (.mp4 / .avi)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(msg: str) -> int:
    print(f"stmtrack track: error: {msg}", file=sys.stderr)
    return 2


def run(args) -> int:
    from tqdm import tqdm

    from stmtrack_ros.datasets import DatasetError, parse_box
    from stmtrack_ros.datasets.frame_source import FrameSource
    from stmtrack_ros.model import CheckpointError, default_checkpoint_path

    from .backends import BackendError
    from .draw import draw_track
    from .result import TrackerInputError
    from .tracker import Tracker

    if args.frames is not None and args.frames < 1:
        return _fail("--frames must be >= 1")
    try:
        source = FrameSource(args.sequence)
        init = parse_box(args.init, "--init") if args.init else source.groundtruth_init()
    except DatasetError as e:
        return _fail(str(e))
    if init is None:
        return _fail("no init box: pass --init x,y,w,h (no groundtruth.txt beside the frames)")
    ckpt = Path(args.checkpoint) if args.checkpoint else default_checkpoint_path()
    if not ckpt.is_file():
        return _fail(f"checkpoint not found: {ckpt} (pass --checkpoint PATH)")
    params = TrackerParams(mode=args.mode, hp=args.hp, device=args.device, backend=args.backend,
                           onnx_dir=args.onnx_dir)
    why = params.validate()
    if why:
        return _fail("; ".join(why))
    try:
        tracker = Tracker.from_checkpoint(ckpt, params)
    except (CheckpointError, BackendError, ValueError) as e:
        return _fail(str(e))

    total = len(source) if args.frames is None else min(args.frames, len(source) or args.frames)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    lines = []
    bar = tqdm(total=total or None, unit="fr", disable=args.no_progress, desc="track")
    try:
        for k, frame in enumerate(source):
            if args.frames is not None and k >= args.frames:
                break
            res = tracker.init(frame, init) if k == 0 else tracker.track(frame)
            lines.append(",".join(repr(float(v)) for v in res.box))
            if args.video_out:
                if writer is None:
                    import cv2
                    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if args.video_out.endswith(".mp4") else "MJPG"))
                    writer = cv2.VideoWriter(args.video_out, fourcc, source.fps,
                                             (frame.shape[1], frame.shape[0]))
                    if not writer.isOpened():
                        return _fail(f"cannot write video {args.video_out}")
                writer.write(draw_track(frame, res.state, res.box, res.confidence,
                                        f"frame {res.frame_index}"))
            if k > 0:
                tracker.memorize()
            bar.update(1)
            bar.set_postfix(state=res.state.name, conf=f"{res.confidence:.2f}")
    except (TrackerInputError, DatasetError) as e:
        return _fail(f"frame {len(lines)}: {e}")
    finally:
        bar.close()
        if writer is not None:
            writer.release()
        if lines:
            out.write_text("\n".join(lines) + "\n")
    if not lines:
        return _fail(f"no frames read from {args.sequence}")
    print(f"wrote {len(lines)} boxes to {out}" + (f" and {args.video_out}" if args.video_out else "")
          + f" (backend {tracker.backend.name})")
    return 0
