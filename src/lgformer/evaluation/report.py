"""Evaluation output: a text table, a JSON summary and a per-sample CSV."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lgformer.errors import LGFormerError
from lgformer.evaluation.evaluator import EvaluationResult
from lgformer.writable import probe_write


def format_table(result: EvaluationResult, title: str = "") -> str:
    """The metrics as a two-column text table, percent with two decimals."""
    rows = [(k, f"{v:.2f}") for k, v in result.metrics.as_dict().items() if k != "num_samples"]
    rows.append(("samples", str(result.metrics.num_samples)))
    rows.append(("resolution", result.resolution))
    width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    rule = "-" * (width + value_width + 3)
    lines = [title, rule] if title else [rule]
    lines += [f"{k:<{width}}   {v:>{value_width}}" for k, v in rows]
    lines.append(rule)
    return "\n".join(lines)


def summary(result: EvaluationResult, **context: Any) -> dict[str, Any]:
    """A JSON-ready summary: ``context`` (dataset, split, checkpoint, ...), the
    resolution, the sample count and the rounded metrics."""
    metrics = result.metrics.as_dict()
    num_samples = metrics.pop("num_samples")
    return {
        **context,
        "resolution": result.resolution,
        "num_samples": num_samples,
        "metrics": metrics,
    }


def check_output_file(path: Path | None, option: str) -> None:
    """Raise ``LGFormerError`` unless a file can be written at ``path`` (None: nothing to check).

    ``option`` names the command-line option in the message.
    """
    if path is None:
        return
    if path.is_dir():
        raise LGFormerError(f"{option} {path} is a directory; give a file name")
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not existing.is_dir():
        raise LGFormerError(f"{option} {path}: {existing} is a file, not a directory")
    writable = path if path.exists() else existing
    if not os.access(writable, os.W_OK):
        raise LGFormerError(f"{option} {path}: {writable} is not writable")
    try:
        probe_write(existing)
    except OSError as err:
        reason = err.strerror or str(err)
        raise LGFormerError(f"{option} {path}: cannot write in {existing}: {reason}") from err


def write_or_rescue(write: Callable[[Path], Path], path: Path, option: str) -> Path:
    """``write(path)``; if that fails, ``write`` to a fresh file in the temporary directory.

    Results that took an hour to compute are never lost to a full disk or a path that
    became unwritable after ``check_output_file``: the error names where they went.
    """
    try:
        return write(path)
    except OSError as err:
        fd, rescue = tempfile.mkstemp(prefix=f"{path.stem}-", suffix=path.suffix)
        os.close(fd)
        write(Path(rescue))
        reason = err.strerror or str(err)
        raise LGFormerError(
            f"{option} {path}: cannot write it ({reason}); the results were saved to {rescue}"
        ) from err


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def write_per_sample_csv(path: str | Path, result: EvaluationResult) -> Path:
    """One row per sample: ref_id, sent_id, intersection, union, iou (6 decimals)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ref_id", "sent_id", "intersection", "union", "iou"])
        rows = zip(
            result.ref_ids.tolist(),
            result.sent_ids.tolist(),
            result.intersections.tolist(),
            result.unions.tolist(),
            result.ious.tolist(),
            strict=True,
        )
        for ref_id, sent_id, inter, union, iou in rows:
            writer.writerow([ref_id, sent_id, inter, union, f"{iou:.6f}"])
    return path
