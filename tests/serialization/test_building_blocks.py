"""The pieces loading is built from: Tensor.view(dtype) bit casts,
Module.load_state_dict(assign=True) and nn.init.no_init()."""

import pytest

import ember
from ember import nn
from ember.models import GPT, GPTConfig


def test_view_dtype_reinterprets_bits():
    x = ember.tensor([1.0, -2.5, 3.0e38], dtype=ember.bfloat16)
    bits = x.view(ember.float16)
    assert bits.dtype is ember.float16 and bits.data_ptr() == x.data_ptr()
    back = bits.view("bfloat16")
    assert back.float().numpy().tolist() == x.float().numpy().tolist()
    assert x.view(ember.bfloat16).dtype is ember.bfloat16
    i = ember.tensor([1.0]).view(ember.int32)
    assert i.item() == 0x3F800000


def test_view_dtype_errors():
    with pytest.raises(ValueError, match="sizes differ"):
        ember.ones(2).view(ember.float16)
    with pytest.raises(RuntimeError, match="no gradient"):
        ember.ones(2, requires_grad=True).view(ember.int32)


def test_assign_takes_the_tensors_memory_and_keeps_parameters():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    params = list(model.parameters())
    new = {k: ember.randn(*v.shape) if v.dtype.is_floating_point else v.clone()
           for k, v in model.state_dict().items()}  # fmt: skip
    model.load_state_dict(new, assign=True)
    assert list(model.parameters()) == params  # the same Parameter objects
    for k, v in model.state_dict().items():
        assert v.data_ptr() == new[k].data_ptr(), k
    assert all(p.requires_grad for p in model.parameters())


def test_assign_keeps_tied_weights_tied():
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    model = GPT(config)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state, assign=True)
    assert config.tie_weights
    assert model.lm_head.weight is model.transformer.wte.weight


def test_assign_takes_the_dtype():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({k: v.to(ember.bfloat16) for k, v in lin.state_dict().items()}, assign=True)
    assert lin.weight.dtype is ember.bfloat16


def test_no_init_skips_initializers_and_the_rng():
    ember.manual_seed(0)
    state = ember.get_rng_state()
    with nn.init.no_init():
        t = ember.zeros(4, 4)
        for init in (nn.init.normal_, nn.init.uniform_, nn.init.ones_, nn.init.zeros_,
                     nn.init.xavier_uniform_, nn.init.kaiming_normal_, nn.init.orthogonal_,
                     nn.init.trunc_normal_, nn.init.eye_):  # fmt: skip
            assert init(t) is t
        nn.Linear(8, 8)
    assert ember.get_rng_state() == state
    assert t.numpy().tolist() == [[0.0] * 4] * 4
    nn.init.ones_(t)  # back to normal outside the block
    assert t.numpy().sum() == 16
