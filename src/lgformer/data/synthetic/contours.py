"""Exact polygons of a binary mask, traced along pixel edges.

Every boundary edge of the mask is a unit segment between pixel corners; we
orient them with the region on the right (screen coordinates, y down), link
them into loops and keep only the corners. The loops decode back (with
pycocotools) to the very same pixels. Outer boundaries come out with positive
shoelace area, holes with negative area. Pixels that touch only diagonally
end up in separate loops (the region is read as 4-connected).
"""

from __future__ import annotations

import numpy as np

# Edge directions: east, south, west, north (screen coordinates, y down).
_STEPS = ((1, 0), (0, 1), (-1, 0), (0, -1))


def _edges(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """All boundary edges as (x, y, direction) of their start corner."""
    mask = mask.astype(bool, copy=False)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return []
    # Work on the bounding box only; (x0, y0) shifts the corners back.
    y0, x0 = int(rows[0]), int(cols[0])
    box = mask[y0 : rows[-1] + 1, x0 : cols[-1] + 1]
    m = np.zeros((box.shape[0] + 2, box.shape[1] + 2), bool)  # (h+2, w+2), a False border
    m[1:-1, 1:-1] = box
    inner = m[1:-1, 1:-1]
    found: list[tuple[int, int, int]] = []
    # Region on the right of each edge: a top edge runs east from the pixel's top-left corner,
    # a right edge south from its top-right, a bottom edge west from its bottom-right,
    # a left edge north from its bottom-left.
    sides = (
        (inner & ~m[:-2, 1:-1], 0, 0, 0),  # pixel above is off -> top edge
        (inner & ~m[1:-1, 2:], 1, 0, 1),  # pixel right is off -> right edge
        (inner & ~m[2:, 1:-1], 1, 1, 2),  # pixel below is off -> bottom edge
        (inner & ~m[1:-1, :-2], 0, 1, 3),  # pixel left is off -> left edge
    )
    for on, dx, dy, direction in sides:
        ys, xs = np.nonzero(on)
        found.extend(zip((xs + dx + x0).tolist(), (ys + dy + y0).tolist(), [direction] * len(xs)))
    return found


def trace_loops(mask: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of an (H, W) bool mask.

    Returns:
        A list of (K, 2) int64 arrays of (x, y) pixel-corner vertices, corners
        only (no collinear points). Outer loops have positive shoelace area,
        holes negative.
    """
    edges = _edges(mask)
    outgoing: dict[tuple[int, int], list[int]] = {}
    for x, y, d in edges:
        outgoing.setdefault((x, y), []).append(d)
    used: set[tuple[int, int, int]] = set()
    loops: list[np.ndarray] = []
    for first in edges:
        if first in used:
            continue
        x, y, d = first
        corners: list[tuple[int, int]] = []
        prev = -1
        while True:
            used.add((x, y, d))
            if d != prev:
                corners.append((x, y))
            prev = d
            x, y = x + _STEPS[d][0], y + _STEPS[d][1]
            dirs = outgoing[(x, y)]
            # At a saddle (two ways out) turn right: it keeps to the pixel we came along.
            d = (prev + 1) % 4 if len(dirs) == 2 else dirs[0]
            if (x, y, d) == first:
                break
        loops.append(np.asarray(_drop_collinear(corners), dtype=np.int64))
    return loops


def _drop_collinear(corners: list[tuple[int, int]]) -> list[tuple[int, int]]:
    keep = []
    n = len(corners)
    for i, (x, y) in enumerate(corners):
        px, py = corners[i - 1]
        nx, ny = corners[(i + 1) % n]
        if (x - px) * (ny - y) - (y - py) * (nx - x) != 0:
            keep.append((x, y))
    return keep


def signed_area(loop: np.ndarray) -> float:
    """Shoelace area of a (K, 2) loop: positive for outer boundaries, negative for holes."""
    x, y = loop[:, 0].astype(float), loop[:, 1].astype(float)
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def mask_to_polygons(mask: np.ndarray) -> tuple[list[list[float]], int]:
    """An (H, W) bool mask -> (COCO flat polygons of its outer boundaries, number of holes).

    Holes cannot be written as COCO polygons (a segmentation is the union of
    its parts), so callers that need exactness must avoid them; the count says
    whether there were any.
    """
    polygons: list[list[float]] = []
    holes = 0
    for loop in trace_loops(mask):
        if signed_area(loop) > 0:
            polygons.append([float(v) for v in loop.reshape(-1)])
        else:
            holes += 1
    return polygons, holes
