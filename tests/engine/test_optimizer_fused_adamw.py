"""optim.fused: torch's fused AdamW kernel gives the same update as the default loop."""

import torch

from lgformer.config import build_config
from lgformer.engine.config import load_train_config
from lgformer.engine.optimizer import build_optimizer
from lgformer.model import build_lgformer


def _steps(fused: bool) -> dict[str, torch.Tensor]:
    """Three AdamW steps over the released groups, fed the same fixed gradients."""
    torch.manual_seed(0)
    model = build_lgformer(build_config("test_tiny"))
    opt = build_optimizer(model, lr=1e-3, weight_decay=1e-2, fused=fused)
    assert bool(opt.defaults["fused"]) is fused
    gen = torch.Generator().manual_seed(1)
    params = [p for g in opt.param_groups for p in g["params"]]
    for _ in range(3):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_fused_matches_the_default_update():
    plain, fused = _steps(False), _steps(True)
    for key, value in plain.items():
        torch.testing.assert_close(fused[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_config_switch():
    assert load_train_config().optim.fused is False
    assert load_train_config(overrides=["optim.fused=true"]).optim.fused is True
