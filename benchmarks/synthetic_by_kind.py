r"""Split an evaluation of the synthetic benchmark by expression kind.

    lgformer evaluate ... --dataset synthetic --split val --per-sample val.csv
    python benchmarks/synthetic_by_kind.py --data data/synthetic3500 --per-sample val.csv \
        [--output by_kind.json]

Each sentence of the synthetic benchmark has a ``kind`` (attribute, ordinal, relation,
superlative; see lgformer.data.synthetic); this prints overall IoU, mean IoU and
prec@0.5 per kind from ``lgformer evaluate --per-sample`` rows (spec section 9 metrics).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from lgformer.evaluation import compute_metrics


def sentence_kinds(data_root: Path) -> dict[int, str]:
    """{sent_id: kind} of every sentence of a ``lgformer synth`` dataset."""
    refs = pickle.loads((data_root / DATASET / f"refs({SPLIT_BY}).p").read_bytes())
    return {s["sent_id"]: s["kind"] for ref in refs for s in ref["sentences"]}


def kind_table(
    kinds: Sequence[str], intersections: Sequence[int], unions: Sequence[int]
) -> dict[str, dict[str, float]]:
    """Per-sample kinds and pixel counts -> {kind (and "all"): {"overall_iou", "mean_iou",
    "precision@0.5" (percent, 2 decimals), "num_samples"}} (spec section 9 metrics)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, kind in enumerate(kinds):
        groups[kind].append(i)
        groups["all"].append(i)
    inter, union = np.asarray(intersections), np.asarray(unions)
    out = {}
    for key, rows in sorted(groups.items()):
        m = compute_metrics(inter[rows], union[rows], thresholds=(0.5,)).as_dict()
        out[key] = {k: m[k] for k in ("overall_iou", "mean_iou", "precision@0.5", "num_samples")}
    return out


def grouped_table(groups: dict[int, str], per_sample: Path) -> dict[str, dict[str, float]]:
    """``kind_table`` of the rows of an ``lgformer evaluate --per-sample`` CSV whose
    sentence is in ``groups`` ({sent_id: group name}), grouped by it; others left out."""
    with open(per_sample, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["sent_id"]) in groups]
    return kind_table(
        [groups[int(r["sent_id"])] for r in rows],
        [int(r["intersection"]) for r in rows],
        [int(r["union"]) for r in rows],
    )


def by_kind(data_root: Path, per_sample: Path) -> dict[str, dict[str, float]]:
    """``kind_table`` of the rows of an ``lgformer evaluate --per-sample`` CSV."""
    return grouped_table(sentence_kinds(data_root), per_sample)


def report(table: dict[str, dict[str, float]], label: str, output: Path | None) -> None:
    """Print a ``kind_table`` result as aligned columns (first column titled ``label``);
    also write it as JSON to ``output`` when given."""
    width = max(12, *(len(key) for key in table))
    print(f"{label:{width}s} {'samples':>8s} {'oIoU':>7s} {'mIoU':>7s} {'prec@0.5':>9s}")
    for key, m in table.items():
        print(
            f"{key:{width}s} {m['num_samples']:8d} {m['overall_iou']:7.2f} "
            f"{m['mean_iou']:7.2f} {m['precision@0.5']:9.2f}"
        )
    if output:
        output.write_text(json.dumps(table, indent=1) + "\n")


def per_sample_cli(
    description: str, table_of: Callable[[Path, Path], dict[str, dict[str, float]]], label: str
) -> None:
    """The command line shared by the per-sample splitters: --data, --per-sample, --output."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, required=True, help="the synthetic data root")
    parser.add_argument("--per-sample", type=Path, required=True, help="lgformer evaluate CSV")
    parser.add_argument("--output", type=Path, default=None, help="also write JSON here")
    args = parser.parse_args()
    report(table_of(args.data, args.per_sample), label, args.output)


def main() -> None:
    per_sample_cli(__doc__.split("\n\n")[0], by_kind, "kind")


if __name__ == "__main__":
    main()
