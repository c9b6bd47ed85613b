r"""How well a run's instance-order heads count: accuracy per feature map, group and rank.

    python benchmarks/synthetic_order_probe.py --checkpoint runs/order/best.pt \
        [--split val] [--samples 600] [--output probe.json]

Reads a training checkpoint of a run with ``optim.order_loss_weight`` (its config,
model and ``order_heads``), runs the model on the first ``--samples`` objects of the
split with one of their own sentences (as validation does), and scores, on the cells
of each feature map that lie wholly inside one object, the arg-max rank class of every
order task against the label (``lgformer.data.instance_order``). Accuracy is grouped by
the attribute group the rank is counted in ("any", "size", "colour+size", "shape", ...;
all four sides together) and by the true rank ("1", "2", "3", "4+"), which shows whether
the trunk counts or only finds the extremes. ``--visual`` scores the stage 3-4 heads on
the Swin path alone (no words, no fusion), as the vision-only warm start trains them,
so a warm-start-only run can be probed. Prints (and with ``--output`` writes) one
JSON object {map: {group: {rank: {"accuracy", "cells"}}}}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from lgformer.data.instance_order import (
    ORDER_CLASSES,
    ORDER_SIDES,
    SYNTHETIC_ATTRIBUTES,
    attribute_subsets,
    num_order_tasks,
)
from lgformer.engine.build import build_datasets, build_model
from lgformer.engine.checkpoint import load_checkpoint
from lgformer.engine.config import TrainConfig
from lgformer.engine.order_loss import OrderHeads, order_targets
from lgformer.engine.training_model import TrainingModel

RANKS = tuple(str(r + 1) for r in range(ORDER_CLASSES - 1)) + (f"{ORDER_CLASSES}+",)
MAPS = ("stage 3", "stage 4", "mask features")


def group_names(num_tasks: int) -> list[str]:
    """Names of the attribute groups of ``num_tasks`` order tasks, in task order."""
    synthetic = num_tasks == num_order_tasks(len(SYNTHETIC_ATTRIBUTES))
    names = SYNTHETIC_ATTRIBUTES if synthetic else ("category",)
    groups = []
    for subset in attribute_subsets(len(names)):
        used = [n for n, u in zip(names, subset, strict=True) if u]
        groups.append("+".join(sorted(used)) or "any")
    return groups


def count_correct(
    heads: OrderHeads, maps: list[torch.Tensor], instances: torch.Tensor, order: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """(correct, cells), each (maps, T, C) int64: per map, task and true class, the cells
    wholly inside one object and those whose arg-max class is right."""
    tasks = heads.num_tasks
    correct = np.zeros((len(maps), tasks, ORDER_CLASSES), np.int64)
    cells = np.zeros_like(correct)
    for m, (head, fmap) in enumerate(zip(heads.heads, maps, strict=False)):
        b, _, h, w = fmap.shape
        targets, _ = order_targets(instances, order, (h, w))  # (B, T, C, h, w)
        predicted = head(fmap.float()).view(b, tasks, ORDER_CLASSES, h, w).argmax(2)
        truth = targets.argmax(2)
        pure = targets.amax(2) > 0.999  # the cell lies wholly inside one object
        for c in range(ORDER_CLASSES):
            chosen = pure & (truth == c)
            cells[m, :, c] += chosen.sum((0, 2, 3)).numpy()
            correct[m, :, c] += (chosen & (predicted == truth)).sum((0, 2, 3)).numpy()
    return correct, cells


def summarise(correct: np.ndarray, cells: np.ndarray) -> dict[str, dict[str, dict]]:
    """{map: {group or "all": {rank: {"accuracy" %, "cells"}}}} from ``count_correct``
    totals; sides are pooled."""
    groups = group_names(correct.shape[1])
    sides = len(ORDER_SIDES)
    table: dict[str, dict[str, dict]] = {}
    for m in range(correct.shape[0]):
        rows: dict[str, dict] = {}
        spans = [("all", slice(None))]
        spans += [(g, slice(i * sides, (i + 1) * sides)) for i, g in enumerate(groups)]
        for name, span in spans:
            right, total = correct[m, span].sum(0), cells[m, span].sum(0)  # (C,)
            rows[name] = {
                rank: {
                    "accuracy": round(100.0 * right[c] / total[c], 2) if total[c] else None,
                    "cells": int(total[c]),
                }
                for c, rank in enumerate(RANKS)
            }
        table[MAPS[m]] = rows
    return table


@torch.no_grad()
def probe(
    checkpoint: Path, split: str, samples: int, batch_size: int = 32, visual: bool = False
) -> dict:
    """The accuracy table of ``checkpoint``'s order heads on ``split``; with ``visual``,
    of its stage 3-4 heads on the Swin path alone (what the vision-only warm start trains)."""
    ckpt = load_checkpoint(checkpoint)
    if ckpt.get("order_heads") is None:
        raise SystemExit(
            f"{checkpoint} has no order heads (trained without optim.order_loss_weight)"
        )
    cfg = TrainConfig.from_dict(ckpt["config"])
    cfg.data.train_split = split
    cfg.data.cache_decoded = False
    cfg.validate = False
    model = build_model(cfg, load_pretrained=True)
    model.load_state_dict(ckpt["model"])
    model.eval()
    dataset, _, collate = build_datasets(cfg, model.config.max_words)
    heads = OrderHeads(TrainingModel.order_head_channels(model), dataset.categories.num_order_tasks)
    heads.load_state_dict(ckpt["order_heads"])
    loader = DataLoader(
        Subset(dataset, range(min(samples, len(dataset)))),
        batch_size=batch_size,
        collate_fn=collate,
    )
    correct = cells = None
    for batch in loader:
        if visual:
            maps = model.backbone.visual_features(batch["image"])[TrainingModel.ORDER_STAGES]
        else:
            out = model(
                batch["image"],
                batch["token_ids"],
                batch["attention_mask"],
                return_intermediates=True,
            )
            maps = TrainingModel.order_maps(out)
        right, total = count_correct(heads, maps, batch["instances"], batch["instance_order"])
        correct = right if correct is None else correct + right
        cells = total if cells is None else cells + total
    assert correct is not None and cells is not None
    return summarise(correct, cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a training checkpoint")
    parser.add_argument("--split", default="val")
    parser.add_argument("--samples", type=int, default=600, help="objects, from the first")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--visual",
        action="store_true",
        help="probe the stage 3-4 heads on the Swin path alone (words and fusion left out)",
    )
    args = parser.parse_args()
    table = probe(args.checkpoint, args.split, args.samples, visual=args.visual)
    text = json.dumps(table, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
