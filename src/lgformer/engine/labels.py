"""Label maps averaged to a feature map's resolution (targets of the auxiliary losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_labels(labels: torch.Tensor, size: tuple[int, int], num_labels: int) -> torch.Tensor:
    """Per-cell label frequencies: (B, S, S) int64 -> (B, K, h, w) float32 that sums to 1
    over K in every cell (``adaptive_avg_pool2d`` of the one-hot map, without building it
    when S is a multiple of h and w)."""
    b, s_h, s_w = labels.shape
    h, w = size
    if s_h % h or s_w % w:
        onehot = F.one_hot(labels, num_labels).permute(0, 3, 1, 2).float()
        return F.adaptive_avg_pool2d(onehot, size)
    rows = torch.arange(s_h, device=labels.device) // (s_h // h)
    cols = torch.arange(s_w, device=labels.device) // (s_w // w)
    cell = rows[:, None] * w + cols[None, :]  # (S, S)
    index = (labels * (h * w) + cell).flatten(1)  # (B, S*S)
    counts = torch.zeros(b, num_labels * h * w, device=labels.device)
    counts.scatter_add_(1, index, torch.ones_like(index, dtype=counts.dtype))
    return counts.view(b, num_labels, h, w) / ((s_h // h) * (s_w // w))
