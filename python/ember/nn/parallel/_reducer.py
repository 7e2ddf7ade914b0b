"""DistributedDataParallel's gradient reducer.

Parameters are packed, in reverse registration order (roughly the order backward
produces their gradients), into buckets of at most ``cap`` bytes, one dtype each: the
first bucket is small (1 MiB, as in torch) so communication starts early. Every
parameter has a post-accumulate-grad hook: when backward has written its ``.grad``,
the hook copies it into its bucket's flat numpy buffer; when a bucket is full, its
``Iallreduce`` starts (in bucket order on every rank: MPI needs collectives issued in
the same order everywhere) while backward goes on. Each hook also tests the
outstanding requests, which is what drives an MPI library's progress without a
progress thread. At the end of the pass (an engine callback queued by the first hook)
the reducer starts what is left, waits, and writes sum / world_size back into every
``.grad``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ... import _dtype as D
from ...autograd.engine import queue_callback
from ...distributed.buffers import host_buffer, write
from ...ops.creation import from_numpy

FIRST_BUCKET_BYTES = 1 << 20


class _Bucket:
    __slots__ = ("params", "slices", "buffer", "pending", "request")

    def __init__(self, params: list, dtype: np.dtype) -> None:
        self.params = params
        self.slices, start = [], 0
        for p in params:
            self.slices.append(slice(start, start + p.numel()))
            start += p.numel()
        self.buffer = np.zeros(start, dtype)
        self.pending = len(params)
        self.request: Any = None


def _numpy_dtype(dtype: D.dtype) -> np.dtype:
    # MPI has no 16-bit float type: those gradients are reduced in float32
    return np.dtype(np.float32 if dtype in (D.float16, D.bfloat16) else dtype.numpy_dtype)


def _make_buckets(params: list, cap: int) -> list[_Bucket]:
    buckets: list[_Bucket] = []
    open_: dict[np.dtype, tuple[list, int]] = {}
    limit = {}
    for p in reversed(params):
        dt = _numpy_dtype(p.dtype)
        group, size = open_.get(dt, ([], 0))
        bucket_limit = limit.get(dt, min(cap, FIRST_BUCKET_BYTES))
        if group and size + p.numel() * dt.itemsize > bucket_limit:
            buckets.append(_Bucket(group, dt))
            limit[dt] = cap
            group, size = [], 0
        open_[dt] = (group + [p], size + p.numel() * dt.itemsize)
    buckets += [_Bucket(group, dt) for dt, (group, _) in open_.items() if group]
    return buckets


class Reducer:
    """Averages the gradients of ``params`` (named by ``names``) across the ranks of
    ``group`` during each armed backward pass (see the module docstring)."""

    def __init__(
        self, params: list, names: dict[int, str], group: Any, cap: int, find_unused: bool
    ) -> None:
        self.group = group
        self.names = names
        self.find_unused = find_unused
        self.buckets = _make_buckets(params, cap)
        self.where = {
            id(p): (b, i)
            for b, bucket in enumerate(self.buckets)
            for i, p in enumerate(bucket.params)
        }
        self.handles = [p.register_post_accumulate_grad_hook(self._on_grad) for p in params]
        self.armed = False
        self.queued = False
        self.ready: set[int] = set()
        self.next_bucket = 0
        # measurements for benchmarks: seconds blocked waiting at the end of backward,
        # buckets started during backward, and of those, finished before its end; the
        # perf_counter times at which the last pass began and ended its wait (a
        # benchmark compares them across the ranks of one machine)
        self.stats = {
            "wait_seconds": 0.0,
            "started_early": 0,
            "finished_early": 0,
            "passes": 0,
            "wait_began": 0.0,
            "wait_ended": 0.0,
        }

    @property
    def busy(self) -> bool:
        """A pass started reducing but never finished (its backward raised)."""
        return self.queued

    def arm(self) -> None:
        """Reduce in the next backward (called by forward when gradients will sync)."""
        self.armed = True
        self.ready.clear()
        self.next_bucket = 0
        for b in self.buckets:
            b.pending = len(b.params)

    def disarm(self) -> None:
        self.armed = False

    # ---- during backward -------------------------------------------------------------
    def _on_grad(self, p: Any) -> None:
        if not self.armed:
            return
        if not self.queued:
            queue_callback(self._finish)
            self.queued = True
        b, i = self.where[id(p)]
        bucket = self.buckets[b]
        bucket.buffer[bucket.slices[i]] = host_buffer(p.grad)[0].reshape(-1)
        self._mark_ready(p, bucket)
        self._progress()

    def _mark_ready(self, p: Any, bucket: _Bucket) -> None:
        self.ready.add(id(p))
        bucket.pending -= 1
        while self.next_bucket < len(self.buckets) and self.buckets[self.next_bucket].pending == 0:
            self._start(self.buckets[self.next_bucket])
            self.next_bucket += 1

    def _start(self, bucket: _Bucket) -> None:
        from mpi4py import MPI

        bucket.request = self.group.comm.Iallreduce(MPI.IN_PLACE, bucket.buffer, MPI.SUM)

    def _progress(self) -> None:
        from mpi4py import MPI

        live = [b.request for b in self.buckets[: self.next_bucket] if b.request is not None]
        if live:
            MPI.Request.Testall(live)

    # ---- after backward --------------------------------------------------------------
    def _finish(self) -> None:
        from mpi4py import MPI

        self.queued = False
        self.armed = False
        unused = [p for b in self.buckets for p in b.params if id(p) not in self.ready]
        if unused and not self.find_unused:
            # the started buckets were started on every rank: finish them before raising
            MPI.Request.Waitall([b.request for b in self.buckets if b.request is not None])
            for b in self.buckets:
                b.request = None
            names = ", ".join(self.names[id(p)] for p in unused)
            raise RuntimeError(
                "ember.nn.parallel.DistributedDataParallel: these parameters got no gradient "
                f"in this backward: {names}. Every rank must reduce every parameter; pass "
                "find_unused_parameters=True to the wrapper if some stay out of the loss"
            )
        started = self.next_bucket
        finished = sum(
            1 for b in self.buckets[:started] if b.request is not None and b.request.Test()
        )
        local_used = [id(p) in self.ready for b in self.buckets for p in b.params]
        for p in unused:  # contributes its local gradient (accumulated under no_sync) or 0
            b, i = self.where[id(p)]
            bucket = self.buckets[b]
            grad = 0 if p.grad is None else host_buffer(p.grad)[0].reshape(-1)
            bucket.buffer[bucket.slices[i]] = grad
            self._mark_ready(p, bucket)
        used = None
        if self.find_unused:  # which parameters some rank used: the others keep grad None
            used = np.array(local_used, np.uint8)
            self.group.comm.Allreduce(MPI.IN_PLACE, used, MPI.MAX)
        t0 = time.perf_counter()
        MPI.Request.Waitall([b.request for b in self.buckets])
        t1 = time.perf_counter()
        self.stats["wait_seconds"] += t1 - t0
        self.stats["wait_began"], self.stats["wait_ended"] = t0, t1
        self.stats["started_early"] += started
        self.stats["finished_early"] += finished
        self.stats["passes"] += 1
        k, size = 0, self.group.size
        for bucket in self.buckets:
            bucket.request = None
            for p, s in zip(bucket.params, bucket.slices):
                if used is None or used[k]:
                    total = bucket.buffer[s].reshape(p.shape)
                    if p.grad is None:
                        p.grad = from_numpy(total / size).to(p.device, p.dtype)
                    else:
                        own, writeback = host_buffer(p.grad)
                        if writeback is None:  # the average straight into .grad
                            np.divide(total, size, out=own)
                        else:
                            write(p.grad, total / size)
                k += 1

    def remove_hooks(self) -> None:
        for h in self.handles:
            h.remove()
