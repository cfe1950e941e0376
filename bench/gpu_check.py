"""One check of the GPU paths, printed as ONE JSON object (bench/gpu_check.sh runs it):

* outputs: CUDA against CPU, both models (official network with the portable seed-1 weights,
  bundled small model), on the parity fixture's real crops: the four passes in fp32 (goal
  <= 1e-4 relative) and the boxes under fp16 / bf16 autocast (deltas in crop px);
* speed: tracker updates per second on the bundled clip, bounded mode, both models, torch
  fp32 / fp16 / bf16, and ONNX Runtime's CUDA provider when onnxruntime-gpu is installed;
* the live node with device cuda for 300 frames at 30 Hz (bench/bench_node.py): output rate,
  frames skipped, latency, and the GPU memory the node held (nvidia-smi).

On a machine without CUDA it prints {"skipped": true, "reason": ...} and exits 0. Budget: under
5 minutes on a GPU machine (most of it the CPU reference of the official network).

    source scripts/env.sh && bash bench/gpu_check.sh
"""
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stmtrack_ros.model import STMTrackNet, default_checkpoint_path, load_checkpoint  # noqa: E402
from stmtrack_ros.model.portable import portable_state_dict  # noqa: E402
from stmtrack_ros.tracker import Tracker, TrackerParams  # noqa: E402

FIXTURE = REPO / "test" / "data" / "parity" / "forward_seed1_Crossing.npz"
DEMO = REPO / "stmtrack_ros" / "data" / "demo"
PRECISIONS = {"fp32": {}, "fp16": {"fp16": True}, "bf16": {"bf16": True}}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float().cpu(), b.float().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def output_check(net, crops) -> dict:
    """Passes on CPU and CUDA (fp32), then the CUDA boxes under autocast fp16 / bf16."""
    im_m, fg_m, im_q = (torch.from_numpy(crops[k].astype(np.float32))
                        for k in ("in_im_m", "in_fg_m", "in_im_q"))
    out = {}
    results = {}
    for dev in ("cpu", "cuda"):
        n = net.to(dev)
        with torch.inference_mode():
            mem = torch.cat([n.memorize(im_m[t:t + 1].to(dev), fg_m[t:t + 1].to(dev))
                             for t in range(6)], dim=2)
            fq = n.query_features(im_q.to(dev))
            results[dev] = (mem, fq, n.read_memory(fq, mem))
    (mem_c, fq_c, read_c), (mem_g, fq_g, read_g) = results["cpu"], results["cuda"]
    fp32 = {"memorize": _rel(mem_g, mem_c), "query_features": _rel(fq_g, fq_c),
            **{name: _rel(g, c) for name, g, c in zip(("score", "boxes", "cls_prob", "ctr_prob"),
                                                       read_g, read_c)}}
    out["fp32_rel_err_cuda_vs_cpu"] = {k: float(f"{v:.3g}") for k, v in fp32.items()}
    out["fp32_goal_met (<= 1e-4)"] = max(fp32.values()) <= 1e-4
    best = int(read_c[0][0, :, 0].argmax())
    for name in ("fp16", "bf16"):
        dt = torch.float16 if name == "fp16" else torch.bfloat16
        with torch.inference_mode(), torch.autocast("cuda", dtype=dt):
            n = net.to("cuda")
            mem = torch.cat([n.memorize(im_m[t:t + 1].cuda(), fg_m[t:t + 1].cuda())
                             for t in range(6)], dim=2)
            score, boxes, _, _ = n.read_memory(n.query_features(im_q.cuda()), mem)
        boxes, score = boxes.float().cpu(), score.float().cpu()
        out[f"{name}_vs_fp32_cpu"] = {
            "box_at_best_cell_max_delta_px": round(
                float((boxes[0, best] - read_c[1][0, best]).abs().max()), 4),
            "boxes_max_delta_px": round(float((boxes - read_c[1]).abs().max()), 4),
            "score_max_delta": round(float((score - read_c[0]).abs().max()), 5),
            "same_best_cell": int(score[0, :, 0].argmax()) == best}
    net.to("cpu")
    return out


def clip_frames(n: int):
    info = json.loads((DEMO / "clip.json").read_text())
    cap = cv2.VideoCapture(str(DEMO / info["file"]))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    return frames, tuple(info["init_box_xywh"])


def speed(net, frames, box, **params) -> dict:
    """Bounded-mode updates per second on the clip (after 6 warm-up updates) and the boxes."""
    try:
        tr = Tracker(net, TrackerParams(device="cuda", **params))
    except Exception as e:  # noqa: BLE001 - one backend that cannot start is one row of the report
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    tr.init(frames[0], box)
    boxes = [box]
    times = []
    for k, frame in enumerate(frames[1:], 1):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        boxes.append(tr.update(frame).box)
        torch.cuda.synchronize()
        if k > 6:
            times.append(time.perf_counter() - t0)
    return {"fps": round(len(times) / sum(times), 1),
            "update_median_ms": round(1e3 * float(np.median(times)), 2), "boxes": np.array(boxes)}


def speeds(net, frames, box) -> dict:
    rows = {name: speed(net, frames, box, mode="bounded", **p) for name, p in PRECISIONS.items()}
    try:
        import onnxruntime as ort
        if "CUDAExecutionProvider" in ort.get_available_providers():
            rows["onnxruntime_cuda_fp32"] = speed(net, frames, box, mode="bounded", backend="onnxruntime")
        else:
            rows["onnxruntime_cuda_fp32"] = {"skipped": "onnxruntime has no CUDA provider (onnxruntime-gpu)"}
    except ImportError:
        rows["onnxruntime_cuda_fp32"] = {"skipped": "onnxruntime is not installed"}
    ref = rows["fp32"].get("boxes")
    for r in rows.values():
        b = r.pop("boxes", None)
        if b is not None and ref is not None:
            r["clip_box_max_delta_px_vs_fp32"] = round(float(np.abs(b - ref).max()), 4)
    return rows


def node_check(seconds: float = 10.0, fps: float = 30.0) -> dict:
    """bench_node.py with device cuda; the node's GPU memory sampled with nvidia-smi meanwhile."""
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            try:
                q = subprocess.run(["nvidia-smi", "--query-compute-apps=used_memory",
                                    "--format=csv,noheader,nounits"],
                                   capture_output=True, text=True, timeout=5).stdout
                peak[0] = max([peak[0]] + [int(v) for v in q.split() if v.isdigit()])
            except (OSError, subprocess.SubprocessError):
                return
            stop.wait(0.5)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        run = subprocess.run([sys.executable, str(REPO / "bench" / "bench_node.py"), "--seconds",
                              str(seconds), "--fps", str(fps), "--param", "device=cuda"],
                             capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return {"error": "bench_node.py did not finish in 180 s"}
    finally:
        stop.set()
        th.join(2)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    if run.returncode != 0 or not lines:
        return {"error": f"bench_node.py exit {run.returncode}: {(run.stderr or run.stdout)[-300:]}"}
    out = json.loads(lines[-1])
    out["gpu_memory_peak_mib"] = peak[0] or None
    return out


def main() -> int:
    if not torch.cuda.is_available():
        print(json.dumps({"check": "gpu", "skipped": True,
                          "reason": f"no CUDA device: torch {torch.__version__} "
                                    f"(built for CUDA {torch.version.cuda}) sees none"}))
        return 0
    t0 = time.perf_counter()
    crops = dict(np.load(FIXTURE))
    official = STMTrackNet()
    official.load_state_dict(portable_state_dict(1, include_unused=False))
    official.eval()
    small = load_checkpoint(default_checkpoint_path())
    frames, box = clip_frames(60)
    out = {"check": "gpu", "skipped": False, "device": torch.cuda.get_device_name(0),
           "torch": torch.__version__, "cuda": torch.version.cuda,
           "outputs": {"official": output_check(official, crops), "small": output_check(small, crops)},
           "tracker_updates_bounded_clip": {"official": speeds(official, frames[:30], box),
                                            "small": speeds(small, frames, box)},
           "node_device_cuda_300_frames": node_check()}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
