"""The micro-batcher on its own: shared calls up to the cap, oversized items, failures."""

from __future__ import annotations

import asyncio

from lgformer.inference.server.batching import MicroBatcher


def test_concurrent_items_share_calls_up_to_the_cap_and_keep_their_results():
    calls = []

    def run_batch(items):
        calls.append(list(items))
        return [item * 10 for item in items]

    async def main():
        batcher = MicroBatcher(run_batch, max_size=4, max_wait_s=0.05, size_of=lambda i: 1)
        try:
            return await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        finally:
            batcher.close()

    assert asyncio.run(main()) == [i * 10 for i in range(10)]
    assert [len(c) for c in calls] == [4, 4, 2]  # full batches, then what was left
    assert sorted(i for c in calls for i in c) == list(range(10))


def test_an_item_too_big_to_join_starts_the_next_batch():
    calls = []

    def run_batch(items):
        calls.append(list(items))
        return items

    async def main():
        batcher = MicroBatcher(run_batch, max_size=4, max_wait_s=0.05, size_of=lambda i: i)
        try:
            return await asyncio.gather(*(batcher.submit(i) for i in (3, 3, 1)))
        finally:
            batcher.close()

    assert asyncio.run(main()) == [3, 3, 1]
    assert calls == [[3], [3, 1]]


def test_one_failing_item_fails_alone():
    def run_batch(items):
        if "bad" in items:
            raise ValueError("bad input")
        return [item.upper() for item in items]

    async def main():
        batcher = MicroBatcher(run_batch, max_size=8, max_wait_s=0.05)
        try:
            return await asyncio.gather(
                *(batcher.submit(i) for i in ("a", "bad", "c")), return_exceptions=True
            )
        finally:
            batcher.close()

    a, bad, c = asyncio.run(main())
    assert (a, c) == ("A", "C") and isinstance(bad, ValueError)
