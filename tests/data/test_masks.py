import numpy as np
import pytest
from pycocotools import mask as mask_utils

from lgformer.data.masks import segmentation_to_mask
from lgformer.errors import LGFormerError
from tests.refer_fixtures import rect, rect_mask, uncompressed_rle


def test_single_polygon_covers_the_hand_computed_rectangle():
    m = segmentation_to_mask([rect(2, 3, 10, 8)], 12, 14)
    assert m.dtype == bool and m.shape == (12, 14)
    np.testing.assert_array_equal(m, rect_mask((12, 14), 2, 3, 10, 8))


def test_multi_part_polygon_is_the_union_including_the_overlap():
    parts = [rect(1, 1, 6, 6), rect(4, 4, 9, 9)]
    m = segmentation_to_mask(parts, 10, 10)
    expected = rect_mask((10, 10), 1, 1, 6, 6) | rect_mask((10, 10), 4, 4, 9, 9)
    np.testing.assert_array_equal(m, expected)
    assert m[4:6, 4:6].all()  # covered twice, still foreground


def test_uncompressed_and_compressed_rle():
    truth = np.zeros((7, 5), dtype=bool)
    truth[1:4, 2] = True
    truth[6, :] = True
    np.testing.assert_array_equal(segmentation_to_mask(uncompressed_rle(truth), 7, 5), truth)
    rle = mask_utils.encode(np.asfortranarray(truth.astype(np.uint8)))
    np.testing.assert_array_equal(segmentation_to_mask(rle, 7, 5), truth)
    rle_str = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    np.testing.assert_array_equal(segmentation_to_mask(rle_str, 7, 5), truth)
    # A list of RLEs is the union of them.
    other = np.zeros_like(truth)
    other[0, 0] = True
    both = [rle, mask_utils.encode(np.asfortranarray(other.astype(np.uint8)))]
    np.testing.assert_array_equal(segmentation_to_mask(both, 7, 5), truth | other)


def test_empty_and_degenerate_segmentations():
    assert not segmentation_to_mask([], 4, 4).any()
    # A part with fewer than three points has no area and is dropped.
    m = segmentation_to_mask([[1, 1, 3, 3], rect(0, 0, 2, 2)], 4, 4)
    np.testing.assert_array_equal(m, rect_mask((4, 4), 0, 0, 2, 2))


def test_rle_of_another_size_is_rejected():
    with pytest.raises(LGFormerError, match="differs"):
        segmentation_to_mask({"size": [3, 3], "counts": [9]}, 4, 4)
