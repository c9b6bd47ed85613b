"""Mask -> polygon tracing and polygon -> mask decoding agree exactly."""

import numpy as np
import pytest

from lgformer.data.synthetic.contours import mask_to_polygons, signed_area, trace_loops
from lgformer.data.synthetic.raster import mask_bbox, polygon_to_mask, polygons_to_mask
from lgformer.data.synthetic.shapes import UNIT_OUTLINES, polygon_area, shape_polygon


@pytest.mark.parametrize("seed", range(5))
def test_random_masks_round_trip(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        mask = rng.random((11, 13)) < 0.55
        loops = trace_loops(mask)
        # Outer loops minus holes cover exactly the mask's pixels.
        assert sum(signed_area(loop) for loop in loops) == pytest.approx(mask.sum())
        polygons, holes = mask_to_polygons(mask)
        if holes == 0:
            assert np.array_equal(polygons_to_mask(polygons, *mask.shape), mask)


def test_hole_is_reported_and_diagonal_pixels_split():
    ring = np.ones((5, 5), bool)
    ring[2, 2] = False
    assert mask_to_polygons(ring)[1] == 1
    diagonal = np.zeros((4, 4), bool)
    diagonal[1, 1] = diagonal[2, 2] = True
    polygons, holes = mask_to_polygons(diagonal)
    assert len(polygons) == 2 and holes == 0


def test_corners_only():
    mask = np.zeros((10, 10), bool)
    mask[2:7, 3:9] = True
    (loop,) = trace_loops(mask)
    assert sorted(map(tuple, loop.tolist())) == [(3, 2), (3, 7), (9, 2), (9, 7)]
    assert mask_bbox(mask) == [3.0, 2.0, 6.0, 5.0]


@pytest.mark.parametrize("shape", sorted(UNIT_OUTLINES))
def test_shapes_have_the_area_of_their_radius(shape):
    poly = shape_polygon(shape, 40.0, 40.0, 15.0, 0.3)
    assert polygon_area(poly) == pytest.approx(np.pi * 15.0**2, rel=1e-3)
    assert polygon_to_mask(poly, 80, 80).sum() == pytest.approx(np.pi * 15.0**2, rel=0.05)
