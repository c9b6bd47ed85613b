"""Mask and overlay images for people to look at.

An overlay dims and desaturates everything outside the mask, fills the mask with a
colour chosen to stand out from the pixels under it (a green triangle gets magenta,
not green), and draws a crisp outline in that colour, so the mask is visible whatever
the image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from lgformer.writable import make_writable_dir

# Saturated fills an overlay picks from: the one farthest from the masked pixels wins.
CANDIDATE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 200),  # magenta
    (0, 230, 255),  # cyan
    (255, 230, 0),  # yellow
    (60, 255, 60),  # green
    (255, 120, 0),  # orange
    (40, 90, 255),  # blue
    (255, 30, 30),  # red
)
FILL_ALPHA = 0.6  # share of the fill colour inside the mask
BACKGROUND_LIGHT = 0.45  # brightness kept outside the mask, after desaturating
OUTLINE_WIDTH = 2  # pixels, inside the mask's edge
COLOR_SAMPLES = 4096  # masked pixels looked at to choose the colour


def color_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Perceptual ("redmean") distance between (..., 3) RGB arrays, broadcast."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    mean_red = (a[..., 0] + b[..., 0]) / 2
    d = a - b
    return np.sqrt(
        (2 + mean_red / 256) * d[..., 0] ** 2
        + 4 * d[..., 1] ** 2
        + (2 + (255 - mean_red) / 256) * d[..., 2] ** 2
    )


def contrasting_color(
    rgb: np.ndarray, mask: np.ndarray, taken: Sequence[tuple[int, int, int]] = ()
) -> tuple[int, int, int]:
    """The candidate colour farthest, on average, from the (H, W, 3) pixels under the
    (H, W) bool ``mask`` (the whole image when the mask is empty); colours in ``taken``
    (other masks' on the same picture) only when every candidate is taken."""
    pixels = rgb[mask] if mask.any() else rgb.reshape(-1, 3)  # (M, 3)
    if len(pixels) > COLOR_SAMPLES:  # evenly spaced: deterministic, cheap on big masks
        pixels = pixels[np.linspace(0, len(pixels) - 1, COLOR_SAMPLES).astype(np.int64)]
    candidates = np.array(CANDIDATE_COLORS, dtype=np.float32)  # (K, 3)
    scores = color_distance(pixels[None, :, :], candidates[:, None, :]).mean(axis=1)  # (K,)
    free = np.array([c not in taken for c in CANDIDATE_COLORS])
    if free.any():
        scores = np.where(free, scores, -1.0)
    return CANDIDATE_COLORS[int(scores.argmax())]


def overlay_mask(
    rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] | None = None
) -> np.ndarray:
    """(H, W, 3) uint8: the (H, W) bool ``mask`` filled and outlined in ``color`` (default:
    ``contrasting_color``), the rest of the image desaturated and dimmed.

    Works in integers outside the mask and in float32 only on the masked pixels: a
    full-size float copy of a large photo would take 12 bytes a pixel.
    """
    if color is None:
        color = contrasting_color(rgb, mask)
    wide = rgb.astype(np.uint16)  # (H, W, 3)
    gray = (wide[..., 0] * 77 + wide[..., 1] * 150 + wide[..., 2] * 29) >> 8  # (H, W)
    light = int(BACKGROUND_LIGHT * 256)
    out = (((gray[..., None] * 3 + wide) >> 2) * light >> 8).astype(np.uint8)  # 3/4 gray
    del wide, gray
    tint = np.array(color, dtype=np.float32)
    blended = (1 - FILL_ALPHA) * rgb[mask].astype(np.float32) + FILL_ALPHA * tint  # (M, 3)
    out[mask] = blended.clip(0, 255).astype(np.uint8)
    out[edge(mask)] = np.array(color, dtype=np.uint8)
    return out


def edge(mask: np.ndarray, width: int = OUTLINE_WIDTH) -> np.ndarray:
    """The (H, W) bool pixels of ``mask`` within ``width`` pixels of its border."""
    inner = mask
    for _ in range(width):
        inner = _erode(inner)
    return mask & ~inner


def _erode(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1, constant_values=False)
    return (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )


def slug(text: str, max_len: int = 40) -> str:
    """A file-name-safe version of a sentence."""
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s[:max_len] or "sentence"


def prepare_output_dir(out_dir: Path) -> Path:
    """Creates ``out_dir`` if needed and checks that files can be written in it.

    Meant to run before any slow work, so a bad ``--out`` costs nothing; raises
    ``LGFormerError`` naming the directory otherwise.
    """
    return make_writable_dir(
        out_dir,
        is_a_file="output directory {dir} is a file: give a directory",
        cannot_write="cannot write to output directory {dir}: {reason}",
    )


KINDS = ("mask", "overlay")  # save_mask_and_overlay writes <stem>_<kind>.png of each


def save_mask_and_overlay(
    rgb: np.ndarray, mask: np.ndarray, out_dir: Path, stem: str
) -> tuple[Path, Path]:
    """Writes ``<stem>_mask.png`` (0/255) and ``<stem>_overlay.png``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_path, overlay_path = (out_dir / f"{stem}_{kind}.png" for kind in KINDS)
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
    Image.fromarray(overlay_mask(rgb, mask)).save(overlay_path)
    return mask_path, overlay_path
