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


def test_gate_lr_scale_puts_the_language_gates_in_a_fifth_group(model):
    released = _names(model, build_optimizer(model, lr=1e-3, weight_decay=1e-2))
    opt = build_optimizer(model, lr=1e-3, weight_decay=1e-2, gate_lr_scale=0.1)
    names = _names(model, opt)
    assert list(names) == ["backbone_no_decay", "backbone", "decoder", "text_encoder", "gates"]
    gates = names["gates"]
    assert gates and all("res_gate" in n for n in gates)
    assert any("sym_res_gate" in n for n in gates)
    assert gates == {n for n in released["backbone"] if "res_gate" in n}
    assert names["backbone"] == released["backbone"] - gates
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["gates"] == pytest.approx(1e-4) and lrs["backbone"] == 1e-3
    assert {g["name"]: g["weight_decay"] for g in opt.param_groups}["gates"] == 1e-2


def test_the_gates_lr_follows_the_schedule_at_its_scale(tmp_path):
    from lgformer.engine.run import run_training

    from .tiny_data import squares_factory, tiny_config

    cfg = tiny_config(tmp_path, "max_steps=2", "validate=false", "optim.gate_lr_scale=0.25")
    trainer = run_training(cfg, datasets=squares_factory(n_train=6, n_val=0, size=32))
    lrs = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert 0 < lrs["backbone"] < 1e-3  # decayed
    assert lrs["gates"] == pytest.approx(0.25 * lrs["backbone"])
    with pytest.raises(Exception, match="optim.gate_lr_scale must be > 0"):
        tiny_config(tmp_path, "optim.gate_lr_scale=0")


def test_resume_with_a_gate_lr_scale_is_exact(tmp_path):
    from .tiny_data import assert_resume_is_exact, squares_factory

    data = squares_factory(n_train=8, n_val=2, size=32)
    assert_resume_is_exact(tmp_path, ("optim.gate_lr_scale=0.1",), data, (3,), "model")
