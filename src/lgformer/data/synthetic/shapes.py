"""Shape outlines as polygons, scaled so that radius 1 means area pi.

Circles are dense polygons (64 vertices), so every shape is a polygon and one
rasteriser (pycocotools) draws both the image and the ground truth.
"""

from __future__ import annotations

import math

import numpy as np

from lgformer.data.synthetic.attributes import SHAPES

CIRCLE_VERTICES = 64
STAR_POINTS = 5
STAR_INNER_RATIO = 0.5  # inner / outer radius of the star


def polygon_area(polygon: np.ndarray) -> float:
    """Unsigned shoelace area of an (N, 2) polygon of (x, y) vertices."""
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def _regular(n: int, start: float) -> np.ndarray:
    t = start + 2.0 * math.pi * np.arange(n) / n
    return np.stack([np.cos(t), np.sin(t)], axis=1)  # (n, 2)


def _outline(shape: str) -> np.ndarray:
    # Image y points down, so an angle of -pi/2 is "up".
    if shape == "circle":
        return _regular(CIRCLE_VERTICES, 0.0)
    if shape == "square":
        return _regular(4, math.pi / 4)
    if shape == "triangle":
        return _regular(3, -math.pi / 2)
    if shape == "hexagon":
        return _regular(6, 0.0)
    if shape == "star":
        pts = _regular(2 * STAR_POINTS, -math.pi / 2)
        pts[1::2] *= STAR_INNER_RATIO
        return pts
    raise ValueError(f"unknown shape {shape!r}; choose from {SHAPES}")


def _unit_outlines() -> dict[str, np.ndarray]:
    out = {}
    for shape in SHAPES:
        poly = _outline(shape)
        out[shape] = poly * math.sqrt(math.pi / polygon_area(poly))
    return out


# Each outline centred on the origin with area pi (area-equivalent radius 1).
UNIT_OUTLINES: dict[str, np.ndarray] = _unit_outlines()

# Distance from the centre to the farthest vertex, for radius 1.
CIRCUMRADIUS: dict[str, float] = {
    s: float(np.hypot(p[:, 0], p[:, 1]).max()) for s, p in UNIT_OUTLINES.items()
}


def shape_polygon(shape: str, cx: float, cy: float, radius: float, angle: float) -> np.ndarray:
    """The outline of a shape as (N, 2) float64 (x, y) vertices, rounded to 1/100 pixel.

    Args:
        shape: one of ``SHAPES``.
        cx, cy: centre in pixels (x right, y down).
        radius: area-equivalent radius in pixels (area = pi * radius**2).
        angle: rotation in radians (clockwise on screen).
    """
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # row vectors times rot = rotation by angle
    poly = UNIT_OUTLINES[shape] @ rot * radius + np.array([cx, cy])
    # Rounded because the polygon is stored in JSON: the mask is drawn from the stored numbers.
    return np.round(poly, 2)
