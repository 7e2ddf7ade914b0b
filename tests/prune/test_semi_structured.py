"""ember.prune.semi_structured: eligible Linears become SemiStructuredLinear and the model
then computes what the dense model with 2:4 masks computes; the report names the skipped
layers and why; explicit bad modules are errors; state_dict round-trips through
semi_structured_shell."""

import numpy as np
import pytest

import ember
from ember import nn, prune
from ember.models import GPT, GPTConfig
from ember.prune import SemiStructuredLinear


def _mask_2to4(w: np.ndarray) -> np.ndarray:
    g = np.abs(w.reshape(w.shape[0], -1, 4))
    order = np.argsort(-g, axis=2, kind="stable")[:, :, :2]
    mask = np.zeros(g.shape, bool)
    np.put_along_axis(mask, order, True, axis=2)
    return mask.reshape(w.shape)


def _apply_masks(model: nn.Module, names: list[str]) -> None:
    for name in names:
        lin = model.get_submodule(name)
        w = lin.weight.detach().numpy()
        with ember.no_grad():
            lin.weight.copy_(ember.from_numpy(np.where(_mask_2to4(w), w, 0.0).astype(np.float32)))


def _mlp() -> nn.Sequential:
    ember.manual_seed(0)
    return nn.Sequential(
        nn.Linear(12, 32), nn.GELU(), nn.Linear(32, 6, bias=False), nn.Linear(6, 3)
    )


def test_mlp_matches_masked_dense_model(rng):
    model = _mlp()
    dense = _mlp()
    report = prune.semi_structured(model)
    assert report.replaced == ["0", "2"]
    assert set(report.skipped) == {"3"} and "multiple of 4" in report.skipped["3"]
    assert isinstance(model[0], SemiStructuredLinear) and isinstance(model[3], nn.Linear)
    assert model[2].bias is None
    _apply_masks(dense, report.replaced)
    x = ember.from_numpy(rng.standard_normal((5, 7, 12)).astype(np.float32))
    with ember.no_grad():
        want = dense(x).numpy()
    got = model(x).detach().numpy()
    assert got.shape == (5, 7, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model[0].to_dense().numpy(), dense[0].weight.detach().numpy())


def test_gpt_matches_masked_dense_model():
    cfg = GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=16)
    ember.manual_seed(0)
    model = GPT(cfg)
    ember.manual_seed(0)
    dense = GPT(cfg)
    report = prune.semi_structured(model)
    assert any(name.endswith("c_proj") for name in report.replaced)
    assert "transformer.h.0.mlp.c_fc" in report.replaced  # called with activation="gelu"
    assert "lm_head" in report.skipped and "shared" in report.skipped["lm_head"]
    _apply_masks(dense, report.replaced)
    idx = ember.from_numpy(np.arange(24, dtype=np.int64).reshape(2, 12) % 32)
    model.eval()
    dense.eval()
    with ember.no_grad():
        np.testing.assert_allclose(
            model(idx)[0].numpy(), dense(idx)[0].numpy(), rtol=1e-4, atol=1e-5
        )


def test_explicit_modules_and_names():
    model = _mlp()
    report = prune.semi_structured(model, modules=[model[2]])
    assert report.replaced == ["2"] and report.skipped == {}
    assert isinstance(model[0], nn.Linear)
    report = prune.semi_structured(model, modules=["0"])
    assert report.replaced == ["0"]


def test_explicit_bad_modules_are_errors():
    model = _mlp()
    with pytest.raises(ValueError, match=r"'3'.*multiple of 4"):
        prune.semi_structured(model, modules=[model[3]])
    with pytest.raises(ValueError, match=r"'1'.*GELU is not a Linear"):
        prune.semi_structured(model, modules=["1"])
    with pytest.raises(ValueError, match="not part of the model"):
        prune.semi_structured(model, modules=[nn.Linear(4, 4)])
    with pytest.raises(ValueError, match="not part of the model"):
        prune.semi_structured(model, modules=["9"])
    double = nn.Sequential(nn.Linear(8, 4, dtype=ember.float64))
    with pytest.raises(ValueError, match="float32 only"):
        prune.semi_structured(double, modules=[double[0]])
    masked = _mlp()
    prune.magnitude(masked, 0.5, modules=[masked[0]])
    assert "masks" in prune.semi_structured(masked).skipped["0"]
    assert "model itself" in prune.semi_structured(nn.Linear(8, 4)).skipped[""]


def test_layer_construction_errors():
    with pytest.raises(ValueError, match="multiple of 4"):
        SemiStructuredLinear(6, 3)
    with pytest.raises(ValueError, match="positive int"):
        SemiStructuredLinear(8, 0)
    with pytest.raises(ValueError, match="float32 only"):
        SemiStructuredLinear.from_linear(nn.Linear(8, 4, dtype=ember.float64))


def test_state_dict_round_trip_through_shell(rng):
    model = _mlp()
    report = prune.semi_structured(model)
    state = model.state_dict()
    assert state["0.values"].dtype is ember.float32 and tuple(state["0.values"].shape) == (32, 6)
    assert state["0.positions"].dtype is ember.int8
    assert "2.bias" not in state
    fresh = prune.semi_structured_shell(_mlp(), report.replaced)
    assert isinstance(fresh[0], SemiStructuredLinear) and fresh[2].bias is None
    fresh.load_state_dict(state)
    x = ember.from_numpy(rng.standard_normal((4, 12)).astype(np.float32))
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    with pytest.raises(ValueError, match="must name a Linear"):
        prune.semi_structured_shell(_mlp(), ["1"])
    with pytest.raises(ValueError, match="found nothing"):
        prune.semi_structured_shell(_mlp(), ["7"])


def test_empty_layer_runs():
    layer = SemiStructuredLinear(8, 3)
    y = layer(ember.ones(2, 8))
    np.testing.assert_array_equal(y.numpy(), np.zeros((2, 3), np.float32))
    assert "sparsity=2:4" in repr(layer)


def test_a_2to4_gpt_round_trips_through_a_model_folder(tmp_path):
    cfg = GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=16)
    ember.manual_seed(1)
    model = GPT(cfg).eval()
    report = prune.semi_structured(model)
    ember.save(model, tmp_path / "m")
    for mmap in (False, True):
        loaded = ember.load(tmp_path / "m", mmap=mmap)
        assert {
            n for n, m in loaded.named_modules() if isinstance(m, prune.SemiStructuredLinear)
        } == set(report.replaced)
        idx = ember.from_numpy(np.arange(24, dtype=np.int64).reshape(2, 12) % 32)
        with ember.no_grad():
            np.testing.assert_array_equal(loaded(idx)[0].numpy(), model(idx)[0].numpy())


def test_many_token_layout_follows_weight_changes(rng):
    # the layer keeps the many-token kernel's packed weight; an in-place edit or a new state
    # dict must reach it (the same outputs as the unpacked kernel every time)
    from ember.ops.sparse24 import sparse24_linear

    layer = SemiStructuredLinear.from_linear(nn.Linear(64, 40))
    x = ember.from_numpy(rng.standard_normal((3, 100, 64)).astype(np.float32))

    def unpacked():
        return sparse24_linear(x, layer.values, layer.positions, layer.bias).numpy()

    np.testing.assert_array_equal(layer(x).numpy(), unpacked())
    with ember.no_grad():
        layer.values.mul_(-2.0)
    np.testing.assert_array_equal(layer(x).numpy(), unpacked())
    other = SemiStructuredLinear.from_linear(nn.Linear(64, 40))
    layer.load_state_dict(other.state_dict())
    np.testing.assert_array_equal(layer(x).numpy(), other(x).numpy())
