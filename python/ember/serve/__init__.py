"""ember.serve: serve models from a model repository over the KServe v2 (Open Inference
Protocol) REST API and OpenAI-style endpoints, with dynamic batching.

>>> repo = ModelRepository(Path("models"))       # models/<name>/<version>/
>>> await repo.load_all()
>>> out = await repo.get("gpt").infer({"input_ids": ids})   # {"logits": ...}

This package's core (repository, batching, models) needs numpy only; the HTTP server
needs the ``serve`` extra (fastapi, uvicorn, prometheus-client, httpx).
"""

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
