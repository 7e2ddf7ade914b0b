"""nn.Transformer against torch.nn.Transformer with the same weights: state_dict keys,
outputs (1e-5), masks, and the causal-mask helper; plus RNN.flatten_parameters and DDP."""

import numpy as np
import pytest

import ember
import ember.nn as nn


def _pair(torch, **kw):
    torch.manual_seed(0)
    theirs = torch.nn.Transformer(**kw).eval()
    ours = nn.Transformer(**kw).eval()
    ours.load_state_dict({k: ember.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def test_state_dict_keys_equal_torch():
    torch = pytest.importorskip("torch")
    kw = {"d_model": 16, "nhead": 4, "num_encoder_layers": 2, "num_decoder_layers": 1}
    ours, theirs = nn.Transformer(**kw), torch.nn.Transformer(**kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "encoder.layers.0.self_attn.in_proj_weight" in ours.state_dict()
    for k, v in theirs.state_dict().items():
        assert tuple(ours.state_dict()[k].shape) == tuple(v.shape), k


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"batch_first": True, "norm_first": True},
        {"activation": "gelu", "bias": False},
    ],
)
def test_outputs_match_torch(kw):
    torch = pytest.importorskip("torch")
    args = {"d_model": 16, "nhead": 4, "num_encoder_layers": 2, "num_decoder_layers": 2}
    args |= {"dim_feedforward": 32, **kw}
    ours, theirs = _pair(torch, **args)
    rng = np.random.default_rng(1)
    S, T, N = 5, 4, 3
    shape = (lambda L: (N, L, 16)) if args.get("batch_first") else (lambda L: (L, N, 16))
    src = rng.standard_normal(shape(S)).astype(np.float32)
    tgt = rng.standard_normal(shape(T)).astype(np.float32)
    pad = np.zeros((N, S), dtype=bool)
    pad[1, -2:] = True
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(T), tgt_mask)
    with torch.no_grad():
        ref = theirs(
            torch.tensor(src),
            torch.tensor(tgt),
            tgt_mask=tgt_mask,
            src_key_padding_mask=torch.tensor(pad),
            memory_key_padding_mask=torch.tensor(pad),
        ).numpy()
    out = ours(
        ember.tensor(src),
        ember.tensor(tgt),
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(T),
        src_key_padding_mask=ember.tensor(pad),
        memory_key_padding_mask=ember.tensor(pad),
    )
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-5, rtol=1e-5)


def test_subclass_as_word_language_model_does():
    # pytorch/examples word_language_model: subclass, then replace the decoder
    class TransformerModel(nn.Transformer):
        def __init__(self, ntoken, ninp):
            super().__init__(d_model=ninp, nhead=2, dim_feedforward=8, num_encoder_layers=1)
            self.input_emb = nn.Embedding(ntoken, ninp)
            self.decoder = nn.Linear(ninp, ntoken)

        def forward(self, src):
            mask = self.generate_square_subsequent_mask(len(src))
            return self.decoder(self.encoder(self.input_emb(src), mask=mask))

    out = TransformerModel(10, 4)(ember.randint(0, 10, (6, 2)))
    assert tuple(out.shape) == (6, 2, 10)
    out.sum().backward()


def test_causal_mask_and_errors():
    m = nn.Transformer.generate_square_subsequent_mask(3)
    expected = [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]]
    np.testing.assert_array_equal(m.numpy(), expected)
    assert m.dtype == ember.float32
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=ember.float64).dtype == (
        ember.float64
    )
    with pytest.raises(ValueError, match="sz"):
        nn.Transformer.generate_square_subsequent_mask(-1)
    t = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ValueError, match="batch sizes"):
        t(ember.randn(3, 2, 8), ember.randn(3, 4, 8))
    with pytest.raises(ValueError, match="d_model=8"):
        t(ember.randn(3, 2, 6), ember.randn(3, 2, 6))


def test_custom_encoder_and_decoder_are_used():
    class Enc(nn.Module):
        def forward(self, src, **kw):
            return src * 3

    class Dec(nn.Module):
        def forward(self, tgt, memory, **kw):
            return tgt + memory

    enc = Enc()
    t = nn.Transformer(8, 2, custom_encoder=enc, custom_decoder=Dec())
    assert t.encoder is enc and list(t.state_dict()) == []
    x = ember.ones(2, 1, 8)
    np.testing.assert_array_equal(t(x, x).numpy(), 4 * np.ones((2, 1, 8)))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_flatten_parameters_is_a_no_op(cls):
    m = cls(3, 4)
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    assert m.flatten_parameters() is None
    assert all(np.array_equal(before[k], v.numpy()) for k, v in m.state_dict().items())


def test_ddp_needs_a_process_group():
    from ember.nn.parallel import DistributedDataParallel as DDP

    assert nn.parallel.DistributedDataParallel is DDP
    with pytest.raises(ValueError, match="process group has not been initialized"):
        DDP(nn.Linear(2, 2), device_ids=[0])
