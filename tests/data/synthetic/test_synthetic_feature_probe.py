"""benchmarks/synthetic_feature_probe.py: pooled object features and linear probes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lgformer.config import build_config
from lgformer.data.synthetic import write_dataset
from lgformer.model import build_lgformer
from tests.benchmark_scripts import load_benchmark_script


def _load_script():
    return load_benchmark_script("synthetic_feature_probe")


def test_a_probe_reads_a_label_written_in_the_features_and_not_one_that_is_absent():
    script = _load_script()
    rng = np.random.default_rng(0)
    labels = [["a", "b", "c"][i % 3] for i in range(300)]
    informative = rng.normal(size=(300, 8))
    informative[:, 0] += 4.0 * np.array([["a", "b", "c"].index(v) for v in labels])
    assert script.probe_accuracy(informative, labels)["accuracy"] > 0.95
    noise = script.probe_accuracy(rng.normal(size=(300, 8)), labels)
    assert noise["accuracy"] < 0.6 and abs(noise["chance"] - 1 / 3) < 0.1


def test_pooled_features_hold_one_row_per_object_for_every_map(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, 4, seed=4, image_size=64)
    model = build_lgformer(build_config("test_tiny")).eval()
    feats, labels = _load_script().pooled_object_features(model, root, images=2, size=64)
    instances = json.loads((root / "synthetic" / "instances.json").read_text())
    first_two = sorted(e["id"] for e in instances["images"])[:2]
    count = sum(a["image_id"] in first_two for a in instances["annotations"])
    assert set(feats) == {"stage1", "stage2", "stage3", "stage4", "mask_features"}
    channels = model.config.swin.stage_channels
    for i, c in enumerate(channels):
        assert feats[f"stage{i + 1}"].shape == (count, c)
    assert feats["mask_features"].shape == (count, model.config.decoder.hidden_dim)
    assert all(np.isfinite(x).all() for x in feats.values())
    assert {len(v) for v in labels.values()} == {count}
    assert set(labels["size"]) <= {"small", "large"}
