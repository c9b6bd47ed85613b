"""swin.absolute_position_grid: an optional learned absolute position embedding (Swin's ape)."""

import pytest
import torch

from lgformer.checkpoints import infer_config, load_swin_imagenet
from lgformer.config import LGFormerConfig, build_config
from lgformer.engine.optimizer import parameter_groups
from lgformer.model.lgformer import build_lgformer


def _config(grid: int) -> LGFormerConfig:
    data = build_config("test_tiny").to_dict()
    data["swin"]["absolute_position_grid"] = grid
    return LGFormerConfig.from_dict(data)


def test_released_configs_have_none() -> None:
    model = build_lgformer(build_config("test_tiny"))
    assert model.backbone.absolute_pos_embed is None
    assert not any("absolute_pos_embed" in k for k in model.state_dict())


def test_the_embedding_is_added_to_the_patch_tokens() -> None:
    torch.manual_seed(0)
    model = build_lgformer(_config(8)).eval()
    embed = model.backbone.absolute_pos_embed
    assert tuple(embed.shape) == (1, model.config.swin.embed_dim, 8, 8)
    image = torch.randn(2, 3, 32, 32)  # 8 x 8 patches: the table as is
    plain, h, w = model.backbone.patch_embed(image)
    tokens, h2, w2 = model.backbone.embed_patches(image)
    assert (h, w) == (h2, w2) == (8, 8)
    assert torch.allclose(
        tokens - plain, embed.flatten(2).transpose(1, 2).expand_as(plain), atol=1e-6
    )
    # Every token gets its own position: the two image corners differ after embedding
    # identical pixels.
    flat = torch.zeros(1, 3, 32, 32)
    tokens, _, _ = model.backbone.embed_patches(flat)
    assert not torch.allclose(tokens[0, 0], tokens[0, -1])


def test_other_sizes_resize_the_table_and_the_model_runs() -> None:
    torch.manual_seed(0)
    model = build_lgformer(_config(8)).eval()
    image = torch.randn(1, 3, 48, 40)  # 12 x 10 patches
    tokens, h, w = model.backbone.embed_patches(image)
    assert (h, w) == (12, 10) and tokens.shape[1] == 120
    words = torch.randint(1000, 2000, (1, 6))
    with torch.no_grad():
        logits = model(image, words, torch.ones(1, 6, dtype=torch.long))
    assert torch.isfinite(logits.pred_logits).all()


def test_it_is_learned_without_weight_decay() -> None:
    model = build_lgformer(_config(8))
    groups = {g["name"]: g for g in parameter_groups(model, weight_decay=0.01)}
    embed = model.backbone.absolute_pos_embed
    assert any(p is embed for p in groups["backbone_no_decay"]["params"])
    assert groups["backbone_no_decay"]["weight_decay"] == 0.0


def test_config_is_inferred_from_a_state_dict_and_reloads() -> None:
    model = build_lgformer(_config(8))
    state = model.state_dict()
    assert infer_config(state).swin.absolute_position_grid == 8
    assert (
        infer_config(
            build_lgformer(build_config("test_tiny")).state_dict()
        ).swin.absolute_position_grid
        == 0
    )
    again = build_lgformer(infer_config(state))
    again.load_state_dict(state)
    assert torch.equal(again.backbone.absolute_pos_embed, model.backbone.absolute_pos_embed)


def test_imagenet_weights_without_one_leave_it_initialised() -> None:
    model = build_lgformer(_config(8))
    before = model.backbone.absolute_pos_embed.detach().clone()
    swin_only = {
        k: v.clone()
        for k, v in model.backbone.state_dict().items()
        if not any(p in k for p in (".fusion.", "res_gate", "absolute_pos_embed"))
        and not k.startswith("norm")
    }
    report = load_swin_imagenet(model.backbone, swin_only)
    assert "absolute_pos_embed" in report.missing
    assert torch.equal(model.backbone.absolute_pos_embed, before)


def test_a_negative_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute_position_grid"):
        build_lgformer(_config(-1))
