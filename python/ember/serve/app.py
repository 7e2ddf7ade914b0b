"""The HTTP server: the KServe v2 / Open Inference Protocol REST API with the binary
tensor data and model repository extensions, OpenAI-style routes (openai_api.py),
``/metrics``, API keys, a request body limit and one JSON access log line per request.

Every failure answers ``{"error": "..."}`` with a 4xx/5xx status; nothing a client
sends can stop the server.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._config import VERSION
from . import codec
from .errors import BadRequest, PayloadTooLarge, ServeError, Unauthorized, Unavailable
from .metrics import ServeMetrics
from .openai_api import openai_router

if TYPE_CHECKING:
    from .repository import ModelRepository

ACCESS_LOG = logging.getLogger("ember.serve.access")
EXTENSIONS = ["binary_tensor_data", "model_repository", "statistics_prometheus"]


@dataclass(frozen=True)
class ServerOptions:
    """What ``ember serve`` sets beyond the repository.

    ``api_key``: load/unload (and inference with ``protect_inference``) need
    ``Authorization: Bearer <api_key>``. ``max_body_bytes``: larger bodies are a 413.
    ``max_tensor_elements``: a larger declared shape is a 400 before any allocation.
    ``max_completion_tokens`` / ``max_texts``: caps of the OpenAI-style routes."""

    api_key: str | None = None
    protect_inference: bool = False
    max_body_bytes: int = 64 << 20
    max_tensor_elements: int = codec.DEFAULT_MAX_ELEMENTS
    max_completion_tokens: int = 4096
    max_texts: int = 2048


def error_response(status: int, message: str, retry_after: float | None = None) -> JSONResponse:
    """The one error shape: ``{"error": message}`` (+ Retry-After on a 503)."""
    headers = {} if retry_after is None else {"Retry-After": str(max(1, round(retry_after)))}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is a 413, refused on its
    Content-Length or, without one, as soon as the bytes read pass the limit."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        # (a length of many digits is over any limit: never hand it to int())
        if declared.isdigit() and (len(declared) > 18 or int(declared) > self.max_bytes):
            message = f"request body of {declared.decode()[:30]} bytes is over the limit"
            message += f" of {self.max_bytes}"
            await error_response(413, message)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise PayloadTooLarge(f"request body is over the {self.max_bytes} byte limit")
            return message

        await self.app(scope, limited, send)


async def read_json(request: Request) -> Any:
    """The request body as JSON ({} when empty); BadRequest if it isn't JSON."""
    body = await request.body()
    try:
        return json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError) as e:
        raise BadRequest(f"the request body is not valid JSON: {e}"[:300]) from None


def bearer_check(api_key: str | None, needed: bool) -> Callable[[Request], Awaitable[None]]:
    """A dependency that wants ``Authorization: Bearer <api_key>`` when ``needed``,
    compared in constant time."""
    expected = b"Bearer " + api_key.encode() if api_key else b""

    # async: FastAPI runs a plain-def dependency in its thread pool, a thread hop per request
    async def check(request: Request) -> None:
        if not (api_key and needed):
            return
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("this route needs 'Authorization: Bearer <api key>'")

    return check


def _parse_version(version: str | None) -> int | None:
    if version is None:
        return None
    if not (version.isascii() and version.isdigit() and len(version) <= 18):
        raise BadRequest(f"model version must be a non-negative integer, got {version!r:.40}")
    return int(version)


def create_app(
    repository: ModelRepository,
    options: ServerOptions | None = None,
    metrics: ServeMetrics | None = None,
) -> FastAPI:
    """The ASGI app serving ``repository``; its lifespan loads every model first and
    closes the repository (draining queued requests) last. Pass ``metrics`` when the
    repository's observer already reports to it."""
    options = options or ServerOptions()
    metrics = metrics or ServeMetrics()
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await repository.load_all()
        state["ready"] = True
        yield
        state["ready"] = False
        await repository.close()

    app = FastAPI(title="ember", version=VERSION, lifespan=lifespan)
    app.state.metrics = metrics
    admin = Depends(bearer_check(options.api_key, True))
    inference = Depends(bearer_check(options.api_key, options.protect_inference))
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(AccessLog)

    # ---- health and metadata ----------------------------------------------------------------
    @app.get("/v2/health/live")
    def live() -> dict:
        return {"live": True}

    @app.get("/v2/health/ready")
    def ready() -> dict:
        if not state["ready"]:
            raise Unavailable("the server is still loading its models", retry_after=1)
        return {"ready": True}

    @app.get("/v2")
    def server_metadata() -> dict:
        return {"name": "ember", "version": VERSION, "extensions": EXTENSIONS}

    @app.get("/v2/models/{name}", dependencies=[inference])
    @app.get("/v2/models/{name}/versions/{version}", dependencies=[inference])
    def model_metadata(name: str, version: str | None = None) -> dict:
        return repository.get(name, _parse_version(version)).metadata()

    @app.get("/v2/models/{name}/ready", dependencies=[inference])
    @app.get("/v2/models/{name}/versions/{version}/ready", dependencies=[inference])
    def model_ready(name: str, version: str | None = None) -> dict:
        model = repository.get(name, _parse_version(version))
        return {"name": model.name, "version": str(model.version), "ready": True}

    # ---- inference --------------------------------------------------------------------------
    # The body is read raw (JSON, or JSON + binary tensors); the schema documents it.
    body_doc = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": codec.INFER_REQUEST_SCHEMA}},
        }
    }

    @app.post("/v2/models/{name}/infer", dependencies=[inference], openapi_extra=body_doc)
    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        dependencies=[inference],
        openapi_extra=body_doc,
    )
    async def infer(name: str, request: Request, version: str | None = None) -> Response:
        start = time.perf_counter()
        label, status = (name, version or ""), 500
        try:
            body = await request.body()
            # No await between picking the model and queueing on it: a reload closing the
            # old version in that gap would refuse this request with a 503.
            model = repository.get(name, _parse_version(version))
            label = (model.name, str(model.version))
            req = codec.parse_infer_request(
                body, request.headers.get(codec.HEADER_LENGTH), model, options.max_tensor_elements
            )
            response = await _run_infer(model, req)
            status = 200
            return response
        except ServeError as e:
            status = e.status
            raise
        finally:
            metrics.request(*label, status, time.perf_counter() - start)

    # ---- model repository extension ---------------------------------------------------------
    @app.post("/v2/repository/index", dependencies=[inference])
    async def repository_index(request: Request) -> list:
        doc = await read_json(request)
        ready_only = isinstance(doc, dict) and doc.get("ready") is True
        return [m for m in repository.index() if not ready_only or m.get("state") == "READY"]

    @app.post("/v2/repository/models/{name}/load", dependencies=[admin])
    async def load(name: str) -> dict:
        await repository.load(name)
        return {}

    @app.post("/v2/repository/models/{name}/unload", dependencies=[admin])
    async def unload(name: str) -> dict:
        await repository.unload(name)
        return {}

    # ---- operations -------------------------------------------------------------------------
    @app.get("/metrics")
    def prometheus() -> Response:
        body = metrics.render(len(repository.models()))
        return Response(body, media_type=metrics.content_type)

    app.include_router(openai_router(repository, options), dependencies=[inference])
    return app


async def _run_infer(model: Any, req: codec.InferRequest) -> Response:
    wanted = req.outputs
    if wanted is None:
        wanted = [codec.RequestedOutput(t.name, req.binary_output) for t in model.outputs]
    result = await model.infer(req.inputs, [o.name for o in wanted])
    body, header_length = codec.encode_infer_response(
        model.name, str(model.version), req.id, [(o.name, result[o.name], o.binary) for o in wanted]
    )
    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(
        body,
        media_type="application/octet-stream",
        headers={codec.HEADER_LENGTH: str(header_length)},
    )


def _install_error_handlers(app: FastAPI) -> None:
    async def serve_error(_: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, ServeError)
        return error_response(e.status, str(e), e.retry_after)

    async def http_error(_: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, StarletteHTTPException)
        return error_response(e.status_code, str(e.detail), None)

    async def validation_error(_: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, RequestValidationError)
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, f"{where}: {first.get('msg', 'invalid request')}")

    async def unexpected(_: Request, e: Exception) -> JSONResponse:
        # A bug, logged with its traceback by the server; the client gets a 500, and
        # the server keeps serving.
        return error_response(500, f"internal error ({type(e).__name__})")

    app.add_exception_handler(ServeError, serve_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


class AccessLog:
    """ASGI middleware: one JSON line per HTTP request on the ``ember.serve.access`` logger
    (time, client, method, path, status, ms), built only when that logger is on. Plain ASGI
    rather than ``@app.middleware("http")`` (Starlette's BaseHTTPMiddleware), which adds a
    task and a pair of body streams to every request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not ACCESS_LOG.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            ACCESS_LOG.info(
                json.dumps(
                    {
                        "time": time.time(),
                        "client": client[0] if client else None,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - start) * 1e3, 3),
                    }
                )
            )
