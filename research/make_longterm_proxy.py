#!/usr/bin/env python3
"""Write a long-term tracking proxy with known absence, from training videos only.

Why: `shared/data` has no frame without its target, so it cannot say whether LOST fires when
the target is gone, or whether the tracker finds it again. Each DAVIS training video (one
labelled target) becomes up to three videos in which the target is away for a known span:

* `exit`: a camera view (a crop of the frame) pans sideways into another training video's
  frame placed beside this one (the camera looks elsewhere: the target is out of view, another
  scene and its object are in it), holds there, then pans back so that the target re-enters
  at another place in the view;
* `occlusion`: an opaque patch cut from a still training image slides over the target, covers
  it for `--absent` frames and slides on;
* `lookalike`: a copy of the target's own first-frame appearance (a twin) slides over it,
  covers it for a few frames and moves on: afterwards two identical objects are in view.

Ground truth is the target's box clipped to the view, NaN while less than VISIBLE_MIN of its
box is visible (out of view or under the patch). Videos are played forward then backward
(ping-pong) so that a 20-50-frame clip is long enough for an absence and a return; frames are
first shrunk by `--shrink` (targets nearer the 15-65 px of the evaluation set).

Output: this project's dataset layout (`<video>/img/00000001.jpg..., groundtruth.txt` 1-based
with `nan` rows, `manifest.json`), read by `stmtrack eval --data OUT` (`--format auto`), plus
`longterm_proxy.json` (sources, schedule, absent spans). Seeded: the same arguments write the
same videos.

    python -m research.make_longterm_proxy --train-data ../shared/train_data --out runs/lt_proxy
    python -m research.make_longterm_proxy --only blackswan soapbox --max-frames 40 --out /tmp/p
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from stmtrack_ros.datasets import DatasetError
from stmtrack_ros.train.training_set import load_manifest_images, load_manifest_sequences

from .paste import paste_at

KINDS = ("exit", "occlusion", "lookalike")
SOURCE = "davis2016_val"          # train_data videos with one labelled target each
VISIBLE_MIN = 0.3                 # less of the target's box visible than this: absent (NaN)
VIEW = (0.75, 0.9)                # exit: the camera's view, fraction of the shrunk frame
LEAD = 8                          # frames tracked before the event
PAN = 3                           # frames the view or a patch takes to move onto / off the target
TWIN_COVER = 4                    # lookalike: frames the twin sits on the target
TAIL = 8                          # frames needed after the target is back
OCCLUDER_SIZE = 1.5               # occluder side / target side
STILLS = "coco128"                # still images occluders are cut from
REPO = Path(__file__).resolve().parents[1]


def pingpong(n: int, length: int) -> list:
    """Source frame indexes 0..n-1, n-2..0, 1.. up to `length` frames."""
    cycle = list(range(n)) + list(range(n - 2, 0, -1)) if n > 1 else [0]
    return [cycle[i % len(cycle)] for i in range(length)]


def visible(box, view, cover=None) -> tuple:
    """(box clipped to the view, in view coordinates, or NaN; visible fraction of the box):
    `view` and `cover` are x, y, w, h in the same (world) coordinates as `box`."""
    def inter(a, b):
        x0, y0 = max(a[0], b[0]), max(a[1], b[1])
        x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
        return (x0, y0, max(x1 - x0, 0.0), max(y1 - y0, 0.0))
    area = box[2] * box[3]
    seen = inter(box, view)
    covered = inter(seen, cover) if cover is not None else (0, 0, 0.0, 0.0)
    frac = (seen[2] * seen[3] - covered[2] * covered[3]) / area if area > 0 else 0.0
    if frac < VISIBLE_MIN or seen[2] <= 0 or seen[3] <= 0:
        return np.full(4, np.nan), frac
    return np.array([seen[0] - view[0], seen[1] - view[1], seen[2], seen[3]]), frac


def ramp(a, b, k: int, steps: int) -> np.ndarray:
    """Point k of `steps` on the straight line a -> b (k = steps: b)."""
    return np.asarray(a, float) + (np.asarray(b, float) - np.asarray(a, float)) * min(k / steps, 1.0)


def exit_views(boxes, frame_wh, view_wh, absent: int, starts=(LEAD,)) -> np.ndarray:
    """Top-left of the camera view per frame, in a world of this video's frame with another
    video's frame to its right: fixed on the target, then at each of `starts` a pan into the
    other frame (the target is out of view) for `absent` frames and a pan back that places the
    target elsewhere in the view (the other side from where it was), then fixed."""
    n = len(boxes)
    fw, fh = frame_wh
    vw, vh = view_wh
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    lim = np.array([fw - vw, fh - vh], float)
    view = np.clip(centres[0] - [vw / 2, vh / 2], 0, lim)
    views = [view] * n
    for start in starts:
        v_from = views[start - 1]
        away = np.array([fw + (fw - vw) / 2, v_from[1]])   # the other frame has this one's size
        out_at, back_at = start + PAN, start + PAN + absent
        seen = centres[start - 1] - v_from                 # where the target was in the view
        want_x = 0.75 * vw if seen[0] < vw / 2 else 0.25 * vw
        v_back = np.clip(centres[min(back_at + PAN, n - 1)] - [want_x, vh / 2], 0, lim)
        for t in range(start, n):
            if t < out_at:
                views[t] = ramp(v_from, away, t - start + 1, PAN)
            elif t < back_at:
                views[t] = away
            else:
                views[t] = ramp(away, v_back, t - back_at + 1, PAN)
    return np.round(np.array(views))


def event_starts(length: int, events: int) -> list:
    """First frame of each of `events` evenly spaced events: the first at LEAD."""
    period = (length - LEAD) // events
    return [LEAD + k * period for k in range(events)]


def patch_path(boxes, patch_wh, cover: int, side: float, starts=(LEAD,)) -> np.ndarray:
    """Patch centre per frame (NaN before the first start): at each of `starts` it appears
    beside the target (side -1: left, +1: right), slides onto its centre over PAN frames,
    follows it for `cover` frames, then moves on across it at the speed it came with until the
    next start (or the end)."""
    n = len(boxes)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    path = np.full((n, 2), np.nan)
    for start, end in zip(starts, list(starts[1:]) + [n]):
        offset = (boxes[start, 2] + patch_wh[0]) / 2 + 2.0
        for t in range(start, end):
            k = t - start
            if k < PAN:
                path[t] = centres[t] + [side * offset * (1 - (k + 1) / PAN), 0.0]
            elif k < PAN + cover:
                path[t] = centres[t]
            else:
                path[t] = path[t - 1] - [side * offset / PAN, 0.0]
    return path


def target_patch(image, box, wh) -> np.ndarray:
    x, y, w, h = (round(v) for v in box)
    x0, y0 = max(x, 0), max(y, 0)
    crop = image[y0:max(y + h, y0 + 1), x0:max(x + w, x0 + 1)]
    return cv2.resize(crop, (max(int(wh[0]), 2), max(int(wh[1]), 2)), interpolation=cv2.INTER_AREA)


def still_patch(stills, rng, wh) -> np.ndarray:
    """A random region of a random still training image, resized to `wh`."""
    for _ in range(20):
        img = cv2.imread(stills[int(rng.integers(len(stills)))].image, cv2.IMREAD_COLOR)
        if img is None or min(img.shape[:2]) < 32:
            continue
        h, w = img.shape[:2]
        cw, ch = int(rng.integers(w // 4, w // 2 + 1)), int(rng.integers(h // 4, h // 2 + 1))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return cv2.resize(img[y:y + ch, x:x + cw], (max(int(wh[0]), 2), max(int(wh[1]), 2)),
                          interpolation=cv2.INTER_AREA)
    raise DatasetError("no readable still image for an occluder")


def shrunk_frames(video, idx: list, shrink: float, size=None) -> list:
    """The frames `idx` of a video, resized by 1/shrink (or to `size`), decoded once each."""
    images = {}
    for i in sorted(set(idx)):
        img = cv2.imread(video.frames[i], cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f"cannot read frame {video.frames[i]}")
        wh = size or (round(img.shape[1] / shrink), round(img.shape[0] / shrink))
        images[i] = cv2.resize(img, wh, interpolation=cv2.INTER_AREA)
    return [images[i] for i in idx]


def make_video(video, partner, kind: str, length: int, shrink: float, absent: int, stills, rng,
               events: int = 1):
    """(frames, ground truth (n, 4) with NaN rows, info) or None when the target is not away
    for at least one frame or does not come back. `partner`: the video the exit pans into;
    `events`: how many times the target goes away (evenly spaced)."""
    starts = event_starts(length, events)
    idx = pingpong(len(video.frames), length)
    world = shrunk_frames(video, idx, shrink)
    boxes = video.boxes[idx] / shrink
    wh, ww = world[0].shape[:2]
    view_wh = (int(VIEW[0] * ww), int(VIEW[1] * wh)) if kind == "exit" else (ww, wh)
    views = np.zeros((length, 2))
    patch, path = None, None
    if kind == "exit":
        other = shrunk_frames(partner, pingpong(len(partner.frames), length), shrink, (ww, wh))
        world = [np.hstack([a, b]) for a, b in zip(world, other)]
        views = exit_views(boxes, (ww, wh), view_wh, absent, starts)
    else:
        cover = absent if kind == "occlusion" else TWIN_COVER
        if kind == "occlusion":
            pwh = np.maximum(boxes[LEAD, 2:] * OCCLUDER_SIZE, 16).astype(int)
            patch = still_patch(stills, rng, pwh)
        else:
            pwh = np.maximum(boxes[LEAD, 2:], 8).astype(int)
            patch = target_patch(world[0], boxes[0], pwh)
        side = -1.0 if boxes[LEAD, 0] + boxes[LEAD, 2] / 2 > ww / 2 else 1.0   # come from the roomier side
        path = patch_path(boxes, pwh, cover, side, starts)
    frames, gt, frac = [], np.full((length, 4), np.nan), np.zeros(length)
    for t in range(length):
        vx, vy = (int(v) for v in views[t])
        img = world[t][vy:vy + view_wh[1], vx:vx + view_wh[0]]
        cover_box = None
        if path is not None and np.isfinite(path[t]).all():
            img = paste_at(img, patch, np.ones(patch.shape[:2], np.float32), path[t])
            ph, pw = patch.shape[:2]
            x0, y0 = round(path[t][0] - pw / 2), round(path[t][1] - ph / 2)  # as paste_at
            cover_box = (x0, y0, pw, ph)
        gt[t], frac[t] = visible(boxes[t], (vx, vy, view_wh[0], view_wh[1]), cover_box)
        frames.append(img)
    if not np.isfinite(gt[0]).all():
        return None
    absent_rows = ~np.isfinite(gt).all(axis=1)
    info = {"source": video.name.split("#")[0], "kind": kind, "frames": length,
            "partner": partner.name.split("#")[0] if kind == "exit" else None,
            "image_size_wh": [view_wh[0], view_wh[1]], "absent_frames": int(absent_rows.sum()),
            "absent_spans": _spans(absent_rows), "source_frames": idx}
    if not absent_rows.any() or absent_rows[-TAIL:].all():
        return None
    return frames, gt, info


def _spans(flags) -> list:
    """[first, last] 0-based frame of every run of True."""
    out, start = [], None
    for i, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append([start, i - 1])
            start = None
    return out


def write_video(out_dir: Path, frames, gt, info) -> None:
    (out_dir / "img").mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frames, 1):
        path = out_dir / "img" / f"{i:08d}.jpg"
        if not cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"cannot write {path}")
    rows = gt.copy()
    rows[:, :2] += 1.0                                   # this project's files are 1-based
    (out_dir / "groundtruth.txt").write_text(
        "".join(",".join("nan" if not np.isfinite(v) else f"{v:.2f}" for v in r) + "\n" for r in rows))
    (out_dir / "manifest.json").write_text(json.dumps(dict(name=out_dir.name, **info), indent=1) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-data", default=str(REPO.parent / "shared" / "train_data"),
                    help="a train_data folder (sequence_boxes.csv, images/)")
    ap.add_argument("--only", nargs="+", help=f"{SOURCE} video names (default: all)")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    ap.add_argument("--max-frames", type=int, default=60, help="frames per video (ping-pong up to this)")
    ap.add_argument("--shrink", type=float, default=1.5, help="frames shrunk by this first (>= 1)")
    ap.add_argument("--absent", type=int, default=10, help="frames out of view / under the occluder")
    ap.add_argument("--events", type=int, default=1,
                    help="times the target goes away per video, evenly spaced (a longer video "
                         "also prices a false LOST: the tracking after it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output folder (project layout)")
    args = ap.parse_args(argv)
    if args.events < 1:
        ap.error("--events must be >= 1")
    need = LEAD + args.events * (2 * PAN + args.absent + TAIL)
    if args.max_frames < need:
        ap.error(f"--max-frames must be at least {need} (lead {LEAD} + per event: pans, "
                 f"--absent and a tail of {TAIL})")
    if args.shrink < 1.0 or args.absent < 1:
        ap.error("--shrink must be >= 1 and --absent >= 1")
    only = [f"{SOURCE}/{n}" for n in args.only] if args.only else None
    try:
        videos = load_manifest_sequences(args.train_data, sources=[SOURCE], only=only)
        stills = load_manifest_images(args.train_data, sources=[STILLS]) if "occlusion" in args.kinds else []
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    missing = sorted(set(only or []) - {v.name.split("#")[0] for v in videos})
    if missing or not videos:
        print(f"error: no such {SOURCE} video(s) in {args.train_data}: {', '.join(missing) or 'none'}",
              file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    made, skipped = {}, []
    for i, video in enumerate(videos):
        partner = videos[(i + max(len(videos) // 3, 1)) % len(videos)]   # a fixed, other video
        for kind in args.kinds:
            if kind == "exit" and partner is video:   # it would pan onto its own target
                skipped.append(f"{video.name.split('#')[0].split('/')[-1]}_{kind}")
                continue
            res = make_video(video, partner, kind, args.max_frames, args.shrink, args.absent, stills,
                             rng, args.events)
            name = f"{video.name.split('#')[0].split('/')[-1]}_{kind}"
            if res is None:
                skipped.append(name)
                continue
            write_video(out / name, *res)
            made[name] = {k: v for k, v in res[2].items() if k != "source_frames"}
    (out / "longterm_proxy.json").write_text(json.dumps(
        {"train_data": str(args.train_data), "kinds": args.kinds, "max_frames": args.max_frames,
         "shrink": args.shrink, "absent": args.absent, "events": args.events, "seed": args.seed,
         "visible_min": VISIBLE_MIN,
         "videos": made, "skipped": skipped}, indent=1) + "\n")
    absent = sum(v["absent_frames"] for v in made.values())
    print(f"wrote {len(made)} videos ({absent} absent frames) to {out}; skipped {len(skipped)} "
          f"(target never hidden or never back; exit needs a second video): {' '.join(skipped) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
