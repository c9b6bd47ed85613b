"""Segmenting user images from Python and from the command line."""

import warnings

import numpy as np
import pytest
from PIL import Image

from lgformer.cli import main
from lgformer.errors import LGFormerError
from lgformer.inference import ReferringSegmenter


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    seg = ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cpu", image_size=64)
    seg.tokenizer._tokenizer  # noqa: B018 - loaded once for the module
    return seg


def _rgb(h=37, w=53, seed=0):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def test_path_pil_and_array_give_the_same_masks(segmenter, tmp_path):
    rgb = _rgb()
    path = tmp_path / "img.png"
    Image.fromarray(rgb).save(path)
    # vocab of the tiny model is small: the ids must stay inside it.
    sentences = ["[unused1]", "[unused5] [unused7]"]
    by_array = segmenter.segment(rgb, sentences)
    assert by_array.shape == (2, 37, 53) and by_array.dtype == bool
    np.testing.assert_array_equal(segmenter.segment(path, sentences), by_array)
    np.testing.assert_array_equal(segmenter.segment(Image.fromarray(rgb), sentences), by_array)
    single = segmenter.segment(rgb, "[unused1]")
    np.testing.assert_array_equal(single, by_array[0])


def _odd_images(tmp_path):
    rgb = _rgb(30, 40)
    gray = Image.fromarray(rgb[..., 0])
    files = {
        "gray.png": gray,
        "rgba.png": Image.fromarray(np.dstack([rgb, np.full((30, 40), 128, np.uint8)])),
        "palette.png": Image.fromarray(rgb).convert("P"),
        "sixteen.png": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
        "la.png": gray.convert("LA"),
        "cmyk.jpg": Image.fromarray(rgb).convert("CMYK"),
    }
    paths = {}
    for name, img in files.items():
        paths[name] = tmp_path / name
        img.save(paths[name])
    return paths


def test_odd_image_modes_work(segmenter, tmp_path):
    for name, path in _odd_images(tmp_path).items():
        masks = segmenter.segment(path, ["[unused1]"])
        assert masks.shape == (1, 30, 40), name
    sixteen = np.asarray(Image.open(tmp_path / "sixteen.png"))
    assert sixteen.dtype != np.uint8  # really a 16-bit file


def test_exif_rotation_is_applied(segmenter, tmp_path):
    img = Image.fromarray(_rgb(30, 40))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    assert segmenter.segment(path, ["[unused1]"]).shape == (1, 40, 30)


def test_bad_inputs_get_clear_errors(segmenter, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(LGFormerError, match="cannot read image"):
        segmenter.segment(broken, ["x"])
    with pytest.raises(LGFormerError, match="not found"):
        segmenter.segment(tmp_path / "missing.png", ["x"])
    with pytest.raises(LGFormerError, match="empty sentence"):
        segmenter.segment(_rgb(), ["   "])
    with pytest.raises(LGFormerError, match="HxW"):
        segmenter.segment(np.zeros((2, 3, 4, 5), np.uint8), ["x"])


def test_long_sentence_warns_and_still_segments(segmenter):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masks = segmenter.segment(_rgb(), ["[unused1] " * 30])
    assert masks.shape == (1, 37, 53)
    assert any("truncated" in str(w.message) for w in caught)


def test_segment_cli_writes_mask_and_overlay_per_sentence(tiny_checkpoint, tmp_path, capsys):
    paths = _odd_images(tmp_path)
    out = tmp_path / "out"
    for name in ("gray.png", "rgba.png", "sixteen.png"):
        rc = main(
            [
                "segment",
                "--checkpoint",
                str(tiny_checkpoint),
                "--image",
                str(paths[name]),
                "--text",
                "[unused1]",
                "--text",
                "[unused2] [unused3]",
                "--out",
                str(out),
                "--image-size",
                "64",
                "--device",
                "cpu",
            ]
        )
        assert rc == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "00_unused1_mask.png",
        "00_unused1_overlay.png",
        "01_unused2_unused3_mask.png",
        "01_unused2_unused3_overlay.png",
    ]
    mask = np.asarray(Image.open(out / "00_unused1_mask.png"))
    assert mask.shape == (30, 40) and set(np.unique(mask)) <= {0, 255}
    overlay = Image.open(out / "01_unused2_unused3_overlay.png")
    assert overlay.size == (40, 30) and overlay.mode == "RGB"
    assert "unused1" in capsys.readouterr().out


def test_segment_cli_reports_bad_image_without_traceback(tiny_checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    rc = main(
        [
            "segment",
            "--checkpoint",
            str(tiny_checkpoint),
            "--image",
            str(bad),
            "--text",
            "x",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    assert "cannot read image" in capsys.readouterr().err
