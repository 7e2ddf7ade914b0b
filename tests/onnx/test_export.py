"""ember.onnx.export: every exported graph passes onnx.checker and gives ember's outputs
in onnxruntime (1e-5), with dynamic axes run at other sizes than the example's."""

import io

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.models import GPT, CharLSTM, CharLSTMConfig, GPTConfig
from ember.models.cnn import DigitsCNN, DigitsCNNConfig

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def exported(model, args, **kw):
    buf = io.BytesIO()
    ember.onnx.export(model, args, buf, **kw)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    return ort.InferenceSession(buf.getvalue())


def check(model, args, runs, names=None, dynamic=None, **kw):
    """Export with args, then compare onnxruntime with ember on each tuple in runs."""
    model.eval()
    sess = exported(model, args, input_names=names, dynamic_axes=dynamic, **kw)
    feeds = [i.name for i in sess.get_inputs()]
    for run in runs:
        got = sess.run(None, {n: np.asarray(a) for n, a in zip(feeds, run)})
        with ember.no_grad():
            want = model(*run)
        want = [t for t in (want if isinstance(want, tuple) else (want,)) if t is not None]
        flat = []
        for w in want:
            flat += list(w) if isinstance(w, tuple) else [w]
        assert len(got) == len(flat)
        for g, w in zip(got, flat):
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-5)


class Fn(nn.Module):
    def __init__(self, fn, *mods):
        super().__init__()
        self.fn = fn
        self.mods = nn.ModuleList(list(mods))

    def forward(self, *xs):
        return self.fn(*xs)


def r(*shape):
    return ember.randn(*shape)


BATCH = {"input_0": [0]}

LAYERS = {
    "linear": (nn.Linear(5, 3), (4, 5), (7, 5)),
    "linear_3d": (nn.Linear(5, 3, bias=False), (2, 4, 5), (3, 4, 5)),
    "conv1d": (nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 9), (5, 3, 9)),
    "conv2d": (nn.Conv2d(4, 6, 3, padding=1, groups=2), (2, 4, 7, 7), (3, 4, 7, 7)),
    "conv2d_dilated": (nn.Conv2d(2, 3, 3, stride=2, dilation=2), (1, 2, 9, 9), (4, 2, 9, 9)),
    "maxpool": (nn.MaxPool2d(2), (2, 3, 6, 6), (3, 3, 6, 6)),
    "maxpool_pad": (nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 7), (3, 3, 7, 7)),
    "avgpool": (nn.AvgPool2d(2, stride=2, padding=1), (2, 3, 6, 6), (3, 3, 6, 6)),
    "adaptive_avgpool": (nn.AdaptiveAvgPool2d(1), (2, 3, 5, 5), (4, 3, 5, 5)),
    "batchnorm2d": (nn.BatchNorm2d(3), (2, 3, 4, 4), (5, 3, 4, 4)),
    "batchnorm1d": (nn.BatchNorm1d(3), (4, 3), (6, 3)),
    "layernorm": (nn.LayerNorm(6), (2, 3, 6), (4, 3, 6)),
    "layernorm_2d": (nn.LayerNorm((3, 6)), (2, 3, 6), (4, 3, 6)),
    "rmsnorm": (nn.RMSNorm(6), (2, 3, 6), (4, 3, 6)),
    "relu": (nn.ReLU(), (3, 4), (5, 4)),
    "gelu": (nn.GELU(), (3, 4), (5, 4)),
    "gelu_tanh": (nn.GELU(approximate="tanh"), (3, 4), (5, 4)),
    "silu": (nn.SiLU(), (3, 4), (5, 4)),
    "sigmoid": (nn.Sigmoid(), (3, 4), (5, 4)),
    "tanh": (nn.Tanh(), (3, 4), (5, 4)),
    "softmax": (nn.Softmax(dim=-1), (3, 4), (5, 4)),
    "log_softmax": (Fn(lambda x: F.log_softmax(x, 1)), (3, 4), (5, 4)),
    "dropout": (nn.Dropout(0.5), (3, 4), (5, 4)),
    "flatten": (nn.Flatten(), (2, 3, 4), (5, 3, 4)),
    "identity": (nn.Identity(), (2, 3), (4, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer(name):
    ember.manual_seed(0)
    model, shape, other = LAYERS[name]
    if isinstance(model, nn.BatchNorm2d | nn.BatchNorm1d):
        model.train()
        model(r(*shape) * 2 + 1)  # running statistics other than 0 and 1
    check(model, (r(*shape),), [(r(*shape),), (r(*other),)], dynamic=BATCH)


FUNCTIONS = {
    "arithmetic": (lambda x, y: (x + y * 2 - 1) / (y.abs() + 1) ** 2, [(2, 3, 4), (3, 4)]),
    "broadcast_compare": (lambda x, y: ember.where(x > y, x, -y).maximum(y), [(2, 3, 4), (4,)]),
    "unary": (lambda x: x.exp() + x.abs().sqrt() + x.clamp(-0.5, 0.5) - x.neg().sin(), [(3, 4)]),
    "matmul": (lambda x, y: x @ y, [(2, 3, 4), (4, 5)]),
    "batched_matmul": (lambda x, y: ember.matmul(x, y), [(2, 3, 4), (2, 4, 3)]),
    "reshape_view": (lambda x: x.reshape(x.shape[0], -1).view(x.shape[0], 3, 4), [(2, 12)]),
    "permute_transpose": (lambda x: x.permute(2, 0, 1).transpose(0, 1).contiguous(), [(2, 3, 4)]),
    "cat_split": (lambda x, y: ember.cat([x, y], 1).split(2, dim=1)[1] * 1, [(2, 3), (2, 3)]),
    "chunk_stack": (lambda x: ember.stack(x.chunk(2, dim=1), 0), [(2, 4)]),
    "slicing": (lambda x: x[:, 1:3] + x[:, -2:] + x[None, :, 0:2][0] + x[:, 3, None], [(2, 4)]),
    "reductions": (
        lambda x: (x.sum(1), x.mean(-1, keepdim=True), x.max(1)[0], x.amax((0, 1)), x.sum()),
        [(3, 4)],
    ),
    "argmax": (lambda x: x.argmax(1), [(3, 4)]),
    "expand": (lambda x: x.unsqueeze(1).expand(-1, 3, -1) * 1, [(2, 4)]),
    "masked_fill": (lambda x: x.masked_fill(x > 0, 0.0), [(2, 4)]),
    "cast": (lambda x: (x > 0).float() + x.to(ember.float64).float(), [(2, 4)]),
    "flatten_fn": (lambda x: ember.flatten(x, 1), [(2, 3, 4)]),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_tensor_ops(name):
    ember.manual_seed(1)
    fn, shapes = FUNCTIONS[name]
    args = tuple(r(*s) for s in shapes)
    # inputs sharing the first one's leading size get another batch size together
    batched = [i for i, s in enumerate(shapes) if len(s) == len(shapes[0]) and s[0] == shapes[0][0]]
    other = tuple(r(3, *s[1:]) if i in batched else r(*s) for i, s in enumerate(shapes))
    dynamic = {f"input_{i}": [0] for i in batched}
    check(Fn(fn), args, [args, other], dynamic=dynamic)


def test_embedding_dynamic_batch_and_length():
    ember.manual_seed(2)
    emb = nn.Embedding(10, 4)
    idx = ember.randint(0, 10, (2, 3))
    dyn = {"input_0": [0, 1]}
    check(emb, (idx,), [(idx,), (ember.randint(0, 10, (4, 6)),)], dynamic=dyn)


def _sdpa(causal, mask_kind):
    def fn(q, k, v):
        mask = None
        if mask_kind == "bool":
            mask = ember.tensor([[True, False, True, True], [True, True, False, True]])[:, None]
            mask = mask[:, :, None, :]  # (2, 1, 1, 4): key padding
        elif mask_kind == "float":
            mask = ember.tensor(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)

    return fn


@pytest.mark.parametrize(
    "causal,mask", [(False, None), (True, None), (False, "bool"), (False, "float")]
)
def test_scaled_dot_product_attention(causal, mask):
    ember.manual_seed(3)
    args = tuple(r(2, 3, 4, 8) for _ in range(3))
    check(Fn(_sdpa(causal, mask)), args, [args])


def test_causal_attention_follows_the_sequence_length():
    ember.manual_seed(4)
    fn = Fn(lambda q: F.scaled_dot_product_attention(q, q, q, is_causal=True, layout="BTHD"))
    dyn = {"input_0": {0: "batch", 1: "time"}}
    check(fn, (r(2, 5, 2, 4),), [(r(3, 7, 2, 4),)], dynamic=dyn)


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention(batch_first):
    ember.manual_seed(5)
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    nn.init.normal_(mha.in_proj_bias)
    shape = (2, 5, 8) if batch_first else (5, 2, 8)
    other = (3, 6, 8) if batch_first else (6, 3, 8)
    self_attn = Fn(lambda x: mha(x, x, x, need_weights=False)[0], mha)
    dyn = {"input_0": [0, 1]}
    check(self_attn, (r(*shape),), [(r(*other),)], dynamic=dyn)
    weights = Fn(lambda q, kv: mha(q, kv, kv)[0], mha)
    check(weights, (r(*shape), r(*shape)), [(r(*shape), r(*shape))])


@pytest.mark.parametrize(
    "kind,kw",
    [
        ("LSTM", {}),
        ("LSTM", {"num_layers": 2, "batch_first": True}),
        ("LSTM", {"bidirectional": True}),
        ("GRU", {}),
        ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
        ("RNN", {}),
        ("RNN", {"nonlinearity": "relu", "bias": False}),
    ],
)
def test_recurrent(kind, kw):
    ember.manual_seed(6)
    rnn = getattr(nn, kind)(4, 5, **kw)
    for name, p in rnn.named_parameters():
        if name.startswith("bias"):
            nn.init.normal_(p)  # distinct gate biases show a wrong gate order
    dyn = {"input_0": [0, 1]}
    check(rnn, (r(3, 2, 4),), [(r(3, 2, 4),), (r(6, 4, 4),)], dynamic=dyn)


def test_lstm_with_initial_state():
    ember.manual_seed(7)
    lstm = nn.LSTM(4, 5)
    args = (r(3, 2, 4), (r(1, 2, 5), r(1, 2, 5)))
    model = Fn(lambda x, h, c: lstm(x, (h, c)), lstm)
    check(model, (args[0], *args[1]), [(args[0], *args[1])])


SEQ = {"idx": {0: "batch", 1: "time"}}


def test_gpt(tmp_path):
    ember.manual_seed(8)
    model = GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=8))
    idx = ember.randint(0, 11, (2, 5))
    path = tmp_path / "gpt.onnx"
    model.eval()
    ember.onnx.export(model, (idx,), path, input_names=["idx"], dynamic_axes=SEQ)
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(str(path))
    for b, t in ((2, 5), (3, 9), (1, 16)):
        x = ember.randint(0, 11, (b, t))
        (got,) = sess.run(None, {"idx": x.numpy()})
        with ember.no_grad():
            want = model(x)[0].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not list(tmp_path.glob("*.tmp*"))


def test_gpt_untied_without_bias():
    ember.manual_seed(9)
    cfg = GPTConfig(block_size=8, vocab_size=7, n_layer=1, n_head=2, n_embd=8)
    cfg.bias, cfg.tie_weights = False, False
    model = GPT(cfg)
    idx = ember.randint(0, 7, (2, 3))
    check(model, (idx,), [(ember.randint(0, 7, (4, 8)),)], names=["idx"], dynamic=SEQ)


def test_char_lstm():
    ember.manual_seed(10)
    model = CharLSTM(CharLSTMConfig(vocab_size=11, embed_size=6, hidden_size=8, num_layers=2))
    idx = ember.randint(0, 11, (2, 5))
    runs = [(idx,), (ember.randint(0, 11, (3, 12)),)]
    check(model, (idx,), runs, names=["idx"], dynamic=SEQ)


@pytest.mark.parametrize("config", [None, DigitsCNNConfig(width=4, num_classes=3)])
def test_digits_cnn(config):
    ember.manual_seed(11)
    model = DigitsCNN(config)
    model.train()
    model(r(8, 1, 8, 8))  # running statistics
    check(model, (r(2, 1, 8, 8),), [(r(5, 1, 8, 8),)], names=["x"], dynamic={"x": [0]})


def test_params_as_inputs_and_no_folding():
    ember.manual_seed(12)
    lin = nn.Linear(3, 2)
    model = Fn(lambda x: lin(x) + lin.weight[:, :1].sum(), lin)
    model.eval()
    x = r(4, 3)
    sess = exported(model, (x,), export_params=False, do_constant_folding=False)
    names = [i.name for i in sess.get_inputs()]
    assert names == ["input_0", "mods.0.weight", "mods.0.bias"]
    feeds = {"input_0": x.numpy(), "mods.0.weight": lin.weight.detach().numpy()}
    feeds["mods.0.bias"] = lin.bias.detach().numpy()
    (got,) = sess.run(None, feeds)
    with ember.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_names_and_opsets():
    model = nn.Linear(3, 2).eval()
    for opset in (17, 18, 20):
        sess = exported(Fn(lambda x: model(x).mean(1), model), (r(2, 3),), opset_version=opset)
        assert [o.name for o in sess.get_outputs()] == ["output_0"]
    sess = exported(model, r(2, 3), input_names=["x"], output_names=["y"])
    assert [i.name for i in sess.get_inputs()] == ["x"]
    assert [o.name for o in sess.get_outputs()] == ["y"]


# ---- errors -------------------------------------------------------------------------------
class Loss(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return F.mse_loss(self.head(x), x[:, :2])


def test_unsupported_op_names_op_and_module():
    with pytest.raises(ember.onnx.ExportError, match=r"PointwiseLoss.*model's own forward"):
        ember.onnx.export(Loss(), (r(2, 3),), io.BytesIO())
    seq = nn.Sequential(nn.Linear(3, 3), Fn(lambda x: F.adaptive_avg_pool2d(x, 2)))
    with pytest.raises(ember.onnx.ExportError, match=r"adaptive_avg_pool2d.*module '1'"):
        ember.onnx.export(seq, (r(1, 3, 4, 3),), io.BytesIO())


def test_in_place_and_value_reads_are_refused():
    def inplace(x):
        x = x * 1
        x.add_(1.0)
        return x

    with pytest.raises(ember.onnx.ExportError, match="in-place"):
        ember.onnx.export(Fn(inplace), (r(2, 3),), io.BytesIO())
    with pytest.raises(ember.onnx.ExportError, match=r"item\(\)"):
        ember.onnx.export(Fn(lambda x: x * (x * 2).sum().item()), (r(2, 3),), io.BytesIO())
    with pytest.raises(ember.onnx.ExportError, match="indices"):
        ember.onnx.export(
            Fn(lambda x: F.max_pool2d(x, 2, return_indices=True)[1].float()),
            (r(1, 1, 4, 4),),
            io.BytesIO(),
        )


def test_bad_arguments():
    lin = nn.Linear(3, 2)
    x = r(2, 3)
    with pytest.raises(TypeError, match="Module"):
        ember.onnx.export(lambda x: x, (x,), io.BytesIO())
    with pytest.raises(TypeError, match="args"):
        ember.onnx.export(lin, [x], io.BytesIO())
    with pytest.raises(ValueError, match="opset_version"):
        ember.onnx.export(lin, (x,), io.BytesIO(), opset_version=11)
    with pytest.raises(ValueError, match="input_names"):
        ember.onnx.export(lin, (x,), io.BytesIO(), input_names=["a", "b"])
    with pytest.raises(ValueError, match="dynamic_axes"):
        ember.onnx.export(lin, (x,), io.BytesIO(), dynamic_axes={"nope": [0]})
    with pytest.raises(ValueError, match="out of range"):
        ember.onnx.export(lin, (x,), io.BytesIO(), dynamic_axes={"input_0": [2]})
    with pytest.raises(ValueError, match="no tensor"):
        ember.onnx.export(lin, (3,), io.BytesIO())


def test_failed_export_leaves_no_file_and_restores_the_model(tmp_path):
    path = tmp_path / "m.onnx"
    model = Loss()
    model.train()
    with pytest.raises(ember.onnx.ExportError):
        ember.onnx.export(model, (r(2, 3),), path)
    assert not path.exists() and model.training
    assert model.head(r(1, 3)).shape == (1, 2)  # the hooks are gone
    assert type(r(2, 3).shape[0]) is int
