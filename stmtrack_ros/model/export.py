"""ONNX export of the network's four inference passes, the files `stmtrack export` writes and
the onnxruntime / TensorRT backends run.

One file per pass, so a runtime calls them as the tracker does (the memory pass runs off the
latency path, the memory read takes however many frames the memory selection gives):

* `memorize.onnx`: images (1,3,S,S), label_maps (1,1,S,S) [, keys (1,C,s,s) with
  siamese_keys] -> memory (1,M,1,s,s). A Siamese-key model's keys are the query features of
  the same crop: a caller without them runs `query_features` first (the same numbers).
* `query_features.onnx`: query (1,3,S,S) -> features (1,C,s,s).
* `read_memory.onnx`: features (1,C,s,s), memory (1,M,T,s,s), T dynamic -> score (1,P,1),
  boxes (1,P,4) xyxy crop px, cls_prob (1,P,1), ctr_prob (1,P,1).
* `first_frame_score.onnx`: features (1,C,H,W), H and W dynamic (the whole grid or the window
  of one cell, `head.cell_window`), memory0 (1,M,1,s,s) -> score (1,H·W,1).

Inputs as `STMTrackNet`: float32 BGR 0..255 crops, 0/1 maps. `manifest.json` beside them
(written last, so a folder with one is complete) names the shapes, the T range the TensorRT
profile should cover, the opset, the torch and onnx versions and the weights' hashes.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint import file_sha256
from .portable import state_dict_sha256

MANIFEST_NAME = "manifest.json"
FORMAT = "stmtrack_onnx"
FORMAT_VERSION = 2   # 2: the memory read drops subnormal softmax weights (head.READ_LOGIT_RANGE)
DEFAULT_OPSET = 17
#: Memory frames a read takes: the tracker's selection gives 1 .. num_segments + 2 (6 with the
#: official presets). ONNX Runtime takes any T; a TensorRT profile needs a range, this one.
T_MIN, T_OPT, T_MAX = 1, 6, 8


class ExportError(ValueError):
    """An ONNX folder that cannot be used or written; the message is one line and says what
    to do."""


@dataclass(frozen=True)
class PassSpec:
    """One exported pass: its file, its inputs (name, shape; a string is a dynamic axis) and
    its output names."""
    name: str
    inputs: tuple
    outputs: tuple

    @property
    def file(self) -> str:
        return f"{self.name}.onnx"


def pass_specs(config) -> dict:
    """The four passes of a network with this ModelConfig, by name."""
    big, g, c, m = config.q_size, config.score_size, config.neck_channels, config.memory_channels
    keys = (("keys", (1, c, g, g)),) if config.siamese_keys else ()
    specs = [
        PassSpec("memorize", (("images", (1, 3, big, big)), ("label_maps", (1, 1, big, big))) + keys,
                 ("memory",)),
        PassSpec("query_features", (("query", (1, 3, big, big)),), ("features",)),
        PassSpec("read_memory", (("features", (1, c, g, g)), ("memory", (1, m, "T", g, g))),
                 ("score", "boxes", "cls_prob", "ctr_prob")),
        PassSpec("first_frame_score", (("features", (1, c, "H", "W")), ("memory0", (1, m, 1, g, g))),
                 ("score",)),
    ]
    return {s.name: s for s in specs}


class _Pass(nn.Module):
    """One bound method of the network as a module (the network a submodule, so its weights
    become the graph's initializers)."""

    def __init__(self, net: nn.Module, method):
        super().__init__()
        self.net = net
        self.method = method

    def forward(self, *args):
        return self.method(*args)


def weights_sha256(net) -> str:
    """SHA-256 of a network's model config and state_dict: what an exported folder was made
    from (the cache key; independent of the checkpoint file's layout)."""
    h = hashlib.sha256(json.dumps(net.config.to_dict(), sort_keys=True).encode())
    h.update(state_dict_sha256(net.state_dict()).encode())
    return h.hexdigest()


def _example(shape, t: int, hw: int, gen: torch.Generator) -> torch.Tensor:
    dims = [t if d == "T" else hw if d in ("H", "W") else d for d in shape]
    return torch.rand(dims, generator=gen) * 255.0


def _dynamic_axes(spec: PassSpec) -> dict:
    axes = {}
    for name, shape in spec.inputs:
        named = {i: d for i, d in enumerate(shape) if isinstance(d, str)}
        if named:
            axes[name] = named
    if spec.name == "first_frame_score":
        axes["score"] = {1: "HW"}
    return axes


def _shape_entry(name, shape) -> dict:
    return {"name": name, "shape": list(shape), "dtype": "float32"}


def export_onnx(net, out_dir, opset: int = DEFAULT_OPSET, checkpoint=None) -> dict:
    """Write the four passes of `net` (an STMTrackNet; left in the mode it was in) and the
    manifest into `out_dir`; returns the manifest. `checkpoint`: the file `net` was loaded
    from, recorded with its sha256."""
    import onnx
    if opset < 17:
        raise ExportError(f"opset {opset} is below 17, the oldest this export supports")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_NAME).unlink(missing_ok=True)   # incomplete until the new one is written
    cfg = net.config
    specs = pass_specs(cfg)
    methods = {"memorize": net.memorize, "query_features": net.query_features,
               "read_memory": net.read_memory, "first_frame_score": net.first_frame_score}
    gen = torch.Generator().manual_seed(0)
    # T = 2 at trace time: reg_first_frame's separate frame-0 read is traced only for T > 1,
    # and it gives the one-read numbers at T = 1 too (head.STMHead.forward)
    trace_t, trace_hw = 2, cfg.score_size
    was_training = net.training
    passes = {}
    try:
        net.eval()
        for spec in specs.values():
            module = _Pass(net, methods[spec.name]).eval()
            args = tuple(_example(shape, trace_t, trace_hw, gen) for _, shape in spec.inputs)
            if spec.name == "memorize":
                args = (args[0], (args[1] > 127.5).float()) + args[2:]
            with torch.no_grad():
                got = module(*args)
            got = got if isinstance(got, tuple) else (got,)
            path = out / spec.file
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # tracer warnings on the shape checks
                torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset,
                                  input_names=[n for n, _ in spec.inputs],
                                  output_names=list(spec.outputs),
                                  dynamic_axes=_dynamic_axes(spec), do_constant_folding=True)
            onnx.checker.check_model(str(path))
            axes = _dynamic_axes(spec)
            passes[spec.name] = {
                "file": spec.file, "sha256": file_sha256(path),
                "inputs": [_shape_entry(n, s) for n, s in spec.inputs],
                "outputs": [_shape_entry(n, [axes.get(n, {}).get(i, d) for i, d in enumerate(t.shape)])
                            for n, t in zip(spec.outputs, got, strict=True)]}
    finally:
        net.train(was_training)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "opset": opset,
        "torch": torch.__version__, "onnx": onnx.__version__,
        "checkpoint": (None if checkpoint is None else
                       {"path": str(checkpoint), "sha256": file_sha256(checkpoint)}),
        "weights_sha256": weights_sha256(net), "model_config": cfg.to_dict(),
        "memory_frames": {"min": T_MIN, "opt": T_OPT, "max": T_MAX},
        "passes": passes}
    tmp = out / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out / MANIFEST_NAME)
    return manifest


def read_manifest(onnx_dir, net=None) -> dict:
    """The manifest of an exported folder, checked for completeness and (with `net`) for
    having been exported from these weights."""
    d = Path(onnx_dir)
    path = d / MANIFEST_NAME
    if not path.is_file():
        raise ExportError(f"{d} holds no {MANIFEST_NAME}: export the model there first "
                          f"(stmtrack export --checkpoint CK --out {d})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"{path} is unreadable ({type(e).__name__}); export again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or manifest.get("format_version") != FORMAT_VERSION:
        raise ExportError(f"{path} is not a {FORMAT} v{FORMAT_VERSION} manifest; export again "
                          "with this version (stmtrack export)")
    try:
        files = [(p["file"], p["sha256"]) for p in manifest["passes"].values()]
    except (KeyError, TypeError, AttributeError):
        raise ExportError(f"{path} lacks its passes' files; export again (stmtrack export)") from None
    missing = [f for f, _ in files if not (d / f).is_file()]
    if missing:
        raise ExportError(f"{d} lacks {', '.join(missing)}; export again (stmtrack export)")
    # a truncated or overwritten file (a full disk, an interrupted copy) fails here, not in a
    # session; hashing the bundled model's four files takes a few ms
    corrupt = [f for f, sha in files if file_sha256(d / f) != sha]
    if corrupt:
        raise ExportError(f"{d}: {', '.join(corrupt)} differ from the manifest's sha256 (corrupt); "
                          "export again (stmtrack export)")
    if net is not None and manifest.get("weights_sha256") != weights_sha256(net):
        raise ExportError(f"{d} was exported from other weights than this model's; export this "
                          f"checkpoint (stmtrack export --checkpoint CK --out DIR) or clear onnx_dir")
    return manifest


def cache_root() -> Path:
    """Where exports made on the fly are kept: $XDG_CACHE_HOME (else ~/.cache)/stmtrack_ros/onnx."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stmtrack_ros" / "onnx"


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on `path` (created) while the block runs: one process exports a
    cache folder, the others wait for it and then use its export."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_exported(net, onnx_dir: str = "") -> Path:
    """The exported folder for `net`: `onnx_dir` when given (checked against the weights),
    else the cache folder keyed by the weights' sha256, exported there first if absent,
    incomplete or corrupt. The export is written beside it and renamed into place under a
    lock file, so processes starting together export once and never see half a folder (what a
    killed export left is removed at the next export); a cache that cannot be written is an
    ExportError (one line), as is a failed export."""
    if onnx_dir:
        read_manifest(onnx_dir, net)
        return Path(onnx_dir)
    key = weights_sha256(net)
    final = cache_root() / key[:32]
    try:
        return _checked(final, net)
    except ExportError:
        pass
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with _locked(final.parent / f".{key[:32]}.lock"):
            try:                    # another process exported it while this one waited
                return _checked(final, net)
            except ExportError:
                pass
            # under the lock no other process writes this key: a folder of its prefix is what
            # an export killed mid-way left behind
            for stale in final.parent.glob(f".{key[:12]}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=final.parent))
            try:
                _export_into(net, tmp)
                if final.exists():  # a stale, half-written or corrupt folder
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        raise ExportError(f"cannot write the ONNX export cache {final.parent} "
                          f"({e.strerror or type(e).__name__}); set XDG_CACHE_HOME to a writable "
                          "folder, or export once (stmtrack export) and set onnx_dir") from None
    return _checked(final, net)


def _checked(folder: Path, net) -> Path:
    read_manifest(folder, net)
    return folder


def _export_into(net, folder: Path) -> None:
    """export_onnx, any failure of the exporter (no onnx package, an op it cannot trace) as one
    ExportError line."""
    try:
        export_onnx(net, folder)
    except (ExportError, OSError):
        raise
    except Exception as e:  # noqa: BLE001 - torch.onnx and onnx raise many kinds
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise ExportError(f"the ONNX export of this model failed ({type(e).__name__}: {first})") \
            from None


def engine_file(pass_name: str) -> str:
    """The TensorRT engine of a pass, beside its ONNX file (what backend `tensorrt` loads)."""
    return f"{pass_name}.engine"


def _dims(shape, t: int, hw: int) -> str:
    """A manifest shape with its dynamic axes set, as trtexec writes shapes (1x3x289x289)."""
    return "x".join(str(t if v == "T" else hw if v in ("H", "W") else v) for v in shape)


def trtexec_commands(manifest: dict, onnx_dir, fp16: bool = True) -> list:
    """trtexec command lines that build one engine per pass in `onnx_dir`, with optimisation
    profiles over the dynamic axes: T over the manifest's memory_frames range, and H = W from
    one cell's window (2·head_convs + 1) to the whole grid."""
    d = Path(onnx_dir)
    cfg = manifest["model_config"]
    t = manifest["memory_frames"]
    window = 2 * cfg["head_convs"] + 1
    grid = cfg["score_size"]
    cmds = []
    for name, p in manifest["passes"].items():
        profile = {inp["name"]: (_dims(inp["shape"], t["min"], window), _dims(inp["shape"], t["opt"], window),
                                 _dims(inp["shape"], t["max"], grid))
                   for inp in p["inputs"] if any(isinstance(v, str) for v in inp["shape"])}
        line = [f"trtexec --onnx={d / p['file']} --saveEngine={d / engine_file(name)}"]
        if fp16:
            line.append("--fp16")
        for key, i in (("minShapes", 0), ("optShapes", 1), ("maxShapes", 2)):
            if profile:
                line.append(f"--{key}=" + ",".join(f"{n}:{v[i]}" for n, v in profile.items()))
        cmds.append(" ".join(line))
    return cmds
