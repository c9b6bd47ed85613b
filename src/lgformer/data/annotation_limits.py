"""Bounds on COCO annotations, checked before pycocotools sees them.

pycocotools trusts its input: a polygon with NaN or huge coordinates makes it
allocate an outline of billions of points, an image size of 100000x100000 a
10 GB mask, and RLE counts that add up to more than the image overflow its
buffer. A crafted ``instances.json`` would kill the process (out of memory, or a
segfault). These checks turn every such entry into an ``LGFormerError``:

- an image's height and width are whole numbers >= 1 with at most
  ``MAX_PIXELS`` pixels in all (the cap ``load_rgb`` puts on image files);
- polygon coordinates are finite and lie within one image size beyond the
  image on every side; a polygon's outline is at most ``MAX_OUTLINE`` times the
  image's height + width (a real outline is a few times that);
- RLE counts are non-negative and cover the image exactly.

A polygon part with fewer than 3 points (fewer than 6 numbers) has no area:
it is not an error, it is counted so that the loader can warn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lgformer.data.image_io import MAX_PIXELS
from lgformer.errors import LGFormerError

MAX_OUTLINE = 100  # a polygon's outline, in units of the image's height + width


def check_image_size(height: int, width: int) -> None:
    """``LGFormerError`` for a size no image can have (or than no image file may have)."""
    if height < 1 or width < 1 or height * width > MAX_PIXELS:
        raise LGFormerError(
            f"image size {width}x{height} is outside 1 to {MAX_PIXELS} pixels (width x height)"
        )


def check_segmentation(segmentation: Any, height: int, width: int) -> int:
    """Checks a COCO ``segmentation`` of an image of ``height`` x ``width`` pixels (already
    checked with ``check_image_size``) against the bounds above.

    Returns:
        the number of polygon parts with fewer than 3 points (they are ignored).

    Raises:
        LGFormerError: saying what is wrong with it.
    """
    if isinstance(segmentation, dict):
        _check_rle(segmentation, height, width)
        return 0
    if not isinstance(segmentation, list):
        raise LGFormerError(f"unsupported segmentation type {type(segmentation).__name__}")
    if segmentation and all(isinstance(part, dict) for part in segmentation):
        for part in segmentation:
            _check_rle(part, height, width)
        return 0
    degenerate, points, polygons = 0, 0, []
    for part in segmentation:
        if not isinstance(part, list):
            raise LGFormerError("a polygon is not a list of numbers")
        if len(part) < 6:
            degenerate += 1
            continue
        # Plain Python: a million polygons are checked when a split loads.
        try:
            finite = math.isfinite(sum(part))  # NaN and inf propagate into the sum
        except TypeError:
            raise LGFormerError("a polygon is not a list of numbers") from None
        except OverflowError:
            finite = False
        if not finite:
            raise LGFormerError("a polygon has a coordinate that is not finite (NaN or inf)")
        xs, ys = part[0 : len(part) // 2 * 2 : 2], part[1::2]
        low, high = (min(xs), min(ys)), (max(xs), max(ys))
        if low[0] < -width or low[1] < -height or high[0] > 2 * width or high[1] > 2 * height:
            raise LGFormerError(
                f"a polygon reaches ({_num(low[0])}, {_num(low[1])})-({_num(high[0])}, "
                f"{_num(high[1])}), far outside the {width}x{height} image"
            )
        points += len(xs)
        polygons.append(part)
    # Inside those bounds an edge spans at most 3x the image: few points cannot be too long.
    if 3 * points * max(height, width) > MAX_OUTLINE * (height + width):
        outline = sum(_outline(part) for part in polygons)
        if outline > MAX_OUTLINE * (height + width):
            raise LGFormerError(
                f"its polygons' outline is {outline:.0f} pixels long, over {MAX_OUTLINE} times "
                "the image's height + width"
            )
    return degenerate


def _outline(polygon: list[float]) -> float:
    """The closed polygon's length in pycocotools' raster steps (the longer side of each
    edge), which sets how much memory its rasterisation takes."""
    xy = np.asarray(polygon[: len(polygon) // 2 * 2], dtype=np.float64).reshape(-1, 2)  # (K, 2)
    steps = np.abs(np.diff(xy, axis=0, append=xy[:1]))  # (K, 2), the closing edge too
    return float(steps.max(axis=1).sum())


def _check_rle(rle: dict, height: int, width: int) -> None:
    if "counts" not in rle or "size" not in rle:
        raise LGFormerError("RLE segmentation needs 'counts' and 'size'")
    if list(rle["size"]) != [height, width]:
        raise LGFormerError(f"RLE size {rle['size']} differs from the image size {[height, width]}")
    counts = rle["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise LGFormerError("RLE counts are not whole numbers")
    elif isinstance(counts, str | bytes):
        counts = _compressed_counts(counts.encode("ascii") if isinstance(counts, str) else counts)
    else:
        raise LGFormerError(f"RLE counts of type {type(counts).__name__}")
    if any(c < 0 for c in counts) or sum(counts) != height * width:
        raise LGFormerError(
            f"RLE counts add up to {sum(counts)} pixels (or include negative runs), not the "
            f"image's {height * width}"
        )


def _compressed_counts(text: bytes) -> list[int]:
    """The run lengths of a COCO compressed RLE string (pycocotools' ``rleFrString``): six
    bits a character from '0', five of value, a continuation flag, sign-extended last
    group; runs from the fourth on are stored as differences to the run two before."""
    counts: list[int] = []
    value, shift = 0, 0
    for char in text:
        c = char - 48
        if not 0 <= c < 64:
            raise LGFormerError("RLE counts string has a character outside '0'..'o'")
        value |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            value -= 1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
        value, shift = 0, 0
    if shift:
        raise LGFormerError("RLE counts string is cut short")
    return counts


def _num(value: float) -> str:
    return f"{value:.0f}" if math.isfinite(value) and abs(value) < 1e15 else f"{value:.3g}"
