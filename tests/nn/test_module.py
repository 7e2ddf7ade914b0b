"""Module system: registration, traversal, state_dict round trips, modes, zero_grad."""

import numpy as np
import pytest

import ember
from ember import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2, bias=False)
        self.scale = nn.Parameter(ember.ones(2))
        self.register_buffer("steps", ember.zeros((), dtype=ember.int64))
        self.register_buffer("cache", ember.zeros(3), persistent=False)
        self.note = "not a parameter"

    def forward(self, x):
        return self.fc2(self.fc1(x).relu()) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(2, 1)
        self.shared = self.block.fc1  # the same module twice


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "block.scale",
        "block.fc1.weight",
        "block.fc1.bias",
        "block.fc2.weight",
        "head.weight",
        "head.bias",
    ]
    assert len(list(net.parameters())) == 6
    assert [n for n, _ in net.named_children()] == ["block", "head", "shared"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc1", "block.fc2", "head"]
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.cache"]
    assert net.block.fc2.bias is None
    assert net.block.note == "not a parameter"
    # as in PyTorch, a shared module's tensors appear under every name in state_dict
    assert list(net.state_dict()) == [
        "block.scale",
        "block.steps",
        "block.fc1.weight",
        "block.fc1.bias",
        "block.fc2.weight",
        "head.weight",
        "head.bias",
        "shared.weight",
        "shared.bias",
    ]


def test_state_dict_round_trip_and_errors():
    a, b = Net(), Net()
    assert not np.allclose(a.head.weight.detach().numpy(), b.head.weight.detach().numpy())
    b.load_state_dict(a.state_dict())
    for (n1, t1), (n2, t2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert n1 == n2
        np.testing.assert_array_equal(t1.numpy(), t2.numpy())
    sd = a.state_dict()
    sd.pop("head.bias")
    with pytest.raises(RuntimeError, match="missing keys: 'head.bias'"):
        b.load_state_dict(sd)
    missing, unexpected = b.load_state_dict({**sd, "extra": ember.ones(1)}, strict=False)
    assert missing == ["head.bias"] and unexpected == ["extra"]
    sd = a.state_dict()
    sd["head.weight"] = ember.ones(3, 3)
    with pytest.raises(
        RuntimeError,
        match=r"size mismatch for 'head.weight': expected shape \(1, 2\), got shape \(3, 3\)",
    ):
        b.load_state_dict(sd)


def test_train_eval_zero_grad_and_call():
    net = Net()
    assert net.training and net.block.fc1.training
    net.eval()
    assert not net.training and not net.block.fc2.training
    net.train()
    assert net.block.training
    x = ember.randn(5, 4)
    y = net.block(x)
    assert y.shape == (5, 2)
    y.sum().backward()
    assert net.block.fc1.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert not net.block.fc1.weight.grad.numpy().any()
    net.zero_grad()
    assert net.block.fc1.weight.grad is None


def test_assignment_rules_and_repr():
    m = Block()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        m.scale = ember.ones(2)
    m.scale = None
    assert "scale" not in [n for n, _ in m.named_parameters()]
    m.steps = ember.ones((), dtype=ember.int64)
    assert m.state_dict()["steps"].item() == 1

    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ember.ones(1))

    with pytest.raises(AttributeError, match="super"):
        Bad()
    r = repr(Net())
    assert "(block): Block(" in r and "(fc1): Linear(in_features=4, out_features=8, bias=True)" in r


def test_to_dtype_moves_parameters_in_place(rng):
    net = Net()
    p = net.head.weight
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    x = rng.standard_normal((3, 4))
    y32 = net.block(ember.tensor(x.astype(np.float32))).detach().numpy()
    net.double()
    assert p.dtype is ember.float64 and net.head.weight is p
    assert net.block.steps.dtype is ember.int64
    # Same values, widened exactly; integer buffers keep their dtype.
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k].astype(v.numpy().dtype))
    y = net.block(ember.tensor(x))
    assert y.dtype is ember.float64
    np.testing.assert_allclose(y.detach().numpy(), y32, rtol=1e-5, atol=1e-5)


def test_parameter():
    p = nn.Parameter(ember.ones(2, 2))
    assert p.requires_grad and p.is_leaf and isinstance(p, ember.Tensor)
    assert repr(p).startswith("Parameter containing:")
    q = nn.Parameter(ember.ones(1), requires_grad=False)
    assert not q.requires_grad
    with pytest.raises(TypeError):
        nn.Parameter([1.0])


def test_set_submodule_replaces_the_module_at_a_dotted_path():
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU()))
    model.set_submodule("1.0", nn.Tanh())
    assert isinstance(model.get_submodule("1.0"), nn.Tanh)
    with pytest.raises(AttributeError, match="no submodule '7'"):
        model.set_submodule("7.0", nn.Tanh())
    with pytest.raises(ValueError, match="non-empty target"):
        model.set_submodule("", nn.Tanh())
