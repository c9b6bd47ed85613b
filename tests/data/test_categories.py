"""Per-pixel category labels of REFER images (the category loss's targets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lgformer.data.categories import load_image_categories
from lgformer.data.sources import build_datasets
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from lgformer.engine.config import load_train_config
from lgformer.errors import LGFormerError


def test_every_object_of_the_image_is_painted(tiny_synthetic: Path) -> None:
    instances = json.loads((tiny_synthetic / DATASET / "instances.json").read_text())
    categories = load_image_categories(tiny_synthetic, DATASET)
    assert categories.num_labels == 1 + len(instances["categories"])
    entry = instances["images"][0]
    anns = [a for a in instances["annotations"] if a["image_id"] == entry["id"]]
    labels = categories.label_map(entry["id"], entry["height"], entry["width"], 32)
    assert labels.shape == (32, 32) and labels.dtype == np.int64
    ids = sorted(c["id"] for c in instances["categories"])
    expected = {0} | {1 + ids.index(a["category_id"]) for a in anns}
    # Several objects per scene: more than one category, all of them from this image.
    assert set(np.unique(labels).tolist()) <= expected and len(np.unique(labels)) > 2
    # An image outside the loaded subset is all background.
    subset = load_image_categories(tiny_synthetic, DATASET, [entry["id"]])
    other = instances["images"][1]
    assert not subset.label_map(other["id"], other["height"], other["width"], 16).any()


def test_training_items_carry_labels_only_when_the_config_asks(tiny_synthetic: Path) -> None:
    base = [f"data.root={tiny_synthetic}", "data.dataset=synthetic", f"data.split_by={SPLIT_BY}"]
    base += ["data.image_size=32", "validate=false"]
    plain, _, _ = build_datasets(load_train_config(None, base), 20)
    assert "categories" not in plain[0] and plain.categories is None
    cfg = load_train_config(None, [*base, "objective.category_loss_weight=1"])
    train_set, _, _ = build_datasets(cfg, 20)
    item = train_set[0]
    assert item["categories"].shape == (32, 32)
    # The referred object lies on pixels labelled with some category.
    assert (item["categories"][item["target"] > 0] > 0).float().mean() > 0.9


def test_missing_or_malformed_instances_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LGFormerError, match="instances file not found"):
        load_image_categories(tmp_path, DATASET)
    (tmp_path / DATASET).mkdir()
    (tmp_path / DATASET / "instances.json").write_text(json.dumps({"images": []}))
    with pytest.raises(LGFormerError, match="categories"):
        load_image_categories(tmp_path, DATASET)
