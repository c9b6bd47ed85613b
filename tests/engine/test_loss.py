import math

import pytest
import torch

from lgformer.engine.loss import deep_supervision_loss


def test_zero_logits_give_log2_weighted_by_pos_weight():
    target = torch.zeros(1, 2, 2)
    target[0, 0] = 1.0  # half the pixels are foreground
    logits = [torch.zeros(1, 1, 2, 2) for _ in range(7)]
    expected = 7 * (1.1 * 0.5 + 0.5) * math.log(2.0)
    assert deep_supervision_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_hand_computed_values_and_sum_over_outputs():
    target = torch.tensor([[[1.0, 0.0]]])  # (B=1, H=1, W=2)
    a = torch.tensor([[[[2.0, -1.0]]]])  # (1, 1, 1, 2)
    b = torch.tensor([[[[-3.0, 4.0]]]])

    def bce(x, y, pw=1.1):
        s = 1 / (1 + math.exp(-x))
        return -(pw * y * math.log(s) + (1 - y) * math.log(1 - s))

    loss_a = (bce(2.0, 1) + bce(-1.0, 0)) / 2
    loss_b = (bce(-3.0, 1) + bce(4.0, 0)) / 2
    got = deep_supervision_loss([a, b], target)
    assert got.item() == pytest.approx(loss_a + loss_b, rel=1e-6)
    assert deep_supervision_loss([a], target.unsqueeze(1)).item() == pytest.approx(loss_a, rel=1e-6)
    plain = deep_supervision_loss([a], target, pos_weight=1.0).item()
    assert plain == pytest.approx((bce(2.0, 1, 1.0) + bce(-1.0, 0, 1.0)) / 2, rel=1e-6)


def test_half_precision_logits_are_summed_in_float32():
    target = torch.ones(2, 4, 4)
    logits = [torch.full((2, 1, 4, 4), -20.0, dtype=torch.float16) for _ in range(3)]
    loss = deep_supervision_loss(logits, target)
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(3 * 1.1 * 20.0, rel=1e-3)


def test_gradients_flow_and_shape_mismatch_raises():
    logits = torch.zeros(1, 1, 3, 3, requires_grad=True)
    deep_supervision_loss([logits], torch.ones(1, 3, 3)).backward()
    assert logits.grad is not None and (logits.grad < 0).all()
    with pytest.raises(ValueError, match="differ"):
        deep_supervision_loss([torch.zeros(1, 1, 2, 2)], torch.ones(1, 3, 3))


def test_optional_dice_term_on_hand_made_logits():
    from lgformer.engine.loss import dice_loss

    target = torch.zeros(1, 1, 2, 2)
    target[0, 0, 0, :] = 1  # two foreground pixels
    # Confident and right: sigmoid(+-20) ~ 1 / 0 -> dice ~ 0 (up to eps smoothing).
    right = (target * 2 - 1) * 20
    assert dice_loss(right, target).item() < 1e-6
    # Logits 0 -> p = 0.5 everywhere: 1 - (2 * 1 + 1) / (2 + 2 + 1) = 0.4.
    zero = torch.zeros(1, 1, 2, 2)
    assert abs(dice_loss(zero, target).item() - 0.4) < 1e-6
    bce_only = deep_supervision_loss([zero, zero], target)
    with_dice = deep_supervision_loss([zero, zero], target, dice_weight=0.5)
    assert abs((with_dice - bce_only).item() - 2 * 0.5 * 0.4) < 1e-6
