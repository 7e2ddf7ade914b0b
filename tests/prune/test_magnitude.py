"""ember.prune.magnitude / remove / restore: sparsity per scope, masks kept through
training, baked in by remove, saved and restored through ember.save / ember.load."""

import numpy as np
import pytest

import ember
from ember import nn, prune


def _net() -> nn.Module:
    ember.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 32), nn.ReLU(),
        nn.Linear(32, 10),
    )  # fmt: skip


def _weights(model: nn.Module) -> list[np.ndarray]:
    return [m.weight.detach().numpy() for m in model if isinstance(m, (nn.Linear, nn.Conv2d))]


def _zeros(model: nn.Module) -> int:
    return sum(int((w == 0).sum()) for w in _weights(model))


def _total(model: nn.Module) -> int:
    return sum(w.size for w in _weights(model))


def test_global_scope_prunes_the_smallest_across_layers():
    model = _net()
    before = np.concatenate([np.abs(w).ravel() for w in _weights(model)])
    prune.magnitude(model, 0.6)
    assert _zeros(model) == round(0.6 * _total(model))
    after = np.concatenate([w.ravel() for w in _weights(model)])
    # every pruned weight is no larger than every kept one
    assert before[after == 0].max() <= before[after != 0].min()
    sparsities = {round(float((w == 0).mean()), 3) for w in _weights(model)}
    assert len(sparsities) > 1  # global ranking: layers end up different


def test_layer_scope_prunes_each_layer_alike():
    model = _net()
    prune.magnitude(model, 0.25, scope="layer")
    for w in _weights(model):
        assert (w == 0).sum() == round(0.25 * w.size)


def test_int_amount_is_a_count_and_repeated_calls_compound():
    model = _net()
    prune.magnitude(model, 100)
    assert _zeros(model) == 100
    prune.magnitude(model, 0.5)  # half of the remaining ones, as torch
    n = _total(model)
    assert _zeros(model) == 100 + round(0.5 * (n - 100))


def test_masks_are_buffers_in_the_state_dict():
    model = _net()
    prune.magnitude(model, 0.5)
    keys = set(model.state_dict())
    assert {"0.weight_mask", "0.weight_orig", "3.weight_mask", "5.weight_orig"} <= keys
    assert "0.weight" not in keys
    assert prune.is_pruned(model[0]) and isinstance(model[0], nn.Conv2d)


def test_pruned_weights_stay_zero_through_adamw_steps():
    model = _net()
    opt = ember.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    x, y = ember.randn(8, 1, 8, 8), ember.randint(0, 10, (8,))
    for _ in range(2):  # optimizer state from before pruning must not leak through
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    prune.magnitude(model, 0.7)
    pruned = [w == 0 for w in _weights(model)]
    first = _weights(model)
    for _ in range(10):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        for m in model:
            if prune.is_pruned(m):
                assert (m.weight_orig.grad.numpy()[m.weight_mask.numpy() == 0] == 0).all()
        opt.step()
    last = _weights(model)
    for p, w0, w1 in zip(pruned, first, last):
        assert (w1[p] == 0).all()
        assert not np.array_equal(w0[~p], w1[~p])  # the rest did train


def test_remove_bakes_the_masks_in():
    model = _net()
    prune.magnitude(model, 0.5)
    zeros = _zeros(model)
    x = ember.randn(2, 1, 8, 8)
    out = model(x).detach().numpy()
    param_ids = {id(m.weight_orig) for m in model if prune.is_pruned(m)}
    prune.remove(model)
    assert not any(prune.is_pruned(m) for m in model)
    assert not any(k.endswith(("weight_mask", "weight_orig")) for k in model.state_dict())
    assert {id(m.weight) for m in model if isinstance(m, (nn.Linear, nn.Conv2d))} == param_ids
    assert _zeros(model) == zeros
    np.testing.assert_array_equal(model(x).detach().numpy(), out)


def test_save_load_round_trip(tmp_path):
    model = _net()
    prune.magnitude(model, 0.5)
    ember.save(model.state_dict(), tmp_path / "pruned.safetensors")
    fresh = prune.restore(_net(), ember.load(tmp_path / "pruned.safetensors"))
    x = ember.randn(2, 1, 8, 8)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    for a, b in zip(model.buffers(), fresh.buffers()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_gpt_masks_cover_the_fused_mlp_and_skip_the_tied_head():
    from ember.models import GPT, GPTConfig

    gpt = GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=1, n_head=2, n_embd=16))
    prune.magnitude(gpt, 0.5, scope="layer")
    assert prune.is_pruned(gpt.transformer.h[0].mlp.c_fc)
    assert not prune.is_pruned(gpt.lm_head)  # tied to wte
    idx = ember.randint(0, 32, (1, 8))
    logits, _ = gpt(idx)
    gpt.transformer.h[0].mlp.c_fc.weight_mask.zero_()  # the fused path reads the mask
    assert not np.array_equal(gpt(idx)[0].detach().numpy(), logits.detach().numpy())


@pytest.mark.parametrize(
    ("amount", "error", "match"),
    [
        (1.5, ValueError, r"amount=1.5 is outside \[0, 1\]"),
        (-0.1, ValueError, "outside"),
        (-3, ValueError, "negative count"),
        (10**6, ValueError, "more than the"),
        ("half", TypeError, "got str"),
        (True, TypeError, "got bool"),
    ],
)
def test_bad_amount(amount, error, match):
    with pytest.raises(error, match=match):
        prune.magnitude(_net(), amount)


def test_bad_scope_and_modules():
    model = _net()
    with pytest.raises(ValueError, match="scope must be"):
        prune.magnitude(model, 0.5, scope="row")
    with pytest.raises(TypeError, match="cannot prune ReLU"):
        prune.magnitude(model, 0.5, modules=[model[1]])
    with pytest.raises(ValueError, match="not part of the model"):
        prune.magnitude(model, 0.5, modules=[nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="LayerNorm has no Linear or Conv"):
        prune.magnitude(nn.LayerNorm(4), 0.5)
