"""nn.Conv1d / Conv2d / Flatten: PyTorch-shaped arguments, defaults and initialization,
and a small CNN (conv, batch norm, pooling) trained end to end and checked against torch.
(The pooling and batch norm modules: tests/pool, tests/batchnorm.)"""

import math

import numpy as np
import pytest
from conv_reference import conv2d as ref_conv2d

import ember
from ember import nn
from ember.nn import functional as F


def test_conv2d_defaults_and_init():
    conv = nn.Conv2d(6, 12, 3)
    assert conv.weight.shape == (12, 6, 3, 3) and conv.bias.shape == (12,)
    assert conv.stride == (1, 1) and conv.padding == (0, 0) and conv.dilation == (1, 1)
    assert conv.groups == 1 and conv.padding_mode == "zeros"
    bound = 1 / math.sqrt(6 * 9)  # kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), ..)
    w = conv.weight.detach().numpy()
    b = conv.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.15 * bound
    names = [n for n, _ in conv.named_parameters()]
    assert names == ["weight", "bias"]
    assert "Conv2d(6, 12, kernel_size=(3, 3), stride=(1, 1))" in repr(conv)


def test_conv_module_options(rng):
    conv = nn.Conv2d(
        4, 8, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2, bias=False
    )
    assert conv.bias is None and conv.weight.shape == (8, 2, 3, 2)
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    out = conv(ember.tensor(x))
    ref = ref_conv2d(x, conv.weight.detach().numpy(), None, (2, 1), (1, 0), (1, 2), 2)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    same = nn.Conv2d(4, 4, 3, padding="same", groups=4)
    assert same(ember.tensor(x)).shape == (2, 4, 9, 8)
    assert nn.Conv2d(4, 4, 3, padding="valid")(ember.tensor(x)).shape == (2, 4, 7, 6)


def test_conv1d_module(rng):
    conv = nn.Conv1d(3, 5, 4, stride=2, padding=1)
    assert conv.weight.shape == (5, 3, 4)
    x = rng.standard_normal((2, 3, 17)).astype(np.float32)
    out = conv(ember.tensor(x))
    ref = ref_conv2d(
        x[:, :, None],
        conv.weight.detach().numpy()[:, :, None],
        conv.bias.detach().numpy(),
        (1, 2),
        (0, 1),
        (1, 1),
        1,
    )[:, :, 0]
    assert out.shape == (2, 5, 8)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert conv.weight.grad.shape == (5, 3, 4) and conv.bias.grad.shape == (5,)
    assert conv(ember.tensor(x[0])).shape == (5, 8)  # unbatched


def test_flatten(rng):
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    x = ember.tensor(a)
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), a.reshape(2, 60))
    np.testing.assert_array_equal(nn.Flatten(0, 1)(x).numpy(), a.reshape(6, 4, 5))
    np.testing.assert_array_equal(nn.Flatten(2)(x).numpy(), a.reshape(2, 3, 20))


def _small_cnn():
    return [
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 3),
    ]


def test_small_cnn_trains(rng):
    ember.manual_seed(0)
    layers = _small_cnn()
    params = [p for m in layers for p in m.parameters()]
    x = ember.tensor(rng.standard_normal((12, 1, 8, 8)).astype(np.float32))
    labels = rng.integers(0, 3, 12)
    target = ember.tensor(np.eye(3, dtype=np.float32)[labels])

    def loss_fn():
        h = x
        for i, m in enumerate(layers):
            h = m(h)
            if i in (1, 3):
                h = F.relu(h)
        return -(F.log_softmax(h, -1) * target).sum() / 12

    losses = []
    for _ in range(40):
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        losses.append(float(loss.item()))
        with ember.no_grad():
            for p in params:
                p.sub_(p.grad * 0.2)
    assert losses[-1] < losses[0] * 0.7, losses
    assert all(p.grad is not None for p in params)


def test_matches_torch_if_available(rng):
    torch = pytest.importorskip("torch")
    conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3)
    bn = nn.BatchNorm2d(6)
    tconv = torch.nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3)
    tbn = torch.nn.BatchNorm2d(6)
    with torch.no_grad():
        tconv.weight.copy_(torch.from_numpy(conv.weight.detach().numpy()))
        tconv.bias.copy_(torch.from_numpy(conv.bias.detach().numpy()))
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    y = F.max_pool2d(bn(conv(ember.tensor(x))), 3, 2, 1, ceil_mode=True)
    ty = torch.nn.functional.max_pool2d(tbn(tconv(torch.from_numpy(x))), 3, 2, 1, ceil_mode=True)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_var.numpy(), tbn.running_var.numpy(), rtol=1e-5)
    ya = F.avg_pool2d(ember.tensor(x), 3, 2, 1, ceil_mode=True, count_include_pad=False)
    ta = torch.nn.functional.avg_pool2d(torch.from_numpy(x), 3, 2, 1, True, False)
    np.testing.assert_allclose(ya.numpy(), ta.numpy(), rtol=1e-5, atol=1e-6)
