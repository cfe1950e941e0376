"""Where the whole-frame search looks while the target is LOST (issue 19, item 5).

The memory read finds the target over the whole frame when the frame is seen at the scale the
target has in the tracker (shared/notes/global-search.md), but every backend's query pass takes
a fixed q_size crop. So the frame is covered with q_size crops at the tracker's crop scale (the
same as resizing the frame by that scale and cutting it into tiles): each crop's score grid
covers (score_size - 1) * total_stride crop px around its centre, and the tiles are spread
evenly so that the grids cover the frame edge to edge, overlapping where they must. The tracker
scans a few of them per LOST frame, round-robin, so a LOST frame costs a bounded number of passes.
"""
from __future__ import annotations

import math


def _centres(length: float, span: float) -> list[float]:
    """Centres of the fewest windows of `span` that cover [0, length], spread evenly."""
    n = max(1, math.ceil(length / span))
    if n == 1:
        return [length / 2]
    step = (length - span) / (n - 1)
    return [span / 2 + i * step for i in range(n)]


def tile_centres(image_hw, scale: float, grid_span: int) -> list[tuple[float, float]]:
    """Image-px centres (x, y), row by row, of the crops that cover an image of `image_hw`
    (h, w) with their score grids, a crop taken at `scale` image px per crop px whose grid spans
    `grid_span` crop px."""
    h, w = image_hw
    span = grid_span * scale
    return [(x, y) for y in _centres(float(h), span) for x in _centres(float(w), span)]
