"""Reading any image a user may hand us into an RGB uint8 array.

Handles grayscale, RGBA/LA (alpha dropped), palette, 16-bit and float images,
and EXIF orientation. Unreadable files raise ``LGFormerError`` naming the path.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lgformer.errors import LGFormerError

# Pillow refuses images past ~179M pixels as a decompression-bomb guard; the
# model sees 480x480 anyway, so we allow large photos but keep a sane cap.
MAX_PIXELS = 400_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

ImageLike = str | Path | Image.Image | np.ndarray

ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def load_rgb(image: ImageLike, *, exif_transpose: bool = True) -> np.ndarray:
    """Any supported image -> (H, W, 3) uint8 RGB, EXIF orientation applied.

    ``exif_transpose=False`` keeps the stored pixel layout, which is what
    dataset annotations (COCO polygons, image sizes) refer to.
    """
    if isinstance(image, np.ndarray):
        return array_to_rgb(image)
    if isinstance(image, (str, Path)):
        path = Path(image)
        if path.is_dir():
            raise LGFormerError(f"{path} is a directory: give the path of an image file")
        if not path.is_file():
            raise LGFormerError(f"image not found: {path}")
        image = _open_pil(path, f"image {path}")
    if isinstance(image, Image.Image):
        return pil_to_rgb(image, exif_transpose=exif_transpose)
    raise LGFormerError(
        f"unsupported image type {type(image).__name__}: give a path, a PIL image or an "
        "HxWx3 uint8 array"
    )


def decode_image_bytes(data: bytes, *, name: str = "uploaded image") -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, ...) -> (H, W, 3) uint8 RGB, EXIF orientation applied.

    Raises ``LGFormerError`` naming ``name`` when the bytes are not a readable image.
    """
    if not data:
        raise LGFormerError(f"{name} is empty (0 bytes)")
    return pil_to_rgb(_open_pil(io.BytesIO(data), name))


def _open_pil(source: Path | io.BytesIO, label: str) -> Image.Image:
    """Fully decoded copy of the image at ``source``; ``label`` names it in errors."""
    try:
        with Image.open(source) as opened:
            # Pillow itself refuses only past twice its limit (and merely warns below that).
            if opened.width * opened.height > MAX_PIXELS:
                raise Image.DecompressionBombError(f"{opened.width}x{opened.height} pixels")
            opened.load()
            return opened.copy()
    except Image.DecompressionBombError as err:
        raise LGFormerError(
            f"{label} is too large (over {MAX_PIXELS} pixels); downscale it first"
        ) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise LGFormerError(f"cannot read {label}: {err}") from err


def pil_to_rgb(pil: Image.Image, *, exif_transpose: bool = True) -> np.ndarray:
    """PIL image of any mode -> (H, W, 3) uint8 RGB."""
    if exif_transpose:
        pil = apply_exif_orientation(pil)
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return array_to_rgb(np.asarray(pil))
    if pil.mode in ("RGBA", "LA") or (pil.mode == "P" and "transparency" in pil.info):
        pil = pil.convert("RGBA")
    return np.asarray(pil.convert("RGB"), dtype=np.uint8).copy()


def apply_exif_orientation(pil: Image.Image) -> Image.Image:
    """``pil`` turned upright by its EXIF (or XMP) orientation tag.

    Broken EXIF metadata warns and leaves the pixels as stored: the picture itself is fine.
    """
    try:
        orientation = pil.getexif().get(ORIENTATION_TAG)
    except (SyntaxError, struct.error, OSError, ValueError, TypeError, KeyError) as err:
        warnings.warn(
            f"ignoring unreadable EXIF metadata ({err}); the image is used as stored",
            stacklevel=3,
        )
        return pil
    method = _ORIENTATION_TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return pil.transpose(method) if method is not None else pil


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of any numeric dtype -> (H, W, 3) uint8."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., :3] if a.shape[2] != 1 else np.repeat(a, 3, axis=2)
    elif a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    else:
        raise LGFormerError(f"image array must be HxW or HxWx{{1,3,4}}, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise LGFormerError(f"image is empty (shape {a.shape})")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float64))
        # Floats in [0, 1] are the usual convention; otherwise scale by the range.
        scale = 255.0 if a.max(initial=0) <= 1.0 else 255.0 / max(a.max(), 1e-12)
        return np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        # 16-bit (or wider) images: map the dtype's range onto 8 bits.
        top = 65535 if a.max(initial=0) > 255 else 255
        return np.clip(a.astype(np.float64) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    raise LGFormerError(f"unsupported image dtype {a.dtype}")
