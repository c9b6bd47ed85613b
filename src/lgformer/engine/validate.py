"""Validation during training: overall IoU, mean IoU and precision@K over a split.

Each process evaluates its shard of the samples; the sums are all-reduced, so
every process returns the same numbers for the whole split.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from lgformer.engine.distributed import DistInfo, all_reduce_sum
from lgformer.engine.precision import Precision
from lgformer.engine.sampler import ResumableSampler

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


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
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
    )
    # intersection, union, sum of per-sample IoU, samples, then one count per threshold
    sums = torch.zeros(4 + len(THRESHOLDS), dtype=torch.float64, device=device)
    for batch in tqdm(loader, desc="validate", leave=False, disable=not progress):
        image = batch["image"].to(device, non_blocking=True)
        target = batch["target"].to(device, non_blocking=True) > 0.5  # (B, S, S)
        with precision.autocast():
            logits = model(
                image,
                batch["token_ids"].to(device, non_blocking=True),
                batch["attention_mask"].to(device, non_blocking=True),
            ).pred_logits  # (B, 1, S, S)
        pred = logits[:, 0] > 0  # sigmoid > 0.5
        inter = (pred & target).flatten(1).sum(1).double()  # (B,)
        union = (pred | target).flatten(1).sum(1).double()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))
        sums[0] += inter.sum()
        sums[1] += union.sum()
        sums[2] += iou.sum()
        sums[3] += iou.numel()
        for k, thr in enumerate(THRESHOLDS):
            sums[4 + k] += (iou >= thr).sum()
    all_reduce_sum(sums)
    count = max(sums[3].item(), 1.0)
    metrics = {
        "overall_iou": 100.0 * sums[0].item() / max(sums[1].item(), 1.0),
        "mean_iou": 100.0 * sums[2].item() / count,
    }
    for k, thr in enumerate(THRESHOLDS):
        metrics[f"precision@{thr}"] = 100.0 * sums[4 + k].item() / count
    return metrics
