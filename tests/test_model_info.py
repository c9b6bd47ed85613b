"""Model files record the input size they were trained at; every command runs at it."""

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from lgformer.bundled import BUNDLED_IMAGE_SIZE, bundled_weights_path
from lgformer.checkpoints import load_model, save_model
from lgformer.cli import main
from lgformer.errors import LGFormerError
from lgformer.inference import ReferringSegmenter
from lgformer.model_info import RELEASED_IMAGE_SIZE, ModelInfo, choose_image_size
from tests.conftest import make_tiny_model
from tests.refer_fixtures import build_refer


def _image(tmp_path):
    path = tmp_path / "img.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 56, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_safetensors_records_image_size_and_origin(tmp_path):
    model = make_tiny_model()
    path = save_model(model, tmp_path / "m.safetensors", info=ModelInfo(96, "a test"))
    assert load_model(path).model_info == ModelInfo(96, "a test")
    resaved = save_model(load_model(path), tmp_path / "again.safetensors")  # carried along
    assert load_model(resaved).model_info == ModelInfo(96, "a test")


def test_file_without_a_size_runs_at_480_and_a_sidecar_supplies_one(tmp_path):
    path = save_model(make_tiny_model(), tmp_path / "old.safetensors")
    assert load_model(path).model_info == ModelInfo()
    assert choose_image_size(ModelInfo(), None)[0] == RELEASED_IMAGE_SIZE == 480
    (tmp_path / "old.json").write_text(json.dumps({"image_size": 64, "origin": "sidecar"}))
    assert load_model(path).model_info == ModelInfo(64, "sidecar")
    (tmp_path / "old.json").write_text(json.dumps({"image_size": "big"}))
    with pytest.raises(LGFormerError, match="image_size must be a whole number"):
        load_model(path)


def test_training_and_released_torch_files(tmp_path):
    model = make_tiny_model()
    training = tmp_path / "last.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "model_config": model.config.to_dict(),
            "config": {"data": {"image_size": 96}},
            "step": 7,
        },
        training,
    )
    info = load_model(training).model_info
    assert info.image_size == 96 and "step 7" in info.origin
    released = tmp_path / "released.pth"
    torch.save({"model": model.state_dict()}, released)
    seg = ReferringSegmenter.from_checkpoint(released, device="cpu", preset="test_tiny")
    assert seg.image_size == 480 and "none recorded" in seg.description


def test_bundled_model_knows_its_size():
    assert load_model(bundled_weights_path()).model_info.image_size == BUNDLED_IMAGE_SIZE == 128


def test_predictor_uses_the_recorded_size_and_warns_when_told_otherwise(tmp_path):
    model = make_tiny_model()
    model.model_info = ModelInfo(image_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ReferringSegmenter(model, device="cpu").image_size == 64
        assert ReferringSegmenter(model, device="cpu", image_size=64).image_size == 64
    with pytest.warns(UserWarning, match="trained at 64 px"):
        assert ReferringSegmenter(model, device="cpu", image_size=96).image_size == 96


@pytest.fixture(scope="module")
def bundled_line():
    return f"input {BUNDLED_IMAGE_SIZE}x{BUNDLED_IMAGE_SIZE} px (the size it was trained at)"


def test_segment_without_checkpoint_runs_the_bundled_model_at_its_size(
    tmp_path, capsys, bundled_line
):
    argv = ["segment", "--image", str(_image(tmp_path)), "--text", "the red circle"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("model: the bundled model (") and out[0].endswith(bundled_line)
    assert sum(line.startswith("model:") for line in out) == 1


def test_demo_runs_the_bundled_model_at_its_size(tmp_path, capsys, bundled_line):
    assert main(["demo", "--seed", "1", "--out", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(bundled_line)


@pytest.mark.parametrize(
    ("extra", "size"), [([], BUNDLED_IMAGE_SIZE), (["--image-size", "96"], 96)]
)
def test_serve_runs_the_bundled_model_at_its_size(segmenters_built_by_serve, recwarn, extra, size):
    assert main(["serve", "--port", "0", "--device", "cpu", *extra]) == 2
    assert [seg.image_size for seg in segmenters_built_by_serve] == [size]
    warned = any("trained at 128 px" in str(w.message) for w in recwarn)
    assert warned == (size != BUNDLED_IMAGE_SIZE)


def test_evaluate_runs_the_bundled_model_at_its_size(tmp_path, capsys, bundled_line):
    refcoco = build_refer(tmp_path / "data")
    summary = tmp_path / "summary.json"
    argv = [
        "evaluate", "--checkpoint", str(bundled_weights_path()), "--data-root",
        str(refcoco.root), "--split", "val", "--num-workers", "0", "--device", "cpu",
        "--no-progress", "--output", str(summary),
    ]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixture truncates one sentence on purpose
        assert main(argv) == 0
    assert json.loads(summary.read_text())["image_size"] == BUNDLED_IMAGE_SIZE
    assert any(line.endswith(bundled_line) for line in capsys.readouterr().out.splitlines())


def test_version(capsys):
    from lgformer import __version__

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"lgformer {__version__}\n"


def test_large_models_print_their_loading_steps(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    from lgformer.commands import progress

    argv = ["segment", "--checkpoint", str(tiny_checkpoint), "--image", str(_image(tmp_path))]
    argv += ["--text", "[unused1]", "--device", "cpu", "--image-size", "64"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "lgformer: reading" not in capsys.readouterr().err  # small: silent
    monkeypatch.setattr(progress, "LONG_LOAD_BYTES", 1)
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    steps = [line.split(" ")[1] for line in capsys.readouterr().err.splitlines()]
    assert steps == ["reading", "building", "loading"]
