"""The reference architectures by name, as model folders record them:
``REGISTRY["gpt"] == (GPT, GPTConfig)``."""

from __future__ import annotations

from .bert import Bert, BertConfig
from .char_lstm import CharLSTM, CharLSTMConfig
from .cnn import DigitsCNN, DigitsCNNConfig
from .gpt import GPT, GPTConfig

REGISTRY: dict[str, tuple[type, type]] = {
    "gpt": (GPT, GPTConfig),
    "char_lstm": (CharLSTM, CharLSTMConfig),
    "bert": (Bert, BertConfig),
    "digits_cnn": (DigitsCNN, DigitsCNNConfig),
}
