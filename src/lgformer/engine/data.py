"""The training data: its order and its loader (the datasets: ``lgformer.data.sources``).

Order: ``ResumableSampler`` makes an epoch's order a pure function of (seed, epoch),
shuffled with a generator seeded from both, padded to a multiple of the world size like
``DistributedSampler``, rank ``r`` taking every ``world_size``-th index from ``r``. Global
batch ``i`` of a run with ``P`` processes and ``b`` samples each is then the same set of
samples as batch ``i`` of a single process with ``P * b``, and ``consumed`` drops the
samples already used, so a resumed run sees exactly the batches an uninterrupted one
would, without loading the skipped ones.

Loader: ``worker_signals`` runs in each worker once it is set up, but PyTorch installs its
own SIGTERM handler (which ends the worker) before that. A SIGTERM sent to the whole
process group in that window (``torchrun`` and Slurm signal every process; Ctrl-C reaches
the group) would kill a starting worker, make PyTorch raise in the training process, and
lose the step's position unsaved. ``TrainingDataLoader`` starts its workers with both
signals blocked: they reach a worker only once ``worker_signals`` has taken over, and the
training process receives one sent meanwhile as soon as the workers are started.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from lgformer.engine.stop_signals import worker_signals

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


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


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in this thread, and in processes forked meanwhile
    (which inherit the mask); a signal arriving meanwhile is delivered at the end.
    A no-op where signal masks do not exist (Windows)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class TrainingDataLoader(DataLoader):
    """``DataLoader`` with ``worker_init_fn=worker_signals`` whose workers start with the
    stop signals held (see the module docstring). Takes DataLoader's arguments but
    ``worker_init_fn``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "worker_init_fn" in kwargs:
            raise TypeError("TrainingDataLoader sets worker_init_fn itself")
        super().__init__(*args, worker_init_fn=worker_signals, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        with stop_signals_held():  # the workers are forked here
            return super().__iter__()


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
    skipped); ``train_set.set_epoch(epoch)`` is called when it has one (new sentence
    draws). The loader has its own generator: creating its iterator must not draw from
    the global RNG, or a resumed run would drift from an uninterrupted one."""
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
