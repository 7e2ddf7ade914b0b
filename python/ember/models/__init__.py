"""Reference architectures, by name: ``ember.models.REGISTRY["gpt"] == (GPT, GPTConfig)``."""

from . import bert, char_lstm, cnn, gpt, sentence_encoder, transforms
from .bert import Bert, BertConfig
from .char_lstm import CharLSTM, CharLSTMConfig
from .cnn import DigitsCNN, DigitsCNNConfig
from .gpt import GPT, GPTConfig
from .registry import REGISTRY
from .sentence_encoder import SentenceEncoder

__all__ = [
    "GPT",
    "Bert",
    "BertConfig",
    "CharLSTM",
    "CharLSTMConfig",
    "DigitsCNN",
    "DigitsCNNConfig",
    "GPTConfig",
    "REGISTRY",
    "SentenceEncoder",
    "bert",
    "char_lstm",
    "cnn",
    "gpt",
    "sentence_encoder",
    "transforms",
]
