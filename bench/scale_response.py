"""Scale response of a checkpoint (stmtrack_ros/eval/scale_probe.py), printed as JSON: does the
model read the target's size from the image, or repeat a size it has learnt? `size_ratio` near
1 at every factor = reads it; near the factor = a learnt size (a tracker's box then drifts).

    source scripts/env.sh && python bench/scale_response.py [--checkpoint PATH]
        [--data ../shared/data | --train-data ../shared/train_data [--stills [--sources A,B]]]
        [--sequences A,B]
        [--factors 0.67,1,1.5] [--per-sequence 40] [--out FILE.json]
"""
import argparse
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stmtrack_ros.eval.scale_probe import probe_sequences, probe_stills  # noqa: E402
from stmtrack_ros.model import default_checkpoint_path, load_checkpoint  # noqa: E402
from stmtrack_ros.tracker.params import HP_PRESETS  # noqa: E402


def load_sequences(args):
    """[(name, frame paths, (N,4) 0-based xywh)]: an evaluation set or the training videos."""
    if args.train_data:
        from stmtrack_ros.train.datasets import Video, build_training_set
        ts = build_training_set({"layout": "train_data_sequences", "root": args.train_data})
        seqs = [(v.name, list(v.frames), np.asarray(v.boxes, float)) for v in ts.items
                if isinstance(v, Video)]
    else:
        from stmtrack_ros.eval.datasets import load_dataset
        seqs = [(s.name, list(s.frames), s.gt) for s in load_dataset(args.data)]
    if args.sequences:
        keep = set(args.sequences.split(","))
        seqs = [s for s in seqs if s[0] in keep or s[0].split("/")[-1] in keep]
    return seqs


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="default: the bundled small model")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--data", default=str(REPO.parent / "shared" / "data"),
                     help="evaluation dataset folder (any stmtrack eval layout)")
    src.add_argument("--train-data", default=None, help="shared/train_data: its videos instead")
    ap.add_argument("--stills", action="store_true",
                    help="with --train-data: probe its still images (binned small/large) instead")
    ap.add_argument("--sources", default="", help="with --stills: comma-separated image sources")
    ap.add_argument("--sequences", default="", help="comma-separated subset")
    ap.add_argument("--factors", default="0.67,1,1.5")
    ap.add_argument("--per-sequence", type=int, default=40,
                    help="query frames per sequence (--stills: boxes per size bin)")
    ap.add_argument("--hp", default="got10k", help="preset giving the search area factor")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = args.checkpoint or str(default_checkpoint_path())
    net = load_checkpoint(ckpt).eval()
    factors = [float(f) for f in args.factors.split(",")]
    saf = HP_PRESETS[args.hp].search_area_factor
    if args.stills:
        if not args.train_data:
            ap.error("--stills needs --train-data")
        from stmtrack_ros.train.datasets import load_manifest_images
        items = load_manifest_images(args.train_data, args.sources.split(",") if args.sources else None)
        res = probe_stills(net, [(it.image, it.boxes) for it in items], factors, args.per_sequence, saf)
        return _report(args, ckpt, res)
    seqs = load_sequences(args)
    if not seqs:
        raise SystemExit("scale_response: no sequences found (check --data/--train-data/--sequences)")
    return _report(args, ckpt, probe_sequences(net, seqs, factors, args.per_sequence, saf))


def _report(args, ckpt, res) -> dict:
    source = args.train_data or args.data
    if args.stills:
        source += f" (stills{': ' + args.sources if args.sources else ''})"
    result = {"checkpoint": ckpt, "source": source, "hp": args.hp, **res}
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
