"""Auxiliary instance-order loss: the global feature maps count the objects (training only).

"The second circle from the right" needs, at the pixels of that circle, its rank
among the circles from the right. The referring loss teaches that only through
a long chain (notes/SYNTHETIC_EXPERIMENTS.md: ordinals of rank 2-3 stay near a
guess among the group). With ``optim.order_loss_weight`` 1x1 classifiers on the
backbone's two global stages (strides 16 and 32) and on the mask features label
every object's pixels with its rank from each side within each attribute group
(``lgformer.data.instance_order``), so the features carry every candidate rank
and the sentence only has to pick one. During the vision-only warm start the
Swin's stages 3 and 4 learn the same labels.

Targets at each map's resolution are the object shares of every cell
(``soft_labels`` of the instance map) mixed over the objects' rank classes;
background shares carry no loss. Like the other auxiliary heads these live in
``TrainingModel``: exported and evaluated models never see them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.data.instance_order import ORDER_CLASSES
from lgformer.engine.labels import soft_labels


def order_targets(
    instances: torch.Tensor, order: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft rank targets of every cell of a (h, w) map.

    Args:
        instances: (B, S, S) int64, 0 background, 1 + i object i.
        order: (B, N, T) int64 rank classes of the objects, -1 for padding rows.
        size: (h, w).

    Returns:
        targets (B, T, C, h, w) float32, summing over C to each cell's object share;
        foreground (B, h, w) float32, each cell's object share (0 to 1).
    """
    n = order.shape[1]
    shares = soft_labels(instances, size, n + 1)  # (B, N+1, h, w)
    valid = (order >= 0).unsqueeze(-1)  # (B, N, T, 1)
    onehot = F.one_hot(order.clamp(min=0), ORDER_CLASSES).float() * valid  # (B, N, T, C)
    targets = torch.einsum("bnhw,bntc->btchw", shares[:, 1:], onehot)
    return targets, 1.0 - shares[:, 0]


class OrderHeads(nn.Module):
    """One 1x1 classifier of T x C logits per feature map read.

    Args:
        channels: the channels of the maps, in the order they are passed.
        num_tasks: T, the (attribute group, side) pairs.
    """

    def __init__(self, channels: Sequence[int], num_tasks: int) -> None:
        super().__init__()
        self.num_tasks = num_tasks
        self.heads = nn.ModuleList(nn.Conv2d(c, num_tasks * ORDER_CLASSES, 1) for c in channels)

    def forward(
        self, maps: Sequence[torch.Tensor], instances: torch.Tensor, order: torch.Tensor
    ) -> torch.Tensor:
        """Soft cross-entropy over the foreground, averaged over tasks and summed over
        ``maps`` (each (B, C_i, h_i, w_i), read by the first ``len(maps)`` classifiers);
        ``instances`` (B, S, S) and ``order`` (B, N, T) as in ``order_targets``; float32
        scalar (0 when no cell holds an object)."""
        total = instances.new_zeros((), dtype=torch.float32)
        for head, fmap in zip(self.heads, maps, strict=False):
            b, _, h, w = fmap.shape
            targets, foreground = order_targets(instances, order, (h, w))
            logits = head(fmap.float()).float().view(b, self.num_tasks, ORDER_CLASSES, h, w)
            cross = -(targets * F.log_softmax(logits, dim=2)).sum((1, 2))  # (B, h, w)
            total = total + cross.sum() / (foreground.sum() * self.num_tasks).clamp(min=1e-6)
        return total
