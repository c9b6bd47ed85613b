"""benchmarks/synthetic_breakdown.py: per-kind, per-rank and per-words metrics from an
evaluation's per-sample CSV, and the text-blind bound."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lgformer.data.synthetic import write_dataset
from lgformer.data.synthetic.phrasing import parse
from tests.benchmark_scripts import load_benchmark_script
from tests.benchmarks.per_sample_csv import score_sentences, write_made_up_results


def _load_script():
    return load_benchmark_script("synthetic_breakdown")


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


def test_groups_only_ordinal_sentences_by_rank(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, 12, seed=3, image_size=64)
    refs = pickle.loads((root / "synthetic" / "refs(unc).p").read_bytes())
    script = _load_script()
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


def test_the_text_blind_bound_beats_the_plain_priors_and_stays_low(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, 12, seed=4, image_size=64)
    result = _load_script().text_blind_bound(root, "train")
    assert result.pop("_targets_per_image")["mean"] >= 1
    oracle = result.pop("text-blind oracle (best fixed mask per image)")
    for prior in result.values():
        assert oracle["mIoU"] >= prior["mIoU"] - 1e-9
        assert oracle["oIoU"] >= prior["oIoU"] - 1e-9
    # One mask for every sentence of an image: far from perfect on scenes of 3-6 objects.
    assert 0 < oracle["oIoU"] < 80 and oracle["samples"] > 0
