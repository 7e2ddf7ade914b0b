"""ember.prune.structured(target="heads"): whole attention heads removed from GPT's
c_attn (q, k and v rows) and c_proj (columns), each layer keeping its own head count;
outputs unchanged when the removed heads contributed nothing; generation still works;
Bert's query/key/value and output.dense likewise."""

import numpy as np
import pytest

import ember
from ember import prune
from ember.models import GPT, Bert, BertConfig, GPTConfig


def _gpt(n_head: int = 4) -> GPT:
    ember.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=n_head, n_embd=32))
    return model.eval()


def _silence_head(attn, head: int) -> None:
    """Zero a head's c_proj columns (it then adds nothing) and its q/k/v rows (so it
    ranks lowest under either dim)."""
    d = attn.head_dim
    cols = slice(head * d, (head + 1) * d)
    with ember.no_grad():
        w = attn.c_attn.weight.detach().numpy()
        for part in range(3):
            w[part * attn.n_head * d + head * d : part * attn.n_head * d + (head + 1) * d] = 0.0
        attn.c_attn.weight.copy_(ember.from_numpy(w))
        p = attn.c_proj.weight.detach().numpy()
        p[:, cols] = 0.0
        attn.c_proj.weight.copy_(ember.from_numpy(p))


@pytest.mark.parametrize("dim", [0, 1])
def test_silent_heads_are_removed_and_outputs_stay_equal(dim):
    gpt = _gpt()
    for block, head in zip(gpt.transformer.h, (1, 3)):
        _silence_head(block.attn, head)
    idx = ember.randint(0, 32, (2, 12))
    before, n_before = gpt(idx)[0].detach().numpy(), gpt.num_params()
    prune.structured(gpt, 1, dim=dim, target="heads")
    for block in gpt.transformer.h:
        a = block.attn
        assert (a.n_head, a.head_dim) == (3, 8)
        assert tuple(a.c_attn.weight.shape) == (3 * 24, 32)
        assert tuple(a.c_attn.bias.shape) == (72,)
        assert tuple(a.c_proj.weight.shape) == (32, 24)
        assert (a.c_attn.out_features, a.c_proj.in_features) == (72, 24)
        assert block.mlp.c_fc.out_features == 128  # the MLP is untouched
    assert gpt.num_params() == n_before - 2 * (3 * 8 * 32 + 3 * 8 + 8 * 32)
    np.testing.assert_allclose(gpt(idx)[0].detach().numpy(), before, rtol=1e-5, atol=1e-5)


def test_layers_keep_their_own_head_counts_and_generate_greedily_the_same():
    gpt = _gpt()
    for head in (0, 2):
        _silence_head(gpt.transformer.h[0].attn, head)
    prompt = ember.randint(0, 32, (2, 3))
    dense = gpt.generate(prompt, 20, temperature=0)
    prune.structured(gpt, 2, target="heads")  # two per layer: layer 1 loses live heads
    assert [b.attn.n_head for b in gpt.transformer.h] == [2, 2]
    pruned = prune.structured(gpt, 1, target="heads")
    assert [b.attn.n_head for b in pruned.transformer.h] == [1, 1]
    out = gpt.generate(prompt, 20, temperature=0)  # the KV cache follows each layer
    assert tuple(out.shape) == tuple(dense.shape)
    np.testing.assert_array_equal(
        np.asarray(out), np.asarray(gpt.generate(prompt, 20, temperature=0, use_cache=False))
    )


def test_target_all_prunes_heads_and_mlp_neurons_and_trains():
    gpt = _gpt().train()
    prune.structured(gpt, 0.5, target="all")
    for block in gpt.transformer.h:
        assert (block.attn.n_head, block.mlp.c_fc.out_features) == (2, 64)
    opt = ember.optim.AdamW(gpt.parameters(), lr=1e-3)
    idx = ember.randint(0, 32, (2, 12))
    _, loss = gpt(idx, idx)
    loss.backward()
    opt.step()
    assert np.isfinite(float(loss))


def test_heads_with_dropout_use_the_head_size_not_n_embd():
    ember.manual_seed(0)
    gpt = GPT(GPTConfig(block_size=8, vocab_size=16, n_layer=1, n_head=4, n_embd=16, dropout=0.1))
    prune.structured(gpt, 0.5, target="heads")
    _, loss = gpt(ember.randint(0, 16, (2, 8)), ember.randint(0, 16, (2, 8)))
    loss.backward()  # the explicit dropout path reshapes to heads * head_dim
    assert np.isfinite(float(loss))


def test_bad_targets_and_amounts_name_the_problem():
    with pytest.raises(ValueError, match="target must be one of neurons, heads, all"):
        prune.structured(_gpt(), 0.5, target="mlp")
    with pytest.raises(ValueError, match="would remove all 4 heads of 'transformer.h.0.attn'"):
        prune.structured(_gpt(), 1.0, target="heads")
    with pytest.raises(TypeError, match="nothing to shrink in Sequential"):
        prune.structured(ember.nn.Sequential(ember.nn.Linear(4, 4)), 0.5, target="heads")
    gpt = _gpt()
    prune.magnitude(gpt, 0.5)
    with pytest.raises(ValueError, match="'transformer.h.0.attn' has a magnitude mask"):
        prune.structured(gpt, 0.5, target="heads")


def test_bert_heads_are_removed_outputs_equal_and_the_folder_loads(tmp_path):
    ember.manual_seed(0)
    cfg = BertConfig(
        vocab_size=40,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    bert = Bert(cfg).eval()
    for layer in bert.encoder.layer:  # silence head 2: zero its q/k/v rows and out columns
        a = layer.attention
        with ember.no_grad():
            for proj in (a.self.query, a.self.key, a.self.value):
                w = proj.weight.detach().numpy()
                w[16:24] = 0.0
                proj.weight.copy_(ember.from_numpy(w))
            o = a.output.dense.weight.detach().numpy()
            o[:, 16:24] = 0.0
            a.output.dense.weight.copy_(ember.from_numpy(o))
    ids = ember.randint(1, 40, (2, 10))
    mask = ember.ones(2, 10, dtype=ember.int64)
    before = np.asarray(bert(ids, mask))
    prune.structured(bert, 1, target="heads")
    a = bert.encoder.layer[0].attention
    assert a.heads == 3 and tuple(a.self.query.weight.shape) == (24, 32)
    assert tuple(a.output.dense.weight.shape) == (32, 24)
    np.testing.assert_allclose(np.asarray(bert(ids, mask)), before, rtol=1e-5, atol=1e-5)
    ember.save(bert, tmp_path / "bert")
    np.testing.assert_array_equal(
        np.asarray(ember.load(tmp_path / "bert")(ids, mask)), np.asarray(bert(ids, mask))
    )
