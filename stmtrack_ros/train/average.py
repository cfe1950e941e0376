"""`stmtrack average A.pt B.pt ... --out OUT.pt`: the element-wise mean of checkpoints.

Why: runs fine-tuned from one checkpoint stay in one basin of the loss, and the mean of their
weights (a "model soup", Wortsman et al. 2022) often tracks better than either of them; the
bundled stage 2p is the mean of stages 2l and 2n (MODEL_CARD). Every floating tensor, the
BatchNorm running statistics included, is averaged; integer buffers (BatchNorm's batch
counters) are taken from the first file. The files must share one model config.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def average_checkpoints(paths, weights=None):
    """An STMTrackNet holding the weighted mean of the checkpoints' weights (weights default to
    equal; they are normalised to sum 1)."""
    from ..model.checkpoint import CheckpointError, load_checkpoint

    if len(paths) < 2:
        raise CheckpointError("average needs at least two checkpoints")
    weights = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or min(weights) < 0 or sum(weights) <= 0:
        raise CheckpointError(f"--weights needs {len(paths)} numbers >= 0 with a positive sum, "
                              f"got {weights}")
    total = sum(weights)
    nets = [load_checkpoint(p) for p in paths]
    for p, net in zip(paths[1:], nets[1:]):
        if net.config != nets[0].config:
            raise CheckpointError(f"{p} has another model config than {paths[0]}; only "
                                  "checkpoints of one architecture can be averaged")
    states = [net.state_dict() for net in nets]
    mean = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            mean[name] = sum(s[name].double() * (w / total)
                             for s, w in zip(states, weights)).to(first.dtype)
        else:
            mean[name] = first
    nets[0].load_state_dict(mean)
    return nets[0].eval()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoints to average (2 or more)")
    parser.add_argument("--weights", type=float, nargs="+", default=None,
                        help="one weight per checkpoint (default: equal)")
    parser.add_argument("--out", required=True, help="output .pt (weights and model config only)")


def run(args) -> int:
    from ..model.checkpoint import CheckpointError, save_checkpoint
    try:
        net = average_checkpoints(args.checkpoints, args.weights)
    except CheckpointError as e:
        print(f"stmtrack average: {e}", file=sys.stderr)
        return 2
    extra = {"averaged_from": [str(Path(p)) for p in args.checkpoints],
             "average_weights": args.weights or [1.0] * len(args.checkpoints)}
    path = save_checkpoint(args.out, net, extra=extra)
    print(f"average: wrote {path}", flush=True)
    return 0
