"""Polygons -> masks with pycocotools, the rasteriser every COCO loader uses.

Drawing the scene with the same decoder that later reads ``instances.json``
makes the stored polygon of an unoccluded object reproduce its pixels exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
from pycocotools import mask as mask_utils


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """COCO flat polygons ``[[x0, y0, x1, y1, ...], ...]`` -> (H, W) bool union mask."""
    rles = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width)
    rle = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
    with warnings.catch_warnings():
        # pycocotools' decode trips NumPy 2's __array__(copy=...) deprecation; harmless.
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def polygon_to_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """An (N, 2) (x, y) polygon -> (H, W) bool mask."""
    return polygons_to_mask([polygon.reshape(-1).tolist()], height, width)


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, w, h]`` of the True pixels of an (H, W) mask (pixel edges)."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs[0]), float(ys[0]), float(xs[-1] + 1 - xs[0]), float(ys[-1] + 1 - ys[0])]
