"""Sharding one evaluation across processes started by ``torchrun``.

The process group itself is ``lgformer.distributed``'s (shared with training). Each
process takes one contiguous shard of the samples (no padding, no
duplicates, unlike ``DistributedSampler``); contiguous shards keep the
sentences of a ref together, so each image is read once per process.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler


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
