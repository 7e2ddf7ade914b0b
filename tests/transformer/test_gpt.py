"""ember.models.gpt: forward vs a numpy nanoGPT, loss at init, training step, KV-cached
generation against recomputation, sampling determinism, configuration and errors."""

import math

import numpy as np
import pytest
from transformer_ref import gpt_forward, params, randomize

import ember
from ember.models import GPT, GPTConfig
from ember.models.sampling import sample_next


def _cfg(**kw):
    base = {"block_size": 16, "vocab_size": 11, "n_layer": 2, "n_head": 2, "n_embd": 8}
    base.update(kw)
    return GPTConfig(**base)


def _idx(rng, b, t, v=11):
    return ember.tensor(rng.integers(0, v, size=(b, t)))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("tie", [True, False])
def test_forward_vs_numpy(rng, bias, tie):
    ember.manual_seed(0)
    cfg = _cfg(bias=bias, tie_weights=tie, n_head=4, n_embd=16)
    m = GPT(cfg)
    randomize(m, rng, scale=0.2)
    idx = _idx(rng, 3, 13)
    logits, loss = m(idx)
    assert loss is None and logits.shape == (3, 13, 11)
    ref = gpt_forward(params(m), np.asarray(idx), cfg.n_layer, cfg.n_head)
    np.testing.assert_allclose(np.asarray(logits.detach()), ref, rtol=2e-4, atol=2e-4)


def test_structure_init_and_tying():
    ember.manual_seed(0)
    cfg = _cfg(n_layer=3, n_embd=32, n_head=4, vocab_size=50)
    m = GPT(cfg)
    assert m.lm_head.weight is m.transformer.wte.weight
    keys = list(m.state_dict())
    assert keys[:2] == ["transformer.wte.weight", "transformer.wpe.weight"]
    assert "transformer.h.2.attn.c_attn.weight" in keys and keys[-1] == "lm_head.weight"
    w = np.asarray(m.transformer.h[0].mlp.c_fc.weight.detach())
    assert abs(w.std() - 0.02) < 0.003
    proj = np.concatenate(
        [np.asarray(b.attn.c_proj.weight.detach()).ravel() for b in m.transformer.h]
    )
    assert abs(proj.std() - 0.02 / math.sqrt(6)) < 0.002
    assert np.all(np.asarray(m.transformer.h[1].attn.c_attn.bias.detach()) == 0)
    n_all = sum(p.numel() for p in m.parameters())
    assert m.num_params(non_embedding=False) == n_all
    assert m.num_params() == n_all - 16 * 32
    untied = GPT(_cfg(tie_weights=False))
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    assert untied.num_params(False) == GPT(_cfg()).num_params(False) + 11 * 8


def test_loss_at_init_is_log_vocab(rng):
    ember.manual_seed(0)
    m = GPT(_cfg(vocab_size=65, n_embd=32, n_head=4))
    idx = _idx(rng, 4, 16, 65)
    _, loss = m(idx, _idx(rng, 4, 16, 65))
    assert abs(loss.item() - math.log(65)) < 0.1


def test_ignore_index_minus_one(rng):
    ember.manual_seed(0)
    m = GPT(_cfg())
    idx = _idx(rng, 2, 8)
    tgt = rng.integers(0, 11, size=(2, 8))
    logits, loss = m(idx, ember.tensor(tgt))
    tgt2 = tgt.copy()
    tgt2[:, 4:] = -1
    _, loss2 = m(idx, ember.tensor(tgt2))
    lg = np.asarray(logits.detach(), dtype=np.float64)[:, :4].reshape(-1, 11)
    lse = np.log(np.exp(lg).sum(-1))
    ref = (lse - lg[np.arange(8), tgt[:, :4].ravel()]).mean()
    assert abs(loss2.item() - ref) < 1e-5
    assert loss.item() != loss2.item()


def test_optimizer_step_lowers_loss_and_groups(rng):
    ember.manual_seed(0)
    m = GPT(_cfg(n_embd=16, n_head=2))
    opt = m.configure_optimizers(0.1, 1e-2, (0.9, 0.99))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])
    assert all(p.ndim < 2 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(m.parameters()))
    idx, tgt = _idx(rng, 4, 16), _idx(rng, 4, 16)
    _, loss0 = m(idx, tgt)
    loss0.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
    opt.step()
    opt.zero_grad()
    losses = [loss0.item()]
    for _ in range(3):
        _, loss = m(idx, tgt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert losses[1] < losses[0] and losses[-1] < losses[1]


def test_dropout_config_trains_and_eval_is_deterministic(rng):
    ember.manual_seed(0)
    m = GPT(_cfg(dropout=0.2))
    idx, tgt = _idx(rng, 2, 16), _idx(rng, 2, 16)
    _, loss = m(idx, tgt)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    m.eval()
    a = np.asarray(m(idx)[0].detach())
    b = np.asarray(m(idx)[0].detach())
    np.testing.assert_array_equal(a, b)


def test_kv_cache_logits_match_full_forward(rng):
    ember.manual_seed(1)
    m = GPT(_cfg(n_embd=16, n_head=4)).eval()
    randomize(m, rng, scale=0.2)
    idx = _idx(rng, 2, 12)
    full = np.asarray(m(idx)[0].detach())
    cfg = m.config
    d = cfg.n_embd // cfg.n_head
    caches = [
        (
            ember.empty(2, cfg.block_size, cfg.n_head, d),
            ember.empty(2, cfg.block_size, cfg.n_head, d),
        )
        for _ in range(cfg.n_layer)
    ]
    with ember.no_grad():
        x = m._hidden(idx[:, :5], caches, 0)
        np.testing.assert_allclose(m._last_logits(x), full[:, 4], rtol=1e-4, atol=1e-4)
        for pos in range(5, 12):
            x = m._hidden(idx[:, pos : pos + 1], caches, pos)
            np.testing.assert_allclose(m._last_logits(x), full[:, pos], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("prompt,new", [(1, 6), (5, 8), (10, 20), (16, 5)])
def test_generate_greedy_cache_equals_recompute(rng, prompt, new):
    ember.manual_seed(2)
    m = GPT(_cfg(n_embd=16, n_head=4))
    randomize(m, rng, scale=0.5)  # peaked logits: no near-ties for argmax
    idx = _idx(rng, 3, prompt)
    a = m.generate(idx, new, temperature=0.0)
    b = m.generate(idx, new, temperature=0.0, use_cache=False)
    assert a.shape == (3, prompt + new) and a.dtype == ember.int64
    np.testing.assert_array_equal(np.asarray(a)[:, :prompt], np.asarray(idx))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert m.training  # restored


def test_sampling_is_seeded_and_top_k_one_is_greedy(rng):
    ember.manual_seed(3)
    m = GPT(_cfg())
    randomize(m, rng, scale=0.5)
    idx = _idx(rng, 2, 3)
    ember.manual_seed(7)
    a = np.asarray(m.generate(idx, 10, temperature=0.8, top_k=4))
    ember.manual_seed(7)
    b = np.asarray(m.generate(idx, 10, temperature=0.8, top_k=4))
    np.testing.assert_array_equal(a, b)
    g = ember.Generator(11)
    c = np.asarray(m.generate(idx, 10, temperature=1.0, generator=g))
    d = np.asarray(m.generate(idx, 10, temperature=1.0, generator=ember.Generator(11)))
    np.testing.assert_array_equal(c, d)
    e = np.asarray(m.generate(idx, 10, temperature=1.3, top_k=1, use_cache=False))
    np.testing.assert_array_equal(e, np.asarray(m.generate(idx, 10, temperature=0.0)))
    assert ((a >= 0) & (a < 11)).all()


def test_sampling_distribution_follows_probabilities():
    logits = np.log(np.array([[0.1, 0.6, 0.3, 1e-12]] * 20000))
    ember.manual_seed(5)
    s = sample_next(logits, 1.0, None, None)
    freq = np.bincount(s, minlength=4) / len(s)
    np.testing.assert_allclose(freq, [0.1, 0.6, 0.3, 0.0], atol=0.015)
    s2 = sample_next(logits, 1.0, 2, None)
    assert set(np.unique(s2)) == {1, 2}


def test_config_round_trip_and_errors(rng):
    cfg = _cfg(dropout=0.1, bias=False)
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        GPTConfig.from_dict({**cfg.to_dict(), "n_heads": 2})
    with pytest.raises(ValueError, match="divisible"):
        _cfg(n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="block_size"):
        _cfg(block_size=0)
    m = GPT(_cfg())
    with pytest.raises(ValueError, match="block_size"):
        m(_idx(rng, 1, 17))
    with pytest.raises(ValueError, match="2-D integer"):
        m(ember.randn(2, 4))
    with pytest.raises(ValueError, match="targets"):
        m(_idx(rng, 2, 4), _idx(rng, 2, 5))
    with pytest.raises(ValueError, match="top_k"):
        m.generate(_idx(rng, 1, 2), 3, top_k=0)
    with pytest.raises(TypeError):
        GPT({"n_layer": 2})
    assert ember.models.REGISTRY["gpt"] == (GPT, GPTConfig)


def test_generate_attends_through_cache_views(rng, monkeypatch):
    """After the prefill, each new token runs attention with one query against zero-copy
    views of the preallocated cache (O(T) per token); crossing block_size re-prefills."""
    import ember.nn.functional as F

    calls = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, **kw):
        calls.append((q.shape[1], k.shape[1], k._base is not None, kw.get("is_causal")))
        return real(q, k, v, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    ember.manual_seed(0)
    m = GPT(_cfg(n_layer=1))
    m.generate(_idx(rng, 2, 4), 15, temperature=0.0)  # block_size 16: 4 + 12 fill it
    tq = [c[0] for c in calls]
    tk = [c[1] for c in calls]
    assert tq[0] == 4 and tk[0] == 4 and calls[0][3] is True
    assert tq[1:13] == [1] * 12 and tk[1:13] == list(range(5, 17))
    assert all(c[2] and c[3] is False for c in calls[1:13])  # views of the cache
    assert tq[13:] == [16, 16] and tk[13:] == [16, 16]  # full context: re-prefill
