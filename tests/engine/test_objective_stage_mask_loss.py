"""The auxiliary stage-mask loss and its place in training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lgformer.engine.config import ObjectiveConfig
from lgformer.engine.objective import Objective, StageMaskHeads
from lgformer.engine.run import run_training
from lgformer.errors import LGFormerError

from .tiny_data import assert_resume_is_exact, squares_factory, tiny_config, train_with_heads


def _target() -> torch.Tensor:
    target = torch.zeros(2, 16, 16)
    target[0, 2:10, 4:12] = 1
    target[1, 8:16, 0:6] = 1
    return target


def test_heads_score_the_referred_object_far_better_than_another() -> None:
    target = _target()
    # Channel 0 of each map holds the target's share of every cell (what a perfect fusion marks).
    maps = [
        torch.cat([F.adaptive_avg_pool2d(target[:, None], s), torch.zeros(2, c - 1, s, s)], 1)
        for c, s in ((4, 8), (8, 4), (16, 2), (32, 1))
    ]
    heads = StageMaskHeads((4, 8, 16, 32))
    with torch.no_grad():
        for head in heads.heads:
            head.weight.zero_()
            head.weight[0, 0] = 12.0
            head.bias.fill_(-6.0)
    right, wrong = heads(maps, target), heads(maps, target.flip(2))
    assert right.ndim == 0 and right.item() < 0.7 * wrong.item()
    # The soft targets: at 1x1 a cell's target is the object's share of the image
    # (64 and 48 of 256 pixels), scored by BCE against the head's constant logit.
    one = StageMaskHeads((2,))
    with torch.no_grad():
        one.heads[0].weight.zero_()
        one.heads[0].bias.fill_(0.5)
    loss = one([torch.zeros(2, 2, 1, 1)], target)
    p = torch.tensor([0.25, 0.1875])
    q = torch.sigmoid(torch.tensor(0.5))
    expected = -(p * q.log() + (1 - p) * (1 - q).log()).mean()
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError):
        heads(maps[:3], target)  # one map per head, no fewer


def test_full_step_returns_a_stage_mask_loss_that_reaches_the_fusions(tiny_model) -> None:
    config = ObjectiveConfig(stage_mask_loss_weight=1)
    wrapper = Objective(tiny_model, config, num_categories=None)
    image = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([[101, 1996, 2417, 102]] * 2)
    target = torch.zeros(2, 32, 32)
    target[:, 4:20, 8:24] = 1
    out = wrapper(image, ids, torch.ones_like(ids), None, target)
    assert out.category_loss is None and out.stage_mask_loss.ndim == 0
    out.stage_mask_loss.backward()
    grads = {n: p.grad for n, p in wrapper.named_parameters()}
    assert all(grads[f"stage_heads.heads.{i}.weight"] is not None for i in range(4))
    fusion = [n for n in grads if ".fusion." in n and ".layers.3." in n]
    assert fusion and any(grads[n] is not None and grads[n].abs().sum() > 0 for n in fusion)
    # Without a target it is a plain referring step.
    assert wrapper(image, ids, torch.ones_like(ids)).stage_mask_loss is None


STAGE_RUN = ("objective.stage_mask_loss_weight=0.5",)


def test_training_with_the_stage_mask_loss_keeps_it_out_of_the_model(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32)
    trainer = train_with_heads(tmp_path, STAGE_RUN, data, "stage_heads", 4)
    # The loss is part of the objective: the same run without it has other losses.
    plain = run_training(tiny_config(tmp_path / "plain"), datasets=data)
    assert plain.loss_history[0] < trainer.loss_history[0]


def test_resume_with_stage_mask_heads_is_exact(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32)
    assert_resume_is_exact(tmp_path, STAGE_RUN, data, (3,), "stage_heads")


def test_resuming_a_plain_checkpoint_with_stage_heads_is_refused(tmp_path) -> None:
    data = squares_factory(n_train=4, n_val=0, size=32)
    run_training(tiny_config(tmp_path, "optim.epochs=1", "validate=false"), datasets=data)
    cfg = tiny_config(tmp_path, "optim.epochs=2", "validate=false", *STAGE_RUN)
    with pytest.raises(LGFormerError, match="without the stage-mask heads"):
        run_training(cfg, datasets=data)
    with pytest.raises(LGFormerError, match=">= 0"):
        tiny_config(tmp_path, "objective.stage_mask_loss_weight=-1")
