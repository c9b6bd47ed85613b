"""One labelled picture per scene: the image and each expression's overlay with its caption."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TILE = 320  # pixels a side: a 160 px synthetic scene is shown at twice its size
COLUMNS = 4
FONT_SIZE = 16
CAPTION_LINES = 3
MARGIN = 8


def contact_sheet(
    rgb: np.ndarray, panels: Sequence[tuple[np.ndarray, str]], title: str = "image"
) -> Image.Image:
    """A grid of ``TILE``-pixel tiles: the (H, W, 3) image captioned ``title``, then each
    (H, W, 3) overlay of ``panels`` captioned with its text (the sentence and its IoU, say).

    Tiles keep the image's aspect ratio; captions wrap over up to ``CAPTION_LINES`` lines.
    """
    font = ImageFont.load_default(size=FONT_SIZE)
    tiles = [(rgb, title), *panels]
    height, width = rgb.shape[:2]
    scale = TILE / max(height, width)
    tile_w, tile_h = max(1, round(width * scale)), max(1, round(height * scale))
    line_h = FONT_SIZE + 4
    cell_w, cell_h = tile_w + 2 * MARGIN, tile_h + 2 * MARGIN + CAPTION_LINES * line_h
    columns = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    chars_per_line = max(10, int(tile_w / (FONT_SIZE * 0.5)))
    for k, (pixels, caption) in enumerate(tiles):
        x, y = (k % columns) * cell_w + MARGIN, (k // columns) * cell_h + MARGIN
        resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
        sheet.paste(Image.fromarray(pixels).resize((tile_w, tile_h), resample), (x, y))
        lines = textwrap.wrap(caption, chars_per_line)[:CAPTION_LINES]
        for j, line in enumerate(lines):
            draw.text((x, y + tile_h + 4 + j * line_h), line, fill="black", font=font)
    return sheet
