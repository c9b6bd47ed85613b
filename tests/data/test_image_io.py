"""16-bit images: scaled by their bit depth, never by their values; 48-bit RGB files
that Pillow cannot decode (or decodes wrongly) get an error that says how to convert."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, features

from lgformer.data.image_io import array_to_rgb, decode_image_bytes, load_rgb
from lgformer.errors import LGFormerError


def _scaled(values: np.ndarray) -> np.ndarray:
    """0..65535 -> 0..255, rounded: what a 16-bit value should become."""
    return np.round(values.astype(np.float64) * 255 / 65535).astype(np.uint8)


def _png16(array: np.ndarray) -> bytes:
    """(H, W), (H, W, 3) or (H, W, 4) integers -> a PNG of 16 bits per sample."""
    a = np.asarray(array, dtype=">u2")
    color_type = 0 if a.ndim == 2 else {3: 2, 4: 6}[a.shape[2]]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 16, color_type, 0, 0, 0)
    rows = b"".join(b"\x00" + row.tobytes() for row in a)  # filter type 0 per row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _tiff(
    array: np.ndarray, *, byte_order: str = "<", planar: bool = False, deflate: bool = False
) -> bytes:
    """(H, W) or (H, W, C) numeric array -> a one-strip-per-plane TIFF of its own dtype
    (signed integers and floats get their SampleFormat)."""
    a = np.asarray(array)
    height, width = a.shape[:2]
    samples = 1 if a.ndim == 2 else a.shape[2]
    a = a.astype(a.dtype.newbyteorder(byte_order))
    planes = list(np.moveaxis(a, 2, 0)) if planar and samples > 1 else [a]
    strips = [np.ascontiguousarray(p).tobytes() for p in planes]
    strips = [zlib.compress(s) for s in strips] if deflate else strips
    offsets = [8 + sum(len(s) for s in strips[:i]) for i in range(len(strips))]
    sample_format = {"u": 1, "i": 2, "f": 3}[a.dtype.kind]
    tags = [  # (tag, type: 3 short / 4 long, values), in ascending tag order
        (256, 3, [width]),
        (257, 3, [height]),
        (258, 3, [a.dtype.itemsize * 8] * samples),
        (259, 3, [8 if deflate else 1]),
        (262, 3, [2 if samples >= 3 else 1]),
        (273, 4, offsets),
        (277, 3, [samples]),
        (278, 3, [height]),
        (279, 4, [len(s) for s in strips]),
        (284, 3, [2 if planar else 1]),
        (339, 3, [sample_format] * samples),
    ]
    data = b"".join(strips)
    ifd_offset = 8 + len(data) + len(data) % 2
    extra_offset = ifd_offset + 2 + 12 * len(tags) + 4
    entries, extra = b"", b""
    for tag, kind, values in tags:
        packed = struct.pack(byte_order + ("H" if kind == 3 else "I") * len(values), *values)
        if len(packed) <= 4:
            entries += struct.pack(byte_order + "HHI", tag, kind, len(values)) + packed.ljust(
                4, b"\0"
            )
        else:
            offset = extra_offset + len(extra)
            entries += struct.pack(byte_order + "HHII", tag, kind, len(values), offset)
            extra += packed
    magic = b"II*\x00" if byte_order == "<" else b"MM\x00*"
    head = magic + struct.pack(byte_order + "I", ifd_offset) + data
    ifd = struct.pack(byte_order + "H", len(tags)) + entries + struct.pack(byte_order + "I", 0)
    return head.ljust(ifd_offset, b"\0") + ifd + extra


def _save(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rgb48(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((6, 7, 3)) * 65535).astype(np.uint16)


DARK = np.arange(42, dtype=np.uint16).reshape(6, 7) * 5  # 0..205: all at most 255


def test_a_dark_16_bit_grayscale_png_stays_dark(tmp_path):
    path = tmp_path / "dark.png"
    Image.fromarray(DARK).save(path)
    with Image.open(path) as opened:
        assert opened.mode == "I;16"  # what Pillow gives for a 16-bit grayscale PNG
    expected = np.repeat(_scaled(DARK)[..., None], 3, axis=2)
    assert expected.max() == 1  # 205 / 65535 of white
    np.testing.assert_array_equal(load_rgb(path), expected)
    np.testing.assert_array_equal(decode_image_bytes(path.read_bytes()), expected)
    np.testing.assert_array_equal(load_rgb(_save(tmp_path, "hand.png", _png16(DARK))), expected)


def test_a_bright_16_bit_grayscale_png_is_scaled_the_same_way(tmp_path):
    bright = DARK * 300  # up to 61500
    path = tmp_path / "bright.png"
    Image.fromarray(bright).save(path)
    np.testing.assert_array_equal(load_rgb(path)[..., 0], _scaled(bright))


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_16_bit_grayscale_tiffs_are_scaled_by_their_depth(tmp_path, byte_order):
    path = _save(tmp_path, "dark.tif", _tiff(DARK, byte_order=byte_order))
    with Image.open(path) as opened:
        assert opened.mode == ("I;16" if byte_order == "<" else "I;16B")
    np.testing.assert_array_equal(load_rgb(path)[..., 0], _scaled(DARK))


def test_mode_i_images_are_read_as_16_bit(tmp_path):
    """Mode "I": what a signed 16-bit TIFF, ``convert("I")`` and older Pillow give."""
    as_i = Image.fromarray(DARK).convert("I")
    assert as_i.mode == "I"
    np.testing.assert_array_equal(load_rgb(as_i)[..., 0], _scaled(DARK))
    signed = _save(tmp_path, "signed.tif", _tiff(DARK.astype(np.int16)))
    with Image.open(signed) as opened:
        assert opened.mode == "I"
    np.testing.assert_array_equal(load_rgb(signed)[..., 0], _scaled(DARK))


def test_arrays_are_scaled_by_their_dtype():
    np.testing.assert_array_equal(array_to_rgb(DARK)[..., 0], _scaled(DARK))
    np.testing.assert_array_equal(array_to_rgb(DARK.astype(">u2"))[..., 0], _scaled(DARK))
    eight_bit = (np.arange(42).reshape(6, 7) * 6).astype(np.uint8)
    np.testing.assert_array_equal(array_to_rgb(eight_bit)[..., 0], eight_bit)
    # int64 does not say its depth (np.array of 8-bit values): the values decide.
    np.testing.assert_array_equal(array_to_rgb(eight_bit.astype(np.int64))[..., 0], eight_bit)
    wide = DARK.astype(np.int64) * 300
    np.testing.assert_array_equal(array_to_rgb(wide)[..., 0], _scaled(wide))


def test_48_bit_rgb_pngs_and_tiffs_are_read(tmp_path):
    """Pillow reduces 48-bit RGB (and 64-bit RGBA) to 8 bits a channel by the high byte."""
    rgb = _rgb48()
    files = {
        "rgb48.png": _png16(rgb),
        "rgba64.png": _png16(np.dstack([rgb, np.full(rgb.shape[:2], 65535, np.uint16)])),
        "rgb48_le.tif": _tiff(rgb, byte_order="<"),
        "rgb48_be.tif": _tiff(rgb, byte_order=">"),
    }
    if features.check("libtiff"):  # compressed TIFFs go through libtiff, planes too
        files["rgb48_deflate_planar.tif"] = _tiff(rgb, planar=True, deflate=True)
    for name, data in files.items():
        got = load_rgb(_save(tmp_path, name, data))
        assert got.shape == (6, 7, 3) and got.dtype == np.uint8, name
        diff = np.abs(got.astype(int) - _scaled(rgb))
        assert diff.max() <= 1, name
        np.testing.assert_array_equal(decode_image_bytes(data), got)


@pytest.mark.parametrize(
    ("dtype", "layout"),
    [(np.int16, "16-bit signed integer"), (np.float16, "16-bit floating-point")],
)
def test_48_bit_rgb_tiffs_pillow_cannot_decode_say_so_and_how_to_convert(tmp_path, dtype, layout):
    data = _tiff(_rgb48().astype(dtype) // 2)
    path = _save(tmp_path, "odd.tif", data)
    expected = f"TIFF of 3 samples of {layout} per pixel, which Pillow cannot decode"
    with pytest.raises(LGFormerError, match=expected) as err:
        load_rgb(path)
    assert str(path) in str(err.value) and "magick INPUT.tif -depth 16 OUTPUT.png" in str(err.value)
    with pytest.raises(LGFormerError, match=f"cannot read uploaded image: it is a {expected}"):
        decode_image_bytes(data)


def test_uncompressed_planar_48_bit_tiffs_are_refused_not_misread(tmp_path):
    """Pillow's raw decoder reads 16-bit planes as 8-bit ones: wrong pixels, no error."""
    data = _tiff(_rgb48(), planar=True)
    with pytest.raises(LGFormerError, match="3 separate 16-bit planes, which Pillow decodes"):
        load_rgb(_save(tmp_path, "planar.tif", data))
    with pytest.raises(LGFormerError, match="convert it to an 8-bit or 16-bit RGB PNG"):
        decode_image_bytes(data)
    eight_bit = (_rgb48() >> 8).astype(np.uint8)  # 8-bit planes decode fine
    np.testing.assert_array_equal(
        load_rgb(_save(tmp_path, "p8.tif", _tiff(eight_bit, planar=True))), eight_bit
    )


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow's, on opening
def test_other_unreadable_files_keep_the_plain_message(tmp_path):
    with pytest.raises(LGFormerError, match="cannot read image .*cannot identify image file"):
        load_rgb(_save(tmp_path, "junk.tif", b"II*\x00" + b"\xff" * 20))
    with pytest.raises(LGFormerError, match="cannot read uploaded image: cannot identify"):
        decode_image_bytes(b"not an image at all")


def test_unreadable_uploads_name_the_upload_not_a_python_object(tmp_path):
    with pytest.raises(LGFormerError) as err:
        decode_image_bytes(b"not an image at all")
    assert "BytesIO" not in str(err.value) and "not an image format Pillow reads" in str(err.value)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(LGFormerError, match=r"empty.png is empty \(0 bytes\)"):
        load_rgb(empty)


def test_empty_or_closed_pil_images_get_clear_errors():
    with pytest.raises(LGFormerError, match=r"the image is empty \(0x0 pixels\)"):
        load_rgb(Image.new("RGB", (0, 0)))
    closed = Image.new("RGB", (4, 4))
    closed.close()
    with pytest.raises(LGFormerError, match="cannot read the PIL image"):
        load_rgb(closed)
