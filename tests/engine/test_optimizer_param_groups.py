import pytest
import torch

from lgformer.config import build_config
from lgformer.engine.optimizer import build_optimizer, parameter_groups
from lgformer.model import build_lgformer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_lgformer(build_config("test_tiny"))


def _names(model, optimizer):
    by_id = {id(p): n for n, p in model.named_parameters()}
    return {g["name"]: {by_id[id(p)] for p in g["params"]} for g in optimizer.param_groups}


def test_four_groups_as_released(model):
    opt = build_optimizer(model, lr=5e-5, weight_decay=1e-2)
    names = _names(model, opt)
    assert list(names) == ["backbone_no_decay", "backbone", "decoder", "text_encoder"]
    decay = {g["name"]: g["weight_decay"] for g in opt.param_groups}
    assert decay == {
        "backbone_no_decay": 0.0,
        "backbone": 1e-2,
        "decoder": 1e-2,
        "text_encoder": 1e-2,
    }
    no_decay = names["backbone_no_decay"]
    for key in [
        "backbone.patch_embed.norm.weight",
        "backbone.layers.0.blocks.0.norm1.bias",
        "backbone.layers.0.blocks.0.attn.relative_position_bias_table",
        "backbone.layers.0.downsample.norm.weight",
        "backbone.norm3.weight",
    ]:
        assert key in no_decay
    assert all(("norm" in n or "relative_position_bias_table" in n) for n in no_decay)
    assert "backbone.layers.0.blocks.0.attn.qkv.weight" in names["backbone"]
    assert "backbone.layers.0.fusion.project_mm.0.weight" in names["backbone"]
    assert "backbone.layers.0.res_gate.0.weight" in names["backbone"]
    assert all(n.startswith("classifier.") for n in names["decoder"])
    assert all(n.startswith("text_encoder.encoder.layer.") for n in names["text_encoder"])

    # Every parameter except BERT's embeddings is in exactly one group; those are frozen.
    grouped = [n for group in names.values() for n in group]
    assert len(grouped) == len(set(grouped))
    rest = {n for n, _ in model.named_parameters()} - set(grouped)
    assert rest and all(n.startswith("text_encoder.embeddings.") for n in rest)
    assert not any(p.requires_grad for p in model.text_encoder.embeddings.parameters())
    assert {p.dtype for g in opt.param_groups for p in g["params"]} == {torch.float32}


def test_switch_trains_bert_embeddings(model):
    opt = build_optimizer(model, lr=1e-4, weight_decay=0.0, train_bert_embeddings=True)
    names = _names(model, opt)
    assert "text_encoder.embeddings.word_embeddings.weight" in names["text_encoder"]
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    assert all(p.requires_grad for p in model.parameters())


def test_stray_parameters_are_trained_with_a_warning(model):
    model.extra = torch.nn.Linear(2, 2)
    try:
        with pytest.warns(UserWarning, match="outside backbone"):
            groups = parameter_groups(model, weight_decay=0.1)
        decoder = next(g for g in groups if g["name"] == "decoder")
        assert any(p is model.extra.weight for p in decoder["params"])
    finally:
        del model.extra
