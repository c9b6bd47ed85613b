"""``build_model`` applies the ``init`` section: Swin ImageNet, BERT, a whole checkpoint."""

import torch

from lgformer.checkpoints import load_model
from lgformer.engine.run import build_model
from tests.checkpoints.test_imagenet import _official_checkpoint

from .tiny_data import tiny_config


def real_inits(monkeypatch) -> list[tuple[int, ...]]:
    """The shapes of the real (not meta) tensors given ``nn.init.trunc_normal_`` from now
    on: the Swin linears' init, so every randomly initialised model draws it."""
    calls: list[tuple[int, ...]] = []
    original = torch.nn.init.trunc_normal_

    def spy(tensor, *args, **kwargs):
        if not tensor.is_meta:
            calls.append(tuple(tensor.shape))
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "trunc_normal_", spy)
    return calls


def test_fine_tuning_builds_the_model_from_the_checkpoint_alone(
    tmp_path, tiny_checkpoint, monkeypatch
):
    cfg = tiny_config(tmp_path, f"init.checkpoint={tiny_checkpoint}", "objective.gate_std=0.02")
    lines = []
    calls = real_inits(monkeypatch)
    torch.manual_seed(0)
    rng = torch.get_rng_state()
    model = build_model(cfg, log=lines.append)
    assert calls == [] and torch.equal(torch.get_rng_state(), rng)  # nothing drawn
    reference = load_model(tiny_checkpoint)
    assert model.state_dict().keys() == reference.state_dict().keys()
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
        assert not model.state_dict()[key].is_meta
    assert any("all tensors loaded" in line for line in lines)
    # A fresh run draws its initial weights (so the checks above can fail).
    build_model(tiny_config(tmp_path))
    assert calls and not torch.equal(torch.get_rng_state(), rng)


def test_fine_tuning_does_not_read_the_files_the_checkpoint_replaces(tmp_path, tiny_checkpoint):
    missing = tmp_path / "no-such-swin.pth"
    cfg = tiny_config(tmp_path, f"init.checkpoint={tiny_checkpoint}", f"init.swin={missing}")
    lines = []
    build_model(cfg, log=lines.append)
    assert lines[0] == f"init.swin not read: {tiny_checkpoint} sets every tensor"


def test_swin_imagenet_weights_are_loaded_and_reported(tmp_path):
    probe = build_model(tiny_config(tmp_path))
    ckpt = _official_checkpoint(probe.backbone, window=7)
    torch.save(ckpt, tmp_path / "swin.pth")
    lines = []
    model = build_model(
        tiny_config(tmp_path, f"init.swin={tmp_path / 'swin.pth'}"), log=lines.append
    )
    key = "layers.1.blocks.0.attn.qkv.weight"
    assert torch.equal(model.backbone.state_dict()[key], ckpt["model"][key])
    assert "Swin ImageNet weights" in lines[0] and "resized" in lines[0]
