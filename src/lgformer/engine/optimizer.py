"""AdamW over the released recipe's four parameter groups (spec section 8).

1. ``backbone_no_decay``: backbone parameters whose name contains ``norm``,
   ``absolute_pos_embed`` or ``relative_position_bias_table`` (weight decay 0);
2. ``backbone``: the other backbone parameters;
3. ``decoder``: everything under ``classifier``;
4. ``text_encoder``: BERT's encoder layers (plus its embeddings when
   ``train_bert_embeddings``). By default the embeddings are in no group and
   frozen, as released.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lgformer.engine.config import OptimConfig
from lgformer.errors import LGFormerError

NO_DECAY_KEYWORDS = ("norm", "absolute_pos_embed", "relative_position_bias_table")


def set_text_embeddings_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze (released) or unfreeze BERT's embeddings. Frozen ones also skip their
    gradient, which for the 30522 x 768 word table is a large saving per step."""
    for param in model.text_encoder.embeddings.parameters():
        param.requires_grad_(trainable)


def parameter_groups(
    model: nn.Module,
    *,
    weight_decay: float,
    train_bert_embeddings: bool = False,
) -> list[dict[str, Any]]:
    """The four named groups (empty ones dropped). Frozen parameters are left out.

    Any other trainable parameter (a module outside backbone, classifier and
    text_encoder) joins the decoder group with a warning rather than silently
    staying untrained.
    """
    groups: dict[str, list[nn.Parameter]] = {
        "backbone_no_decay": [],
        "backbone": [],
        "decoder": [],
        "text_encoder": [],
    }
    strays = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith("backbone."):
            no_decay = any(k in name for k in NO_DECAY_KEYWORDS)
            groups["backbone_no_decay" if no_decay else "backbone"].append(param)
        elif name.startswith("classifier."):
            groups["decoder"].append(param)
        elif name.startswith("text_encoder.encoder.layer."):
            groups["text_encoder"].append(param)
        elif name.startswith("text_encoder.embeddings."):
            if train_bert_embeddings:
                groups["text_encoder"].append(param)
        else:
            strays.append(name)
            groups["decoder"].append(param)
    if strays:
        warnings.warn(
            f"{len(strays)} parameters outside backbone/classifier/text_encoder were put in "
            f"the decoder group: {strays[:5]}",
            stacklevel=2,
        )
    out = []
    for group_name, params in groups.items():
        if params:
            decay = 0.0 if group_name == "backbone_no_decay" else weight_decay
            out.append({"name": group_name, "params": params, "weight_decay": decay})
    return out


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    train_bert_embeddings: bool = False,
    train_text_encoder: bool = True,
    fused: bool = False,
) -> torch.optim.AdamW:
    """AdamW over ``parameter_groups``; also sets the embeddings' ``requires_grad``.

    ``train_text_encoder=False`` freezes the whole text encoder: no parameter of it
    requires a gradient or is in any group (``train_bert_embeddings`` is then moot).
    ``fused=True`` uses torch's fused AdamW kernel (the same update rule).
    """
    set_text_embeddings_trainable(model, train_bert_embeddings and train_text_encoder)
    if not train_text_encoder:
        for param in model.text_encoder.parameters():
            param.requires_grad_(False)
    groups = parameter_groups(
        model,
        weight_decay=weight_decay,
        train_bert_embeddings=train_bert_embeddings,
    )
    for group in groups:
        group["lr"] = lr
    return torch.optim.AdamW(
        groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused or None
    )


def build_training_optimizer(
    model: nn.Module, optim: OptimConfig, extra: list[nn.Module] = ()
) -> torch.optim.AdamW:
    """``build_optimizer`` as the run's ``optim`` section says, plus one group (base lr and
    weight decay) per module of ``extra`` (the objective's heads), in that order."""
    optimizer = build_optimizer(
        model,
        lr=optim.lr,
        weight_decay=optim.weight_decay,
        betas=optim.betas,
        eps=optim.eps,
        train_bert_embeddings=optim.train_bert_embeddings,
        train_text_encoder=optim.train_text_encoder,
        fused=optim.fused,
    )
    for module in extra:
        optimizer.add_param_group(
            {
                "params": list(module.parameters()),
                "lr": optim.lr,
                "weight_decay": optim.weight_decay,
            }
        )
    return optimizer


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, state: dict[str, Any], source: str | Path
) -> None:
    """Restores a checkpoint's optimizer state (moments, step counts) but keeps this
    run's hyperparameters (lr, weight decay, betas, eps): the resumed run's config
    decides them, e.g. a lower ``optim.lr`` after a divergence. A state whose groups do
    not fit (other options, other parameters) raises ``LGFormerError`` naming ``source``."""
    settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(state)
    except ValueError as err:
        raise LGFormerError(
            f"{source}: optimizer state does not fit this run's parameter groups ({err}); "
            "were optim.train_bert_embeddings or the auxiliary-loss options changed?"
        ) from err
    for group, ours in zip(optimizer.param_groups, settings):
        group.update(ours)
