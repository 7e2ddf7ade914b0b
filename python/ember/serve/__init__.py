"""ember.serve: serve models from a model repository over the KServe v2 (Open Inference
Protocol) REST API and OpenAI-style endpoints, with dynamic batching.

>>> repo = ModelRepository(Path("models"))       # models/<name>/<version>/
>>> await repo.load_all()
>>> out = await repo.get("gpt").infer({"input_ids": ids})   # {"logits": ...}

This package's core (repository, batching, models) needs numpy only; the HTTP server
needs the ``serve`` extra (fastapi, uvicorn, prometheus-client, httpx); so does
:class:`Client` (httpx), loaded on first use.
"""

from importlib import import_module as _import_module

from .config import ServingConfig, TensorMeta
from .errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServeError,
    Unauthorized,
    Unavailable,
)
from .repository import ModelRepository
from .served_model import ServedModel

__all__ = [
    "BadRequest",
    "Client",
    "Conflict",
    "ModelRepository",
    "NotFound",
    "PayloadTooLarge",
    "ServeError",
    "ServedModel",
    "ServingConfig",
    "TensorMeta",
    "Unauthorized",
    "Unavailable",
]


def __getattr__(name: str) -> object:
    # The client needs httpx (the serve extra): import it on first use.
    if name == "Client":
        return _import_module(".client", __name__).Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
