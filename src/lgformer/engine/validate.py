"""Validation during training: overall IoU, mean IoU and precision@K over a split.

Each process evaluates its shard; ``IoUAccumulator`` gathers the exact
per-sample counts, so every process returns the numbers of the whole split
(identical to a single process).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from lgformer.engine.distributed import DistInfo
from lgformer.engine.precision import Precision
from lgformer.engine.sampler import ResumableSampler
from lgformer.evaluation import IoUAccumulator, predict_foreground


@torch.no_grad()
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
        model: the bare model (not DDP-wrapped); put in eval mode here and left so.
        dataset: items with ``image`` (3, S, S), ``token_ids``/``attention_mask`` (L,)
            and ``target`` (S, S) 0/1; the prediction is compared at S x S.
    """
    model.eval()
    sampler = ResumableSampler(
        len(dataset), num_replicas=info.world_size, rank=info.rank, shuffle=False, pad=False
    )
    order = sampler.epoch_indices()  # dataset positions of this shard, in loader order
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
    )
    acc = IoUAccumulator()
    seen = 0
    for batch in tqdm(loader, desc="validate", leave=False, disable=not progress):
        with precision.autocast():
            logits = model(
                batch["image"].to(device, non_blocking=True),  # (B, 3, S, S)
                batch["token_ids"].to(device, non_blocking=True),  # (B, L)
                batch["attention_mask"].to(device, non_blocking=True),  # (B, L)
            ).pred_logits  # (B, 1, S, S)
        target = batch["target"].to(device, non_blocking=True)  # (B, S, S)
        count = logits.shape[0]
        acc.update(predict_foreground(logits[:, 0]), target > 0.5, order[seen : seen + count])
        seen += count
    metrics = acc.synchronize().compute()
    out = {"overall_iou": metrics.overall_iou, "mean_iou": metrics.mean_iou}
    out.update({f"precision@{k:g}": v for k, v in metrics.precision.items()})
    return out
