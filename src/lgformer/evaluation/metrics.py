"""The paper's metrics (spec section 9) from per-sample intersections and unions.

- overall IoU: sum of intersections / sum of unions over all samples;
- mean IoU: mean of per-sample IoU, a sample with an empty union counting 0;
- precision@K: share of samples with IoU >= K, K in 0.5 .. 0.9.

All in percent; ``SegmentationMetrics.as_dict`` rounds to two decimals as
reported. Intersections and unions are exact integers and IoUs are computed
in float64, so the numbers do not depend on batching or on how samples are
split across processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)


def predict_foreground(logits: torch.Tensor) -> torch.Tensor:
    """Mask logits (any shape) -> bool foreground, ``sigmoid(logits) > 0.5`` as in the paper."""
    return torch.sigmoid(logits.float()) > 0.5


def intersection_union(
    pred: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample pixel counts.

    Args:
        pred: (B, H, W) bool predicted foreground.
        target: (B, H, W) bool ground truth (any dtype; nonzero is foreground).

    Returns:
        intersection, union: (B,) int64 each.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    pred, target = pred.bool().flatten(1), target.bool().flatten(1)  # (B, HW)
    inter = (pred & target).sum(dim=1, dtype=torch.int64)
    union = (pred | target).sum(dim=1, dtype=torch.int64)
    return inter, union


def per_sample_iou(intersections: np.ndarray, unions: np.ndarray) -> np.ndarray:
    """(N,) float64 IoU; 0 where the union is empty (both masks empty)."""
    inter = np.asarray(intersections, dtype=np.float64)
    union = np.asarray(unions, dtype=np.float64)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class SegmentationMetrics:
    """The paper's numbers, in percent (unrounded; see ``as_dict``)."""

    overall_iou: float
    mean_iou: float
    precision: dict[float, float]  # threshold -> percent of samples with IoU >= threshold
    num_samples: int

    def scores(self) -> dict[str, float]:
        """``overall_iou``, ``mean_iou``, ``precision@0.5`` .. ``precision@0.9`` (unrounded)."""
        out = {"overall_iou": self.overall_iou, "mean_iou": self.mean_iou}
        out.update({f"precision@{k:g}": v for k, v in self.precision.items()})
        return out

    def as_dict(self) -> dict[str, float | int]:
        """``scores`` rounded to two decimals, and ``num_samples``."""
        out: dict[str, float | int] = {k: round(v, 2) for k, v in self.scores().items()}
        out["num_samples"] = self.num_samples
        return out


def compute_metrics(
    intersections: Sequence[int] | np.ndarray,
    unions: Sequence[int] | np.ndarray,
    thresholds: Sequence[float] = THRESHOLDS,
) -> SegmentationMetrics:
    """Metrics from (N,) per-sample intersections and unions (pixel counts)."""
    inter = np.asarray(intersections, dtype=np.int64)
    union = np.asarray(unions, dtype=np.int64)
    if inter.shape != union.shape or inter.ndim != 1:
        raise ValueError("intersections and unions must be 1-D arrays of the same length")
    if (inter > union).any() or (inter < 0).any():
        raise ValueError("each intersection must lie in [0, union]")
    n = len(inter)
    if n == 0:
        return SegmentationMetrics(0.0, 0.0, {float(k): 0.0 for k in thresholds}, 0)
    iou = per_sample_iou(inter, union)
    total_union = int(union.sum())
    overall = int(inter.sum()) / total_union if total_union else 0.0
    precision = {float(k): 100.0 * int((iou >= k).sum()) / n for k in thresholds}
    return SegmentationMetrics(
        overall_iou=100.0 * overall,
        # fsum is exactly rounded, so the order of samples cannot change the result.
        mean_iou=100.0 * math.fsum(iou.tolist()) / n,
        precision=precision,
        num_samples=n,
    )
