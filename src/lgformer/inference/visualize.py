"""Mask and overlay images for people to look at."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from lgformer.errors import LGFormerError

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180)]


def overlay_mask(
    rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = PALETTE[0], alpha: float = 0.5
) -> np.ndarray:
    """(H, W, 3) uint8 with the (H, W) bool mask tinted and outlined in ``color``.

    Only the masked pixels go through float32: a full-size float copy of a large
    photo would take 12 bytes a pixel.
    """
    out = rgb.copy()
    tint = np.array(color, dtype=np.float32)
    blended = (1 - alpha) * rgb[mask].astype(np.float32) + alpha * tint  # (M, 3)
    out[mask] = blended.clip(0, 255).astype(np.uint8)
    out[mask & ~_erode(mask)] = tint.clip(0, 255).astype(np.uint8)
    return out


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
    if out_dir.exists() and not out_dir.is_dir():
        raise LGFormerError(f"output directory {out_dir} is a file: give a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise LGFormerError(f"cannot write to output directory {out_dir}: {reason}") from err
    return out_dir


def save_mask_and_overlay(
    rgb: np.ndarray, mask: np.ndarray, out_dir: Path, stem: str, color_index: int = 0
) -> tuple[Path, Path]:
    """Writes ``<stem>_mask.png`` (0/255) and ``<stem>_overlay.png``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_path = out_dir / f"{stem}_mask.png"
    overlay_path = out_dir / f"{stem}_overlay.png"
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
    color = PALETTE[color_index % len(PALETTE)]
    Image.fromarray(overlay_mask(rgb, mask, color)).save(overlay_path)
    return mask_path, overlay_path
