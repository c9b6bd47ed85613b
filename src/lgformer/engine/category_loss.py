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

The classifiers live in ``TrainingModel`` next to the LGFormer, so DDP syncs
them and checkpoints resume them, but they are not part of the model's state
dict: exported and evaluated models never see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.engine.stage_mask_loss import StageMaskHeads
from lgformer.model import LGFormer


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


@dataclass
class TrainingOutput:
    """mask_logits: the LGFormer's outputs (None in a vision-only step);
    category_loss, stage_mask_loss: float32 scalars (None without their heads)."""

    mask_logits: list[torch.Tensor] | None
    category_loss: torch.Tensor | None
    stage_mask_loss: torch.Tensor | None = None


class TrainingModel(nn.Module):
    """What the trainer runs and DDP wraps: the LGFormer and its optional auxiliary heads
    (category heads, stage-mask heads)."""

    def __init__(
        self,
        model: LGFormer,
        heads: CategoryHeads | None = None,
        stage_heads: StageMaskHeads | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.heads = heads
        self.stage_heads = stage_heads

    @staticmethod
    def head_channels(model: LGFormer) -> list[int]:
        """Channels of the maps the heads read: backbone stages 1-3, then mask features."""
        return [*model.config.swin.stage_channels[:3], model.config.decoder.hidden_dim]

    def forward(
        self,
        image: torch.Tensor,
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        categories: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        *,
        visual_only: bool = False,
    ) -> TrainingOutput:
        """image (B, 3, S, S); token_ids, attention_mask (B, L); categories (B, S, S) int64
        or None (then no category loss is computed); target (B, S, S), the referred
        object's mask, or None (then no stage-mask loss). ``visual_only`` runs the Swin
        path alone and returns only the category loss of stages 1-3."""
        if visual_only:
            if self.heads is None or categories is None:
                raise ValueError("a vision-only step needs category heads and 'categories'")
            maps = self.model.backbone.visual_features(image, stages=3)
            return TrainingOutput(None, self.heads(maps, categories))
        with_categories = self.heads is not None and categories is not None
        with_stages = self.stage_heads is not None and target is not None
        out = self.model(
            image, token_ids, attention_mask, return_intermediates=with_categories or with_stages
        )
        category_loss = stage_mask_loss = None
        if with_categories:
            assert self.heads is not None and categories is not None
            assert out.backbone is not None and out.pixel_decoder is not None
            maps = [*out.backbone.features[:3], out.pixel_decoder.mask_features]
            category_loss = self.heads(maps, categories)
        if with_stages:
            assert self.stage_heads is not None and target is not None
            assert out.backbone is not None
            stage_mask_loss = self.stage_heads(out.backbone.features, target)
        return TrainingOutput(out.mask_logits, category_loss, stage_mask_loss)
