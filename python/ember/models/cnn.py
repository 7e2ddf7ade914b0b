"""DigitsCNN: a small convolutional classifier for small single-channel images (8x8:
scikit-learn's digits), used by ``ember train cnn`` and examples/cnn_digits.py.

>>> model = DigitsCNN(DigitsCNNConfig(width=32, num_classes=10))
>>> logits = model(images)          # images: (N, 1, H, W) float32
"""

from __future__ import annotations

from dataclasses import dataclass

from ..nn.activation import ReLU
from ..nn.batchnorm import BatchNorm2d
from ..nn.conv import Conv2d
from ..nn.flatten import Flatten
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..serialization import TensorSpec
from ..tensor import Tensor
from ._config import MAX_WIDTH, ModelConfig, bounded


@dataclass
class DigitsCNNConfig(ModelConfig):
    """The hyperparameters of :class:`DigitsCNN`: the first conv's channels (the next ones
    have 2x and 4x) and the number of classes."""

    width: int = bounded(32, 1, MAX_WIDTH)
    num_classes: int = bounded(10, 1, MAX_WIDTH)


class DigitsCNN(Module):
    """conv-bn-relu x2 -> maxpool -> conv-bn-relu -> global average -> linear.

    Shape: (N, 1, H, W) with H, W >= 2 -> (N, num_classes) logits.
    """

    # The channel chains ember.prune.structured may shrink: (producer, its BatchNorm,
    # consumer); fc reads conv3's channels one to one through the global average.
    channel_chains = (("conv1", "bn1", "conv2"), ("conv2", "bn2", "conv3"), ("conv3", "bn3", "fc"))
    # conv -> batch norm -> ReLU runs forward applies back to back: ember.quant.quantize_static
    # folds each norm into its conv and each ReLU into the int8 kernel's epilogue (the ReLUs
    # are modules for this; they hold no state, so model folders are unchanged)
    fusable_chains = (
        ("conv1", "bn1", "relu1"),
        ("conv2", "bn2", "relu2"),
        ("conv3", "bn3", "relu3"),
    )

    def __init__(self, config: DigitsCNNConfig | None = None):
        super().__init__()
        config = DigitsCNNConfig() if config is None else config
        if not isinstance(config, DigitsCNNConfig):
            raise TypeError(
                f"ember.models.DigitsCNN: expected a DigitsCNNConfig, got {type(config).__name__}"
            )
        config.validate()
        self.config = config
        width, num_classes = config.width, config.num_classes
        self.conv1 = Conv2d(1, width, 3, padding=1, bias=False)
        self.bn1 = BatchNorm2d(width)
        self.relu1 = ReLU()
        self.conv2 = Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(2 * width)
        self.relu2 = ReLU()
        self.pool = MaxPool2d(2)
        self.conv3 = Conv2d(2 * width, 4 * width, 3, padding=1, bias=False)
        self.bn3 = BatchNorm2d(4 * width)
        self.relu3 = ReLU()
        self.gap = AdaptiveAvgPool2d(1)
        self.flatten = Flatten()
        self.fc = Linear(4 * width, num_classes)

    @staticmethod
    def state_shapes(config: DigitsCNNConfig) -> dict[str, tuple[int, ...] | TensorSpec]:
        """The names and shapes of ``DigitsCNN(config).state_dict()``, computed without
        building anything (model folders are checked against them before allocating)."""
        w = config.width
        out: dict[str, tuple[int, ...] | TensorSpec] = {}
        for i, (cin, cout) in enumerate(((1, w), (w, 2 * w), (2 * w, 4 * w)), start=1):
            out[f"conv{i}.weight"] = (cout, cin, 3, 3)
            for name in ("weight", "bias", "running_mean", "running_var"):
                out[f"bn{i}.{name}"] = (cout,)
            out[f"bn{i}.num_batches_tracked"] = TensorSpec((), "I64")
        out["fc.weight"] = (config.num_classes, 4 * w)
        out["fc.bias"] = (config.num_classes,)
        return out

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool(self.relu2(self.bn2(self.conv2(x))))
        x = self.relu3(self.bn3(self.conv3(x)))
        return self.fc(self.flatten(self.gap(x)))
