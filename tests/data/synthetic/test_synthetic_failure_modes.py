"""benchmarks/synthetic_failure_modes.py: which object a prediction matches, and how well."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lgformer.data.synthetic import write_dataset
from tests.benchmark_scripts import load_benchmark_script


def _load_script():
    return load_benchmark_script("synthetic_failure_modes")


def _objects() -> np.ndarray:
    objects = np.zeros((3, 8, 8), bool)
    objects[0, :4, :4] = True  # 16 px
    objects[1, 4:, 4:] = True  # 16 px
    objects[2, :2, 6:] = True  # 4 px
    return objects


def test_a_clean_mask_of_the_target_is_a_hit():
    script = _load_script()
    objects = _objects()
    row = script.match_objects(objects[1].copy(), objects, target=1)
    assert row == {
        "target_iou": 1.0,
        "best_iou": 1.0,
        "best_is_target": 1.0,
        "objects_covered": 1.0,
        "area_ratio": 1.0,
    }


def test_a_clean_mask_of_a_distractor_is_the_wrong_object():
    script = _load_script()
    objects = _objects()
    row = script.match_objects(objects[0].copy(), objects, target=1)
    assert row["target_iou"] == 0.0 and row["best_iou"] == 1.0
    assert row["best_is_target"] == 0.0 and row["objects_covered"] == 1.0


def test_a_hedge_over_two_objects_covers_both():
    script = _load_script()
    objects = _objects()
    row = script.match_objects(objects[0] | objects[1], objects, target=1)
    assert row["target_iou"] == pytest.approx(0.5)
    assert row["objects_covered"] == 2.0 and row["area_ratio"] == 2.0
    summary = script.summarize([row, script.match_objects(objects[1].copy(), objects, 1)])
    assert summary["mean_target_iou"] == 75.0
    assert summary["matches_target"] == 50.0  # IoU 0.5 is not above 0.5
    assert summary["mean_objects_covered"] == 1.5
    assert summary["median_area_ratio"] == 1.5


def test_an_empty_prediction_matches_nothing():
    script = _load_script()
    row = script.match_objects(np.zeros((8, 8), bool), _objects(), target=0)
    assert row["best_is_target"] == 0.0 and row["objects_covered"] == 0.0


class _Oracle(torch.nn.Module):
    """Predicts each batch's target mask exactly (logits +-10)."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: torch.Tensor | None = None

    def forward(self, image, token_ids, attention_mask):
        logits = (self.targets * 20 - 10)[:, None]
        return type("Out", (), {"pred_logits": logits})()


def test_failure_modes_on_a_written_dataset_scores_an_oracle_perfectly(tmp_path, monkeypatch):
    script = _load_script()
    root = tmp_path / "data"
    write_dataset(root, 8, seed=3, image_size=64)
    oracle = _Oracle()
    original = script.DataLoader

    def loader_feeding_targets(*args, **kwargs):
        for batch in original(*args, **kwargs):
            oracle.targets = batch["target"]
            yield batch

    monkeypatch.setattr(script, "DataLoader", loader_feeding_targets)
    summary = script.failure_modes(oracle, root, "val", count=10, image_size=64)
    assert summary["sentences"] == 10
    assert summary["best_object_is_target"] == 100.0
    assert summary["mean_objects_covered"] == 1.0
    assert summary["median_area_ratio"] == 1.0
