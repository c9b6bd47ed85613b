"""``build_model`` applies the ``init`` section: Swin ImageNet, BERT, a whole checkpoint."""

import torch

from lgformer.checkpoints import load_model
from lgformer.engine.run import build_model
from tests.checkpoints.test_imagenet import _official_checkpoint

from .tiny_data import tiny_config


def test_fine_tuning_starts_from_a_whole_checkpoint(tmp_path, tiny_checkpoint):
    cfg = tiny_config(tmp_path, f"init.checkpoint={tiny_checkpoint}")
    lines = []
    model = build_model(cfg, log=lines.append)
    reference = load_model(tiny_checkpoint)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert any("all tensors loaded" in line for line in lines)
    # Resuming skips the files: the checkpoint being resumed holds everything.
    fresh = build_model(cfg, load_pretrained=False, log=lines.append)
    assert not torch.equal(
        fresh.state_dict()["classifier.txt_proj.weight"],
        reference.state_dict()["classifier.txt_proj.weight"],
    )


def test_swin_imagenet_weights_are_loaded_and_reported(tmp_path):
    probe = build_model(tiny_config(tmp_path), load_pretrained=False)
    ckpt = _official_checkpoint(probe.backbone, window=7)
    torch.save(ckpt, tmp_path / "swin.pth")
    lines = []
    model = build_model(
        tiny_config(tmp_path, f"init.swin={tmp_path / 'swin.pth'}"), log=lines.append
    )
    key = "layers.1.blocks.0.attn.qkv.weight"
    assert torch.equal(model.backbone.state_dict()[key], ckpt["model"][key])
    assert "Swin ImageNet weights" in lines[0] and "resized" in lines[0]
