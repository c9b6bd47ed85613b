"""Checkpoints whose sizes lie: the model is checked against the file's tensor shapes
before it is built, and built on the meta device, so a lie costs no memory."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from lgformer.checkpoints import load_model, save_model
from lgformer.config import build_config
from lgformer.errors import CheckpointMismatchError, LGFormerError
from tests.conftest import make_tiny_model
from tests.security.capped import one_line_error, run_capped


def _lying_safetensors(tmp_path, **swin) -> str:
    """The tiny model's weights with a stored config whose Swin section says ``swin``."""
    from safetensors.torch import save_file

    config = build_config("test_tiny").to_dict()
    config["swin"].update(swin)
    path = tmp_path / "lying.safetensors"
    sd = {k: v.contiguous() for k, v in make_tiny_model().state_dict().items()}
    save_file(sd, str(path), metadata={"lgformer_config": json.dumps(config)})
    return str(path)


def _segment(tmp_path, checkpoint: str):
    image = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (120, 30, 200)).save(image)
    return run_capped(
        "segment", "--checkpoint", checkpoint, "--image", str(image), "--text", "the cat",
        "--out", str(tmp_path / "masks"), "--device", "cpu", "--image-size", "64",
    )  # fmt: skip


def test_stored_config_with_a_huge_width_is_refused_in_one_line_under_a_memory_cap(tmp_path):
    """embed_dim 4096 over test_tiny's depths would be a ~35 GB model."""
    result = _segment(tmp_path, _lying_safetensors(tmp_path, embed_dim=4096))
    line = one_line_error(result)
    assert "says swin.embed_dim=4096 but its tensors have 16" in line, line
    assert "not loaded" in line


def test_stored_config_lying_in_a_training_checkpoint(tmp_path):
    config = build_config("test_tiny").to_dict()
    config["swin"]["depths"] = [1, 2, 400, 1]
    path = tmp_path / "last.pt"
    torch.save({"model": make_tiny_model().state_dict(), "model_config": config}, path)
    with pytest.raises(CheckpointMismatchError, match=r"swin\.depths=\(1, 2, 400, 1\)") as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_released_style_file_with_a_tensor_bigger_than_its_data_is_refused(tmp_path):
    """A pickle can give a tensor any shape over one stored number (stride 0); the
    config inferred from such a shape would be a huge model."""
    sd = make_tiny_model().state_dict()
    sd["backbone.patch_embed.proj.weight"] = torch.zeros(1).expand(4096, 3, 4, 4)
    path = tmp_path / "released.pth"
    torch.save({"model": sd}, path)
    result = _segment(tmp_path, str(path))
    line = one_line_error(result)
    assert "backbone.patch_embed.proj.weight has shape (4096, 3, 4, 4)" in line, line
    with pytest.raises(LGFormerError, match="holds less data than that"):
        load_model(path)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_loading_draws_no_random_init(tmp_path, suffix):
    """The model is built on the meta device and takes the file's tensors: the global RNG
    is untouched (a random init would draw from it) and the weights are the file's."""
    source = make_tiny_model(seed=3)
    if suffix == ".safetensors":
        path = save_model(source, tmp_path / "m.safetensors")
    else:
        path = tmp_path / "last.pt"  # a training checkpoint, which stores its config
        torch.save({"model": source.state_dict(), "model_config": source.config.to_dict()}, path)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    model = load_model(path)
    assert torch.equal(torch.get_rng_state(), before)
    theirs = source.state_dict()
    for key, value in model.state_dict().items():
        assert value.device.type == "cpu" and torch.equal(value, theirs[key]), key
    images = torch.rand(1, 3, 64, 64)
    words = torch.randint(1, 100, (1, 20))
    with torch.no_grad():
        expected = source(images, words, torch.ones_like(words)).mask_logits[-1]
        assert torch.equal(model(images, words, torch.ones_like(words)).mask_logits[-1], expected)
