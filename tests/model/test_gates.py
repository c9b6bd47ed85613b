"""The gated updates: the spec's zero init is a saddle point; a small init learns."""

import pytest
import torch

from lgformer.engine.build import build_model
from lgformer.engine.config import load_train_config
from lgformer.errors import LGFormerError
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
    cfg = load_train_config(None, ["model.preset=test_tiny", "init.gate_std=0.02"])
    model = build_model(cfg, load_pretrained=False)
    std = model.backbone.layers[0].res_gate[0].weight.std().item()
    assert 0.01 < std < 0.03
    assert all(g > 0 for g in _gate_grads(model))


def test_closed_gate_stages_stay_exactly_closed_while_the_others_learn():
    cfg = load_train_config(
        None, ["model.preset=test_tiny", "init.gate_std=0.02", "init.closed_gate_stages=[0, 2]"]
    )
    model = build_model(cfg, load_pretrained=False)
    for i, stage in enumerate(model.backbone.layers):
        weights = [lin.weight for g in (stage.res_gate, stage.sym_res_gate) for lin in (g[0], g[2])]
        assert all(bool((w == 0).all()) == (i in (0, 2)) for w in weights), i
    grads = _gate_grads(model)
    assert grads[0] == 0.0 and grads[2] == 0.0  # zero gates: a saddle, they never open
    assert grads[1] > 0


def test_closed_gate_stages_out_of_range_is_a_config_error():
    with pytest.raises(LGFormerError, match=r"closed_gate_stages \[4\] out of range.*0-3"):
        load_train_config(None, ["model.preset=test_tiny", "init.closed_gate_stages=[4]"])
    with pytest.raises(LGFormerError, match="expected a list"):
        load_train_config(None, ["init.closed_gate_stages=1"])
