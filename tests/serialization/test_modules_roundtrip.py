"""Every module type in ember.nn survives ember.save(state_dict) / ember.load bit-exactly
and gives identical outputs after loading into a freshly (differently) initialized copy.
The table must name every exported Module subclass, so a new module can't be forgotten."""

import pytest

import ember
from ember import nn


class _Custom(nn.Module):
    """The base class itself: a parameter and a persistent buffer of its own."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ember.randn(3, 4))
        self.register_buffer("scale", ember.rand(4))

    def forward(self, x):
        return x @ self.w * self.scale


def _x(*shape):
    return lambda: (ember.randn(*shape),)


def _seq():
    return (ember.randn(5, 2, 4),)  # (seq, batch, features)


def _pred_target():
    return ember.rand(2, 3) * 0.8 + 0.1, ember.rand(2, 3)


def _logits_labels():
    return ember.randn(4, 5), ember.randint(0, 5, (4,))


# name -> (make the module, make its inputs)
TABLE = {
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(2), _x(1, 2, 5, 5)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(2), _x(1, 2, 5, 5)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), _x(1, 2, 4, 4)),
    "BCELoss": (lambda: nn.BCELoss(weight=ember.rand(3)), _pred_target),
    "BCEWithLogitsLoss": (
        lambda: nn.BCEWithLogitsLoss(weight=ember.rand(3), pos_weight=ember.rand(3)),
        _pred_target,
    ),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), _x(4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), _x(2, 3, 4, 4)),
    "Conv1d": (lambda: nn.Conv1d(2, 3, 3), _x(1, 2, 7)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), _x(1, 2, 5, 5)),
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(weight=ember.rand(5)), _logits_labels),
    "Dropout": (lambda: nn.Dropout(0.3), _x(3, 4)),
    "Embedding": (lambda: nn.Embedding(7, 4), lambda: (ember.randint(0, 7, (2, 3)),)),
    "Flatten": (lambda: nn.Flatten(), _x(2, 3, 4)),
    "GELU": (lambda: nn.GELU(), _x(3, 4)),
    "GRU": (lambda: nn.GRU(4, 3, num_layers=2), _seq),
    "GRUCell": (lambda: nn.GRUCell(4, 3), _x(2, 4)),
    "HuberLoss": (lambda: nn.HuberLoss(), _pred_target),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), _x(2, 4, 3)),
    "Identity": (lambda: nn.Identity(), _x(3)),
    "KLDivLoss": (
        lambda: nn.KLDivLoss(reduction="batchmean"),
        lambda: (ember.randn(2, 3).log_softmax(-1), ember.rand(2, 3)),
    ),
    "L1Loss": (lambda: nn.L1Loss(), _pred_target),
    "LSTM": (lambda: nn.LSTM(4, 3, bidirectional=True), _seq),
    "LSTMCell": (lambda: nn.LSTMCell(4, 3), _x(2, 4)),
    "LayerNorm": (lambda: nn.LayerNorm(4), _x(2, 4)),
    "Linear": (lambda: nn.Linear(4, 3), _x(2, 4)),
    "MSELoss": (lambda: nn.MSELoss(), _pred_target),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), _x(1, 2, 4, 4)),
    "Module": (_Custom, _x(2, 3)),
    "ModuleDict": (
        lambda: nn.ModuleDict({"a": nn.Linear(4, 4), "b": nn.LayerNorm(4)}),
        None,
    ),
    "ModuleList": (lambda: nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 2)]), None),
    "MultiheadAttention": (
        lambda: nn.MultiheadAttention(8, 2),
        lambda: (ember.randn(3, 2, 8), ember.randn(4, 2, 8), ember.randn(4, 2, 8)),
    ),
    "NLLLoss": (lambda: nn.NLLLoss(weight=ember.rand(5)), _logits_labels),
    "ParameterDict": (
        lambda: nn.ParameterDict({"p": nn.Parameter(ember.randn(2)), "q": ember.randn(3)}),
        None,
    ),
    "ParameterList": (
        lambda: nn.ParameterList([nn.Parameter(ember.randn(2)), ember.randn(2, 2)]),
        None,
    ),
    "RMSNorm": (lambda: nn.RMSNorm(4), _x(2, 4)),
    "RNN": (lambda: nn.RNN(4, 3, nonlinearity="relu"), _seq),
    "RNNCell": (lambda: nn.RNNCell(4, 3), _x(2, 4)),
    "ReLU": (lambda: nn.ReLU(), _x(3, 4)),
    "CELU": (lambda: nn.CELU(alpha=2.0), _x(3, 4)),
    "ELU": (lambda: nn.ELU(), _x(3, 4)),
    "GLU": (lambda: nn.GLU(), _x(3, 4)),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), _x(3, 4)),
    "Hardswish": (lambda: nn.Hardswish(), _x(3, 4)),
    "Hardtanh": (lambda: nn.Hardtanh(), _x(3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), _x(3, 4)),
    "LogSigmoid": (lambda: nn.LogSigmoid(), _x(3, 4)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), _x(3, 4)),
    "Mish": (lambda: nn.Mish(), _x(3, 4)),
    "ReLU6": (lambda: nn.ReLU6(), _x(3, 4)),
    "SELU": (lambda: nn.SELU(), _x(3, 4)),
    "Softplus": (lambda: nn.Softplus(beta=2.0), _x(3, 4)),
    "Softsign": (lambda: nn.Softsign(), _x(3, 4)),
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)), _x(3, 4)),
    "SiLU": (lambda: nn.SiLU(), _x(3, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), _x(3, 4)),
    "SmoothL1Loss": (lambda: nn.SmoothL1Loss(), _pred_target),
    "Softmax": (lambda: nn.Softmax(dim=-1), _x(3, 4)),
    "Tanh": (lambda: nn.Tanh(), _x(3, 4)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), _x(1, 2, 3, 3)),
    "TransformerDecoder": (
        lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2, nn.LayerNorm(8)),
        lambda: (ember.randn(3, 2, 8), ember.randn(4, 2, 8)),
    ),
    "Transformer": (
        lambda: nn.Transformer(8, 2, 1, 1, 16, dropout=0.0),
        lambda: (ember.randn(3, 2, 8), ember.randn(4, 2, 8)),
    ),
    "TransformerDecoderLayer": (
        lambda: nn.TransformerDecoderLayer(8, 2, 16, norm_first=True),
        lambda: (ember.randn(3, 2, 8), ember.randn(4, 2, 8)),
    ),
    "TransformerEncoder": (
        lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2),
        _x(3, 2, 8),
    ),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, 16), _x(3, 2, 8)),
}

EXPORTED = sorted(
    n
    for n in nn.__all__
    if isinstance(getattr(nn, n), type) and issubclass(getattr(nn, n), nn.Module)
)


def test_the_table_covers_every_exported_module():
    assert sorted(TABLE) == EXPORTED, (
        f"add to TABLE: {sorted(set(EXPORTED) - set(TABLE))}; "
        f"no longer exported: {sorted(set(TABLE) - set(EXPORTED))}"
    )


def _outputs(module, inputs):
    out = module(*inputs)
    flat = []
    stack = [out]
    while stack:
        o = stack.pop()
        if isinstance(o, (tuple, list)):
            stack.extend(o)
        elif o is not None:
            flat.append(o.detach().numpy())
    return flat


def _bytes(t):
    return t.numpy().tobytes()


@pytest.mark.parametrize("name", EXPORTED)
def test_round_trip(name, tmp_path):
    make, make_inputs = TABLE[name]
    ember.manual_seed(0)
    module = make()
    inputs = make_inputs() if make_inputs else None
    if inputs is not None:
        module(*inputs)  # in training mode: moves batch norm's running statistics
    module.eval()
    state = module.state_dict()
    ember.save(state, tmp_path / "m.safetensors")
    loaded = ember.load(tmp_path / "m.safetensors")
    assert sorted(loaded) == sorted(state)
    for k, v in state.items():
        assert (loaded[k].dtype, loaded[k].shape) == (v.dtype, v.shape), k
        assert _bytes(loaded[k]) == _bytes(v), k

    ember.manual_seed(1)  # different initial weights, replaced by the loaded ones
    fresh = make()
    fresh.load_state_dict(loaded)
    fresh.eval()
    if inputs is not None:
        for a, b in zip(_outputs(module, inputs), _outputs(fresh, inputs), strict=True):
            assert a.tobytes() == b.tobytes()
