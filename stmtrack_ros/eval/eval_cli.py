"""`stmtrack eval`: run trackers over benchmark sequences, then score them.

Results already in --out are reused (the run is resumable); the report covers every tracker
folder in --out, so separate runs (e.g. --mode exact, then --mode bounded) share one table.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import datasets
from ..tracker.params import SETTINGS, option_help
from . import peers, report, runner


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, help="dataset folder (e.g. ../shared/data)")
    p.add_argument("--format", default="auto", choices=("auto",) + datasets.FORMATS,
                   help="dataset layout (default: detect)")
    p.add_argument("--trackers", default=runner.STMTRACK,
                   help=f"comma-separated, from: {', '.join(runner.TRACKER_KINDS)}")
    p.add_argument("--checkpoint", help="stmtrack checkpoint (default: the bundled small model)")
    # stmtrack's; hp, device and backend are checked by TrackerParams (one line naming the value)
    p.add_argument("--mode", choices=SETTINGS["mode"].choices, help="(stmtrack) " + option_help("mode"))
    for name in ("hp", "device", "backend"):
        p.add_argument(f"--{name}", help="(stmtrack) " + option_help(name))
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="another stmtrack TrackerParams field, e.g. memory_threshold=0.5 (repeatable; "
                   "thresholds must fit the checkpoint's confidence scale)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--sequences", help="comma-separated subset of sequence names")
    p.add_argument("--max-frames", type=int, help="use only the first N frames of each sequence (N >= 2)")
    p.add_argument("--count-init-frame", action="store_true",
                   help="score frame 1 too (OTB toolkit); default scores frames 2..N (GOT-10k)")
    p.add_argument("--nanotrack-dir", help=f"NanoTrack v2 ONNX folder (default {peers.NANOTRACK_DIR})")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="results folder")


def _fail(msg: str) -> int:
    print(f"stmtrack eval: error: {msg}", file=sys.stderr)
    return 2


def _stmtrack_spec(args) -> runner.TrackerSpec:
    try:
        from stmtrack_ros.tracker import TrackerParams
    except ImportError as e:
        raise RuntimeError(f"the stmtrack tracker is not importable ({e})") from None
    ckpt = args.checkpoint
    if not ckpt:
        from stmtrack_ros.model import default_checkpoint_path
        ckpt = str(default_checkpoint_path())
    if not Path(ckpt).is_file():
        raise RuntimeError(f"checkpoint not found: {ckpt} (pass --checkpoint PATH)")
    defaults = TrackerParams()
    extra = _parse_params(args.param, TrackerParams)
    if args.backend:
        extra["backend"] = args.backend
    try:
        params = TrackerParams(mode=args.mode or defaults.mode, hp=args.hp or defaults.hp,
                               device=args.device or defaults.device, **extra)
    except TypeError as e:  # a value of the wrong kind for a field
        raise RuntimeError(f"--param: {e}") from None
    why = params.validate()
    if why:
        raise RuntimeError("; ".join(why))
    return runner.TrackerSpec(runner.STMTRACK, checkpoint=str(Path(ckpt).resolve()),
                              mode=params.mode, hp=params.hp, device=params.device,
                              params=tuple(sorted(extra.items())))


def _parse_params(items, params_cls) -> dict:
    """["name=value", ...] -> {name: value} (YAML scalars: 0.5, 3, true); names are the
    TrackerParams fields that have no flag of their own."""
    import dataclasses

    import yaml

    own = {"mode", "hp", "device"}
    known = sorted(f.name for f in dataclasses.fields(params_cls) if f.name not in own)
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise RuntimeError(f"--param {item!r}: expected NAME=VALUE with NAME one of "
                               f"{', '.join(known)} (mode, hp and device have their own flags)")
        out[name] = yaml.safe_load(value)
    return out


def build_specs(args) -> list:
    names = [t.strip() for t in args.trackers.split(",") if t.strip()]
    unknown = [n for n in names if n not in runner.TRACKER_KINDS]
    if unknown or not names:
        raise ValueError(f"unknown tracker(s) {', '.join(unknown) or '(none)'}; "
                         f"choose from {', '.join(runner.TRACKER_KINDS)}")
    specs = []
    for name in dict.fromkeys(names):
        if name == runner.STMTRACK:
            specs.append(_stmtrack_spec(args))
            continue
        try:
            peers.make_peer(name, args.nanotrack_dir)  # cheap: nothing runs before init()
        except peers.PeerUnavailable as e:
            print(f"stmtrack eval: {e}", file=sys.stderr)
            continue
        specs.append(runner.TrackerSpec(name, nanotrack_dir=args.nanotrack_dir))
    return specs


def run(args) -> int:
    if args.max_frames is not None and args.max_frames < 2:
        return _fail("--max-frames must be at least 2 (frame 1 initialises the tracker)")
    if args.workers < 1:
        return _fail("--workers must be at least 1")
    names = [s.strip() for s in args.sequences.split(",") if s.strip()] if args.sequences else None
    try:
        seqs = datasets.load_dataset(args.data, args.format, names)
    except datasets.DatasetError as e:
        return _fail(str(e))
    seqs = [s.truncated(args.max_frames) for s in seqs]
    out = Path(args.out)
    errors = {}
    if not args.report_only:
        try:
            specs = build_specs(args)
        except (ValueError, RuntimeError) as e:
            return _fail(str(e))
        if not specs:
            return _fail("no tracker can run (see messages above)")
        try:
            errors = runner.run_all(specs, seqs, out, args.workers, progress=not args.no_progress)
        except RuntimeError as e:
            return _fail(str(e))
    labels = sorted(d.name for d in out.iterdir() if (d / "run.json").is_file()) if out.is_dir() else []
    if not labels:
        return _fail(f"no results in {out}")
    meta = {"data": str(Path(args.data).resolve()), "format": seqs[0].dataset,
            "sequences": [s.name for s in seqs], "max_frames": args.max_frames}
    summary = report.summarize(out, labels, seqs, args.count_init_frame, meta)
    paths = report.write_report(summary, out)
    print(report.markdown(summary))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    for label, failed in errors.items():
        for name, msg in failed.items():
            print(f"FAILED {label}/{name}: {msg}", file=sys.stderr)
    return 1 if errors else 0
