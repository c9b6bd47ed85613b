"""A data order that is a pure function of (seed, epoch), sharded and resumable.

Each epoch shuffles with a generator seeded from ``seed`` and the epoch
number, pads to a multiple of the world size like ``DistributedSampler``,
and gives rank ``r`` every ``world_size``-th index starting at ``r``. Global
batch ``i`` of a run with ``P`` processes and ``b`` samples each is then the
same set of samples as batch ``i`` of a single process with ``P * b``.
``skip`` drops samples already consumed, so a resumed run sees exactly the
batches an uninterrupted one would, without loading the skipped ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler


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

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "epoch": self.epoch, "consumed": self.consumed}
