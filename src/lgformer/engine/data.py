"""The training data: its order, a run's position in it, and an epoch's loader (the
datasets: ``lgformer.data.sources``; the loader class: ``stop_signals.py``).

Order: ``ResumableSampler`` makes an epoch's order a pure function of (seed, epoch),
shuffled with a generator seeded from both, padded to a multiple of the world size like
``DistributedSampler``, rank ``r`` taking every ``world_size``-th index from ``r``. Global
batch ``i`` of a run with ``P`` processes and ``b`` samples each is then the same set of
samples as batch ``i`` of a single process with ``P * b``, and ``consumed`` drops the
samples already used, so a resumed run sees exactly the batches an uninterrupted one
would, without loading the skipped ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from lgformer.engine.stop_signals import TrainingDataLoader
from lgformer.errors import LGFormerError


class ResumableSampler(Sampler[int]):
    """Indices of one process for the current epoch.

    Args:
        num_samples: dataset length.
        num_replicas, rank: the process layout (1 and 0 for one process).
        seed: base seed of the shuffle.

    Validation shards without shuffling or padding: ``lgformer.evaluation.ShardSampler``.
    """

    def __init__(
        self,
        num_samples: int,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
    ) -> None:
        if num_samples <= 0:
            raise ValueError("the dataset is empty")
        self.num_samples = num_samples
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self.consumed = 0  # samples of this rank already used in this epoch

    def set_epoch(self, epoch: int, consumed: int = 0) -> None:
        """Start ``epoch``, skipping its first ``consumed`` samples of this rank."""
        self.epoch = epoch
        self.consumed = consumed

    def epoch_indices(self) -> list[int]:
        """All of this rank's indices for the current epoch, nothing skipped."""
        gen = torch.Generator()
        gen.manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_samples, generator=gen).tolist()
        total = -(-self.num_samples // self.num_replicas) * self.num_replicas
        order = (order * (-(-total // len(order))))[:total]
        return order[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices()[self.consumed :])

    def per_rank(self) -> int:
        """This rank's sample count in a whole epoch."""
        return -(-self.num_samples // self.num_replicas)

    def __len__(self) -> int:
        return max(0, self.per_rank() - self.consumed)


@dataclass
class Position:
    """Where a run is: the next batch is batch ``step_in_epoch`` (of ``iters_per_epoch``
    batches of ``batch_size`` samples a process) of epoch ``epoch``, both from 0, after
    ``step`` steps in all."""

    iters_per_epoch: int
    batch_size: int
    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0

    @property
    def mid_epoch(self) -> bool:
        return self.step_in_epoch < self.iters_per_epoch

    @property
    def consumed(self) -> int:
        """The samples of this process already used in this epoch."""
        return self.step_in_epoch * self.batch_size

    def advance(self) -> None:
        """One batch consumed (trained or skipped)."""
        self.step_in_epoch += 1
        self.step += 1

    def next_epoch(self) -> None:
        self.epoch += 1
        self.step_in_epoch = 0

    def words(self) -> str:
        """Where the next batch is, in words."""
        if self.step_in_epoch == 0:
            return f"start of epoch {self.epoch + 1}"
        if not self.mid_epoch:
            return f"end of epoch {self.epoch + 1}, before its validation and epoch checkpoint"
        return f"epoch {self.epoch + 1}, batch {self.step_in_epoch}/{self.iters_per_epoch}"

    def state_dict(self, sampler: ResumableSampler) -> dict[str, Any]:
        """A checkpoint's ``epoch``, ``step_in_epoch``, ``step`` and ``sampler`` entries."""
        return {
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "step": self.step,
            "sampler": {
                "seed": sampler.seed,
                "epoch": self.epoch,
                "consumed": self.consumed,
                "world_size": sampler.num_replicas,
                "num_samples": sampler.num_samples,
            },
        }

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        self.epoch = int(ckpt["epoch"])
        self.step_in_epoch = int(ckpt["step_in_epoch"])
        self.step = int(ckpt["step"])


def training_order(
    num_samples: int, batch_size: int, *, world_size: int, rank: int, seed: int
) -> tuple[ResumableSampler, Position]:
    """This process's sampler and the position at the start of a run of ``batch_size``
    samples a step (the total over processes)."""
    if batch_size % world_size:
        raise LGFormerError(
            f"optim.batch_size={batch_size} (total) must be a multiple of the "
            f"{world_size} processes"
        )
    sampler = ResumableSampler(num_samples, num_replicas=world_size, rank=rank, seed=seed)
    per_process = batch_size // world_size
    position = Position(sampler.per_rank() // per_process, per_process)
    if position.iters_per_epoch == 0:
        raise LGFormerError(
            f"the training set has {num_samples} samples, fewer than one batch of {batch_size}"
        )
    return sampler, position


def epoch_loader(
    train_set: Dataset,
    sampler: ResumableSampler,
    *,
    epoch: int,
    consumed: int,
    batch_size: int,
    seed: int,
    num_workers: int,
    collate_fn: Callable | None,
    pin_memory: bool,
) -> TrainingDataLoader:
    """The loader of the rest of ``epoch`` (its first ``consumed`` samples of this process
    skipped), after ``train_set.set_epoch(epoch)`` where it has one (new sentence draws).
    Its own generator: its iterator must not draw from the global RNG, or a resumed run
    would drift from an uninterrupted one."""
    sampler.set_epoch(epoch, consumed=consumed)
    if hasattr(train_set, "set_epoch"):
        train_set.set_epoch(epoch)
    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + epoch)
    return TrainingDataLoader(
        train_set,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        drop_last=True,
        generator=generator,
    )
