"""GradScaler: dynamic loss scaling, with torch's semantics (``torch.amp.GradScaler``)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

from .. import _dtype as D
from .. import cuda
from .._primitives import kernels
from ..autograd.grad_mode import no_grad
from ..ops.elementwise import isfinite
from ..ops.reduce import all as all_
from ..tensor import Tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


def _unscale(grads: list[Tensor], inv_scale: float) -> bool:
    """Multiply the gradients by inv_scale in place; True when any then holds inf/NaN.
    Contiguous float32 / float64 ones (the usual case) take the fused kernels: per device,
    one pass scales them all and one looks for inf/NaN, so a step waits on the device once,
    not once per tensor."""
    found_inf = False
    fused: dict[Any, list[Tensor]] = {}
    with no_grad():
        for g in grads:
            if g.dtype in (D.float32, D.float64) and g.is_contiguous():
                fused.setdefault(g.device, []).append(g)
            else:
                g.mul_(inv_scale)
                found_inf = found_inf or not bool(all_(isfinite(g)))
    for dev, gs in fused.items():
        impls = [g._impl for g in gs]
        k = kernels(dev, "amp.GradScaler.unscale_")
        k.scale_all(impls, inv_scale)
        for g in gs:
            g._version_box[0] += 1  # changed in place, as mul_ would record
        found_inf = found_inf or k.total_norm(impls, math.inf)[1]
    return found_inf


class GradScaler:
    """Scale the loss so small float16 gradients do not flush to zero, unscale the
    gradients before the optimizer step, skip steps whose gradients hold inf/NaN.

    The scale starts at ``init_scale``; an ``update()`` after a skipped step multiplies
    it by ``backoff_factor``, and ``growth_interval`` clean steps in a row multiply it
    by ``growth_factor``. ``enabled=False`` makes every method a pass-through
    (``scale(loss)`` is ``loss``, ``step(opt)`` is ``opt.step()``, ``get_scale()`` is
    1.0). As in torch, ``device='cuda'`` (the default) on a machine without a usable
    GPU warns and disables the scaler; ``GradScaler('cpu')`` scales for real.

    >>> scaler = GradScaler("cpu")
    >>> scaler.scale(loss).backward()
    >>> scaler.step(optimizer)
    >>> scaler.update()
    """

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        name = "ember.amp.GradScaler"
        if growth_factor <= 1.0:
            raise ValueError(f"{name}: growth_factor should be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"{name}: backoff_factor should be in (0, 1), got {backoff_factor}")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int):
            raise TypeError(f"{name}: growth_interval should be an int, got {growth_interval!r}")
        if growth_interval <= 0:
            raise ValueError(f"{name}: growth_interval should be > 0, got {growth_interval}")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"{name}: device should be 'cpu' or 'cuda', got {device!r}")
        self._device = device
        self._enabled = bool(enabled)
        if self._enabled and device == "cuda" and not cuda.is_available():
            warnings.warn(
                "ember.amp.GradScaler is enabled, but CUDA is not available. Disabling.",
                stacklevel=2,
            )
            self._enabled = False
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    # ---- the training-loop calls ----------------------------------------------------------
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or lists/tuples of them) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, Iterable):
            scaled = [self.scale(o) for o in outputs]
            return type(outputs)(scaled) if isinstance(outputs, (list, tuple)) else scaled
        raise ValueError(
            "ember.amp.GradScaler.scale: outputs must be a Tensor or an iterable of Tensors"
        )

    def _state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def unscale_(self, optimizer: Any) -> None:
        """Divide ``optimizer``'s gradients by the scale in place (call it before gradient
        clipping) and note whether any is inf/NaN. Once per optimizer per ``update()``."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError(
                "ember.amp.GradScaler.unscale_() has already been called on this optimizer "
                "since the last update()."
            )
        if state["stage"] == _STEPPED:
            raise RuntimeError("ember.amp.GradScaler.unscale_() is being called after step().")
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if any(g.dtype == D.float16 for g in grads):
            raise ValueError(
                "ember.amp.GradScaler: attempting to unscale float16 gradients "
                "(keep the parameters in float32)"
            )
        state["stage"], state["found_inf"] = _UNSCALED, _unscale(grads, 1.0 / self._scale)

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale (unless ``unscale_`` did) and call ``optimizer.step(*args, **kwargs)``,
        unless a gradient is inf/NaN: then the step is skipped (returns None)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError(
                "ember.amp.GradScaler.step: closure use is not supported when the scaler "
                "is enabled."
            )
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError(
                "ember.amp.GradScaler.step() has already been called since the last update()."
            )
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Back off the scale after an inf/NaN, grow it after ``growth_interval`` clean
        steps (or set ``new_scale``); then a new iteration starts."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            checked = [s for s in self._per_optimizer.values() if s["stage"] != _READY]
            if not checked:
                raise RuntimeError(
                    "ember.amp.GradScaler.update: no inf checks were recorded prior to "
                    "update() (call step(optimizer) or unscale_(optimizer) first)"
                )
            if any(s["found_inf"] for s in checked):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer.clear()

    # ---- queries and settings -------------------------------------------------------------
    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def is_enabled(self) -> bool:
        return self._enabled

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def state_dict(self) -> dict[str, Any]:
        """torch's keys: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker ({} when disabled)."""
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "ember.amp.GradScaler.load_state_dict: the state dict is empty, possibly "
                "because it was saved from a disabled GradScaler."
            )
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
