"""Validation during training: overall IoU, mean IoU and precision@K over a split.

Each process evaluates its shard with ``lgformer.evaluation.loop.count_ious`` (the
loop of ``lgformer evaluate``), which gathers the exact per-sample counts, so every
process returns the numbers of the whole split (identical to a single process).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from lgformer.engine.distributed import DistInfo
from lgformer.engine.precision import Precision
from lgformer.engine.training_loader import TrainingDataLoader
from lgformer.evaluation.loop import count_ious, shard_loader


def validate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int,
    device: torch.device,
    precision: Precision,
    info: DistInfo,
    num_workers: int = 0,
    collate_fn: Any = None,
    progress: bool = False,
) -> dict[str, float]:
    """Metrics in percent: ``overall_iou``, ``mean_iou``, ``precision@0.5`` ... ``@0.9``.

    Args:
        model: the bare model (not DDP-wrapped); evaluated in eval mode, its mode restored.
        dataset: items with ``image`` (3, S, S), ``token_ids``/``attention_mask`` (L,)
            and ``target`` (S, S) 0/1; the prediction is compared at S x S.

    No gradients are recorded: ``count_ious`` runs the model under inference mode.
    """
    loader = shard_loader(
        dataset,
        batch_size=batch_size,
        rank=info.rank,
        world_size=info.world_size,
        num_workers=num_workers,
        collate_fn=collate_fn,
        device=device,
        loader_class=TrainingDataLoader,  # a stop signal is the trainer's to handle
    )
    bar = tqdm(total=len(loader.sampler), desc="validate", leave=False, disable=not progress)
    with bar:
        acc = count_ious(model, loader, device=device, autocast=precision.autocast, bar=bar)
    metrics = acc.compute()
    out = {"overall_iou": metrics.overall_iou, "mean_iou": metrics.mean_iou}
    out.update({f"precision@{k:g}": v for k, v in metrics.precision.items()})
    return out
