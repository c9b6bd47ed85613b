"""The gated updates: the spec's zero init is a saddle point; a small init learns."""

import torch

from lgformer.engine.config import load_train_config
from lgformer.engine.run import build_model
from tests.conftest import make_tiny_model


def _gate_grads(model) -> list[float]:
    x = torch.randn(2, 3, 64, 64)
    ids = torch.randint(1, 100, (2, 20))
    mask = torch.ones(2, 20, dtype=torch.long)
    model.train()
    model(x, ids, mask).pred_logits.sum().backward()
    # The last stage's gates feed nothing downstream (the backbone returns its fusion output).
    return [
        float(
            stage.res_gate[0].weight.grad.abs().sum()
            + stage.sym_res_gate[2].weight.grad.abs().sum()
        )
        for stage in model.backbone.layers[:-1]
    ]


def test_zero_gates_get_exactly_zero_gradient():
    assert _gate_grads(make_tiny_model()) == [0.0, 0.0, 0.0]


def test_gate_std_makes_gates_trainable():
    cfg = load_train_config(None, ["model.preset=test_tiny", "objective.gate_std=0.02"])
    model = build_model(cfg)
    std = model.backbone.layers[0].res_gate[0].weight.std().item()
    assert 0.01 < std < 0.03
    assert all(g > 0 for g in _gate_grads(model))
