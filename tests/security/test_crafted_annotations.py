"""Crafted ``instances.json`` entries: every image size and segmentation is checked before
pycocotools decodes it, so none can exhaust memory or crash the process; each is a
one-line error naming the entry (checked under a memory cap, in a subprocess)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from lgformer.data.image_io import MAX_PIXELS
from lgformer.data.masks import segmentation_to_mask
from lgformer.errors import LGFormerError
from tests.refer_fixtures import rect, uncompressed_rle
from tests.security.capped import one_line_error, run_capped


def _edit(refcoco, edit) -> None:
    path = refcoco.root / "refcoco" / "instances.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _set_polygon(refcoco, ann_id: int, polygon: list[float]) -> None:
    def edit(data):
        for ann in data["annotations"]:
            if ann["id"] == ann_id:
                ann["segmentation"] = [polygon]

    _edit(refcoco, edit)


def _evaluate(refcoco, checkpoint, split: str = "train"):
    return run_capped(
        "evaluate", "--checkpoint", str(checkpoint), "--data-root", str(refcoco.root),
        "--split", split, "--image-size", "64", "--num-workers", "0", "--device", "cpu",
        "--no-progress",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("polygon", "expected"),
    [
        ([2, 3, float("nan"), 3, 10, 8, 2, 8], "a coordinate that is not finite"),
        ([2, 3, 1e12, 3, 1e12, 8e11, 2, 8], "far outside the 40x30 image"),
        # Inside the bounds but an outline of millions of pixels: 10^5 zig-zags.
        ([0, 0, 40, 30] * 100_000, "outline is 8000000 pixels long"),
    ],
    ids=["nan", "huge", "zigzag"],
)
def test_crafted_polygon_is_one_line_error_under_a_memory_cap(
    refcoco, tiny_checkpoint, polygon, expected
):
    _set_polygon(refcoco, 11, polygon)  # ref 1, train
    line = one_line_error(_evaluate(refcoco, tiny_checkpoint))
    assert "annotation 11 (ref 1) in" in line and expected in line, line


def test_huge_image_size_is_one_line_error_under_a_memory_cap(refcoco, tiny_checkpoint):
    def edit(data):
        for image in data["images"]:
            if image["id"] == 1:
                image["height"] = image["width"] = 100_000

    _edit(refcoco, edit)
    line = one_line_error(_evaluate(refcoco, tiny_checkpoint))
    assert f"image 1 in {refcoco.root / 'refcoco' / 'instances.json'}" in line, line
    assert f"image size 100000x100000 is outside 1 to {MAX_PIXELS} pixels" in line


def test_rle_counts_beyond_the_image_are_refused_before_decoding():
    """pycocotools writes run after run without checking the image's end: counts adding
    up to more than the image would overflow its buffer."""
    with pytest.raises(LGFormerError, match="add up to 1000012 pixels"):
        segmentation_to_mask({"size": [4, 3], "counts": [0, 1_000_000, 12]}, 4, 3)
    overflowing = mask_utils.encode(np.asfortranarray(np.ones((400, 400), np.uint8)))
    overflowing["size"] = [4, 3]
    with pytest.raises(LGFormerError, match="add up to 160000 pixels"):
        segmentation_to_mask(overflowing, 4, 3)


def test_compressed_counts_are_read_as_pycocotools_reads_them():
    from lgformer.data.annotation_limits import _compressed_counts, check_segmentation

    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((23, 17)) < rng.random()
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert check_segmentation(rle, 23, 17) == 0  # consistent: accepted
        np.testing.assert_array_equal(segmentation_to_mask(rle, 23, 17), mask)
        counts = uncompressed_rle(mask)["counts"]
        assert _compressed_counts(rle["counts"]) == counts


def test_real_polygons_slightly_past_the_border_still_load():
    """COCO polygons overshoot the image by a pixel or so; that stays fine."""
    from lgformer.data.annotation_limits import check_segmentation

    mask = segmentation_to_mask([[-0.5, -0.5, 40.7, -0.2, 40.4, 30.9, -0.3, 30.2]], 30, 40)
    assert mask.all()
    assert check_segmentation([rect(0, 0, 4, 4), [1, 1, 2, 2]], 30, 40) == 1
