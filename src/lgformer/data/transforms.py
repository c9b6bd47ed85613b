"""The released input pipeline: 480x480 resize ignoring aspect, ImageNet normalisation.

Pillow's ``resize(BILINEAR)`` (which low-pass filters when shrinking) for the
image and NEAREST for masks, exactly as in training and the paper's evaluation.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = 480


def resize_image(rgb: np.ndarray, size: int | tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 with Pillow bilinear; ``size`` is int or (h, w)."""
    h, w = (size, size) if isinstance(size, int) else size
    # np.array (a writable copy): torch.from_numpy warns on Pillow's read-only buffers.
    return np.array(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))


def resize_mask(mask: np.ndarray, size: int | tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """(H, W) bool/uint8 -> (h, w) bool with nearest neighbour."""
    h, w = (size, size) if isinstance(size, int) else size
    pil = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255)
    return np.asarray(pil.resize((w, h), Image.NEAREST)) > 127


def normalize(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32, ImageNet mean/std normalised."""
    x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def image_to_input(rgb: np.ndarray, size: int | tuple[int, int] = DEFAULT_SIZE) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) model input."""
    return normalize(resize_image(rgb, size))
