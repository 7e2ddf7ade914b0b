"""ember.serve: a model repository served over the KServe v2 / Open Inference Protocol
REST API (with dynamic batching) and OpenAI-style routes; ``ember serve`` runs it.

Nothing heavy loads with the package: the server (fastapi, uvicorn, prometheus-client)
and the client (httpx) come from the ``serve`` extra and load on first use."""

from importlib import import_module as _import_module

__all__ = ["Client"]


def __getattr__(name: str) -> object:
    if name == "Client":
        return _import_module(".client", __name__).Client
    raise AttributeError(f"module 'ember.serve' has no attribute {name!r}")
