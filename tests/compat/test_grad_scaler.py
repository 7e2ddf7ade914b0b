"""ember.amp.GradScaler follows torch.amp.GradScaler step by step: the scale, the
skipped steps, the parameters and the state_dict."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember.amp import GradScaler


def _run(lib, scaler_args, grads_per_step, lr=0.1):
    """SGD on one parameter; the loss is (p * g).sum(), so p.grad is g (scaled)."""
    p = lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0]))
    opt = lib.optim.SGD([p], lr=lr)
    scaler = lib.amp.GradScaler("cpu", **scaler_args)
    trace = []
    for g in grads_per_step:
        opt.zero_grad()
        scaler.scale((p * lib.tensor(g)).sum()).backward()
        scaler.step(opt)
        scaler.update()
        trace.append((scaler.get_scale(), p.detach().numpy().copy()))
    return trace, scaler.state_dict()


GRADS = [
    [0.5, 1.0, -1.0],
    [math.inf, 0.0, 0.0],
    [0.25, 0.25, 0.25],
    [0.1, math.nan, 0.0],
    [1.0, 2.0, 3.0],
    [1.0, 2.0, 3.0],
    [1.0, 2.0, 3.0],
]


@pytest.mark.parametrize(
    "args",
    [{}, {"init_scale": 8.0, "growth_interval": 2}, {"growth_factor": 4.0, "backoff_factor": 0.25}],
)
def test_matches_torch(args):
    torch = pytest.importorskip("torch")
    ours, our_state = _run(ember, args, GRADS)
    theirs, their_state = _run(torch, args, GRADS)
    for (s, p), (ts, tp) in zip(ours, theirs):
        assert s == ts
        np.testing.assert_allclose(p, tp, rtol=1e-6)
    assert our_state == their_state


def test_unscale_before_clipping_then_step():
    p = ember.nn.Parameter(ember.tensor([3.0, 4.0]))
    opt = ember.optim.SGD([p], lr=1.0)
    scaler = GradScaler("cpu", init_scale=1024.0)
    scaler.scale((p * p).sum()).backward()
    np.testing.assert_allclose(p.grad.numpy(), [6144.0, 8192.0])
    scaler.unscale_(opt)
    np.testing.assert_allclose(p.grad.numpy(), [6.0, 8.0])
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)  # does not unscale twice
    np.testing.assert_allclose(p.detach().numpy(), [-3.0, -4.0])
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    scaler.update()
    assert scaler.get_scale() == 1024.0


def test_disabled_is_a_pass_through():
    p = ember.nn.Parameter(ember.tensor([1.0]))
    opt = ember.optim.SGD([p], lr=1.0)
    scaler = GradScaler("cpu", enabled=False)
    loss = (p * 2.0).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.unscale_(opt)
    assert scaler.step(opt) is None
    scaler.update()
    np.testing.assert_allclose(p.detach().numpy(), [-1.0])
    assert scaler.get_scale() == 1.0 and not scaler.is_enabled()
    assert scaler.state_dict() == {}
    scaler.load_state_dict({})  # ignored when disabled, as torch


def test_cuda_scaler_without_a_gpu_warns_and_disables():
    if ember.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        assert not GradScaler().is_enabled()
    with pytest.warns(UserWarning, match="CUDA is not available"):
        assert not ember.cuda.amp.GradScaler(enabled=True).is_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not ember.cuda.amp.GradScaler(enabled=False).is_enabled()


def test_errors():
    scaler = GradScaler("cpu")
    with pytest.raises(RuntimeError, match="no inf checks"):
        scaler.update()
    with pytest.raises(RuntimeError, match="empty"):
        scaler.load_state_dict({})
    with pytest.raises(RuntimeError, match="closure"):
        scaler.step(ember.optim.SGD([ember.nn.Parameter(ember.ones(1))], lr=1), closure=None)
    with pytest.raises(ValueError, match="growth_factor"):
        GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(ValueError, match="device"):
        GradScaler("tpu")
    with pytest.raises(ValueError, match="Tensor"):
        scaler.scale(3.0)


def test_state_dict_round_trip():
    a = GradScaler("cpu", init_scale=4.0, growth_interval=3)
    a._growth_tracker = 2
    b = GradScaler("cpu")
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict() and b.get_scale() == 4.0
