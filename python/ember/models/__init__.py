"""Reference architectures, by name: ``ember.models.REGISTRY["gpt"] == (GPT, GPTConfig)``."""

from . import char_lstm, cnn, gpt
from .char_lstm import CharLSTM, CharLSTMConfig
from .cnn import DigitsCNN
from .gpt import GPT, GPTConfig
from .registry import REGISTRY

__all__ = [
    "GPT",
    "CharLSTM",
    "CharLSTMConfig",
    "DigitsCNN",
    "GPTConfig",
    "REGISTRY",
    "char_lstm",
    "cnn",
    "gpt",
]
