"""Overlays a person can read, and the demo's contact sheet."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lgformer.inference.contact_sheet import TILE, contact_sheet
from lgformer.inference.visualize import (
    CANDIDATE_COLORS,
    color_distance,
    contrasting_color,
    edge,
    overlay_mask,
)


def _scene(fill=(34, 164, 60)) -> tuple[np.ndarray, np.ndarray]:
    """A grey 60x80 image with a coloured 20x30 rectangle, and the rectangle's mask."""
    rgb = np.full((60, 80, 3), 150, np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[20:40, 30:60] = True
    rgb[mask] = fill
    return rgb, mask


def test_the_fill_colour_contrasts_with_the_pixels_under_the_mask():
    """A green object must not get a green tint (the old fixed palette did just that)."""
    for fill in [(34, 164, 60), (214, 38, 38), (40, 84, 222), (236, 212, 36), (255, 0, 200)]:
        rgb, mask = _scene(fill)
        color = contrasting_color(rgb, mask)
        distances = color_distance(np.array(fill), np.array(CANDIDATE_COLORS))
        assert color_distance(np.array(fill), np.array(color)) == distances.max(), fill
    rgb, mask = _scene()
    first = contrasting_color(rgb, mask)
    assert contrasting_color(rgb, mask, taken=[first]) != first  # a second mask, same object


def test_the_overlay_dims_the_rest_fills_the_mask_and_outlines_it():
    rgb, mask = _scene()
    out = overlay_mask(rgb, mask)
    color = np.array(contrasting_color(rgb, mask))
    outside = ~mask
    assert out[outside].mean() < 0.6 * rgb[outside].mean()  # dimmed
    gray = out[outside].astype(int)
    assert (gray.max(axis=1) - gray.min(axis=1)).max() <= 2  # desaturated (it was grey)
    border = edge(mask)
    assert border.sum() > 0 and (out[border] == color).all()  # a crisp outline
    inside = mask & ~border
    # the fill moves the green pixels well towards the contrasting colour
    before = color_distance(rgb[inside], color).mean()
    assert color_distance(out[inside], color).mean() < 0.5 * before
    assert (overlay_mask(rgb, np.zeros_like(mask)) < rgb).any()  # an empty mask: only dimmed


def test_the_contact_sheet_shows_the_image_and_each_overlay_with_a_caption():
    rgb, mask = _scene()
    panels = [(overlay_mask(rgb, mask), "the green one (IoU 91.0%)")] * 5
    sheet = contact_sheet(rgb, panels, title="scene 3")
    assert isinstance(sheet, Image.Image)
    columns, rows = 4, 2  # 6 tiles
    assert sheet.width >= columns * TILE and sheet.height >= rows * TILE * 60 // 80
    pixels = np.asarray(sheet)
    caption = pixels[TILE * 60 // 80 + 10 : TILE * 60 // 80 + 30, 8 : TILE // 2]
    assert (caption < 100).any()  # dark text under the first tile
