"""Deep-supervision loss: BCE-with-logits on every mask output, summed."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

# The released recipe's positive weight (spec section 8).
POS_WEIGHT = 1.1


def dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    eps: float = 1.0,
) -> torch.Tensor:
    """Mean over samples of ``1 - (2|P∩T| + eps) / (|P| + |T| + eps)`` with soft P = sigmoid.

    logits, target: (B, 1, H, W). Not part of the released recipe (an option).
    """
    prob = logits.float().sigmoid().flatten(1)
    tgt = target.float().flatten(1)
    inter = (prob * tgt).sum(1)
    per_sample = 1 - (2 * inter + eps) / (prob.sum(1) + tgt.sum(1) + eps)  # (B,)
    return per_sample.mean()


def deep_supervision_loss(
    mask_logits: Sequence[torch.Tensor],
    target: torch.Tensor,
    *,
    pos_weight: float = POS_WEIGHT,
    dice_weight: float = 0.0,
) -> torch.Tensor:
    """Sum over outputs of ``BCEWithLogits(pos_weight, reduction="mean")``.

    Args:
        mask_logits: the model's outputs, each (B, 1, H, W) at input size (7 for
            the released model: the initial query and one per decoder layer).
        target: (B, H, W) or (B, 1, H, W), 1 = referred object, 0 = background.
        pos_weight: weight of the positive (foreground) term.
        dice_weight: adds ``dice_weight * dice_loss`` per output (0 = released recipe).

    Returns:
        A float32 scalar. Computed in float32 even under autocast, so that fp16
        logits cannot overflow the sum.
    """
    if len(mask_logits) == 0:
        raise ValueError("deep_supervision_loss needs at least one output")
    if target.dim() == 3:
        target = target.unsqueeze(1)  # (B, 1, H, W)
    target = target.float()
    weight = torch.tensor(pos_weight, dtype=torch.float32, device=target.device)
    total = target.new_zeros(())
    for logits in mask_logits:
        if logits.shape != target.shape:
            raise ValueError(
                f"mask logits {tuple(logits.shape)} and target {tuple(target.shape)} differ"
            )
        bce = F.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=weight)
        total = total + bce
        if dice_weight:
            total = total + dice_weight * dice_loss(logits, target)
    return total
