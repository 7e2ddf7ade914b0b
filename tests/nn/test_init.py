"""nn.init: sample statistics vs PyTorch's formulas, fans, gains, determinism under
ember.manual_seed, no autograd recording, errors."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import init

N_OUT, N_IN = 300, 400  # 120k samples: the sample moments are within ~1% of the truth


def param(*shape, dtype=ember.float32):
    return nn.Parameter(ember.empty(*shape, dtype=dtype))


def stats(t):
    a = t.detach().double().numpy()
    return a.mean(), a.std(), a.min(), a.max()


def test_uniform_and_normal():
    w = param(N_OUT, N_IN)
    assert init.uniform_(w, -0.5, 1.5) is w
    mean, std, lo, hi = stats(w)
    assert -0.5 <= lo and hi <= 1.5
    assert abs(mean - 0.5) < 0.01 and abs(std - 2 / math.sqrt(12)) < 0.01
    init.normal_(w, mean=3.0, std=0.25)
    mean, std, _, _ = stats(w)
    assert abs(mean - 3.0) < 0.003 and abs(std - 0.25) < 0.003
    # no autograd trace: still a leaf that requires grad
    assert w.is_leaf and w.requires_grad and w.grad_fn is None


def test_constants_and_eye():
    w = param(3, 5)
    init.constant_(w, 0.25)
    np.testing.assert_array_equal(w.detach().numpy(), 0.25)
    init.ones_(w)
    np.testing.assert_array_equal(w.detach().numpy(), 1.0)
    init.zeros_(w)
    np.testing.assert_array_equal(w.detach().numpy(), 0.0)
    init.eye_(w)
    np.testing.assert_array_equal(w.detach().numpy(), np.eye(3, 5))
    with pytest.raises(ValueError, match="only 2-D tensors"):
        init.eye_(param(2, 2, 2))


@pytest.mark.parametrize(
    "shape,fans",
    [((7, 3), (3, 7)), ((16, 8, 3, 3), (72, 144)), ((5, 2, 4), (8, 20)), ((1, 1), (1, 1))],
)
def test_fans(shape, fans):
    assert init._calculate_fan_in_and_fan_out(param(*shape)) == fans


def test_fan_errors_for_1d():
    for fn in (
        init.xavier_uniform_,
        init.xavier_normal_,
        init.kaiming_uniform_,
        init.kaiming_normal_,
        init.orthogonal_,
    ):
        with pytest.raises(ValueError, match="fewer than 2 dimensions|2 or more dimensions"):
            fn(param(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(param(3, 3), mode="fan_avg")


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "0.1")


def test_xavier():
    w = param(N_OUT, N_IN)
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (N_IN + N_OUT))
    mean, std, lo, hi = stats(w)
    assert -bound <= lo and hi <= bound and hi > 0.99 * bound
    assert abs(std - bound / math.sqrt(3)) < 0.01 * bound
    init.xavier_normal_(w)
    mean, std, _, _ = stats(w)
    assert abs(std - math.sqrt(2 / (N_IN + N_OUT))) < 0.01 * std and abs(mean) < 0.01 * std


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", math.sqrt(5)), ("tanh", 0)])
def test_kaiming(mode, nonlinearity, a):
    w = param(60, 50, 3, 3)  # conv weight: receptive field 9
    fan = 50 * 9 if mode == "fan_in" else 60 * 9
    gain = init.calculate_gain(nonlinearity, a)
    init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    bound = gain * math.sqrt(3 / fan)
    mean, std, lo, hi = stats(w)
    assert -bound <= lo and hi <= bound and abs(std - bound / math.sqrt(3)) < 0.01 * bound
    init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    mean, std, _, _ = stats(w)
    assert abs(std - gain / math.sqrt(fan)) < 0.01 * std


def test_linear_default_init_matches_pytorch_formula():
    lin = nn.Linear(500, 300)
    bound = 1 / math.sqrt(500)  # kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(in), ...)
    _, std, lo, hi = stats(lin.weight)
    assert -bound <= lo and hi <= bound and abs(std - bound / math.sqrt(3)) < 0.01 * bound


def _trunc_moments(mean, std, a, b):
    def phi(x):
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x):
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    al, be = (a - mean) / std, (b - mean) / std
    z = cdf(be) - cdf(al)
    m = mean + std * (phi(al) - phi(be)) / z
    v = std**2 * (1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2)
    return m, math.sqrt(v)


@pytest.mark.parametrize(
    "mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 0.5, 0.2, 3.0)]
)
def test_trunc_normal(mean, std, a, b):
    w = param(N_OUT, N_IN, dtype=ember.float64)
    init.trunc_normal_(w, mean=mean, std=std, a=a, b=b)
    m, s, lo, hi = stats(w)
    want_m, want_s = _trunc_moments(mean, std, a, b)
    assert a <= lo and hi <= b
    assert abs(m - want_m) < 0.01 * want_s and abs(s - want_s) < 0.01 * want_s
    # a tail interval, where rejection sampling would be slow, works the same way
    init.trunc_normal_(w, mean=0.0, std=1.0, a=3.0, b=3.5)
    m, s, lo, hi = stats(w)
    assert 3.0 <= lo and hi <= 3.5 and abs(m - _trunc_moments(0, 1, 3, 3.5)[0]) < 0.01
    with pytest.raises(ValueError, match="need a < b"):
        init.trunc_normal_(w, a=1.0, b=1.0)


def test_ndtri_accuracy():
    p = np.concatenate([np.linspace(1e-9, 1 - 1e-9, 10001), [1e-300, 0.02425, 0.5]])
    x = init._ndtri(p)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    density = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    x_err = np.abs(cdf - p) / density  # first-order error in x
    assert (x_err <= 2e-9 * np.maximum(1, np.abs(x))).all()
    assert init._ndtri(np.array([0.0]))[0] == -np.inf and init._ndtri(np.array([1.0]))[0] == np.inf


@pytest.mark.parametrize("shape", [(5, 9), (9, 5), (4, 3, 2, 2), (7, 7)])
def test_orthogonal(shape):
    w = param(*shape, dtype=ember.float64)
    init.orthogonal_(w, gain=1.5)
    q = w.detach().numpy().reshape(shape[0], -1) / 1.5
    small = min(q.shape)
    gram = q @ q.T if q.shape[0] == small else q.T @ q
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_determinism_and_generator():
    def draw(seed, fn, **kw):
        ember.manual_seed(seed)
        w = param(17, 33)
        fn(w, **kw)
        return w.detach().numpy().copy()

    for fn in (
        init.uniform_,
        init.normal_,
        init.xavier_uniform_,
        init.xavier_normal_,
        init.kaiming_uniform_,
        init.kaiming_normal_,
        init.trunc_normal_,
        init.orthogonal_,
    ):
        a, b, c = draw(0, fn), draw(0, fn), draw(1, fn)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    # whole models: same seed, same weights
    ember.manual_seed(5)
    m1 = nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 4))
    ember.manual_seed(5)
    m2 = nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 4))
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        np.testing.assert_array_equal(v1.numpy(), v2.numpy(), err_msg=k)
    # an explicit generator leaves the global stream alone
    g1, g2 = ember.random.Generator(7), ember.random.Generator(7)
    state = ember.random.get_rng_state()
    w1, w2 = param(4, 4), param(4, 4)
    init.normal_(w1, generator=g1)
    init.normal_(w2, generator=g2)
    assert ember.random.get_rng_state() == state
    np.testing.assert_array_equal(w1.detach().numpy(), w2.detach().numpy())


def test_dtypes_and_empty():
    for dt in (ember.float64, ember.bfloat16, ember.float16):
        w = param(8, 8, dtype=dt)
        init.kaiming_uniform_(w)
        assert w.dtype is dt
        assert np.abs(w.detach().float().numpy()).max() <= math.sqrt(6 / 8) * 1.01
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        e = param(0, 3)
        assert init.kaiming_uniform_(e) is e and init.normal_(e) is e
    assert any("zero-element" in str(w.message) for w in caught)
    with pytest.raises(TypeError, match="expected a Tensor"):
        init.normal_(np.zeros(3))


def test_against_torch_formulas():
    torch = pytest.importorskip("torch")
    ti = torch.nn.init
    for shape in [(7, 3), (16, 8, 3, 3), (5, 2, 4)]:
        assert init._calculate_fan_in_and_fan_out(param(*shape)) == (
            ti._calculate_fan_in_and_fan_out(torch.empty(shape))
        )
    for nl, p in [("relu", None), ("leaky_relu", None), ("leaky_relu", 0.3), ("tanh", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(ti.calculate_gain(nl, p))
