"""ember.quant.BlockQuantLinear and quantize_weights (ggml Q8_0 / Q4_0 weight-only)."""

import warnings

import numpy as np
import pytest

import ember
from ember import nn
from ember.models import GPT, GPTConfig
from ember.quant import BlockQuantLinear, quantize_weights


def _linear(k, n, bias=True):
    ember.manual_seed(0)
    return nn.Linear(k, n, bias=bias)


@pytest.mark.parametrize("scheme", ["q8_0", "q4_0"])
@pytest.mark.parametrize("bias", [True, False])
def test_block_linear_is_the_dequantized_product(scheme, bias):
    linear = _linear(96, 13, bias)
    layer = BlockQuantLinear.from_float(linear, scheme)
    assert layer.weight.shape == (13, 3 * {"q8_0": 34, "q4_0": 18}[scheme])
    assert set(layer.state_dict()) == ({"weight", "bias"} if bias else {"weight"})
    x = ember.randn(2, 5, 96)
    got = layer(x).numpy()
    w = layer.dequantized_weight().numpy().astype(np.float64)
    want = x.numpy().astype(np.float64) @ w.T + (linear.bias.detach().numpy() if bias else 0)
    # the input is quantized to Q8_0 per block: about 1/254 of each block's range
    np.testing.assert_allclose(got, want, atol=0.02 * np.abs(want).max())
    fp = linear(x).detach().numpy()
    tol = {"q8_0": 0.02, "q4_0": 0.15}[scheme]
    assert np.abs(got - fp).max() < tol * np.abs(fp).max()
    assert f"scheme='{scheme}'" in repr(layer)
    np.testing.assert_array_equal(layer.to_float().weight.detach().numpy(), w.astype(np.float32))
    np.testing.assert_allclose(layer(x, activation="relu").numpy(), np.maximum(got, 0))


def test_block_linear_bad_input():
    with pytest.raises(ValueError, match="multiple of 32"):
        BlockQuantLinear(40, 8)
    with pytest.raises(ValueError, match="scheme"):
        BlockQuantLinear(32, 8, scheme="q5_0")
    with pytest.raises(TypeError, match="nn.Linear"):
        BlockQuantLinear.from_float(nn.Embedding(4, 32))


def test_quantize_weights_gpt_and_skipped_layers():
    ember.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=40, n_layer=2, n_head=2, n_embd=64)).eval()
    q = quantize_weights(model, "q4_0")
    swapped = [n for n, m in q.named_modules() if isinstance(m, BlockQuantLinear)]
    assert len(swapped) == 8 and type(q.lm_head) is nn.Linear
    idx = ember.tensor(np.random.default_rng(0).integers(0, 40, (2, 16)))
    want, got = model(idx)[0].detach().numpy(), q(idx)[0].detach().numpy()
    assert np.abs(got - want).max() < 0.1 * np.abs(want).max()

    net = nn.Sequential(nn.Linear(64, 40), nn.ReLU(), nn.Linear(40, 8))
    with pytest.warns(UserWarning, match=r"kept float32.*: 2"):
        qn = quantize_weights(net, "q8_0")
    assert [type(m).__name__ for m in qn] == ["BlockQuantLinear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="'2': in_features 40"):
        quantize_weights(net, modules=["2"])
    with pytest.raises(ValueError, match="scheme"):
        quantize_weights(net, "int4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quantize_weights(net, modules=["0"])
