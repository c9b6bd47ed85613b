"""Painting a scene: a textured, noisy, muted background and shaded objects.

Backgrounds are near-grey (small tints only) so that they never look like one
of the object colours; objects get a colour jitter, a soft light gradient,
pixel noise and a darker rim, so that colour is a cue but not a single RGB value.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image

from lgformer.data.synthetic.attributes import COLOURS
from lgformer.data.synthetic.scene import Scene, SceneObject


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) pixel coordinates over the image side, each (H, W) float32 in [0, 1); read-only."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size)
    xx.flags.writeable = yy.flags.writeable = False
    return xx, yy


def _pattern(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (H, W) float32 texture in [0, 1]: smooth noise, stripes, checks or a gradient."""
    kind = int(rng.integers(4))
    x, y = _grid(size)
    if kind == 0:
        cells = int(rng.integers(3, 10))
        coarse = rng.random((cells, cells)).astype(np.float32)
        return np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))
    t = rng.uniform(0, math.pi)
    u = x * math.cos(t) + y * math.sin(t)  # (H, W) coordinate along a random direction
    if kind == 1:
        return 0.5 + 0.5 * np.sin(2 * math.pi * rng.uniform(2, 9) * u + rng.uniform(0, 6.3))
    if kind == 2:
        cells = rng.uniform(4, 10)
        v = -x * math.sin(t) + y * math.cos(t)
        return ((np.floor(u * cells) + np.floor(v * cells)) % 2).astype(np.float32)
    return (u - u.min()) / max(float(u.max() - u.min()), 1e-6)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """Zero-mean uniform noise with standard deviation ``std`` (cheaper than Gaussian)."""
    return (rng.random(shape, dtype=np.float32) - 0.5) * np.float32(std * 12**0.5)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 255]."""
    greys = rng.uniform(60, 200, size=2)
    contrast = rng.uniform(0.15, 0.6)
    a = (greys[0] + rng.normal(0, 5, 3)).astype(np.float32)  # (3,) a near-grey colour
    b = (a + (greys[1] - greys[0]) * contrast + rng.normal(0, 4, 3)).astype(np.float32)
    t = np.clip(_pattern(rng, size), 0, 1).astype(np.float32)[..., None]  # (H, W, 1)
    image = _noise(rng, (size, size, 3), 3.0)  # (H, W, 3)
    image += _noise(rng, (size, size, 1), rng.uniform(3, 12))  # grain, same in all channels
    image += a
    image += (b - a) * t
    return image


def _pad(mask: np.ndarray) -> np.ndarray:
    """A one-pixel False border around an (H, W) mask (np.pad is slow for small arrays)."""
    out = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), bool)
    out[1:-1, 1:-1] = mask
    return out


def _erode(mask: np.ndarray) -> np.ndarray:
    """4-neighbour binary erosion of an (H, W) bool mask."""
    m = _pad(mask)
    return mask & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]


def _paint_object(rng: np.random.Generator, image: np.ndarray, obj: SceneObject) -> None:
    # Work in the object's bounding box: most of the image is not touched.
    lo = np.maximum(np.floor(obj.polygon.min(0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(obj.polygon.max(0)).astype(int) + 2, image.shape[1::-1])
    box = (slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    mask = obj.full_mask[box]  # (h, w)
    ys, xs = np.nonzero(mask)
    base = np.asarray(COLOURS[obj.colour], np.float32) + rng.normal(0, 9, 3)  # (3,)
    t = rng.uniform(0, 2 * math.pi)
    # A soft light from one side: +-14 levels across the object.
    light = ((xs + lo[0] - obj.cx) * math.cos(t) + (ys + lo[1] - obj.cy) * math.sin(t)) / max(
        obj.radius, 1.0
    )
    pixels = base + (14.0 * light[:, None]).astype(np.float32) + _noise(rng, (len(xs), 3), 4.0)
    rim = (mask & ~_erode(mask))[ys, xs]  # (P,) boundary pixels, drawn darker
    pixels[rim] *= 0.65
    image[box][ys, xs] = pixels


def paint_scene(rng: np.random.Generator, scene: Scene) -> np.ndarray:
    """Render a scene to an (H, W, 3) uint8 RGB image; objects painted bottom to top."""
    image = _background(rng, scene.image_size)
    for obj in scene.objects:
        _paint_object(rng, image, obj)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
