"""DataLoader: batches from a data set, with seeded shuffling, collation, worker threads
(``num_workers``, see ``ember.data.workers``) or one background prefetch thread, and a
resumable position (``state_dict`` / ``load_state_dict``)."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ..ops.creation import from_numpy, tensor
from ..ops.shape import stack
from ..tensor import Tensor
from .dataset import Batch, IterableDataset, _seed_from
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from .workers import WorkerPool, WorkerState


def default_collate(samples: Any) -> Any:
    """Stack a list of samples into a batch.

    Tensors are stacked along a new first dimension; numpy arrays and numpy scalars are
    stacked and wrapped as tensors; Python ints become int64, floats the default float
    dtype (float32), bools bool; strings and other objects stay a list. Tuples, lists and
    dicts are collated field by field. A :class:`Batch` (already batched by the data
    set's ``__getitems__``) is returned as a plain tuple.

    Shape: N samples of shape S -> (N, *S).
    """
    if isinstance(samples, Batch):
        return tuple(samples)
    if not isinstance(samples, (list, tuple)) or len(samples) == 0:
        raise TypeError(
            f"ember.data.default_collate: expected a non-empty list of samples, got "
            f"{type(samples).__name__}"
        )
    first = samples[0]
    if isinstance(first, Tensor):
        return stack([s.detach() for s in samples])
    if isinstance(first, (np.ndarray, np.generic)) and not isinstance(first, (np.str_, np.bytes_)):
        return from_numpy(np.ascontiguousarray(np.stack([np.asarray(s) for s in samples])))
    if isinstance(first, bool):
        return tensor(samples)
    if isinstance(first, int):
        return tensor(samples)
    if isinstance(first, float):
        return tensor(samples)
    if isinstance(first, Mapping):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(f)) for f in zip(*samples)))
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError(
                "ember.data.default_collate: each sample in a batch must have the same number "
                "of fields"
            )
        out = [default_collate(list(f)) for f in zip(*samples)]
        return tuple(out) if isinstance(first, tuple) else out
    return list(samples)


_END = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Prefetcher:
    """Runs a batch iterator in a daemon thread that fills a bounded queue. Exceptions
    are re-raised in the consumer; ``close()`` (also on garbage collection) stops the
    thread at its next put."""

    def __init__(self, source: Iterator[Any], depth: int) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(source,), name="ember-data-prefetch", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._put(_Raised(e))
            return
        self._put(_END)

    def __iter__(self) -> _Prefetcher:
        return self

    def __next__(self) -> Any:
        if self._stop.is_set():
            raise StopIteration
        while True:
            try:
                item = self._q.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._q.empty():
                    self.close()
                    raise StopIteration from None
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Raised):
            self.close()
            raise item.exc
        return item

    def close(self) -> None:
        self._stop.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __del__(self) -> None:
        self._stop.set()


class _LoaderIter:
    """One epoch of a DataLoader; counts the batches handed out (for state_dict)."""

    def __init__(self, loader: DataLoader, epoch: int, start: int) -> None:
        self.loader = loader
        self.epoch = epoch
        self.pos = start
        self.done = False
        self._prefetch: Any = None
        if loader.num_workers > 0:
            self._prefetch = source = loader._worker_batches(epoch, start)
        else:
            source = loader._batches(epoch, start)
            if loader.prefetch > 0:
                self._prefetch = source = _Prefetcher(source, loader.prefetch)
        self._source = source

    def __iter__(self) -> _LoaderIter:
        return self

    def __next__(self) -> Any:
        try:
            batch = next(self._source)
        except StopIteration:
            self._finish()
            raise
        except BaseException:
            self.close()
            raise
        self.pos += 1
        return batch

    def _finish(self) -> None:
        if not self.done:
            self.done = True
            if self.loader._active is self:
                self.loader._active = None
                self.loader._epoch = self.epoch + 1

    def close(self) -> None:
        """Stop this epoch: the prefetch thread ends and, like any abandoned epoch, the
        loader's next ``iter()`` (and its state_dict) moves on to the next epoch."""
        if self._prefetch is not None:
            self._prefetch.close()
        if not self.done:
            self.done = True
            if self.loader._active is self:
                self.loader._active = None
                self.loader._epoch = self.epoch + 1

    def __len__(self) -> int:
        """Batches left in this epoch (map-style data sets only)."""
        return len(self.loader) - self.pos

    def __del__(self) -> None:
        self.close()


class DataLoader:
    """Iterate a data set in batches.

    Args:
        dataset: a map-style data set (``__len__`` + ``__getitem__``, optionally a
            vectorized ``__getitems__``) or an IterableDataset.
        batch_size: samples per batch (None: yield samples one by one, uncollated).
        shuffle: a new seeded order each epoch (see ``generator``).
        drop_last: drop the last incomplete batch.
        collate_fn: list of samples -> batch (default: :func:`default_collate`).
        generator: seeds the shuffle: an ember.Generator (default: ember's global
            generator, so ``ember.manual_seed`` fixes the order), a numpy Generator or
            an int. One seed is drawn when the loader is made.
        prefetch: batches a background thread prepares ahead (0: none; with
            ``num_workers=0`` only). Kernels release the GIL, so loading overlaps
            compute; exceptions are re-raised here.
        sampler, batch_sampler: custom index orders (PyTorch's meaning).
        num_workers: worker threads that fetch and collate batches (0: in the calling
            thread), with torch's order, seeding and error rules; see
            ``ember.data.workers`` for why threads. ``worker_init_fn``,
            ``prefetch_factor`` (batches in flight per worker, default 2),
            ``persistent_workers`` and ``timeout`` have torch's meaning.
        pin_memory, pin_memory_device: accepted; a no-op (ember's host-to-GPU copies
            do not use pinned staging), as torch's is on a CPU-only machine.
        multiprocessing_context, in_order: accepted for torch scripts; workers are
            threads and batches always come in sampler order.

    Each ``iter(loader)`` is one epoch. ``state_dict()`` records the epoch, how many
    batches of it were consumed and the shuffle seed; ``load_state_dict()`` makes the
    next ``iter()`` continue from exactly there (bit-exact resume).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        prefetch: int = 0,
    ) -> None:
        name = "ember.data.DataLoader"
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                f"{name}: num_workers option should be a non-negative int; use num_workers=0 "
                f"to load in the calling thread (got {num_workers!r})"
            )
        if timeout < 0:
            raise ValueError(f"{name}: timeout option should be non-negative, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                f"{name}: prefetch_factor option could only be specified with num_workers > 0"
            )
        if persistent_workers and num_workers == 0:
            raise ValueError(f"{name}: persistent_workers option needs num_workers > 0")
        if num_workers > 0 and prefetch:
            raise ValueError(
                f"{name}: prefetch= is the background thread of num_workers=0; with workers "
                "use prefetch_factor"
            )
        prefetch_factor = 2 if prefetch_factor is None else prefetch_factor
        if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int):
            raise ValueError(f"{name}: prefetch_factor should be an int, got {prefetch_factor!r}")
        if prefetch_factor < 1:
            raise ValueError(f"{name}: prefetch_factor should be >= 1, got {prefetch_factor}")
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor if num_workers else None
        self.persistent_workers = bool(persistent_workers)
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.generator = generator
        self._worker_state: WorkerState | None = None
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
        ):
            raise ValueError(f"{name}: batch_size should be a positive integer, got {batch_size!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f"{name}: prefetch must be an int >= 0, got {prefetch!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.prefetch = prefetch
        self._custom_collate = collate_fn is not None and collate_fn is not default_collate
        self.collate_fn = collate_fn or default_collate
        self._iterable = isinstance(dataset, IterableDataset) or (
            not hasattr(dataset, "__getitem__") and hasattr(dataset, "__iter__")
        )
        if self._iterable:
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError(
                    f"{name}: shuffle, sampler and batch_sampler need a map-style dataset, "
                    f"not the iterable {type(dataset).__name__}"
                )
            self.sampler = None
            self.batch_sampler = None
        else:
            if batch_sampler is not None:
                if batch_size != 1 or shuffle or sampler is not None or drop_last:
                    raise ValueError(
                        f"{name}: batch_sampler option is mutually exclusive with batch_size, "
                        "shuffle, sampler, and drop_last"
                    )
                self.batch_size = None
                self.sampler = getattr(batch_sampler, "sampler", None)
                self.batch_sampler = batch_sampler
            else:
                if sampler is not None and shuffle:
                    raise ValueError(f"{name}: sampler option is mutually exclusive with shuffle")
                if sampler is None:
                    sampler = (
                        RandomSampler(dataset, generator=generator)
                        if shuffle
                        else SequentialSampler(dataset)
                    )
                self.sampler = sampler
                self.batch_sampler = (
                    BatchSampler(sampler, batch_size, self.drop_last)
                    if batch_size is not None
                    else None
                )
        self._epoch = 0
        self._resume: tuple[int, int] | None = None
        self._active: _LoaderIter | None = None

    # ---- iteration ----------------------------------------------------------------------
    def _fetch(self, indices: list[int]) -> Any:
        ds = self.dataset
        if hasattr(ds, "__getitems__"):
            samples = ds.__getitems__(indices)
            if isinstance(samples, Batch) and self._custom_collate:
                samples = samples.samples()
        else:
            samples = [ds[i] for i in indices]
        return self.collate_fn(samples)

    def _batches(self, epoch: int, start: int) -> Iterator[Any]:
        if self._iterable:
            yield from self._iter_stream(start)
            return
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        if self.batch_sampler is None:  # batch_size=None: single samples
            for k, i in enumerate(self.sampler):
                if k >= start:
                    yield self.dataset[i]
            return
        for k, indices in enumerate(self.batch_sampler):
            if k >= start:
                yield self._fetch(list(indices))

    def _worker_batches(self, epoch: int, start: int) -> Iterator[Any]:
        """This epoch's batches made by the worker threads, in sampler order."""
        if self._worker_state is None or not self.persistent_workers:
            seed = _seed_from(self.generator, "DataLoader") % 2**62
            self._worker_state = WorkerState(self.num_workers, seed)
        common = (
            self._worker_state,
            self.dataset,
            self.prefetch_factor,
            self.timeout,
            self.worker_init_fn,
        )
        if self._iterable:
            return WorkerPool(
                itertools.repeat(None),
                lambda _, stream: next(stream),
                *common,
                make_stream=lambda: self._iter_stream(0),
                skip=start,
            )
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        if self.batch_sampler is None:  # batch_size=None: single samples
            tasks = itertools.islice(iter(self.sampler), start, None)
            return WorkerPool(tasks, lambda i, _: self.dataset[i], *common)
        tasks = itertools.islice(iter(self.batch_sampler), start, None)
        return WorkerPool(tasks, lambda idx, _: self._fetch(list(idx)), *common)

    def _iter_stream(self, start: int) -> Iterator[Any]:
        it = iter(self.dataset)
        if self.batch_size is None:
            for k, s in enumerate(it):
                if k >= start:
                    yield s
            return
        k, buf = 0, []
        for s in it:
            buf.append(s)
            if len(buf) == self.batch_size:
                if k >= start:
                    yield self.collate_fn(buf)
                k, buf = k + 1, []
        if buf and not self.drop_last and k >= start:
            yield self.collate_fn(buf)

    def __iter__(self) -> _LoaderIter:
        if self._active is not None:  # an abandoned epoch: the next one starts
            self._active.close()
            self._active = None
        if self._resume is not None:
            epoch, start = self._resume
            self._resume = None
        else:
            epoch, start = self._epoch, 0
        self._epoch = epoch + 1
        it = _LoaderIter(self, epoch, start)
        self._active = it
        return it

    def __len__(self) -> int:
        if self._iterable:
            raise TypeError("ember.data.DataLoader: an iterable dataset has no len()")
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    # ---- resumable position ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"epoch", "batch" (batches of that epoch already consumed), "sampler"}:
        JSON-serializable."""
        if self._resume is not None:
            epoch, batch = self._resume
        elif self._active is not None and not self._active.done:
            epoch, batch = self._active.epoch, self._active.pos
        else:
            epoch, batch = self._epoch, 0
        state: dict[str, Any] = {"epoch": epoch, "batch": batch}
        if self.sampler is not None and hasattr(self.sampler, "state_dict"):
            state["sampler"] = self.sampler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next ``iter()`` resumes that epoch
        at that batch."""
        if self._active is not None:
            self._active.close()
            self._active = None
        if "sampler" in state and self.sampler is not None:
            if not hasattr(self.sampler, "load_state_dict"):
                raise ValueError(
                    "ember.data.DataLoader.load_state_dict: the state has a shuffle seed but "
                    "this loader does not shuffle"
                )
            self.sampler.load_state_dict(state["sampler"])
        self._resume = (int(state["epoch"]), int(state["batch"]))
        self._epoch = int(state["epoch"])

    def __repr__(self) -> str:
        shuffle = isinstance(self.sampler, RandomSampler)
        return (
            f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"shuffle={shuffle}, drop_last={self.drop_last}, num_workers={self.num_workers}, "
            f"prefetch={self.prefetch})"
        )
