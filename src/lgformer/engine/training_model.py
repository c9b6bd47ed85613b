"""What the trainer runs and DDP wraps: the LGFormer and its training-only auxiliary heads.

Each auxiliary loss (``category_loss.py``, ``stage_mask_loss.py``) has
its heads here, next to the model, so DDP synchronises them and checkpoints resume them;
they are not part of the LGFormer's state dict, so exported and evaluated models never
see them. With no heads, ``TrainingModel`` is the LGFormer's referring forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lgformer.engine.category_loss import CategoryHeads
from lgformer.engine.loss import deep_supervision_loss
from lgformer.engine.optim_config import OptimConfig
from lgformer.engine.stage_mask_loss import StageMaskHeads
from lgformer.model import LGFormer, LGFormerOutput


@dataclass
class TrainingOutput:
    """mask_logits: the LGFormer's outputs (None in a vision-only step); category_loss,
    stage_mask_loss: float32 scalars (None without their heads)."""

    mask_logits: list[torch.Tensor] | None
    category_loss: torch.Tensor | None
    stage_mask_loss: torch.Tensor | None = None

    def total_loss(self, target: torch.Tensor, optim: OptimConfig) -> torch.Tensor:
        """The loss a training step minimises, a float32 scalar: in a vision-only step the
        category loss; otherwise the deep-supervised mask loss against ``target`` (B, S, S)
        plus the weighted category and stage-mask losses."""
        if self.mask_logits is None:  # vision-only step
            assert self.category_loss is not None
            return self.category_loss
        loss = deep_supervision_loss(
            self.mask_logits, target, pos_weight=optim.pos_weight, dice_weight=optim.dice_weight
        )
        if self.category_loss is not None:
            loss = loss + optim.category_loss_weight * self.category_loss
        if self.stage_mask_loss is not None:
            loss = loss + optim.stage_mask_loss_weight * self.stage_mask_loss
        return loss


class TrainingModel(nn.Module):
    """What the trainer runs and DDP wraps: the LGFormer and its optional auxiliary heads
    (category heads, stage-mask heads)."""

    # The backbone stages the category heads read, with or without words: 1-3 (strides 4-16).
    CATEGORY_STAGES = slice(0, 3)

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
        stages = model.config.swin.stage_channels[TrainingModel.CATEGORY_STAGES]
        return [*stages, model.config.decoder.hidden_dim]

    @staticmethod
    def category_maps(out: LGFormerOutput) -> list[torch.Tensor]:
        """The maps the category heads read from a forward with intermediates: backbone
        stages 1-3 (B, C_i, h_i, w_i), then the mask features (B, D, S/4, S/4)."""
        assert out.backbone is not None and out.pixel_decoder is not None
        features = out.backbone.features[TrainingModel.CATEGORY_STAGES]
        return [*features, out.pixel_decoder.mask_features]

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
            # Run the Swin only as deep as the heads read.
            maps = self.model.backbone.visual_features(image, stages=self.CATEGORY_STAGES.stop)
            return TrainingOutput(None, self.heads(maps[self.CATEGORY_STAGES], categories))
        with_categories = self.heads is not None and categories is not None
        with_stages = self.stage_heads is not None and target is not None
        out = self.model(
            image,
            token_ids,
            attention_mask,
            return_intermediates=with_categories or with_stages,
        )
        category_loss = stage_mask_loss = None
        if with_categories:
            assert self.heads is not None and categories is not None
            category_loss = self.heads(self.category_maps(out), categories)
        if with_stages:
            assert self.stage_heads is not None and target is not None
            assert out.backbone is not None
            stage_mask_loss = self.stage_heads(out.backbone.features, target)
        return TrainingOutput(out.mask_logits, category_loss, stage_mask_loss)
