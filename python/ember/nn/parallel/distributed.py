"""DistributedDataParallel: one model replica per MPI rank, gradients averaged during
backward (see ``_reducer`` for how), so every rank takes the same optimizer step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ...autograd.grad_mode import is_grad_enabled
from ...distributed import all_gather_object, broadcast_parameters
from ...distributed.group import default_group
from ..module import Module
from ._reducer import Reducer


class DistributedDataParallel(Module):
    """torch's ``DistributedDataParallel(module, ...)`` over ember.distributed's MPI
    process group (call ``ember.distributed.init_process_group()`` first).

    At construction, every rank checks that the parameter shapes agree and takes rank
    0's parameters and buffers. Each forward under grad mode arms a gradient reduction
    for the next backward: gradients are summed across ranks in flat buckets of at most
    ``bucket_cap_mb`` MiB (non-blocking ``Iallreduce`` started as soon as a bucket's
    gradients are all accumulated, overlapping the rest of backward) and divided by
    the world size, so each ``.grad`` holds the average of the ranks' gradients when
    backward returns. With the same per-rank batch B, that is the gradient of one
    process on the ranks' batches together (a mean loss over batch world_size x B).
    One forward arms one reduction: a second backward through the same graph only
    accumulates locally, as under :meth:`no_sync`.

    Args:
        module: the model to replicate (its state_dict gains a ``module.`` prefix here,
            as in torch: save ``ddp.module`` to get the plain names).
        device_ids, output_device, dim: accepted so torch scripts run; the replica
            stays on the device the module is on, and the input is not scattered.
        broadcast_buffers: copy rank 0's buffers (e.g. batch-norm statistics) to every
            rank before each forward.
        process_group: only the default group (None).
        bucket_cap_mb: the largest bucket, in MiB (default 25, as in torch).
        find_unused_parameters: allow parameters that get no gradient in a backward
            (they keep ``grad`` None unless another rank produced one). Without it,
            such a parameter is a RuntimeError naming it, since the ranks would
            otherwise reduce different sets.
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
    ) -> None:
        name = "ember.nn.parallel.DistributedDataParallel"
        super().__init__()
        if process_group is not None:
            raise ValueError(f"{name}: only the default process group (None) is supported")
        if not isinstance(module, Module):
            raise TypeError(
                f"{name}: module must be an ember.nn.Module, got {type(module).__name__}"
            )
        cap_mb = 25.0 if bucket_cap_mb is None else bucket_cap_mb
        if not cap_mb > 0:
            raise ValueError(f"{name}: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        group = default_group()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._check_shapes_agree([(n, tuple(p.shape), str(p.dtype)) for n, p in named])
        broadcast_parameters(module, src=0)
        self.reducer = Reducer(
            [p for _, p in named],
            {id(p): n for n, p in named},
            group,
            int(cap_mb * (1 << 20)),
            self.find_unused_parameters,
        )

    @staticmethod
    def _check_shapes_agree(mine: list) -> None:
        everyone: list[Any] = [None] * default_group().size
        all_gather_object(everyone, mine)
        for rank, theirs in enumerate(everyone):
            if theirs != mine:
                diff = sorted(set(map(str, theirs)) ^ set(map(str, mine)))[:4]
                raise RuntimeError(
                    "ember.nn.parallel.DistributedDataParallel: the model's parameters differ "
                    f"between this rank and rank {rank} (name, shape, dtype): {diff}"
                )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.reducer.busy:
            raise RuntimeError(
                "ember.nn.parallel.DistributedDataParallel: the previous backward stopped "
                "before its gradient reduction finished; the ranks are out of step"
            )
        if self.broadcast_buffers:
            buffers = list(self.module.buffers())
            if buffers:
                broadcast_parameters(buffers, src=0)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self.reducer.arm()
        else:
            self.reducer.disarm()
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Within it, forward passes do not arm a reduction: their backward passes only
        accumulate gradients locally (gradient accumulation). The first forward and
        backward after it reduce the accumulated sums."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
