"""COCO segmentations (polygons or RLE) -> binary masks, the union of all parts.

The original LAVT/LGFormer loader summed the decoded parts and kept pixels
covered exactly once, which drops the overlap of multi-part polygons; the
spec asks for the union, which is what we return. Every segmentation is checked
against ``annotation_limits`` first: pycocotools trusts its input.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from lgformer.data.annotation_limits import check_image_size, check_segmentation


def segmentation_to_rles(segmentation: Any, height: int, width: int) -> list[dict]:
    """A COCO ``segmentation`` field -> a list of compressed RLEs (one per part).

    Accepts a list of polygons (each a flat ``[x0, y0, x1, y1, ...]`` list), an
    uncompressed RLE (``counts`` a list, as in crowd annotations) or a
    compressed RLE (``counts`` a str or bytes), or a list of RLEs. An entry outside
    ``annotation_limits`` is an ``LGFormerError`` saying why.
    """
    check_image_size(height, width)
    check_segmentation(segmentation, height, width)
    if isinstance(segmentation, dict):
        return [_rle(segmentation, height, width)]
    if isinstance(segmentation, list):
        if not segmentation:
            return []
        if all(isinstance(part, dict) for part in segmentation):
            return [_rle(part, height, width) for part in segmentation]
        # Parts with fewer than 3 points have no area; pycocotools would even read a
        # 4-number first part as a box, so they are dropped.
        polygons = [[float(v) for v in p] for p in segmentation if len(p) >= 6]
        return list(mask_utils.frPyObjects(polygons, height, width)) if polygons else []
    raise AssertionError("check_segmentation lets no other type through")


def _rle(rle: dict, height: int, width: int) -> dict:
    counts = rle["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects(rle, height, width)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [height, width], "counts": counts}


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` -> (H, W) bool mask, the union of its parts."""
    rles = segmentation_to_rles(segmentation, height, width)
    if not rles:
        return np.zeros((height, width), dtype=bool)
    merged = mask_utils.merge(rles, intersect=False) if len(rles) > 1 else rles[0]
    with warnings.catch_warnings():
        # pycocotools' decode trips NumPy 2's __array__(copy=...) deprecation; harmless.
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(merged).astype(bool)  # (H, W)
