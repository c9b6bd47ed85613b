"""Made-up evaluation results written as ``lgformer evaluate --per-sample`` writes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def score_sentences(
    refs: list[dict[str, Any]],
    score: Callable[[dict[str, Any]], tuple[int, int]],
    kind: str,
    group: Callable[[dict[str, Any]], str],
) -> tuple[list[tuple[int, int, int, int]], dict[str, list[int]], int]:
    """Made-up results for every sentence of ``refs`` and what a per-kind splitter must find.

    ``score(sentence)`` gives its (intersection, union); sentences of ``kind`` are summed
    per ``group(sentence)``. Returns the CSV rows (ref_id, sent_id, intersection, union),
    {group: [intersection, union]} over the ``kind`` sentences, and their count.
    """
    rows, expected, count = [], {}, 0
    for ref in refs:
        for sentence in ref["sentences"]:
            inter, union = score(sentence)
            rows.append((ref["ref_id"], sentence["sent_id"], inter, union))
            if sentence["kind"] == kind:
                count += 1
                totals = expected.setdefault(group(sentence), [0, 0])
                totals[0] += inter
                totals[1] += union
    return rows, expected, count
