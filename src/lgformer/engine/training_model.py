"""What the trainer runs and DDP wraps: the LGFormer and its training-only auxiliary heads.

Each auxiliary loss (``category_loss.py``, ``stage_mask_loss.py``, ``order_loss.py``) has
its heads here, next to the model, so DDP synchronises them and checkpoints resume them;
they are not part of the LGFormer's state dict, so exported and evaluated models never
see them. With no heads, ``TrainingModel`` is the LGFormer's referring forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lgformer.engine.category_loss import CategoryHeads
from lgformer.engine.loss import deep_supervision_loss, hard_sample_weights
from lgformer.engine.optim_config import OptimConfig
from lgformer.engine.order_loss import OrderHeads
from lgformer.engine.stage_mask_loss import StageMaskHeads
from lgformer.model import LGFormer, LGFormerOutput


@dataclass
class TrainingOutput:
    """mask_logits: the LGFormer's outputs (None in a vision-only or trunk-only step);
    category_loss, stage_mask_loss, order_loss: float32 scalars (None without their heads)."""

    mask_logits: list[torch.Tensor] | None
    category_loss: torch.Tensor | None
    stage_mask_loss: torch.Tensor | None = None
    order_loss: torch.Tensor | None = None

    def total_loss(self, target: torch.Tensor, optim: OptimConfig) -> torch.Tensor:
        """The loss a training step minimises, a float32 scalar: in a vision-only step the
        category loss; in a trunk-only step the weighted stage-mask and category losses;
        otherwise the deep-supervised mask loss against ``target`` (B, S, S) plus the
        weighted category and stage-mask losses; the weighted order loss in all three."""
        if self.mask_logits is None and self.stage_mask_loss is None:  # vision-only step
            assert self.category_loss is not None
            loss = self.category_loss
        elif self.mask_logits is None:  # trunk-only step: no decoders
            assert self.stage_mask_loss is not None
            loss = optim.stage_mask_loss_weight * self.stage_mask_loss
            if self.category_loss is not None:
                loss = loss + optim.category_loss_weight * self.category_loss
        else:
            weights = None  # (B,) with optim.hard_sample_gamma
            if optim.hard_sample_gamma:
                weights = hard_sample_weights(self.mask_logits[-1], target, optim.hard_sample_gamma)
            loss = deep_supervision_loss(
                self.mask_logits,
                target,
                pos_weight=optim.pos_weight,
                dice_weight=optim.dice_weight,
                sample_weights=weights,
            )
            if self.category_loss is not None:
                loss = loss + optim.category_loss_weight * self.category_loss
            if self.stage_mask_loss is not None:
                loss = loss + optim.stage_mask_loss_weight * self.stage_mask_loss
        if self.order_loss is not None:  # warm-start and referring steps alike
            loss = loss + optim.order_loss_weight * self.order_loss
        return loss


class TrainingModel(nn.Module):
    """What the trainer runs and DDP wraps: the LGFormer and its optional auxiliary heads
    (category heads, stage-mask heads, instance-order heads)."""

    # The backbone stages the category heads read, with or without words: 1-3 (strides 4-16).
    CATEGORY_STAGES = slice(0, 3)
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
        stages = model.config.swin.stage_channels[TrainingModel.CATEGORY_STAGES]
        return [*stages, model.config.decoder.hidden_dim]

    @staticmethod
    def order_head_channels(model: LGFormer) -> list[int]:
        """Channels of the maps the order heads read: backbone stages 3-4, mask features."""
        stages = model.config.swin.stage_channels[TrainingModel.ORDER_STAGES]
        return [*stages, model.config.decoder.hidden_dim]

    @staticmethod
    def category_maps(out: LGFormerOutput) -> list[torch.Tensor]:
        """The maps the category heads read from a forward with intermediates: backbone
        stages 1-3 (B, C_i, h_i, w_i), then the mask features (B, D, S/4, S/4)."""
        assert out.backbone is not None and out.pixel_decoder is not None
        features = out.backbone.features[TrainingModel.CATEGORY_STAGES]
        return [*features, out.pixel_decoder.mask_features]

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
        trunk_only: bool = False,
    ) -> TrainingOutput:
        """image (B, 3, S, S); token_ids, attention_mask (B, L); categories (B, S, S) int64
        or None (then no category loss is computed); target (B, S, S), the referred
        object's mask, or None (then no stage-mask loss); instances (B, S, S) and
        instance_order (B, N, T) int64, or None (then no order loss). ``visual_only`` runs
        the Swin path alone and returns only the category loss of stages 1-3 (and the
        order loss of stages 3-4). ``trunk_only`` runs the words and the language-guided
        Swin without the decoders and returns the stage-mask loss (``target`` required),
        the category loss of stages 1-3 and the order loss of stages 3-4."""
        with_orders = (
            self.order_heads is not None and instances is not None and instance_order is not None
        )
        if trunk_only:
            return self._trunk_forward(
                image, token_ids, attention_mask, categories, target, instances, instance_order
            )
        if visual_only:
            if self.heads is None or categories is None:
                raise ValueError("a vision-only step needs category heads and 'categories'")
            stages = self.CATEGORY_STAGES.stop  # run the Swin only as deep as the heads read
            if with_orders:
                stages = max(stages, self.ORDER_STAGES.stop)
            maps = self.model.backbone.visual_features(image, stages=stages)
            category_loss, order_loss = self._backbone_head_losses(
                maps, categories, instances, instance_order
            )
            return TrainingOutput(None, category_loss, order_loss=order_loss)
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
            category_loss = self.heads(self.category_maps(out), categories)
        if with_stages:
            assert self.stage_heads is not None and target is not None
            assert out.backbone is not None
            stage_mask_loss = self.stage_heads(out.backbone.features, target)
        if with_orders:
            assert self.order_heads is not None
            order_loss = self.order_heads(self.order_maps(out), instances, instance_order)
        return TrainingOutput(out.mask_logits, category_loss, stage_mask_loss, order_loss)

    def _trunk_forward(
        self,
        image: torch.Tensor,
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        categories: torch.Tensor | None,
        target: torch.Tensor | None,
        instances: torch.Tensor | None,
        instance_order: torch.Tensor | None,
    ) -> TrainingOutput:
        """A trunk-only referring step (``optim.trunk_referring_steps``): the heads read
        the fused backbone maps, the decoders do not run. Shapes as in ``forward``."""
        if self.stage_heads is None or target is None:
            raise ValueError("a trunk-only step needs stage-mask heads and 'target'")
        features = self.model.language_guided_features(image, token_ids, attention_mask).features
        category_loss, order_loss = self._backbone_head_losses(
            features, categories, instances, instance_order
        )
        stage_mask_loss = self.stage_heads(features, target)
        return TrainingOutput(None, category_loss, stage_mask_loss, order_loss)

    def _backbone_head_losses(
        self,
        maps: list[torch.Tensor],
        categories: torch.Tensor | None,
        instances: torch.Tensor | None,
        instance_order: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The category loss of backbone stages 1-3 and the order loss of stages 3-4, read
        from backbone maps alone (vision-only and trunk-only steps): ``maps`` (B, C_i, h_i,
        w_i), as deep as the heads that run read; each loss None without its heads or labels."""
        category_loss = order_loss = None
        if self.heads is not None and categories is not None:
            category_loss = self.heads(maps[self.CATEGORY_STAGES], categories)
        if self.order_heads is not None and instances is not None and instance_order is not None:
            order_loss = self.order_heads(maps[self.ORDER_STAGES], instances, instance_order)
        return category_loss, order_loss
