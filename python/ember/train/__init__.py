"""ember.train: the training loop (Trainer / fit) with evaluation, JSONL logging,
atomic safetensors checkpoints, bit-exact resume, early stopping and a loss plot;
:class:`Callback` hooks into the loop."""

from ..serialization import load_weights, save_weights
from .callback import Callback, StepResult
from .checkpoint import load_file, save_file
from .trainer import Trainer, fit, latest_checkpoint

__all__ = [
    "Callback",
    "StepResult",
    "Trainer",
    "fit",
    "latest_checkpoint",
    "load_file",
    "load_weights",
    "save_file",
    "save_weights",
]
