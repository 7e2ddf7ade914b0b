"""``ember serve``: the app on uvicorn. Each worker process builds its own app from the
options in the environment (uvicorn starts workers from an import string), so with
``--workers N`` every worker loads the whole repository and a load/unload request
reaches only the worker that received it."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from .app import ServerOptions, create_app
from .metrics import ServeMetrics
from .repository import ModelRepository

T = TypeVar("T")
OPTIONS_ENV = "EMBER_SERVE_OPTIONS"
APP_FACTORY = "ember.serve.server:app_from_environment"


def app_from_environment() -> FastAPI:
    """The app described by ``$EMBER_SERVE_OPTIONS`` (set by :func:`run_server`)."""
    doc = json.loads(os.environ[OPTIONS_ENV])
    root = Path(doc.pop("repository"))
    metrics = ServeMetrics()
    repository = ModelRepository(root, observer=metrics.observe)
    return create_app(repository, ServerOptions(**doc), metrics)


def _log_access_to_stderr() -> None:
    access = logging.getLogger("ember.serve.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False


def run_server(
    repository_dir: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    options: ServerOptions | None = None,
    graceful_timeout_s: float = 30.0,
    log_level: str = "info",
) -> None:
    """Serve ``repository_dir`` until interrupted. On shutdown uvicorn stops accepting,
    waits up to ``graceful_timeout_s`` for requests in flight, then the app's lifespan
    closes the repository (its queues drain)."""
    root = Path(repository_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"model repository {root} is not a folder")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    options = options or ServerOptions()
    os.environ[OPTIONS_ENV] = json.dumps(
        {"repository": str(root.resolve()), **dataclasses.asdict(options)}
    )
    _log_access_to_stderr()
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # ember.serve.access writes one JSON line per request instead
        timeout_graceful_shutdown=graceful_timeout_s,
        log_level=log_level,
    )


def serve_briefly(
    repository_dir: str | os.PathLike, query: Callable[[str], T], startup_timeout_s: float = 120.0
) -> T:
    """Serve ``repository_dir`` on a free loopback port from a background thread, call
    ``query(url)`` once every model is loaded, shut down and return its answer (``ember
    demo`` shows its model served this way)."""
    metrics = ServeMetrics()
    repository = ModelRepository(Path(repository_dir), observer=metrics.observe)
    app = create_app(repository, ServerOptions(), metrics)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port; uvicorn serves on this socket
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server for {repository_dir} did not start")
            time.sleep(0.05)
        return query(url)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
