"""``ember.cuda.amp``: torch's older spellings, ``torch.cuda.amp.GradScaler(...)`` and
``torch.cuda.amp.autocast(...)``: ``ember.amp``'s with the device fixed to 'cuda' (so
on a machine without a GPU they warn and disable themselves, as torch's do)."""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from ..amp import GradScaler as _GradScaler
from ..amp import autocast as _autocast

__all__ = ["GradScaler", "autocast"]


class GradScaler(_GradScaler):
    """``ember.amp.GradScaler("cuda", ...)``."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            "cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled
        )


class autocast(_autocast):  # noqa: N801
    """``ember.autocast("cuda", ...)``."""

    def __init__(
        self, enabled: bool = True, dtype: Any = D.float16, cache_enabled: bool = True
    ) -> None:
        super().__init__("cuda", dtype, enabled, cache_enabled)
