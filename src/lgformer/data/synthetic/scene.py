"""Sampling a scene: which objects, with which attributes, where, in which depth order.

Distractors are made on purpose: most objects copy an earlier object and
change one attribute, so colours, shapes and sizes are shared and a single
word rarely singles an object out. About a third of the objects are placed to
overlap an earlier one; the earlier one then shows only its visible part,
which must stay one piece without holes and keep most of its area, so that
its COCO polygon is exact and a person still recognises it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lgformer.data.synthetic.attributes import (
    COLOURS,
    SHAPES,
    SIZE_RADIUS,
    SIZES,
    combos,
    is_held_out,
)
from lgformer.data.synthetic.contours import trace_loops
from lgformer.data.synthetic.raster import polygon_to_mask
from lgformer.data.synthetic.shapes import CIRCUMRADIUS, polygon_area, shape_polygon

MIN_VISIBLE = 0.6  # an occluded object keeps at least this share of its area
OVERLAP_PROBABILITY = 0.35  # chance that a new object is placed over an earlier one
MUTATE_PROBABILITY = 0.75  # chance that a new object copies an earlier one, one attribute changed
MAX_TILT = math.radians(12)  # squares, triangles and stars stay roughly upright
PLACEMENT_TRIES = 60


@dataclass
class SceneObject:
    """One object of a scene.

    Attributes:
        shape, colour, size: its attribute words (``SHAPES``, ``COLOURS``, ``SIZES``).
        cx, cy: centre in pixels (x right, y down).
        radius: area-equivalent radius in pixels.
        angle: rotation in radians.
        polygon: (N, 2) float64 outline of the whole shape.
        full_mask: (H, W) bool, the whole shape.
        mask: (H, W) bool, the visible part (the ground truth of a referring expression).
        area: area of the whole shape in square pixels (what "largest" compares).
    """

    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    radius: float
    angle: float
    polygon: np.ndarray
    full_mask: np.ndarray
    mask: np.ndarray
    area: float

    @property
    def occluded(self) -> bool:
        return bool((self.full_mask & ~self.mask).any())

    @property
    def held_out(self) -> bool:
        return is_held_out(self.colour, self.shape)

    def describe(self) -> str:
        return f"{self.size} {self.colour} {self.shape}"


@dataclass
class Scene:
    """Objects in paint order (later ones are on top) on an ``image_size`` square."""

    image_size: int
    objects: list[SceneObject]


def _attributes(rng: np.random.Generator, n: int, n_held_out: int) -> list[tuple[str, str, str]]:
    """``n`` (colour, shape, size) triples, at least ``n_held_out`` of them testB-only pairs.

    Without ``n_held_out`` no triple is a held-out pair.
    """
    seen = combos(held_out=False)
    chosen: list[tuple[str, str, str]] = []
    held_out = combos(held_out=True)
    for i in rng.permutation(len(held_out))[:n_held_out]:
        chosen.append((*held_out[i], SIZES[rng.integers(2)]))
    while len(chosen) < n:
        if chosen and rng.random() < MUTATE_PROBABILITY:
            colour, shape, size = chosen[rng.integers(len(chosen))]
            which = rng.choice(4, p=[0.4, 0.35, 0.15, 0.1])  # colour, shape, size, nothing (a twin)
            if which == 0:
                colour = list(COLOURS)[rng.integers(len(COLOURS))]
            elif which == 1:
                shape = SHAPES[rng.integers(len(SHAPES))]
            elif which == 2:
                size = SIZES[1 - SIZES.index(size)]
            # In testB scenes copies may be held-out pairs too: same-pair distractors
            # ("the left red triangle") and more referred objects per image.
            if is_held_out(colour, shape) and not n_held_out:
                continue
        else:
            colour, shape = seen[rng.integers(len(seen))]
            size = SIZES[rng.integers(2)]
        chosen.append((colour, shape, size))
    order = [n_held_out + i for i in rng.permutation(n - n_held_out)]
    # Held-out objects go anywhere in the depth order, not always at the bottom.
    for i in range(n_held_out):
        order.insert(int(rng.integers(len(order) + 1)), i)
    return [chosen[i] for i in order]


def _centre(
    rng: np.random.Generator, placed: list[SceneObject], colour: str, reach: float, size: int
) -> tuple[float, float] | None:
    lo, hi = reach + 1.0, size - reach - 1.0
    partners = [o for o in placed if o.colour != colour]
    if partners and rng.random() < OVERLAP_PROBABILITY:
        # Overlap: centres at 56-84% of the sum of circumradii from a partner of another colour.
        p = partners[rng.integers(len(partners))]
        dist = rng.uniform(0.56, 0.84) * (reach + CIRCUMRADIUS[p.shape] * p.radius)
        t = rng.uniform(0, 2 * math.pi)
        cx, cy = p.cx + dist * math.cos(t), p.cy + dist * math.sin(t)
        return (cx, cy) if lo <= cx <= hi and lo <= cy <= hi else None
    cx, cy = rng.uniform(lo, hi, size=2)
    for o in placed:  # apart: the circumscribed circles do not meet
        if math.hypot(cx - o.cx, cy - o.cy) < reach + CIRCUMRADIUS[o.shape] * o.radius + 2.0:
            return None
    return float(cx), float(cy)


def _try_place(
    rng: np.random.Generator, placed: list[SceneObject], attrs: tuple[str, str, str], size: int
) -> SceneObject | None:
    colour, shape, size_word = attrs
    radius = rng.uniform(*SIZE_RADIUS[size_word]) * size
    centre = _centre(rng, placed, colour, CIRCUMRADIUS[shape] * radius, size)
    if centre is None:
        return None
    angle = rng.uniform(0, 2 * math.pi) if shape in ("circle", "hexagon") else 0.0
    angle += rng.uniform(-MAX_TILT, MAX_TILT)
    polygon = shape_polygon(shape, centre[0], centre[1], radius, angle)
    full = polygon_to_mask(polygon, size, size)
    new_visible = {}
    for i, o in enumerate(placed):
        if not (o.mask & full).any():
            continue
        if o.colour == colour:  # same colours overlapping would read as one blob
            return None
        visible = o.mask & ~full
        if visible.sum() < MIN_VISIBLE * o.full_mask.sum() or len(trace_loops(visible)) != 1:
            return None
        new_visible[i] = visible
    for i, visible in new_visible.items():
        placed[i].mask = visible
    cx, cy = centre
    area = polygon_area(polygon)
    return SceneObject(
        shape, colour, size_word, cx, cy, radius, angle, polygon, full, full.copy(), area
    )


def sample_scene(
    rng: np.random.Generator,
    image_size: int,
    *,
    num_held_out: int = 0,
    min_objects: int = 3,
    max_objects: int = 6,
) -> Scene:
    """Sample the objects of one scene (no pixels yet).

    Args:
        rng: the only source of randomness (same state, same scene).
        image_size: side of the square image in pixels.
        num_held_out: at least this many objects of testB-only colour+shape
            pairs (copies of them may add more); 0 for train/val/testA scenes,
            which then hold no such pair at all.
        min_objects, max_objects: the object count is uniform in this range;
            an object that finds no valid place is dropped, so a scene may
            end up smaller (callers check).
    """
    n = int(rng.integers(min_objects, max_objects + 1))
    placed: list[SceneObject] = []
    for attrs in _attributes(rng, max(n, num_held_out), num_held_out):
        for _ in range(PLACEMENT_TRIES):
            obj = _try_place(rng, placed, attrs, image_size)
            if obj is not None:
                placed.append(obj)
                break
    return Scene(image_size=image_size, objects=placed)
