"""A small Python client for ``ember serve`` (httpx): v2 inference with binary tensors,
readiness and the repository index. Errors come back as the ServeError of their status."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

from . import codec
from .errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServeError,
    Unauthorized,
    Unavailable,
)

_BY_STATUS: dict[int, type[ServeError]] = {
    e.status: e
    for e in (BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, Unavailable)
}


class Client:
    """``Client("http://127.0.0.1:8000")``; ``api_key`` is sent as a Bearer token."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:300]
            retry = response.headers.get("retry-after")
            error = _BY_STATUS.get(response.status_code, ServeError)(
                f"{method} {path}: {response.status_code} {message}",
                retry_after=float(retry) if retry and retry.isdigit() else None,
            )
            error.status = response.status_code
            raise error
        return response

    def infer(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        version: int | None = None,
        outputs: list[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run ``model`` (its served version, or ``version``) on ``inputs``; returns its
        outputs (all, or those named in ``outputs``) by name.

        Shape: whatever the model's metadata declares (first dimension: the batch)."""
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version is not None else "")
        body, header_length = codec.encode_infer_request(inputs, outputs)
        headers = {"Content-Type": "application/octet-stream"}
        if header_length is not None:
            headers[codec.HEADER_LENGTH] = str(header_length)
        response = self._send("POST", path + "/infer", content=body, headers=headers)
        return codec.decode_infer_response(
            response.content, response.headers.get(codec.HEADER_LENGTH)
        )

    def ready(self) -> bool:
        """Whether the server is up and has loaded its models."""
        try:
            return self._http.get("/v2/health/ready").status_code == 200
        except httpx.TransportError:  # not listening (yet)
            return False

    def metadata(self, model: str) -> dict:
        """The v2 metadata of ``model``: inputs and outputs with names, datatypes, shapes."""
        return self._send("GET", f"/v2/models/{model}").json()

    def models(self) -> list[dict]:
        """Every model/version in the repository with its state."""
        return self._send("POST", "/v2/repository/index", json={}).json()
