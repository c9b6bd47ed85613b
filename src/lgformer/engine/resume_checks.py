"""Whether a training checkpoint can be continued by this run (``lgformer train`` resume).

A resumed run must see the same model and the same data order as the one that wrote
the checkpoint; anything else (learning rate, epochs, logging) may change and is
reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lgformer.engine.config import TrainConfig
from lgformer.errors import LGFormerError

# What a training checkpoint has besides the weights (a model file has "model" alone).
TRAINING_KEYS = ("optimizer", "scheduler", "epoch", "step_in_epoch", "step")
# Config keys that decide which samples make up each step: a checkpoint written with other
# values cannot be continued (its position in the epoch would point elsewhere).
RUN_KEYS = ("data.dataset", "data.split_by", "data.train_split", "optim.batch_size")


def check_resumable(
    ckpt: dict[str, Any],
    path: str | Path,
    *,
    model_config: dict[str, Any],
    cfg: TrainConfig,
    num_samples: int,
) -> dict[str, tuple[Any, Any]]:
    """Refuses a checkpoint this run cannot continue: a model file, another model, or
    another data order (dataset, split, batch size, training set size).

    Args:
        ckpt: the loaded training checkpoint (``Trainer.state`` plus RNG states).
        path: where it was read from (for the messages).
        model_config: this run's ``LGFormerConfig.to_dict()``.
        cfg: this run's training config.
        num_samples: this run's training samples per epoch (``ResumableSampler``).

    Returns:
        the config changes since the checkpoint (``config_changes``), all of them allowed.

    Raises:
        LGFormerError: naming what differs and how to start over instead.
    """
    missing = [key for key in TRAINING_KEYS if key not in ckpt]
    if missing:
        raise LGFormerError(
            f"{path} holds model weights but no training state (no {', '.join(missing)}); "
            f"to start a run from these weights use --set init.checkpoint={path}"
        )
    restart = "or start a new run with --no-resume or another output.dir"
    if ckpt.get("model_config") not in (None, model_config):
        differs = config_changes(ckpt["model_config"], model_config)
        shown = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in list(differs.items())[:5])
        more = f" and {len(differs) - 5} more" if len(differs) > 5 else ""
        raise LGFormerError(
            f"{path} was trained with another model than this run's ({shown}{more}, "
            f"checkpoint -> this run); resume with the same model config, {restart}"
        )
    changes = config_changes(ckpt.get("config") or {}, cfg.to_dict())
    fixed = {k: v for k, v in changes.items() if k in RUN_KEYS and v[0] is not None}
    if fixed:
        raise LGFormerError(
            f"{path} belongs to a run with other data or batches ("
            + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in fixed.items())
            + f"); resume with the same values, {restart}"
        )
    samples = ckpt.get("sampler", {}).get("num_samples", num_samples)
    if samples != num_samples:
        raise LGFormerError(
            f"{path} was trained on {samples} samples per epoch, this run's training set "
            f"has {num_samples}; resume on the same data, {restart}"
        )
    return changes


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (value in ``before``, value in ``after``) for every leaf that differs;
    a key missing on one side counts as None there."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            inner = config_changes(old, new)
            out.update({f"{key}.{k}": v for k, v in inner.items()})
        elif old != new:
            out[str(key)] = (old, new)
    return out
