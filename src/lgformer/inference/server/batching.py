"""Micro-batching: requests that arrive together go through the model in one call."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """Collects submitted items into batches of up to ``max_size`` units (``size_of``
    each; sentences, say) and runs ``run_batch`` on them in one dedicated thread.

    A batch starts with the oldest waiting item, takes every item already waiting that
    fits, and waits at most ``max_wait_s`` for more while it is not full. Under load
    the model is busy while the next batch fills, so no waiting happens at all. When a
    batch of several items fails, each item is retried alone, so one bad request does
    not fail the others.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Sequence[Result]],
        *,
        max_size: int,
        max_wait_s: float,
        size_of: Callable[[Item], int] = lambda item: 1,
    ) -> None:
        self.run_batch, self.max_size, self.max_wait_s = run_batch, max_size, max_wait_s
        self.size_of = size_of
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="lgformer-model")
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self.batch_sizes: deque[int] = deque(maxlen=256)  # items in the latest model calls

    async def submit(self, item: Item) -> Result:
        """``run_batch``'s result for ``item``, computed in a batch with others."""
        if self._task is None or self._task.done():  # started in the server's event loop
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        carry = None
        while True:
            first = carry or await self._queue.get()
            carry, batch, size = None, [first], self.size_of(first[0])
            deadline = loop.time() + self.max_wait_s
            while size < self.max_size:
                try:
                    if self._queue.empty():
                        timeout = deadline - loop.time()
                        if timeout <= 0:
                            break
                        entry = await asyncio.wait_for(self._queue.get(), timeout)
                    else:
                        entry = self._queue.get_nowait()
                except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                    break
                if size + self.size_of(entry[0]) > self.max_size:
                    carry = entry  # starts the next batch
                    break
                batch.append(entry)
                size += self.size_of(entry[0])
            batch = [(item, future) for item, future in batch if not future.done()]
            if batch:
                await self._run(batch)

    async def _run(self, batch: list) -> None:
        loop = asyncio.get_running_loop()
        items = [item for item, _ in batch]
        self.batch_sizes.append(len(items))
        try:
            results = await loop.run_in_executor(self._executor, self.run_batch, items)
        except Exception as err:
            if len(batch) == 1:
                _settle(batch[0][1], error=err)
                return
            for entry in batch:  # find the one that fails, serve the others
                await self._run([entry])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(future: asyncio.Future, *, result=None, error: BaseException | None = None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
