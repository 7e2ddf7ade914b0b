"""A small CNN on scikit-learn's handwritten digits (8x8 images, 10 classes), trained with
ember's convolutions, batch norm, pooling and Adam.

Run: pip install "ember[examples]" && python examples/cnn_digits.py
Reaches about 99.7% test accuracy (360 held-out images) in 15 epochs, about 10 s on one
core of a current x86 server (results are bitwise the same for any thread count).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import ember
from ember import nn, optim
from ember.models.cnn import DigitsCNN
from ember.nn import functional as F


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with ember.no_grad():
        pred = np.asarray(model(ember.from_numpy(x)).argmax(-1))
    model.train()
    return float((pred == y).mean())


def main(epochs: int = 15, batch_size: int = 64, seed: int = 0) -> None:
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    mean, std = x_train.mean(), x_train.std()
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    ember.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DigitsCNN()
    opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    n = len(x_train)
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:  # batch norm needs more than one sample
                continue
            xb = ember.from_numpy(np.ascontiguousarray(x_train[idx]))
            yb = ember.from_numpy(y_train[idx])
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(idx)
        sched.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            acc = accuracy(model, x_test, y_test)
            print(
                f"epoch {epoch + 1:2d}  loss {total / n:.4f}  test accuracy {acc:.2%}  "
                f"({time.perf_counter() - start:.1f} s)"
            )
    acc = accuracy(model, x_test, y_test)
    print(
        f"final test accuracy {acc:.2%} on {len(x_test)} images, trained in "
        f"{time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
