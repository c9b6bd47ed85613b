"""The page's pieces without a browser: the annotated image, the sentence table, the model line."""

from __future__ import annotations

import numpy as np

from lgformer.inference.server.limits import ServedModel
from lgformer.inference.server.page import (
    DISPLAY_PIXELS,
    MASK_EDGE,
    MASK_FILL,
    annotations,
    model_line,
    sentence_table,
)
from lgformer.inference.server.service import Segmentation, SentenceResult


def _segmentation(height: int, width: int) -> Segmentation:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 1] = 160  # all green
    left = np.zeros((height, width), bool)
    left[:, : width // 2] = True
    return Segmentation(
        rgb,
        [
            SentenceResult("the left | half", left, []),
            SentenceResult("🙂", ~left, ["no word of '🙂' is in the vocabulary"]),
        ],
    )


def test_each_mask_is_its_own_label_in_its_own_contrasting_colour():
    (base, layers), colors = annotations(_segmentation(40, 60))
    assert [label for _, label in layers] == ["1. the left | half", "2. 🙂"]
    assert len(set(colors.values())) == 2  # two masks on one picture: two colours
    assert all(c != "#3cff3c" for c in colors.values())  # not green on green
    alpha = layers[0][0]
    assert set(np.unique(alpha)) == {0.0, MASK_FILL, MASK_EDGE}  # fill and a crisp edge
    assert base.shape == (40, 60, 3)


def test_a_large_photo_is_shown_downscaled():
    (base, layers), _ = annotations(_segmentation(3000, 4000))
    assert base.shape[0] * base.shape[1] <= DISPLAY_PIXELS * 1.01
    assert layers[0][0].shape == base.shape[:2]


def test_the_table_puts_warnings_next_to_their_sentence():
    table = sentence_table(_segmentation(10, 10)).splitlines()
    assert table[2].startswith("| 1 | the left \\| half | 50.00% of the image | ok |")
    assert "no word of '🙂' is in the vocabulary" in table[3]


def test_the_model_line_says_what_the_bundled_model_knows():
    bundled = ServedModel("bundled synthetic model", None, 128, bundled=True)
    line = model_line(bundled)
    assert "128 px" in line and "synthetic" in line and "triangles" in line
    assert "photographs" in line
    other = model_line(ServedModel("refcoco.pth", "swin_base_w12", 480))
    assert "refcoco.pth, preset swin_base_w12, 480 px" in other and "synthetic" not in other
    custom = model_line(ServedModel("m.safetensors", "custom config: Swin 32x[1]", 128))
    assert "m.safetensors, custom config: Swin 32x[1], 128 px" in custom
