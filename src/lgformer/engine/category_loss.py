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

from lgformer.engine.labels import soft_labels
from lgformer.engine.order_loss import OrderHeads
from lgformer.engine.stage_mask_loss import StageMaskHeads
from lgformer.model import LGFormer, LGFormerOutput


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
    category_loss, stage_mask_loss, order_loss: float32 scalars (None without their heads)."""

    mask_logits: list[torch.Tensor] | None
    category_loss: torch.Tensor | None
    stage_mask_loss: torch.Tensor | None = None
    order_loss: torch.Tensor | None = None


class TrainingModel(nn.Module):
    """What the trainer runs and DDP wraps: the LGFormer and its optional auxiliary heads
    (category heads, stage-mask heads, instance-order heads)."""

    # The backbone stages the order heads read, with or without words: 3-4 (strides 16, 32).
    ORDER_STAGES = slice(2, 4)

    def __init__(
        self,
        model: LGFormer,
        heads: CategoryHeads | None = None,
        stage_heads: StageMaskHeads | None = None,
        order_heads: OrderHeads | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.heads = heads
        self.stage_heads = stage_heads
        self.order_heads = order_heads

    @staticmethod
    def head_channels(model: LGFormer) -> list[int]:
        """Channels of the maps the heads read: backbone stages 1-3, then mask features."""
        return [*model.config.swin.stage_channels[:3], model.config.decoder.hidden_dim]

    @staticmethod
    def order_head_channels(model: LGFormer) -> list[int]:
        """Channels of the maps the order heads read: backbone stages 3-4, mask features."""
        stages = model.config.swin.stage_channels[TrainingModel.ORDER_STAGES]
        return [*stages, model.config.decoder.hidden_dim]

    @staticmethod
    def order_maps(out: LGFormerOutput) -> list[torch.Tensor]:
        """The maps the order heads read from a forward with intermediates: backbone
        stages 3-4 (B, C_i, h_i, w_i), then the mask features (B, D, S/4, S/4)."""
        assert out.backbone is not None and out.pixel_decoder is not None
        return [*out.backbone.features[TrainingModel.ORDER_STAGES], out.pixel_decoder.mask_features]

    def forward(
        self,
        image: torch.Tensor,
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        categories: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        instances: torch.Tensor | None = None,
        instance_order: torch.Tensor | None = None,
        *,
        visual_only: bool = False,
    ) -> TrainingOutput:
        """image (B, 3, S, S); token_ids, attention_mask (B, L); categories (B, S, S) int64
        or None (then no category loss is computed); target (B, S, S), the referred
        object's mask, or None (then no stage-mask loss); instances (B, S, S) and
        instance_order (B, N, T) int64, or None (then no order loss). ``visual_only`` runs
        the Swin path alone and returns only the category loss of stages 1-3 (and the
        order loss of stages 3-4)."""
        with_orders = (
            self.order_heads is not None and instances is not None and instance_order is not None
        )
        if visual_only:
            if self.heads is None or categories is None:
                raise ValueError("a vision-only step needs category heads and 'categories'")
            stages = self.ORDER_STAGES.stop if with_orders else 3
            maps = self.model.backbone.visual_features(image, stages=stages)
            order_loss = None
            if with_orders:
                assert self.order_heads is not None
                order_loss = self.order_heads(maps[self.ORDER_STAGES], instances, instance_order)
            return TrainingOutput(None, self.heads(maps[:3], categories), order_loss=order_loss)
        with_categories = self.heads is not None and categories is not None
        with_stages = self.stage_heads is not None and target is not None
        out = self.model(
            image,
            token_ids,
            attention_mask,
            return_intermediates=with_categories or with_stages or with_orders,
        )
        category_loss = stage_mask_loss = order_loss = None
        if with_categories:
            assert self.heads is not None and categories is not None
            assert out.backbone is not None and out.pixel_decoder is not None
            maps = [*out.backbone.features[:3], out.pixel_decoder.mask_features]
            category_loss = self.heads(maps, categories)
        if with_stages:
            assert self.stage_heads is not None and target is not None
            assert out.backbone is not None
            stage_mask_loss = self.stage_heads(out.backbone.features, target)
        if with_orders:
            assert self.order_heads is not None
            order_loss = self.order_heads(self.order_maps(out), instances, instance_order)
        return TrainingOutput(out.mask_logits, category_loss, stage_mask_loss, order_loss)
