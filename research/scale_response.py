"""Scale response of a checkpoint (research/scale_probe.py), printed as JSON: does the
model read the target's size from the image, or repeat a size it has learnt? `size_ratio` near
1 at every factor = reads it; near the factor = a learnt size (a tracker's box then drifts).

    source scripts/env.sh && python -m research.scale_response [--checkpoint PATH]
        [--data ../shared/data | --train-data ../shared/train_data
         [--stills [--sources A,B] [--bin-by aspect]]]
        [--sequences A,B]
        [--factors 0.67,1,1.5 | --label-scales 0.7x1,1x1,1.4x1.4 [--label-frames N]]
        [--per-sequence 40]
        [--out FILE.json]
"""
import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see test/conftest.py
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from .probe_cli import add_model_args, emit, load_net  # noqa: E402
from .scale_probe import probe_sequences, probe_stills  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_sequences(args):
    """[(name, frame paths, (N,4) 0-based xywh)]: an evaluation set or the training videos."""
    if args.train_data:
        from stmtrack_ros.train.training_set import Video, build_training_set
        ts = build_training_set({"layout": "train_data_sequences", "root": args.train_data})
        seqs = [(v.name, list(v.frames), np.asarray(v.boxes, float)) for v in ts.items
                if isinstance(v, Video)]
    else:
        from stmtrack_ros.datasets import load_dataset
        seqs = [(s.name, list(s.frames), s.gt) for s in load_dataset(args.data)]
    if args.sequences:
        keep = set(args.sequences.split(","))
        seqs = [s for s in seqs if s[0] in keep or s[0].split("/")[-1] in keep]
    return seqs


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(ap)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--data", default=str(REPO.parent / "shared" / "data"),
                     help="evaluation dataset folder (any stmtrack eval layout)")
    src.add_argument("--train-data", default=None, help="shared/train_data: its videos instead")
    ap.add_argument("--stills", action="store_true",
                    help="with --train-data: probe its still images (binned small/large) instead")
    ap.add_argument("--sources", default="", help="with --stills: comma-separated image sources")
    ap.add_argument("--bin-by", choices=("area", "aspect"), default="area",
                    help="with --stills: bin the boxes by area (small/large) or by aspect "
                         "(thin/square/wide)")
    ap.add_argument("--sequences", default="", help="comma-separated subset")
    ap.add_argument("--factors", default="0.67,1,1.5")
    ap.add_argument("--label-scales", default="",
                    help="videos only: comma-separated SWxSH (e.g. 0.7x1,1.4x1.4); frame t-1's "
                         "label map drawn at SW x its width, SH x its height, query at factor 1: "
                         "how much of a memory label's size error the model copies")
    ap.add_argument("--label-frames", type=int, default=1,
                    help="with --label-scales: this many mis-sized memory frames (t-1, t-4, ...), "
                         "one error shared, as a drifting tracker's memory has")
    ap.add_argument("--per-sequence", type=int, default=40,
                    help="query frames per sequence (--stills: boxes per size bin)")
    args = ap.parse_args(argv)
    scales = _label_scales(ap, args.label_scales)
    if args.label_frames < 1:
        ap.error(f"--label-frames must be >= 1, got {args.label_frames}")
    ckpt, net, saf = load_net(args)
    factors = [float(f) for f in args.factors.split(",")]
    if args.stills:
        if not args.train_data:
            ap.error("--stills needs --train-data")
        from stmtrack_ros.train.training_set import load_manifest_images
        items = load_manifest_images(args.train_data, args.sources.split(",") if args.sources else None)
        res = probe_stills(net, [(it.image, it.boxes) for it in items], factors, args.per_sequence,
                           saf, by=args.bin_by)
        return _report(args, ckpt, res)
    seqs = load_sequences(args)
    if not seqs:
        raise SystemExit("scale_response: no sequences found (check --data/--train-data/--sequences)")
    if scales:
        res = {k: probe_sequences(net, seqs, [1.0], args.per_sequence, saf, v,
                                  args.label_frames)["factors"]["1.0"]
               for k, v in scales.items()}
        return _report(args, ckpt, {"label_frames": args.label_frames, "label_scales": res})
    return _report(args, ckpt, probe_sequences(net, seqs, factors, args.per_sequence, saf))


def _label_scales(ap, spec: str) -> dict:
    """'0.7x1,1.4x1.4' -> {'0.7x1': (0.7, 1.0), ...}, checked before any model or frame loads."""
    out = {}
    for k in filter(None, spec.split(",")):
        try:
            sw, sh = (float(v) for v in k.split("x"))
        except ValueError:
            ap.error(f"--label-scales: {k!r} is not SWxSH (e.g. 0.7x1)")
        if sw <= 0 or sh <= 0:
            ap.error(f"--label-scales: {k!r} needs positive scales")
        out[k] = (sw, sh)
    return out


def _report(args, ckpt, res) -> dict:
    source = args.train_data or args.data
    if args.stills:
        source += f" (stills{': ' + args.sources if args.sources else ''}, by {args.bin_by})"
    return emit(args, ckpt, source, res)


if __name__ == "__main__":
    main()
