"""The `stmtrack` command. Each sub-command lives with the code it drives and is imported
only when used, so `stmtrack --help` stays fast and never imports ROS or torch."""
import argparse
import importlib
import sys

# sub-command -> (module with add_arguments(parser) and run(args) -> int, one-line help)
SUBCOMMANDS = {
    "track": ("stmtrack_ros.tracker.track_cli", "run the tracker over a video or an image folder"),
    "eval": ("stmtrack_ros.eval.eval_cli", "evaluate trackers on benchmark sequences"),
    "train": ("stmtrack_ros.train.train_cli", "train an STMTrack model (one CPU or torchrun/DDP)"),
    "pseudo-tracks": ("stmtrack_ros.train.pseudo_tracks",
                      "label random targets in videos with a teacher tracker (training material)"),
    "average": ("stmtrack_ros.train.average", "average the weights of checkpoints of one model (a soup)"),
    "export": ("stmtrack_ros.model.export_cli",
               "write ONNX files of a checkpoint's passes (for onnxruntime / TensorRT)"),
    "bag-track": ("stmtrack_ros.tools.bags",
                  "run the tracker over a recorded camera bag, write Track messages"),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="stmtrack", description=__doc__.split(".")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        args = parser.parse_args(argv[:1])  # prints usage / the error for an unknown command
        parser.print_help()
        return 2
    module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
    cmd_parser = argparse.ArgumentParser(prog=f"stmtrack {argv[0]}",
                                         description=SUBCOMMANDS[argv[0]][1])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
