"""ember.prune.structured: neurons and channels removed from producer and consumer,
outputs unchanged when the removed ones were dead, clear errors otherwise."""

import numpy as np
import pytest

import ember
from ember import nn, prune
from ember.models import GPT, GPTConfig


def _gpt() -> GPT:
    ember.manual_seed(0)
    return GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=16))


def _kill_neurons(mlp, n_dead: int) -> np.ndarray:
    """Zero the first n_dead neurons of an MLP (c_fc rows and biases) with a tiny norm
    so they rank lowest, and return their indices."""
    w = mlp.c_fc.weight.detach().numpy()
    dead = np.arange(n_dead)
    with ember.no_grad():
        w[dead] = 0.0
        mlp.c_fc.weight.copy_(ember.from_numpy(w))
        if mlp.c_fc.bias is not None:
            b = mlp.c_fc.bias.detach().numpy()
            b[dead] = 0.0
            mlp.c_fc.bias.copy_(ember.from_numpy(b))
    return dead


def test_gpt_mlp_shrinks_and_outputs_stay_equal_when_removed_neurons_were_dead():
    gpt = _gpt()
    hidden = gpt.transformer.h[0].mlp.c_fc.out_features  # 64
    for block in gpt.transformer.h:
        _kill_neurons(block.mlp, hidden // 2)
    idx = ember.randint(0, 32, (2, 12))
    before, n_before = gpt(idx)[0].detach().numpy(), gpt.num_params()
    prune.structured(gpt, 0.5)
    for block in gpt.transformer.h:
        assert tuple(block.mlp.c_fc.weight.shape) == (hidden // 2, 16)
        assert tuple(block.mlp.c_fc.bias.shape) == (hidden // 2,)
        assert tuple(block.mlp.c_proj.weight.shape) == (16, hidden // 2)
        assert block.mlp.c_fc.out_features == block.mlp.c_proj.in_features == hidden // 2
    assert gpt.num_params() == n_before - 2 * (hidden // 2) * (16 + 1 + 16)
    np.testing.assert_allclose(gpt(idx)[0].detach().numpy(), before, rtol=1e-5, atol=1e-6)


def test_gpt_keeps_training_after_structured_pruning():
    gpt = _gpt()
    prune.structured(gpt, 16)
    opt = ember.optim.AdamW(gpt.parameters(), lr=1e-2)
    idx = ember.randint(0, 32, (2, 12))
    losses = []
    for _ in range(5):
        opt.zero_grad()
        _, loss = gpt(idx, idx)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_dim_1_ranks_by_the_consumers_columns():
    gpt = _gpt()
    mlp = gpt.transformer.h[0].mlp
    w = mlp.c_proj.weight.detach().numpy()
    w[:, 5] = 0.0
    with ember.no_grad():
        mlp.c_proj.weight.copy_(ember.from_numpy(w))
    kept_row = mlp.c_fc.weight.detach().numpy()[6]
    prune.structured(gpt, 1, dim=1)
    np.testing.assert_array_equal(mlp.c_fc.weight.detach().numpy()[5], kept_row)


def test_sequential_linear_chain_shrinks_the_next_layers_columns():
    ember.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 10), nn.ReLU(), nn.Dropout(0.0), nn.Linear(10, 8), nn.GELU(),
        nn.Linear(8, 3),
    )  # fmt: skip
    x = ember.randn(4, 6)
    # two dead neurons in each hidden layer: -1 bias under ReLU, 0 under GELU
    for layer, rows, bias in ((model[0], [1, 7], -1.0), (model[3], [2, 5], 0.0)):
        w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
        w[rows], b[rows] = 0.0, bias
        with ember.no_grad():
            layer.weight.copy_(ember.from_numpy(w))
            layer.bias.copy_(ember.from_numpy(b))
    before = model(x).detach().numpy()
    prune.structured(model, 2)
    assert [tuple(model[i].weight.shape) for i in (0, 3, 5)] == [(8, 6), (6, 8), (3, 6)]
    np.testing.assert_allclose(model(x).detach().numpy(), before, rtol=1e-5, atol=1e-6)


def test_conv_bn_conv_chain_shrinks_bn_and_next_conv():
    ember.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 4, 3),
        nn.ReLU(), nn.Flatten(), nn.Linear(36, 2),
    ).eval()  # fmt: skip
    n_before = model.num_parameters()
    prune.structured(model, 0.25)
    assert model[0].out_channels == model[1].num_features == model[4].in_channels == 6
    assert tuple(model[1].running_mean.shape) == (6,)
    assert tuple(model[4].weight.shape) == (4, 6, 3, 3)
    assert model[4].out_channels == 4  # feeds a Flatten -> Linear: left alone
    assert model.num_parameters() < n_before
    assert tuple(model(ember.randn(2, 3, 12, 12)).shape) == (2, 2)


def test_unsupported_model_names_itself():
    with pytest.raises(TypeError, match="nothing to shrink in LSTM"):
        prune.structured(nn.LSTM(4, 4), 0.5)
    lone = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 4))
    with pytest.raises(TypeError, match="nothing to shrink in Sequential"):
        prune.structured(lone, 0.5)


def test_bad_amount_and_dim():
    with pytest.raises(ValueError, match="outside"):
        prune.structured(_gpt(), 2.0)
    with pytest.raises(ValueError, match="would remove all 64 neurons"):
        prune.structured(_gpt(), 1.0)
    with pytest.raises(ValueError, match="more than the 64 neurons"):
        prune.structured(_gpt(), 65)
    with pytest.raises(ValueError, match="dim must be 0"):
        prune.structured(_gpt(), 0.5, dim=2)


def test_masked_model_must_be_baked_first():
    gpt = _gpt()
    prune.magnitude(gpt, 0.5)
    with pytest.raises(ValueError, match="call ember.prune.remove"):
        prune.structured(gpt, 0.5)
    prune.remove(gpt)
    prune.structured(gpt, 0.5)
