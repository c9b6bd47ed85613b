"""Collects per-sample intersections and unions, across batches and processes.

Typical validation loop (training or evaluation)::

    acc = IoUAccumulator()
    for batch in loader:                                  # collate_samples batches
        logits = model(image, token_ids, attention_mask).pred_logits  # (B, 1, S, S)
        acc.update(predict_foreground(logits[:, 0]), batch["target"], batch["index"])
    metrics = acc.synchronize().compute()                 # same numbers on every rank

``synchronize`` gathers the per-sample records of every process (exact
integers, a few MB at RefCOCO scale) instead of reducing float sums, so the
result is bit-identical to a single process and per-sample output stays
possible.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from lgformer.evaluation.metrics import SegmentationMetrics, compute_metrics, intersection_union


class IoUAccumulator:
    """Per-sample (index, intersection, union) records.

    ``index`` identifies a sample (its position in the dataset); it orders the
    records and catches a sample counted twice.
    """

    def __init__(self) -> None:
        self._indices: list[np.ndarray] = []
        self._inter: list[np.ndarray] = []
        self._union: list[np.ndarray] = []
        self._next_index = 0

    def __len__(self) -> int:
        return sum(len(x) for x in self._indices)

    def update(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        indices: torch.Tensor | np.ndarray | list[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add a batch: pred (B, H, W) bool, target (B, H, W) (nonzero = foreground),
        indices (B,) sample ids (default: consecutive). Returns (B,) intersections, unions."""
        inter, union = intersection_union(pred, target)
        self.add(inter, union, indices)
        return inter, union

    def add(
        self,
        intersections: torch.Tensor | np.ndarray | list[int],
        unions: torch.Tensor | np.ndarray | list[int],
        indices: torch.Tensor | np.ndarray | list[int] | None = None,
    ) -> None:
        """Add (B,) precomputed intersections and unions (pixel counts)."""
        inter, union = _int64(intersections), _int64(unions)
        if indices is None:
            idx = np.arange(self._next_index, self._next_index + len(inter), dtype=np.int64)
        else:
            idx = _int64(indices)
        if not len(idx) == len(inter) == len(union):
            raise ValueError("indices, intersections and unions must have the same length")
        if len(idx):
            self._next_index = max(self._next_index, int(idx.max()) + 1)
        self._indices.append(idx)
        self._inter.append(inter)
        self._union.append(union)

    def records(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices, intersections, unions), each (N,) int64, sorted by index."""
        idx = _cat(self._indices)
        order = np.argsort(idx, kind="stable")
        return idx[order], _cat(self._inter)[order], _cat(self._union)[order]

    def synchronize(self) -> IoUAccumulator:
        """All records of all processes (a no-op without an initialised process group).

        Raises ``RuntimeError`` if two processes hold the same sample index.
        """
        idx, inter, union = self.records()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, (idx, inter, union))
            idx = np.concatenate([p[0] for p in parts])
            inter = np.concatenate([p[1] for p in parts])
            union = np.concatenate([p[2] for p in parts])
        merged = IoUAccumulator()
        merged.add(inter, union, idx)
        idx = merged.records()[0]
        if len(idx) != len(np.unique(idx)):
            raise RuntimeError("a sample was evaluated more than once")
        return merged

    def compute(self) -> SegmentationMetrics:
        """The metrics of the records held here (call ``synchronize`` first under DDP)."""
        _, inter, union = self.records()
        return compute_metrics(inter, union)


def _int64(values: torch.Tensor | np.ndarray | list[int]) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
