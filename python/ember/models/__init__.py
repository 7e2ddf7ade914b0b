"""Reference architectures, by name: ``ember.models.REGISTRY["gpt"] == (GPT, GPTConfig)``."""

from . import gpt
from .gpt import GPT, GPTConfig

REGISTRY: dict[str, tuple[type, type]] = {"gpt": (GPT, GPTConfig)}

__all__ = ["GPT", "GPTConfig", "REGISTRY", "gpt"]
