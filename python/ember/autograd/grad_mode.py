"""Switches for gradient recording: no_grad, enable_grad, set_grad_enabled, inference_mode."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for autograd (per thread)."""
    return getattr(_state, "enabled", True)


def _set(enabled: bool) -> None:
    _state.enabled = enabled


class _GradMode:
    _enabled: bool

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        _set(self._enabled)

    def __exit__(self, *exc: Any) -> None:
        _set(self._prev)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801 - torch's name
    """Context manager / decorator: operations inside are not recorded."""

    _enabled = False


class enable_grad(_GradMode):  # noqa: N801
    """Context manager / decorator: re-enable recording inside a no_grad block."""

    _enabled = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """``with set_grad_enabled(flag):`` records operations iff flag is true."""

    def __init__(self, mode: bool):
        self._enabled = bool(mode)
        self._prev = is_grad_enabled()
        _set(self._enabled)  # also works as a plain function call, like torch

    def __enter__(self) -> None:
        pass

    def __call__(self, fn: Callable) -> Callable:
        mode = self._enabled

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        _set(self._prev)
        return wrapper


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block is active (per thread)."""
    return getattr(_state, "inference", False)


class inference_mode(_GradMode):  # noqa: N801
    """Context manager / decorator (``@inference_mode``, ``@inference_mode()``) for
    evaluation: operations are not recorded, as under ``no_grad``, and
    :func:`is_inference_mode_enabled` is True. ember tensors carry no version counters
    for it to skip, so it is no faster than ``no_grad``. ``inference_mode(False)``
    turns recording back on inside, as torch's does.
    """

    def __new__(cls, mode: bool | Callable = True) -> Any:
        if callable(mode):  # used as @inference_mode, without parentheses
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self._prev = (is_grad_enabled(), is_inference_mode_enabled())
        _set(not self.mode)
        _state.inference = self.mode

    def __exit__(self, *exc: Any) -> None:
        _set(self._prev[0])
        _state.inference = self._prev[1]

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper
