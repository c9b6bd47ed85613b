"""benchmarks/synthetic_by_ordinal_rank.py: ordinal sentences grouped by the rank asked for."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lgformer.data.synthetic import write_dataset
from lgformer.data.synthetic.phrasing import parse
from tests.benchmark_scripts import load_benchmark_script
from tests.data.synthetic.per_sample_csv import score_sentences, write_made_up_results


def test_groups_only_ordinal_sentences_by_rank(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, 12, seed=3, image_size=64)
    refs = pickle.loads((root / "synthetic" / "refs(unc).p").read_bytes())
    script = load_benchmark_script("synthetic_by_ordinal_rank")
    # A made-up result: extremes ("the leftmost ...") right, counted ranks a third.
    rows, expected, ordinal_count = score_sentences(
        refs,
        lambda s: (10, 10) if s["sent"].split()[1].endswith("most") else (3, 9),
        "ordinal",
        lambda s: f"rank {parse(s['sent']).rank}",
    )
    assert ordinal_count and len(expected) > 1, "the fixture needs ordinals of two ranks"
    csv_path = write_made_up_results(tmp_path / "val.csv", rows)

    table = script.by_ordinal_rank(root, csv_path)

    assert table["all"]["num_samples"] == ordinal_count  # other kinds are left out
    assert set(table) == set(expected) | {"all"}
    for rank, (inter, union) in expected.items():
        assert table[rank]["overall_iou"] == pytest.approx(100 * inter / union, abs=0.01)
