"""DistributedDataParallel: importable so scripts that name it load; constructing one
needs a process group, which ember does not have yet (multi-process training is the
distributed issue's work)."""

from __future__ import annotations

from typing import Any

from ..module import Module


class DistributedDataParallel(Module):
    """torch's ``DistributedDataParallel(module, device_ids=None, ...)``.

    As in torch, constructing one without an initialized default process group raises
    ValueError; ember has no ``init_process_group`` yet, so it always does. Scripts
    that wrap the model only when launched distributed (``if ddp: model = DDP(model)``)
    run unchanged in one process.
    """

    def __init__(self, module: Module, *args: Any, **kwargs: Any) -> None:
        raise ValueError(
            "ember.nn.parallel.DistributedDataParallel: the default process group has not "
            "been initialized, and ember cannot initialize one yet (multi-process training "
            "is not implemented). In one process, use the module itself."
        )
