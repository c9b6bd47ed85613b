"""The paper's metrics and a fast, multi-process evaluation loop."""

from lgformer.distributed import ProcessInfo, init_distributed, shutdown_distributed
from lgformer.evaluation.accumulator import IoUAccumulator
from lgformer.evaluation.distributed import ShardSampler, shard_bounds
from lgformer.evaluation.evaluator import RESOLUTIONS, EvaluationResult, evaluate
from lgformer.evaluation.metrics import (
    THRESHOLDS,
    SegmentationMetrics,
    compute_metrics,
    intersection_union,
    per_sample_iou,
    predict_foreground,
)

__all__ = [
    "RESOLUTIONS",
    "THRESHOLDS",
    "EvaluationResult",
    "IoUAccumulator",
    "ProcessInfo",
    "SegmentationMetrics",
    "ShardSampler",
    "compute_metrics",
    "evaluate",
    "init_distributed",
    "intersection_union",
    "per_sample_iou",
    "predict_foreground",
    "shard_bounds",
    "shutdown_distributed",
]
