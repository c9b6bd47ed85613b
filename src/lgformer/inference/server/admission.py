"""A concurrency limit with a bounded queue: past both, requests are refused at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

from lgformer.inference.server.parsing import RequestError


class Admission:
    """At most ``active`` holders of a slot at a time and ``queued`` waiting for one."""

    def __init__(self, active: int, queued: int) -> None:
        if active < 1 or queued < 0:
            raise ValueError(f"need active >= 1 and queued >= 0, got {active}, {queued}")
        self.active, self.queued = active, queued
        self._semaphore: asyncio.Semaphore | None = None
        self._inside = 0  # active + waiting

    @property
    def inside(self) -> int:
        return self._inside

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Holds an active slot for the block; ``RequestError`` 503 when the queue is full."""
        if self._inside >= self.active + self.queued:
            raise RequestError(
                f"the server is busy ({self.active} requests running, {self.queued} "
                "waiting); try again in a few seconds",
                HTTPStatus.SERVICE_UNAVAILABLE,
            )
        if self._semaphore is None:  # created inside the server's event loop
            self._semaphore = asyncio.Semaphore(self.active)
        self._inside += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self._inside -= 1
