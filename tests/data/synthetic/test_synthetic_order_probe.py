"""benchmarks/synthetic_order_probe.py: accuracy of a run's instance-order heads."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lgformer.data.instance_order import ORDER_CLASSES
from lgformer.data.synthetic.writer import SPLIT_BY
from lgformer.engine.order_loss import OrderHeads, order_targets
from lgformer.engine.run import run_training
from tests.benchmark_scripts import load_benchmark_script
from tests.engine.tiny_data import tiny_config

TASKS = 32


def test_group_names_follow_the_task_order() -> None:
    script = load_benchmark_script("synthetic_order_probe")
    groups = script.group_names(TASKS)
    assert groups[0] == "any" and groups[-1] == "colour+shape+size" and len(groups) == 8
    assert groups[4] == "shape"  # (shape, colour, size) subsets, shape the slowest bit
    assert script.group_names(8) == ["any", "category"]


def test_an_oracle_head_is_right_on_every_pure_cell_and_a_shifted_one_never() -> None:
    script = load_benchmark_script("synthetic_order_probe")
    instances = torch.zeros(1, 16, 16, dtype=torch.int64)
    instances[0, :, :8] = 1
    instances[0, 8:, 8:] = 2
    order = torch.randint(
        0, ORDER_CLASSES, (1, 2, TASKS), generator=torch.Generator().manual_seed(1)
    )
    targets, _ = order_targets(instances, order, (4, 4))
    features = targets.flatten(1, 2)  # channel t*C + c: task t has class c

    def head(shift: int) -> OrderHeads:
        heads = OrderHeads((TASKS * ORDER_CLASSES,), TASKS)
        eye = torch.eye(TASKS * ORDER_CLASSES).view(TASKS, ORDER_CLASSES, -1)
        with torch.no_grad():
            heads.heads[0].bias.zero_()
            heads.heads[0].weight[:, :, 0, 0] = eye.roll(shift, dims=1).reshape(
                TASKS * ORDER_CLASSES, -1
            )
        return heads

    right, cells = script.count_correct(head(0), [features], instances, order)
    assert cells.sum() == 12 * TASKS  # 8 cells in object 1, 4 in object 2, 4 background
    assert (right == cells).all()
    wrong, _ = script.count_correct(head(1), [features], instances, order)
    assert wrong.sum() == 0
    table = script.summarise(right, cells)
    assert set(table) == {"stage 3"}
    total = sum(v["cells"] for v in table["stage 3"]["all"].values())
    assert total == 12 * TASKS
    assert all(v["accuracy"] in (100.0, None) for v in table["stage 3"]["all"].values())


def test_probe_reads_a_training_checkpoint(tiny_synthetic: Path, tmp_path: Path) -> None:
    data = [f"data.root={tiny_synthetic}", "data.dataset=synthetic", f"data.split_by={SPLIT_BY}"]
    cfg = tiny_config(
        tmp_path / "run", *data, "data.image_size=32", "validate=false", "max_steps=2",
        "optim.order_loss_weight=1", "optim.category_warmup_steps=1",
    )  # fmt: skip
    run_training(cfg)
    script = load_benchmark_script("synthetic_order_probe")
    table = script.probe(tmp_path / "run" / "last.pt", "train", samples=4, batch_size=2)
    assert set(table) == {"stage 3", "stage 4", "mask features"}
    counted = table["mask features"]["all"]
    assert sum(v["cells"] for v in counted.values()) > 0
    assert all(v["accuracy"] is None or 0 <= v["accuracy"] <= 100 for v in counted.values())
    json.dumps(table)  # what main prints
    visual = script.probe(tmp_path / "run" / "last.pt", "train", 4, batch_size=2, visual=True)
    assert set(visual) == {"stage 3", "stage 4"}  # the Swin path alone: no mask features
    for group, ranks in visual["stage 3"].items():  # the same cells, scored on other features
        assert [v["cells"] for v in ranks.values()] == [
            v["cells"] for v in table["stage 3"][group].values()
        ]
        assert all(v["accuracy"] is None or 0 <= v["accuracy"] <= 100 for v in ranks.values())
