"""Neural-network building blocks: Module, Parameter, layers and their functional forms."""

from . import functional, init
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv1d, Conv2d
from .flatten import Flatten
from .linear import Identity, Linear
from .module import Module
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["Identity", "Linear", "Module", "Parameter", "functional", "init"]
__all__ += [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "Flatten",
    "MaxPool2d",
]
