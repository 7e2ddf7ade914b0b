"""Run one training script under torch, then under ember, and compare what they did.

A script in scripts/ is written for torch. Its ember version is the same text with the
import lines rewritten and nothing else (:func:`ember_source`):

    import torch                      ->  import ember as torch
    import torch.nn as nn             ->  import ember.nn as nn
    import torch.onnx                 ->  import ember.onnx   (then reached as torch.onnx)
    from torch.utils.data import X    ->  from ember.utils.data import X

The two libraries have different random number generators, so the same seed gives
different initial weights, batches and noise. Rather than edit the scripts, the runner
records the torch run and replays its randomness into the ember run, through hooks that
live only while a script runs (:class:`Tape`):

* weights: the first time each top-level module is called (the model, the loss), the
  torch run stores its state_dict and the ember run copies those values into its own
  module, in place (optimizers made before keep their parameters), unless the module
  has loaded a checkpoint (ember's own, which is under test). The key sets must match:
  that checks torch's state_dict names too.
* draws the script makes itself (``torch.randn``, ``randint``, ``randn_like``... called
  from the script's own lines): the ember run calls its function (so it must exist and
  give the same shape and dtype), then returns torch's values.
* dropout masks (``nn.functional.dropout``, which ``nn.Dropout`` calls): the same.
* shuffled and sampled batches (``RandomSampler``): the ember run iterates torch's indices.

``torch.multinomial`` is not replayed: generation samples from ember's own generator, and
the tests check its output's shape and range. Losses are read off every ``.backward()``
call (for LBFGS that is every closure evaluation, so the line-search path is compared too).
"""

from __future__ import annotations

import re
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCRIPTS = Path(__file__).parent / "scripts"

# The script-level random functions whose values the ember run takes from the torch run.
RANDOM_FUNCTIONS = ("rand", "randn", "randint", "randperm", "rand_like", "randn_like", "normal")

_IMPORT_RULES = [
    (re.compile(r"^(\s*)import torch\s*$"), r"\1import ember as torch"),
    (re.compile(r"^(\s*)import torch\.([\w.]+)"), r"\1import ember.\2"),
    (re.compile(r"^(\s*)from torch(\.[\w.]+)? import"), r"\1from ember\2 import"),
]


def ember_source(source: str) -> str:
    """The script with its torch import lines pointed at ember, every other line as is."""
    lines = []
    for line in source.splitlines():
        for pattern, repl in _IMPORT_RULES:
            line, n = pattern.subn(repl, line)
            if n:
                break
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass
class Tape:
    """What the torch run drew and lost; the ember run consumes it in the same order."""

    weights: list[tuple[str, dict[str, np.ndarray]]] = field(default_factory=list)
    draws: list[tuple[str, np.ndarray]] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    samples: list[list[int]] = field(default_factory=list)


@dataclass
class Run:
    namespace: dict[str, Any]
    losses: list[float]


def _patch(stack: ExitStack, owner: Any, name: str, value: Any) -> None:
    old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    stack.callback(setattr, owner, name, old)


class _Replay:
    """The hooks of one run: ``record`` for torch, otherwise replaying ``tape`` into ember."""

    def __init__(self, lib: Any, tape: Tape, record: bool, script: str) -> None:
        self.lib, self.tape, self.record, self.script = lib, tape, record, script
        self.losses: list[float] = []
        self.depth = 0
        self.seen: set[int] = set()
        self.loaded: set[int] = set()
        self.n_weights = self.n_draws = self.n_masks = self.n_samples = 0

    def array(self, t: Any) -> np.ndarray:
        return t.detach().cpu().numpy().copy()

    def from_array(self, a: np.ndarray, like: Any) -> Any:
        return self.lib.tensor(a, dtype=like.dtype)

    # ---- weights ----------------------------------------------------------------------
    def module_call(self, original: Any) -> Any:
        def call(module: Any, *args: Any, **kwargs: Any) -> Any:
            if self.depth == 0 and id(module) not in self.seen:
                self.seen.add(id(module))
                self.sync(module)
            self.depth += 1
            try:
                return original(module, *args, **kwargs)
            finally:
                self.depth -= 1

        return call

    def sync(self, module: Any) -> None:
        name = type(module).__name__
        if self.record:
            sd = {k: self.array(v) for k, v in module.state_dict().items()}
            self.tape.weights.append((name, sd))
            return
        want_name, want = self.tape.weights[self.n_weights]
        self.n_weights += 1
        assert name == want_name, f"module {self.n_weights} is {name}, torch's is {want_name}"
        own = module.state_dict()
        assert sorted(own) == sorted(want), (
            f"{name}.state_dict() keys differ from torch's: "
            f"only ember {sorted(set(own) - set(want))}, only torch {sorted(set(want) - set(own))}"
        )
        if id(module) in self.loaded:
            return  # it holds ember's own checkpoint, which is under test
        with self.lib.no_grad():
            for k, v in own.items():
                v.copy_(self.from_array(want[k], v))

    def load_state_dict(self, original: Any) -> Any:
        def load(module: Any, *args: Any, **kwargs: Any) -> Any:
            self.loaded.add(id(module))
            return original(module, *args, **kwargs)

        return load

    # ---- the script's own random draws --------------------------------------------------
    def draw(self, fn_name: str, original: Any) -> Any:
        def fn(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            if sys._getframe(1).f_code.co_filename != self.script:
                return out  # the library's own use
            if self.record:
                self.tape.draws.append((fn_name, self.array(out)))
                return out
            want_name, want = self.tape.draws[self.n_draws]
            self.n_draws += 1
            assert fn_name == want_name, f"draw {self.n_draws}: {fn_name}, torch drew {want_name}"
            assert tuple(out.shape) == want.shape, f"{fn_name}: {tuple(out.shape)} != {want.shape}"
            return self.from_array(want, out).requires_grad_(out.requires_grad)

        return fn

    def dropout(self, original: Any) -> Any:
        def fn(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
            if not training or p == 0.0:
                return original(input, p, training)
            mask = original(self.lib.ones_like(input), p, training)
            if self.record:
                self.tape.masks.append(self.array(mask))
            else:
                want = self.tape.masks[self.n_masks]
                self.n_masks += 1
                mask = self.from_array(want, mask)
            return input * mask

        return fn

    # ---- sampled batches ----------------------------------------------------------------
    def sampler_iter(self, original: Any) -> Any:
        replay = self

        def it(sampler: Any) -> Any:
            if replay.record:
                got: list[int] = []
                replay.tape.samples.append(got)
                for i in original(sampler):
                    got.append(int(i))
                    yield i
                return
            # a loader that reads further than torch's did ends its epoch early: what torch
            # never fetched was never trained on
            yield from replay.sampler_order(sampler).tolist()

        return it

    def sampler_order(self, sampler: Any) -> np.ndarray:
        """One recorded stream per (sampler, epoch), however often the loader asks."""
        orders = sampler.__dict__.setdefault("_replayed_orders", {})
        epoch = getattr(sampler, "epoch", 0)
        if epoch not in orders:
            orders[epoch] = np.asarray(self.tape.samples[self.n_samples], dtype=np.int64)
            self.n_samples += 1
        return orders[epoch]

    # ---- losses -------------------------------------------------------------------------
    def backward(self, original: Any) -> Any:
        def fn(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            if tensor.numel() == 1:
                self.losses.append(float(tensor.detach().cpu().item()))
            return original(tensor, *args, **kwargs)

        return fn


@contextmanager
def _hooks(lib: Any, replay: _Replay, sampler_cls: Any) -> Any:
    with ExitStack() as stack:
        module = lib.nn.Module
        _patch(stack, module, "__call__", replay.module_call(module.__call__))
        _patch(stack, module, "load_state_dict", replay.load_state_dict(module.load_state_dict))
        for name in RANDOM_FUNCTIONS:
            if hasattr(lib, name):
                _patch(stack, lib, name, replay.draw(name, getattr(lib, name)))
        functional = lib.nn.functional
        _patch(stack, functional, "dropout", replay.dropout(functional.dropout))
        _patch(stack, sampler_cls, "__iter__", replay.sampler_iter(sampler_cls.__iter__))
        if not replay.record and hasattr(sampler_cls, "order"):
            # ember's BatchSampler asks for a whole epoch's order at once
            _patch(stack, sampler_cls, "order", lambda s: replay.sampler_order(s))
        _patch(stack, lib.Tensor, "backward", replay.backward(lib.Tensor.backward))
        yield


def _execute(source: str, filename: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": filename}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def run_torch(name: str, tape: Tape) -> Run:
    """Run scripts/<name>.py as written, recording its randomness into ``tape``."""
    import torch
    import torch.utils.data

    path = str(SCRIPTS / f"{name}.py")
    replay = _Replay(torch, tape, record=True, script=path)
    with _hooks(torch, replay, torch.utils.data.RandomSampler):
        ns = _execute((SCRIPTS / f"{name}.py").read_text(), path)
    return Run(ns, replay.losses)


def run_ember(name: str, tape: Tape) -> Run:
    """Run scripts/<name>.py with its imports pointed at ember, replaying ``tape``."""
    import ember
    import ember.data

    path = str(SCRIPTS / f"{name}.py")
    replay = _Replay(ember, tape, record=False, script=path)
    with _hooks(ember, replay, ember.data.RandomSampler):
        ns = _execute(ember_source((SCRIPTS / f"{name}.py").read_text()), path)
    return Run(ns, replay.losses)
