"""ember.quant.quantize_static: conv/bn/relu fusion, calibration, swaps to int8 layers,
the digits CNN's accuracy, model-folder round trips and bad input."""

import hashlib
import json

import numpy as np
import pytest

import ember
from ember import nn
from ember.data.datasets import load_digits
from ember.models.cnn import DigitsCNN, DigitsCNNConfig
from ember.models.transforms import recorded
from ember.nn import functional as F
from ember.quant import QuantizedConv2d, quantize_static
from ember.quant.linear import QuantizedLinear
from ember.quant.static import _fold_batchnorm
from ember.serialization import ModelFileError


def small_cnn() -> nn.Sequential:
    ember.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, stride=2, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 16),
        nn.ReLU(),
        nn.Linear(16, 5),
    )
    model.train()
    with ember.no_grad():  # non-trivial running statistics for the fold
        for _ in range(4):
            model(ember.randn(16, 2, 9, 9) * 2 + 1)
    return model.eval()


def inputs(n: int = 4, seed: int = 1) -> list[ember.Tensor]:
    ember.manual_seed(seed)
    return [ember.randn(16, 2, 9, 9) * 2 + 1 for _ in range(n)]


def test_fold_batchnorm_is_exact_in_float():
    model = small_cnn()
    conv, bn = model[0], model[1]
    x = inputs(1)[0]
    with ember.no_grad():
        want = bn(conv(x)).numpy()
        _fold_batchnorm(conv, bn)
        got = conv(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("observer", ["minmax", "percentile"])
def test_sequential_cnn_close_to_fp32(observer):
    model = small_cnn()
    batches = inputs()
    q = quantize_static(model, batches, observer=observer)
    assert [type(m).__name__ for m in q] == [
        "QuantizedConv2d", "Identity", "Identity", "QuantizedConv2d", "Identity",
        "Flatten", "QuantizedLinear", "Identity", "QuantizedLinear",
    ]  # fmt: skip
    assert q[0].activation == q[3].activation == "relu" and q[8].activation is None
    assert [e["name"] for e in recorded(q)[0]["modules"]] == ["0", "3", "6", "8"]
    assert recorded(q)[0]["identity"] == ["1", "2", "4", "7"]
    assert type(model[0]) is nn.Conv2d and type(model[1]) is nn.BatchNorm2d  # a copy
    with ember.no_grad():
        for x in batches[:2] + inputs(1, seed=7):
            want, got = model(x).numpy(), q(x).numpy()
            assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()


def test_modules_selects_layers_and_inplace():
    model = small_cnn()
    q = quantize_static(model, inputs(2), modules=["3"], inplace=True)
    assert q is model
    assert [type(m).__name__ for m in q][:5] == [
        "Conv2d", "BatchNorm2d", "ReLU", "QuantizedConv2d", "Identity",
    ]  # fmt: skip
    assert isinstance(q[6], nn.Linear)


def train_digits(width: int = 8, epochs: int = 3, batch: int = 32):
    digits = load_digits(seed=0)
    ember.manual_seed(0)
    model = DigitsCNN(DigitsCNNConfig(width=width))
    opt = ember.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    x, y = digits.x_train.numpy(), digits.y_train.numpy()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x) - 1, batch):  # batch norm: no batch of one
            idx = order[i : i + batch]
            xb, yb = ember.from_numpy(np.ascontiguousarray(x[idx])), ember.from_numpy(y[idx])
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval(), digits


def accuracy(model, digits) -> float:
    with ember.no_grad():
        pred = model(digits.x_test).argmax(-1).numpy()
    return float((pred == digits.y_test.numpy()).mean())


@pytest.fixture(scope="module")
def digits_int8():
    model, digits = train_digits()
    calibration = [digits.x_train[i : i + 128] for i in range(0, 512, 128)]
    return model, quantize_static(model, calibration), digits


def test_digits_cnn_accuracy_drop(digits_int8):
    model, q, digits = digits_int8
    fp32, int8 = accuracy(model, digits), accuracy(q, digits)
    assert fp32 > 0.9
    assert int8 >= fp32 - 0.005, (fp32, int8)
    assert isinstance(q.conv1, QuantizedConv2d) and isinstance(q.fc, QuantizedLinear)
    assert isinstance(q.bn1, nn.Identity)


def test_digits_cnn_relus_fuse_into_the_int8_convs(digits_int8):
    _, q, _ = digits_int8
    for i in (1, 2, 3):
        assert getattr(q, f"conv{i}").activation == "relu"
        assert isinstance(getattr(q, f"relu{i}"), nn.Identity)


def test_digits_cnn_relu_modules_keep_fp32_outputs_and_state():
    # the ReLU submodules hold no state (model folders are unchanged) and compute exactly
    # what the functional relu did
    model = DigitsCNN(DigitsCNNConfig(width=4)).eval()
    assert set(model.state_dict()) == set(DigitsCNN.state_shapes(model.config))
    x = ember.randn(5, 1, 8, 8)
    with ember.no_grad():
        h = F.relu(model.bn1(model.conv1(x)))
        h = model.pool(F.relu(model.bn2(model.conv2(h))))
        h = F.relu(model.bn3(model.conv3(h)))
        want = model.fc(model.flatten(model.gap(h)))
        np.testing.assert_array_equal(model(x).numpy(), want.numpy())


def test_digits_cnn_save_load_round_trip(digits_int8, tmp_path):
    _, q, digits = digits_int8
    ember.save(q, tmp_path / "int8")
    back = ember.load(tmp_path / "int8")
    assert isinstance(back.conv2, QuantizedConv2d) and isinstance(back.bn2, nn.Identity)
    assert back.conv2.weight.dtype == ember.int8
    with ember.no_grad():
        np.testing.assert_array_equal(back(digits.x_test).numpy(), q(digits.x_test).numpy())


def test_tampered_scale_shape_is_a_clean_error(digits_int8, tmp_path):
    _, q, _ = digits_int8
    q.conv1.weight_scale = ember.ones(3)
    with pytest.raises(ValueError, match="no longer match"):
        ember.save(q, tmp_path / "bad")


def test_loading_a_tampered_scale_shape_is_a_clean_error(tmp_path):
    model = DigitsCNN(DigitsCNNConfig(width=4)).eval()
    folder = tmp_path / "int8"
    ember.save(quantize_static(model, [ember.randn(8, 1, 8, 8)]), folder)
    state = ember.load(folder / "model.safetensors")
    state["conv1.weight_scale"] = ember.ones(3)
    ember.save(state, folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())  # a consistent checksum
    config["weights_sha256"] = hashlib.sha256((folder / "model.safetensors").read_bytes())
    config["weights_sha256"] = config["weights_sha256"].hexdigest()
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"'conv1.weight_scale' has shape \(3,\)"):
        ember.load(folder)


def test_bad_input():
    model = small_cnn()
    with pytest.raises(ValueError, match="no calibration batches"):
        quantize_static(model, [])
    with pytest.raises(TypeError, match="iterable of batches"):
        quantize_static(model, ember.randn(2, 2, 9, 9))
    with pytest.raises(TypeError, match=r"cannot quantize '1', a BatchNorm2d"):
        quantize_static(model, inputs(1), modules=["0", "1"])
    with pytest.raises(ValueError, match="no submodule 'nope'"):
        quantize_static(model, inputs(1), modules=["nope"])
    with pytest.raises(ValueError, match="observer must be one of"):
        quantize_static(model, inputs(1), observer="mse")
    with pytest.raises(TypeError, match="calibration batch must be"):
        quantize_static(model, [np.zeros((1, 2, 9, 9), np.float32)])
    grouped = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.ReLU())
    with pytest.raises(TypeError, match=r"cannot quantize '0': a grouped Conv2d \(groups=2\)"):
        quantize_static(grouped, [ember.randn(1, 4, 5, 5)])
    with pytest.raises(ValueError, match="no nn.Conv2d or nn.Linear"):
        quantize_static(nn.Sequential(nn.ReLU()), [ember.randn(2)])

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ValueError, match="'spare' saw no input during calibration"):
        quantize_static(Unused(), [ember.randn(2, 3)])
