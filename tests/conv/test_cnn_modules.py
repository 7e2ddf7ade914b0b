"""nn.Conv1d / Conv2d / MaxPool2d / AvgPool2d / AdaptiveAvgPool2d / BatchNorm1d / 2d /
Flatten: PyTorch-shaped arguments, defaults and initialization, buffers and modes, and a
small CNN trained end to end."""

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


def test_pool_modules(rng):
    x = ember.tensor(rng.standard_normal((2, 3, 9, 9)).astype(np.float32))
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.MaxPool2d(2, ceil_mode=True)(x).shape == (2, 3, 5, 5)
    vals, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(x)
    assert vals.shape == idx.shape == (2, 3, 5, 5) and idx.dtype is ember.int64
    assert nn.AvgPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 5, 5)
    assert nn.AdaptiveAvgPool2d((2, 3))(x).shape == (2, 3, 2, 3)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    np.testing.assert_allclose(
        nn.AdaptiveAvgPool2d(1)(x).numpy()[..., 0, 0], x.numpy().mean(axis=(2, 3)), rtol=1e-5
    )


def test_flatten(rng):
    x = ember.tensor(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(2)(x).shape == (2, 3, 20)


def test_batchnorm2d_running_stats_and_modes(rng):
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert set(bn.state_dict()) == {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    rm, rv = np.zeros(3), np.ones(3)
    xs = [(rng.standard_normal((4, 3, 5, 5)) * 2 + 1).astype(np.float32) for _ in range(3)]
    for x in xs:
        y = bn(ember.tensor(x))
        mean = x.astype(np.float64).mean(axis=(0, 2, 3))
        var = x.astype(np.float64).var(axis=(0, 2, 3))
        rm = 0.9 * rm + 0.1 * mean
        rv = 0.9 * rv + 0.1 * var * 100 / 99
        sh = (1, 3, 1, 1)
        ref = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-5)
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3
    bn.eval()
    x = xs[0]
    y = bn(ember.tensor(x))
    sh = (1, 3, 1, 1)
    ref = (x - rm.reshape(sh)) / np.sqrt(rv.reshape(sh) + 1e-5)
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-4, atol=1e-4)
    assert int(bn.num_batches_tracked.item()) == 3  # eval does not count


def test_batchnorm_cumulative_momentum_and_no_tracking(rng):
    bn = nn.BatchNorm1d(4, momentum=None)
    xs = [rng.standard_normal((8, 4)).astype(np.float32) for _ in range(3)]
    for x in xs:
        bn(ember.tensor(x))
    mean = np.mean([x.astype(np.float64).mean(0) for x in xs], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    free = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert free.running_mean is None and free.weight is None
    free.eval()  # no running stats: batch statistics even in eval
    y = free(ember.tensor(xs[0])).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    bn3 = nn.BatchNorm1d(4)
    assert bn3(ember.tensor(rng.standard_normal((2, 4, 7)).astype(np.float32))).shape == (2, 4, 7)


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
