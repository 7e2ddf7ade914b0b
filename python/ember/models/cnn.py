"""DigitsCNN: a small convolutional classifier for 8x8 single-channel images (scikit-learn's
digits), used by ``ember train cnn`` and examples/cnn_digits.py."""

from __future__ import annotations

from ..nn import functional as F
from ..nn.batchnorm import BatchNorm2d
from ..nn.conv import Conv2d
from ..nn.flatten import Flatten
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.pooling import AdaptiveAvgPool2d, MaxPool2d
from ..tensor import Tensor


class DigitsCNN(Module):
    """conv-bn-relu x2 -> maxpool -> conv-bn-relu -> global average -> linear.

    Shape: (N, 1, H, W) -> (N, num_classes) logits.
    """

    def __init__(self, width: int = 32, num_classes: int = 10):
        super().__init__()
        if width <= 0 or num_classes <= 0:
            raise ValueError(
                f"ember.models.DigitsCNN: width and num_classes must be positive, got "
                f"{width} and {num_classes}"
            )
        self.conv1 = Conv2d(1, width, 3, padding=1, bias=False)
        self.bn1 = BatchNorm2d(width)
        self.conv2 = Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(2 * width)
        self.pool = MaxPool2d(2)
        self.conv3 = Conv2d(2 * width, 4 * width, 3, padding=1, bias=False)
        self.bn3 = BatchNorm2d(4 * width)
        self.gap = AdaptiveAvgPool2d(1)
        self.flatten = Flatten()
        self.fc = Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(self.flatten(self.gap(x)))
