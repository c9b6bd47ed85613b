"""optim.hard_sample_gamma: per-sample loss weights favouring the samples predicted badly."""

from __future__ import annotations

import pytest
import torch

from lgformer.engine.loss import deep_supervision_loss, hard_sample_weights
from lgformer.engine.optim_config import OptimConfig
from lgformer.engine.training_model import TrainingOutput


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two samples on the same 8x8 target square: one predicted exactly, one half."""
    target = torch.zeros(2, 8, 8)
    target[:, 2:6, 2:6] = 1
    logits = torch.full((2, 1, 8, 8), -5.0)
    logits[0, 0, 2:6, 2:6] = 5.0  # IoU 1
    logits[1, 0, 2:6, 2:4] = 5.0  # IoU 0.5
    return logits, target


def test_weights_follow_the_error_and_average_one() -> None:
    logits, target = _batch()
    weights = hard_sample_weights(logits, target, gamma=1.0)
    # max(1 - IoU, 0.05): 0.05 and 0.5, normalised to mean 1.
    assert torch.allclose(weights, torch.tensor([0.05, 0.5]) / 0.275)
    assert weights.mean().item() == pytest.approx(1.0)
    assert torch.equal(hard_sample_weights(logits, target, gamma=0.0), torch.ones(2))
    sharper = hard_sample_weights(logits, target, gamma=2.0)
    assert sharper[1] / sharper[0] == pytest.approx((0.5 / 0.05) ** 2)


def test_an_empty_target_predicted_empty_counts_as_solved() -> None:
    target = torch.zeros(2, 4, 4)
    logits = torch.full((2, 1, 4, 4), -3.0)
    logits[1, 0, 0, 0] = 3.0  # one false pixel: IoU 0
    weights = hard_sample_weights(logits, target, gamma=1.0)
    assert weights[1] > weights[0]


def test_weighted_loss_moves_the_weight_to_the_bad_sample() -> None:
    logits, target = _batch()
    logits.requires_grad_(True)
    weights = hard_sample_weights(logits, target, gamma=1.0)
    loss = deep_supervision_loss([logits], target, dice_weight=1.0, sample_weights=weights)
    loss.backward()
    grad = logits.grad.abs().flatten(1).sum(1)
    plain = logits.detach().clone().requires_grad_(True)
    deep_supervision_loss([plain], target, dice_weight=1.0).backward()
    plain_grad = plain.grad.abs().flatten(1).sum(1)
    assert grad[1] / grad[0] > 5 * plain_grad[1] / plain_grad[0]


def test_unit_weights_are_the_unweighted_loss() -> None:
    torch.manual_seed(0)
    target = (torch.rand(3, 8, 8) > 0.5).float()
    outputs = [torch.randn(3, 1, 8, 8) for _ in range(3)]
    plain = deep_supervision_loss(outputs, target, dice_weight=1.0)
    ones = deep_supervision_loss(outputs, target, dice_weight=1.0, sample_weights=torch.ones(3))
    assert torch.allclose(plain, ones)


def test_the_training_loss_uses_them_only_when_asked() -> None:
    logits, target = _batch()
    out = TrainingOutput(mask_logits=[logits], category_loss=None)
    plain = out.total_loss(target, OptimConfig(dice_weight=1.0))
    weighted = out.total_loss(target, OptimConfig(dice_weight=1.0, hard_sample_gamma=1.0))
    weights = hard_sample_weights(logits, target, gamma=1.0)
    expected = deep_supervision_loss([logits], target, dice_weight=1.0, sample_weights=weights)
    assert torch.allclose(weighted, expected)
    assert not torch.allclose(weighted, plain)
