"""autocast: torch's mixed-precision region.

Inside ``autocast("cpu", dtype=ember.bfloat16)`` the matrix products (``F.linear`` /
``nn.Linear``, ``matmul``, ``@``, ``bmm``, ``addmm``, ``baddbmm``) and
``scaled_dot_product_attention`` cast their float32 operands to bfloat16 and return
bfloat16, as torch's CPU autocast does (convolution is not cast and stays float32). The
GEMM accumulates in float32: vdpbf16ps where the CPU runs it at full rate, else bf16
widened to float32 while packing (ember.ops.gemm); attention's forward follows the same
choice (bf16 products, float32 softmax, else float32 tiles) and its backward runs in
float32. The losses cast bfloat16 inputs up to float32. Every other op computes
in its inputs' dtype, so ops after a product see bfloat16 unless a float32 operand
promotes them. Gradients flow through the casts to the float32 parameters (the master
weights). Parameters are cast once per outermost region (the weight cache,
``cache_enabled``). Regions are per thread and per device type: ``autocast("cuda",
dtype=...)`` casts the products of CUDA tensors (bfloat16 and float16 run on the tensor
cores with float32 accumulation) and leaves CPU ops alone, and the other way round.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from .. import _autocast_state as state
from .. import _dtype as D
from .. import cuda

__all__ = ["autocast", "get_autocast_dtype", "is_autocast_enabled"]

_DEFAULT_DTYPE = {"cpu": D.bfloat16, "cuda": D.float16}
_LOW_PRECISION = (D.bfloat16, D.float16)


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether an enabled autocast region for ``device_type`` is active (per thread)."""
    return state.regions().get(device_type, (False, None, False))[0]


def get_autocast_dtype(device_type: str) -> D.dtype:
    """The dtype autocast asks for on ``device_type`` (bfloat16 on cpu, float16 on cuda
    unless a region set another)."""
    if device_type not in _DEFAULT_DTYPE:
        raise ValueError(
            f"ember.get_autocast_dtype: device_type should be 'cpu' or 'cuda', got {device_type!r}"
        )
    return state.regions().get(device_type, (False, _DEFAULT_DTYPE[device_type], False))[1]


class autocast:  # noqa: N801 - torch's name
    """Context manager / decorator: ``with ember.autocast("cpu", dtype=ember.bfloat16):``.

    See the module docstring for what runs in lower precision. As torch,
    ``device_type='cuda'`` without a usable GPU, or a dtype other than bfloat16/float16,
    warns and disables the region; ``cache_enabled=False`` casts parameters at every use.
    """

    def __init__(
        self,
        device_type: str,
        dtype: Any = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        if not isinstance(device_type, str):
            raise ValueError(
                f"ember.autocast: device_type must be a str like 'cpu' or 'cuda', got "
                f"{type(device_type).__name__}"
            )
        if device_type not in _DEFAULT_DTYPE:
            raise RuntimeError(
                f"ember.autocast: device_type should be 'cpu' or 'cuda', got {device_type!r}"
            )
        self.device = device_type
        self.fast_dtype = _DEFAULT_DTYPE[device_type] if dtype is None else D.to_dtype(dtype)
        self._enabled = bool(enabled)
        self._cache = True if cache_enabled is None else bool(cache_enabled)
        if self._enabled and device_type == "cuda" and not cuda.is_available():
            warnings.warn(
                "ember.autocast: device_type 'cuda' was given but CUDA is not available. "
                "Disabling autocast.",
                stacklevel=2,
            )
            self._enabled = False
        if self._enabled and self.fast_dtype not in _LOW_PRECISION:
            warnings.warn(
                f"ember.autocast: {self.fast_dtype} is not an autocast dtype (bfloat16 or "
                "float16). Disabling autocast.",
                stacklevel=2,
            )
            self._enabled = False

    def __enter__(self) -> autocast:
        self._region = (self._enabled, self.fast_dtype, self._cache)
        self._prev = state.enter(self.device, self._region)
        return self

    def __exit__(self, *exc: Any) -> None:
        state.leave(self.device, self._region, self._prev)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache):
                return fn(*args, **kwargs)

        return wrapper
