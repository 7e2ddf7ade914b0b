"""Tensor.register_post_accumulate_grad_hook and the engine's queue_callback (what
DistributedDataParallel builds on)."""

import numpy as np
import pytest

import ember
from ember.autograd.engine import queue_callback


def test_the_hook_sees_the_accumulated_grad_once_per_backward(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    w = ember.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)).requires_grad_()
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    for _ in range(2):  # the second pass adds into the existing .grad (linear's in-place path)
        ember.nn.functional.linear(ember.from_numpy(x), w).sum().backward()
    col = np.tile(x.sum(0), (4, 1))  # d(sum(x @ w.T))/dw
    assert len(seen) == 2
    np.testing.assert_allclose(seen[0], col, rtol=1e-5)
    np.testing.assert_allclose(seen[1], 2 * col, rtol=1e-5)


def test_a_leaf_used_twice_fires_once_with_the_sum(rng):
    # a tied weight: one path may accumulate in place, the other through the engine
    w = ember.from_numpy(rng.standard_normal((6, 3)).astype(np.float32)).requires_grad_()
    w.grad = ember.zeros(6, 3)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    x = ember.ones(2, 3)
    (ember.nn.functional.linear(x, w).sum() + (w * w).sum()).backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], 2 + 2 * w.detach().numpy(), rtol=1e-5)


def test_remove_and_bad_targets():
    w = ember.ones(3, requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(calls.append)
    handle.remove()
    (w * 2).sum().backward()
    assert calls == []
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(calls.append)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ember.ones(2).register_post_accumulate_grad_hook(calls.append)
    with pytest.raises(TypeError, match="callable"):
        w.register_post_accumulate_grad_hook(3)


def test_queued_callbacks_run_after_every_hook():
    a = ember.ones(2, requires_grad=True)
    b = ember.ones(2, requires_grad=True)
    log = []

    def hook(t):
        log.append("hook")
        if len(log) == 1:
            queue_callback(lambda: log.append(("end", a.grad is not None, b.grad is not None)))

    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    ((a * 3) * b).sum().backward()
    assert log == ["hook", "hook", ("end", True, True)]
    with pytest.raises(RuntimeError, match="only be called during backward"):
        queue_callback(lambda: None)
