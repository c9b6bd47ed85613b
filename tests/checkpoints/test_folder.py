"""Hugging Face-style model folders: save_pretrained / from_pretrained and ``lgformer convert``."""

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from lgformer.checkpoints import load_model
from lgformer.cli import main
from lgformer.config import LGFormerConfig, build_config
from lgformer.errors import LGFormerError
from lgformer.model import LGFormer, build_lgformer
from lgformer.model_info import ModelInfo
from tests.conftest import make_tiny_model


def _equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture()
def offline(monkeypatch):
    """No hub access (as ``HF_HUB_OFFLINE=1``): a hub id fails, a folder needs none."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_save_and_from_pretrained_round_trip_offline(tmp_path, offline, monkeypatch):
    model = make_tiny_model()
    model.model_info = ModelInfo(image_size=64, origin="a test")
    model.save_pretrained(tmp_path / "m")
    assert {"config.json", "model.safetensors"} <= {p.name for p in (tmp_path / "m").iterdir()}
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["image_size"] == 64
    assert LGFormerConfig.from_dict(config["model_config"]) == model.config

    def no_pickle(*args, **kwargs):
        raise AssertionError("a model folder must load without torch.load")

    monkeypatch.setattr(torch, "load", no_pickle)
    for loaded in (LGFormer.from_pretrained(tmp_path / "m"), load_model(tmp_path / "m")):
        assert _equal(loaded, model) and not loaded.training
        assert loaded.model_info == ModelInfo(image_size=64, origin="a test")
        assert loaded.config == model.config


def test_from_pretrained_of_an_unknown_id_offline_is_a_clear_error(tmp_path, offline):
    with pytest.raises(LGFormerError, match="cannot get model 'nobody/no-such-model'"):
        LGFormer.from_pretrained("nobody/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LGFormerError, match="without model.safetensors"):
        LGFormer.from_pretrained(tmp_path / "empty")


def _released_file(tmp_path, shared_parity_dir):
    """A released-format file: ``{'model': state_dict}`` (plus the training script's
    argparse namespace) holding exactly the keys of the released layout.

    The model is test_tiny with a text width (64) other than the decoders' (32), as in the
    release (768 vs 256): attention then keeps separate q/k/v projections, as released.
    """
    data = build_config("test_tiny").to_dict()
    data["text"].update(hidden_size=64, num_attention_heads=1)
    torch.manual_seed(0)
    model = build_lgformer(LGFormerConfig.from_dict(data)).eval()
    manifest = json.loads((shared_parity_dir / "official_manifest_swin_base_w12.json").read_text())
    released_keys = {entry["key"] for entry in manifest}
    params = {k for k, _ in model.named_parameters()}
    assert params <= released_keys  # the small preset's names are the release's names
    sd = {k: v for k, v in model.state_dict().items() if k in released_keys}
    path = tmp_path / "lgformer_small.pth"
    torch.save({"model": sd, "args": argparse.Namespace(lr=5e-5)}, path)
    return path, model


def test_convert_a_released_file(tmp_path, shared_parity_dir, capsys, offline):
    released, model = _released_file(tmp_path, shared_parity_dir)
    out = tmp_path / "folder"
    assert main(["convert", str(released), str(out), "--image-size", "64"]) == 0
    printed = capsys.readouterr().out
    assert "none recorded" not in printed and "reads back equal" in printed
    loaded = LGFormer.from_pretrained(out)
    assert _equal(loaded, model)
    assert loaded.model_info == ModelInfo(64, "converted from lgformer_small.pth by lgformer 0.1.0")

    # Without --image-size a released file records 480, the released recipe's size.
    assert main(["convert", str(released), str(tmp_path / "f480")]) == 0
    assert json.loads((tmp_path / "f480" / "config.json").read_text())["image_size"] == 480

    # The folder works where a checkpoint does, at its recorded size.
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(image)
    argv = ["segment", "--checkpoint", str(out), "--image", str(image), "--text", "[unused1]"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--device", "cpu"]) == 0
    assert "input 64x64 px (the size it was trained at)" in capsys.readouterr().out

    capsys.readouterr()
    assert main(["convert", str(released), str(out)]) == 2  # refuses to overwrite
    assert "is not an empty folder" in capsys.readouterr().err


def test_evaluate_takes_a_model_folder(tmp_path):
    from tests.refer_fixtures import build_refer

    refcoco = build_refer(tmp_path / "data")
    model = make_tiny_model()
    model.model_info = ModelInfo(image_size=64)
    model.save_pretrained(tmp_path / "m")
    summary = tmp_path / "s.json"
    argv = [
        "evaluate", "--checkpoint", str(tmp_path / "m"), "--data-root", str(refcoco.root),
        "--num-workers", "0", "--device", "cpu", "--no-progress", "--output", str(summary),
    ]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(summary.read_text())["image_size"] == 64


def test_folder_weights_are_views_of_the_mapped_file_not_copies(tmp_path):
    """The folder's tensors become the parameters in place, as a ``.pth`` read with
    ``torch.load(mmap=True)`` does: nearly all parameter bytes lie in one storage, the
    mapping of ``model.safetensors``, each tensor 64-byte aligned there. A loader that
    copied every tensor would leave none there."""
    from safetensors.torch import load_file

    model = make_tiny_model()
    model.save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    reference = load_file(str(weights))  # a standard safetensors file
    assert reference.keys() == model.state_dict().keys()
    assert all(torch.equal(reference[k], v) for k, v in model.state_dict().items())

    loaded = LGFormer.from_pretrained(tmp_path / "m")
    assert _equal(loaded, model)
    size = weights.stat().st_size
    params = list(loaded.parameters())
    in_file = [p for p in params if p.untyped_storage().nbytes() == size]
    assert len({p.untyped_storage().data_ptr() for p in in_file}) == 1
    assert all(p.data_ptr() % 64 == 0 for p in in_file)
    mapped = sum(p.nbytes for p in in_file) / sum(p.nbytes for p in params)
    assert mapped > 0.9, f"only {mapped:.0%} of the parameter bytes are mapped"
