"""A tiny in-memory referring dataset and a matching test config, for the engine tests.

Each sample is a noisy S x S image with a bright square; the target is the
square and the sentence is fixed. Items have the same keys as the REFER
datasets (image, token_ids, attention_mask, target, ref_id, sent_id, index), and
with ``categories=True`` per-pixel labels too (1 = square, 0 = background).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch.utils.data import Dataset

from lgformer.engine.config import TrainConfig, load_train_config


class SquaresDataset(Dataset):
    """``n`` samples of (3, size, size) images; target (size, size) 0/1."""

    def __init__(
        self,
        n: int = 8,
        size: int = 32,
        seed: int = 0,
        max_words: int = 20,
        poisoned: tuple[int, ...] = (),
        categories: bool = False,
    ) -> None:
        self.categories = SimpleNamespace(num_labels=2) if categories else None
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, size, size, generator=gen) * 0.3
        self.targets = torch.zeros(n, size, size)
        for i in range(n):
            s = int(torch.randint(size // 4, size // 2, (1,), generator=gen))
            y, x = (int(v) for v in torch.randint(0, size - s, (2,), generator=gen))
            self.images[i, :, y : y + s, x : x + s] += 1.5
            self.targets[i, y : y + s, x : x + s] = 1.0
        for i in poisoned:  # NaN images give NaN losses, to exercise skipped steps
            self.images[i] = float("nan")
        self.token_ids = torch.zeros(max_words, dtype=torch.int64)
        self.token_ids[:4] = torch.tensor([101, 1996, 2417, 102])  # [CLS] the box [SEP]
        self.attention_mask = (self.token_ids > 0).long()
        self.epochs_seen: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs_seen.append(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {
            "image": self.images[index],
            "token_ids": self.token_ids,
            "attention_mask": self.attention_mask,
            "target": self.targets[index],
            "ref_id": index,
            "sent_id": index,
            "index": index,
        }
        if self.categories is not None:
            item["categories"] = self.targets[index].long()
        return item


class SignalAt(Dataset):
    """``dataset`` that sends the signals ``plan[n]`` to its own process while loading
    its n-th item (counted from 1 over the object's life). With batch b and no loader
    workers, item ``b * k + 1`` is loaded for step ``k + 1``: a signal sent there arrives
    before that step runs."""

    def __init__(self, dataset: Dataset, plan: dict[int, list[int]]) -> None:
        self.dataset = dataset
        self.plan = plan
        self.categories = getattr(dataset, "categories", None)
        self.loaded = 0

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        self.loaded += 1
        for signum in self.plan.get(self.loaded, ()):
            os.kill(os.getpid(), signum)
        return self.dataset[index]


def signalling(factory, plan: dict[int, list[int]]):
    """``factory`` whose training set is wrapped in ``SignalAt(plan)``."""

    def wrapped(cfg: TrainConfig, max_words: int):
        train, val, collate_fn = factory(cfg, max_words)
        return SignalAt(train, plan), val, collate_fn

    return wrapped


def squares_factory(
    n_train: int = 8,
    n_val: int = 4,
    size: int = 32,
    poisoned: tuple[int, ...] = (),
    categories: bool = False,
):
    """A ``run_training(datasets=...)`` factory over ``SquaresDataset``."""

    def factory(cfg: TrainConfig, max_words: int):
        train = SquaresDataset(
            n_train,
            size,
            seed=1,
            max_words=max_words,
            poisoned=poisoned,
            categories=categories,
        )
        val = SquaresDataset(n_val, size, seed=2, max_words=max_words) if n_val else None
        return train, val, None

    return factory


def tiny_config(out_dir: Path, *overrides: str) -> TrainConfig:
    """test_tiny on CPU, fp32, no bars or TensorBoard, batch 2, 2 epochs."""
    base = [
        "model.preset=test_tiny",
        "device=cpu",
        "optim.precision=fp32",
        "optim.batch_size=2",
        "optim.epochs=2",
        "optim.lr=1e-3",
        "data.num_workers=0",
        f"output.dir={out_dir}",
        "output.progress=false",
        "output.tensorboard=false",
        "output.log_every=1000",
        "init.swin=null",
        "init.bert=null",
    ]
    return load_train_config(None, [*base, *overrides])


def assert_same_training_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two training checkpoints hold the same step, weights, Adam state and metrics."""
    assert a["step"] == b["step"]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for pid, st in a["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"], b["optimizer"]["state"][pid]["exp_avg_sq"])
    assert a["metrics"] == b["metrics"] and a["best_iou"] == b["best_iou"]


def assert_resume_is_exact(
    tmp_path: Path, overrides: tuple[str, ...], datasets, stops: tuple[int, ...], heads: str
) -> None:
    """A run stopped at each of ``stops`` steps and resumed ends with the weights, ``heads``
    (a checkpoint key) and later losses of the same run trained in one go."""
    from lgformer.engine.checkpoint import load_checkpoint
    from lgformer.engine.run import run_training

    full = run_training(tiny_config(tmp_path / "full", *overrides), datasets=datasets)
    out = tmp_path / "parts"
    for stop in stops:
        run_training(tiny_config(out, *overrides, f"max_steps={stop}"), datasets=datasets)
    resumed = run_training(tiny_config(out, *overrides), datasets=datasets)
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(out / "last.pt")
    for part in ("model", heads):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}: {key}"
    assert resumed.loss_history == full.loss_history[stops[-1] :]


def train_with_heads(tmp_path: Path, overrides: tuple[str, ...], datasets, heads: str, count: int):
    """Trains 8 steps into ``tmp_path / "run"`` and checks that the checkpoint saves ``count``
    auxiliary 1x1 heads under ``heads`` and keeps them out of the model; returns the trainer."""
    from lgformer.engine.checkpoint import load_checkpoint
    from lgformer.engine.run import run_training

    trainer = run_training(tiny_config(tmp_path / "run", *overrides), datasets=datasets)
    assert trainer.position.step == 8 and all(
        map(torch.isfinite, torch.tensor(trainer.loss_history))
    )
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    expected = {f"heads.{i}.{p}" for i in range(count) for p in ("weight", "bias")}
    assert set(ckpt[heads]) == expected
    assert not any("heads." in key for key in ckpt["model"])
    return trainer
