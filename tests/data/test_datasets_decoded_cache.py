"""data.cache_decoded: the training items are the same, and later epochs read no files."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from lgformer.data.sources import build_datasets
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from lgformer.engine.config import load_train_config

FIELDS = (
    "image",
    "target",
    "categories",
    "token_ids",
    "attention_mask",
)


def _sets(root: Path, cached: bool):
    overrides = [
        f"data.root={root}",
        f"data.dataset={DATASET}",
        f"data.split_by={SPLIT_BY}",
        "data.image_size=32",
        "objective.category_loss_weight=1",
        f"data.cache_decoded={str(cached).lower()}",
    ]
    train_set, val_set, _ = build_datasets(load_train_config(None, overrides), 20)
    return train_set, val_set


def _assert_same(a: dict, b: dict) -> None:
    for key in FIELDS:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def test_cached_items_equal_decoded_ones_and_need_no_files(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(tiny_synthetic, root)
    plain, _ = _sets(root, cached=False)
    cached, cached_val = _sets(root, cached=True)
    assert cached_val is not None and cached_val.cache_decoded
    images = {ref.image_id for ref in cached.split.refs}
    for epoch in (0, 3):  # the second pass is served from the cache
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(cached)):
            _assert_same(cached[i], plain[i])
    assert len(cached._targets) == len(cached)
    assert len(cached._images) == len(cached._instance_maps) == len(images)
    shutil.rmtree(root / "images")
    cached.set_epoch(5)
    plain.set_epoch(5)
    item = cached[0]
    assert item["sent_id"] == int(plain.split.sent_ids[plain.sentence_index(0)])
    assert item["image"].shape == (3, 32, 32)
