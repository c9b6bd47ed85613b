"""Running one evaluation across processes started by ``torchrun``.

Each process takes one contiguous shard of the samples (no padding, no
duplicates, unlike ``DistributedSampler``); contiguous shards keep the
sentences of a ref together, so each image is read once per process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass(frozen=True)
class ProcessInfo:
    """This process's place in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # True when init_distributed created the process group (and should destroy it).
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> ProcessInfo:
    """Join the torchrun job described by the environment, if any.

    Uses NCCL for CUDA devices and gloo otherwise, and pins each process to
    GPU ``LOCAL_RANK``. Without ``WORLD_SIZE`` > 1 (or with a process group
    already initialised by the caller) nothing is initialised here.
    """
    if dist.is_available() and dist.is_initialized():
        return ProcessInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return ProcessInfo()
    local_rank = _env_int("LOCAL_RANK", 0)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return ProcessInfo(dist.get_rank(), dist.get_world_size(), local_rank, owns_group=True)


def leave_process_group(*, wait_for_peers: bool) -> None:
    """Destroy the default process group (no-op without one); training and evaluation.

    ``wait_for_peers`` (the work ended normally) first meets every process at a
    barrier, so that none tears down its connections while another still uses them:
    rank 0 is often still writing files when the others finish, and an
    unsynchronised teardown can abort it after its work is done. After an error
    the peers may never arrive, so the group is destroyed at once.
    """
    if dist.is_available() and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


def shutdown_distributed(process: ProcessInfo, *, wait_for_peers: bool = False) -> None:
    """Destroy the process group if ``init_distributed`` created it for ``process``
    (``leave_process_group``; ``wait_for_peers`` once the evaluation is done)."""
    if process.owns_group:
        leave_process_group(wait_for_peers=wait_for_peers)


def shard_bounds(num_samples: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, end) of ``rank``'s contiguous shard; shard sizes differ by at most one."""
    return num_samples * rank // world_size, num_samples * (rank + 1) // world_size


class ShardSampler(Sampler[int]):
    """Yields the indices of one contiguous shard, in order."""

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1) -> None:
        self.start, self.end = shard_bounds(num_samples, rank, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.end))

    def __len__(self) -> int:
        return self.end - self.start


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default
