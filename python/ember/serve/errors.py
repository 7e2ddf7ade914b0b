"""Serving errors: each carries the HTTP status it answers with; ``str(e)`` is the
message sent back as ``{"error": message}``."""

from __future__ import annotations


class ServeError(Exception):
    """A request that failed; ``status`` is its HTTP status, ``retry_after`` (seconds)
    becomes a Retry-After header."""

    status: int = 500

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadRequest(ServeError):
    status = 400


class Unauthorized(ServeError):
    status = 401


class NotFound(ServeError):
    status = 404


class Conflict(ServeError):
    status = 409


class PayloadTooLarge(ServeError):
    status = 413


class Unavailable(ServeError):
    status = 503
