"""Optimizers (PyTorch's ``torch.optim`` API) on ember's fused multi-tensor kernels (ASGD and
LBFGS compose tensor ops), and learning-rate schedulers (``ember.optim.lr_scheduler``).

>>> opt = ember.optim.AdamW(model.parameters(), lr=1e-3)
>>> sched = ember.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=1000)
>>> loss.backward(); opt.step(); sched.step(); opt.zero_grad()
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .lion import Lion
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD
from .sparse_adam import SparseAdam

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "SparseAdam",
    "lr_scheduler",
]
