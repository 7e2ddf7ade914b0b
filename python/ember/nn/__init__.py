"""Neural-network building blocks: Module, Parameter, layers and their functional forms."""

from . import functional, init, utils
from .linear import Identity, Linear
from .module import Module
from .parameter import Parameter

__all__ = ["Identity", "Linear", "Module", "Parameter", "functional", "init", "utils"]
