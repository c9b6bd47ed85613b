"""The auxiliary category loss and the vision-only warm start (training only).

A from-scratch Swin learns slowly what the objects are when its only signal is
"which pixels does this sentence mean" (notes/SYNTHETIC_EXPERIMENTS.md: on the
synthetic benchmark it never learned the shapes). Two training-only aids, both
off in the released recipe:

- ``optim.category_loss_weight``: 1x1 classifiers on backbone stages 1-3 and on
  the pixel decoder's mask features label every pixel with the COCO category of
  the object under it (soft targets at each map's resolution), added to the
  referring loss;
- ``optim.category_warmup_steps``: the first steps train the Swin path alone
  (no words, no fusion, no decoders: several times cheaper per step) on the
  same labels with the stage 1-3 classifiers.

The classifiers live in ``TrainingModel`` (``engine/training_model.py``) next to
the LGFormer, so DDP syncs them and checkpoints resume them, but they are not part
of the model's state dict: exported and evaluated models never see them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.engine.labels import soft_labels


class CategoryHeads(nn.Module):
    """One 1x1 classifier per feature map read (backbone stages 1-3, mask features).

    Args:
        channels: the channels of the maps, in the order they are passed.
        num_labels: background plus the categories.
    """

    def __init__(self, channels: Sequence[int], num_labels: int) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.heads = nn.ModuleList(nn.Conv2d(c, num_labels, 1) for c in channels)

    def forward(self, maps: Sequence[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Soft cross-entropy summed over ``maps`` (each (B, C_i, h_i, w_i), read by the
        first ``len(maps)`` classifiers) against ``labels`` (B, S, S) int64; float32 scalar."""
        total = labels.new_zeros((), dtype=torch.float32)
        for head, fmap in zip(self.heads, maps, strict=False):
            target = soft_labels(labels, tuple(fmap.shape[-2:]), self.num_labels)
            log_p = F.log_softmax(head(fmap.float()).float(), dim=1)  # (B, K, h, w)
            total = total - (target * log_p).sum(1).mean()
        return total
