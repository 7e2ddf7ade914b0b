"""A first look at ember: tensors, numpy interop, autograd and a few gradient steps.

Run: python examples/quickstart.py
"""

import numpy as np

import ember

ember.manual_seed(0)

# Fit y = 3x - 2 with a hand-written linear model and plain gradient descent.
x = ember.rand(256, 1) * 4 - 2
y = x * 3 - 2 + ember.randn(256, 1) * 0.1
w = ember.zeros(1, 1, requires_grad=True)
b = ember.zeros(1, requires_grad=True)
for _step in range(200):
    loss = ((x @ w + b - y) ** 2).mean()
    w.grad = b.grad = None
    loss.backward()
    with ember.no_grad():
        w -= 0.1 * w.grad
        b -= 0.1 * b.grad
print(f"w = {w.item():.3f}, b = {b.item():.3f}, loss = {loss.item():.4f}")

# Tensors and numpy arrays share memory both ways.
arr = np.arange(6, dtype=np.float32).reshape(2, 3)
t = ember.from_numpy(arr)
t[0, 0] = 42.0
print(arr[0, 0], np.asarray(t.T))
print(ember.config())
