"""Pasting an image patch into a frame, for the proxies that put a distractor or an occluder
over a training video's target (make_paste_targets.py, make_longterm_proxy.py)."""
import numpy as np


def paste_at(image: np.ndarray, patch: np.ndarray, alpha: np.ndarray, centre) -> np.ndarray:
    """A copy of `image` with `patch` blended in by `alpha`, centred at (x, y), clipped."""
    out = image.copy()
    ph, pw = patch.shape[:2]
    x0, y0 = int(round(centre[0] - pw / 2)), int(round(centre[1] - ph / 2))
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + pw, out.shape[1]), min(y0 + ph, out.shape[0])
    if xb <= xa or yb <= ya:
        return out
    a = alpha[ya - y0:yb - y0, xa - x0:xb - x0, None]
    src = patch[ya - y0:yb - y0, xa - x0:xb - x0].astype(np.float32)
    dst = out[ya:yb, xa:xb].astype(np.float32)
    out[ya:yb, xa:xb] = np.clip(a * src + (1.0 - a) * dst + 0.5, 0, 255).astype(np.uint8)
    return out
