"""The server's parts on their own: micro-batching, admission, the Origin/Host guard."""

from __future__ import annotations

import asyncio

import pytest

from lgformer.inference.server.admission import Admission
from lgformer.inference.server.batching import MicroBatcher
from lgformer.inference.server.guard import LocalOriginGuard, host_name
from lgformer.inference.server.parsing import RequestError


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


def test_admission_queues_then_refuses():
    async def main():
        admission = Admission(active=1, queued=1)
        release = asyncio.Event()
        order = []

        async def hold(name):
            async with admission.slot():
                order.append(name)
                await release.wait()

        first = asyncio.create_task(hold("first"))
        second = asyncio.create_task(hold("second"))
        await asyncio.sleep(0.01)
        assert admission.inside == 2 and order == ["first"]
        with pytest.raises(RequestError) as err:
            async with admission.slot():
                pass
        assert err.value.status == 503
        release.set()
        await asyncio.gather(first, second)
        assert order == ["first", "second"] and admission.inside == 0

    asyncio.run(main())


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({b"host": b"127.0.0.1:8000"}, True),
        ({b"host": b"localhost:8000", b"origin": b"http://localhost:8000"}, True),
        ({b"host": b"[::1]:8000", b"origin": b"http://[::1]:8000"}, True),
        ({b"host": b"10.1.2.3:8000"}, True),  # an IP literal cannot be a rebinding
        ({b"host": b"myhost.lan:8000"}, True),  # --allow-host myhost.lan
        ({b"host": b"evil.example:8000"}, False),
        ({b"host": b"127.0.0.1:8000", b"origin": b"http://127.0.0.1:9999"}, False),
        ({b"host": b"127.0.0.1:8000", b"origin": b"null"}, False),
        ({}, False),
    ],
)
def test_the_guard_accepts_only_this_servers_own_requests(headers, allowed):
    guard = LocalOriginGuard(None, allowed_hosts=["MyHost.lan"])
    assert (guard.refusal(headers) is None) == allowed


def test_host_names_drop_the_port():
    assert host_name("Example.org:8000") == "example.org"
    assert host_name("[::1]:80") == "::1"
    assert host_name("::1") == "::1"
