"""ember.train.Trainer: the loop, logging, checkpoints, bit-exact resume, Ctrl-C,
early stopping, progress bar and plot."""

import io
import json
import os

import numpy as np
import pytest

import ember
from ember import nn, optim
from ember.data import DataLoader, TensorDataset
from ember.data.datasets import CharDataset
from ember.nn import functional as F
from ember.train import Callback, Trainer, fit, latest_checkpoint, load_file, load_weights
from ember.train.interrupt import SigintGuard


class Net(nn.Module):
    """Linear-relu-linear with dropout made from ember.rand (uses the global RNG)."""

    def __init__(self, n_in=4, n_out=3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, 16)
        self.fc2 = nn.Linear(16, n_out)
        self.n_out = n_out

    def forward(self, x):
        h = F.relu(self.fc1(x))
        if self.training:
            h = h * (ember.rand(*h.shape) > 0.25).float() * (1 / 0.75)
        return self.fc2(h)


def ce(out, y):
    return -(F.log_softmax(out, -1) * F.one_hot(y, out.shape[-1])).sum() / out.shape[0]


def accuracy(model, batch):
    x, y = batch
    return float((np.asarray(model(x)).argmax(-1) == np.asarray(y)).mean())


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)).astype(np.int64)
    return x, y


def make(data, out_dir=None, max_steps=20, resume=None, seed=0, **kw):
    x, y = data
    ember.manual_seed(seed)
    model = Net()
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=1e-3)
    kw.setdefault("train_data", DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True))
    kw.setdefault("eval_data", DataLoader(TensorDataset(x, y), batch_size=32))
    return Trainer(
        model,
        opt,
        criterion=ce,
        scheduler=sched,
        max_steps=max_steps,
        out_dir=out_dir,
        resume=resume,
        progress=False,
        plot=False,
        clip_grad_norm=1.0,
        **kw,
    )


def weights(model):
    return {k: np.asarray(v).copy() for k, v in model.state_dict().items()}


def assert_bitwise(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_fit_learns_and_logs(data, tmp_path):
    t = make(data, tmp_path, max_steps=30, eval_every=10, metric_fn=accuracy, log_every=5)
    first = t.evaluate()["eval_loss"]
    res = t.fit()
    assert res["step"] == 30 and res["eval"]["eval_loss"] < first
    assert 0.0 <= res["eval"]["eval_metric"] <= 1.0
    recs = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [r["step"] for r in recs] == [5, 10, 15, 20, 25, 30]
    for r in recs:
        assert {"step", "epoch", "loss", "lr", "throughput", "unit", "elapsed"} <= set(r)
        assert r["unit"] == "samples/s" and r["throughput"] > 0
    assert all("eval_loss" in r for r in recs if r["step"] % 10 == 0)
    assert recs[0]["lr"] > recs[-1]["lr"]  # the cosine schedule stepped per step
    best = tmp_path / "best.safetensors"
    assert best.is_file() and res["best_step"] in (10, 20, 30)
    ember.manual_seed(1)
    other = Net()
    load_weights(best, other)
    t.restore_best()
    assert_bitwise(weights(other), weights(t.model))


def test_checkpoint_file_is_safetensors_json_not_pickle(data, tmp_path):
    t = make(data, tmp_path, max_steps=6, checkpoint_every=2, keep_checkpoints=2)
    t.fit()
    files = sorted(os.listdir(tmp_path / "checkpoints"))
    assert files == ["step_00000004.safetensors", "step_00000006.safetensors"]
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_00000006.safetensors"
    raw = (tmp_path / "checkpoints" / files[-1]).read_bytes()
    assert b"pickle" not in raw and b"\x80\x04" not in raw[:16]
    arrays, meta = load_file(tmp_path / "checkpoints" / files[-1])
    assert meta["step"] == 6 and {"ember", "numpy", "python"} <= set(meta["rng"])
    assert any(k.startswith("model.fc1") for k in arrays)
    assert any(k.startswith("optim.0.exp_avg") for k in arrays)
    assert meta["scheduler"]["type"] == "CosineAnnealingLR"
    assert meta["train_data"]["data"]["epoch"] == 0
    assert not [f for f in os.listdir(tmp_path / "checkpoints") if f.endswith(".tmp")]
    with pytest.raises(ValueError, match="not an ember checkpoint|not a readable"):
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"garbage")
        load_file(bad)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    from ember.train import checkpoint as ck

    path = tmp_path / "c.safetensors"
    ck.save_file(path, {"a": np.arange(3.0)}, {"step": 1})

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        ck.save_file(path, {"a": np.arange(5.0)}, {"step": 2})
    monkeypatch.undo()
    arrays, meta = ck.load_file(path)
    assert meta["step"] == 1 and len(arrays["a"]) == 3
    assert os.listdir(tmp_path) == ["c.safetensors"]


def test_resume_is_bit_exact(data, tmp_path):
    x, y = data

    def run(out, steps, **kw):
        # a shuffled eval loader read 2 batches at a time: its position is state too
        ev = DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, generator=5)
        return make(data, out, max_steps=steps, eval_every=4, eval_steps=2, eval_data=ev, **kw)

    straight = run(tmp_path / "a", 20, checkpoint_every=5)
    straight.fit()
    first = run(tmp_path / "b", 10, checkpoint_every=5)
    first.fit()
    # a different seed and a fresh model: everything must come from the checkpoint
    second = run(tmp_path / "b", 20, resume=True, seed=123)
    res = second.fit()
    assert res["step"] == 20
    assert_bitwise(weights(straight.model), weights(second.model))
    evals = [(r["step"], r["eval_loss"]) for r in straight.history if r["step"] > 10]
    assert evals and evals == [(r["step"], r["eval_loss"]) for r in second.history]
    assert straight.last_eval == second.last_eval
    assert second.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    # an explicit path, and a missing one
    third = run(tmp_path / "c", 20, resume=first.last_checkpoint, seed=9)
    third.fit()
    assert_bitwise(weights(straight.model), weights(third.model))
    with pytest.raises(FileNotFoundError):
        make(data, tmp_path / "d", resume=tmp_path / "nope.safetensors").fit()


def test_resume_with_grad_accum_and_callable_data(tmp_path):
    ds = CharDataset("to be or not to be, that is the question " * 4, block_size=6)
    v = ds.vocab_size

    class Bigram(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Parameter(ember.randn(v, 8) * 0.1)
            self.head = nn.Linear(8, v)

        def forward(self, idx):
            h = F.embedding(idx, self.emb)
            if self.training:
                h = h * (ember.rand(*h.shape) > 0.1).float()
            return self.head(h)

    def lm_loss(model, batch):
        x, y = batch
        return ce(model(x).reshape(-1, v), y.reshape(-1))

    def run(out, steps, resume=None):
        ember.manual_seed(0)
        model = Bigram()
        opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        t = Trainer(
            model,
            opt,
            ds.batches(4, generator=7),
            loss_fn=lm_loss,
            max_steps=steps,
            grad_accum_steps=2,
            tokens_per_batch=4 * 6,
            out_dir=out,
            resume=resume,
            progress=False,
            plot=False,
            log_every=2,
        )
        t.fit()
        return t

    a = run(tmp_path / "a", 8)
    run(tmp_path / "b", 4)
    b = run(tmp_path / "b", 8, resume=True)
    assert_bitwise(weights(a.model), weights(b.model))
    rec = json.loads(open(tmp_path / "a" / "log.jsonl").readline())
    assert rec["unit"] == "tokens/s"


def test_keyboard_interrupt_saves_and_resumes(data, tmp_path):
    straight = make(data, tmp_path / "a", max_steps=20)
    straight.fit()

    def stop_at_7(trainer):
        if trainer.step == 7:
            raise KeyboardInterrupt

    t = make(data, tmp_path / "b", max_steps=20, callbacks=[stop_at_7])
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert t.interrupt_checkpoint.name == "step_00000007.safetensors"
    resumed = make(data, tmp_path / "b", max_steps=20, resume=True, seed=5)
    resumed.fit()
    assert_bitwise(weights(straight.model), weights(resumed.model))

    # interrupted inside the loss of step 5: the checkpoint is the state after step 4
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return ce(model(batch[0]), batch[1])

    x, y = data
    ember.manual_seed(0)
    model = Net()
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=1e-3)
    dl = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    kw = dict(scheduler=sched, max_steps=20, progress=False, plot=False, clip_grad_norm=1.0)
    kw["eval_data"] = DataLoader(TensorDataset(x, y), batch_size=32)
    t = Trainer(model, opt, dl, loss_fn=loss_fn, out_dir=tmp_path / "c", **kw)
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert t.step == 4 and t.interrupt_checkpoint.name == "step_00000004.safetensors"
    resumed = make(data, tmp_path / "c", max_steps=20, resume=True, seed=5)
    resumed.fit()
    assert_bitwise(weights(straight.model), weights(resumed.model))


def test_grad_accum_matches_big_batch(data):
    x, y = data

    class Plain(Net):
        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))

    def run(bs, accum):
        ember.manual_seed(0)
        m = Plain()
        opt = optim.SGD(m.parameters(), lr=0.1)
        fit(
            m,
            opt,
            DataLoader(TensorDataset(x[:48], y[:48]), batch_size=bs),
            criterion=ce,
            epochs=1,
            grad_accum_steps=accum,
            progress=False,
        )
        return weights(m)

    big, acc = run(16, 1), run(8, 2)
    for k in big:
        np.testing.assert_allclose(big[k], acc[k], rtol=1e-5, atol=1e-6)


def test_epochs_and_iterables(data):
    x, y = data
    batches = [(ember.from_numpy(x[i : i + 10]), ember.from_numpy(y[i : i + 10])) for i in (0, 10)]
    ember.manual_seed(0)
    m = Net()
    t = Trainer(m, optim.SGD(m.parameters(), lr=0.1), batches, criterion=ce, epochs=3)
    res = t.fit()
    assert res["step"] == 6 and res["epoch"] == 3
    dl = DataLoader(TensorDataset(x, y), batch_size=16)  # 4 batches
    t = Trainer(
        m,
        optim.SGD(m.parameters(), lr=0.1),
        dl,
        criterion=ce,
        epochs=2,
        grad_accum_steps=3,
        progress=False,
    )
    assert t.fit()["step"] == 3  # 8 micro-batches: steps of 3, 3, 2


def test_early_stopping(data, tmp_path):
    x, y = data
    ember.manual_seed(0)
    m = Net()
    opt = optim.SGD(m.parameters(), lr=0.0)  # nothing improves
    t = Trainer(
        m,
        opt,
        DataLoader(TensorDataset(x, y), batch_size=10),
        criterion=ce,
        max_steps=100,
        eval_data=[(ember.from_numpy(x), ember.from_numpy(y))],
        eval_every=2,
        early_stopping_patience=3,
        progress=False,
    )
    res = t.fit()
    assert res["stopped_early"] and res["step"] == 8 and res["best_step"] == 2


def test_progress_bar_on_and_off(data, capsys):
    buf = io.StringIO()
    t = make(data, max_steps=5, progress_file=buf, log_every=1)
    t.progress = True
    t.fit()
    text = buf.getvalue()
    assert "loss=" in text and "samples/s=" in text and "lr=" in text and "5/5" in text
    buf2 = io.StringIO()
    make(data, max_steps=3, progress_file=buf2).fit()
    assert buf2.getvalue() == ""
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_plot_png_and_missing_matplotlib(data, tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    t = make(data, tmp_path, max_steps=6, eval_every=3, log_every=2)
    t.plot = True
    t.fit()
    png = tmp_path / "training_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    assert t.plot_curves(tmp_path / "x.png") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matplotlib is not installed" in err


def test_bad_arguments(data):
    x, y = data
    m = Net()
    opt = optim.SGD(m.parameters(), lr=0.1)
    dl = DataLoader(TensorDataset(x, y), batch_size=8)
    with pytest.raises(ValueError, match="loss_fn"):
        Trainer(m, opt, dl, max_steps=1)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        Trainer(m, opt, dl, criterion=ce, max_steps=1, grad_accum_steps=0)
    with pytest.raises(ValueError, match="out_dir"):
        Trainer(m, opt, dl, criterion=ce, max_steps=1, checkpoint_every=5)
    with pytest.raises(ValueError, match="eval_steps"):
        Trainer(m, opt, dl, criterion=ce, max_steps=1, eval_data=lambda: None)
    with pytest.raises(TypeError, match="train_data"):
        Trainer(m, opt, 5, criterion=ce, max_steps=1)
    with pytest.raises(ValueError, match="epochs or max_steps"):
        Trainer(m, opt, lambda: None, criterion=ce)

    def nan_loss(model, batch):
        return ce(model(batch[0]), batch[1]) * float("nan")

    with pytest.raises(FloatingPointError, match="nan"):
        Trainer(m, opt, dl, loss_fn=nan_loss, max_steps=1, progress=False).fit()


def test_real_sigint_inside_an_update_is_deferred(data, tmp_path, capsys):
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT handler replaced by the test runner")
    straight = make(data, tmp_path / "a", max_steps=12)
    straight.fit()
    t = make(data, tmp_path / "b", max_steps=12)
    inner = t.scheduler

    class Poke:
        """Sends a real SIGINT from inside the optimizer update of step 6."""

        def step(self):
            inner.step()
            if inner.last_epoch == 6:
                os.kill(os.getpid(), signal.SIGINT)

        def state_dict(self):
            return inner.state_dict()

    t.scheduler = Poke()
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert t.step == 6 and t.interrupt_checkpoint.name == "step_00000006.safetensors"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert "stopping after this step" in capsys.readouterr().err
    resumed = make(data, tmp_path / "b", max_steps=12, resume=True, seed=3)
    resumed.fit()
    assert_bitwise(weights(straight.model), weights(resumed.model))

    # a Ctrl-C in the forward pass of step 4 also lets step 4 finish
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return ce(model(batch[0]), batch[1])

    t = make(data, tmp_path / "c", max_steps=12)
    t.loss_fn = loss_fn
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert t.step == 4 and t.interrupt_checkpoint.name == "step_00000004.safetensors"
    with SigintGuard() as guard, pytest.raises(KeyboardInterrupt):  # a second press stops at once
        os.kill(os.getpid(), signal.SIGINT)
        assert guard.pending
        os.kill(os.getpid(), signal.SIGINT)
    resumed = make(data, tmp_path / "c", max_steps=12, resume=True, seed=3)
    resumed.fit()
    assert_bitwise(weights(straight.model), weights(resumed.model))


def test_fit_again_continues(data):
    straight = make(data, max_steps=14)
    straight.fit()
    t = make(data, max_steps=9)
    t.fit()
    t.max_steps = 14
    assert t.fit()["step"] == 14
    assert_bitwise(weights(straight.model), weights(t.model))


def test_prefetching_loader_resumes_bit_exact(data, tmp_path):
    x, y = data

    def loader():
        return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, prefetch=3, generator=11)

    straight = make(data, tmp_path / "a", max_steps=16, train_data=loader())
    straight.fit()
    make(data, tmp_path / "b", max_steps=9, train_data=loader()).fit()
    resumed = make(data, tmp_path / "b", max_steps=16, train_data=loader(), resume=True, seed=4)
    resumed.fit()
    assert_bitwise(weights(straight.model), weights(resumed.model))


def test_callback_hooks_run_in_order(data, tmp_path):
    class Recorder(Callback):
        def __init__(self):
            self.calls = []

        def on_fit_start(self, trainer):
            self.calls.append(("start", trainer.step))

        def on_step_end(self, trainer, step):
            # the log record of this step is written before user callbacks run
            logged = trainer.history[-1]["step"] == step.step if trainer.history else False
            self.calls.append(("step", step.step, step.eval is not None, logged))
            assert step.loss == trainer.last_loss and step.count == 8
            if step.step == 5:
                trainer.should_stop = True

        def on_fit_end(self, trainer):
            self.calls.append(("end", trainer.step))

        def on_exit(self, trainer):
            self.calls.append(("exit", trainer.step))

    rec, plain = Recorder(), []
    t = make(data, tmp_path, max_steps=20, eval_every=2, log_every=4)
    t.callbacks = [rec, lambda tr: plain.append(tr.step)]
    res = t.fit()
    assert res["step"] == 5 and plain == [1, 2, 3, 4, 5]
    assert rec.calls == [
        ("start", 0),
        ("step", 1, False, False),
        ("step", 2, True, True),
        ("step", 3, False, False),
        ("step", 4, True, True),
        ("step", 5, False, False),
        ("end", 5),
        ("exit", 5),
    ]
    # the loop stopped by a callback still evaluates the last step and checkpoints it
    assert t.history[-1]["step"] == 5 and "eval_loss" in t.history[-1]
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_00000005.safetensors"

    rec = Recorder()
    t = make(data, tmp_path / "b", max_steps=20, callbacks=[rec], train_data=lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        t.fit()
    assert rec.calls == [("start", 0), ("exit", 0)]  # on_exit runs on errors too
