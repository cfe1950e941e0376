"""What the probe scripts (*_response.py) share: the checkpoint, preset, threads, training-data
and output arguments, loading the model, and printing / writing the JSON."""
import json
from pathlib import Path

import torch

from stmtrack_ros.model import default_checkpoint_path, load_checkpoint
from stmtrack_ros.tracker.params import HP_PRESETS


def add_model_args(ap) -> None:
    ap.add_argument("--checkpoint", default=None, help="default: the bundled small model")
    ap.add_argument("--hp", default="got10k", help="preset giving the search area factor")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the JSON here")


#: the train_data folder beside the repository (the project's shared/ layout)
DEFAULT_TRAIN_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "train_data")


def add_train_data_args(ap, what: str, sources: str, pairs: int) -> None:
    """--train-data, --sources (comma-separated, "" = all) and --pairs."""
    ap.add_argument("--train-data", default=DEFAULT_TRAIN_DATA, help=f"a train_data folder: {what}")
    ap.add_argument("--sources", default=sources, help="comma-separated sources (empty: all)")
    ap.add_argument("--pairs", type=int, default=pairs)


def sources_of(args) -> list | None:
    return args.sources.split(",") if args.sources else None


def load_net(args):
    """(checkpoint path, eval-mode network, search area factor of --hp)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = args.checkpoint or str(default_checkpoint_path())
    return ckpt, load_checkpoint(ckpt).eval(), HP_PRESETS[args.hp].search_area_factor


def emit(args, ckpt: str, source: str, res: dict) -> dict:
    result = {"checkpoint": ckpt, "source": source, "hp": args.hp, **res}
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return result
