"""Auxiliary stage-mask loss: the fused backbone maps mark the referred object (training only).

In LGFormer the sentence reaches the mask through a long chain: the VLBA fusions
of the four Swin stages, the pixel decoder, the mask decoder's queries and the
final 1x1 kernel. With ``optim.stage_mask_loss_weight`` a 1x1 classifier on each
backbone stage's fused map (strides 4, 8, 16, 32) predicts the referred object's
share of every cell, with BCE against the target mask averaged to that map's
resolution, so the fusions get a direct signal from the first referring step.

The classifiers live in ``TrainingModel`` next to the LGFormer (like the category
heads): DDP syncs them and checkpoints resume them, but they are not part of
the model's state dict, so exported and evaluated models never see them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class StageMaskHeads(nn.Module):
    """One 1x1 single-logit classifier per backbone stage map.

    Args:
        channels: the channels of the maps, in the order they are passed.
    """

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in channels)

    def forward(self, maps: Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Soft-target BCE summed over ``maps`` (each (B, C_i, h_i, w_i)) against ``target``
        (B, S, S) or (B, 1, S, S) in {0, 1}, averaged to each map's cells; float32 scalar."""
        if target.dim() == 3:
            target = target.unsqueeze(1)
        target = target.float()
        total = target.new_zeros(())
        for head, fmap in zip(self.heads, maps, strict=True):
            soft = F.adaptive_avg_pool2d(target, tuple(fmap.shape[-2:]))  # (B, 1, h, w)
            logits = head(fmap.float()).float()
            total = total + F.binary_cross_entropy_with_logits(logits, soft)
        return total
