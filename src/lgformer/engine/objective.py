"""What a training step minimises, and the module the trainer runs (and DDP wraps).

The released recipe is the deep-supervision BCE over the LGFormer's outputs
(``loss.py``). A from-scratch Swin learns slowly what the objects are when its only
signal is "which pixels does this sentence mean" (notes/SYNTHETIC_EXPERIMENTS.md: on
the synthetic benchmark it never learned the shapes), so ``ObjectiveConfig`` adds the
training aids the synthetic configs use, each off by default:

- ``dice_weight``: a soft Dice term per output, next to the BCE;
- ``category_loss_weight``: 1x1 classifiers on backbone stages 1-3 and on the pixel
  decoder's mask features label every pixel with the category of the object under it
  (every annotated object of the image, soft targets at each map's resolution);
- ``category_warmup_steps``: the first steps train the Swin path alone (no words, no
  fusion, no decoders: several times cheaper per step) on the same labels with the
  stage 1-3 classifiers, the learning rate held (``PolySchedule(hold=)``);
- ``stage_mask_loss_weight``: a 1x1 classifier on each fused backbone map (strides 4-32)
  predicts the referred object's share of every cell, so the fusions get a direct
  referring signal instead of only the one that comes back through the decoders;
- ``gate_std``: a non-zero init of the language gates (applied when the model is built):
  with both Linear weights of a gate at zero its gradient is exactly zero (a saddle
  point), so the spec's zero gates never open; 0.02 (the Swin linear init) lets them learn.

The classifiers live in ``Objective`` next to the LGFormer, so DDP synchronises them and
checkpoints resume them (``category_heads``, ``stage_heads``), but they are not part of
the LGFormer's state dict: exported and evaluated models never see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.engine.config import ObjectiveConfig
from lgformer.engine.loss import deep_supervision_loss
from lgformer.errors import LGFormerError
from lgformer.model import LGFormer, LGFormerOutput

# The backbone stages the category heads read, with or without words: 1-3 (strides 4-16).
CATEGORY_STAGES = slice(0, 3)


@dataclass
class StepOutput:
    """mask_logits: the LGFormer's outputs (None in a vision-only step); category_loss,
    stage_mask_loss: float32 scalars (None without their heads or labels)."""

    mask_logits: list[torch.Tensor] | None
    category_loss: torch.Tensor | None
    stage_mask_loss: torch.Tensor | None = None


class Objective(nn.Module):
    """The LGFormer and the heads of its training aids; ``forward`` runs one step's
    forward pass, ``loss`` turns its output into the scalar the step minimises.

    Args:
        model: the LGFormer being trained.
        config: the run's ``objective`` section.
        num_categories: label count (background included) of the training set's
            per-pixel categories, or None when it has none.

    Raises:
        LGFormerError: the config asks for category labels the training set lacks.
    """

    def __init__(
        self, model: LGFormer, config: ObjectiveConfig, *, num_categories: int | None
    ) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.category_heads: CategoryHeads | None = None
        self.stage_heads: StageMaskHeads | None = None
        if config.uses_categories:
            if num_categories is None:
                raise LGFormerError(
                    "objective.category_loss_weight / objective.category_warmup_steps need "
                    "per-pixel category labels, which this training set does not provide"
                )
            stages = model.config.swin.stage_channels[CATEGORY_STAGES]
            channels = [*stages, model.config.decoder.hidden_dim]
            self.category_heads = CategoryHeads(channels, num_categories)
        if config.stage_mask_loss_weight:
            self.stage_heads = StageMaskHeads(model.config.swin.stage_channels)

    def warming(self, step: int) -> bool:
        """Whether step ``step`` (0-based) is a vision-only warm-start step."""
        return self.config.warming(step)

    def forward(
        self,
        image: torch.Tensor,
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        categories: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        *,
        visual_only: bool = False,
    ) -> StepOutput:
        """image (B, 3, S, S); token_ids, attention_mask (B, L); categories (B, S, S) int64
        or None (then no category loss); target (B, S, S), the referred object's mask, or
        None (then no stage-mask loss). ``visual_only`` runs the Swin path alone and
        returns only the category loss of stages 1-3."""
        if visual_only:
            if self.category_heads is None or categories is None:
                raise ValueError("a vision-only step needs category heads and 'categories'")
            # Run the Swin only as deep as the heads read.
            maps = self.model.backbone.visual_features(image, stages=CATEGORY_STAGES.stop)
            return StepOutput(None, self.category_heads(maps[CATEGORY_STAGES], categories))
        with_categories = self.category_heads is not None and categories is not None
        with_stages = self.stage_heads is not None and target is not None
        out = self.model(
            image, token_ids, attention_mask, return_intermediates=with_categories or with_stages
        )
        category_loss = stage_mask_loss = None
        if with_categories:
            assert self.category_heads is not None and categories is not None
            category_loss = self.category_heads(_category_maps(out), categories)
        if with_stages:
            assert self.stage_heads is not None and target is not None
            assert out.backbone is not None
            stage_mask_loss = self.stage_heads(out.backbone.features, target)
        return StepOutput(out.mask_logits, category_loss, stage_mask_loss)

    def loss(self, out: StepOutput, target: torch.Tensor) -> torch.Tensor:
        """The float32 scalar a step minimises: in a vision-only step the category loss;
        otherwise the deep-supervised mask loss against ``target`` (B, S, S) plus the
        weighted category and stage-mask losses."""
        if out.mask_logits is None:  # vision-only step
            assert out.category_loss is not None
            return out.category_loss
        cfg = self.config
        loss = deep_supervision_loss(
            out.mask_logits, target, pos_weight=cfg.pos_weight, dice_weight=cfg.dice_weight
        )
        if out.category_loss is not None:
            loss = loss + cfg.category_loss_weight * out.category_loss
        if out.stage_mask_loss is not None:
            loss = loss + cfg.stage_mask_loss_weight * out.stage_mask_loss
        return loss

    def heads(self) -> list[nn.Module]:
        """The aids' heads this run has (each gets its own optimizer group)."""
        return [h for h in (self.category_heads, self.stage_heads) if h is not None]

    def warm_start_only_parameters(self) -> list[nn.Parameter]:
        """Parameters only the vision-only warm start uses: category heads without a
        category loss. DDP must leave them alone: the warm start averages their gradients
        itself, and DDP's first synchronised step would otherwise expect a gradient for
        every parameter used under its ``no_sync``."""
        if self.category_heads is None or self.config.step_uses_categories(False):
            return []
        return list(self.category_heads.parameters())

    def head_state_dicts(self) -> dict[str, dict[str, Any] | None]:
        """Checkpoint key -> the heads' state dict (None for heads this run lacks)."""
        return {key: None if h is None else h.state_dict() for key, h, _ in self._entries()}

    def load_heads(self, ckpt: dict[str, Any], path: str | Path) -> None:
        """Restores this run's heads from a checkpoint; one without them is refused."""
        for key, heads, what in self._entries():
            if heads is None:
                continue
            if ckpt.get(key) is None:
                raise LGFormerError(
                    f"{path} was trained without the {what} this run uses; resume with the "
                    "same config"
                )
            heads.load_state_dict(ckpt[key])

    def _entries(self) -> list[tuple[str, nn.Module | None, str]]:
        """(checkpoint key, heads or None, what and which option) of each set."""
        return [
            (
                "category_heads",
                self.category_heads,
                "category heads (objective.category_loss_weight / category_warmup_steps)",
            ),
            (
                "stage_heads",
                self.stage_heads,
                "stage-mask heads (objective.stage_mask_loss_weight)",
            ),
        ]


def _category_maps(out: LGFormerOutput) -> list[torch.Tensor]:
    """The maps the category heads read from a forward with intermediates: backbone
    stages 1-3 (B, C_i, h_i, w_i), then the mask features (B, D, S/4, S/4)."""
    assert out.backbone is not None and out.pixel_decoder is not None
    return [*out.backbone.features[CATEGORY_STAGES], out.pixel_decoder.mask_features]


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
