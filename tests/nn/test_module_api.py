"""Module edge cases: assignment/deletion rules, tied parameters, state_dict options,
load_state_dict's one error, train/eval recursion, to(), apply, hooks, lookups, repr."""

import numpy as np
import pytest

import ember
from ember import nn


class TinyGPT(nn.Module):
    """Embedding and output head share one weight (weight tying)."""

    def __init__(self, vocab=11, dim=4):
        super().__init__()
        self.wte = nn.Linear(dim, vocab, bias=False)  # stands in for an embedding
        self.blocks = nn.ModuleList([nn.Linear(dim, dim) for _ in range(2)])
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        self.register_buffer("mask", ember.ones(3, 3))
        self.register_buffer("scratch", ember.zeros(2), persistent=False)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.lm_head(x)


def test_assignment_rules():
    m = nn.Module()
    m.w = nn.Parameter(ember.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("buf", ember.zeros(2))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and m.plain == 3
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'w'"):
        m.w = ember.ones(2)
    with pytest.raises(TypeError, match="cannot assign int as child module 'sub'"):
        m.sub = 1
    with pytest.raises(TypeError, match="cannot assign str as buffer 'buf'"):
        m.buf = "x"
    m.buf = ember.ones(2)  # a tensor replaces a buffer and stays a buffer
    assert "buf" in m.state_dict()
    # re-assigning a name to another kind moves it
    m.w = nn.Linear(1, 1)
    assert "w" in m._modules and "w" not in m._parameters
    m.sub = nn.Parameter(ember.zeros(1))
    assert "sub" in m._parameters and "sub" not in m._modules
    # deletion
    del m.w
    del m.buf
    del m.plain
    assert "w" not in m._modules and "buf" not in m._buffers and not hasattr(m, "plain")
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'w'"):
        _ = m.w


def test_register_errors_and_plain_attributes_before_init():
    m = nn.Module()
    m.x = 1
    with pytest.raises(KeyError, match="attribute 'x' already exists"):
        m.register_buffer("x", ember.ones(1))
    with pytest.raises(KeyError, match="must not contain a dot"):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="must not be empty"):
        m.add_module("", nn.Identity())
    with pytest.raises(TypeError, match="name must be a str"):
        m.register_buffer(3, None)
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'p'"):
        m.register_parameter("p", ember.ones(1))
    with pytest.raises(TypeError, match="is not a Module"):
        m.add_module("q", 5)

    class Early(nn.Module):
        def __init__(self):
            self.config = {"a": 1}  # plain attributes are fine before super().__init__
            super().__init__()
            self.fc = nn.Linear(1, 1)

    assert Early().config == {"a": 1}

    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_persistence_toggles():
    m = nn.Module()
    m.register_buffer("b", ember.ones(1), persistent=False)
    assert "b" not in m.state_dict() and [n for n, _ in m.named_buffers()] == ["b"]
    m.register_buffer("b", ember.ones(1))  # re-registering as persistent
    assert "b" in m.state_dict()


def test_tied_parameters():
    g = TinyGPT()
    assert g.lm_head.weight is g.wte.weight
    names = [n for n, _ in g.named_parameters()]
    assert names == [
        "wte.weight",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
    ]
    assert len(list(g.parameters())) == 5
    assert g.num_parameters() == 11 * 4 + 2 * (4 * 4 + 4)
    all_names = [n for n, _ in g.named_parameters(remove_duplicate=False)]
    assert "lm_head.weight" in all_names
    sd = g.state_dict()
    assert "lm_head.weight" in sd and "wte.weight" in sd and "scratch" not in sd
    # loading keeps the tie and writes in place
    other = TinyGPT()
    w = other.wte.weight
    ptr = w.data_ptr()
    other.load_state_dict(sd)
    assert other.lm_head.weight is other.wte.weight is w and w.data_ptr() == ptr
    np.testing.assert_array_equal(w.detach().numpy(), g.wte.weight.detach().numpy())


def test_state_dict_options():
    g = TinyGPT()
    sd = g.state_dict()
    assert not sd["wte.weight"].requires_grad
    sd["blocks.0.bias"].fill_(7.0)  # detached but sharing memory
    np.testing.assert_array_equal(g.blocks[0].bias.detach().numpy(), 7.0)
    kv = g.state_dict(keep_vars=True)
    assert kv["blocks.0.bias"] is g.blocks[0].bias
    pre = g.state_dict(prefix="model.")
    assert list(pre) == ["model." + k for k in sd]


def test_load_state_dict_reports_everything_at_once():
    g = TinyGPT()
    sd = dict(g.state_dict())
    sd.pop("blocks.1.bias")
    sd["extra.weight"] = ember.ones(1)
    sd["blocks.0.weight"] = ember.ones(5, 4)
    with pytest.raises(RuntimeError) as err:
        TinyGPT().load_state_dict(sd)
    msg = str(err.value)
    assert "for TinyGPT" in msg
    assert "missing keys: 'blocks.1.bias'" in msg
    assert "unexpected keys: 'extra.weight'" in msg
    assert "size mismatch for 'blocks.0.weight': expected shape (4, 4), got shape (5, 4)" in msg
    # strict=False tolerates missing/unexpected keys but never a shape mismatch
    with pytest.raises(RuntimeError, match="size mismatch") as err:
        TinyGPT().load_state_dict(sd, strict=False)
    assert "missing keys" not in str(err.value)
    sd["blocks.0.weight"] = g.blocks[0].weight.detach()
    target = TinyGPT()
    res = target.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["blocks.1.bias"] and res.unexpected_keys == ["extra.weight"]
    missing, unexpected = res
    assert missing == ["blocks.1.bias"]
    np.testing.assert_array_equal(
        target.blocks[0].weight.detach().numpy(), g.blocks[0].weight.detach().numpy()
    )
    with pytest.raises(TypeError, match="expected a mapping"):
        target.load_state_dict([1, 2])


def test_load_state_dict_converts_values():
    lin = nn.Linear(3, 2)
    w = np.arange(6, dtype=np.float64).reshape(2, 3)
    lin.load_state_dict({"weight": w, "bias": ember.tensor([1.0, 2.0], dtype=ember.float64)})
    assert lin.weight.dtype is ember.float32
    np.testing.assert_array_equal(lin.weight.detach().numpy(), w.astype(np.float32))
    assert lin.weight.is_leaf and lin.weight.requires_grad


def test_train_eval_recurse_through_overrides():
    calls = []

    class Custom(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    seq = nn.Sequential(nn.Linear(1, 1), Custom())
    assert seq.eval() is seq
    assert calls == [False] and not seq[0].training and not seq[1].training
    seq.train()
    assert calls == [False, True] and seq[1].training
    with pytest.raises(ValueError, match="mode must be a bool"):
        seq.train("no")


def test_requires_grad_apply_and_zero_grad():
    g = TinyGPT()
    g.requires_grad_(False)
    assert not any(p.requires_grad for p in g.parameters())
    g.blocks.requires_grad_()
    assert [n for n, p in g.named_parameters() if p.requires_grad] == [
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
    ]
    order = []
    g.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Linear", "Linear", "Linear", "ModuleList", "Linear", "TinyGPT"]

    def init_weights(m):
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    g.apply(init_weights)
    assert not g.blocks[1].bias.detach().numpy().any()
    out = g(ember.randn(2, 4)).sum()
    out.backward()
    assert g.blocks[0].weight.grad is not None and g.wte.weight.grad is None
    g.zero_grad(set_to_none=False)
    assert not g.blocks[0].weight.grad.numpy().any()
    g.zero_grad()
    assert g.blocks[0].weight.grad is None


def test_to_keeps_identity_and_ties():
    g = TinyGPT()
    g.register_buffer("step", ember.zeros((), dtype=ember.int64))
    w = g.wte.weight
    g(ember.randn(2, 4)).sum().backward()
    g.to(ember.float64)
    assert g.wte.weight is w and g.lm_head.weight is w and w.dtype is ember.float64
    assert g.blocks[0].weight.grad.dtype is ember.float64
    assert g.mask.dtype is ember.float64 and g.step.dtype is ember.int64
    assert g(ember.randn(2, 4, dtype=ember.float64)).dtype is ember.float64
    g.float()
    assert w.dtype is ember.float32
    g.to(ember.zeros(1, dtype=ember.float64))
    assert w.dtype is ember.float64
    g.to("cpu", dtype=ember.float32)
    assert w.dtype is ember.float32
    with pytest.raises(TypeError, match="only floating point dtypes"):
        g.to(ember.int32)


def test_lookups():
    g = TinyGPT()
    assert g.get_submodule("blocks.1") is g.blocks[1]
    assert g.get_submodule("") is g
    assert g.get_parameter("blocks.0.bias") is g.blocks[0].bias
    assert g.get_buffer("mask") is g.mask
    with pytest.raises(AttributeError, match="ModuleList has no submodule '7'"):
        g.get_submodule("blocks.7")
    with pytest.raises(AttributeError, match="Linear has no parameter 'gamma'"):
        g.get_parameter("blocks.0.gamma")
    assert "blocks" in dir(g) and "mask" in dir(g)


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0.0,))
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append(out.shape) or out + 1.0)
    x = ember.ones(3, 2)
    y = lin(x)
    np.testing.assert_allclose(
        y.detach().numpy(), (lin.bias.detach().numpy() + 1.0)[None].repeat(3, 0)
    )
    assert seen == [(3, 2)]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(lin(x).detach().numpy(), lin.forward(x).detach().numpy())
    with lin.register_forward_hook(lambda m, a, o: o * 0.0):
        assert not lin(x).detach().numpy().any()
    assert lin(x).detach().numpy().any()


def test_repr_layout_and_count():
    g = TinyGPT()
    r = repr(g)
    lines = r.split("\n")
    assert lines[0] == "TinyGPT(  # 84 parameters"
    assert lines[1] == "  (wte): Linear(in_features=4, out_features=11, bias=False)"
    assert lines[2] == "  (blocks): ModuleList("
    assert lines[3] == "    (0-1): 2 x Linear(in_features=4, out_features=4, bias=True)"
    assert lines[-1] == ")"
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"

    class Big(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(1000, 800)

    assert repr(Big()).split("\n")[0] == "Big(  # 0.80M parameters"


def test_matches_torch_structure():
    torch = pytest.importorskip("torch")
    tn = torch.nn

    class TinyGPT(tn.Module):
        def __init__(self):
            super().__init__()
            self.wte = tn.Linear(4, 11, bias=False)
            self.blocks = tn.ModuleList([tn.Linear(4, 4) for _ in range(2)])
            self.lm_head = tn.Linear(4, 11, bias=False)
            self.lm_head.weight = self.wte.weight
            self.register_buffer("mask", torch.ones(3, 3))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)

    t, e = TinyGPT(), globals()["TinyGPT"]()
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    # a torch state dict loads into the ember model
    e.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    np.testing.assert_array_equal(e.lm_head.weight.detach().numpy(), t.wte.weight.detach().numpy())
    # the repr layout is torch's, plus the parameter count on the top line
    tr = repr(t).split("\n")
    er = repr(e).split("\n")
    assert er[0].split("  #")[0] == tr[0] and er[1:] == tr[1:]


def test_deepcopy():
    import copy

    g = TinyGPT()
    g(ember.randn(2, 4)).sum().backward()
    c = copy.deepcopy(g)
    assert type(c) is TinyGPT and c.blocks[0] is not g.blocks[0]
    assert c.lm_head.weight is c.wte.weight and c.wte.weight is not g.wte.weight
    assert isinstance(c.wte.weight, nn.Parameter) and c.wte.weight.requires_grad
    assert c.blocks[0].weight.grad is not None
    for (k, a), b in zip(g.state_dict().items(), c.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    with ember.no_grad():
        c.blocks[0].bias.fill_(3.0)
    assert not (g.blocks[0].bias.detach().numpy() == 3.0).all()
    assert "scratch" in dict(c.named_buffers())
