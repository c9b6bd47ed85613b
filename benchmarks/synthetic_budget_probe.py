r"""Train a synthetic-benchmark recipe for a fixed wall-clock budget, then score it by kind.

    python benchmarks/synthetic_budget_probe.py --name base --data data/synthetic3500 \
        --budget 480 --threads 1 [--size 128] [--batch 16] [--lr 1e-3] [--group 4] \
        [--aux-weight 1.0] \
        [--set init.gate_std=0.15 --set optim.precision=bf16 ...]

A quick way to compare recipe changes on a CPU: it starts from
``configs/synthetic_bundled.yaml`` (plus ``--set`` overrides), trains with the
real model, loss and optimizer under a time-based schedule (linear warm-up, then
poly decay to zero at ``--budget`` seconds), and prints one ``RESULT`` line with
overall IoU, mean IoU and the sample count per expression kind on a fixed random
subset of val (every sentence counted, spec metrics at the input size). Two probes
with ``--threads 1`` side by side use both cores of a 2-core machine. The config's
``optim.precision`` applies (bf16 autocast on a CPU with native bf16); ``--group N``
fills each batch with up to N objects of the same image instead of shuffling.
``--aux-weight W`` adds W times an auxiliary loss, training only: 1x1 classifiers on
the first three backbone stages and on the mask features label every pixel with the
COCO category of the object under it (the synthetic shapes), against the image's
label map (soft targets at each map's resolution).

From the config the probe takes the model, ``init``, the data settings (``--data`` and
``--size`` set the root and input size), ``optim.weight_decay``, ``pos_weight``,
``dice_weight``, ``train_text_encoder`` and ``precision``. It does not run the trainer's
recipe: ``--lr``, ``--batch`` and the time-based schedule replace ``optim.lr``,
``batch_size`` and ``epochs``; gradients are clipped at 1.0; the bundled config's
vision-only warm start (``optim.category_warmup_steps``) and stage-mask loss
(``optim.stage_mask_loss_weight``) are not applied; and ``--aux-weight`` (0 by default)
replaces ``optim.category_loss_weight``. A shape warm start can be given as Swin weights
(``--set init.swin=FILE``, from ``shape_learnability.py --save-swin``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from lgformer.data.datasets import ReferEvalDataset, collate_samples
from lgformer.data.refer import load_refer
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from lgformer.engine.build import build_datasets, build_model
from lgformer.engine.category_loss import CategoryHeads
from lgformer.engine.config import load_train_config
from lgformer.engine.loss import deep_supervision_loss
from lgformer.engine.optimizer import build_optimizer
from lgformer.engine.precision import resolve_precision
from lgformer.engine.training_model import TrainingModel
from lgformer.evaluation.loop import count_ious, shard_loader
from lgformer.tokenizer import SentenceTokenizer
from synthetic_by_kind import kind_table, sentence_kinds

BASE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic_bundled.yaml"


def grouped_batches(refs: list, batch: int, group: int, epoch: int) -> list[list[int]]:
    """Batches of ``batch`` sample indices made of runs of up to ``group`` objects of one
    image, every object once; the last incomplete batch is dropped.

    refs: the split's refs (sample i is ``refs[i]``; anything with an ``image_id``).
    """
    rng = np.random.default_rng(epoch)
    by_image: dict[int, list[int]] = {}
    for i, ref in enumerate(refs):
        by_image.setdefault(ref.image_id, []).append(i)
    runs = []
    for members in by_image.values():
        members = rng.permutation(members).tolist()
        runs += [members[k : k + group] for k in range(0, len(members), group)]
    flat = [i for j in rng.permutation(len(runs)) for i in runs[j]]
    return [flat[k : k + batch] for k in range(0, len(flat) - batch + 1, batch)]


def train_for(model, cfg, args: argparse.Namespace) -> tuple[int, float]:
    """Train until ``args.budget`` seconds have passed; returns (steps, last-100 mean loss)."""
    precision = resolve_precision(cfg.optim.precision, torch.device("cpu"))
    train_set, _, collate = build_datasets(cfg, model.config.max_words)
    optimizer = build_optimizer(
        model,
        lr=args.lr,
        weight_decay=cfg.optim.weight_decay,
        train_text_encoder=cfg.optim.train_text_encoder,
        fused=True,
    )
    aux = None
    if args.aux_weight:  # the config asks for it too, so items carry their label maps
        aux = CategoryHeads(TrainingModel.head_channels(model), train_set.categories.num_labels)
        optimizer.add_param_group(
            {
                "params": list(aux.parameters()),
                "lr": args.lr,
                "weight_decay": cfg.optim.weight_decay,
            }
        )
    wrapper = TrainingModel(model, aux)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    start, step, epoch, losses = time.perf_counter(), 0, 0, []
    while True:
        train_set.set_epoch(epoch)
        if args.group:
            batches = grouped_batches(train_set.split.refs, args.batch, args.group, epoch)
            loader = torch.utils.data.DataLoader(
                train_set, batch_sampler=batches, collate_fn=collate
            )
        else:
            loader = torch.utils.data.DataLoader(
                train_set,
                batch_size=args.batch,
                shuffle=True,
                collate_fn=collate,
                drop_last=True,
                generator=torch.Generator().manual_seed(epoch),
            )
        model.train()
        for batch in loader:
            elapsed = time.perf_counter() - start
            if elapsed >= args.budget:
                return step, float(np.mean(losses[-100:]))
            factor = min(1.0, (step + 1) / args.warmup) * (1 - elapsed / args.budget) ** 0.9
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = lr * factor
            with precision.autocast():
                out = wrapper(
                    batch["image"],
                    batch["token_ids"],
                    batch["attention_mask"],
                    batch.get("categories"),
                )
            loss = deep_supervision_loss(
                out.mask_logits,
                batch["target"],
                pos_weight=cfg.optim.pos_weight,
                dice_weight=cfg.optim.dice_weight,
            )
            if out.category_loss is not None:
                loss = loss + args.aux_weight * out.category_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if step % 100 == 0:
                print(f"{args.name} step {step} {elapsed:.0f}s loss {np.mean(losses[-100:]):.3f}")
        epoch += 1


def score_by_kind(model, data: Path, size: int, count: int) -> dict[str, list[float]]:
    """{kind or "all": [overall IoU %, mean IoU %, samples]} on ``count`` random val sentences."""
    split = load_refer(data, DATASET, SPLIT_BY, "val", tokenizer=SentenceTokenizer())
    dataset = ReferEvalDataset(split, image_size=size)
    chosen = np.random.default_rng(0).permutation(len(dataset))[:count]
    loader = shard_loader(
        Subset(dataset, chosen.tolist()),
        batch_size=32,
        rank=0,
        world_size=1,
        num_workers=0,
        collate_fn=collate_samples,
        device=torch.device("cpu"),
    )
    positions, inter, union = count_ious(model, loader, device=torch.device("cpu")).records()
    kind = sentence_kinds(data)
    kinds = [kind[int(sent_id)] for sent_id in split.sent_ids[chosen[positions]]]
    table = kind_table(kinds, inter, union)
    return {
        key: [round(m["overall_iou"], 1), round(m["mean_iou"], 1), m["num_samples"]]
        for key, m in table.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="probe", help="label of the printed lines")
    parser.add_argument("--data", type=Path, required=True, help="lgformer synth output")
    parser.add_argument("--budget", type=float, default=480.0, help="training seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--size", type=int, default=128, help="model input side")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--group", type=int, default=0, help="objects of one image per run")
    parser.add_argument("--aux-weight", type=float, default=0.0, help="category loss weight")
    parser.add_argument("--warmup", type=int, default=50, help="linear warm-up steps")
    parser.add_argument("--val", type=int, default=600, help="val sentences scored")
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    overrides = [f"data.root={args.data}", f"data.image_size={args.size}", "validate=false"]
    overrides.append(f"optim.category_loss_weight={args.aux_weight}")
    cfg = load_train_config(BASE_CONFIG, overrides + args.set)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_model(cfg, log=lambda _: None)
    steps, loss = train_for(model, cfg, args)
    table = score_by_kind(model, args.data, args.size, args.val)
    print(
        f"RESULT {args.name} steps {steps} images {steps * args.batch} loss {loss:.3f} "
        f"{json.dumps(table)}"
    )


if __name__ == "__main__":
    main()
