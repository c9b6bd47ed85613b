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


def _jpeg_with_broken_exif(path):
    """A fine 30x40 JPEG whose EXIF block has a corrupt TIFF header (byte order ``XX``)."""
    img = Image.fromarray(_rgb(30, 40))
    exif = img.getexif()
    exif[0x0112] = 6
    raw = exif.tobytes()
    assert raw[6:8] in (b"MM", b"II")
    img.save(path, exif=raw[:6] + b"XX" + raw[8:])
    return path


def test_broken_exif_metadata_warns_and_keeps_the_image(segmenter, tmp_path):
    from lgformer.data.image_io import load_rgb

    path = _jpeg_with_broken_exif(tmp_path / "camera.jpg")
    with pytest.warns(UserWarning, match="unreadable EXIF"):
        assert load_rgb(path).shape == (30, 40, 3)  # as stored: the orientation is unreadable
    with pytest.warns(UserWarning, match="unreadable EXIF"):
        assert segmenter.segment(path, ["[unused1]"]).shape == (1, 30, 40)


@pytest.mark.parametrize("orientation", range(10))
def test_exif_orientations_match_pillow(tmp_path, orientation):
    from PIL import ImageOps

    from lgformer.data.image_io import load_rgb

    img = Image.fromarray(_rgb(6, 8))
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    img.save(path, exif=exif)
    with Image.open(path) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    np.testing.assert_array_equal(load_rgb(path), expected)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` RGB but holds almost no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path):
    from lgformer.data.image_io import MAX_PIXELS, decode_image_bytes, load_rgb

    side = int((1.5 * MAX_PIXELS) ** 0.5)  # over the limit, under Pillow's own 2x refusal
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(side, side))
    with pytest.raises(LGFormerError, match="too large"):
        load_rgb(path)
    with pytest.raises(LGFormerError, match="uploaded image is too large"):
        decode_image_bytes(path.read_bytes())


def test_a_directory_given_as_image_is_named_as_such(tmp_path):
    from lgformer.data.image_io import load_rgb

    with pytest.raises(LGFormerError, match="is a directory"):
        load_rgb(tmp_path)


def test_unusable_device_or_image_size_gets_a_clear_error(tiny_checkpoint):
    import torch

    with pytest.raises(LGFormerError, match="unknown device 'tpu9'"):
        ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(LGFormerError, match="no CUDA GPU"):
            ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cuda")
    else:
        with pytest.raises(LGFormerError, match="CUDA GPU"):
            ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cuda:99")
    for size in (0, -480, 1, 63):
        with pytest.raises(LGFormerError, match="image size must be a whole number of pixels, at"):
            ReferringSegmenter.from_checkpoint(tiny_checkpoint, device="cpu", image_size=size)
    assert (
        ReferringSegmenter.from_checkpoint(
            tiny_checkpoint, device="cpu", image_size=np.int64(64)
        ).image_size
        == 64
    )


def _segment_cli(checkpoint, image, out, *extra):
    args = ["segment", "--checkpoint", str(checkpoint), "--image", str(image), "--text", "x"]
    return main([*args, "--out", str(out), "--image-size", "64", *extra])


def test_segment_cli_reports_an_unusable_out_dir_before_running(tiny_checkpoint, tmp_path, capsys):
    image = tmp_path / "img.png"
    Image.fromarray(_rgb()).save(image)
    a_file = tmp_path / "taken"
    a_file.write_text("keep me")
    assert _segment_cli(tiny_checkpoint, image, a_file, "--device", "cpu") == 2
    assert "output directory" in capsys.readouterr().err and a_file.read_text() == "keep me"
    assert _segment_cli(tiny_checkpoint, image, a_file / "sub", "--device", "cpu") == 2
    assert "cannot write to output directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--device", "gpu", "error: unknown device 'gpu'"),
        ("--preset", "nope", "error: unknown preset 'nope'; choose from ["),
    ],
)
def test_segment_cli_reports_a_bad_option_without_traceback(
    tiny_checkpoint, tmp_path, capsys, option, value, message
):
    image = tmp_path / "img.png"
    Image.fromarray(_rgb()).save(image)
    assert _segment_cli(tiny_checkpoint, image, tmp_path / "o", option, value) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_demo_cli_refuses_zero_scenes_and_negative_seeds(tmp_path, capsys):
    assert main(["demo", "--scenes", "0", "--out", str(tmp_path / "d")]) == 2
    assert "--scenes must be at least 1" in capsys.readouterr().err
    assert main(["demo", "--seed", "-3", "--out", str(tmp_path / "d")]) == 2
    assert "--seed must be 0 or more" in capsys.readouterr().err


def test_sentences_that_are_not_strings_are_named(segmenter):
    for bad in (None, b"the dog", 3):
        with pytest.raises(LGFormerError, match=f"must be strings, got {type(bad).__name__}"):
            segmenter.segment(_rgb(), ["[unused1]", bad])
        with pytest.raises(LGFormerError, match="a string or a list of strings"):
            segmenter.segment(_rgb(), bad)
    from_generator = segmenter.segment(_rgb(), (s for s in ["[unused1]", "[unused2]"]))
    assert np.array_equal(from_generator, segmenter.segment(_rgb(), ["[unused1]", "[unused2]"]))
    with pytest.raises(LGFormerError, match="at least one sentence"):
        segmenter.segment(_rgb(), [])


def test_readme_truncation_limit_matches_the_tokenizer():
    """README: "sentences longer than N word pieces are truncated with a warning"."""
    import re
    from pathlib import Path

    from lgformer.tokenizer import SentenceTokenizer

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    match = re.search(r"sentences longer than (\d+) word\s+pieces", readme)
    assert match, "the README no longer states the truncation limit"
    limit = int(match.group(1))
    tokenizer = SentenceTokenizer()
    assert len(tokenizer._tokenizer.tokenize("dog " * limit)) == limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tokenizer(["dog " * limit])  # at the limit: kept whole
    with pytest.warns(UserWarning, match="truncated"):
        tokenizer(["dog " * (limit + 1)])


def test_masks_and_logits_match_a_full_batch_upsampling(segmenter):
    """Upsampling one sentence at a time gives what one batched interpolate gave."""
    import torch
    import torch.nn.functional as F

    rgb, sentences = _rgb(), ["[unused1]", "[unused5] [unused7]", "[unused2]"]
    low_res = []
    hook = segmenter.model.register_forward_hook(lambda m, i, out: low_res.append(out.pred_logits))
    try:
        masks = segmenter.segment(rgb, sentences)
        logits = segmenter.predict_logits(rgb, sentences)
    finally:
        hook.remove()
    full = F.interpolate(low_res[0].float(), size=(37, 53), mode="bilinear", align_corners=False)
    full = full[:, 0]  # (N, H, W): the previous all-at-once upsampling
    assert 0 < (full > 0).float().mean() < 1  # both signs: the comparison means something
    np.testing.assert_array_equal(masks, (full > 0).numpy())
    torch.testing.assert_close(logits, full, rtol=0, atol=0)
    assert logits.dtype == torch.float32 and logits.device.type == "cpu"


def test_upsampling_holds_one_sentence_at_a_time(segmenter, monkeypatch):
    """Full-size maps exist for one sentence at a time: 16 float32 (H, W) maps of a
    400 MP photo would be 26 GB."""
    import torch

    real = torch.nn.functional.interpolate
    batches = []  # batch size of each interpolation to the image's size

    def spy(input, size=None, *args, **kwargs):  # noqa: A002 (torch's name)
        if size is not None and tuple(size) == (37, 53):
            batches.append(input.shape[0])
        return real(input, size, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "interpolate", spy)
    sentences = ["[unused1]", "[unused2]", "[unused3]", "[unused4]"]
    assert segmenter.segment(_rgb(), sentences).shape == (4, 37, 53)
    assert batches == [1] * 4
    batches.clear()
    assert segmenter.predict_logits(_rgb(), sentences).shape == (4, 37, 53)
    assert batches == [1] * 4


def test_the_cli_web_server_and_demo_take_the_memory_light_path(
    tiny_checkpoint, segmenter, tmp_path, monkeypatch
):
    """None of them may go through ``predict_logits`` (N float32 full-size maps)."""
    from tests.inference.server.serving import png_b64, post_json, running_server

    def refuse(self, image, sentences):
        raise AssertionError("predict_logits called")

    monkeypatch.setattr(ReferringSegmenter, "predict_logits", refuse)
    image = tmp_path / "img.png"
    Image.fromarray(_rgb()).save(image)
    assert _segment_cli(tiny_checkpoint, image, tmp_path / "o", "--device", "cpu") == 0
    with running_server(segmenter) as (url, _):
        status, answer = post_json(url, {"image": png_b64(_rgb()), "sentences": ["[unused1]"]})
    assert status == 200 and len(answer["results"]) == 1
    assert main(["demo", "--seed", "3", "--out", str(tmp_path / "demo")]) == 0
    sheet = Image.open(tmp_path / "demo" / "scene_3" / "contact_sheet.png")
    assert sheet.width >= 4 * 320  # one labelled tile per expression, readable size


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_demo_and_serve_refuse_an_image_size_below_64(command, tmp_path, capsys):
    extra = ["--out", str(tmp_path / "d")] if command == "demo" else ["--port", "0"]
    for size in ("0", "-5", "32"):
        assert main([command, "--image-size", size, *extra]) == 2
        err = capsys.readouterr().err
        assert err == (
            f"error: image size must be a whole number of pixels, at least 64, got {size}\n"
        )
    assert not (tmp_path / "d").exists()


def test_cli_warnings_are_one_line_without_source_code(tiny_checkpoint, tmp_path):
    import subprocess
    import sys

    image = tmp_path / "img.png"
    Image.fromarray(_rgb()).save(image)
    cmd = [
        sys.executable, "-m", "lgformer.cli", "segment", "--checkpoint", str(tiny_checkpoint),
        "--image", str(image), "--text", "the " * 40, "--out", str(tmp_path / "o"),
        "--image-size", "64", "--device", "cpu",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "truncated" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: sentence has 42 ids")
    assert "tokenizer.py" not in proc.stderr and "warnings.warn" not in proc.stderr
