"""The errors of ember.serve: each carries the HTTP status the server answers with, and
its message is the ``{"error": message}`` body."""

from __future__ import annotations


class ServeError(Exception):
    """A request that cannot be served; ``status`` is the HTTP status, ``retry_after``
    (seconds) is sent as Retry-After when set."""

    status: int = 500

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class BadRequest(ServeError):
    """Malformed or invalid input (400)."""

    status = 400


class Unauthorized(ServeError):
    """Missing or wrong API key (401)."""

    status = 401


class NotFound(ServeError):
    """Unknown model or version (404)."""

    status = 404


class Conflict(ServeError):
    """The request clashes with the model's state, e.g. loading one being unloaded (409)."""

    status = 409


class PayloadTooLarge(ServeError):
    """A body or tensor over the server's limits (413)."""

    status = 413


class Unavailable(ServeError):
    """Known but not serving now: not loaded, unloading, or its queue is full (503)."""

    status = 503
