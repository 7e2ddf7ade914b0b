"""Ctrl-C during ``fit()``: the first press lets the current step finish (the loop then
stops there and saves a checkpoint), a second one stops at once, except inside an
optimizer update, which is never cut in half."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


class SigintGuard:
    """While entered (``with SigintGuard() as sigint:``), SIGINT sets :attr:`pending`
    instead of raising; the loop checks it after each step. Installed only from the main
    thread and only over Python's default handler (a handler of the caller's stays)."""

    def __init__(self) -> None:
        self.pending = False
        self._critical = False
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> SigintGuard:
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, TypeError):
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    self._previous = signal.signal(signal.SIGINT, self._on_sigint)
                    self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._critical = False
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block no Ctrl-C interrupts (a second press waits for its end)."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False

    def clear(self) -> None:
        """Forget a pending Ctrl-C (the interrupt is being handled)."""
        self._critical = False
        self.pending = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.pending and not self._critical:
            raise KeyboardInterrupt
        if not self.pending:
            print(
                "\nember.train: stopping after this step (Ctrl-C again to stop at once)",
                file=sys.stderr,
                flush=True,
            )
        self.pending = True
