"""The evaluation loop: many sentences per forward pass, workers, progress bar, torchrun.

Every sentence is a sample (spec section 9). A batch holds consecutive
sentences, across refs; each image in it is decoded once and sent once
(``collate_shared_images``), and the model runs the part that sees no words (the
patch embedding and the first Swin stage) once per image (``LGFormer``'s
``image_index``). Everything after that runs per sentence, as one sentence at a
time would, and the numbers come from exact per-sample pixel counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lgformer.data.datasets import ReferEvalDataset, collate_shared_images
from lgformer.distributed import ProcessInfo
from lgformer.evaluation.loop import RESOLUTIONS, count_dataset
from lgformer.evaluation.metrics import SegmentationMetrics, per_sample_iou


@dataclass
class EvaluationResult:
    """Metrics and the per-sample records they came from (all (N,) arrays, dataset order)."""

    metrics: SegmentationMetrics
    resolution: str
    ref_ids: np.ndarray
    sent_ids: np.ndarray
    intersections: np.ndarray
    unions: np.ndarray

    @property
    def ious(self) -> np.ndarray:
        """(N,) float64 per-sample IoU (0 for an empty union)."""
        return per_sample_iou(self.intersections, self.unions)


def evaluate(
    model: torch.nn.Module,
    dataset: ReferEvalDataset,
    *,
    batch_size: int = 16,
    num_workers: int = 2,
    device: str | torch.device = "cpu",
    resolution: str = "input",
    process: ProcessInfo | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate ``model`` on every sample of ``dataset``.

    Args:
        model: maps (image (B,3,S,S), token_ids (B,L), attention_mask (B,L)) to an
            output with ``pred_logits`` (B,1,S,S) (``LGFormer``).
        dataset: the samples; with ``resolution="original"`` it must have been
            built with ``keep_original=True``.
        batch_size: sentences per forward pass. It does not change the metrics.
        num_workers: DataLoader worker processes (0 loads in this process).
        device: where the model runs.
        resolution: ``"input"`` compares at S x S with the nearest-resized target
            (the paper's protocol); ``"original"`` upsamples the logits
            bilinearly to the image size and compares with the full mask.
        process: this process's shard under torchrun (``init_distributed``);
            every rank returns the same, complete result.
        progress: show a progress bar (rank 0 only).
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    if resolution == "original" and not dataset.keep_original:
        raise ValueError("resolution='original' needs ReferEvalDataset(..., keep_original=True)")
    process = process or ProcessInfo()
    device = torch.device(device)
    acc = count_dataset(
        model,
        dataset,
        batch_size=batch_size,
        process=process,
        num_workers=num_workers,
        collate_fn=collate_shared_images,
        device=device,
        resolution=resolution,
        progress=progress,
        desc=f"evaluating ({resolution} resolution)",
    )
    indices, inter, union = acc.records()
    if len(indices) != len(dataset):
        raise RuntimeError(f"evaluated {len(indices)} of {len(dataset)} samples")
    split = dataset.split
    ref_ids = np.asarray([r.ref_id for r in split.refs], dtype=np.int64)[split.sent_ref[indices]]
    return EvaluationResult(
        metrics=acc.compute(),
        resolution=resolution,
        ref_ids=ref_ids,
        sent_ids=split.sent_ids[indices],
        intersections=inter,
        unions=union,
    )
