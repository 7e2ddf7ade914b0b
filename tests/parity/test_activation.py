"""F activations (and their nn modules) against torch, including the tails and 0."""

import numpy as np
import pytest
import torch.nn.functional as TF
from torch_compare import compare, torch

import ember
import ember.nn.functional as F


def points():
    kinks = [0.0, -1e-3, 1e-3, 2.5, -2.5, 3.0, -3.0, 50.0, 6.0, -2.0, 0.5]
    return np.concatenate([np.linspace(-30, 30, 61), kinks])


CASES = [
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("selu", {}),
    ("celu", {"alpha": 2.0}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("hardtanh", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("relu6", {}),
    ("hardsigmoid", {}),
    ("hardswish", {}),
    ("mish", {}),
    ("logsigmoid", {}),
    ("softsign", {}),
]


# torch's hardsigmoid multiplies by a float32 1/6 even for float64 tensors
RTOL = {"hardsigmoid": 1e-7, "Hardsigmoid": 1e-7}


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_functional(name, kw):
    x = points()
    compare(
        lambda t: getattr(F, name)(t, **kw),
        lambda t: getattr(TF, name)(t, **kw),
        [x],
        atol=1e-9,
        rtol=RTOL.get(name, 1e-8),
    )


def test_float32_tails():
    x = np.array([-100.0, -20.0, -10.0, 0.0, 10.0, 30.0], np.float32)
    for name in ("softplus", "logsigmoid", "mish"):
        e = getattr(F, name)(ember.tensor(x)).numpy()
        t = getattr(TF, name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-30)


def test_glu():
    compare(
        lambda t: F.glu(t, 1),
        lambda t: TF.glu(t, 1),
        [np.random.default_rng(0).standard_normal((3, 4))],
    )
    with pytest.raises(ValueError, match="ember.glu"):
        F.glu(ember.ones(3))


MODULES = [
    ("ELU", {"alpha": 0.7}),
    ("CELU", {}),
    ("SELU", {}),
    ("LeakyReLU", {"negative_slope": 0.1}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 0.5}),
    ("ReLU6", {}),
    ("Hardsigmoid", {}),
    ("Hardswish", {}),
    ("Mish", {}),
    ("Softplus", {"beta": 0.5}),
    ("LogSigmoid", {}),
    ("Softsign", {}),
    ("GLU", {}),
    ("LogSoftmax", {"dim": 1}),
]


@pytest.mark.parametrize(("name", "kw"), MODULES)
def test_modules(name, kw):
    x = np.random.default_rng(1).standard_normal((4, 6)) * 3
    e = getattr(ember.nn, name)(**kw)
    t = getattr(torch.nn, name)(**kw)
    compare(e, t, [x], atol=1e-9, rtol=RTOL.get(name, 1e-8))
    assert repr(e).split("(")[0] == name


def test_clamp_min_max():
    x = np.random.default_rng(2).standard_normal((3, 4))
    compare(lambda t: ember.clamp_min(t, 0.1), lambda t: torch.clamp_min(t, 0.1), [x])
    compare(lambda t: t.clamp_max(-0.2), lambda t: t.clamp_max(-0.2), [x])
    y = ember.tensor(x)
    y.clamp_min_(0.0)
    assert float(y.min()) >= 0.0
