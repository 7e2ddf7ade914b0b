"""ember.save / ember.load of state dicts and nested training state: plain safetensors
files, exact structure, dtypes, devices, file objects, and clear errors."""

import io
import math
import os

import numpy as np
import pytest
import safetensors.numpy

import ember
from ember import nn
from ember.serialization import ModelFileError


def _same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, ember.Tensor):
        assert (a.dtype, a.shape) == (b.dtype, b.shape)
        assert (
            a.view(ember.float16).numpy().tobytes() == b.view(ember.float16).numpy().tobytes()
            if a.dtype is ember.bfloat16
            else a.numpy().tobytes() == (b.numpy().tobytes())
        )
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_a_state_dict_is_a_plain_safetensors_file(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    state = model.state_dict()
    ember.save(state, tmp_path / "w.safetensors")
    theirs = safetensors.numpy.load_file(tmp_path / "w.safetensors")
    assert sorted(theirs) == sorted(state)
    for k, v in state.items():
        np.testing.assert_array_equal(theirs[k], v.numpy())
    ours = ember.load(tmp_path / "w.safetensors")
    assert sorted(ours) == sorted(state)
    for k in state:
        _same(ours[k], state[k])


def test_nested_state_rebuilds_exactly(tmp_path):
    shared = ember.randn(3)
    obj = {
        "epoch": 3,
        "lr": 0.1,
        "name": "run/../x",
        "flags": [True, False, None],
        "pair": (1, (2.5, "a")),
        "by_int": {0: ember.ones(2), 7: {"x": shared}},
        "inf": [float("inf"), float("-inf"), float("nan")],
        "half": ember.randn(2, 3).to(ember.bfloat16),
        "ints": ember.tensor([1, -2], dtype=ember.int8),
        "mask": ember.tensor([True, False]),
        "empty": ember.zeros(0, 3),
        "scalar": ember.tensor(2.0),
        "again": shared,
        "../../etc/passwd": ember.ones(1),
        "nothing": {},
    }
    ember.save(obj, tmp_path / "s.safetensors")
    back = ember.load(tmp_path / "s.safetensors")
    _same(back, obj)
    assert back["again"] is back["by_int"][7]["x"]  # a shared tensor stays shared


def test_path_like_names_are_only_keys(tmp_path):
    state = {"../x": ember.ones(2), "/etc/passwd": ember.zeros(1), "a/b": ember.ones(1)}
    ember.save(state, tmp_path / "w.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
    assert sorted(ember.load(tmp_path / "w.safetensors")) == sorted(state)


def test_file_objects(tmp_path):
    obj = {"w": ember.randn(2, 2), "step": 4}
    buf = io.BytesIO()
    ember.save(obj, buf)
    buf.seek(0)
    _same(ember.load(buf), obj)
    with open(tmp_path / "f.safetensors", "wb") as f:
        ember.save(obj, f)
    with open(tmp_path / "f.safetensors", "rb") as f:
        _same(ember.load(f), obj)
    with pytest.raises(ValueError, match="mmap=True needs a path"):
        ember.load(io.BytesIO(buf.getvalue()), mmap=True)


@pytest.mark.parametrize(
    "obj, where, kind",
    [
        ({"a": lambda: 0}, "obj.a", "function"),
        ({"a": [1, object()]}, r"obj.a\[1\]", "object"),
        ({"a": {(1, 2): 3}}, "obj.a", "key"),
        ({"m": nn.Linear(2, 2)}, "obj.m", "Linear"),
        ({1.5: 2}, "obj", "key"),
    ],
)
def test_unknown_types_are_a_type_error_naming_where(obj, where, kind, tmp_path):
    with pytest.raises(TypeError, match=kind) as e:
        ember.save(obj, tmp_path / "x.safetensors")
    assert where.replace("\\", "") in str(e.value)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_an_unregistered_module_points_to_its_state_dict(tmp_path):
    with pytest.raises(TypeError, match="Linear is not a registered architecture.*state_dict"):
        ember.save(nn.Linear(2, 2), tmp_path / "m")


def test_dtype_converts_floating_tensors_only(tmp_path):
    state = {"w": ember.randn(4), "i": ember.tensor([1, 2]), "b": ember.tensor([True])}
    ember.save(state, tmp_path / "w.safetensors")
    for dtype, want in [("bfloat16", ember.bfloat16), ("float16", ember.float16),
                        ("float32", ember.float32), (ember.bfloat16, ember.bfloat16)]:  # fmt: skip
        out = ember.load(tmp_path / "w.safetensors", dtype=dtype)
        assert out["w"].dtype is want
        assert out["i"].dtype is ember.int64 and out["b"].dtype is ember.bool
        np.testing.assert_allclose(out["w"].float().numpy(), state["w"].numpy(), rtol=1e-2)
    for bad in ["bf16", "int32", ember.int64, 3, "float"]:
        with pytest.raises(ValueError, match="'float32', 'bfloat16'"):
            ember.load(tmp_path / "w.safetensors", dtype=bad)


def test_bfloat16_loads_zero_copy_with_mmap(tmp_path):
    w = ember.randn(64, 64).to(ember.bfloat16)
    ember.save({"w": w}, tmp_path / "w.safetensors")
    out = ember.load(tmp_path / "w.safetensors", mmap=True)["w"]
    assert out.dtype is ember.bfloat16
    _same(out, w)
    out.mul_(2)  # copy-on-write: private to this process
    assert ember.load(tmp_path / "w.safetensors")["w"].float().numpy().tolist() == (
        w.float().numpy().tolist()
    )


def test_map_location_and_weights_only(tmp_path):
    ember.save({"w": ember.ones(2)}, tmp_path / "w.safetensors")
    for loc in (None, "cpu", ember.device("cpu")):
        for weights_only in (True, False):
            out = ember.load(
                tmp_path / "w.safetensors", map_location=loc, weights_only=weights_only
            )
            assert out["w"].device == ember.device("cpu")
    with pytest.raises(TypeError, match="map_location"):
        ember.load(tmp_path / "w.safetensors", map_location=3)
    if not ember.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            ember.load(tmp_path / "w.safetensors", map_location="cuda")


def test_a_folder_without_config_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="without config.json"):
        ember.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "missing.safetensors")


def _train(model, opt, sched, steps, seed):
    ember.manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = ember.randn(8, 4)
        loss = ((model(x) - x.sum(dim=1, keepdim=True)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().tobytes() for p in model.parameters()]


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: ember.optim.Adam(p, lr=0.01),
        lambda p: ember.optim.AdamW(p, lr=0.01, weight_decay=0.1),
        lambda p: ember.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
        lambda p: ember.optim.RMSprop(p, lr=0.01, momentum=0.5),
        lambda p: ember.optim.Adagrad(p, lr=0.05),
    ],
)
def test_optimizer_and_scheduler_resume_identically(make_opt, tmp_path):
    def fresh():
        ember.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = make_opt(model.parameters())
        sched = ember.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        return model, opt, sched

    model, opt, sched = fresh()
    _train(model, opt, sched, 3, seed=1)
    ember.save(
        {
            "model": model.state_dict(),
            "optim": opt.state_dict(),
            "sched": sched.state_dict(),
            "epoch": 3,
        },  # fmt: skip
        tmp_path / "ckpt.safetensors",
    )
    straight = _train(model, opt, sched, 4, seed=2)

    model2, opt2, sched2 = fresh()
    ckpt = ember.load(tmp_path / "ckpt.safetensors")
    assert ckpt["epoch"] == 3
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    sched2.load_state_dict(ckpt["sched"])
    assert _train(model2, opt2, sched2, 4, seed=2) == straight


def test_tree_files_from_a_newer_ember_are_refused(tmp_path):
    from ember.serialization import save_tensors

    save_tensors(
        tmp_path / "new.safetensors",
        {},
        {"format": "ember.tree/9", "ember_version": "9.0.0", "tree": "{}"},
    )
    with pytest.raises(ModelFileError, match=r"ember.tree/9 by ember 9.0.0.*reads up to"):
        ember.load(tmp_path / "new.safetensors")


@pytest.mark.parametrize(
    "tree, reason",
    [
        ('{"__tensor__": "nope"}', "lacks"),
        ("{", "not valid JSON"),
        ('{"a": 1}', "never refers"),
    ],
)
def test_damaged_skeletons(tree, reason, tmp_path):
    from ember.serialization import save_tensors

    save_tensors(tmp_path / "t.safetensors", {"x": ember.ones(1)},
                 {"format": "ember.tree/1", "tree": tree})  # fmt: skip
    with pytest.raises(ModelFileError, match=reason):
        ember.load(tmp_path / "t.safetensors")


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.safetensors")
    for path in (tmp_path / "pipe.safetensors", "/dev/zero"):
        for mmap in (False, True):
            with pytest.raises(ModelFileError, match="not a regular file"):
                ember.load(path, mmap=mmap)
