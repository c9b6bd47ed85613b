"""benchmarks/synthetic_by_kind.py: per-kind metrics from an evaluation's per-sample CSV."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lgformer.data.synthetic import write_dataset
from tests.benchmark_scripts import load_benchmark_script
from tests.data.synthetic.per_sample_csv import write_made_up_results


def _load_script():
    return load_benchmark_script("synthetic_by_kind")


def test_by_kind_splits_the_metrics_per_sentence_kind(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, 4, seed=1, image_size=64)
    refs = pickle.loads((root / "synthetic" / "refs(unc).p").read_bytes())
    sentences = [(r["ref_id"], s["sent_id"], s["kind"]) for r in refs for s in r["sentences"]]
    # A made-up result: attribute sentences perfect, every other kind at IoU 0.4.
    rows, expected = [], {}
    for ref_id, sent_id, kind in sentences:
        inter, union = (10, 10) if kind == "attribute" else (4, 10)
        rows.append((ref_id, sent_id, inter, union))
        acc = expected.setdefault(kind, [0, 0, 0])
        acc[0] += inter
        acc[1] += union
        acc[2] += 1
    csv_path = write_made_up_results(tmp_path / "val.csv", rows)

    table = _load_script().by_kind(root, csv_path)

    assert table["all"]["num_samples"] == len(sentences)
    assert set(table) == set(expected) | {"all"}
    for kind, (inter, union, n) in expected.items():
        assert table[kind]["num_samples"] == n
        assert table[kind]["overall_iou"] == pytest.approx(100 * inter / union, abs=0.01)
        want_hits = 100.0 if kind == "attribute" else 0.0
        assert table[kind]["precision@0.5"] == pytest.approx(want_hits)
    if "attribute" in table:
        assert table["attribute"]["mean_iou"] == pytest.approx(100.0)
