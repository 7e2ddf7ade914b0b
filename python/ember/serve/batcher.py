"""Dynamic batching: requests for one model queue up and are merged into one call of the
model, up to ``max_batch_size`` rows or until the first of them has waited
``max_delay_s``; the call runs in a worker thread (ember's kernels release the GIL, so
the event loop keeps accepting meanwhile) and each request gets its own part back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import Unavailable

Item = TypeVar("Item")
Result = TypeVar("Result")
Observer = Callable[..., None]


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    rows: int
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)


class DynamicBatcher(Generic[Item, Result]):
    """Merge concurrent :meth:`submit` calls into batches for ``run_batch``: a batch
    takes queued requests up to ``max_batch_size`` rows, waiting at most ``max_delay_s``
    after its first request for more, unless that request is alone on an idle model
    (then it runs at once).

    ``run_batch(items) -> results`` (one result per item, in order) runs in one of
    ``instances`` worker threads, never on the event loop. At most ``max_queue``
    requests wait; one more is :class:`Unavailable` (503) with ``retry_after``. If a
    merged batch raises, its requests are retried one by one, so a bad request fails
    alone. ``observer("batch", size=rows, requests=n, queue_s=, compute_s=)`` is
    called after every batch (queue_s: the oldest request's wait).

    Create and use it inside a running event loop.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Item]], list[Result]],
        *,
        max_batch_size: int,
        max_delay_s: float,
        max_queue: int,
        instances: int = 1,
        observer: Observer | None = None,
        name: str = "model",
    ):
        self._run_batch = run_batch
        self.max_batch_size, self.max_delay_s = max_batch_size, max_delay_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(max_queue)
        self._slots = asyncio.Semaphore(instances)
        self._executor = ThreadPoolExecutor(instances, thread_name_prefix=f"ember-serve-{name}")
        self._observer = observer
        self._name = name
        self._carry: _Pending | None = None  # took from the queue but did not fit its batch
        self._running: set[asyncio.Task] = set()  # holds the batch tasks until they end
        self._closing = False
        self._unanswered = 0  # queued, being batched or running
        self._last_compute_s = 0.0
        self._last_requests = 0
        self._collector = asyncio.get_running_loop().create_task(self._collect())

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The worker threads (other per-model work, e.g. generation steps, runs there too)."""
        return self._executor

    def pending(self) -> int:
        """Requests queued, being batched or running."""
        return self._unanswered

    async def submit(self, item: Item, rows: int) -> Result:
        """Queue ``item`` (``rows`` rows of the batch) and wait for its result."""
        if self._closing:
            raise Unavailable(f"model {self._name!r} is unloading", retry_after=1.0)
        pending = _Pending(item, rows, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            raise Unavailable(
                f"model {self._name!r} has {self._queue.maxsize} requests queued; retry later",
                retry_after=self._retry_after(),
            ) from None
        self._unanswered += 1
        return await pending.future

    def _retry_after(self) -> float:
        """About how long the queue takes to drain, at least one second."""
        batches = self._queue.qsize() / self.max_batch_size + 1
        return max(1.0, batches * (self._last_compute_s + self.max_delay_s))

    async def _next(self, timeout: float | None) -> _Pending | None:
        if self._carry is not None:
            pending, self._carry = self._carry, None
            return pending
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return None if self._queue.empty() else self._queue.get_nowait()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    async def _collect(self) -> None:
        """Form batches while an instance is free; runs until :meth:`close` cancels it."""
        while True:
            await self._slots.acquire()
            first = await self._next(None)
            batch, rows = [first], first.rows
            # The delay is spent only when batching pays: a lone request on a model whose
            # last batch was lone too runs at once (no added latency at low load); under
            # load, requests pile up while a batch computes and the next one waits to fill.
            lone = self._last_requests <= 1 and self._queue.empty()
            deadline = first.queued_at + (0.0 if lone else self.max_delay_s)
            while rows < self.max_batch_size:
                nxt = await self._next(deadline - time.perf_counter())
                if nxt is None:
                    break
                if rows + nxt.rows > self.max_batch_size:
                    self._carry = nxt  # first in the next batch
                    break
                batch.append(nxt)
                rows += nxt.rows
            self._last_requests = len(batch)
            task = asyncio.get_running_loop().create_task(self._run(batch, rows))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending], rows: int) -> None:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        queue_s = start - batch[0].queued_at
        try:
            items = [p.item for p in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._checked, items)
                outcomes: list[tuple[Any, BaseException | None]] = [(r, None) for r in results]
            except Exception as e:
                if len(batch) == 1:
                    outcomes = [(None, e)]
                else:  # find the culprit: every request alone
                    outcomes = []
                    for item in items:
                        try:
                            res = await loop.run_in_executor(self._executor, self._checked, [item])
                            outcomes.append((res[0], None))
                        except Exception as one:
                            outcomes.append((None, one))
            compute_s = time.perf_counter() - start
            self._last_compute_s = compute_s
            self._unanswered -= len(batch)
            for p, (res, err) in zip(batch, outcomes):
                if p.future.done():  # the caller went away (cancelled)
                    continue
                if err is None:
                    p.future.set_result(res)
                else:
                    p.future.set_exception(err)
            if self._observer is not None:
                self._observer(
                    "batch", size=rows, requests=len(batch), queue_s=queue_s, compute_s=compute_s
                )
        finally:
            self._slots.release()

    def _checked(self, items: list[Item]) -> list[Result]:
        results = self._run_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"run_batch returned {len(results)} results for {len(items)} items")
        return results

    async def close(self) -> None:
        """Refuse new requests, finish every queued and running one, stop the threads."""
        self._closing = True
        while self.pending():
            await asyncio.sleep(0.005)
        self._collector.cancel()
        try:
            await self._collector
        except asyncio.CancelledError:
            pass
        self._executor.shutdown(wait=True)
