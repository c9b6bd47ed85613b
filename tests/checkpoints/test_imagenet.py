"""Loading an official-format Swin ImageNet checkpoint (made here) into the backbone."""

import pytest
import torch
import torch.nn.functional as F

from lgformer.checkpoints.imagenet import (
    filter_swin_imagenet,
    load_swin_imagenet,
    resize_bias_table,
)
from lgformer.config import build_config
from lgformer.errors import CheckpointMismatchError
from lgformer.model import build_lgformer
from lgformer.model.swin import relative_position_index


def _official_checkpoint(backbone, window: int) -> dict:
    """What the Swin release ships, for the Swin part of ``backbone`` with another window."""
    gen = torch.Generator().manual_seed(0)
    sd = {}
    for key, value in backbone.state_dict().items():
        if (
            not key.startswith(("patch_embed.", "layers."))
            or ".fusion." in key
            or "res_gate" in key
        ):
            continue
        if key.endswith("relative_position_index"):
            sd[key] = relative_position_index(window)
        elif key.endswith("relative_position_bias_table"):
            sd[key] = torch.randn((2 * window - 1) ** 2, value.shape[1], generator=gen)
        else:
            sd[key] = torch.randn(value.shape, generator=gen)
    dim = backbone.norm3.weight.shape[0]
    sd["layers.0.blocks.1.attn_mask"] = torch.zeros(4, window * window, window * window)
    sd["norm.weight"], sd["norm.bias"] = torch.ones(dim), torch.zeros(dim)
    sd["head.weight"], sd["head.bias"] = torch.randn(1000, dim, generator=gen), torch.zeros(1000)
    return {"model": sd}


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return build_lgformer(build_config("test_tiny"))  # window 4


def test_load_with_window_change(tmp_path, model):
    ckpt = _official_checkpoint(model.backbone, window=7)
    path = tmp_path / "swin_tiny_patch4_window7_224.pth"
    torch.save(ckpt, path)
    fusion_before = model.backbone.layers[0].fusion.project_mm[0].weight.clone()

    report = load_swin_imagenet(model.backbone, path)

    sd = model.backbone.state_dict()
    src = ckpt["model"]
    assert torch.equal(sd["patch_embed.proj.weight"], src["patch_embed.proj.weight"])
    assert torch.equal(sd["layers.1.blocks.1.mlp.fc2.bias"], src["layers.1.blocks.1.mlp.fc2.bias"])
    assert torch.equal(
        sd["layers.0.downsample.reduction.weight"], src["layers.0.downsample.reduction.weight"]
    )
    # Bias tables: 13x13 -> 7x7 bicubic; the index buffers stay the model's own (window 4).
    key = "layers.2.blocks.0.attn.relative_position_bias_table"
    heads = src[key].shape[1]
    grid = src[key].t().reshape(1, heads, 13, 13)
    want = F.interpolate(grid, size=(7, 7), mode="bicubic", align_corners=False)
    assert torch.allclose(sd[key], want.reshape(heads, 49).t())
    assert torch.equal(
        sd["layers.0.blocks.0.attn.relative_position_index"], relative_position_index(4)
    )
    tables = [k for k in sd if k.endswith("relative_position_bias_table")]
    assert sorted(report.resized) == sorted(tables)
    # Dropped: classifier head, final norm, recomputed buffers. Nothing unexpected.
    assert {"head.weight", "head.bias", "norm.weight", "norm.bias"} <= set(report.dropped)
    assert "layers.0.blocks.1.attn_mask" in report.dropped
    assert report.unexpected == []
    # Missing: exactly the LGFormer-only parts, which keep their initialisation.
    assert report.missing and all(
        (
            ".fusion." in k
            or "res_gate" in k
            or k.split(".")[0] in {"norm0", "norm1", "norm2", "norm3"}
        )
        for k in report.missing
    )
    assert torch.equal(model.backbone.layers[0].fusion.project_mm[0].weight, fusion_before)
    assert "resized" in report.summary("swin")


def test_same_window_is_identity_and_constant_stays_constant():
    table = torch.randn(49, 3)
    assert resize_bias_table(table, 4) is table
    const = torch.full((169, 2), 0.25)
    assert torch.allclose(resize_bias_table(const, 12), torch.full((529, 2), 0.25), atol=1e-6)


def test_unexpected_keys_are_reported(model):
    ckpt = _official_checkpoint(model.backbone, window=4)
    ckpt["model"]["layers.0.blocks.5.mlp.fc1.weight"] = torch.zeros(2, 2)
    _, report = filter_swin_imagenet(ckpt, model.backbone.state_dict())
    assert report.unexpected == ["layers.0.blocks.5.mlp.fc1.weight"] and not report.resized


def test_other_swin_size_raises(model):
    ckpt = _official_checkpoint(model.backbone, window=7)
    ckpt["model"]["patch_embed.proj.weight"] = torch.zeros(24, 3, 4, 4)
    with pytest.raises(CheckpointMismatchError, match="patch_embed.proj.weight"):
        load_swin_imagenet(model.backbone, ckpt)


def test_truncated_checkpoint_raises(model):
    ckpt = _official_checkpoint(model.backbone, window=7)
    del ckpt["model"]["layers.1.blocks.0.attn.qkv.weight"]
    with pytest.raises(CheckpointMismatchError, match="qkv"):
        load_swin_imagenet(model.backbone, ckpt)
