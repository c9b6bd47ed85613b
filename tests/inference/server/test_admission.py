"""Admission on its own: requests queue, then are refused with 503."""

from __future__ import annotations

import asyncio

import pytest

from lgformer.inference.server.admission import Admission
from lgformer.inference.server.parsing import RequestError


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
