"""The optimisation part of a training config (``optim:``): the released recipe by
default (spec section 8), plus the training-only options that help a from-scratch model
(warm start, auxiliary losses), each off by default."""

from __future__ import annotations

from dataclasses import dataclass

from lgformer.errors import LGFormerError


@dataclass
class OptimConfig:
    """Optimisation: AdamW, four parameter groups, poly schedule per iteration."""

    lr: float = 5e-5
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    epochs: int = 40
    # Total over all processes (released: 2 GPUs x 8); must divide by the world size.
    batch_size: int = 16
    poly_power: float = 0.9
    # BCEWithLogits positive weight of the deep-supervision loss.
    pos_weight: float = 1.1
    # Weight of an added soft Dice term per output; 0 is the released recipe (BCE only).
    dice_weight: float = 0.0
    # Max global gradient norm; None = no clipping (the released recipe).
    grad_clip: float | None = None
    # The released models keep BERT's embeddings frozen (in no parameter group).
    train_bert_embeddings: bool = False
    # False freezes the whole text encoder (embeddings and layers: requires_grad False,
    # in no parameter group), e.g. to ship a model that re-reads MiniLM at load time.
    train_text_encoder: bool = True
    # torch's fused AdamW kernel (CPU and CUDA): same update, one kernel per step; on a
    # small CPU model it saves ~0.1 s per step over the default per-tensor loop.
    fused: bool = False
    # fp16 (autocast + grad scaler, released), bf16 or fp32. A CPU runs bf16 where it has
    # native bf16 (AVX512-BF16 / AMX) and fp32 otherwise (fp16 always falls back to fp32).
    precision: str = "fp16"
    # Consecutive non-finite losses tolerated (each skips its step) before aborting.
    max_bad_steps: int = 5
    # Auxiliary per-pixel category loss (engine/category_loss.py), training only: its
    # weight next to the referring loss; 0 is the released recipe.
    category_loss_weight: float = 0.0
    # The first steps train the Swin alone (no words, fusion or decoders) on the category
    # labels, a vision warm start inside the schedule: the lr stays at its base value
    # through them and the poly decay spans the rest; 0 is the released recipe.
    category_warmup_steps: int = 0
    # Auxiliary stage-mask loss (engine/stage_mask_loss.py), training only: 1x1 heads on
    # the four fused backbone maps predict the referred object; 0 is the released recipe.
    stage_mask_loss_weight: float = 0.0

    @property
    def uses_categories(self) -> bool:
        """Whether the run trains with category labels (loss or vision-only warm start)."""
        return self.category_loss_weight > 0 or self.category_warmup_steps > 0

    def step_uses_categories(self, warming: bool) -> bool:
        """Whether a step reads the per-pixel category labels: every warm-start step of a
        run that has them, a referring step only with ``category_loss_weight``."""
        return self.uses_categories if warming else self.category_loss_weight > 0

    def validate(self) -> None:
        """Raises ``LGFormerError`` for a value that would fail deep inside a run (a
        division by zero after the first step, a PyTorch traceback) or silently misbehave
        (a negative clip norm flips the gradients)."""
        if self.precision not in ("fp16", "bf16", "fp32"):
            raise LGFormerError(
                f"optim.precision must be fp16, bf16 or fp32, got {self.precision!r}"
            )
        if self.batch_size < 1 or self.epochs < 1:
            raise LGFormerError("optim.batch_size and optim.epochs must be positive")
        # `not x >= 0` is also true for NaN.
        for name in (
            "lr",
            "weight_decay",
            "eps",
            "category_loss_weight",
            "category_warmup_steps",
            "stage_mask_loss_weight",
        ):
            value = getattr(self, name)
            if not value >= 0:
                raise LGFormerError(f"optim.{name} must be >= 0, got {value}")
        if not all(0 <= beta < 1 for beta in self.betas):
            raise LGFormerError(f"optim.betas must be in [0, 1), got {list(self.betas)}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise LGFormerError(
                f"optim.grad_clip must be > 0 (or null: no clipping), got {self.grad_clip}"
            )
        if self.max_bad_steps < 1:
            raise LGFormerError(f"optim.max_bad_steps must be >= 1, got {self.max_bad_steps}")
