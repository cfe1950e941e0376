"""`make demo`: the node, a camera publisher replaying the bundled clip and a bag recorder run
as separate processes on localhost-only DDS and their own ROS_DOMAIN_ID; this driver calls
`init_target` with the box drawn on the clip's first frame (by its stamp), then writes the
recorded bag, an annotated video and a contact sheet to --out ($DEMO_OUT, else demo_out/) and
prints a summary. The caller's ROS_DOMAIN_ID is used when set.

Every child process is stopped in a finally block (SIGINT, then SIGKILL), and every wait
has a timeout, so the demo always ends.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
CLIP_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"


def _stop(proc: subprocess.Popen, name: str, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"[demo] {name} did not stop on SIGINT; killing it", flush=True)
        proc.kill()
        proc.wait(5)


def _contact_sheet(tiles: list[np.ndarray], cols: int = 4, width: int = 320) -> np.ndarray:
    h = int(round(tiles[0].shape[0] * width / tiles[0].shape[1]))
    small = [cv2.resize(t, (width, h), interpolation=cv2.INTER_AREA) for t in tiles]
    while len(small) % cols:
        small.append(np.zeros_like(small[0]))
    return np.vstack([np.hstack(small[r:r + cols]) for r in range(0, len(small), cols)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="demo", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("DEMO_OUT") or str(REPO / "demo_out"),
                    help="output folder (default: $DEMO_OUT, else demo_out/ in the repo)")
    ap.add_argument("--fps", type=float, default=None, help="camera rate (default: the clip's)")
    ap.add_argument("--checkpoint", default="", help="model (default: the bundled small one)")
    ap.add_argument("--timeout", type=float, default=240.0, help="give up after S s in total")
    args = ap.parse_args(argv)

    info = json.loads((CLIP_DIR / "clip.json").read_text())
    clip = CLIP_DIR / info["file"]
    fps = args.fps or float(info["fps"])
    box = [float(v) for v in info["init_box_xywh"]]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bag = out / "stmtrack_demo"
    if bag.exists():
        shutil.rmtree(bag)
    env = dict(os.environ)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_localhost.xml"))
    env.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    env.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))
    env["PYTHONUNBUFFERED"] = "1"
    os.environ.update({k: env[k] for k in ("FASTDDS_DEFAULT_PROFILES_FILE", "ROS_DOMAIN_ID")})
    print(f"[demo] ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} (localhost-only DDS: "
          f"{env['FASTDDS_DEFAULT_PROFILES_FILE']})", flush=True)

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from stmtrack_ros.srv import InitTarget

    from ..node.convert import draw_track
    from .bags import read_tracks
    from .camera_publisher import read_frames

    py = sys.executable
    node_cmd = [py, "-m", "stmtrack_ros.node.tracker_node", "--ros-args",
                "--params-file", str(REPO / "config" / "stmtrack.yaml")]
    if args.checkpoint:
        node_cmd += ["-p", f"checkpoint:={args.checkpoint}"]
    logs = {n: open(out / f"{n}.log", "w") for n in ("node", "recorder", "camera")}
    procs: dict[str, subprocess.Popen] = {}
    t_start = time.monotonic()
    deadline = t_start + args.timeout
    first_stamp = {}
    rclpy.init()
    client = rclpy.create_node("stmtrack_demo")
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    spinning = threading.Event()
    spinning.set()

    def spin():
        while spinning.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()

    def wait(pred, what: str, limit: float) -> None:
        t_end = min(deadline, time.monotonic() + limit)
        while not pred():
            for name, p in procs.items():
                if p.poll() is not None and name != "camera":
                    raise RuntimeError(f"{name} exited early (see {out / (name + '.log')})")
            if time.monotonic() > t_end:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.05)

    status = 1
    try:
        client.create_subscription(
            Image, "image", lambda m: first_stamp.setdefault(m.header.frame_id, m.header.stamp),
            qos_profile_sensor_data)
        init_cli = client.create_client(InitTarget, "init_target")
        print("[demo] starting the stmtrack node ...", flush=True)
        procs["node"] = subprocess.Popen(node_cmd, cwd=REPO, env=env, stdout=logs["node"],
                                         stderr=subprocess.STDOUT)
        wait(init_cli.service_is_ready, "the node's init_target service", 120)
        procs["recorder"] = subprocess.Popen(
            [py, "-m", "stmtrack_ros.tools.recorder", "--out", str(bag), "/track", "/diagnostics"],
            cwd=REPO, env=env, stdout=logs["recorder"], stderr=subprocess.STDOUT)
        # The recorder prints "recording" once its subscriptions are matched: from then on
        # nothing the node publishes is missed (the init result, the catch-up frames).
        wait(lambda: "recorder: recording" in (out / "recorder.log").read_text(),
             "the recorder", 60)
        print(f"[demo] node ready after {time.monotonic() - t_start:.1f} s; camera: {clip.name} "
              f"at {fps:g} fps", flush=True)
        procs["camera"] = subprocess.Popen(
            [py, "-m", "stmtrack_ros.tools.camera_publisher", str(clip), "--fps", str(fps),
             "--frame-id", "index", "--encoding", "rgb8", "--wait-subscribers", "30",
             "--subscribers", "2", "--start-delay", "1.0"],  # the node and this driver
            cwd=REPO, env=env, stdout=logs["camera"], stderr=subprocess.STDOUT)
        wait(lambda: "0" in first_stamp, "the first camera frame", 60)
        time.sleep(0.2)  # the operator's reaction time: init refers back to frame 0 by stamp
        req = InitTarget.Request(stamp=first_stamp["0"], x=box[0], y=box[1], width=box[2],
                                 height=box[3])
        fut = init_cli.call_async(req)
        wait(fut.done, "init_target's answer", 60)
        res = fut.result()
        print(f"[demo] init_target(stamp of frame 0, box {box}): success={res.success} "
              f"track_id={res.track_id}: {res.message}", flush=True)
        if not res.success:
            raise RuntimeError("init_target failed")
        wait(lambda: procs["camera"].poll() is not None, "the camera to finish the clip",
             4 * info["frames"] / fps + 30)
        time.sleep(2.0)  # the last frames through the tracker and into the bag
        status = 0
    except (RuntimeError, TimeoutError) as e:
        print(f"[demo] error: {e}", file=sys.stderr, flush=True)
    finally:
        for name in ("camera", "recorder", "node"):
            if name in procs:
                _stop(procs[name], name)
        spinning.clear()
        spinner.join(2.0)
        client.destroy_node()
        rclpy.try_shutdown()
        for f in logs.values():
            f.close()
    if status:
        for name in ("node", "recorder", "camera"):
            text = (out / f"{name}.log").read_text().strip().splitlines()
            print(f"--- {name}.log (last lines)\n" + "\n".join(text[-10:]), file=sys.stderr)
        return status

    tracks = [m for _, m in read_tracks(bag)]
    frames = read_frames(clip)
    summary = summarize(tracks, len(frames))
    summary["bag"] = str(bag)
    sheet_tiles, video = [], None
    mine = [m for m in tracks if m.track_id == res.track_id]
    pick = set(np.linspace(0, len(mine) - 1, min(12, len(mine))).round().astype(int).tolist())
    for k, m in enumerate(mine):
        idx = int(m.header.frame_id)
        img = draw_track(frames[idx], {n: getattr(m, n) for n in (
            "state", "x", "y", "width", "height", "track_id", "confidence")})
        cv2.putText(img, f"frame {idx}", (8, img.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1)
        if video is None:
            video = cv2.VideoWriter(str(out / "annotated.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                                    fps, (img.shape[1], img.shape[0]))
        video.write(img)
        if k in pick:
            sheet_tiles.append(img)
    if video is not None:
        video.release()
    if sheet_tiles:
        cv2.imwrite(str(out / "contact_sheet.png"), _contact_sheet(sheet_tiles))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("[demo] summary: " + json.dumps(summary))
    print(f"[demo] wrote {bag}/ (MCAP bag: /track, /diagnostics), {out / 'annotated.mp4'}, "
          f"{out / 'contact_sheet.png'}, {out / 'summary.json'} in "
          f"{time.monotonic() - t_start:.1f} s")
    return 0 if summary["tracked_frames"] > 0 else 1


def summarize(tracks: list, frames_published: int) -> dict:
    """Frames, states, confidence and latency of the recorded Track messages."""
    active = [m for m in tracks if m.track_id > 0]
    states = {"IDLE": 0, "TRACKING": 0, "LOST": 0}
    for m in tracks:
        states[("IDLE", "TRACKING", "LOST")[m.state]] += 1
    lat = sorted(m.latency_ms for m in active if m.frame_index > 0)
    conf = [m.confidence for m in active if m.frame_index > 0]
    return {
        "frames_published": frames_published,
        "track_messages": len(tracks),
        "tracked_frames": len(active),
        "frames_not_processed": frames_published - len({m.header.frame_id for m in tracks}),
        "states": states,
        "mean_confidence": round(float(np.mean(conf)), 3) if conf else 0.0,
        "latency_ms_mean": round(float(np.mean(lat)), 1) if lat else 0.0,
        "latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else 0.0,
    }


if __name__ == "__main__":
    sys.exit(main())
