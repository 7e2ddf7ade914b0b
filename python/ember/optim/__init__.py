"""Optimizers (PyTorch's ``torch.optim`` API) on ember's fused multi-tensor kernels, and
learning-rate schedulers (``ember.optim.lr_scheduler``).

>>> opt = ember.optim.AdamW(model.parameters(), lr=1e-3)
>>> sched = ember.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=1000)
>>> loss.backward(); opt.step(); sched.step(); opt.zero_grad()
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lion import Lion
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Lion",
    "Optimizer",
    "RMSprop",
    "lr_scheduler",
]
