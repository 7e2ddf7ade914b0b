"""Every architecture in ember.models.REGISTRY: ember.save(model) writes a model folder
and ember.load gives a model with bit-identical weights and outputs, read into memory or
memory-mapped, and runs in bfloat16/float16 when asked. CONFIGS must name every
registered architecture."""

import numpy as np
import pytest

import ember
from ember.models import REGISTRY
from ember.models.folder import WEIGHTS

# architecture -> (small config, make an input batch)
CONFIGS = {
    "gpt": (
        dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16),
        lambda: ember.randint(0, 13, (2, 8)),
    ),
    "char_lstm": (
        dict(vocab_size=11, embed_size=6, hidden_size=8, num_layers=2),
        lambda: ember.randint(0, 11, (2, 5)),
    ),
    "bert": (
        dict(
            vocab_size=17, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=24, max_position_embeddings=12,
        ),
        lambda: ember.randint(0, 17, (2, 7)),
    ),
    "digits_cnn": (dict(width=4, num_classes=3), lambda: ember.randn(2, 1, 8, 8)),
}  # fmt: skip


def test_every_architecture_has_a_config():
    assert sorted(CONFIGS) == sorted(REGISTRY), (
        f"add to CONFIGS: {sorted(set(REGISTRY) - set(CONFIGS))}"
    )


def _model(name):
    cls, config_cls = REGISTRY[name]
    ember.manual_seed(0)
    return cls(config_cls(**CONFIGS[name][0])).eval()


def _logits(model, x):
    out = model(x)
    return (out[0] if isinstance(out, tuple) else out).detach()


def _state_bytes(model):
    return {k: v.float().numpy().tobytes() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_round_trip(name, mmap, tmp_path):
    model = _model(name)
    ember.save(model, tmp_path / "m")
    loaded = ember.load(tmp_path / "m", mmap=mmap)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.config == model.config
    assert _state_bytes(loaded) == _state_bytes(model)
    x = CONFIGS[name][1]()
    assert _logits(loaded, x).numpy().tobytes() == _logits(model, x).numpy().tobytes()


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", ember.bfloat16])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_load_in_half_precision(name, dtype, tmp_path):
    model = _model(name)
    ember.save(model, tmp_path / "m")
    half = ember.load(tmp_path / "m", dtype=dtype, mmap=True)
    want = ember.bfloat16 if dtype in ("bfloat16", ember.bfloat16) else ember.float16
    assert {p.dtype for p in half.parameters()} == {want}
    x = CONFIGS[name][1]()
    x_half = x.to(want) if x.dtype.is_floating_point else x  # images come in the model's dtype
    got, ref = _logits(half, x_half), _logits(model, x)
    assert got.dtype is want
    np.testing.assert_allclose(got.float().numpy(), ref.numpy(), atol=0.05, rtol=0.05)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_half_precision_model_saves_and_loads_as_such(name, tmp_path):
    model = _model(name).to(ember.bfloat16)
    ember.save(model, tmp_path / "m")
    loaded = ember.load(tmp_path / "m")
    assert {p.dtype for p in loaded.parameters()} == {ember.bfloat16}
    assert _state_bytes(loaded) == _state_bytes(model)
    x = CONFIGS[name][1]()
    assert (
        _logits(loaded, x).float().numpy().tobytes() == _logits(model, x).float().numpy().tobytes()
    )


def _mapped_ranges(path):
    """(start, end) of this process's mappings of ``path``."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == str(path):
                lo, hi = (int(v, 16) for v in parts[0].split("-"))
                out.append((lo, hi))
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mmap_parameters_are_the_mapped_pages_and_training_leaves_the_file(name, tmp_path):
    model = _model(name)
    ember.save(model, tmp_path / "m")
    weights = (tmp_path / "m" / WEIGHTS).resolve()
    before = weights.read_bytes()
    loaded = ember.load(tmp_path / "m", mmap=True)
    ranges = _mapped_ranges(weights)
    assert ranges, "the weights file is not mapped"
    for p in loaded.parameters():
        assert any(lo <= p.data_ptr() < hi for lo, hi in ranges)

    loaded.train()
    opt = ember.optim.SGD(loaded.parameters(), lr=0.1)
    x = CONFIGS[name][1]()
    first = _logits(loaded, x).numpy().copy()
    for _ in range(2):
        opt.zero_grad()
        _logits_with_grad = loaded(x)
        out = _logits_with_grad[0] if isinstance(_logits_with_grad, tuple) else _logits_with_grad
        (out.float() ** 2).mean().backward()
        opt.step()
    assert not np.array_equal(_logits(loaded, x).numpy(), first)  # it trained
    del loaded, opt
    assert weights.read_bytes() == before  # copy-on-write: the file never changed
    reloaded = ember.load(tmp_path / "m")  # and still verifies
    assert _state_bytes(reloaded) == _state_bytes(model)
