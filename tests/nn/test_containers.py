"""Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict: the list/dict API,
registration (parameters, state_dict names) and repr."""

from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember import nn


def lin(i=3, o=3):
    return nn.Linear(i, o)


def test_sequential_forward_and_names(rng):
    seq = nn.Sequential(nn.Linear(4, 8), nn.Flatten(), nn.Linear(8, 2))
    x = ember.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    want = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).detach().numpy(), want.detach().numpy())
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq) == 3 and seq[-1] is seq[2]
    assert list(seq) == [seq[0], seq[1], seq[2]]
    with pytest.raises(IndexError, match="ember.nn.Sequential: index 3 is out of range"):
        seq[3]
    named = nn.Sequential(OrderedDict([("enc", lin()), ("act", nn.Identity()), ("dec", lin())]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert named.enc is named[0]


def test_sequential_slicing_and_mutation():
    a, b, c, d = lin(), lin(), lin(), lin()
    seq = nn.Sequential(a, b, c)
    s = seq[1:]
    assert isinstance(s, nn.Sequential) and list(s) == [b, c]
    assert list(s._modules) == ["1", "2"]  # PyTorch keeps the names of a slice
    seq.append(d)
    assert len(seq) == 4 and seq[3] is d
    seq.insert(0, nn.Identity())
    assert isinstance(seq[0], nn.Identity) and seq[1] is a and list(seq._modules)[-1] == "4"
    del seq[0]
    assert list(seq) == [a, b, c, d] and list(seq._modules) == ["0", "1", "2", "3"]
    assert seq.pop(1) is b and list(seq) == [a, c, d]
    seq[0] = b
    assert seq[0] is b and a not in list(seq)
    seq.extend([a])
    assert list(seq) == [b, c, d, a]
    both = nn.Sequential(a) + nn.Sequential(b)
    assert list(both) == [a, b]
    with pytest.raises(TypeError, match="is not a Module"):
        seq.insert(0, "relu")


def test_module_list():
    blocks = nn.ModuleList([lin() for _ in range(3)])
    assert len(blocks) == 3
    assert [n for n, _ in blocks.named_parameters()][:2] == ["0.weight", "0.bias"]
    assert len(list(blocks.parameters())) == 6
    extra = lin()
    blocks.append(extra)
    assert blocks[-1] is extra and blocks.index(extra) == 3
    blocks.insert(1, nn.Identity())
    assert isinstance(blocks[1], nn.Identity) and blocks[4] is extra
    assert list(blocks._modules) == ["0", "1", "2", "3", "4"]
    del blocks[1]
    assert blocks[3] is extra and len(blocks) == 4
    sub = blocks[1:3]
    assert isinstance(sub, nn.ModuleList) and list(sub) == [blocks[1], blocks[2]]
    blocks.extend([lin(), lin()])
    blocks += [lin()]
    assert len(blocks) == 7
    new = lin()
    blocks[0] = new
    assert blocks[0] is new
    assert blocks.pop() is not None and len(blocks) == 6
    with pytest.raises(NotImplementedError, match="iterate over it"):
        blocks(ember.ones(1))
    with pytest.raises(TypeError, match="expected an iterable of modules"):
        blocks.extend(lin())
    with pytest.raises(ValueError, match="is not in list"):
        blocks.index(lin())
    with pytest.raises(IndexError):
        blocks[10]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    m = Model()
    assert list(m.state_dict())[:2] == ["layers.0.weight", "layers.0.bias"]
    assert m(ember.ones(1, 2)).shape == (1, 2)


def test_module_dict():
    d = nn.ModuleDict({"a": lin(), "b": nn.Identity()})
    d["c"] = lin(3, 4)
    assert list(d) == ["a", "b", "c"] and list(d.keys()) == ["a", "b", "c"]
    assert "a" in d and "z" not in d and len(d) == 3
    assert [k for k, _ in d.items()] == ["a", "b", "c"]
    assert d.c.out_features == 4
    assert list(d.state_dict()) == ["a.weight", "a.bias", "c.weight", "c.bias"]
    popped = d.pop("b")
    assert isinstance(popped, nn.Identity) and "b" not in d
    d.update([("e", lin())])
    d.update({"f": lin()})
    assert list(d) == ["a", "c", "e", "f"]
    del d["a"]
    assert list(d) == ["c", "e", "f"]
    with pytest.raises(KeyError, match="no module named 'zz'"):
        d["zz"]
    with pytest.raises(ValueError, match="element 0 should be a"):
        d.update([lin()])
    with pytest.raises(TypeError, match="is not a Module"):
        d["g"] = 3
    d.clear()
    assert len(d) == 0 and list(d.parameters()) == []


def test_parameter_list_and_dict():
    pl = nn.ParameterList([ember.ones(2), nn.Parameter(ember.zeros(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl)
    pl.append(ember.ones(1))
    assert len(pl) == 3 and [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert pl[-1].shape == (1,) and pl[0].requires_grad
    pd = nn.ParameterDict({"w": ember.ones(2, 2)})
    pd["b"] = ember.zeros(2)
    assert list(pd) == ["w", "b"] and isinstance(pd["b"], nn.Parameter)
    assert list(pd.state_dict()) == ["w", "b"]

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = nn.ParameterList([ember.ones(2) for _ in range(2)])

    assert list(M().state_dict()) == ["ps.0", "ps.1"]
    with pytest.raises(TypeError, match="expected a Parameter or Tensor"):
        pl.append([1.0])
    assert "(0): Parameter containing: [ember.float32 of size (2,)]" in repr(pl)


def test_container_repr():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Identity())
    assert repr(seq) == (
        "Sequential(  # 9 parameters\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Identity()\n"
        ")"
    )
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.Identity()])
    assert repr(ml) == (
        "ModuleList(  # 18 parameters\n"
        "  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)\n"
        "  (3): Identity()\n"
        ")"
    )


def test_containers_match_torch_names():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    t = tn.Sequential(tn.Linear(2, 3), tn.ReLU(), tn.ModuleList([tn.Linear(3, 3)] * 2))
    e = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.ModuleList([nn.Linear(3, 3)] * 2))
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
