"""Made-up evaluation results written as ``lgformer evaluate --per-sample`` writes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lgformer.evaluation import compute_metrics
from lgformer.evaluation.evaluator import EvaluationResult
from lgformer.evaluation.report import write_per_sample_csv


def write_made_up_results(path: Path, rows: list[tuple[int, int, int, int]]) -> Path:
    """``rows`` of (ref_id, sent_id, intersection, union) -> the per-sample CSV at ``path``."""
    ref_ids, sent_ids, inters, unions = (np.array(column) for column in zip(*rows, strict=True))
    result = EvaluationResult(
        metrics=compute_metrics(inters, unions),
        resolution="input",
        ref_ids=ref_ids,
        sent_ids=sent_ids,
        intersections=inters,
        unions=unions,
    )
    return write_per_sample_csv(path, result)
