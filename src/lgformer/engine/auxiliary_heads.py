"""The training-only auxiliary heads of a run, built from its config and checkpointed.

Two optional sets of 1x1 classifiers help a from-scratch model learn (category and
stage-mask heads: ``category_loss.py``, ``stage_mask_loss.py``). ``AuxiliaryHeads``
decides which ones a run has, names them in its checkpoints, and says which of them
only the vision-only warm start uses (those must stay out of DDP).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from lgformer.engine.category_loss import CategoryHeads
from lgformer.engine.optim_config import OptimConfig
from lgformer.engine.stage_mask_loss import StageMaskHeads
from lgformer.engine.training_model import TrainingModel
from lgformer.errors import LGFormerError
from lgformer.model import LGFormer


@dataclass
class AuxiliaryHeads:
    """The run's auxiliary heads, each None when its option is off."""

    category: CategoryHeads | None = None
    stage: StageMaskHeads | None = None

    @classmethod
    def build(
        cls, optim: OptimConfig, model: LGFormer, train_set: Dataset, device: torch.device
    ) -> AuxiliaryHeads:
        """The heads ``optim`` asks for, on ``device``.

        Raises:
            LGFormerError: an option needs per-pixel category labels that ``train_set``
                does not provide.
        """
        categories = getattr(train_set, "categories", None)
        heads = cls()
        if optim.uses_categories:
            if categories is None:
                raise LGFormerError(
                    "optim.category_loss_weight / optim.category_warmup_steps need per-pixel "
                    "category labels, which this training set does not provide"
                )
            channels = TrainingModel.head_channels(model)
            heads.category = CategoryHeads(channels, categories.num_labels).to(device)
        if optim.stage_mask_loss_weight:
            heads.stage = StageMaskHeads(model.config.swin.stage_channels).to(device)
        return heads

    def entries(self) -> list[tuple[str, nn.Module | None, str]]:
        """(checkpoint key, heads or None, what and which option) of each set."""
        return [
            (
                "category_heads",
                self.category,
                "category heads (optim.category_loss_weight / category_warmup_steps)",
            ),
            ("stage_heads", self.stage, "stage-mask heads (optim.stage_mask_loss_weight)"),
        ]

    def present(self) -> list[nn.Module]:
        """The sets this run has."""
        return [heads for _, heads, _ in self.entries() if heads is not None]

    def warm_start_only_parameters(self, optim: OptimConfig) -> list[nn.Parameter]:
        """Parameters that only the vision-only warm start uses: category heads without
        ``category_loss_weight`` (``OptimConfig.step_uses_categories``, which also decides
        what a training step reads). DDP must
        leave them alone: the warm start averages their gradients itself, and DDP's first
        synchronised step would otherwise expect a gradient for every parameter used
        under its ``no_sync``."""
        heads: list[nn.Module] = []
        if self.category is not None and not optim.step_uses_categories(warming=False):
            heads.append(self.category)
        return [p for m in heads for p in m.parameters()]

    def state_dicts(self) -> dict[str, dict[str, Any] | None]:
        """Checkpoint key -> the set's state dict (None for a set this run lacks)."""
        return {
            key: None if heads is None else heads.state_dict() for key, heads, _ in self.entries()
        }

    def load(self, ckpt: dict[str, Any], path: str | Path) -> None:
        """Restores the sets this run has from a checkpoint; one without them is refused."""
        for key, heads, what in self.entries():
            if heads is None:
                continue
            if ckpt.get(key) is None:
                raise LGFormerError(
                    f"{path} was trained without the {what} this run uses; resume with the "
                    "same config"
                )
            heads.load_state_dict(ckpt[key])
