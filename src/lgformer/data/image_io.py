"""Reading any image a user may hand us into an RGB uint8 array.

Handles grayscale, RGBA/LA (alpha dropped), palette, 16-bit and float images,
and EXIF orientation. Unreadable files raise ``LGFormerError`` naming the path.

16-bit images are scaled by their bit depth, never by their values: a 16-bit
grayscale file (Pillow modes ``I;16*``, or ``I``) maps 0..65535 onto 0..255, so a
dark one stays dark. Pillow itself reduces 48-bit RGB and 64-bit RGBA PNGs and
TIFFs to 8 bits per channel; the 16-bit RGB TIFFs it cannot decode (signed or
floating-point samples) or decodes wrongly (uncompressed, one plane per channel)
raise an error that says how to convert them.
"""

from __future__ import annotations

import contextlib
import io
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from lgformer.errors import LGFormerError

# Pillow refuses images past ~179M pixels as a decompression-bomb guard; the
# model sees 480x480 anyway, so we allow large photos but keep a sane cap.
MAX_PIXELS = 400_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

ImageLike = str | Path | Image.Image | np.ndarray

# Pillow modes of 16-bit grayscale files; "I" (32-bit integers) is what such files
# become after ``convert("I")`` and what older Pillow versions opened them as.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
TIFF_BITS_PER_SAMPLE, TIFF_PLANAR_CONFIGURATION, TIFF_SAMPLE_FORMAT = 258, 284, 339
TIFF_SAMPLE_KINDS = {1: "unsigned integer", 2: "signed integer", 3: "floating-point"}
CONVERT_HINT = (
    "convert it to an 8-bit or 16-bit RGB PNG first, e.g. with ImageMagick: "
    "magick INPUT.tif -depth 16 OUTPUT.png"
)

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
        if path.stat().st_size == 0:
            raise LGFormerError(f"image {path} is empty (0 bytes)")
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
            _refuse_misread_tiff(opened, label)
            opened.load()
            return opened.copy()
    except Image.DecompressionBombError as err:
        raise LGFormerError(
            f"{label} is too large (over {MAX_PIXELS} pixels); downscale it first"
        ) from err
    except UnidentifiedImageError as err:
        layout = _deep_tiff_layout(source)
        if layout is not None:
            raise LGFormerError(
                f"cannot read {label}: it is a TIFF of {layout}, which Pillow cannot "
                f"decode; {CONVERT_HINT}"
            ) from err
        raise LGFormerError(
            f"cannot read {label}: cannot identify image file (not an image format Pillow "
            "reads, such as PNG, JPEG, TIFF, BMP or WebP)"
        ) from err
    except (OSError, SyntaxError, ValueError) as err:
        raise LGFormerError(f"cannot read {label}: {err}") from err


def _refuse_misread_tiff(opened: Image.Image, label: str) -> None:
    """``LGFormerError`` for a TIFF that Pillow would decode into wrong pixels: one plane
    per channel, more than 8 bits per sample, uncompressed (its "raw" decoder reads such
    planes as 8-bit). Call before ``load``, while ``opened.tile`` is set."""
    if opened.format != "TIFF":
        return
    tags = opened.tag_v2
    bits = _as_tuple(tags.get(TIFF_BITS_PER_SAMPLE, 1))
    planar = tags.get(TIFF_PLANAR_CONFIGURATION, 1) == 2
    deep_planes = planar and len(bits) > 1 and max(bits) > 8
    if deep_planes and any(tile[0] == "raw" for tile in opened.tile):
        raise LGFormerError(
            f"cannot read {label}: it is an uncompressed TIFF of {len(bits)} separate "
            f"{max(bits)}-bit planes, which Pillow decodes wrongly; {CONVERT_HINT}"
        )


def _deep_tiff_layout(source: Path | io.BytesIO) -> str | None:
    """What a TIFF of more than 8 bits per sample holds (its first image), e.g. "3 samples
    of 16-bit signed integer per pixel"; ``None`` for anything else or an unreadable header.
    """
    try:
        handle = open(source, "rb") if isinstance(source, Path) else contextlib.nullcontext(source)
        with handle as fp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow has warned about this file already
            fp.seek(0)
            header = fp.read(8)
            if header[:4] not in TIFF_MAGIC:
                return None
            tags = TiffImagePlugin.ImageFileDirectory_v2(header)
            fp.seek(tags.next)
            tags.load(fp)
        bits = _as_tuple(tags.get(TIFF_BITS_PER_SAMPLE, 1))
        kind = TIFF_SAMPLE_KINDS.get(_as_tuple(tags.get(TIFF_SAMPLE_FORMAT, 1))[0], "unknown")
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, struct.error):
        return None
    if max(bits) <= 8:
        return None
    samples = f"{len(bits)} sample{'s' if len(bits) > 1 else ''}"
    return f"{samples} of {max(bits)}-bit {kind} per pixel"


def _as_tuple(value: object) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def pil_to_rgb(pil: Image.Image, *, exif_transpose: bool = True) -> np.ndarray:
    """PIL image of any mode -> (H, W, 3) uint8 RGB."""
    if pil.width < 1 or pil.height < 1:
        raise LGFormerError(f"the image is empty ({pil.width}x{pil.height} pixels)")
    try:
        pil.load()  # a closed or broken image fails here, not deep inside a conversion
    except (OSError, ValueError, SyntaxError) as err:
        raise LGFormerError(f"cannot read the PIL image: {err}") from err
    if exif_transpose:
        pil = apply_exif_orientation(pil)
    if pil.mode in SIXTEEN_BIT_MODES:
        return array_to_rgb(np.asarray(pil), white=65535)  # by the mode, not the values
    if pil.mode == "F":
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


def array_to_rgb(array: np.ndarray, *, white: int | None = None) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) of any numeric dtype -> (H, W, 3) uint8.

    Integer values are scaled so that ``white`` becomes 255. By default that is the
    dtype's range: 255 for 8-bit, 65535 for 16-bit dtypes (a dark 16-bit image stays
    dark). Wider integer dtypes do not say their bit depth (``np.array`` of 8-bit
    values gives int64), so there a maximum above 255 means 16-bit, else 8-bit.
    Floats in [0, 1] map onto 0..255; other floats are scaled by their maximum.
    """
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[..., None]
    elif a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., :3]
    else:
        raise LGFormerError(f"image array must be HxW or HxWx{{1,3,4}}, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise LGFormerError(f"image is empty (shape {a.shape[:2]})")
    a = _to_uint8(a, white)  # (H, W, 1 or 3): scaled before gray is repeated
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else np.ascontiguousarray(a)


def _to_uint8(a: np.ndarray, white: int | None) -> np.ndarray:
    """Any numeric (H, W, C) -> (H, W, C) uint8, scaled as ``array_to_rgb`` says."""
    if a.dtype == np.uint8 and white in (None, 255):
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float64))
        scale = 255.0 if a.max(initial=0) <= 1.0 else 255.0 / max(a.max(), 1e-12)
        return np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        top = int(white) if white is not None else _integer_white(a)
        # round(a * 255 / top) in integers: 4 bytes a value, not float64's 8.
        a = np.clip(a, 0, top).astype(np.uint32 if top <= 2**24 else np.uint64)
        return ((a * 255 + top // 2) // top).astype(np.uint8)
    raise LGFormerError(f"unsupported image dtype {a.dtype}")


def _integer_white(a: np.ndarray) -> int:
    """The value that stands for white in integer image ``a``, by its dtype's size."""
    if a.dtype.itemsize == 1:
        return 255
    if a.dtype.itemsize == 2:
        return 65535
    return 65535 if a.max(initial=0) > 255 else 255
