"""DataLoader workers (``num_workers=N``): threads, with torch's ordering and seeding.

Why threads, not processes: ember's kernels and numpy's indexing release the GIL, so
threads load in parallel with each other and with training; a batch needs no pickling
back to the main process (ember tensors are not picklable, and copying every batch
through a pipe costs what the loading saves); and no forked child inherits the
parent's OpenMP thread pool. The price: Python code in ``__getitem__`` holds the GIL,
so purely Python-bound data sets gain less than with processes. Measured on a shared
2-core machine, 512 samples in batches of 32 (ms per epoch, workers 0 -> 2): per-sample
numpy FFTs of 128x128 images, ember threads 509 -> 470, torch processes 487 -> 781
(process start and batch pickling); a pure-Python loop per sample, ember threads
215 -> 305, torch processes 263 -> 316: with two busy cores neither gains.

torch's rules, kept: batch ``k`` goes to worker ``k % N`` (the next worker still
running, for an IterableDataset, where each worker iterates its own ``iter(dataset)``
and shards with :func:`get_worker_info`); batches come out in sampler order; at most
``prefetch_factor * N`` are in flight. Each epoch draws a base seed from the loader's
generator; worker ``w`` gets its own ember random stream seeded ``base_seed + w`` (in a
worker thread ``ember.manual_seed`` and every random op use it, not the main stream)
and then runs ``worker_init_fn(w)``. Python's ``random`` and numpy's global generator
are shared by all threads, so they are not seeded per worker. An exception in a worker
is raised in the main thread as the same type, naming the worker, with the worker's
traceback; the other workers are stopped, so nothing hangs. ``timeout`` > 0 raises
RuntimeError when a batch takes longer. With ``persistent_workers`` the workers' state
(random streams; ``worker_init_fn`` runs once) carries over between epochs.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .._generator import Generator, use_thread_stream

_local = threading.local()


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker knows about itself (torch's ``WorkerInfo``)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its id, the worker count, its seed and the data set
    (e.g. to shard an IterableDataset); None in the main thread."""
    return getattr(_local, "info", None)


class _Failed:
    def __init__(self, worker: int, exc: BaseException) -> None:
        self.exc = exc
        self.text = (
            f"Caught {type(exc).__name__} in DataLoader worker thread {worker}.\n"
            f"Original {''.join(traceback.format_exception(exc))}"
        )

    def reraise(self) -> BaseException:
        try:
            err = type(self.exc)(self.text)
        except Exception:  # an exception type with another constructor
            err = RuntimeError(self.text)
        raise err from self.exc


class _Exhausted:
    """An IterableDataset worker has no more batches."""

    def __init__(self, worker: int) -> None:
        self.worker = worker


_STOP = None


class WorkerState:
    """Per-worker random streams and whether worker_init_fn ran: kept across epochs
    with persistent_workers, made fresh each epoch otherwise."""

    def __init__(self, num_workers: int, base_seed: int) -> None:
        self.base_seed = base_seed
        self.generators = [Generator(base_seed + w) for w in range(num_workers)]
        self.initialized = [False] * num_workers


class WorkerPool:
    """One epoch of loading on ``len(state.generators)`` worker threads.

    ``tasks`` yields what one batch needs (a list of indices, an index, or None for
    "the next batch of your stream"); ``fetch(task, stream)`` makes the batch in the
    worker (``stream`` is the worker's own iterator when ``make_stream`` is given).
    Iterating yields the batches in task order, after the first ``skip``.
    """

    def __init__(
        self,
        tasks: Iterator[Any],
        fetch: Callable[[Any, Any], Any],
        state: WorkerState,
        dataset: Any,
        prefetch_factor: int,
        timeout: float,
        worker_init_fn: Callable[[int], None] | None,
        make_stream: Callable[[], Iterator[Any]] | None = None,
        skip: int = 0,
    ) -> None:
        n = len(state.generators)
        self._skip = skip  # batches already consumed (a resumed IterableDataset epoch)
        self._tasks = tasks
        self._fetch = fetch
        self._timeout = timeout
        self._inboxes: list[queue.Queue] = [queue.Queue() for _ in range(n)]
        self._results: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._active = list(range(n))
        self._turn = 0
        self._sent = self._next = 0
        self._tasks_left = True
        self._ready: dict[int, Any] = {}
        self._threads = [
            threading.Thread(
                target=self._work,
                args=(w, state, dataset, worker_init_fn, make_stream),
                name=f"ember-data-worker-{w}",
                daemon=True,
            )
            for w in range(n)
        ]
        for t in self._threads:
            t.start()
        for _ in range(prefetch_factor * n):
            self._send()

    # ---- the worker side ------------------------------------------------------------------
    def _work(
        self,
        w: int,
        state: WorkerState,
        dataset: Any,
        worker_init_fn: Callable[[int], None] | None,
        make_stream: Callable[[], Iterator[Any]] | None,
    ) -> None:
        gen = state.generators[w]
        _local.info = WorkerInfo(w, len(state.generators), gen.initial_seed(), dataset)
        use_thread_stream(gen)
        stream, failed = None, None
        try:
            if worker_init_fn is not None and not state.initialized[w]:
                worker_init_fn(w)
            state.initialized[w] = True
            stream = make_stream() if make_stream is not None else None
        except BaseException as e:  # noqa: BLE001 - reported with the first batch
            failed = _Failed(w, e)
        while not self._stop.is_set():
            try:
                item = self._inboxes[w].get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _STOP:
                break
            k, task = item
            if failed is not None:
                self._results.put((k, failed))
                continue
            try:
                out = self._fetch(task, stream)
            except StopIteration:
                out = _Exhausted(w)
            except BaseException as e:  # noqa: BLE001 - raised in the main thread
                out = _Failed(w, e)
            self._results.put((k, out))

    # ---- the main side --------------------------------------------------------------------
    def _send(self) -> None:
        if not self._tasks_left or not self._active:
            return
        try:
            task = next(self._tasks)
        except StopIteration:
            self._tasks_left = False
            return
        w = self._active[self._turn % len(self._active)]
        self._turn += 1
        self._inboxes[w].put((self._sent, task))
        self._sent += 1

    def _wait(self) -> tuple[int, Any]:
        waited = 0.0
        while True:
            try:
                return self._results.get(timeout=0.1)
            except queue.Empty:
                waited += 0.1
                if self._timeout and waited >= self._timeout:
                    self.close()
                    raise RuntimeError(
                        f"ember.data.DataLoader: timed out after {self._timeout} seconds "
                        "waiting for a batch from the workers"
                    ) from None

    def __iter__(self) -> WorkerPool:
        return self

    def __next__(self) -> Any:
        while True:
            if self._next == self._sent and not (self._tasks_left and self._active):
                self.close()
                raise StopIteration
            while self._next not in self._ready:
                k, out = self._wait()
                self._ready[k] = out
            out = self._ready.pop(self._next)
            self._next += 1
            if isinstance(out, _Failed):
                self.close()
                out.reraise()
            if isinstance(out, _Exhausted):  # tasks already queued to it come back so too
                if out.worker in self._active:
                    self._active.remove(out.worker)
                self._send()
                continue
            self._send()
            if self._skip:
                self._skip -= 1
                continue
            return out

    def close(self) -> None:
        self._stop.set()
        for box in self._inboxes:
            box.put(_STOP)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)

    def __del__(self) -> None:
        self._stop.set()
