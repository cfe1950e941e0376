"""Synthetic tracking sequences written as real JPEG files in the standard dataset layouts
(for the eval tests on a fresh clone). The target is a textured patch moving smoothly over a
static noise background, so a correlation tracker follows it easily."""
from pathlib import Path

import cv2
import numpy as np


def make_frames(n=24, size=(160, 120), box=(40.0, 30.0, 32.0, 24.0), step=(2.0, 1.0), seed=0):
    """(list of BGR frames, (n, 4) 0-based x, y, w, h ground truth)."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    bw, bh = int(box[2]), int(box[3])
    patch = np.zeros((bh, bw, 3), np.uint8)
    patch[:] = (30, 30, 220)
    cv2.rectangle(patch, (3, 3), (bw - 4, bh - 4), (240, 240, 240), 2)
    cv2.circle(patch, (bw // 2, bh // 2), min(bw, bh) // 4, (20, 200, 20), -1)
    frames, gt = [], []
    for i in range(n):
        x = int(round(box[0] + step[0] * i))
        y = int(round(box[1] + step[1] * i))
        im = bg.copy()
        im[y:y + bh, x:x + bw] = patch
        frames.append(im)
        gt.append((x, y, bw, bh))
    return frames, np.asarray(gt, np.float64)


def write_images(folder, frames, pattern="{:08d}.jpg", start=1):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(frames):
        assert cv2.imwrite(str(folder / pattern.format(i + start)), im, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return folder


def write_rows(path, rows, sep=",", fmt="{:g}"):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(sep.join(fmt.format(v) for v in r) + "\n" for r in rows))


def project_sequence(root, name, n=24, seed=0, **kw):
    """This project's layout: <name>/img/00000001.jpg..., groundtruth.txt (1-based)."""
    frames, gt = make_frames(n, seed=seed, **kw)
    d = Path(root) / name
    write_images(d / "img", frames)
    write_rows(d / "groundtruth.txt", gt + [1, 1, 0, 0])
    (d / "manifest.json").write_text(f'{{"name": "{name}", "image_size_wh": '
                                     f'[{frames[0].shape[1]}, {frames[0].shape[0]}]}}')
    return gt


def got10k_sequence(folder, absence, cover, seed=0):
    """GOT-10k layout: <folder>/00000001.jpg..., groundtruth.txt (0-based), absence.label and
    cover.label with the given per-frame values; returns the ground truth."""
    frames, gt = make_frames(len(absence), seed=seed)
    write_images(folder, frames)
    write_rows(Path(folder) / "groundtruth.txt", gt)
    (Path(folder) / "absence.label").write_text("".join(f"{v}\n" for v in absence))
    (Path(folder) / "cover.label").write_text("".join(f"{v}\n" for v in cover))
    return gt
