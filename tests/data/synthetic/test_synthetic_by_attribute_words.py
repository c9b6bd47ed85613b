"""benchmarks/synthetic_by_attribute_words.py: attribute sentences grouped by the words used."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lgformer.data.synthetic import write_dataset
from tests.benchmark_scripts import load_benchmark_script
from tests.data.synthetic.per_sample_csv import score_sentences, write_made_up_results


def _load_script():
    return load_benchmark_script("synthetic_by_attribute_words")


def test_attribute_words_names_each_class_once_in_a_fixed_order():
    script = _load_script()
    assert script.attribute_words(["the", "green", "one"]) == "colour"
    assert script.attribute_words(["the", "star"]) == "shape"
    assert script.attribute_words(["the", "little", "green", "triangle"]) == "size+colour+shape"
    assert script.attribute_words(["the", "big", "one"]) == "size"
    assert script.attribute_words(["the", "object"]) == ""


def test_groups_only_attribute_sentences_and_scores_each_group(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, 6, seed=2, image_size=64)
    refs = pickle.loads((root / "synthetic" / "refs(unc).p").read_bytes())
    script = _load_script()
    # A made-up result: sentences naming a colour are right, the rest half right.
    rows, expected, attribute_count = score_sentences(
        refs,
        lambda s: (10, 10) if "colour" in script.attribute_words(s["tokens"]) else (5, 10),
        "attribute",
        lambda s: script.attribute_words(s["tokens"]),
    )
    assert attribute_count, "the fixture has no attribute sentence"
    csv_path = write_made_up_results(tmp_path / "val.csv", rows)

    table = script.by_attribute_words(root, csv_path)

    assert table["all"]["num_samples"] == attribute_count  # other kinds are left out
    assert set(table) == set(expected) | {"all"}
    for words, (inter, union) in expected.items():
        assert table[words]["overall_iou"] == pytest.approx(100 * inter / union, abs=0.01)
