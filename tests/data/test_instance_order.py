"""Instance-order labels: every object's rank from each side within each attribute group."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from lgformer.data.categories import load_image_categories
from lgformer.data.instance_order import (
    ORDER_CLASSES,
    ORDER_SIDES,
    SYNTHETIC_ATTRIBUTES,
    attribute_subsets,
    order_attributes,
    rank_table,
)
from lgformer.data.synthetic.expressions import OrdinalRef
from lgformer.data.synthetic.phrasing import parse
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from lgformer.engine.build import build_datasets
from lgformer.engine.config import load_train_config

SUBSETS = attribute_subsets(len(SYNTHETIC_ATTRIBUTES))


def _task(query: OrdinalRef) -> int:
    named = {"shape": query.what.shape, "colour": query.what.colour, "size": query.what.size}
    subset = tuple(named[n] is not None for n in SYNTHETIC_ATTRIBUTES)
    return SUBSETS.index(subset) * len(ORDER_SIDES) + ORDER_SIDES.index(query.side)


def test_labels_agree_with_every_ordinal_sentence_of_the_dataset(tiny_synthetic: Path) -> None:
    folder = tiny_synthetic / DATASET
    instances = json.loads((folder / "instances.json").read_text())
    refs = pickle.loads((folder / f"refs({SPLIT_BY}).p").read_bytes())
    categories = load_image_categories(tiny_synthetic, DATASET, with_orders=True)
    assert categories.num_order_tasks == 8 * 4 and categories.orders is not None
    ann_ids: dict[int, list[int]] = {}
    for a in instances["annotations"]:
        ann_ids.setdefault(a["image_id"], []).append(a["id"])
    checked = set()
    for ref in refs:
        row = ann_ids[ref["image_id"]].index(ref["ann_id"])
        for sent in ref["sentences"]:
            query = parse(sent["sent"])
            if isinstance(query, OrdinalRef):
                label = categories.orders[ref["image_id"]][row, _task(query)]
                assert label == min(query.rank, ORDER_CLASSES) - 1, sent["sent"]
                checked.add(query.rank)
    assert checked >= {1, 2}  # ranks past the extremes are covered too


def test_rank_table_counts_within_groups_and_sides() -> None:
    # Three red circles left to right at x = 10, 50, 90 and a blue circle at x = 30.
    values = [("circle", "red", "big")] * 3 + [("circle", "blue", "big")]
    centres = np.array([[10, 5], [50, 15], [90, 25], [30, 35]], float)
    table = rank_table(values, centres)
    assert table.shape == (4, 32) and table.dtype == np.int64
    left, right, top = (ORDER_SIDES.index(s) for s in ("left", "right", "top"))
    any_object = SUBSETS.index((False, False, False)) * 4
    colour = SUBSETS.index((False, True, False)) * 4
    assert table[:, any_object + left].tolist() == [0, 2, 3, 1]  # 4th (index 3) for x = 90
    assert table[:, colour + left].tolist() == [0, 1, 2, 0]  # the blue one is alone
    assert table[:, colour + right].tolist() == [2, 1, 0, 0]
    assert table[:, any_object + top].tolist() == [0, 1, 2, 3]


def test_plain_coco_annotations_group_by_category_and_box_centre() -> None:
    anns = [
        {"category_id": 1, "bbox": [0, 0, 10, 10]},
        {"category_id": 1, "bbox": [40, 0, 10, 10], "attributes": {"shape": "circle"}},
    ]
    assert order_attributes(anns) == ("category",)
    synthetic = [{"attributes": {"shape": 1, "colour": 2, "size": 3, "centre": [0, 0]}}]
    assert order_attributes(synthetic) == SYNTHETIC_ATTRIBUTES


def test_training_items_carry_instances_and_orders(tiny_synthetic: Path) -> None:
    base = [f"data.root={tiny_synthetic}", "data.dataset=synthetic", f"data.split_by={SPLIT_BY}"]
    base += ["data.image_size=32", "validate=false"]
    plain, _, _ = build_datasets(load_train_config(None, base), 20)
    assert "instances" not in plain[0]
    cfg = load_train_config(None, [*base, "optim.order_loss_weight=1"])
    train_set, _, _ = build_datasets(cfg, 20)
    names = train_set.categories.names
    for index in range(len(train_set)):
        item = train_set[index]
        instances, order = item["instances"], item["instance_order"]
        assert instances.shape == (32, 32) and order.shape[1] == 32
        assert order.shape[0] == train_set.categories.max_objects
        present = instances.unique()
        present = present[present > 0] - 1
        assert (order[present] >= 0).all() and (order[present] < ORDER_CLASSES).all()
        # The object map and the category map paint the same objects.
        ref = train_set.split.refs[index]
        objects = train_set.categories.objects[ref.image_id]
        assert (order[len(objects) :] == -1).all()
        label_of = np.array([0] + [label for label, _ in objects])
        assert np.array_equal(label_of[instances.numpy()], item["categories"].numpy())
        assert 1 <= max(label_of) <= len(names)


def test_orders_are_loaded_only_when_asked(tiny_synthetic: Path) -> None:
    categories = load_image_categories(tiny_synthetic, DATASET)
    assert categories.orders is None and categories.num_order_tasks == 0
    with pytest.raises(ValueError, match="with_orders"):
        categories.order_table(next(iter(categories.objects)), 6)
